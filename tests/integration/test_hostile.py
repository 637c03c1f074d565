#!/usr/bin/python3
"""Hostile input, one case per check function. Every case asserts that the bridge is still
alive, that its XMPP stream is still well-formed and the same session (a normal
notification and a normal command still get through afterwards, and the log shows one
session), that the bridge says so in its log where it refuses something, and that the
counters it logs on SIGUSR1 moved as they should.

MQTT -> XMPP: invalid UTF-8 of several kinds, NUL, each C0 control, DEL and C1, U+FFFE and
U+FFFF, XML specials, 1 MB and exactly-max_payload payloads, binary, JSON nested 10000
deep, JSON with huge numbers and strings, a 65000-byte topic, odd topic levels, template
syntax in topics and payloads.
XMPP -> MQTT: a stranger, a room occupant without rights, forged carbons (received and
sent), a forwarded wrapper, a flood of 500 commands, unknown namespaces in messages and
IQs, a 100 KB body, wildcard and $SYS topics, empty and whitespace-only bodies, XML
specials in commands.
Config files: ten kinds of mistakes for --check-config (exit 1, FILE:LINE: message)."""

import os
import re
import subprocess
import time

import harness

BRIDGE = "bridge@localhost"
ROOM = "family@conference.localhost"
R = "\ufffd"
MAX_PAYLOAD = 8192
MAX_MESSAGE = 16384
# what one probe() adds to the counters
PROBE = {"mqtt received": 1, "xmpp sent": 2, "commands published": 1}


def join(client, nick):
    client.join_room(ROOM, nick)


def setup(env):
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory", "bob"), muc=True)
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    env.bob = env.xmpp(env.p, "bob")
    join(env.alice, "alice")      # first in: owner, moderator
    join(env.mallory, "mallory")  # participant, no affiliation
    env.sub = env.mqtt(env.m).subscribe("#")
    env.pub = env.mqtt(env.m)
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"log_level": "debug", "max_payload": MAX_PAYLOAD,
                   "max_message": MAX_MESSAGE},
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}]},
        "notify": [
            {"topic": "hostile/#", "to": ["alice@localhost"], "message": "{{topic}}: {{payload}}"},
            {"topic": "json/deep", "to": ["alice@localhost"], "max_payload": 300000,
             "message": "deep={{json.a.a.a|none}}"},
            {"topic": "json/big", "to": ["alice@localhost"], "max_payload": 300000,
             "message": "n={{json.n|none}} s={{json.s|none}}"},
            {"topic": "bin/skip", "to": ["alice@localhost"], "binary": "skip"},
        ],
        "commands": [
            {"from": ["alice@localhost"], "allow": ["home/+/set"]},
            {"from": ["bob@localhost"], "allow": ["#"]},
            {"from": [ROOM], "role": "moderator", "allow": ["home/+/set"]},
        ],
    })
    env.b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, timeout=10)
    env.nprobe = 0
    env.sessions = env.b.text().count("xmpp: session established")
    env.check(env.sessions == 1, "one XMPP session at start", env.sessions)


# ---------------------------------------------------------------------------------------
# The frame of every case

def probe(env):
    """A normal notification and a normal command round trip; the bridge alive, the same
    XMPP session."""
    env.nprobe += 1
    n = env.nprobe
    env.pub.publish("hostile/probe", "probe-%d" % n)
    env.alice.wait_message(frm=BRIDGE, body="hostile/probe: probe-%d" % n, timeout=15)
    env.alice.send_message(BRIDGE, "home/probe/set p%d" % n)
    env.sub.wait_message("home/probe/set", lambda m: m.payload == b"p%d" % n, timeout=15)
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/probe/set'", timeout=15)
    env.check(env.b.alive(), "afterwards: bridge alive")
    s = env.b.text().count("xmpp: session established")
    env.check(s == env.sessions, "afterwards: a notification and a command still get "
              "through on the same XMPP session", "%d sessions" % s)


def counters(env):
    return harness.bridge_counters(env.b)


