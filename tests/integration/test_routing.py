#!/usr/bin/python3
"""The routing language against real servers: a Tasmota JSON payload rendered into a chat
message; named commands; a group chat that receives notifications and takes commands by
role; a bursty sensor throttled to one message per interval with the last value
delivered; only_changes; retained and binary payloads; a two-way config that would loop
and does not."""

import time

import harness

BRIDGE = "bridge@localhost"
ROOM = "family@conference.localhost"


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory", "bob"), muc=True)
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.sub = env.mqtt(env.m).subscribe("#")


def join(client, nick):
    client.join_room(ROOM, nick)


def start(env, over):
    return env.start_bridge_ready(env.p, env.m, over=over)


def check_tasmota_json(env):
    setup(env)
    b = start(env, {
        "notify": [{"topic": "tele/+/SENSOR", "to": ["alice@localhost"],
                    "message": "{{topic.2}}: {{json.AM2301.Temperature}} C, "
                               "{{json.AM2301.Humidity}} %, {{json.Missing|n/a}}"}],
    })
    pub = env.mqtt(env.m)
    pub.publish("tele/kitchen/SENSOR", '{"Time":"2024-05-01T10:00:00","AM2301":'
                '{"Temperature":21.5,"Humidity":40.2},"TempUnit":"C"}')
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "kitchen: 21.5 C, 40.2 %, n/a", "Tasmota JSON rendered", m.body)
    pub.publish("tele/kitchen/SENSOR", "not json")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "kitchen:  C,  %, n/a", "non-JSON payload: empty fields, no crash",
              m.body)
    env.check(b.stop() == 0, "bridge exits 0")


def check_named_commands(env):
    setup(env)
    b = start(env, {
        "notify": [],
        "commands": [
            {"command": "lamp", "from": ["alice@localhost"], "topic": "cmnd/{{arg.1}}/POWER",
             "payload": "{{arg.2}}", "usage": "ROOM on|off", "description": "a room's lamp"},
            {"command": "say", "from": ["*@localhost"], "topic": "display/text",
             "allow": ["display/#"]},
            {"from": ["alice@localhost"], "allow": ["home/+/set"]},
        ],
    })
    env.sub.drain()
    env.alice.send_message(BRIDGE, "lamp kitchen on")
    m = env.sub.wait_message("cmnd/#", timeout=10)
    env.check((m.topic, m.payload) == ("cmnd/kitchen/POWER", b"on"),
              "'lamp kitchen on' publishes ON to cmnd/kitchen/POWER", (m.topic, m.payload))
    env.alice.wait_message(frm=BRIDGE, body="published to 'cmnd/kitchen/POWER'")
    env.alice.send_message(BRIDGE, "say hello there, world")
    m = env.sub.wait_message("display/#", timeout=10)
    env.check(m.payload == b"hello there, world", "{{args}} carries the whole rest",
              m.payload)
    env.alice.wait_message(frm=BRIDGE, body="published to 'display/text'")
    env.alice.send_message(BRIDGE, "lamp a/b on")
    r = env.alice.wait_message(frm=BRIDGE)
    env.check(r.body == "refused: arguments must not contain '/', '+' or '#'",
              "an argument cannot leave its topic level", r.body)
    env.alice.send_message(BRIDGE, "lamp kitchen")
    r = env.alice.wait_message(frm=BRIDGE)
    env.check(r.body == "usage: lamp with 2 arguments", "missing argument: usage", r.body)
    env.alice.send_message(BRIDGE, "help")
    r = env.alice.wait_message(frm=BRIDGE)
    env.check(r.body == "you may send: lamp ROOM on|off (a room's lamp); say ...; TOPIC "
              "PAYLOAD with TOPIC in: home/+/set",
              "help lists what alice may do, with a command's usage and description", r.body)
    env.alice.send_message(BRIDGE, "home/x/set 1")
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/x/set'")
    bob = env.xmpp(env.p, "bob")
    bob.send_message(BRIDGE, "lamp kitchen off")
    r = bob.wait_message(frm=BRIDGE)
    env.check(r.body == "unknown command 'lamp'; send 'help'",
              "bob may not use lamp: told as any unknown word", r.body)
    for who in (env.alice, bob):
        who.send_message(BRIDGE, "hello?")
        r = who.wait_message(frm=BRIDGE)
        env.check(r.body == "unknown command 'hello?'; send 'help'",
                  "an unknown word, one reply for everyone", r.body)
    bob.send_message(BRIDGE, "help")
    r = bob.wait_message(frm=BRIDGE)
    env.check(r.body == "you may send: say ...", "*@localhost lets bob use say", r.body)
    time.sleep(0.3)
    env.check(not [x for x in env.sub.drain() if x.topic.startswith("cmnd/")
                   and x.payload == b"off"], "nothing published for refused commands")
    bob.disconnect()
    env.check(b.stop() == 0, "bridge exits 0")


