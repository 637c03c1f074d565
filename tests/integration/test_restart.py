#!/usr/bin/python3
"""Each side reconnects on its own: a broker restart and a Prosody restart mid-run; the
bridge comes back and forwards again, the status topic says online again, and what
arrives for a side while it is down is held and delivered when it is back."""

import harness

BRIDGE = "bridge@localhost"


def setup(env):
    env.p = env.xmpp_server(users=("bridge", "alice"))
    # persistence: the broker keeps the test subscriber's session across its restart
    env.m = env.broker(persistence=True)
    env.alice = env.xmpp(env.p, "alice")
    env.b = env.start_bridge_ready(env.p, env.m)


def round_trip(env, tag):
    env.mqtt(env.m).publish("home/%s/alarm" % tag, "ping")
    env.alice.wait_message(frm=BRIDGE, body="%s says ping" % tag, timeout=10)
    env.check(True, "MQTT -> XMPP (%s)" % tag)


def check_broker_restart(env):
    round_trip(env, "before")
    # a subscriber whose session outlives the restart (QoS 1, persistent session)
    sub = env.mqtt(env.m, client_id="test-persistent", version=3, clean=False)
    sub.subscribe("home/+/set", qos=1)
    sub.disconnect()
    # clear the retained status, so "online" after the restart must be a new publish
    env.mqtt(env.m).publish("mxb/status", b"", qos=1, retain=True)
    mark_b, mark_m = env.b.mark(), env.m.log.mark()
    env.m.stop()
    env.note("broker stopped")
    # a command while the broker is down: held by the bridge, published after reconnect
    env.alice.send_message(BRIDGE, "home/queued/set while-down")
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check("home/queued/set" in r.body, "alice got an answer while the broker is down",
              r.body)
    env.m.start()
    env.note("broker started again on port %d" % env.m.tls_port)
    m = env.b.wait_log(r"mqtt: connected to 127\.0\.0\.1:%d" % env.m.tls_port, timeout=30,
                       since=mark_b)
    env.check(True, "bridge reconnected: %r" % m.group(0))
    env.m.wait_subscribed("mxb-test", "home/+/alarm", since=mark_m, timeout=10)
    env.check(True, "bridge re-subscribed its notify topic")
    round_trip(env, "after")
    payload = env.mqtt_retained(env.m, "mxb/status")
    env.check(payload == b"online", "status topic retained 'online' again", payload)
    sub = env.mqtt(env.m, client_id="test-persistent", version=3, clean=False)
    got = sub.wait_message("home/+/set", timeout=10)
    env.check(got.topic == "home/queued/set" and got.payload == b"while-down",
              "the command sent while the broker was down was published after reconnect",
              got)
    sub.disconnect()
    env.check(env.b.text(mark_b).count("xmpp: session established") == 0,
              "the XMPP session was not touched")


def check_prosody_restart(env):
    sub = env.mqtt(env.m).subscribe("home/+/set")
    mark_b = env.b.mark()
    env.p.stop()
    env.note("prosody stopped")
    env.p.start()
    env.note("prosody started again on port %d" % env.p.port)
    m = env.b.wait_log(r"xmpp: session established as 'bridge@localhost/bridge'",
                       timeout=30, since=mark_b)
    env.check(True, "bridge re-established its session: %r" % m.group(0))
    env.alice = env.xmpp(env.p, "alice")
    round_trip(env, "back")
    env.alice.send_message(BRIDGE, "home/back/set ON")
    got = sub.wait_message("home/back/set", timeout=10)
    env.check(got.payload == b"ON", "XMPP -> MQTT after the restart", got.payload)
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/back/set'", timeout=10)
    env.check(env.b.text(mark_b).count("mqtt: connected") == 0,
              "the MQTT session was not touched")


def check_queued_while_prosody_down(env):
    mark_b = env.b.mark()
    env.alice.disconnect()
    env.p.stop()
    env.note("prosody stopped")
    # the bridge sees the stream end (Prosody closes it on shutdown); any xmpp line will do
    m = env.b.log.absent(r"xmpp: [^\n]*(?i:disconnect|closed|lost|error|down|reconnect)",
                         3.0, since=mark_b)
    env.note("bridge noticed: %r" % (m.group(0) if m else None))
    for i in range(3):
        env.mqtt(env.m).publish("home/garage/alarm", "queued-%d" % i)
    env.p.start()
    env.note("prosody started again")
    env.b.wait_log(r"xmpp: session established", timeout=30, since=mark_b)
    env.check(True, "session re-established")
    # alice logs in now; whatever the bridge sent before she was online is in her offline
    # store and is delivered at login
    env.alice = env.xmpp(env.p, "alice")
    got = [env.alice.wait_message(frm=BRIDGE, timeout=10).body for _ in range(3)]
    env.check(got == ["garage says queued-%d" % i for i in range(3)],
              "the 3 notifies published while Prosody was down arrived, in order", got)
    round_trip(env, "final")


if __name__ == "__main__":
    harness.main([setup, check_broker_restart, check_prosody_restart,
                  check_queued_while_prosody_down])
