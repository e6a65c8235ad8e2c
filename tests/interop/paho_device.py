#!/usr/bin/python3
"""A device (or gateway) on Debian's python3-paho-mqtt 1.6, written as Google Cloud IoT Core's
Python MQTT sample (cloudiot_mqtt_example.py) and gateway sample wrote it: client id = the
device path, any user name, password = a JWT from python3-jwt, tls_set(ca_certs=...).

Driven by server/app/src/device_interop_e2e_test.cpp and device_hostile_e2e_test.cpp. Prints one
line per event (flushed) and exits 0 when its scenario completed, 3 on its deadline, 2 on usage.

  paho_device.py device  COMMON --events PAYLOAD
      subscribe /config (QoS 1) and /commands/# (QoS 0), publish PAYLOAD to /devices/{d}/events
      (QoS 1); exit 0 once a config and a command arrived.
  paho_device.py gateway COMMON --leaf LEAF --unbound OTHER
      subscribe /devices/{gw}/errors, attach LEAF (QoS 1), publish LEAF's telemetry, then attach
      OTHER (not bound): expect an error on /devices/{gw}/errors; then publish as OTHER: expect
      the connection to be closed.
  paho_device.py gateway-stream COMMON --leaf LEAF
      attach LEAF, then publish its telemetry every 100 ms until the server closes the connection.
  paho_device.py hold    COMMON
      connect, subscribe /commands/#, print READY and wait until the server closes the connection.

COMMON: --host H --port P --ca FILE --project P --location L --registry R --device D --key PEM
        [--cert PEM (mutual TLS, no JWT)] [--mqtt5] [--deadline SECONDS]
        [--client-id-suffix TEXT (backslash escapes allowed)]
"""

import argparse
import datetime
import json
import ssl
import sys
import time

import jwt
import paho.mqtt.client as mqtt


def say(*words):
    print(*words, flush=True)


def create_jwt(project_id, private_key_file, algorithm="ES256", minutes=60):
    # As the sample: iat, exp, aud = project id.
    token = {
        "iat": datetime.datetime.now(tz=datetime.timezone.utc),
        "exp": datetime.datetime.now(tz=datetime.timezone.utc)
        + datetime.timedelta(minutes=minutes),
        "aud": project_id,
    }
    with open(private_key_file, "r") as f:
        private_key = f.read()
    return jwt.encode(token, private_key, algorithm=algorithm)


class Device:
    def __init__(self, args):
        self.args = args
        self.client_id = (
            "projects/{}/locations/{}/registries/{}/devices/{}".format(
                args.project, args.location, args.registry, args.device
            )
            # Escapes allowed ("\\x00"): the hostile tests send what argv cannot carry.
            + args.client_id_suffix.encode("ascii").decode("unicode_escape")
        )
        protocol = mqtt.MQTTv5 if args.mqtt5 else mqtt.MQTTv311
        self.client = mqtt.Client(client_id=self.client_id, protocol=protocol)
        if args.cert:
            # Mutual TLS: the certificate is the credential, no password.
            self.client.tls_set(
                ca_certs=args.ca,
                certfile=args.cert,
                keyfile=args.key,
                tls_version=ssl.PROTOCOL_TLSv1_2,
            )
        else:
            self.client.username_pw_set(
                username="unused", password=create_jwt(args.project, args.key)
            )
            self.client.tls_set(ca_certs=args.ca, tls_version=ssl.PROTOCOL_TLSv1_2)
        self.connected = False
        self.closed = False
        self.subacks = {}
        self.pubacks = set()
        self.messages = []
        self.client.on_connect = self.on_connect
        self.client.on_disconnect = self.on_disconnect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_publish = self.on_publish
        self.client.on_message = self.on_message
        self.deadline = time.monotonic() + args.deadline

    def on_connect(self, client, userdata, flags, rc, properties=None):
        say("CONNACK", str(rc))
        self.connected = rc == 0

    def on_disconnect(self, client, userdata, rc, properties=None):
        say("DISCONNECTED", str(rc))
        self.closed = True

    def on_subscribe(self, client, userdata, mid, granted, properties=None):
        granted = [getattr(g, "value", g) for g in granted]
        say("SUBACK", mid, " ".join(str(g) for g in granted))
        self.subacks[mid] = granted

    def on_publish(self, client, userdata, mid):
        say("PUBACK", mid)
        self.pubacks.add(mid)

    def on_message(self, client, userdata, message):
        payload = message.payload.decode("utf-8", "replace")
        say("MESSAGE", message.topic, message.qos, payload)
        self.messages.append((message.topic, payload))

    # Runs the network loop until `done()` or the deadline; False on the deadline.
    def until(self, done):
        while not done():
            if time.monotonic() > self.deadline:
                say("DEADLINE")
                return False
            if self.closed:
                return done()
            self.client.loop(timeout=0.05)
        return True

    def connect(self):
        self.client.connect(self.args.host, self.args.port, keepalive=60)
        return self.until(lambda: self.connected or self.closed) and self.connected

    def subscribe(self, topic, qos):
        rc, mid = self.client.subscribe(topic, qos=qos)
        return self.until(lambda: mid in self.subacks) and self.subacks[mid]

    def publish(self, topic, payload, qos=1):
        info = self.client.publish(topic, payload, qos=qos)
        return self.until(lambda: info.mid in self.pubacks)

    def got(self, pred):
        return any(pred(t, p) for t, p in self.messages)


