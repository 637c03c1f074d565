#!/usr/bin/python3
"""Both directions over verified TLS on both sides (STARTTLS to the XMPP server, TLS to
mosquitto): MQTT -> chat message with the rendered template, chat command -> MQTT publish
with its reply, refusals, the retained status topic, the bridge's presence and a clean
SIGTERM shutdown. The XMPP server is Prosody, or ejabberd with MXB_XMPP_SERVER=ejabberd."""

import re
import signal

import harness

BRIDGE = "bridge@localhost"


def setup(env):
    p = env.xmpp_server(users=("bridge", "alice", "mallory", "bob"))
    m = env.broker()
    env.note("XMPP server %s (pid %d), MQTT broker %s (pid %d)" % (p.name, p.proc.pid, m.name,
                                                                  m.proc.pid))
    env.p, env.m = p, m
    env.alice = env.xmpp(p, "alice")
    env.sub = env.mqtt(m).subscribe("#")
    env.b = env.start_bridge_ready(p, m, over={
        "notify": [
            {"topic": "home/+/alarm", "to": ["alice@localhost"],
             "message": "{{topic.2}} says {{payload}}", "qos": 1},
            {"topic": "sensor/+/state", "to": ["alice@localhost"],
             "message": "{{topic}}: {{json.temp}} C ({{json.room.name}})"},
        ],
    })
    env.check(True, "bridge up: 'mqtt: connected' and 'xmpp: session established'")
    env.check(env.b.text().count("xmpp: session established as 'bridge@localhost/bridge'") == 1,
              "session established as the configured full JID 'bridge@localhost/bridge'")


def check_mqtt_to_xmpp(env):
    env.sub.drain()
    env.mqtt(env.m).publish("home/kitchen/alarm", "smoke", qos=1)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "kitchen says smoke", "alice got 'kitchen says smoke'", msg.body)
    env.check(msg.type == "chat", "message type chat", msg.type)
    env.mqtt(env.m).publish("home/hall/alarm", "window open, 2 \u00b0C \u2603", qos=0)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "hall says window open, 2 \u00b0C \u2603",
              "UTF-8 payload at QoS 0 rendered as is", msg.body)
    env.mqtt(env.m).publish("sensor/kitchen/state", '{"temp": 21.5, "room": {"name": "K"}}')
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "sensor/kitchen/state: 21.5 C (K)", "{{json.a.b}} fields rendered",
              msg.body)
    env.mqtt(env.m).publish("sensor/hall/state", "not json")
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "sensor/hall/state:  C ()",
              "non-JSON payload: json placeholders render empty", msg.body)
    env.mqtt(env.m).publish("home/kitchen/other", "x")
    env.mqtt(env.m).publish("home/cellar/alarm", "water")
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "cellar says water",
              "a topic matching no notify route is not forwarded (next message is the "
              "routed one)", msg.body)


def check_xmpp_to_mqtt(env):
    env.sub.drain()
    env.alice.send_message(BRIDGE, "home/kitchen/set ON")
    m = env.sub.wait_message("home/kitchen/set", timeout=10)
    env.check(m.payload == b"ON", "MQTT got payload ON on home/kitchen/set", m.payload)
    env.check(m.qos == 1 and not m.retain, "published with the route's qos 1, retain false",
              (m.qos, m.retain))
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body == "published to 'home/kitchen/set'" and r.type == "chat",
              "alice got the reply \"published to 'home/kitchen/set'\"", (r.type, r.body))

    env.alice.send_message(BRIDGE, "home/hall/set   dim to 50 %")
    m = env.sub.wait_message("home/hall/set", timeout=10)
    env.check(m.payload == b"dim to 50 %",
              "the first run of whitespace splits; the payload keeps its spaces", m.payload)
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body == "published to 'home/hall/set'", "reply for home/hall/set", r.body)

    env.alice.send_message(BRIDGE, "home/hall/set caf\u00e9 \u2603", mtype="normal")
    m = env.sub.wait_message("home/hall/set", timeout=10)
    env.check(m.payload == "caf\u00e9 \u2603".encode(), "a message of type normal works, "
              "UTF-8 payload published as UTF-8", m.payload)
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/hall/set'", timeout=10)