def run_case(env, action, log=None, moved=None, same=(), log_level=None):
    """Runs action(); waits for the log line log (a regex; None: none expected); probes;
    checks that each counter in moved grew by at least its value (beyond the probe's own
    share) and that each counter in same did not move (beyond the probe's share)."""
    before = counters(env)
    mark = env.b.mark()
    env.alice.drain()
    result = action()
    if log is not None:
        m = env.b.wait_log(log, timeout=5, since=mark)
        line = harness.line_of(m)
        if log_level:
            env.check(line.startswith(log_level + ":"), "log line at level %s" % log_level,
                      line[:200])
        env.check(True, "log: %r" % (line[:200] + ("..." if len(line) > 200 else "")))
    probe(env)
    after = counters(env)
    delta = {k: after[k] - before[k] - PROBE.get(k, 0) for k in after}
    for k, v in (moved or {}).items():
        env.check(delta[k] >= v, "counter %r moved by %d" % (k, v),
                  "delta %d; all changes %r" % (delta[k], {x: y for x, y in delta.items() if y}))
    for k in same:
        env.check(delta[k] == 0, "counter %r did not move" % k, delta[k])
    return result


def bodies_until(env, marker, timeout=15):
    """Alice's messages from the bridge up to (not including) the one with body marker."""
    got = []
    while True:
        m = env.alice.wait_message(frm=BRIDGE, timeout=timeout)
        if m.body == marker:
            return got
        got.append(m.body)


def publish_one(env, topic, payload):
    """Publishes payload then a marker; returns the bodies alice got in between."""
    env.nprobe += 1
    mk = "marker-%d" % env.nprobe
    env.pub.publish(topic, payload)
    env.pub.publish("hostile/marker", mk)
    return bodies_until(env, "hostile/marker: " + mk)


def xml_clean(payload):
    """What payload should read as: invalid UTF-8 and characters XML 1.0 forbids replaced by
    U+FFFD; runs of U+FFFD collapsed to one (how many a bad sequence gives is the
    bridge's choice)."""
    text = payload.decode("utf-8", "replace")
    out = []
    for ch in text:
        o = ord(ch)
        if (o < 0x20 and ch not in "\t\n\r") or 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF):
            ch = R
        out.append(ch)
    return collapse("".join(out))


def collapse(text):
    return re.sub(R + "+", R, text)


REPLACED_LOG = r"notify: replaced \d+ invalid or XML-forbidden characters in the message " \
    r"for topic '%s'"


def bad_text_case(env, payload, what, topic="hostile/utf8"):
    def act():
        got = publish_one(env, topic, b"<" + payload + b">")
        want = topic + ": " + xml_clean(b"<" + payload + b">")
        env.check(len(got) == 1 and collapse(got[0]) == want and R in got[0],
                  "%s %r: delivered with U+FFFD in its place" % (what, payload),
                  "got %r, want %r" % (got, want))
    run_case(env, act, log=REPLACED_LOG % re.escape(topic), log_level="warn",
             moved={"text replaced": 1, "xmpp sent": 1})


# ---------------------------------------------------------------------------------------
# MQTT -> XMPP

def check_utf8_lone_continuation(env):
    bad_text_case(env, b"a\x80b\xbf", "lone continuation bytes")


def check_utf8_overlong(env):
    bad_text_case(env, b"\xc0\xaf\xe0\x80\xaf\xf0\x80\x80\xaf", "overlong encodings of '/'")


def check_utf8_surrogate(env):
    bad_text_case(env, b"\xed\xa0\x80\xed\xbf\xbf", "UTF-16 surrogates (CESU)")


def check_utf8_truncated(env):
    bad_text_case(env, b"\xe2\x82 \xf0\x9f\x98", "truncated sequences")


def check_utf8_out_of_range(env):
    bad_text_case(env, b"\xf4\x90\x80\x80\xf8\x88\x80\x80\x80\xfe\xff", "beyond U+10FFFF, "
                  "5-byte forms, 0xFE/0xFF")


def check_nul(env):
    bad_text_case(env, b"a\x00b", "NUL")


def check_each_c0_control(env):
    def act():
        for c in range(0x20):
            env.pub.publish("hostile/c0", b"c%02x[" % c + bytes([c]) + b"]")
        env.pub.publish("hostile/marker", "c0-done")
        got = bodies_until(env, "hostile/marker: c0-done")
        env.check(len(got) == 32, "32 messages delivered, one per C0 control", len(got))
        bad = []
        for c, body in zip(range(0x20), got):
            pre = "hostile/c0: c%02x[" % c
            if c == 0x09 or c == 0x0a:
                ok = body == pre + chr(c) + "]"
            elif c == 0x0d:
                # XML keeps CR only as &#13;; a raw CR reads back as LF: either is fine
                ok = body in (pre + "\r]", pre + "\n]", pre + R + "]")
            else:
                ok = body == pre + R + "]"
            if not ok:
                bad.append((c, body))
        env.check(not bad, "each control replaced by U+FFFD (TAB, LF, CR kept)", bad)
    run_case(env, act, log=REPLACED_LOG % "hostile/c0", moved={"text replaced": 29})