def check_group_chat(env):
    setup(env)
    join(env.alice, "alice")  # first in: owner, moderator
    mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    join(mallory, "mallory")  # participant, no affiliation
    b = start(env, {
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}]},
        "notify": [{"topic": "home/+/alarm", "to": [ROOM], "message": "ALARM {{topic.2}}"}],
        "commands": [{"from": [ROOM], "role": "moderator", "allow": ["home/+/set"]}],
    })
    b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, timeout=10)
    pub = env.mqtt(env.m)
    pub.publish("home/door/alarm", "1")
    m = env.alice.wait_message(mtype="groupchat", body="ALARM door", timeout=10)
    env.check(m.frm == ROOM + "/home", "the room gets the notification from the bridge's nick",
              m.frm)
    mallory.wait_message(mtype="groupchat", body="ALARM door", timeout=10)

    env.sub.drain()
    env.alice.send_message(ROOM, "home: home/kitchen/set ON", mtype="groupchat")
    m = env.sub.wait_message("home/kitchen/set", timeout=10)
    env.check(m.payload == b"ON", "a moderator's command in the room is published", m.payload)
    env.alice.wait_message(mtype="groupchat", body="alice: published to 'home/kitchen/set'")
    # a semi-anonymous room: the occupant's room JID stands for the real one
    b.wait_log(r"command: published to 'home/kitchen/set' for '%s/alice \(nick 'alice' in "
               r"room '%s'\)'" % (ROOM, ROOM))
    env.check(True, "the log names the occupant, nick and room")

    mark = b.mark()
    mallory.send_message(ROOM, "home: home/kitchen/set OFF", mtype="groupchat")
    mallory.wait_message(mtype="groupchat", body="mallory: you may not send commands here")
    b.wait_log(r"command: refused message from 'mallory' in room '%s': not allowed "
               r"\('home/kitchen/set'\)" % ROOM, since=mark)
    mallory.send_message(ROOM, "just chatting, not for the bridge", mtype="groupchat")
    env.alice.send_message(ROOM, "home: home/kitchen/set DONE", mtype="groupchat")
    m = env.sub.wait_message("home/kitchen/set", timeout=10)
    env.check(m.payload == b"DONE", "the participant's command published nothing "
              "(the next publish is the moderator's)", m.payload)
    env.alice.wait_message(mtype="groupchat", body="alice: published to 'home/kitchen/set'")
    env.check(mallory.no_message(1.0, lambda x: "usage" in x.body or "unknown" in x.body)
              is None, "chat not addressed to the bridge gets no answer")
    env.alice.send_message(ROOM, "home: hello?", mtype="groupchat")
    env.alice.wait_message(mtype="groupchat", body="alice: unknown command 'hello?'; send 'help'")
    env.check(True, "an unknown word in the room: the same reply as in a direct chat")
    mallory.disconnect()
    env.check(b.stop() == 0, "bridge exits 0")


def check_throttle(env):
    setup(env)
    b = start(env, {
        "notify": [
            {"topic": "sensor/+/temp", "to": ["alice@localhost"], "min_interval": 2,
             "message": "{{topic.2}}={{payload}}"},
            {"topic": "state/+", "to": ["alice@localhost"], "only_changes": True,
             "message": "{{topic.2}} is {{payload}}"},
        ],
    })
    pub = env.mqtt(env.m)
    env.alice.drain()
    t0 = time.monotonic()
    for i in range(1, 11):
        pub.publish("sensor/attic/temp", str(i))
    first = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(first.body == "attic=1", "the first value of a burst goes out at once",
              first.body)
    last = env.alice.wait_message(frm=BRIDGE, timeout=10)
    waited = time.monotonic() - t0
    env.check(last.body == "attic=10", "the last value of the burst arrives when the "
              "interval ends", last.body)
    env.check(waited >= 1.5, "not before the interval (%.1f s)" % waited)
    env.check(env.alice.no_message(2.5, frm=BRIDGE) is None,
              "the 8 values in between were coalesced away")
    for v in ("on", "on", "on", "off", "off", "on"):
        pub.publish("state/pump", v)
    got = [env.alice.wait_message(frm=BRIDGE, timeout=10).body for _ in range(3)]
    env.check(got == ["pump is on", "pump is off", "pump is on"],
              "only_changes sends each change once", got)
    env.check(env.alice.no_message(1.0, frm=BRIDGE) is None, "and nothing else")
    env.check(b.stop() == 0, "bridge exits 0")