def check_refusals(env):
    env.sub.drain()
    for body, topic in (("garage/door/open 1", "garage/door/open"),
                        ("home/kitchen/set/extra 1", "home/kitchen/set/extra"),
                        ("home/kitchen/alarm FAKE", "home/kitchen/alarm")):
        env.alice.send_message(BRIDGE, body)
        r = env.alice.wait_message(frm=BRIDGE, timeout=10)
        env.check(r.body == "refused: you may not publish to '%s'" % topic,
                  "%r -> refusal reply" % body, r.body)
    env.alice.send_message(BRIDGE, "home/+/set ON")
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body.startswith("usage:") or r.body.startswith("refused:"),
              "a wildcard topic is refused (usage or refused reply)", r.body)
    env.alice.send_message(BRIDGE, "   ")
    r = env.alice.poll_message(frm=BRIDGE, timeout=10)
    env.check(r is not None and r.body.startswith("usage: TOPIC PAYLOAD"),
              "a blank body -> 'usage: TOPIC PAYLOAD...'", r and r.body)
    # barrier: an allowed command afterwards; the broker keeps the bridge's order, so a
    # refused publish would have arrived before it
    env.alice.send_message(BRIDGE, "home/barrier/set 1")
    m = env.sub.wait_message(None, lambda m: not m.topic.startswith("mxb/"), timeout=10)
    env.check(m.topic == "home/barrier/set",
              "nothing was published for the refused commands", (m.topic, m.payload))
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/barrier/set'", timeout=10)
    # the refused alarm command did not come back as a notify either
    extra = env.alice.poll_message(frm=BRIDGE, timeout=0.5)
    env.check(extra is None, "no further message to alice", extra and extra.body)


def check_status_online(env):
    payload = env.mqtt_retained(env.m, "mxb/status")
    env.check(payload == b"online", "status topic mxb/status retained 'online'", payload)


def check_presence_subscription(env):
    env.alice.subscribe(BRIDGE)
    state = None
    try:
        state = env.alice.wait_subscription(BRIDGE, ("both",), timeout=10)
    except harness.TestFailure as e:
        env.check(False, "bridge approved alice's subscription and subscribed back "
                  "(alice's roster: both)", e)
    env.check(state == "both", "alice's roster has the bridge with subscription both")
    p = env.alice.wait_presence(BRIDGE, True, timeout=10)
    env.check(p.frm == BRIDGE + "/bridge", "alice sees the bridge available", p.frm)


# The limits each broker's CONNACK sets, as the bridge says them at start (MQTT 5).
GRANT_LINES = {
    "mosquitto": [],
    "ejabberd": [
        r"warn: mqtt: the broker keeps the session 300 s, not 3600 s: a longer outage loses "
        r"what arrives meanwhile",
        r"warn: mqtt: the broker has no shared subscriptions: '\$share/' filters are not "
        r"subscribed",
    ],
}


def check_broker_grants(env):
    """The bridge reads what the broker grants and says each limit once: mod_mqtt caps the
    session expiry at 5 minutes and has no shared subscriptions; mosquitto limits nothing."""
    kind = harness.broker_kind()
    lines = re.findall(r"^.*mqtt: the broker .*$", env.b.text(), re.M)
    want = GRANT_LINES[kind]
    for rx in want:
        hits = [ln for ln in lines if re.search(rx, ln)]
        env.check(len(hits) == 1, "bridge log, once: %r" % hits[:1], lines)
    env.check(len(lines) == len(want), "no other 'mqtt: the broker ...' line (%s)" % kind,
              lines)
    env.verified("broker limits read from CONNACK",
                 "; ".join(ln.split("mqtt: ", 1)[1].split(":")[0] for ln in lines) or
                 "none (grants all the bridge asks)")


