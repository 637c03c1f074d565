#!/usr/bin/python3
"""Try mqtt-xmpp-bridge on this machine, with nothing installed but the packages.

Starts a throwaway mosquitto and Prosody on loopback ports (a generated CA, accounts
bridge@localhost and alice@localhost with random passwords), writes a bridge.conf, runs
the bridge, and shows one message each way:
    MQTT home/kitchen/alarm  ->  a chat message to alice@localhost
    alice: "home/kitchen/set ON"  ->  MQTT home/kitchen/set = ON
Prosody also serves the web dashboard (web/www) with BOSH and WebSocket on a plain http
loopback port. The bridge's devices come through its component iot.localhost: a
simulated Tasmota plug, plug@iot.localhost, answers its commands as the firmware does
(cmnd/plug/POWER and cmnd/plug/STATE, answered on stat/plug/...). The alarms go to the
room alarms@conference.localhost as well, which the bridge creates and where its
occupants may send commands ("home: help"). Then it shows alice adding the plug to her
roster, switching it and sending a command in the room, prints the dashboard's URL, how
to connect your own XMPP client and the mosquitto tools, and keeps running until Ctrl-C
(or exits 0/1 right away with --once). Everything lives in a temp dir that is removed at
the end (set MXB_KEEP_TMP=1 to keep it).

    ./scripts/demo.py [--once]          # the bridge: $MXB_BRIDGE or ./build/mqtt-xmpp-bridge
"""

import argparse
import os
import secrets
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import devicesim  # noqa: E402
import harness  # noqa: E402
import webservers  # noqa: E402

BRIDGE_JID = "bridge@localhost"
DEVICES = "iot.localhost"
ROOM = "alarms@conference.localhost"
PLUG = "plug@" + DEVICES


def find_bridge():
    if os.environ.get("MXB_BRIDGE"):
        return os.environ["MXB_BRIDGE"]
    for cand in ("./build/mqtt-xmpp-bridge", os.path.join(REPO, "build", "mqtt-xmpp-bridge")):
        if os.access(cand, os.X_OK):
            return os.path.abspath(cand)
    return os.path.join(REPO, "build", "mqtt-xmpp-bridge")


