#!/usr/bin/python3
"""MQTT 3.1.1 over secure WebSocket with hand-made frames (standard library only), for what
ordinary clients never send: packets split across frames with a ping between the fragments,
several packets in one frame, and protocol violations. Driven by
server/app/src/websocket_e2e_test.cpp. Prints one line per event (flushed); exits 0 when the
scenario went as expected, 1 otherwise, 2 on usage.

  ws_raw_client.py MODE --port P --ca FILE --username U --password P --subscribe FILTER
  MODE split:    CONNECT in three fragments with a ping between them, then SUBSCRIBE and
                 PINGREQ in one frame; expects PONG, CONNACK 0, SUBACK, PINGRESP.
  MODE unmasked: CONNECT, then an unmasked frame; expects a close frame with 1002 and the end.
  MODE text:     CONNECT, then a text frame; expects a close frame with 1003 and the end.
"""

import argparse
import base64
import hashlib
import os
import socket
import ssl
import struct
import sys


def say(*words):
    print(*words, flush=True)


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def utf8(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def connect_packet(client_id, username, password):
    body = utf8("MQTT") + bytes([4, 0xC2]) + struct.pack(">H", 30)
    body += utf8(client_id) + utf8(username) + utf8(password)
    return bytes([0x10]) + varint(len(body)) + body


def subscribe_packet(topic):
    body = struct.pack(">H", 1) + utf8(topic) + bytes([1])
    return bytes([0x82]) + varint(len(body)) + body


def frame(op, payload, fin=True, masked=True):
    head = bytearray([(0x80 if fin else 0) | op])
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head.append(bit | n)
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return bytes(head) + payload
    mask = os.urandom(4)
    return bytes(head) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Conn:
    def __init__(self, host, port, ca):
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(socket.create_connection((host, port), timeout=15),
                                    server_hostname=host)
        self.buf = b""

    def recv_more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError()
        self.buf += chunk

    def upgrade(self, host):
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET /mqtt HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\n"
                           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
                           ).format(host, key).encode())
        while b"\r\n\r\n" not in self.buf:
            self.recv_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        expected = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        headers = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
        ok = (lines[0].startswith("HTTP/1.1 101") and
              headers.get("sec-websocket-accept") == expected and
              headers.get("sec-websocket-protocol") == "mqtt")
        say("UPGRADE", "ok" if ok else "bad", lines[0])
        return ok

    def next_frame(self):
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                if b1 & 0x80:
                    raise ValueError("masked server frame")
                n, at = b1 & 0x7F, 2
                if n == 126 and len(self.buf) >= 4:
                    n, at = struct.unpack(">H", self.buf[2:4])[0], 4
                elif n == 127 and len(self.buf) >= 10:
                    n, at = struct.unpack(">Q", self.buf[2:10])[0], 10
                if (b1 & 0x7F) < 126 or at > 2:
                    if len(self.buf) >= at + n:
                        payload = self.buf[at:at + n]
                        self.buf = self.buf[at + n:]
                        return b0 & 0x0F, payload
            self.recv_more()

    def send(self, data):
        self.sock.sendall(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["split", "unmasked", "text"])
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--subscribe", required=True)
    args = p.parse_args()

    c = Conn(args.host, args.port, args.ca)
    if not c.upgrade(args.host):
        return 1
    connect = connect_packet("ws-raw-" + args.mode, args.username, args.password)
    mqtt_stream = b""
    try:
        if args.mode == "split":
            c.send(frame(0x2, connect[:3], fin=False) + frame(0x9, b"between") +
                   frame(0x0, connect[3:10], fin=False))
            c.send(frame(0x0, connect[10:]))
            c.send(frame(0x2, subscribe_packet(args.subscribe) + bytes([0xC0, 0x00])))
            wanted = {"PONG", "CONNACK", "SUBACK", "PINGRESP"}
            seen = set()
            while seen != wanted:
                op, payload = c.next_frame()
                if op == 0xA:
                    say("PONG", payload.decode())
                    seen.add("PONG")
                elif op == 0x2:
                    mqtt_stream += payload
                    while len(mqtt_stream) >= 2 and len(mqtt_stream) >= 2 + mqtt_stream[1]:
                        kind, n = mqtt_stream[0], mqtt_stream[1]
                        packet, mqtt_stream = mqtt_stream[:2 + n], mqtt_stream[2 + n:]
                        if kind == 0x20:
                            say("CONNACK", packet[3])
                            if packet[3] != 0:
                                return 1
                            seen.add("CONNACK")
                        elif kind == 0x90:
                            say("SUBACK", packet[4])
                            seen.add("SUBACK")
                        elif kind == 0xD0:
                            say("PINGRESP")
                            seen.add("PINGRESP")
                else:
                    say("UNEXPECTED", op, payload)
                    return 1
            return 0
        c.send(frame(0x2, connect))
        op, payload = c.next_frame()
        say("CONNACK" if op == 0x2 and payload[:1] == b"\x20" else "UNEXPECTED", payload.hex())
        if args.mode == "unmasked":
            c.send(frame(0x2, bytes([0xC0, 0x00]), masked=False))
        else:
            c.send(frame(0x1, b"text is not MQTT"))
        while True:
            op, payload = c.next_frame()
            if op == 0x8:
                say("CLOSE", struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005)
                break
        try:
            while True:
                c.recv_more()
        except (EOFError, ssl.SSLError, OSError):
            say("END")
        return 0
    except (EOFError, ssl.SSLError, OSError, ValueError) as e:
        say("ERROR", type(e).__name__, e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
