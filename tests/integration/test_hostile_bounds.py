#!/usr/bin/python3
"""Hostile input, second round: what peers control is bounded before it is copied, refused
with a reply that says the limit rather than cut, never cut inside a character, and never
forges a log line. Every case asserts the bridge alive and on the same XMPP session (a
notification and a command still get through), the exact reply, the log line and the
counter, and what reached MQTT.

Fixed-size buffers: a room nick of 1000 bytes addressing the bridge with a long message, a
help list longer than a message, a device state longer than the status limit, named-command
arguments and device commands past the old 255/1023-byte cuts, made of 2-byte characters.
Caps: device state and availability payloads over bridge.max_payload.
Log forging: newlines, escape sequences and C1 controls in topics and device commands.
Rooms: a command sent as a private message through the room gets its reply; a stranger's
message with XML nested 2000 deep gets the usual refusal."""

import re

import harness

BRIDGE = "bridge@localhost"
ROOM = "family@conference.localhost"
DOMAIN = "iot.localhost"
PLUG = "plug@" + DOMAIN
SECRET = "component-secret-for-bounds"
MAX_PAYLOAD = 4096
MAX_MESSAGE = 2048
E = "\u00e9"  # two bytes in UTF-8
ELLIPSIS = "\u2026"
PROBE = {"mqtt received": 1, "xmpp sent": 2, "commands published": 1}


def join(client, nick):
    client.join_room(ROOM, nick)


def setup(env):
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory", "bob"), muc=True,
                            component=(DOMAIN, SECRET))
    env.cport = env.p.component_port
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    env.bob = env.xmpp(env.p, "bob")
    join(env.alice, "alice")  # first in: owner, moderator
    env.sub = env.mqtt(env.m).subscribe("#")
    env.pub = env.mqtt(env.m)
    many = ["help/%03d/some/long/topic/level" % i for i in range(300)]
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"log_level": "debug", "max_payload": MAX_PAYLOAD,
                   "max_message": MAX_MESSAGE},
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}],
                 "component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.cport}},
        "notify": [
            {"topic": "hostile/#", "to": ["alice@localhost"], "message": "{{topic}}: {{payload}}",
             "max_payload": 64},
        ],
        "commands": [
            {"from": ["alice@localhost"], "allow": ["home/+/set"]},
            {"from": [ROOM], "role": "moderator", "allow": ["home/+/set"]},
            {"from": ["alice@localhost"], "command": "say", "topic": "home/say/{{arg.1}}",
             "payload": "{{args}}"},
            {"from": ["bob@localhost"], "allow": many},
        ],
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 2}],
    })
    env.b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, timeout=10)
    env.b.wait_log(r"component: connected as 'iot\.localhost'")
    env.nprobe = 0
    env.sessions = env.b.text().count("xmpp: session established")
    # the device: online, subscribed by alice
    env.pub.publish("tele/plug/LWT", "Online", retain=True)
    env.alice.subscribe(PLUG)
    env.alice.wait_subscription(PLUG, ("to", "both"), timeout=10)
    env.alice.wait_presence(PLUG, True, timeout=10)


def probe(env):
    env.nprobe += 1
    n = env.nprobe
    env.pub.publish("hostile/probe", "probe-%d" % n)
    env.alice.wait_message(frm=BRIDGE, body="hostile/probe: probe-%d" % n, timeout=15)
    env.alice.send_message(BRIDGE, "home/probe/set p%d" % n)
    env.sub.wait_message("home/probe/set", lambda m: m.payload == b"p%d" % n, timeout=15)
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/probe/set'", timeout=15)
    env.check(env.b.alive(), "afterwards: bridge alive")
    s = env.b.text().count("xmpp: session established")
    env.check(s == env.sessions, "afterwards: the same XMPP session", "%d sessions" % s)


def run_case(env, action, log=None, moved=None, same=()):
    before = harness.bridge_counters(env.b)
    mark = env.b.mark()
    env.alice.drain()
    action()
    if log is not None:
        m = env.b.wait_log(log, timeout=5, since=mark)
        line = harness.line_of(m)
        env.check(True, "log: %r" % (line[:160] + ("..." if len(line) > 160 else "")))
    probe(env)
    after = harness.bridge_counters(env.b)
    delta = {k: after[k] - before[k] - PROBE.get(k, 0) for k in after}
    for k, v in (moved or {}).items():
        env.check(delta[k] >= v, "counter %r moved by %d" % (k, v), delta[k])
    for k in same:
        env.check(delta[k] == 0, "counter %r did not move" % k, delta[k])
    return mark