def check_del_and_c1(env):
    def act():
        payload = "x\x7fy\u0080\u0085\u009fz".encode()
        got = publish_one(env, "hostile/c1", payload)
        env.check(len(got) == 1, "delivered", got)
        body = got[0]
        # XML 1.0 allows DEL and C1: kept or replaced, but the stream must survive
        env.check(body in ("hostile/c1: " + payload.decode(),
                           "hostile/c1: x\x7fy" + R * 3 + "z",
                           "hostile/c1: x" + R + "y" + R * 3 + "z"),
                  "DEL and C1 kept or replaced", repr(body))
        env.note("delivered as %r" % body)
    run_case(env, act, moved={"xmpp sent": 1})


def check_nonchars_fffe_ffff(env):
    bad_text_case(env, "a\ufffeb\uffffc".encode(), "U+FFFE and U+FFFF")


def xml_specials(env, text, what):
    def act():
        got = publish_one(env, "hostile/xml", text)
        env.check(got == ["hostile/xml: " + text], "%s arrives verbatim" % what, got)
    run_case(env, act, moved={"xmpp sent": 1}, same=("text replaced", "text refused"))


def check_xml_lt_amp(env):
    xml_specials(env, "a < b && c > d \"q\" 'a' &amp; &#0; &#x1; &lt;", "< & > quotes entities")


def check_xml_cdata_end(env):
    xml_specials(env, "]]> and <![CDATA[x]]>", "']]>' and a CDATA section")


def check_xml_close_tags(env):
    xml_specials(env, "</body></message><message to='mallory@localhost'><body>pwned",
                 "closing tags and a new <message>")


def check_xml_stream_end(env):
    xml_specials(env, "</stream:stream><?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]>&a;",
                 "a stream end, an XML declaration, a DOCTYPE and an entity")


def check_oversize_1mb(env):
    def act():
        got = publish_one(env, "hostile/big", b"M" * (1 << 20))
        env.check(got == [], "a 1 MB payload (max_payload %d) is not delivered" % MAX_PAYLOAD,
                  [g[:40] for g in got])
    run_case(env, act, log=r"notify: payload too large on topic 'hostile/big' \(1048576 "
             r"bytes, max_payload %d\)" % MAX_PAYLOAD, log_level="warn",
             moved={"payload too large": 1}, same=("text replaced",))


def check_payload_at_max(env):
    def act():
        got = publish_one(env, "hostile/max", b"K" * MAX_PAYLOAD)
        env.check(got == ["hostile/max: " + "K" * MAX_PAYLOAD],
                  "a payload of exactly max_payload (%d) is delivered whole" % MAX_PAYLOAD,
                  [len(g) for g in got])
        got = publish_one(env, "hostile/max", b"K" * (MAX_PAYLOAD + 1))
        env.check(got == [], "max_payload + 1 is not", [len(g) for g in got])
    run_case(env, act, log=r"payload too large on topic 'hostile/max' \(%d bytes" % (
        MAX_PAYLOAD + 1), moved={"payload too large": 1, "xmpp sent": 1})


def check_binary(env):
    data = bytes(range(256)) * 4 + os.urandom(1024)

    def act():
        got = publish_one(env, "hostile/bin", data)
        env.check(len(got) == 1 and got[0].startswith("hostile/bin: "),
                  "binary on a text route: delivered as text with replacements",
                  [g[:40] for g in got])
        got = publish_one(env, "bin/skip", data)
        env.check(got == [], "binary on a binary = skip route: dropped", [g[:40] for g in got])
    run_case(env, act, log=r"notify: binary payload on topic 'bin/skip' \(2048 bytes\) not "
             r"forwarded", moved={"text replaced": 1, "binary skipped": 1})


