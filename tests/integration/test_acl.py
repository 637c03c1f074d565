#!/usr/bin/python3
"""Nothing let in: a stranger's command gets an error reply (type error, <forbidden/>),
is logged as refused and publishes nothing; a JID allowed on one route may not use
another route's topics; the bridge stays up and keeps forwarding."""

import time

import harness

BRIDGE = "bridge@localhost"


def setup(env):
    p, m = env.standard_servers()
    env.p, env.m = p, m
    env.alice = env.xmpp(p, "alice")
    env.bob = env.xmpp(p, "bob")
    env.mallory = env.xmpp(p, "mallory", auto_authorize=False)
    env.sub = env.mqtt(m).subscribe("#")
    env.b = env.start_bridge_ready(p, m, over={
        "commands": [
            {"from": ["alice@localhost"], "allow": ["home/+/set"], "qos": 1, "retain": False},
            {"from": ["bob@localhost"], "allow": ["garage/#"], "qos": 0, "retain": True},
        ],
    })


def barrier(env, who, topic):
    """An allowed command after the ones under test: the broker keeps the bridge's order,
    so anything the bridge published before shows up first."""
    who.send_message(BRIDGE, "%s done" % topic)
    m = env.sub.wait_message(None, lambda m: not m.topic.startswith("mxb/"), timeout=10)
    env.check(m.topic == topic and m.payload == b"done",
              "nothing published before the barrier command", (m.topic, m.payload))
    who.wait_message(frm=BRIDGE, body="published to '%s'" % topic, timeout=10)


def check_stranger(env):
    env.sub.drain()
    mark = env.b.mark()
    env.mallory.send_message(BRIDGE, "home/kitchen/set ON")
    r = env.mallory.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.type == "error", "mallory's command answered with a message of type error",
              (r.type, r.body))
    env.check(r.error == "forbidden", "the error condition is <forbidden/>", r.error)
    m = env.b.wait_log(r"command: refused message from 'mallory@localhost(/[^']*)?': "
                       r"not allowed", timeout=5, since=mark)
    env.check(True, "bridge log: %r" % harness.line_of(m))
    barrier(env, env.alice, "home/barrier1/set")
    env.check(env.b.alive(), "bridge still running")


def check_stranger_flood(env):
    """20 commands in a row from a stranger, of several kinds: all refused, none
    published, the bridge stays up and keeps its session."""
    env.sub.drain()
    mark = env.b.mark()
    bodies = ["home/kitchen/set %d" % i for i in range(10)] + \
        ["garage/door/open 1", "mxb/status online", "", "x", "home/+/set 1",
         "\u2603/\u2603 \u2603", "home/kitchen/set " + "A" * 3000, "#", "a b c", "$SYS/x 1"]
    for body in bodies:
        env.mallory.send_message(BRIDGE, body if body else " ")
    n = 0
    while env.mallory.poll_message(frm=BRIDGE, mtype="error", timeout=5) is not None:
        n += 1
        if n == len(bodies):
            break
    env.check(n == len(bodies), "an error reply for each of the %d messages" % len(bodies), n)
    barrier(env, env.alice, "home/barrier2/set")
    env.check(env.b.alive(), "bridge still running")
    env.check(env.b.text(mark).count("session established") == 0,
              "the XMPP session was not re-established (the stream stayed up)")


def check_routes_are_separate(env):
    env.sub.drain()
    env.alice.send_message(BRIDGE, "garage/door/open 1")
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body == "refused: you may not publish to 'garage/door/open'",
              "alice may not use bob's route", r.body)
    env.bob.send_message(BRIDGE, "home/kitchen/set ON")
    r = env.bob.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body == "refused: you may not publish to 'home/kitchen/set'",
              "bob may not use alice's route", r.body)
    env.bob.send_message(BRIDGE, "garage/door/open 1")
    m = env.sub.wait_message(None, lambda m: not m.topic.startswith("mxb/"), timeout=10)
    env.check(m.topic == "garage/door/open" and m.payload == b"1",
              "bob's allowed command published (and nothing before it)", (m.topic, m.payload))
    # (a live subscriber sees retain=0 unless it asked for retain-as-published)
    env.check(m.qos == 0, "with bob's route's qos 0", m.qos)
    env.bob.wait_message(frm=BRIDGE, body="published to 'garage/door/open'", timeout=10)
    env.check(env.mqtt_retained(env.m, "garage/door/open") == b"1", "with bob's route's retain "
              "true: the broker keeps it as the retained value")


def check_stranger_no_presence(env):
    """The bridge approves subscriptions only from JIDs in its config."""
    env.mallory.subscribe(BRIDGE)
    # a barrier: alice's command is handled after mallory's subscription request reached
    # the bridge (same server, handled in order by the bridge)
    barrier(env, env.alice, "home/barrier3/set")
    st = None
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        st = env.mallory.subscription(BRIDGE)
        if st in ("to", "both"):
            break
        time.sleep(0.05)
    env.check(st not in ("to", "both"), "mallory's subscription request was not approved", st)
    env.check(env.mallory.presence_of(BRIDGE) is None or
              env.mallory.presence_of(BRIDGE).type not in ("available",),
              "mallory does not see the bridge's presence")


def check_still_forwards(env):
    env.mqtt(env.m).publish("home/door/alarm", "open")
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "door says open", "MQTT -> XMPP still forwarded", msg.body)
    env.check(env.mallory.no_message(0.3, frm=BRIDGE) is None,
              "mallory got no notify (she is in no route)")
    env.check(env.b.alive(), "bridge still running")
    log = env.b.text()
    env.check(env.p.accounts["bridge"] not in log, "the XMPP password never shows in the log")


if __name__ == "__main__":
    harness.main([setup, check_stranger, check_stranger_flood, check_routes_are_separate,
                  check_stranger_no_presence, check_still_forwards])