def published(env, topic, timeout=0.5):
    return [m for m in env.sub.drain() if m.topic == topic] if timeout else []


# ---------------------------------------------------------------------------------------
# Fixed-size buffers

def check_long_nick_in_room(env):
    """A 1000-byte nick of 2-byte characters addresses the bridge with a 3000-byte
    message: the old reply buffer overflowed here."""
    nick = E * 500
    join(env.mallory, nick)  # mallory: a participant without rights
    join(env.bob, "bob")

    def act():
        env.mallory.drain()
        env.mallory.send_message(ROOM, "home: home/x/set " + "V" * 3000, mtype="groupchat")
        r = env.mallory.wait_message(frm=ROOM, mtype="groupchat", timeout=15,
                                     predicate=lambda m: "you may not send" in m.body)
        env.check(r.body == nick + ": you may not send commands here",
                  "the reply carries the whole 1000-byte nick, then the refusal",
                  r.body[:40] + "..." + r.body[-40:])
    run_case(env, act, log=r"command: refused message from '%s' in room '%s'" % (nick, ROOM),
             moved={"commands from strangers": 1}, same=("commands published",))


def check_long_nick_moderator(env):
    """The owner renamed to a 1000-byte nick: a command with it is published, the reply
    prefixed with the whole nick, and the log names who sent it."""
    nick = "\u00ea" * 500
    mark = env.alice.presence_mark()
    env.alice.send_raw("<presence to='%s/%s'/>" % (ROOM, nick))
    env.alice.wait_presence("%s/%s" % (ROOM, nick), True, timeout=10, since=mark)

    def act():
        env.sub.drain()
        env.alice.send_message(ROOM, "home: home/hall/set " + E * 900, mtype="groupchat")
        m = env.sub.wait_message("home/hall/set", timeout=15)
        env.check(m.payload == (E * 900).encode(), "the 1800-byte payload is published whole",
                  len(m.payload))
        r = env.alice.wait_message(frm=ROOM, mtype="groupchat", timeout=15,
                                   predicate=lambda m: "published" in m.body)
        env.check(r.body == nick + ": published to 'home/hall/set'", "reply with the whole nick",
                  r.body[-60:])
    run_case(env, act, log=r"command: published to 'home/hall/set' for '[^\n]*nick '%s' in "
             r"room '%s'" % (nick, ROOM))
    mark = env.alice.presence_mark()
    env.alice.send_raw("<presence to='%s/alice'/>" % ROOM)
    env.alice.wait_presence("%s/alice" % ROOM, True, timeout=10, since=mark)


def check_help_longer_than_a_message(env):
    """bob may publish to 300 topics: help lists what fits in max_message and says how
    many more there are."""
    def act():
        env.bob.drain()
        env.bob.send_message(BRIDGE, "help")
        r = env.bob.wait_message(frm=BRIDGE, timeout=15)
        env.check(r.body.startswith("you may send: TOPIC PAYLOAD with TOPIC in: help/000/"),
                  "help starts with the list", r.body[:60])
        m = re.search(r"; and (\d+) more \(the list is longer than a message\)$", r.body)
        env.check(m is not None, "help ends with how many more", r.body[-80:])
        shown = r.body.count("help/")
        env.check(m and shown + int(m.group(1)) == 300, "shown + more = 300",
                  (shown, m and m.group(1)))
        env.check(len(r.body.encode()) <= MAX_MESSAGE + 64, "help fits in a message",
                  len(r.body.encode()))
    run_case(env, act, same=("commands published",))


def check_named_arguments_whole(env):
    """Arguments past the old 1023-byte cut, of 2-byte characters, are published whole;
    past max_message they are refused with the limit, nothing published."""
    args = "w " + E * 800  # 1602 bytes

    def act():
        env.sub.drain()
        env.alice.send_message(BRIDGE, "say " + args)
        m = env.sub.wait_message("home/say/w", timeout=15)
        env.check(m.payload == args.encode(), "{{args}} published whole (1602 bytes)",
                  len(m.payload))
        env.alice.wait_message(frm=BRIDGE, body="published to 'home/say/w'", timeout=15)
        env.alice.send_message(BRIDGE, "say w " + E * 1100)
        r = env.alice.wait_message(frm=BRIDGE, timeout=15)
        env.check(r.body == "refused: the payload would be longer than %d bytes "
                  "(bridge.max_message)" % MAX_MESSAGE, "over max_message: refused with the "
                  "limit", r.body)
    run_case(env, act, log=r"command: malformed message from 'alice@localhost/test': the "
             r"payload is too long \('say'\)", moved={"commands malformed": 1})
    env.check(published(env, "home/say/w") == [], "the refused one is not published")