def check_json_nested_10000(env):
    deep = b'{"a":' * 10000 + b"1" + b"}" * 10000
    arrays = b"[" * 10000 + b"]" * 10000

    def act():
        got = publish_one(env, "json/deep", deep)
        env.check(got == ["deep=none"], "JSON nested 10000 deep: the placeholder falls back, "
                  "no crash", got)
        got = publish_one(env, "json/deep", arrays)
        env.check(got == ["deep=none"], "arrays nested 10000 deep: the same", got)
        got = publish_one(env, "json/deep", b'{"a":{"a":{"a":"ok"}}}')
        env.check(got == ["deep=ok"], "a 3-deep JSON still renders", got)
    run_case(env, act, log=r"notify: \d+ placeholders of the route at line \d+ had no value "
             r"for 'json/deep'", moved={"template misses": 2, "xmpp sent": 3})


def check_json_huge_numbers_strings(env):
    def act():
        cases = [
            (b'{"n": 1e999999, "s": "x"}', "1e999999"),
            (b'{"n": -1e-999999, "s": "x"}', "-1e-999999"),
            (b'{"n": ' + b"9" * 5000 + b', "s": "x"}', "9" * 5000),
            (b'{"n": 123456789012345678901234567890, "s": "x"}', None),
        ]
        for payload, written in cases:
            got = publish_one(env, "json/big", payload)
            env.check(len(got) == 1 and got[0].startswith("n=") and got[0].endswith(" s=x"),
                      "huge number %r...: rendered, no crash" % payload[:24],
                      [g[:80] for g in got])
            env.note("rendered as %r" % got[0][:60])
        got = publish_one(env, "json/big", b'{"n": 1, "s": "' + b"S" * 12000 + b'"}')
        env.check(got == ["n=1 s=" + "S" * 12000], "a 12000-byte string under max_message "
                  "is rendered", [len(g) for g in got])
        got = publish_one(env, "json/big", b'{"n": 1, "s": "' + b"S" * 200000 + b'"}')
        env.check(got == [], "a 200 KB string (over max_message %d) is not sent" %
                  MAX_MESSAGE, [len(g) for g in got])
        for esc in (b"\\ud800", b"a\\u0000b", b"\\uffff\\u0001", b"\\udfff\\ud800"):
            got = publish_one(env, "json/big", b'{"n": 1, "s": "' + esc + b'"}')
            env.check(len(got) == 1 and (got[0] == "n=none s=none" or
                                         got[0].startswith("n=1 s=")),
                      "JSON escape %r (lone surrogate, NUL, U+FFFF, a control): rendered "
                      "safely or refused as JSON" % esc, [repr(g) for g in got])
            env.note("%r rendered as %r" % (esc, got[0]))
    run_case(env, act, log=r"notify: message for topic 'json/big' longer than max_message "
             r"%d" % MAX_MESSAGE, moved={"message too long": 1})


def check_huge_topic(env):
    topic = "hostile/" + "t" * 65000

    def act():
        got = publish_one(env, topic, "x")
        env.check(got == [], "a 65008-byte topic: '{{topic}}: x' is over max_message, not "
                  "sent", [len(g) for g in got])
    run_case(env, act, log=r"notify: message for topic 'hostile/t{100}", log_level="warn",
             moved={"message too long": 1, "mqtt received": 1})


def check_odd_topic_levels(env):
    topics = ["hostile//x", "hostile/ /x", "hostile/x/", "hostile/\u00e9\u2603\U0001F600",
              # mosquitto refuses more than 200 levels (TOPIC_HIERARCHY_LIMIT)
              "hostile/" + "/".join(["l"] * 190), "hostile/$x/x", "hostile/<&>'\"",
              "hostile/{{payload}}/{{topic.1}}"]

    def act():
        for t in topics:
            got = publish_one(env, t, "{{topic}}")
            env.check(got == [t + ": {{topic}}"], "topic %r delivered verbatim (template "
                      "syntax in topic and payload is not expanded)" % t[:40],
                      [g[:80] for g in got])
    run_case(env, act, moved={"xmpp sent": len(topics)},
             same=("text replaced", "message too long"))


# ---------------------------------------------------------------------------------------
# XMPP -> MQTT

def nothing_published(env, duration=0.3):
    """Waits for the probe's own publish and checks nothing else came before it."""
    time.sleep(duration)
    other = [m for m in env.sub.drain() if not m.topic.startswith("mxb/")
             and m.topic != "home/probe/set" and not m.topic.startswith("hostile/")
             and not m.topic.startswith("json/") and not m.topic.startswith("bin/")]
    return other


