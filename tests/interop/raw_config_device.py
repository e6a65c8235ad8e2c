#!/usr/bin/python3
"""A device that speaks MQTT 3.1.1 by hand (TLS from Python's ssl module), so that it can leave a
QoS 1 config PUBLISH unacknowledged, which stock clients never do. Driven by
server/app/src/device_interop_e2e_test.cpp.

  raw_config_device.py HOST PORT CA CLIENT_ID JWT DEVICE_ID ACK_PAYLOAD DEADLINE_SECONDS

Subscribes to /devices/{DEVICE_ID}/config at QoS 1, prints every PUBLISH it receives and
acknowledges only the one whose payload is ACK_PAYLOAD; then disconnects and exits 0. Exit 3 on
the deadline, 1 when the server closes the connection first.
"""

import socket
import ssl
import struct
import sys
import time


def say(*words):
    print(*words, flush=True)


def utf8(s):
    b = s.encode("utf-8")
    return struct.pack("!H", len(b)) + b


def packet(first_byte, body):
    n = len(body)
    length = b""
    while True:
        digit = n % 128
        n //= 128
        length += bytes([digit | (0x80 if n else 0)])
        if not n:
            break
    return bytes([first_byte]) + length + body


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _need(self, n, deadline):
        while len(self.buf) < n:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError()
            self.buf += chunk

    def next(self, deadline):
        self._need(2, deadline)
        mult, length, i = 1, 0, 1
        while True:
            self._need(i + 1, deadline)
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        self._need(i + length, deadline)
        first, body = self.buf[0], self.buf[i : i + length]
        self.buf = self.buf[i + length :]
        return first, body


def main():
    if len(sys.argv) != 9:
        say(__doc__)
        return 2
    host, port, ca, client_id, jwt, device, ack_payload, limit = sys.argv[1:]
    deadline = time.monotonic() + float(limit)
    ctx = ssl.create_default_context(cafile=ca)
    sock = ctx.wrap_socket(socket.create_connection((host, int(port))), server_hostname=host)
    reader = Reader(sock)
    connect = (
        utf8("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", 60)
        + utf8(client_id) + utf8("unused") + utf8(jwt)
    )
    sock.sendall(packet(0x10, connect))
    topic = "/devices/{}/config".format(device)
    try:
        first, body = reader.next(deadline)
        say("CONNACK", body[1])
        if body[1] != 0:
            return 1
        sock.sendall(packet(0x82, struct.pack("!H", 1) + utf8(topic) + bytes([1])))
        while True:
            if time.monotonic() > deadline:
                say("DEADLINE")
                return 3
            first, body = reader.next(deadline)
            kind = first >> 4
            if kind == 9:
                say("SUBACK", body[2])
            elif kind == 3:
                qos = (first >> 1) & 3
                dup = (first >> 3) & 1
                tlen = struct.unpack("!H", body[:2])[0]
                t = body[2 : 2 + tlen].decode()
                rest = body[2 + tlen :]
                pid = struct.unpack("!H", rest[:2])[0] if qos else 0
                payload = (rest[2:] if qos else rest).decode("utf-8", "replace")
                say("PUBLISH", "topic=" + t, "qos=%d" % qos, "dup=%d" % dup, "id=%d" % pid,
                    "payload=" + payload)
                if payload == ack_payload and qos:
                    sock.sendall(packet(0x40, struct.pack("!H", pid)))
                    say("ACKED", pid)
                    time.sleep(1)
                    sock.sendall(packet(0xE0, b""))
                    return 0
    except EOFError:
        say("CLOSED")
        return 1
    except (socket.timeout, TimeoutError):
        say("DEADLINE")
        return 3


if __name__ == "__main__":
    sys.exit(main())