def check_retained_and_binary(env):
    setup(env)
    pub = env.mqtt(env.m)
    pub.publish("kept/a", "old news", retain=True)
    pub.publish("keptall/a", "replayed", retain=True)
    b = start(env, {
        "notify": [
            {"topic": "kept/#", "to": ["alice@localhost"]},
            {"topic": "keptall/#", "to": ["alice@localhost"], "retained": True},
            {"topic": "bin/hex", "to": ["alice@localhost"], "binary": "hex"},
            {"topic": "bin/b64", "to": ["alice@localhost"], "binary": "base64"},
            {"topic": "bin/skip", "to": ["alice@localhost"], "binary": "skip"},
            {"topic": "bin/text", "to": ["alice@localhost"]},
        ],
    })
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "keptall/a: replayed", "retained = true forwards the retained value",
              m.body)
    env.check(env.alice.no_message(1.0, frm=BRIDGE) is None,
              "retained messages are not forwarded by default")
    pub.publish("bin/hex", b"\x00\x01\xfe\xff")
    env.check(env.alice.wait_message(frm=BRIDGE).body == "bin/hex: 0001feff", "binary as hex")
    pub.publish("bin/b64", b"\x00\x01\xfe\xff")
    env.check(env.alice.wait_message(frm=BRIDGE).body == "bin/b64: AAH+/w==",
              "binary as base64")
    mark = b.mark()
    pub.publish("bin/skip", b"\x00\xff")
    b.wait_log(r"binary payload on topic 'bin/skip'", since=mark)
    pub.publish("bin/skip", "text after binary")
    env.check(env.alice.wait_message(frm=BRIDGE).body == "bin/skip: text after binary",
              "binary = skip drops binary; text on the same route still flows")
    pub.publish("bin/text", b"ok\x00\xff")
    env.check(env.alice.wait_message(frm=BRIDGE).body == "bin/text: ok\ufffd\ufffd",
              "by default a binary payload is text with U+FFFD for what XML cannot carry")
    env.check(b.stop() == 0, "bridge exits 0")


def check_no_loop(env):
    setup(env)
    b = start(env, {
        "notify": [{"topic": "home/#", "to": ["alice@localhost"]}],
        "commands": [{"from": ["alice@localhost"], "allow": ["home/#"]}],
    })
    env.alice.drain()
    env.sub.drain()
    env.alice.send_message(BRIDGE, "home/lamp/set ON")
    env.sub.wait_message("home/lamp/set", timeout=10)
    env.alice.wait_message(frm=BRIDGE, body="published to 'home/lamp/set'")
    echo = env.alice.no_message(2.0, frm=BRIDGE)
    env.check(echo is None, "the bridge's own publish does not come back as a notification",
              echo and echo.body)
    other = env.mqtt(env.m)
    other.publish("home/lamp/set", "OFF")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "home/lamp/set: OFF", "someone else's publish on it still does",
              m.body)
    env.check(b.stop() == 0, "bridge exits 0")
    b3 = start(env, {
        "mqtt": {"version": 3},
        "notify": [{"topic": "home/#", "to": ["alice@localhost"]}],
        "commands": [{"from": ["alice@localhost"], "allow": ["home/+/set"]}],
    })
    b3.wait_log(r"with MQTT 3\.1\.1 the broker echoes the bridge's own publishes: commands "
                r"to 'home/\+/set' \(line \d+\) come back through notify 'home/#'")
    env.check(b3.stop() == 0, "bridge on MQTT 3.1.1 warned about the loop and exits 0")


if __name__ == "__main__":
    harness.main([check_tasmota_json, check_named_commands, check_group_chat, check_throttle,
                  check_retained_and_binary, check_no_loop], time_limit=170)