def demo(env, once):
    pki = env.pki
    print("starting mosquitto and Prosody on 127.0.0.1 ...", flush=True)
    mosq = env.mosquitto()
    http_port = harness.free_port()
    cport = harness.free_port()
    secret = secrets.token_urlsafe(12)
    site = webservers.site_copy(os.path.join(env.tmp, "site"), http_port, config={
        "websocket": "/xmpp-websocket", "bosh": "/http-bind", "transport": "auto",
        "component": DEVICES, "room": ROOM, "nick": "", "history": 10, "timeout": 15,
        "jid": "alice@localhost"})
    extra = webservers.prosody_http_extra(
        http_port, site, ["http://127.0.0.1:%d" % http_port, "http://localhost:%d" % http_port],
        component=(DEVICES, secret, cport))
    prosody = webservers.prosody_enable_http(
        env.prosody(users=("bridge", "alice"), extra=extra, start=False)).start()
    alice_pw = prosody.accounts["alice"]

    cfg = env.bridge_config(prosody, mosq, {
        "bridge": {"log_level": "info"},
        "xmpp": {"status": "demo bridge",
                 "component": {"domain": DEVICES, "secret": secret, "host": "127.0.0.1",
                               "port": cport},
                 "rooms": [{"jid": ROOM, "nick": "home"}]},
        "mqtt": {"client_id": "mxb-demo", "status_topic": "mqtt-xmpp-bridge/status"},
        "notify": [{"topic": "home/+/alarm", "to": ["alice@localhost", ROOM],
                    "message": "{{topic.2}} says {{payload}}", "qos": 1}],
        "commands": [
            {"from": ["alice@localhost", ROOM], "role": "participant",
             "allow": ["home/+/set"]},
            {"command": "plug", "from": ["alice@localhost", ROOM], "role": "participant",
             "topic": "cmnd/plug/POWER", "payload": "{{arg.1}}", "usage": "on|off|toggle",
             "description": "switch the demo plug"},
        ],
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"]}],
    })
    bridge = env.bridge(cfg, start=False)
    print("bridge:  %s -c %s" % (harness.bridge_binary(), bridge.conf_path))
    print("log:     %s" % bridge.log.path, flush=True)
    bridge.start()
    mark = mosq.log.mark()
    bridge.wait_ready(timeout=30)
    mosq.wait_subscribed("mxb-demo", "home/+/alarm", since=mark, timeout=15)
    print("bridge is up: MQTT connected, XMPP session established\n", flush=True)

    alice = env.xmpp(prosody, "alice")
    sub = env.mqtt(mosq).subscribe("home/#")
    # a Tasmota plug that answers its commands, for the roster and the dashboard
    devicesim.TasmotaPlug(env, mosq, "plug", "OFF")
    bridge.wait_log(r"component: connected as 'iot\.localhost'", timeout=15)
    bridge.wait_log(r"xmpp: joined room '%s'" % ROOM, timeout=15)

    # MQTT -> XMPP
    env.mqtt(mosq).publish("home/kitchen/alarm", "smoke detected", qos=1)
    print("MQTT  publish  home/kitchen/alarm = 'smoke detected'")
    msg = alice.wait_message(frm=BRIDGE_JID, timeout=15)
    print("XMPP  alice@localhost got from %s: %r\n" % (msg.frm, msg.body), flush=True)

    # XMPP -> MQTT
    alice.send_message(BRIDGE_JID, "home/kitchen/set ON")
    print("XMPP  alice@localhost -> %s: 'home/kitchen/set ON'" % BRIDGE_JID)
    m = sub.wait_message("home/kitchen/set", timeout=15)
    print("MQTT  received %s = %r" % (m.topic, m.payload.decode("utf-8", "replace")))
    reply = alice.wait_message(frm=BRIDGE_JID, timeout=15)
    print("XMPP  alice@localhost got the reply: %r\n" % reply.body, flush=True)
    # A device in the roster: a subscription, its presence, a command and its answer.
    alice.subscribe(PLUG)
    alice.wait_subscription(PLUG, ("to", "both"), timeout=15)
    harness.wait_until(lambda: (lambda p: p is not None and p.status == "OFF")(
        alice.presence_of(PLUG)), 15, what="the plug's presence with status OFF")
    p = alice.presence_of(PLUG)
    print("XMPP  alice@localhost added %s: %s, show %s, status %r" % (
        PLUG, p.type, p.show, p.status))
    alice.send_message(PLUG, "on")
    print("XMPP  alice@localhost -> %s: 'on'" % PLUG)
    plug_reply = alice.wait_message(frm=PLUG, timeout=15)
    print("XMPP  %s answered: %r\n" % (PLUG, plug_reply.body), flush=True)

    # A command in the room, addressed to the bridge's nick.
    alice.join_room(ROOM, "alice")
    alice.send_message(ROOM, "home: plug off", mtype="groupchat")
    print("XMPP  alice in %s: 'home: plug off'" % ROOM)
    room_reply = alice.wait_message(mtype="groupchat", timeout=15,
                                    predicate=lambda x: x.body.startswith("alice: "))
    print("XMPP  the room got: %r\n" % room_reply.body, flush=True)

    page = "http://127.0.0.1:%d/" % http_port
    served = fetch(page + "index.html")
    print("HTTP  the dashboard at %s: %s\n" % (page, "served" if served else "NOT served"),
          flush=True)
    ok = (msg.body == "kitchen says smoke detected" and m.payload == b"ON" and
          reply.body == "published to 'home/kitchen/set'" and served and
          p.type == "available" and p.show == "away" and plug_reply.body == "plug is ON" and
          room_reply.body == "alice: published to 'cmnd/plug/POWER'")
    alice.disconnect()
    sub.disconnect()

    if once:
        print("demo %s" % ("OK" if ok else "FAILED: unexpected text above"))
        return ok

    ca = pki.ca.cert
    print("""Your turn. Everything listens on 127.0.0.1 only.

Web dashboard (any browser on this machine):
    {page}
    log in as alice@localhost with the password below; add the device "plug", press
    On/Off and watch it answer

XMPP client (Gajim, Dino, profanity, Conversations on this machine's network ...):
    account      alice@localhost
    password     {pw}
    server       127.0.0.1  port {xport}  (STARTTLS required)
    certificate  for "localhost", issued by the demo CA {ca}
                 (trust that CA, or accept the certificate when asked)
    profanity:   /connect alice@localhost server 127.0.0.1 port {xport} tls trust
    then
    - chat with {bridge}: "help", "home/kitchen/set ON", "plug on"
    - add {plug} to your contacts (profanity: /roster add {plug} then
      /sub request {plug}); it shows online with its state (ON, or OFF as away);
      chat with it: "on", "off", "toggle", "status", "help"
    - send "list" to {devices} to see the devices; "help" says what they understand
    - join the room {room} (profanity: /join {room}) and write "home: help" or
      "home: plug toggle": the bridge's nick there is "home"

MQTT (mosquitto-clients):
    mosquitto_sub -h 127.0.0.1 -p {mport} --cafile {ca} -t 'home/#' -t 'mqtt-xmpp-bridge/status' -v
    mosquitto_pub -h 127.0.0.1 -p {mport} --cafile {ca} -t home/hall/alarm -m 'window open'
    (plain, without TLS: -p {mplain}, no --cafile)

Files: bridge.conf {conf}
       bridge log  {log}   (tail -f it)
Ctrl-C stops everything.""".format(page=page, pw=alice_pw, xport=prosody.port, ca=ca, bridge=BRIDGE_JID,
           plug=PLUG, devices=DEVICES, room=ROOM,
                                   mport=mosq.tls_port, mplain=mosq.port,
                                   conf=bridge.conf_path, log=bridge.log.path), flush=True)
    while True:
        for name, alive in (("bridge", bridge.alive()), ("mosquitto", mosq.alive()),
                            ("prosody", prosody.alive())):
            if not alive:
                print("\n%s exited unexpectedly; log tail:\n%s" % (
                    name, harness.tail(bridge.log.path if name == "bridge" else
                                       (mosq.log.path if name == "mosquitto" else
                                        prosody.log.path), 20)))
                return False
        time.sleep(0.5)


def fetch(url):
    """True when url answers 200 with the dashboard's page (loopback only)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status == 200 and b"dashboard.js" in r.read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--once", action="store_true",
                    help="show the two messages, then stop and exit 0 (or 1 on failure)")
    args = ap.parse_args()
    os.environ["MXB_BRIDGE"] = find_bridge()
    if not os.access(harness.bridge_binary(), os.X_OK):
        print("no bridge binary at %s: build it (meson setup build && ninja -C build) or set "
              "MXB_BRIDGE" % harness.bridge_binary(), file=sys.stderr)
        return 1
    harness.install_signal_handlers()
    env = harness.Env("demo")
    ok = False
    try:
        ok = demo(env, args.once)
    except harness.Terminated:
        print("\nstopping ...")
        ok = True
    except harness.TestFailure as e:
        print("demo FAILED: %s" % e, file=sys.stderr)
    finally:
        for b in env.bridges:
            if b.alive():
                rc = b.stop()
                print("bridge exited with %s" % rc)
                if rc != 0:
                    ok = False
        env.close(failed=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