def command_case(env, who, body, reply=None, error=None, log=None, moved=None,
                 published=False, log_level=None):
    def act():
        env.sub.drain()
        who.drain()
        who.send_message(BRIDGE, body)
        if reply is not None or error is not None:
            r = who.wait_message(frm=BRIDGE, timeout=15)
            if error is not None:
                env.check(r.type == "error" and r.error == error,
                          "answered with an error <%s/>" % error, (r.type, r.error, r.body[:80]))
            else:
                env.check(r.body == reply, "reply %r" % reply[:80], r.body[:200])
    run_case(env, act, log=log, moved=moved, log_level=log_level,
             same=() if published else ("commands published",))
    if not published:
        env.check(nothing_published(env) == [], "nothing published")


def check_command_from_stranger(env):
    command_case(env, env.mallory, "home/kitchen/set ON", error="forbidden",
                 log=r"command: refused message from 'mallory@localhost/test': not allowed",
                 log_level="warn", moved={"commands from strangers": 1})


def check_room_occupant_without_rights(env):
    def act():
        env.sub.drain()
        env.mallory.drain()
        env.mallory.send_message(ROOM, "home: home/kitchen/set ON", mtype="groupchat")
        env.mallory.wait_message(mtype="groupchat", body="mallory: you may not send commands "
                                 "here", timeout=15)
        env.check(True, "the room is told 'mallory: you may not send commands here'")
    run_case(env, act, log=r"command: refused message from 'mallory' in room '%s': not "
             r"allowed" % ROOM, log_level="warn", moved={"commands from strangers": 1},
             same=("commands published",))
    env.check(nothing_published(env) == [], "nothing published")


FORGED = ("<message to='%s' type='chat' id='forge-{n}'>{outer}<{kind} xmlns='urn:xmpp:carbons:2'>"
          "<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' "
          "stamp='2024-01-01T00:00:00Z'/><message xmlns='jabber:client' "
          "from='alice@localhost/x' to='bridge@localhost/bridge' type='chat'>"
          "<body>home/forged/set ON</body></message></forwarded></{kind}></message>" % BRIDGE)


def forged_case(env, raw, what):
    def act():
        env.sub.drain()
        env.mallory.drain()
        env.mallory.send_raw(raw)
        r = env.mallory.poll_message(frm=BRIDGE, timeout=1.0)
        env.check(r is None or r.type == "error", "%s: no success reply" % what,
                  r and (r.type, r.body))
    run_case(env, act, log=r"xmpp: ignoring forwarded message from 'mallory@localhost",
             same=("commands published",))
    got = [m for m in nothing_published(env)]
    env.check(got == [], "%s: nothing published (home/forged/set untouched)" % what,
              [(m.topic, m.payload) for m in got])


def check_forged_carbon_received(env):
    forged_case(env, FORGED.format(n=1, kind="received", outer=""),
                "a forged <received/> carbon from mallory claiming alice")


def check_forged_carbon_sent(env):
    forged_case(env, FORGED.format(n=2, kind="sent", outer=""),
                "a forged <sent/> carbon from mallory claiming alice")


def check_forged_carbon_with_body(env):
    forged_case(env, FORGED.format(n=3, kind="received",
                                   outer="<body>home/forged/set ON</body>"),
                "a forged carbon with an outer body as well")


def check_forwarded_wrapper(env):
    raw = ("<message to='%s' type='chat' id='fwd-1'><forwarded xmlns='urn:xmpp:forward:0'>"
           "<message xmlns='jabber:client' from='alice@localhost/x' type='chat'>"
           "<body>home/forged/set ON</body></message></forwarded></message>" % BRIDGE)
    forged_case(env, raw, "a XEP-0297 <forwarded/> from mallory quoting alice")


def check_stranger_flood(env):
    N = 500

    def act():
        env.sub.drain()
        env.mallory.drain()

        def flood():
            for i in range(N):
                env.mallory.xmpp.send_message(mto=BRIDGE, mbody="home/k/set %d" % i,
                                              mtype="chat")
        t0 = time.monotonic()
        env.mallory.call(flood, timeout=30)
        # the bridge answers alice while it works through the flood
        env.alice.send_message(BRIDGE, "home/during/set 1")
        env.alice.wait_message(frm=BRIDGE, body="published to 'home/during/set'", timeout=20)
        env.note("alice's command answered %.2f s after the flood began" %
                 (time.monotonic() - t0))
        n = 0
        deadline = time.monotonic() + 30
        while n < N and time.monotonic() < deadline:
            if env.mallory.poll_message(frm=BRIDGE, mtype="error", timeout=5) is None:
                break
            n += 1
        env.check(n == N, "an error reply for each of the %d commands" % N, n)
        env.note("flood handled in %.2f s" % (time.monotonic() - t0))
    run_case(env, act, log=r"command: refused message from 'mallory@localhost/test'",
             moved={"commands from strangers": N, "commands published": 1})
    got = [m for m in nothing_published(env) if m.topic != "home/during/set"]
    env.check(got == [], "nothing of the flood published", len(got))