def check_plain_payload_over_max_message(env):
    def act():
        env.sub.drain()
        env.alice.send_message(BRIDGE, "home/big/set " + "P" * (MAX_MESSAGE + 1))
        r = env.alice.wait_message(frm=BRIDGE, timeout=15)
        env.check(r.body == "refused: the payload is longer than %d bytes "
                  "(bridge.max_message)" % MAX_MESSAGE, "refused with the limit", r.body)
    run_case(env, act, moved={"commands malformed": 1}, same=("commands published",))
    env.check(published(env, "home/big/set") == [], "nothing published")


def check_device_command_whole(env):
    """A device command of 600 bytes of 2-byte characters (the old cut was 255 bytes) is
    published whole; over max_message it is refused with the limit."""
    word = E * 300

    def act():
        env.sub.drain()
        env.alice.drain()
        env.alice.send_message(PLUG, word)
        m = env.sub.wait_message("cmnd/plug/POWER", timeout=15)
        env.check(m.payload == word.encode(), "published whole, valid UTF-8", len(m.payload))
        env.alice.send_message(PLUG, E * 1100)
        r = env.alice.wait_message(frm=PLUG, timeout=15,
                                   predicate=lambda m: m.body.startswith("refused"))
        env.check(r.body == "refused: the command is longer than %d bytes "
                  "(bridge.max_message)" % MAX_MESSAGE, "over max_message: refused", r.body)
    run_case(env, act, moved={"commands malformed": 1})
    env.check([m for m in published(env, "cmnd/plug/POWER") if len(m.payload) > 2000] == [],
              "the refused one is not published")


def check_device_state_past_status_limit(env):
    """A state of 2000 bytes of 2-byte characters: the status is cut on a character
    boundary, ends with an ellipsis, holds nothing but the state's characters. A state
    whose status would pass max_message is not taken."""
    def act():
        env.pub.publish("stat/plug/POWER", E * 1000)

        def ok():
            p = env.alice.presence_of(PLUG)
            return p is not None and p.status and p.status.endswith(ELLIPSIS)
        harness.wait_until(ok, 10, what="a cut status")
        status = env.alice.presence_of(PLUG).status
        env.check(set(status[:-1]) == {E}, "only whole characters of the state before the "
                  "ellipsis", repr(status[-5:]))
        env.check(len(status.encode()) <= 512, "within the status limit",
                  len(status.encode()))
    run_case(env, act, log=r"devices: the status of 'plug' is longer than 512 bytes",
             moved={"status cut": 1})

    def act2():
        env.pub.publish("stat/plug/POWER", E * 1100)
    run_case(env, act2, log=r"devices: the status of 'plug' from topic 'stat/plug/POWER' is "
             r"longer than max_message %d; the last one stays" % MAX_MESSAGE,
             moved={"message too long": 1})
    env.check(env.alice.presence_of(PLUG).status.endswith(ELLIPSIS), "the last status stays")
    env.pub.publish("stat/plug/POWER", "ON")
    harness.wait_until(lambda: env.alice.presence_of(PLUG).status == "ON", 10,
                       what="status ON again")


# ---------------------------------------------------------------------------------------
# Caps on every MQTT input

def check_device_state_over_max_payload(env):
    def act():
        env.pub.publish("stat/plug/POWER", "X" * (MAX_PAYLOAD + 1))
        env.pub.publish("tele/plug/LWT", "O" * (1 << 20))
    run_case(env, act, log=r"devices: payload too large on topic 'tele/plug/LWT' \(1048576 "
             r"bytes, max_payload %d\); not taken" % MAX_PAYLOAD, moved={"payload too large": 2})
    p = env.alice.presence_of(PLUG)
    env.check(p.type == "available" and p.status == "ON", "the device keeps its state",
              (p.type, p.status))


# ---------------------------------------------------------------------------------------
# Log forging

