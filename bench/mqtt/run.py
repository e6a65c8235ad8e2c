#!/usr/bin/python3
"""aegisd vs Mosquitto, side by side (issue 8). Started by bench/mqtt/run; see --help.

Builds the release targets it needs, starts Mosquitto (TLS listener, password file, limits like
aegisd's, no persistence) and aegisd (fresh data directory, an accounts file with the same
user and password), runs every scenario of aegis-bench against both in turn (A B A B ...),
then Aegis alone with device JWTs, mutual TLS, its production password hash and 19,000 idle
connections, and `openssl speed` for the crypto ceiling. Medians and Aegis/Mosquitto ratios go
to bench/RESULTS.md between the mqtt-bench markers. Every child is killed and reaped at the end.
"""

import argparse
import base64
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = "/usr/sbin/mosquitto"
USER = "bench"
PASSWORD = "bench-secret-1"
PROD_USER = "benchprod"
# aegisd's accounts hash for the side-by-side runs: PBKDF2-HMAC-SHA256 with as many iterations
# as cost about what Mosquitto's default hash costs (PBKDF2-HMAC-SHA512, 101 iterations,
# ~55 µs here), so that the connect figures compare brokers, not password-hash policies. The
# production hash (aegisd --hash-password, 210,000 iterations) is measured separately.
EQUAL_COST_ITERATIONS = 240
PROJECT = "benchp"
LOCATION = "local"
REGISTRY = "mqttbench"
DEVICES = 8
# Per generator process: below the 20,000 open files one process may have.
PER_PROCESS_CONNECTIONS = 9500

children = []


def log(msg):
    print(f"[mqtt-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, timeout=600, check=True, **kw):
    r = subprocess.run(cmd, timeout=timeout, text=True, capture_output=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def max_files():
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stop(proc, grace=10):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def proc_status(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


# ---------------------------------------------------------------- brokers


class Mosquitto:
    name = "mosquitto"

    def __init__(self, work):
        self.dir = work / "mosquitto"
        self.dir.mkdir()
        d = self.dir
        # A test CA and an ECDSA P-256 server certificate, like aegisd's.
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", d / "ca.key", "-out", d / "ca.crt", "-days", "2",
             "-subj", "/CN=mqtt-bench test CA"])
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", d / "server.key", "-out", d / "server.csr", "-subj", "/CN=localhost"])
        (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                                   "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run(["openssl", "x509", "-req", "-in", d / "server.csr", "-CA", d / "ca.crt", "-CAkey",
             d / "ca.key", "-CAcreateserial", "-out", d / "server.crt", "-days", "2",
             "-extfile", d / "ext.cnf"])
        (d / "passwd").write_text("")
        run(["mosquitto_passwd", "-b", d / "passwd", USER, PASSWORD])
        self.ca = d / "ca.crt"
        self.client_ca = None
        self.mtls_port = 0
        self.proc = None
        self.port = 0
        self.restarts = 0

    @property
    def pid(self):
        return self.proc.pid

    def auth_args(self):
        return ["--user", USER, "--password", PASSWORD]

    def start(self):
        self.port = free_port()
        conf = self.dir / "mosquitto.conf"
        # Limits as aegisd's defaults (libs/net limits, broker_limits): 10,000 connections per
        # listener, 1 MiB packets, 64 in flight, 1,000 queued messages / 1 MiB per client.
        # As root, Mosquitto switches to the user "mosquitto", who cannot read the temporary
        # directory: stay whoever started the bench.
        user = "root" if os.getuid() == 0 else os.environ.get("USER", "mosquitto")
        conf.write_text(f"""per_listener_settings false
user {user}
listener {self.port} 127.0.0.1
cafile {self.dir}/ca.crt
certfile {self.dir}/server.crt
keyfile {self.dir}/server.key
password_file {self.dir}/passwd
allow_anonymous false
persistence false
log_dest stderr
log_type error
set_tcp_nodelay true
max_connections 10000
max_packet_size 1048576
max_inflight_messages 64
max_queued_messages 1000
max_queued_bytes 1048576
""")
        if self.client_ca:
            # Mutual TLS: the devices' certificates from the Aegis CA, the CN as user name.
            self.mtls_port = free_port()
            with conf.open("a") as f:
                f.write(f"""
listener {self.mtls_port} 127.0.0.1
cafile {self.client_ca}
certfile {self.dir}/server.crt
keyfile {self.dir}/server.key
require_certificate true
use_identity_as_username true
""")
        self.log = open(self.dir / f"mosquitto.{self.restarts}.log", "w")
        self.restarts += 1
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=self.log,
                                     stderr=subprocess.STDOUT, preexec_fn=max_files)
        children.append(self.proc)
        if not wait_port(self.port, self.proc):
            raise RuntimeError("mosquitto did not start: " + (self.dir / "mosquitto.0.log").read_text())

    def stop(self):
        stop(self.proc)