def check_unknown_namespaces_in_message(env):
    def act():
        env.sub.drain()
        env.alice.send_raw(
            "<message to='%s' type='chat' id='ns-1'><body>home/ns/set A</body>"
            "<foo xmlns='urn:example:unknown'><bar><baz/></bar></foo>"
            "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
            "xmlns='http://www.w3.org/1999/xhtml'>home/evil/set X</body></html>"
            "<x xmlns='jabber:x:oob'><url>http://127.0.0.1/</url></x></message>" % BRIDGE)
        env.alice.wait_message(frm=BRIDGE, body="published to 'home/ns/set'", timeout=15)
        m = env.sub.wait_message("home/+/set", timeout=10)
        env.check((m.topic, m.payload) == ("home/ns/set", b"A"), "unknown children are "
                  "ignored; the plain body is the command (not the XHTML one)",
                  (m.topic, m.payload))
        # no body at all, only unknown children: ignored, no reply
        env.mallory.send_raw("<message to='%s' type='chat'><foo xmlns='urn:example:x'/>"
                             "</message>" % BRIDGE)
        env.mallory.send_raw("<message to='%s' type='weird'><body>home/w/set 1</body>"
                             "</message>" % BRIDGE)
        env.mallory.send_raw("<presence to='%s'><foo xmlns='urn:example:x'/></presence>"
                             % BRIDGE)
        r = env.mallory.poll_message(frm=BRIDGE, timeout=1.0)
        env.check(r is None or r.type == "error", "no command reply to body-less or "
                  "unknown-type messages", r and (r.type, r.body))
    run_case(env, act, moved={"commands published": 1})


def check_unknown_iq(env):
    full = BRIDGE + "/bridge"

    def act():
        for who in (env.alice, env.mallory):
            for itype, payload in (("get", "<query xmlns='urn:example:unknown'/>"),
                                   ("set", "<query xmlns='urn:example:unknown'><a/></query>"),
                                   ("get", "<x xmlns=''/>"),
                                   ("set", "<query xmlns='jabber:iq:roster'><item "
                                           "jid='mallory@localhost'/></query>")):
                r = who.iq(full, itype, payload, timeout=10)
                env.check(r.type == "error" and r.error == "service-unavailable",
                          "%s: iq %s %s -> service-unavailable" % (who.name, itype,
                                                                    payload[:40]), r)
        # unsolicited results and errors are not answered (no loops), and break nothing
        env.mallory.send_raw("<iq to='%s' type='result' id='x1'><q xmlns='urn:example:x'/>"
                             "</iq>" % full)
        env.mallory.send_raw("<iq to='%s' type='error' id='x2'/>" % full)
    run_case(env, act, log=r"xmpp: no service for iq set 'urn:example:unknown' from "
             r"'mallory@localhost/test'", same=("commands published",))


def check_long_body_100k(env):
    payload = "L" * 100000

    def act():
        env.sub.drain()
        env.alice.send_message(BRIDGE, "home/long/set " + payload)
        r = env.alice.wait_message(frm=BRIDGE, timeout=20)
        env.note("alice's 100 KB command: reply %r" % r.body[:80])
        if r.body == "published to 'home/long/set'":
            m = env.sub.wait_message("home/long/set", timeout=10)
            env.check(m.payload == payload.encode(), "published whole", len(m.payload))
        else:
            env.check(r.body.startswith("refused"), "or refused with a reason", r.body[:80])
        env.alice.send_message(BRIDGE, "T" * 100000 + " x")
        r = env.alice.wait_message(frm=BRIDGE, timeout=20)
        env.check(r.body == "refused: '%s\u2026' is longer than a topic can be (65535 bytes)"
                  % ("T" * 200), "a 100 KB first word is no topic: refused with the limit, "
                  "echoed cut", r.body[:80])
        env.mallory.send_message(BRIDGE, "home/long/set " + payload)
        r = env.mallory.wait_message(frm=BRIDGE, timeout=20)
        env.check(r.type == "error" and r.error == "forbidden",
                  "mallory's 100 KB command: forbidden", (r.type, r.error))
        env.check(len(r.xml) < 5000, "the error does not echo the 100 KB body back",
                  len(r.xml))
    run_case(env, act, log=r"command: refused message from 'mallory@localhost/test'",
             moved={"commands from strangers": 1, "commands malformed": 1})