def check_sigterm(env):
    mark_p = env.alice.presence_mark()
    rc = env.b.stop(signal.SIGTERM, timeout=10)
    env.check(rc == 0, "SIGTERM -> exit code 0", rc)
    payload = env.mqtt_retained(env.m, "mxb/status")
    env.check(payload == b"offline", "status topic retained 'offline' after shutdown", payload)
    env.alice.wait_presence(BRIDGE, False, timeout=5, since=mark_p)
    env.check(True, "alice saw the bridge's presence go unavailable")


MAX_PACKET = 1024


def check_broker_max_packet(env):
    """A broker whose CONNACK limits the packet size (mosquitto's max_packet_size): a
    command whose publish would be larger is not sent, which would make the broker drop
    the connection, but refused with a reply, a log line and a counter; the commands
    around it and the other direction go on, on the same connection."""
    if harness.broker_kind() != "mosquitto":
        env.note("mod_mqtt: no max_packet_size to set; checked with mosquitto")
        return
    small = env.broker(name="mosquitto-small", extra="max_packet_size %d" % MAX_PACKET)
    sub = env.mqtt(small).subscribe("home/#")
    b = env.start_bridge_ready(env.p, small, over={
        "notify": [{"topic": "home/+/alarm", "to": ["alice@localhost"],
                    "message": "{{topic.2}} says {{payload}}", "qos": 1}],
    })
    env.b = b
    grants = re.findall(r"^.*mqtt: the broker takes packets of at most.*$", b.text(), re.M)
    env.check(grants == ["warn: mqtt: the broker takes packets of at most %d bytes: a larger "
                         "command is refused" % MAX_PACKET], "the limit is said once", grants)
    before = harness.bridge_counters(b)
    mark = b.mark()
    big = "x" * 2000
    for body in ("home/small/set A", "home/big/set " + big, "home/small/set B"):
        env.alice.send_message(BRIDGE, body)
    got = [sub.wait_message("home/small/set", timeout=10).payload for _ in range(2)]
    env.check(got == [b"A", b"B"], "the commands around the large one are published", got)
    replies = [env.alice.wait_message(frm=BRIDGE, timeout=10).body for _ in range(3)]
    # a refusal is said at once, a publish once the broker acknowledged it
    env.check(sorted(replies) == ["failed: cannot publish to 'home/big/set': Message too long",
                                  "published to 'home/small/set'",
                                  "published to 'home/small/set'"],
              "the large one is refused in its reply", replies)
    b.wait_log(r"warn: mqtt: not publishing to 'home/big/set': 2000 bytes of payload make a "
               r"packet larger than the broker takes \(%d bytes\)" % MAX_PACKET, since=mark)
    delta = harness.counter_delta(before, harness.bridge_counters(b))
    env.check(delta.get("commands mqtt too large") == 1, "counted: mqtt too large 1", delta)
    env.mqtt(small).publish("home/hall/alarm", "after", qos=1)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "hall says after", "MQTT -> XMPP goes on", msg.body)
    text = b.text(mark)
    env.check("mqtt: reconnecting" not in text and "mqtt: connected" not in text,
              "the same MQTT connection all along",
              [ln for ln in text.splitlines() if "mqtt:" in ln][:5])
    env.check(b.stop() == 0, "the bridge stops cleanly")
    env.verified("broker maximum packet size (CONNACK)",
                 "a larger publish is refused (reply, log, counter), nothing else lost")


if __name__ == "__main__":
    harness.main([setup, check_mqtt_to_xmpp, check_xmpp_to_mqtt, check_refusals,
                  check_status_online, check_presence_subscription, check_broker_grants,
                  check_sigterm, check_broker_max_packet])
