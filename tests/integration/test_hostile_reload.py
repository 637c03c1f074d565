#!/usr/bin/python3
"""Hostile reloads, files that block and a taken nick, one case per check function. Every
case asserts that the bridge is alive, the log line that says what happened, the counters
(SIGUSR1) where one applies, what was and was not delivered to a real XMPP client and
published to a real MQTT subscriber, and that nothing accepted was lost.

Reload: a SIGHUP with an unchanged config re-sends no retained alarm and subscribes to
nothing (and a raised QoS re-sends none either, MQTT 5); a SIGHUP while a throttled route
holds a value still delivers it at the interval's end, and only_changes remembers what it
sent, even when a new route moves every index; -d survives a SIGHUP.
Files: --check-config with a FIFO password_file and /dev/zero as a CA returns 1 at once with
file:line; a SIGHUP with a FIFO password_file, or a FIFO in place of the config file, is
refused and the loop keeps turning.
Rooms: with the bridge's nick taken, it joins as NICK_, says so, delivers room notifies,
answers 'NICK_: command' (not 'NICK: ...', someone else's), and takes its nick back once
the holder leaves."""

import os
import re
import signal
import subprocess
import time

import harness

BRIDGE = "bridge@localhost"
ALICE = "alice@localhost"
ROOM = "family@conference.localhost"
CID = "mxb-test"


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory", "bob"), muc=True)
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.pub = env.mqtt(env.m)
    env.sub = env.mqtt(env.m).subscribe("#")
    env.b = None


def start(env, over, args=None):
    """Stops the previous bridge and starts one with the standard config + over; waits
    until both sessions are up and every notify filter is subscribed."""
    if env.b is not None and env.b.alive():
        env.check(env.b.stop() == 0, "the previous bridge exits 0")
    env.cfg = env.bridge_config(env.p, env.m, harness.merge(
        {"bridge": {"log_level": "info"}}, over))
    mark = env.m.log.mark()
    # Before the start: what a new bridge sends at once (retained alarms) must stay.
    env.alice.drain()
    env.b = env.bridge(env.cfg, args=args)
    env.b.wait_ready()
    for route in env.cfg["notify"]:
        env.m.wait_subscribed(CID, route["topic"], since=mark)
    return env.b


def rewrite(env, cfg):
    text = cfg if isinstance(cfg, str) else harness.format_config(cfg)
    with open(env.b.conf_path, "w") as f:
        f.write(text)
    return text


def hup(env, wait=r"reload: \d+ notify and \d+ command routes"):
    """SIGHUP; waits for the line wait; returns the log mark taken before the signal."""
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(wait, timeout=10, since=mark)
    return mark


def counters(env):
    return harness.bridge_counters(env.b)


def delta(before, after, name):
    return after.get(name, 0) - before.get(name, 0)


def line_number(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise harness.TestFailure("%r not in the config" % needle)


def alarms(env, n, timeout=10):
    bodies = set()
    for _ in range(n):
        bodies.add(env.alice.wait_message(frm=BRIDGE, timeout=timeout).body)
    return bodies


# ---------------------------------------------------------------------------------------
# A. Reload side effects

def check_reload_unchanged_resends_nothing(env):
    setup(env)
    for i in range(1, 6):
        env.pub.publish("alarm/%d" % i, "fire %d" % i, qos=1, retain=True)
    route = {"topic": "alarm/#", "to": [ALICE], "message": "alarm {{topic.2}}: {{payload}}",
             "retained": True, "qos": 0}
    start(env, {"notify": [route]})
    got = alarms(env, 5)
    env.check(got == {"alarm %d: fire %d" % (i, i) for i in range(1, 6)},
              "at start the five retained alarms are delivered once", sorted(got))

    before = counters(env)
    mmark = env.m.log.mark()
    bmark = hup(env)
    env.b.wait_log(r"reload: changed: nothing", timeout=5, since=bmark)
    env.check(True, "log: 'reload: changed: nothing'")
    env.check(env.alice.no_message(2.0, frm=BRIDGE) is None,
              "an unchanged SIGHUP re-sends zero alarms")
    subs = env.m.log.text(mmark).count("Received SUBSCRIBE from " + CID)
    unsubs = env.m.log.text(mmark).count("Received UNSUBSCRIBE from " + CID)
    env.check(subs == 0 and unsubs == 0, "the broker saw no SUBSCRIBE or UNSUBSCRIBE",
              (subs, unsubs))
    after = counters(env)
    env.check(delta(before, after, "mqtt received") == 0 and
              delta(before, after, "xmpp sent") == 0,
              "counters: nothing received, nothing sent", harness.counter_delta(before, after))

    # A raised QoS subscribes again, asking the broker (MQTT 5) to keep its retained ones.
    mmark = env.m.log.mark()
    rewrite(env, harness.merge(env.cfg, {"notify": [dict(route, qos=1)]}))
    bmark = hup(env)
    env.b.wait_log(r"reload: subscribed to 'alarm/#' \(qos 1, raised\)", since=bmark)
    env.check(True, "log: reload: subscribed to 'alarm/#' (qos 1, raised)")
    env.m.wait_subscribed(CID, "alarm/#", since=mmark)
    env.check(env.alice.no_message(2.0, frm=BRIDGE) is None,
              "a raised QoS re-sends zero alarms")
    after2 = counters(env)
    env.check(delta(after, after2, "mqtt received") == 0, "counters: nothing received",
              harness.counter_delta(after, after2))

    env.pub.publish("alarm/6", "fire 6")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "alarm 6: fire 6", "a new alarm after the reloads is delivered", m.body)
    env.check(env.b.alive(), "the bridge is alive")
    for i in range(1, 6):
        env.pub.publish("alarm/%d" % i, "", qos=1, retain=True)