def check_wildcard_plus(env):
    command_case(env, env.alice, "home/+/set ON",
                 reply="refused: 'home/+/set' is not a topic one can publish to",
                 log=r"command: [^\n]*home/\+/set", moved={"commands malformed": 1})


def check_wildcard_hash(env):
    command_case(env, env.bob, "home/# x",
                 reply="refused: 'home/#' is not a topic one can publish to",
                 log=r"command: [^\n]*home/#", moved={"commands malformed": 1})


def check_sys_topic(env):
    command_case(env, env.alice, "$SYS/broker/clients 1",
                 reply="refused: you may not publish to '$SYS/broker/clients'",
                 log=r"command: refused '\$SYS/broker/clients' from 'alice@localhost/test': "
                     r"topic not allowed", log_level="warn", moved={"commands refused": 1})


def check_sys_topic_vs_hash(env):
    """bob may publish to '#': a '$' topic is not matched by '#' (MQTT 4.7.2)."""
    command_case(env, env.bob, "$SYS/broker/x 1",
                 reply="refused: you may not publish to '$SYS/broker/x'",
                 log=r"command: refused '\$SYS/broker/x' from 'bob@localhost/test'",
                 moved={"commands refused": 1})


def check_empty_body(env):
    """An empty <body/> is no text at all, like a chat state notification: ignored (a
    usage reply would do too), nothing published."""
    def act():
        env.alice.drain()
        env.sub.drain()
        env.alice.send_raw("<message to='%s' type='chat' id='e1'><body/></message>" % BRIDGE)
        env.alice.send_raw("<message to='%s' type='chat' id='e2'><body></body>"
                           "<active xmlns='http://jabber.org/protocol/chatstates'/></message>"
                           % BRIDGE)
        env.alice.send_raw("<message to='%s' type='chat' id='e3'><body xml:lang='en'/>"
                           "<body xml:lang='de'>home/lang/set 1</body></message>" % BRIDGE)
        r = env.alice.poll_message(frm=BRIDGE, timeout=1.0)
        env.check(r is None or r.body.startswith("usage:"), "empty bodies: ignored or usage",
                  r and r.body)
        if r is not None:
            env.note("reply %r" % r.body)
    run_case(env, act, same=("commands published",))
    env.check(nothing_published(env) == [], "nothing published (not even the second, "
              "German body: the first <body/> is the message's body)")


def check_whitespace_body(env):
    command_case(env, env.alice, " \t\n \r\n  ",
                 reply="usage: TOPIC PAYLOAD or COMMAND ARGS (send 'help')",
                 log=r"command: [^\n]*alice@localhost", moved={"commands malformed": 1})


def check_unicode_space_body(env):
    """NBSP and EM SPACE are no separators (only ASCII whitespace is): one word, neither a
    command nor a topic path, so an unknown command."""
    command_case(env, env.alice, "\u00a0\u2003",
                 reply="unknown command '\u00a0\u2003'; send 'help'",
                 log=r"command: malformed message from 'alice@localhost/test': no such "
                     r"command \('\u00a0\u2003'\)",
                 moved={"commands malformed": 1})


def check_xml_specials_in_command(env):
    payload = "</body></message><message><body>x]]><![CDATA[y]]>&amp;<&>"

    def act():
        env.sub.drain()
        env.alice.send_message(BRIDGE, "home/xml/set " + payload)
        env.alice.wait_message(frm=BRIDGE, body="published to 'home/xml/set'", timeout=15)
        m = env.sub.wait_message("home/xml/set", timeout=10)
        env.check(m.payload == payload.encode(), "XML specials published verbatim", m.payload)
    run_case(env, act, moved={"commands published": 1})


# ---------------------------------------------------------------------------------------
# Config files with mistakes: --check-config exits 1 with FILE:LINE: message