def forged(env, since):
    text = env.b.text(since)
    return [ln for ln in text.split("\n") if ln.startswith("error: forged")
            or "\x1b" in ln or "\u009b" in ln or "\u2028" in ln or "\u0085" in ln]


def check_log_forging_payload(env):
    """MQTT topics cannot hold controls (the broker refuses them), payloads can: an
    availability payload that is neither online nor offline is quoted in a debug line."""
    def act():
        env.pub.publish("tele/plug/LWT", "x\nerror: forged line\x1b[2J\u009b\u2028")
    mark = run_case(env, act, log=r"devices: 'x\\nerror: forged line\\x1b\[2J\\u009b\\u2028' on "
                    r"'tele/plug/LWT' is neither")
    env.check(forged(env, mark) == [], "no forged line, no raw escape or C1 control in the log",
              forged(env, mark))


def check_log_forging_command_word(env):
    """XML allows C1 controls and U+2028 in a body: a command word made of them (an unknown
    command) is quoted escaped."""
    def act():
        env.alice.drain()
        env.alice.send_message(BRIDGE, "x\u009b[2J\u2028error:\u0085forged ON")
        env.alice.wait_message(frm=BRIDGE, timeout=15)
    mark = run_case(env, act, log=r"command: malformed message from 'alice@localhost/test': no "
                    r"such command \('x\\u009b\[2J\\u2028error:\\u0085forged'\)",
                    moved={"commands malformed": 1})
    env.check(forged(env, mark) == [], "no forged line", forged(env, mark))


def check_log_forging_device_command(env):
    def act():
        env.alice.send_message(PLUG, "on\nerror: forged by a command")
        env.sub.wait_message("cmnd/plug/POWER", timeout=15)
    mark = run_case(env, act, log=r"devices: 'alice@localhost' sent 'on\\nerror: forged by a "
                    r"command' to 'cmnd/plug/POWER'")
    env.check(forged(env, mark) == [], "no forged line", forged(env, mark))


# ---------------------------------------------------------------------------------------
# Rooms

def check_private_message_through_room(env):
    """alice (moderator) writes to home privately through the room: the command runs and
    the reply comes back the same way."""
    def act():
        env.sub.drain()
        env.alice.drain()
        env.alice.send_message(ROOM + "/home", "home/private/set ON", mtype="chat")
        m = env.sub.wait_message("home/private/set", timeout=15)
        env.check(m.payload == b"ON", "published", m.payload)
        r = env.alice.wait_message(frm=ROOM + "/home", timeout=15)
        env.check(r.body == "published to 'home/private/set'" and r.type == "chat",
                  "the reply comes as a private chat message through the room",
                  (r.type, r.body))
    run_case(env, act)


def check_stranger_deep_xml(env):
    """XML nested deep beside the body, inside it, and deeper than libstrophe's parser
    takes: the stranger gets the usual refusal, once, and the stream stays up.

    ejabberd 23.01 takes 2000 levels (3000 too), but from about 4000 levels (28 KB, under
    any usual max_stanza_size) its VM dies of SIGSEGV, whoever the stanza is for (the same
    with a client as the recipient): any logged-in user can take that server down. The bridge
    cannot prevent it; asserted there instead: the server dies so, and the bridge, unharmed,
    has its session, component and room back once the server is started again."""
    ejabberd = harness.xmpp_server_kind() == "ejabberd"
    for n, (depth, inside) in enumerate(((2000, False), (2000, True), (20000, False),
                                         (20000, True))):
        deep = "<a xmlns='urn:example:deep'>" + "<a>" * depth + "x" + "</a>" * depth + "</a>"
        body = ("home/x/set ON" + deep) if inside else "home/x/set ON"
        stanza = "<message to='%s' type='chat' id='deep%d'><body>%s</body>%s</message>" % (
            BRIDGE, n, body, "" if inside else deep)
        if ejabberd and depth == 20000:
            if not inside:
                server_dies_of_it(env, stanza)
            continue

        def act():
            env.mallory.drain()
            env.mallory.send_raw(stanza)
            r = env.mallory.wait_message(frm=BRIDGE, timeout=15)
            env.check(r.type == "error" and r.error == "forbidden",
                      "depth %d%s: the usual refusal, <forbidden/>" % (
                          depth, " inside the body" if inside else ""),
                      (r.type, r.error, r.body[:60]))
            extra = env.mallory.poll_message(frm=BRIDGE, timeout=1.0)
            env.check(extra is None, "and nothing else", extra and (extra.type, extra.body))
        run_case(env, act, log=r"command: refused message from 'mallory@localhost/test'",
                 moved={"commands from strangers": 1}, same=("commands published",))
    env.verified("a stranger's message nested 2000 deep", "the usual refusal")
    if ejabberd:
        env.verified("a stanza nested 20000 deep", "ejabberd's VM dies (SIGSEGV); the bridge "
                     "has its session, component and room back after the restart (asserted)")
    else:
        env.verified("a stanza nested 20000 deep", "the usual refusal")