class Aegisd:
    name = "aegisd"

    def __init__(self, work, binary, ctl):
        self.dir = work / "aegisd"
        self.dir.mkdir()
        self.binary = binary
        self.ctl = ctl
        salt = os.urandom(16)
        digest = hashlib.pbkdf2_hmac("sha256", PASSWORD.encode(), salt, EQUAL_COST_ITERATIONS)
        equal = (f"$pbkdf2-sha256$i={EQUAL_COST_ITERATIONS}${base64.b64encode(salt).decode()}$"
                 f"{base64.b64encode(digest).decode()}")
        prod = run([binary, "--hash-password"], input=PASSWORD).stdout.strip()
        (self.dir / "accounts").write_text(f"{USER}:{equal}\n{PROD_USER}:{prod}\n")
        (self.dir / "aegisd.toml").write_text(f"""[server]
log_level = "info"
[mqtt]
listen = "127.0.0.1:0"
accounts_file = "{self.dir}/accounts"
[https]
listen = "127.0.0.1:0"
""")
        self.ca = self.dir / "data" / "ca" / "ca.crt"
        self.proc = None
        self.port = 0
        self.https_port = 0
        self.token = None
        self.restarts = 0

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        return [str(self.binary), "--config", str(self.dir / "aegisd.toml"), "--data-dir",
                str(self.dir / "data")]

    def auth_args(self):
        return ["--user", USER, "--password", PASSWORD]

    def start(self):
        logfile = self.dir / f"aegisd.{self.restarts}.log"
        self.restarts += 1
        self.log = open(logfile, "w")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=max_files)
        children.append(self.proc)
        end = time.time() + 60
        while time.time() < end:
            text = logfile.read_text(errors="replace")
            m = re.search(r"mqtt listening on 127\.0\.0\.1:(\d+)", text)
            h = re.search(r"https listening on 127\.0\.0\.1:(\d+)", text)
            t = re.search(r"^admin token: (aeg_\S+)", text, re.M)
            if t:
                self.token = t.group(1)
            if m and h:
                self.port = int(m.group(1))
                self.https_port = int(h.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("aegisd did not start:\n" + logfile.read_text(errors="replace"))

    def stop(self):
        stop(self.proc)

    def provision(self, work):
        """Devices dev0..dev7 with ES256 keys (JWT) and certificates from the Aegis CA (mTLS)."""
        env = dict(os.environ, AEGISCTL_CONFIG=str(work / "aegisctl.json"), AEGISCTL_TOKEN=self.token)
        base = [str(self.ctl), "--server", f"https://127.0.0.1:{self.https_port}", "--ca-file",
                str(self.ca), "--project", PROJECT, "--location", LOCATION]
        run(base + ["project", "create", PROJECT], env=env)
        run(base + ["registry", "create", REGISTRY], env=env)
        keys = work / "keys"
        certs = work / "certs"
        certs.mkdir()
        for i in range(DEVICES):
            d = f"dev{i}"
            run(base + ["device", "create", d, "--registry", REGISTRY, "--key-type", "es256",
                        "--out", str(keys)], env=env)
            run(["openssl", "req", "-new", "-key", keys / f"{d}.key", "-subj", f"/CN={d}",
                 "-out", certs / f"{d}.csr"])
            run(base + ["cert", "sign", "--device", d, "--registry", REGISTRY, "--csr",
                        str(certs / f"{d}.csr"), "--out", str(certs / f"{d}.crt")], env=env)
            shutil.copy(keys / f"{d}.key", certs / f"{d}.key")
        self.keys = keys
        self.certs = certs
        self.device_prefix = f"projects/{PROJECT}/locations/{LOCATION}/registries/{REGISTRY}/devices/"


# ---------------------------------------------------------------- the generator


class Bench:
    def __init__(self, args, bench_bin, work):
        self.args = args
        self.bin = bench_bin
        self.work = work
        self.commands = {}

    def gen(self, broker, scenario, extra, auth=None, timeout=300, port=None):
        cmd = [str(self.bin), scenario, "--port", str(port or broker.port), "--ca", str(broker.ca),
               "--broker-pid", str(broker.pid), "--label", broker.name]
        cmd += broker.auth_args() if auth is None else auth
        cmd += extra
        cmd = [str(x) for x in cmd]
        shown = " ".join(c if c != PASSWORD else "<password>" for c in cmd)
        key = f"{scenario} {broker.name}" + (" (mutual TLS)" if "--cert-dir" in cmd else "") + \
            (" (JWT)" if "--jwt-dir" in cmd else "")
        self.commands.setdefault(key, shown.replace(str(self.work), "$WORK"))
        r = subprocess.run(cmd, timeout=timeout, text=True, capture_output=True)
        lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
        if r.returncode != 0 or not lines:
            log(f"  {scenario} on {broker.name} failed ({r.returncode}): {r.stderr.strip()[-400:]}")
            return None
        if r.stderr.strip():
            log(f"  stderr: {r.stderr.strip()[-300:]}")
        return json.loads(lines[-1])

    def idle(self, broker, n, hold, connect_seconds, auth=None):
        """n idle connections from as many generator processes as the open-file cap needs."""
        procs = []
        ready = []
        rss_before = proc_status(broker.pid)
        cpu_before = proc_cpu(broker.pid)
        left = n
        i = 0
        while left > 0:
            count = min(left, PER_PROCESS_CONNECTIONS)
            left -= count
            rf = self.work / f"ready.{broker.name}.{time.time_ns()}.{i}"
            ready.append(rf)
            cmd = [str(self.bin), "idle", "--port", str(broker.port), "--ca", str(broker.ca),
                   "--broker-pid", str(broker.pid), "--label", broker.name,
                   "--connections", str(count), "--parallel", "32", "--keepalive", "60",
                   "--hold", str(hold), "--seconds", str(connect_seconds), "--ready-file", str(rf),
                   "--sources", "16", "--source-first", str(2 + 16 * i),
                   "--timeout", str(connect_seconds + hold + 60)]
            cmd += broker.auth_args() if auth is None else auth
            cmd = [str(x) for x in cmd]
            self.commands.setdefault(f"idle {broker.name} (x{(n + PER_PROCESS_CONNECTIONS - 1) // PER_PROCESS_CONNECTIONS})",
                                     " ".join(c if c != PASSWORD else "<password>" for c in cmd)
                                     .replace(str(self.work), "$WORK"))
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                          text=True, preexec_fn=max_files))
            children.append(procs[-1])
            i += 1
        end = time.time() + connect_seconds + 30
        while time.time() < end and not all(r.exists() or p.poll() is not None
                                            for r, p in zip(ready, procs)):
            time.sleep(0.2)
        # Settled: the broker has finished the handshakes (less than 2 % of a core for 1 s).
        last = proc_cpu(broker.pid)
        for _ in range(20):
            time.sleep(1)
            now = proc_cpu(broker.pid)
            if now - last < 0.02:
                break
            last = now
        rss_after = proc_status(broker.pid)
        fds = proc_fds(broker.pid)
        cpu_after = proc_cpu(broker.pid)
        results = []
        for p in procs:
            out, err = p.communicate(timeout=hold + connect_seconds + 120)
            lines = [l for l in out.splitlines() if l.startswith("{")]
            if lines:
                results.append(json.loads(lines[-1]))
            else:
                log(f"  idle generator failed: {err.strip()[-300:]}")
        opened = sum(r["opened"] for r in results)
        still = sum(r["still_open"] for r in results)
        per = (rss_after - rss_before) * 1024 / opened if opened else -1
        return {"scenario": "idle", "label": broker.name, "requested": n, "opened": opened,
                "still_open": still, "dropped": sum(r["dropped"] for r in results),
                "failed": sum(r["failed"] for r in results), "processes": len(procs),
                "rss_before_kib": rss_before, "rss_after_kib": rss_after, "fds": fds,
                "rss_per_conn_b": per, "broker_us_per_conn": (cpu_after - cpu_before) * 1e6 / opened if opened else -1,
                "connect_seconds": max((r["connect_seconds"] for r in results), default=0),
                "errors": {k: v for r in results for k, v in r.get("errors", {}).items()}}