def run_device(args, d):
    dev = args.device
    if not d.connect():
        return 1
    if not d.subscribe("/devices/{}/config".format(dev), 1):
        return 1
    if not d.subscribe("/devices/{}/commands/#".format(dev), 0):
        return 1
    say("SUBSCRIBED")
    if not d.publish("/devices/{}/events".format(dev), args.events, qos=1):
        return 1
    ok = d.until(
        lambda: d.got(lambda t, p: t == "/devices/{}/config".format(dev))
        and d.got(lambda t, p: t.startswith("/devices/{}/commands".format(dev)))
    )
    d.client.disconnect()
    return 0 if ok else 3


def run_gateway(args, d):
    gw, leaf, other = args.device, args.leaf, args.unbound
    if not d.connect():
        return 1
    if not d.subscribe("/devices/{}/errors".format(gw), 0):
        return 1
    # Association only: the payload's authorization is not needed.
    if not d.publish("/devices/{}/attach".format(leaf), json.dumps({}), qos=1):
        return 1
    say("ATTACHED", leaf)
    if not d.subscribe("/devices/{}/config".format(leaf), 1):
        return 1
    if not d.until(lambda: d.got(lambda t, p: t == "/devices/{}/config".format(leaf))):
        return 1
    if not d.publish("/devices/{}/events/gw".format(leaf), args.events, qos=1):
        return 1
    say("LEAF EVENT SENT")
    d.publish("/devices/{}/attach".format(other), json.dumps({}), qos=1)
    if not d.until(lambda: d.got(lambda t, p: t == "/devices/{}/errors".format(gw))):
        return 1
    say("ATTACH REFUSED", other)
    d.client.publish("/devices/{}/events".format(other), "unbound-leak", qos=1)
    if not d.until(lambda: False) and not d.closed:
        return 3
    return 0


def run_gateway_stream(args, d):
    leaf = args.leaf
    if not d.connect():
        return 1
    if not d.publish("/devices/{}/attach".format(leaf), json.dumps({}), qos=1):
        return 1
    say("ATTACHED", leaf)
    n = 0
    while not d.closed and time.monotonic() < d.deadline:
        d.client.publish("/devices/{}/events".format(leaf), "leaf-stream-{}".format(n), qos=1)
        n += 1
        next_at = time.monotonic() + 0.1
        d.until(lambda: time.monotonic() > next_at)
    return 0 if d.closed else 3


def run_hold(args, d):
    if not d.connect():
        return 1
    if not d.subscribe("/devices/{}/commands/#".format(args.device), 1):
        return 1
    say("READY")
    d.until(lambda: False)
    return 0 if d.closed else 3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["device", "gateway", "gateway-stream", "hold"])
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--location", required=True)
    p.add_argument("--registry", required=True)
    p.add_argument("--device", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", help="client certificate (mutual TLS); --key is its key")
    p.add_argument("--mqtt5", action="store_true")
    p.add_argument("--deadline", type=float, default=30)
    p.add_argument("--client-id-suffix", default="")
    p.add_argument("--events", default="paho-telemetry")
    p.add_argument("--leaf")
    p.add_argument("--unbound")
    args = p.parse_args()
    d = Device(args)
    if args.mode == "device":
        return run_device(args, d)
    if args.mode == "gateway-stream":
        return run_gateway_stream(args, d) if args.leaf else 2
    if args.mode == "gateway":
        if not args.leaf or not args.unbound:
            return 2
        return run_gateway(args, d)
    return run_hold(args, d)


if __name__ == "__main__":
    sys.exit(main())