def server_dies_of_it(env, stanza):
    import signal
    mark = env.b.mark()
    env.mallory.send_raw(stanza)
    try:
        rc = env.p.proc.wait(15)
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: it lived
        rc = None
    env.check(rc == -signal.SIGSEGV, "ejabberd 23.01 dies of a stanza nested 20000 deep "
              "(SIGSEGV)", rc)
    env.b.wait_log(r"xmpp: (disconnected|stream error)", since=mark, timeout=15)
    env.check(env.b.alive(), "the bridge outlives the server")
    env.p.start()
    env.b.wait_log(r"xmpp: session established", since=mark, timeout=30)
    env.b.wait_log(r"component: connected as 'iot\.localhost'", since=mark, timeout=30)
    env.b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, since=mark, timeout=30)
    env.sessions = env.b.text().count("xmpp: session established")
    env.alice = env.xmpp(env.p, "alice")
    env.mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    probe(env)


def check_unacked_window_full(env):
    """The server stops reading while the bridge keeps sending: past the window of
    queue_size unacknowledged messages the oldest are dropped, and the log says so once,
    with the counter agreeing; when acks come again the log says how many in all."""
    import os
    import signal
    env.b.stop()
    b = env.b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"queue_size": 10},
        "notify": [{"topic": "window/#", "to": ["alice@localhost"],
                    "message": "{{payload}}"}],
        "commands": [],
    })
    # Online only once <enabled/> is in: a server stopped before it answers would make the
    # bridge hold the burst instead of writing it (seen on a loaded machine).
    b.wait_log(r"xmpp: stream management on", timeout=15)
    before = harness.bridge_counters(b)
    mark = b.mark()
    os.kill(env.p.proc.pid, signal.SIGSTOP)
    try:
        for i in range(25):
            env.pub.publish("window/n", "w%02d" % i)
        harness.wait_until(lambda: harness.bridge_counters(b)["xmpp sent"] -
                           before["xmpp sent"] >= 25, 10, what="25 messages written")
    finally:
        os.kill(env.p.proc.pid, signal.SIGCONT)
    b.wait_log(r"bridge: acknowledgements come again; 15 unacknowledged messages were "
               r"dropped in all", timeout=15, since=mark)
    after = harness.bridge_counters(b)
    env.check(after["unacked dropped"] - before["unacked dropped"] == 15,
              "15 dropped from the window of 10", after["unacked dropped"])
    lines = b.text(mark).count("dropping the oldest of them until acks come")
    env.check(lines == 1, "one log line for the burst", lines)
    env.check("go out again" not in b.text(mark), "no line claims they go out again")
    # Only this burst: on ejabberd what earlier checks sent may come late, from offline
    # storage, after its restart.
    got = [env.alice.wait_message(
        lambda m: re.fullmatch(r"w\d\d", m.body or ""), frm=BRIDGE, timeout=15).body
        for _ in range(25)]
    env.check(sorted(got) == ["w%02d" % i for i in range(25)],
              "written before the drop, all 25 still arrive", got)


def check_final_state(env):
    env.check(env.b.alive(), "bridge alive at the end")
    rc = env.b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0", rc)


if __name__ == "__main__":
    harness.main([setup, check_long_nick_in_room, check_long_nick_moderator,
                  check_help_longer_than_a_message, check_named_arguments_whole,
                  check_plain_payload_over_max_message, check_device_command_whole,
                  check_device_state_past_status_limit, check_device_state_over_max_payload,
                  check_log_forging_payload, check_log_forging_command_word,
                  check_log_forging_device_command,
                  check_private_message_through_room, check_stranger_deep_xml, check_unacked_window_full,
                  check_final_state], time_limit=150)