# ---------------------------------------------------------------- perf


def perf_top(pid, seconds, out, during):
    """perf record -g on the broker while `during()` runs; the top symbols (self time)."""
    if not shutil.which("perf"):
        return None
    data = out.with_suffix(".data")
    rec = subprocess.Popen(["perf", "record", "-g", "-F", "1999", "-p", str(pid), "-o", str(data),
                            "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    children.append(rec)
    try:
        during()
    finally:
        try:
            rec.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            rec.kill()
            rec.wait()
    r = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                        "--sort", "dso,symbol", "--percent-limit", "1"],
                       text=True, capture_output=True, timeout=300)
    self_rows = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[\S\]\s+(.+?)\s*$", line)
        if m:
            self_rows.append((float(m.group(1)), m.group(2), short(m.group(3))))
    # Inclusive time (frame-pointer call chains: libc and the kernel unwind, aegisd -O2 mostly
    # does not): how much of the above sits under syscalls, recv, send, epoll.
    c = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--children", "-g", "none",
                        "--sort", "dso,symbol", "--percent-limit", "3"],
                       text=True, capture_output=True, timeout=300)
    inclusive = []
    for line in c.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+(\S+)\s+\[\S\]\s+(.+?)\s*$", line)
        if m and m.group(3) != "[unknown]" and "entry_SYSCALL" not in m.group(4):
            inclusive.append((float(m.group(1)), m.group(3), short(m.group(4))))
    d = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children", "-g", "none",
                        "--sort", "dso", "--percent-limit", "2"],
                       text=True, capture_output=True, timeout=300)
    dsos = []
    for line in d.stdout.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s*$", line)
        if m:
            dsos.append((float(m.group(1)), m.group(2)))
    samples = re.search(r"# Samples: (\S+)", r.stdout)
    out.write_text(r.stdout + "\n\n" + c.stdout)
    return {"self": self_rows[:12], "inclusive": inclusive[:10], "dsos": dsos[:8],
            "samples": samples.group(1) if samples else "?"}


def short(symbol):
    """A C++ symbol without its template arguments and parameter lists, for a readable table."""
    symbol = re.sub(r"(\s+-)+\s*$", "", symbol)
    out = []
    depth = 0
    for ch in symbol:
        if ch in "<(":
            if depth == 0:
                out.append("<…>" if ch == "<" else "()")
            depth += 1
        elif ch in ">)":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out).strip()[:120]


# ---------------------------------------------------------------- the run