BASE = 'xmpp: {\n  jid = "home@example.org";\n  password = "x";\n};\n'
CONFIGS = [
    ("syntax", BASE + 'notify = ( { topic = "a"; to = [ "a@b.org" ] } ;\n',
     5, r"syntax error"),
    ("unknown key", BASE + 'mqtt: { hots = "x"; };\n', 5, r"unknown key 'hots' in 'mqtt'"),
    ("wrong type", BASE + 'mqtt: { port = "1883"; };\n', 5, r"'port' must be an integer"),
    ("bad JID", BASE + 'notify = ( { topic = "a"; to = [ "bob smith@example.org" ]; } );\n',
     5, r"invalid JID 'bob smith@example\.org' in 'to'"),
    ("bad filter", BASE + 'notify = ( { topic = "a/#/b"; to = [ "a@b.org" ]; } );\n',
     5, r"invalid topic filter 'a/#/b' in 'topic'"),
    ("bad template", BASE + 'notify = ( { topic = "a"; to = [ "a@b.org" ];\n'
     '  message = "{{foo}}"; } );\n', 6, r"invalid template in 'message'"),
    ("missing include", BASE + '@include "no-such.conf"\n', 5,
     r"cannot open include file '([^']*/)?no-such\.conf'"),
    ("directory include", BASE + '@include "adir"\n', 5, r"cannot include 'adir'"),
    ("negative port", BASE + 'mqtt: { port = -1; };\n', 5, r"'port' must be between 1 and "
     r"65535"),
    ("huge integer", BASE + 'mqtt: {\n  port = 99999999999999999999999;\n'
     '  keepalive = 4294967301;\n};\n', 6, r"'port' must be between 1 and 65535"),
    ("missing password file", 'xmpp: {\n  jid = "home@example.org";\n'
     '  password_file = "no-such.password";\n};\n', 3, r"cannot read password_file"),
    ("bad tls value", BASE.replace('};', '  tls = "ssl";\n};'), 4,
     r"invalid value 'ssl' for 'tls'"),
]


def make_config_check(i, what, text, line, msg):
    def fn(env):
        d = os.path.join(env.tmp, "conf-%d" % i)
        os.makedirs(os.path.join(d, "adir"), exist_ok=True)
        path = os.path.join(d, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([harness.bridge_binary(), "--check-config", "-c", path],
                           capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        env.check(r.returncode == 1, "%s: --check-config exits 1" % what, (r.returncode, out))
        want = r"(?m)^%s:%d: [^\n]*%s" % (re.escape(path), line, msg)
        env.check(re.search(want, out) is not None,
                  "%s: '%s:%d: ...%s'" % (what, os.path.basename(path), line, msg), out)
    fn.__name__ = "check_config_" + what.replace(" ", "_")
    return fn


CONFIG_CHECKS = [make_config_check(i, *c) for i, c in enumerate(CONFIGS)]


def check_final_state(env):
    env.check(env.b.alive(), "bridge alive at the end")
    c = counters(env)
    env.note("counters: %s" % ", ".join("%s %d" % kv for kv in c.items() if kv[1]))
    rc = env.b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0", rc)


if __name__ == "__main__":
    harness.main([setup,
                  check_utf8_lone_continuation, check_utf8_overlong, check_utf8_surrogate,
                  check_utf8_truncated, check_utf8_out_of_range, check_nul,
                  check_each_c0_control, check_del_and_c1, check_nonchars_fffe_ffff,
                  check_xml_lt_amp, check_xml_cdata_end, check_xml_close_tags,
                  check_xml_stream_end, check_oversize_1mb, check_payload_at_max,
                  check_binary, check_json_nested_10000, check_json_huge_numbers_strings,
                  check_huge_topic, check_odd_topic_levels,
                  check_command_from_stranger, check_room_occupant_without_rights,
                  check_forged_carbon_received, check_forged_carbon_sent,
                  check_forged_carbon_with_body, check_forwarded_wrapper,
                  check_stranger_flood, check_unknown_namespaces_in_message,
                  check_unknown_iq, check_long_body_100k, check_wildcard_plus,
                  check_wildcard_hash, check_sys_topic, check_sys_topic_vs_hash,
                  check_empty_body, check_whitespace_body, check_unicode_space_body,
                  check_xml_specials_in_command]
                 + CONFIG_CHECKS + [check_final_state], time_limit=100, unresolved={
                     ("check_oversize_1mb", "ejabberd+ejabberd"):
                         "a 1 MB publish to mod_mqtt: the bridge logs no 'payload too large' "
                         "and alice gets nothing within 15 s",
                     ("check_payload_at_max", "ejabberd+ejabberd"):
                         "after the 1 MB publish, a payload of max_payload arrives twice "
                         "(25 and 8205 characters)",
                 })
