#!/usr/bin/python3
"""One client on Debian's python3-paho-mqtt 1.6 over secure WebSocket: transport="websockets",
ws_set_options(path="/mqtt"), tls_set(ca_certs=...), nothing else special. Driven by
server/app/src/websocket_e2e_test.cpp. Prints one line per event (flushed): CONNACK rc,
SUBACK, PUBACK, MESSAGE topic payload, CLOSED; exits 0 once everything asked was seen, 1 on a
refused connection or a lost one, 3 on its deadline, 2 on usage.

  paho_ws_client.py --port P --ca FILE [--mqtt5] [--client-id ID] [--username U --password P]
                    [--subscribe FILTER] [--publish TOPIC --message TEXT] [--deadline SECONDS]
"""

import argparse
import ssl
import sys
import time

import paho.mqtt.client as mqtt


def say(*words):
    print(*words, flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="localhost")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--mqtt5", action="store_true")
    p.add_argument("--client-id", default="")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--subscribe")
    p.add_argument("--publish")
    p.add_argument("--message", default="")
    p.add_argument("--deadline", type=float, default=30)
    args = p.parse_args()

    protocol = mqtt.MQTTv5 if args.mqtt5 else mqtt.MQTTv311
    if args.mqtt5:
        client = mqtt.Client(client_id=args.client_id, protocol=protocol, transport="websockets")
    else:
        client = mqtt.Client(
            client_id=args.client_id, clean_session=True, protocol=protocol, transport="websockets"
        )
    client.ws_set_options(path="/mqtt")
    client.tls_set(ca_certs=args.ca, tls_version=ssl.PROTOCOL_TLS_CLIENT)
    if args.username is not None:
        client.username_pw_set(args.username, args.password)

    state = {"connected": False, "subscribed": not args.subscribe, "message": not args.subscribe,
             "puback": not args.publish, "failed": False, "closed": False}

    def done():
        return all(state[k] for k in ("connected", "subscribed", "message", "puback"))

    def start_publishing():
        if args.publish:
            client.publish(args.publish, args.message, qos=1)

    def on_connect(c, userdata, flags, rc, properties=None):
        code = int(rc.value) if hasattr(rc, "value") else int(rc)
        say("CONNACK", code)
        if code != 0:
            state["failed"] = True
            return
        state["connected"] = True
        if args.subscribe:
            c.subscribe(args.subscribe, qos=1)
        else:
            start_publishing()

    def on_subscribe(c, userdata, mid, granted, properties=None):
        q = granted[0]
        q = int(q.value) if hasattr(q, "value") else int(q)
        say("SUBACK", q)
        if q > 2:
            state["failed"] = True
            return
        state["subscribed"] = True
        start_publishing()

    def on_publish(c, userdata, mid):
        say("PUBACK")
        state["puback"] = True

    def on_message(c, userdata, msg):
        say("MESSAGE", msg.topic, msg.payload.decode("utf-8", "replace"))
        state["message"] = True

    def on_disconnect(c, userdata, rc, properties=None):
        say("CLOSED", rc)
        state["closed"] = True

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_publish = on_publish
    client.on_message = on_message
    client.on_disconnect = on_disconnect

    try:
        client.connect(args.host, args.port, keepalive=30)
    except Exception as e:  # the upgrade or the TLS handshake was refused
        say("ERROR", type(e).__name__, e)
        return 1
    end = time.monotonic() + args.deadline
    while time.monotonic() < end:
        client.loop(timeout=0.1)
        if done():
            client.disconnect()
            client.loop(timeout=0.5)
            return 0
        if state["failed"] or state["closed"]:
            return 1
    say("DEADLINE")
    return 3


if __name__ == "__main__":
    sys.exit(main())
