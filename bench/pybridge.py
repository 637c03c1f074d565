#!/usr/bin/python3
"""The peer bridge for bench/run: the kind of MQTT<->XMPP bridge people run today, written
with python3-slixmpp and python3-paho-mqtt, doing the same mapping as mqtt-xmpp-bridge:

  notify:   a message on a topic matching --notify (MQTT, QoS 1 subscription) becomes a chat
            message to --to whose body is the payload ("{{payload}}").
  commands: a chat message "TOPIC PAYLOAD" from --allow-from, TOPIC matching --allow, is
            published (QoS 1); once the broker acknowledged it the sender gets
            "published to 'TOPIC'". Others get "refused: ..." / a usage line.

TLS verified on both sides (STARTTLS to Prosody, TLS to mosquitto). Prints "ready" on stdout
once both sessions are up and the subscription is acknowledged. Stops on SIGTERM.
"""

import argparse
import asyncio
import signal
import ssl
import sys
import threading

import paho.mqtt.client as mqtt
import slixmpp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--xmpp-port", type=int, required=True)
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--notify", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--allow-from", required=True)
    p.add_argument("--allow", required=True)
    a = p.parse_args()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    x = slixmpp.ClientXMPP(a.jid, a.password)
    x.ca_certs = a.ca
    x.default_domain = a.jid.split("@", 1)[1].split("/", 1)[0]

    async def no_dns(_domain, _port=None):
        return None
    x._pick_dns_answer = no_dns
    x.auto_reconnect = False

    m = mqtt.Client(client_id="pybridge", protocol=mqtt.MQTTv311)
    m.tls_set(ca_certs=a.ca, cert_reqs=ssl.CERT_REQUIRED)
    m.max_queued_messages_set(0)
    inflight = {}
    early = set()
    lock = threading.Lock()
    ready = {"xmpp": False, "sub": False}

    def maybe_ready():
        if ready["xmpp"] and ready["sub"]:
            print("ready", flush=True)

    def send_chat(to, body):
        x.send_message(mto=to, mbody=body, mtype="chat")

    def on_connect(c, _u, _f, rc):
        c.subscribe(a.notify, 1)

    def on_subscribe(_c, _u, _mid, _granted):
        loop.call_soon_threadsafe(lambda: (ready.__setitem__("sub", True), maybe_ready()))

    def on_mqtt_message(_c, _u, msg):
        if msg.retain:
            return
        body = msg.payload.decode("utf-8", "replace")
        loop.call_soon_threadsafe(send_chat, a.to, body)

    def on_publish(_c, _u, mid):
        with lock:
            item = inflight.pop(mid, None)
            if item is None:
                early.add(mid)  # PUBACK before publish() returned to on_message
        if item:
            loop.call_soon_threadsafe(send_chat, item[0], "published to '%s'" % item[1])

    m.on_connect = on_connect
    m.on_subscribe = on_subscribe
    m.on_message = on_mqtt_message
    m.on_publish = on_publish

    allowed = {j.strip() for j in a.allow_from.split(",")}

    def on_message(msg):
        if msg["type"] not in ("chat", "normal"):
            return
        frm = msg["from"]
        if frm.bare not in allowed:
            return
        body = msg["body"].strip()
        parts = body.split(None, 1)
        if not parts:
            send_chat(frm, "usage: TOPIC PAYLOAD")
            return
        topic = parts[0]
        payload = parts[1] if len(parts) > 1 else ""
        if not mqtt.topic_matches_sub(a.allow, topic):
            send_chat(frm, "refused: you may not publish to '%s'" % topic)
            return
        # paho calls on_publish under its own lock: never hold ours around publish()
        info = m.publish(topic, payload.encode(), qos=1)
        with lock:
            acked = info.mid in early
            if acked:
                early.discard(info.mid)
            else:
                inflight[info.mid] = (frm, topic)
        if acked:
            send_chat(frm, "published to '%s'" % topic)

    async def on_session_start(_ev):
        x.send_presence()
        ready["xmpp"] = True
        maybe_ready()

    x.add_event_handler("session_start", on_session_start)
    x.add_event_handler("message", on_message)
    x.connect(address=("127.0.0.1", a.xmpp_port), force_starttls=True, disable_starttls=False)
    m.connect("127.0.0.1", a.mqtt_port, keepalive=60)
    m.loop_start()

    def stop(*_):
        loop.call_soon_threadsafe(loop.stop)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        loop.run_forever()
    finally:
        m.loop_stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