def check_reload_keeps_throttle_state(env):
    setup(env)
    meter = {"topic": "meter/+", "to": [ALICE], "message": "meter {{topic.2}}={{payload}}",
             "min_interval": 4}
    state = {"topic": "state/+", "to": [ALICE], "message": "state {{topic.2}}={{payload}}",
             "only_changes": True}
    start(env, {"notify": [meter, state]})
    env.pub.publish("meter/a", "1")
    env.alice.wait_message(frm=BRIDGE, body="meter a=1", timeout=10)
    t0 = time.monotonic()
    env.pub.publish("state/s", "on")
    env.alice.wait_message(frm=BRIDGE, body="state s=on", timeout=10)
    before = counters(env)
    env.pub.publish("meter/a", "2")
    env.pub.publish("meter/a", "3")
    harness.wait_until(lambda: delta(before, counters(env), "throttled") >= 2, 10,
                       interval=0.2, what="two values held by the throttle")

    # A new first route moves every index: the old state is found by content.
    extra = {"topic": "extra/+", "to": [ALICE], "message": "extra {{payload}}"}
    rewrite(env, harness.merge(env.cfg, {"notify": [extra, meter, state]}))
    bmark = hup(env)
    env.b.wait_log(r"reload: 2 throttled routes keep their state", timeout=5, since=bmark)
    env.check(True, "log: 'reload: 2 throttled routes keep their state'")
    env.b.wait_log(r"reload: subscribed to 'extra/\+' \(qos \d\)", timeout=5, since=bmark)
    env.check(t0 + 4 - time.monotonic() > 0.5, "the reload came within the interval")

    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    waited = time.monotonic() - t0
    env.check(m.body == "meter a=3", "the held value survives the reload", m.body)
    env.check(waited >= 3.0, "... and is delivered at the interval's end", "%.1f s" % waited)
    env.check(env.alice.no_message(1.0, frm=BRIDGE) is None, "'meter a=2' never comes")

    mid = counters(env)
    env.pub.publish("state/s", "on")
    env.check(env.alice.no_message(1.5, frm=BRIDGE) is None,
              "only_changes still knows 'on' was sent")
    env.pub.publish("state/s", "off")
    env.alice.wait_message(frm=BRIDGE, body="state s=off", timeout=10)
    env.pub.publish("extra/x", "y")
    env.alice.wait_message(frm=BRIDGE, body="extra y", timeout=10)
    after = counters(env)
    env.check(delta(mid, after, "unchanged") == 1, "counters: unchanged +1",
              harness.counter_delta(mid, after))
    env.check(delta(before, after, "xmpp sent") == 3, "counters: xmpp sent +3 (a=3, off, y)",
              harness.counter_delta(before, after))
    env.check(env.b.alive(), "the bridge is alive")


def check_reload_keeps_debug(env):
    setup(env)
    start(env, {}, args=["-d"])
    env.check(env.b.text().count("\ndebug: ") > 0, "-d: debug lines at start")
    bmark = hup(env)
    env.pub.publish("home/dbg/alarm", "after")
    env.b.wait_log(r"\ndebug: mqtt: Client %s received PUBLISH \([^)]*'home/dbg/alarm'" % CID,
                   timeout=10, since=bmark)
    env.check(True, "log after SIGHUP: debug: mqtt: Client %s received PUBLISH (... "
              "'home/dbg/alarm' ..." % CID)
    env.alice.wait_message(frm=BRIDGE, body="dbg says after", timeout=10)
    env.check(env.b.text(bmark).count("\ndebug: ") >= 2, "debug lines keep coming")
    env.check(env.b.alive(), "the bridge is alive")


