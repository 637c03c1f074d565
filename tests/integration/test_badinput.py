#!/usr/bin/python3
"""Bad input is refused, not fatal: invalid UTF-8 and control characters in MQTT payloads
become U+FFFD (bad_text = "replace") without breaking the XMPP stream (Prosody closes a
stream on a single control character); payloads over max_payload are dropped with
"payload too large"; bad_text = "refuse" drops the message with a warning."""

import harness

BRIDGE = "bridge@localhost"
R = "\ufffd"


def setup(env):
    env.p, env.m = env.standard_servers()
    env.alice = env.xmpp(env.p, "alice")
    env.b = env.start_bridge_ready(env.p, env.m, over={"bridge": {"max_payload": 1024}})
    env.pub = env.mqtt(env.m)


def publish(env, payload, topic="home/x/alarm"):
    env.pub.publish(topic, payload, qos=1)


def next_body(env, timeout=10):
    return env.alice.wait_message(frm=BRIDGE, timeout=timeout).body


def sessions(env):
    return env.b.text().count("xmpp: session established")


def check_invalid_utf8_and_controls(env):
    cases = [
        (b"caf\xc3\xa9 \xff bad", "caf\u00e9 " + R + " bad", "a lone 0xff byte"),
        (b"bell\x07 esc\x1b del\x7f", "bell" + R + " esc" + R + " del\x7f",
         "C0 controls (DEL is allowed in XML)"),
        (b"tab\there\nnewline", "tab\there\nnewline", "tab and newline kept"),
        (b"a\x00b", "a" + R + "b", "NUL"),
        (b"x\xef\xbf\xbey", "x" + R + "y", "U+FFFE (not an XML character)"),
        (b"\xc3", R, "a truncated sequence at the end"),
    ]
    for i, (payload, rendered, what) in enumerate(cases):
        # each bad payload is followed by a marker, so a dropped message shows as nothing
        # before the marker and every case is checked on its own
        publish(env, payload)
        publish(env, "marker-%d" % i)
        got = []
        while True:
            body = next_body(env)
            if body == "x says marker-%d" % i:
                break
            got.append(body)
        env.expect(got == ["x says " + rendered], "%s: %r -> %r" % (what, payload, rendered),
                   "got %r" % (got or "nothing (dropped)"))
    publish(env, "still fine")
    env.check(next_body(env) == "x says still fine", "a later message arrives")
    env.check(sessions(env) == 1, "the XMPP stream stayed up (one session in the log)",
              sessions(env))
    env.check(env.b.alive(), "bridge alive")


def check_max_payload(env):
    mark = env.b.mark()
    publish(env, "A" * 1025)
    publish(env, "after-oversize")
    body = next_body(env)
    env.check(body == "x says after-oversize",
              "a 1025-byte payload (max_payload 1024) is not delivered; the next one is",
              body[:60])
    m = env.b.wait_log(r"payload too large", timeout=5, since=mark)
    env.check(True, "log: %r" % harness.line_of(m))
    publish(env, "B" * 1024)
    body = next_body(env)
    env.check(body == "x says " + "B" * 1024, "exactly max_payload (1024 bytes) is delivered",
              len(body))
    publish(env, b"\xff" * 5000)
    publish(env, "after-big-binary")
    env.check(next_body(env) == "x says after-big-binary",
              "a 5000-byte binary payload is dropped too")
    env.check(sessions(env) == 1 and env.b.alive(), "stream up, bridge alive")


def check_bad_commands(env):
    """Odd input from an allowed JID: every message gets a reply, the bridge stays up."""
    sub = env.mqtt(env.m).subscribe("home/#")
    for body in ["home/a/set " + "\u2603" * 300, "home/\u00e9/set \U0001F600",
                 "home/a/set \u202e\u200b"]:
        env.alice.send_message(BRIDGE, body)
        r = env.alice.wait_message(frm=BRIDGE, timeout=10)
        topic = body.split(" ", 1)[0]
        env.check(r.body == "published to '%s'" % topic, "command %r... published" % body[:16],
                  r.body)
        m = sub.wait_message(topic, timeout=10)
        env.check(m.payload == body.split(" ", 1)[1].encode(), "payload bytes kept")
    env.check(sessions(env) == 1 and env.b.alive(), "stream up, bridge alive")


def check_refuse_mode(env):
    env.b.stop()
    env.b = env.start_bridge_ready(env.p, env.m, over={"bridge": {"bad_text": "refuse"},
                                                        "mqtt": {"client_id": "mxb-refuse"}})
    mark = env.b.mark()
    publish(env, b"bad \xff byte")
    publish(env, b"bad \x01 control")
    publish(env, "good one")
    body = next_body(env)
    env.check(body == "x says good one", "bad_text=refuse: the bad payloads are dropped, "
              "the good one arrives", body)
    m = env.b.log.search(r"^warn: [^\n]*$", since=mark)
    env.check(m is not None, "a warning is logged", m and m.group(0))
    env.check(env.b.alive(), "bridge alive")


if __name__ == "__main__":
    harness.main([setup, check_invalid_utf8_and_controls, check_max_payload,
                  check_bad_commands, check_refuse_mode])