def median(rows, key):
    vals = [r[key] for r in rows if r and isinstance(r.get(key), (int, float)) and r[key] >= 0]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2-minute smoke run")
    ap.add_argument("--rounds", type=int, help="A B rounds per scenario (default 3, quick 1)")
    ap.add_argument("--seconds", type=int, help="measured seconds per rate scenario (default 6, quick 3)")
    ap.add_argument("--publishers", type=int, help="fan-in publishers (default 1000, quick 200)")
    ap.add_argument("--subscribers", type=int, help="fan-out subscribers (default 1000, quick 200)")
    ap.add_argument("--idle", type=int, help="idle connections per broker (default 5000, quick 1000)")
    ap.add_argument("--hold-connections", type=int, help="aegisd capacity test (default 19000, quick 0 = skip)")
    ap.add_argument("--build-dir", default=os.environ.get("AEGIS_BENCH_BUILD_DIR", "build/release"))
    ap.add_argument("--no-build", action="store_true", help="use the binaries already built")
    ap.add_argument("--aegisd", help="use this aegisd binary instead of the build's")
    ap.add_argument("--no-perf", action="store_true", help="skip perf profiles of aegisd")
    ap.add_argument("--no-write", action="store_true", help="print, do not update RESULTS.md")
    ap.add_argument("--only", help="comma-separated case names (connect,resume,fanin0,fanin1,fanout,latency,idle,churn,jwt,mtls,prodhash,hold,speed)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    q = a.quick
    rounds = a.rounds or (1 if q else 3)
    secs = a.seconds or (3 if q else 6)
    pubs = a.publishers or (200 if q else 1000)
    subs = a.subscribers or (200 if q else 1000)
    idle_n = a.idle or (1000 if q else 5000)
    hold_n = a.hold_connections if a.hold_connections is not None else (0 if q else 19000)
    only = set(a.only.split(",")) if a.only else None

    def want(name):
        return only is None or name in only

    os.chdir(ROOT)
    build = Path(a.build_dir)
    started_at = time.time()
    load_before = open("/proc/loadavg").read().split()[:3]
    if not a.no_build:
        cfg = ["cmake", "--preset", "release"]
        if str(build) != "build/release":
            cfg += ["-B", str(build)]
        run(cfg, timeout=600)
        # The generator first: a server module mid-change must not block it.
        for targets in (["aegis-bench", "aegisctl"], [] if a.aegisd else ["aegisd"]):
            if not targets:
                continue
            log("building " + " ".join(targets))
            r = subprocess.run(["cmake", "--build", str(build), "-j2", "--target"] + targets,
                               text=True, capture_output=True, timeout=3000)
            if r.returncode != 0:
                print(r.stdout[-3000:], r.stderr[-3000:])
                sys.exit(f"building {' '.join(targets)} failed" +
                         ("; measure a working aegisd with --aegisd PATH" if "aegisd" in targets else ""))
    aegisd_bin = Path(a.aegisd) if a.aegisd else build / "server/app/aegisd"
    bench_bin = build / "bench/aegis-bench"
    ctl = build / "cli/aegisctl"
    aegisd_note = (f"`{a.aegisd}` (a copy of a release build, given with --aegisd)" if a.aegisd
                   else f"`{aegisd_bin}` built by this run")

    work = Path(tempfile.mkdtemp(prefix="aegis-mqtt-bench."))
    res = {}
    perf_rows = {}
    speed = None
    mosq = aegis = None
    aborted = None
    b = None
    try:
        mosq = Mosquitto(work)
        aegis = Aegisd(work, aegisd_bin, ctl)
        aegis.start()
        aegis.provision(work)
        mosq.client_ca = aegis.ca
        mosq.start()
        log(f"mosquitto pid {mosq.pid} port {mosq.port}; aegisd pid {aegis.pid} port {aegis.port}")
        b = Bench(a, bench_bin, work)
        brokers = [mosq, aegis]

        def ab(name, scenario, extra, timeout=300, auth=None, mtls=False):
            res[name] = {"mosquitto": [], "aegisd": []}
            for r_ in range(rounds):
                for br in brokers:
                    port = br.mtls_port if (mtls and br is mosq) else None
                    out = b.gen(br, scenario, extra, timeout=timeout, auth=auth, port=port)
                    res[name][br.name].append(out)
                    if out:
                        brief = {k: out[k] for k in ("rate", "broker_us_per_conn", "delivered_rate",
                                                      "broker_us_per_msg", "loss_pct", "p99_ms", "failed")
                                 if k in out}
                        log(f"  {name} round {r_ + 1} {br.name}: {brief}")

        if want("connect"):
            log("connect: full TLS handshakes")
            ab("connect", "connect", ["--parallel", 8, "--seconds", secs])
        if want("resume"):
            log("connect: TLS session resumption")
            ab("resume", "connect", ["--parallel", 8, "--seconds", secs, "--resume"])
        auth_jwt = ["--jwt-dir", str(aegis.keys), "--devices", DEVICES, "--device-prefix",
                    aegis.device_prefix, "--audience", PROJECT]
        auth_mtls = ["--cert-dir", str(aegis.certs), "--devices", DEVICES, "--device-prefix",
                     aegis.device_prefix]
        if want("mtls"):
            log("connect: mutual TLS (device certificates from the Aegis CA, trusted by both)")
            ab("mtls", "connect", ["--parallel", 8, "--seconds", secs], auth=auth_mtls, mtls=True)
        if want("fanin0"):
            log(f"fan-in QoS 0: {pubs} publishers -> 1")
            ab("fanin0", "fan-in", ["--publishers", pubs, "--qos", 0, "--rate", 0, "--seconds", secs])
        if want("fanin1"):
            log(f"fan-in QoS 1: {pubs} publishers -> 1")
            ab("fanin1", "fan-in", ["--publishers", pubs, "--qos", 1, "--rate", 0, "--seconds", secs])
        if want("fanout"):
            # 20,000 deliveries/s offered: what one generator thread decrypts with room to spare.
            fan_rate = max(1, 20000 // subs)
            log(f"fan-out QoS 0: 1 -> {subs}, {fan_rate} msg/s")
            ab("fanout", "fan-out", ["--subscribers", subs, "--qos", 0, "--rate", fan_rate, "--seconds", secs])
            res["fanout"]["rate"] = fan_rate
        if want("latency"):
            mosq_max = median(res.get("fanin0", {}).get("mosquitto", []), "delivered_rate") or 40000
            half = int(mosq_max / 2)
            log(f"latency: 100 publishers -> 1 at {half} msg/s (half of Mosquitto's fan-in QoS 0)")
            ab("latency", "latency", ["--publishers", 100, "--qos", 0, "--rate", half, "--seconds", secs])
            res["latency"]["rate"] = half
        if want("syscalls") and shutil.which("perf"):
            rate = res.get("latency", {}).get("rate") or 10000
            log(f"syscalls per delivered message (perf stat -e raw_syscalls:sys_enter), 100 -> 1 at {rate} msg/s")
            res["syscalls"] = {"mosquitto": [], "aegisd": []}
            for br in brokers:
                st = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p",
                                       str(br.pid), "--", "sleep", str(secs + 1)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                children.append(st)
                out = b.gen(br, "latency", ["--publishers", 100, "--qos", 0, "--rate", rate, "--seconds", secs + 2])
                _, err = st.communicate(timeout=120)
                m = re.match(r"\s*(\d+),", err.strip().splitlines()[-1] if err.strip() else "")
                if out and m and out["received"]:
                    # perf counts secs + 1 s out of the secs + 2 s of traffic.
                    per = int(m.group(1)) / (out["received"] * (secs + 1) / (secs + 2))
                    res["syscalls"][br.name].append({"syscalls_per_msg": per})
                    log(f"  {br.name}: {per:.2f} syscalls per delivered message")
        if want("churn"):
            log("churn: 8 connect/subscribe/publish/leave loops while 50 publishers send 2,000 msg/s")
            ab("churn", "churn", ["--publishers", 50, "--qos", 1, "--rate", 2000, "--churners", 8,
                                  "--seconds", secs * 2])
        if want("idle"):
            log(f"idle: {idle_n} connections per broker, each on a freshly started broker")
            res["idle"] = {"mosquitto": [], "aegisd": []}
            for r_ in range(rounds):
                for br in brokers:
                    br.stop()
                    br.start()
                    time.sleep(1)
                    out = b.idle(br, idle_n, hold=8, connect_seconds=120)
                    res["idle"][br.name].append(out)
                    log(f"  idle round {r_ + 1} {br.name}: opened {out['opened']} still {out['still_open']} "
                        f"rss/conn {out['rss_per_conn_b']:.0f} B")
        aegis_only = [("jwt", ["--parallel", 8, "--seconds", secs], auth_jwt),
                      ("jwtresume", ["--parallel", 8, "--seconds", secs, "--resume"], auth_jwt),
                      ("prodhash", ["--parallel", 2, "--seconds", secs, "--max-count", 200],
                       ["--user", PROD_USER, "--password", PASSWORD])]
        for name, extra, auth in aegis_only:
            if not want(name if name != "jwtresume" else "jwt"):
                continue
            log(f"aegisd only: connect with {name}")
            res[name] = {"aegisd": [b.gen(aegis, "connect", [str(x) for x in extra], auth=auth)
                                    for _ in range(min(rounds, 2))]}
            log(f"  {name}: {[r and (round(r['rate']), round(r['broker_us_per_conn'])) for r in res[name]['aegisd']]}")
        if hold_n > 0 and want("hold"):
            log(f"aegisd only: {hold_n} idle connections on a fresh aegisd")
            aegis.stop()
            aegis.start()
            time.sleep(1)
            out = b.idle(aegis, hold_n, hold=20, connect_seconds=240)
            res["hold"] = {"aegisd": [out]}
            log(f"  hold: opened {out['opened']} still {out['still_open']} errors {out['errors']}")
        if not a.no_perf and shutil.which("perf"):
            for name, scenario, extra, auth in (
                    ("fanin0", "fan-in", ["--publishers", pubs, "--qos", 0, "--rate", 0, "--seconds", secs], None),
                    ("connect", "connect", ["--parallel", 8, "--seconds", secs], None),
                    ("jwt", "connect", ["--parallel", 8, "--seconds", secs], auth_jwt),
                    ("mtls", "connect", ["--parallel", 8, "--seconds", secs], auth_mtls),
                    ("churn", "churn", ["--publishers", 50, "--qos", 1, "--rate", 2000, "--churners", 8,
                                        "--seconds", secs * 2], None)):
                if not want(name):
                    continue
                log(f"perf record of aegisd during {name}")
                holder = {}
                rows = perf_top(aegis.pid, (secs * 2 if name == "churn" else secs) + 4, work / f"perf-{name}.txt",
                                lambda: holder.update(r=b.gen(aegis, scenario, extra, auth=auth)))
                if rows:
                    perf_rows[name] = rows
                    shutil.copy(work / f"perf-{name}.txt", Path(tempfile.gettempdir()) / f"aegis-mqtt-bench-perf-{name}.txt")
        if want("speed"):
            log("openssl speed (crypto ceiling, 1 core)")
            r = run(["openssl", "speed", "-seconds", "1" if q else "3", "ecdsap256", "ecdhx25519"],
                    timeout=120)
            speed = r.stdout
    except Exception as e:  # what was measured so far is still written, with the reason
        aborted = f"{type(e).__name__}: {e}"
        log(f"run aborted: {aborted}")
    finally:
        for br in (mosq, aegis):
            if br is not None:
                br.stop()
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"work directory kept: {work}")
    load_after = open("/proc/loadavg").read().split()[:3]
    elapsed = time.time() - started_at
    json_path = Path(tempfile.gettempdir()) / "aegis-mqtt-bench-results.json"
    json_path.write_text(json.dumps({"results": res, "perf": perf_rows, "speed": speed}, indent=1))
    if b is None or aegis is None:
        sys.exit(f"nothing measured: {aborted}")
    section = render(res, perf_rows, speed, a, rounds, secs, pubs, subs, idle_n, hold_n, load_before,
                     load_after, elapsed, aegisd_note, b.commands, aegis.command())
    if aborted:
        section = section.replace("<!-- mqtt-bench:end -->",
                                  f"- **This run was aborted**: {aborted.splitlines()[0][:300]}\n<!-- mqtt-bench:end -->")
    print(section)
    if not a.no_write:
        write_section(section)
    log(f"done in {elapsed:.0f} s; raw results in {json_path}")


# ---------------------------------------------------------------- RESULTS.md


def fmt(v, digits=0):
    if v is None:
        return "—"
    if abs(v) >= 1000 and digits == 0:
        return f"{v:,.0f}"
    return f"{v:,.{digits}f}"


def parse_speed(text):
    out = {}
    if not text:
        return out
    for line in text.splitlines():
        m = re.match(r"\s*256 bits ecdsa \(nistp256\)\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)", line)
        if m:
            out["sign"] = float(m.group(3))
            out["verify"] = float(m.group(4))
        m = re.match(r"\s*253 bits ecdh \(X25519\)\s+([\d.]+)s\s+([\d.]+)", line)
        if m:
            out["x25519"] = float(m.group(2))
    return out


def render(res, perf_rows, speed, a, rounds, secs, pubs, subs, idle_n, hold_n, load_before,
           load_after, elapsed, aegisd_note, commands, aegisd_cmd):
    def med(case, broker, key):
        return median(res.get(case, {}).get(broker, []), key)

    rows = []
    goals = []

    def row(label, case, key, digits=0, better="lower", goal=None):
        m = med(case, "mosquitto", key)
        g = med(case, "aegisd", key)
        ratio = g / m if (m and g is not None and m != 0) else None
        rows.append(f"| {label} | {fmt(m, digits)} | {fmt(g, digits)} | "
                    f"{fmt(ratio, 2) if ratio is not None else '—'} | {better} is better |")
        return m, g, ratio

    m, g, r = row("connect: broker CPU µs per connection (TLS 1.3 full, password)", "connect", "broker_us_per_conn")
    goals.append(("Broker CPU per TLS connect ≤ 0.8× Mosquitto", r is not None and r <= 0.8,
                  f"{fmt(g)} vs {fmt(m)} µs = {fmt(r, 2)}×"))
    row("connect: connections/s achieved (8 parallel)", "connect", "rate", better="higher")
    row("connect: latency p50 ms", "connect", "p50_ms", 2)
    row("connect: latency p99 ms", "connect", "p99_ms", 2)
    m, g, r = row("resumed connect: broker CPU µs per connection", "resume", "broker_us_per_conn")
    rm = med("resume", "mosquitto", "resumed")
    rg = med("resume", "aegisd", "resumed")
    okm = med("resume", "mosquitto", "ok")
    okg = med("resume", "aegisd", "ok")
    row("resumed connect: connections/s", "resume", "rate", better="higher")
    row("mutual TLS connect (client certificate): broker CPU µs per connection", "mtls", "broker_us_per_conn")
    row("mutual TLS connect: connections/s", "mtls", "rate", better="higher")
    m0, g0, r0 = row("fan-in QoS 0: broker CPU µs per delivered message", "fanin0", "broker_us_per_msg", 2)
    goals.append(("Broker CPU per delivered QoS 0 message ≤ 0.5× Mosquitto", r0 is not None and r0 <= 0.5,
                  f"{fmt(g0, 2)} vs {fmt(m0, 2)} µs = {fmt(r0, 2)}×"))
    mr0, gr0, rr0 = row("fan-in QoS 0: delivered msg/s", "fanin0", "delivered_rate", better="higher")
    row("fan-in QoS 0: loss %", "fanin0", "loss_pct", 2)
    row("fan-in QoS 0: p99 ms (closed loop, 200 in flight)", "fanin0", "p99_ms", 1)
    m1, g1, r1 = row("fan-in QoS 1: broker CPU µs per delivered message", "fanin1", "broker_us_per_msg", 2)
    mr1, gr1, rr1 = row("fan-in QoS 1: delivered msg/s", "fanin1", "delivered_rate", better="higher")
    row("fan-in QoS 1: loss %", "fanin1", "loss_pct", 2)
    goals.append(("Fan-in throughput ≥ 2× Mosquitto (QoS 0 and QoS 1)",
                  rr0 is not None and rr1 is not None and rr0 >= 2 and rr1 >= 2,
                  f"QoS 0 {fmt(gr0)} vs {fmt(mr0)} msg/s = {fmt(rr0, 2)}×; QoS 1 {fmt(gr1)} vs {fmt(mr1)} = {fmt(rr1, 2)}×"))
    q1 = [x["loss_pct"] for case in ("fanin1", "churn") for x in res.get(case, {}).get("aegisd", []) if x]
    loss1 = max(q1) if q1 else None
    goals.append(("QoS 1 loses nothing (Aegis: fan-in QoS 1 and the churn run's QoS 1 traffic)", loss1 == 0,
                  f"worst loss {fmt(loss1, 3)} % over {len(q1)} runs"))
    row(f"fan-out QoS 0 (1 → {fmt(subs)} at {res.get('fanout', {}).get('rate', '—')} msg/s): broker CPU µs per "
        "delivered message", "fanout", "broker_us_per_msg", 2)
    row("fan-out QoS 0: delivered msg/s", "fanout", "delivered_rate", better="higher")
    row("fan-out QoS 0: loss %", "fanout", "loss_pct", 2)
    lat_rate = res.get("latency", {}).get("rate")
    row(f"latency at {fmt(lat_rate)} msg/s (100 → 1, QoS 0): p50 ms", "latency", "p50_ms", 3)
    ml, gl, rl = row("latency: p99 ms", "latency", "p99_ms", 3)
    row("latency: p99.9 ms", "latency", "p999_ms", 3)
    row("latency: max ms", "latency", "max_ms", 1)
    row("latency: loss %", "latency", "loss_pct", 2)
    goals.append(("p99 at half Mosquitto's max fan-in load ≤ Mosquitto's", rl is not None and rl <= 1,
                  f"{fmt(gl, 3)} vs {fmt(ml, 3)} ms at {fmt(lat_rate)} msg/s"))
    mi, gi, ri = row(f"idle: broker RSS bytes per idle TLS connection ({fmt(idle_n)} open)", "idle", "rss_per_conn_b")
    goals.append(("RSS per idle TLS connection ≤ Mosquitto's", ri is not None and ri <= 1,
                  f"{fmt(gi)} vs {fmt(mi)} B"))
    row("idle: connections still open after the hold", "idle", "still_open", better="higher")
    row("churn: broker CPU µs per delivered message (steady traffic)", "churn", "broker_us_per_msg", 2)
    row("churn: connections completed per second", "churn", "churn_rate", better="higher")
    row("churn: steady traffic loss %", "churn", "loss_pct", 2)
    row("churn: steady traffic p99 ms", "churn", "p99_ms", 2)

    def churn_mem(broker):
        xs = [x for x in res.get("churn", {}).get(broker, []) if x]
        return ", ".join(f"{x['broker_rss_before_kib'] / 1024:.1f}→{x['broker_rss_after_kib'] / 1024:.1f} MiB, "
                         f"fds {x['broker_fds_before']}→{x['broker_fds_after']}→{x['broker_fds_final']}"
                         for x in xs) or "—"

    lines = ["<!-- mqtt-bench:begin (generated by bench/mqtt/run; edits inside are overwritten) -->",
             "## MQTT broker: Aegis vs Mosquitto", "",
             f"Both brokers on 127.0.0.1, MQTT 3.1.1 over TLS (ECDSA P-256 server certificates), driven by "
             f"`aegis-bench` in turn (A B, {rounds} round{'s' if rounds > 1 else ''}; medians). "
             "Broker CPU is utime+stime of the broker process from /proc around the measured phase: on "
             "this 2-core machine the single-threaded generator competes with the broker, so CPU per "
             "connection / per delivered message is the figure to compare; rates are what one generator "
             "achieved. Accounts: Mosquitto's default hash (PBKDF2-SHA512, 101 iterations) against an "
             f"aegisd hash of equal cost (PBKDF2-SHA256, {EQUAL_COST_ITERATIONS} iterations); the production "
             "hash is measured separately below.", "",
             "| measure | Mosquitto | Aegis | Aegis/Mosquitto | |", "|---|---:|---:|---:|---|"]
    if res.get("syscalls"):
        row("broker syscalls per delivered message (100 → 1 at the latency rate, QoS 0)", "syscalls",
            "syscalls_per_msg", 2)
    lines += rows
    lines += ["", "Aegis alone (device authentication, production password hash, capacity):", "",
              "| measure | result |", "|---|---:|"]

    def one(case, key):
        return median(res.get(case, {}).get("aegisd", []), key)

    pw = med("connect", "aegisd", "broker_us_per_conn")
    jw = one("jwt", "broker_us_per_conn")
    lines.append(f"| connect, ES256 device JWT: broker CPU µs per connection | {fmt(jw)} "
                 f"({fmt(one('jwt', 'rate'))} conn/s, p50 {fmt(one('jwt', 'p50_ms'), 2)} ms) |")
    lines.append(f"| connect, ES256 JWT, TLS resumed: broker CPU µs per connection | {fmt(one('jwtresume', 'broker_us_per_conn'))} "
                 f"(resumed {fmt(one('jwtresume', 'resumed'))} of {fmt(one('jwtresume', 'ok'))}) |")
    lines.append(f"| connect, production password hash (PBKDF2-SHA256, 210,000 iterations): broker CPU µs per connection | "
                 f"{fmt(one('prodhash', 'broker_us_per_conn'))} ({fmt(one('prodhash', 'rate'), 1)} conn/s) |")
    if jw is not None and pw is not None:
        goals.append(("ES256 JWT connect ≤ password connect + ~45 µs (the signature check)", jw - pw <= 45,
                      f"JWT {fmt(jw)} µs vs password {fmt(pw)} µs: +{fmt(jw - pw)} µs"))
    goals.append(("TLS 1.3 session resumption (tickets)", rg is not None and rg > 0,
                  f"resumed {fmt(rg)} of {fmt(okg)} connects (Mosquitto {fmt(rm)} of {fmt(okm)})"))
    hold = (res.get("hold", {}).get("aegisd") or [None])[0]
    if hold:
        lines.append(f"| {fmt(hold['requested'])} idle TLS connections, {hold['processes']} generator processes: "
                     f"opened / still open after 20 s | {fmt(hold['opened'])} / {fmt(hold['still_open'])} "
                     f"(RSS {hold['rss_per_conn_b']:,.0f} B per connection; errors: "
                     f"{', '.join(f'{k} ×{v}' for k, v in hold['errors'].items()) or 'none'}) |")
        goals.append((f"{fmt(hold_n)} concurrent TLS connections held by one aegisd", hold["still_open"] >= 19000,
                      f"{fmt(hold['still_open'])} held"))
        if hold["opened"]:
            lines.append(f"| ⇒ RSS for 1M idle TLS devices at that rate | {hold['rss_per_conn_b'] * 1e6 / 2**30:.1f} GiB |")
    sp = parse_speed(speed)
    if sp:
        lines.append(f"| crypto ceiling, 1 core (`openssl speed`): ECDSA P-256 sign / verify, X25519 | "
                     f"{fmt(sp.get('sign'))} / {fmt(sp.get('verify'))} / {fmt(sp.get('x25519'))} per s |")
        s_us = 1e6 / sp["sign"] + 1e6 / sp["x25519"]
        lines.append(f"| ⇒ server public-key work per full handshake (1 sign + 1 X25519): {s_us:.0f} µs; "
                     f"+ ES256 JWT verify: {s_us + 1e6 / sp['verify']:.0f} µs | ≤ {1e6 / s_us:,.0f} / "
                     f"{1e6 / (s_us + 1e6 / sp['verify']):,.0f} connects/s/core |")
        m_us = s_us + 2e6 / sp["verify"]
        lines.append(f"| ⇒ mutual TLS: + 2 P-256 verifies (client CertificateVerify, its certificate): "
                     f"{m_us:.0f} µs | ≤ {1e6 / m_us:,.0f} connects/s/core |")
    lines += ["", "Goals (issue 8):", ""]
    for name, ok, detail in goals:
        verdict = "not measured" if "—" in detail else ("met" if ok else "NOT met")
        lines.append(f"- {name}: **{verdict}** ({detail})")
    lines += ["", f"- Churn (memory and descriptors before → after → after teardown): Mosquitto {churn_mem('mosquitto')}; "
              f"Aegis {churn_mem('aegisd')}."]
    for case, title in (("fanin0", "fan-in QoS 0"), ("connect", "connect (password)"),
                        ("jwt", "connect (ES256 JWT)"), ("mtls", "connect (mutual TLS)"),
                        ("churn", "churn")):
        if case in perf_rows:
            pr = perf_rows[case]
            lines.append(f"- aegisd profile during {title} (`perf record -g -F 1999 -p <aegisd>`, "
                         f"{pr['samples']} samples); by object: " +
                         ", ".join(f"{p:.0f} % {dso}" for p, dso in pr.get("dsos", [])) + "; self time: " +
                         "; ".join(f"{p:.1f} % `{sym}` ({dso})" for p, dso, sym in pr["self"][:10]) +
                         ". Inclusive (children): " +
                         ("; ".join(f"{p:.1f} % `{sym}`" for p, dso, sym in pr["inclusive"][:8]) or "—") + ".")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mosq_v = subprocess.run([MOSQUITTO, "-h"], text=True, capture_output=True).stdout.splitlines()[0]
    ossl = subprocess.run(["openssl", "version"], text=True, capture_output=True).stdout.strip()
    cxx = subprocess.run(["g++", "--version"], text=True, capture_output=True).stdout.splitlines()[0]
    lines += [f"- Machine: {cpu}, {os.cpu_count()} logical CPUs, {os.uname().sysname} {os.uname().release}; "
              f"load average before {' '.join(load_before)}, after {' '.join(load_after)} "
              "(shared with other engineers' builds: wall-clock rates and latencies are pessimistic, "
              "CPU per unit less so). Brokers and generator are not pinned to cores.",
              f"- Versions: {mosq_v}; {ossl}; {cxx}; aegisd {aegisd_note}, preset `release` "
              "(RelWithDebInfo), `log_level = \"info\"`.",
              f"- Parameters: {secs} s per rate scenario, {pubs} fan-in publishers, {subs} fan-out subscribers, "
              f"100-byte payloads, QoS 1 window 16 per publisher; run took {elapsed / 60:.1f} min "
              f"({time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}).",
              f"- Command: `bench/mqtt/run {' '.join(sys.argv[1:])}`; aegisd: `{' '.join(aegisd_cmd)}`; "
              "generator commands (one per scenario and broker):"]
    for k, v in commands.items():
        lines.append(f"  - `{v}`")
    lines.append("<!-- mqtt-bench:end -->")
    return "\n".join(lines)


def write_section(section):
    path = ROOT / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Aegis benchmark results\n"
    pattern = re.compile(r"<!-- mqtt-bench:begin.*?<!-- mqtt-bench:end -->", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