# ---------------------------------------------------------------------------------------
# B. Files that block

def check_check_config_fifo(env):
    setup(env)
    fifo = os.path.join(env.tmp, "xmpp.password")
    os.mkfifo(fifo, 0o600)
    cfg = env.bridge_config(env.p, env.m, {
        "xmpp": {"password": None, "password_file": fifo},
        "mqtt": {"tls": {"ca_file": "/dev/zero"}}})
    path = os.path.join(env.tmp, "fifo.conf")
    text = harness.format_config(cfg)
    with open(path, "w") as f:
        f.write(text)
    want = ["%s:%d: cannot read password_file '%s': not a regular file" % (
                path, line_number(text, "password_file"), fifo),
            "%s:%d: cannot read ca_file '/dev/zero': not a regular file" % (
                path, line_number(text, "/dev/zero"))]
    t0 = time.monotonic()
    try:
        r = subprocess.run([harness.bridge_binary(), "--check-config", "-c", path],
                           capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        env.check(False, "--check-config returns within 5 s")
    took = time.monotonic() - t0
    env.check(r.returncode == 1, "--check-config returns 1", r.returncode)
    env.check(took < 2.0, "... at once", "%.2f s" % took)
    env.check(r.stderr.splitlines() == want, "... with file:line naming each key",
              r.stderr)


def check_reload_fifo(env):
    setup(env)
    start(env, {})
    fifo = os.path.join(env.tmp, "reload.password")
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    before = counters(env)
    good = harness.format_config(env.cfg)
    text = rewrite(env, harness.merge(env.cfg, {"xmpp": {"password": None,
                                                         "password_file": fifo}}))
    t0 = time.monotonic()
    bmark = hup(env, r"reload: '.*' has errors; keeping the running configuration")
    took = time.monotonic() - t0
    line = "%s:%d: cannot read password_file '%s': not a regular file" % (
        env.b.conf_path, line_number(text, "password_file"), fifo)
    env.check(line in env.b.text(bmark), "log: " + line)
    env.check(took < 2.0, "the reload is refused at once", "%.2f s" % took)
    env.pub.publish("home/hall/alarm", "after fifo")
    env.alice.wait_message(frm=BRIDGE, body="hall says after fifo", timeout=5)
    env.check(True, "the loop keeps turning: a notify right after is delivered")

    # The config file itself replaced by a FIFO.
    os.unlink(env.b.conf_path)
    os.mkfifo(env.b.conf_path, 0o600)
    bmark = hup(env, r"reload: '.*' has errors; keeping the running configuration")
    line = "%s: cannot open: not a regular file" % env.b.conf_path
    env.check(line in env.b.text(bmark), "log: " + line)
    env.pub.publish("home/hall/alarm", "after fifo conf")
    env.alice.wait_message(frm=BRIDGE, body="hall says after fifo conf", timeout=5)
    env.check(True, "a notify right after is delivered")
    os.unlink(env.b.conf_path)
    rewrite(env, good)
    hup(env)
    env.pub.publish("home/hall/alarm", "restored")
    env.alice.wait_message(frm=BRIDGE, body="hall says restored", timeout=5)
    after = counters(env)
    env.check(delta(before, after, "mqtt received") == 3 and
              delta(before, after, "xmpp sent") == 3,
              "counters: three received, three sent", harness.counter_delta(before, after))
    env.check(env.b.alive(), "the bridge is alive")


# ---------------------------------------------------------------------------------------
# C. Rooms: the nick is taken

def join(client, nick):
    client.join_room(ROOM, nick)


def room_notify(env, topic, payload, nick):
    env.pub.publish(topic, payload)
    want = "room %s: %s" % (topic.split("/")[1], payload)
    m = env.alice.wait_message(frm="%s/%s" % (ROOM, nick), body=want, mtype="groupchat",
                               timeout=10)
    env.check(True, "room notify delivered by '%s/%s': %s" % (ROOM, nick, m.body))


def command(env, text, payload, expect=True):
    env.alice.send_message(ROOM, text, mtype="groupchat")
    m = env.sub.poll_message("home/room/set", lambda m: m.payload == payload.encode(),
                             timeout=5 if expect else 1.5)
    env.check((m is not None) == expect, "%r %s" % (
        text, "is published" if expect else "is not for the bridge"))


def check_nick_taken(env):
    setup(env)
    if env.b is not None and env.b.alive():
        env.check(env.b.stop() == 0, "the previous bridge exits 0")
    join(env.alice, "alice")  # first in: owner, moderator
    env.bob = env.xmpp(env.p, "bob")
    join(env.bob, "home")
    start(env, {
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}]},
        "notify": [{"topic": "room/+", "to": [ROOM],
                    "message": "room {{topic.2}}: {{payload}}"}],
        "commands": [{"from": [ROOM], "role": "moderator", "allow": ["home/+/set"]}],
    })
    env.b.wait_log(r"warn: xmpp: nick 'home' is taken in room '%s'; joining as 'home_'"
                   % ROOM, timeout=10)
    env.check(True, "log: xmpp: nick 'home' is taken in room '%s'; joining as 'home_'" % ROOM)
    env.b.wait_log(r"xmpp: joined room '%s' as 'home_' \('home' is taken\)" % ROOM, timeout=10)
    before = counters(env)
    room_notify(env, "room/a", "hello", "home_")
    command(env, "home_: home/room/set on", "on")
    command(env, "home: home/room/set bob", "bob", expect=False)

    mark = env.b.mark()
    env.bob.send_raw("<presence to='%s/home' type='unavailable'/>" % ROOM)
    env.b.wait_log(r"info: xmpp: took back the nick 'home' in room '%s'" % ROOM, timeout=40,
                   since=mark)
    env.check(True, "log: xmpp: took back the nick 'home' in room '%s'" % ROOM)
    room_notify(env, "room/b", "again", "home")
    command(env, "home: home/room/set off", "off")
    after = counters(env)
    env.check(delta(before, after, "room unreachable") == 0, "counters: room unreachable 0",
              harness.counter_delta(before, after))
    env.check(delta(before, after, "xmpp queue dropped") == 0 and
              delta(before, after, "commands published") == 2,
              "counters: nothing dropped, two commands published",
              harness.counter_delta(before, after))
    env.check(env.b.alive(), "the bridge is alive")
    env.check(env.b.stop() == 0, "the bridge exits 0")


CLUB = "club@conference.localhost"
MEMBERS_ONLY = (
    "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
    "type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
    "</value></field><field var='muc#roomconfig_membersonly'><value>1</value></field>"
    "</x></query>")
MEMBER = ("<query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' "
          "jid='bridge@localhost'/></query>")


def check_room_refused_is_retried(env):
    setup(env)
    mark = env.alice.presence_mark()
    env.alice.send_raw("<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'/>"
                       "</presence>" % CLUB)
    env.alice.wait_presence("%s/alice" % CLUB, True, timeout=10, since=mark)
    r = env.alice.iq(CLUB, "set", MEMBERS_ONLY)
    env.check(r.type == "result", "the room is members-only", r)
    start(env, {
        "xmpp": {"rooms": [{"jid": CLUB, "nick": "home"}]},
        "notify": [{"topic": "club/+", "to": [CLUB], "message": "club {{payload}}"}],
    })
    refused = (r"error: xmpp: cannot join room '%s' as 'home': registration-required; "
               r"retrying in ([0-9.]+) s" % CLUB)
    env.b.wait_log(refused, timeout=10, count=2)
    delays = [float(x) for x in re.findall(refused, env.b.text())]
    env.check(True, "log, twice: xmpp: cannot join room '%s' as 'home': "
              "registration-required; retrying in %s s" % (CLUB, delays))
    env.check(delays[0] <= 1.0 and delays[1] >= 1.0, "the delay backs off", delays)
    before = counters(env)
    env.pub.publish("club/a", "refused")
    harness.wait_until(lambda: delta(before, counters(env), "room unreachable") == 1, 10,
                       interval=0.3, what="room unreachable +1")
    env.check(True, "while refused, a room notify is counted as room unreachable")

    r = env.alice.iq(CLUB, "set", MEMBER)
    env.check(r.type == "result", "the bridge is made a member", r)
    env.b.wait_log(r"info: xmpp: joined room '%s' as 'home'" % CLUB, timeout=30)
    env.check(True, "log: xmpp: joined room '%s' as 'home' on a later try" % CLUB)
    env.pub.publish("club/a", "welcome")
    env.alice.wait_message(frm="%s/home" % CLUB, body="club welcome", mtype="groupchat",
                           timeout=10)
    env.check(True, "room notify delivered once the room lets the bridge in")
    env.check(env.b.alive(), "the bridge is alive")
    env.check(env.b.stop() == 0, "the bridge exits 0")


if __name__ == "__main__":
    harness.main([check_reload_unchanged_resends_nothing, check_reload_keeps_throttle_state,
                  check_reload_keeps_debug, check_check_config_fifo, check_reload_fifo,
                  check_nick_taken, check_room_refused_is_retried], time_limit=170)
