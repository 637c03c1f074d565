#!/usr/bin/python3
"""Contacts' presence as retained MQTT state, and who may write it. Each case asserts that
the bridge is alive, the log line where something is refused, the counters SIGUSR1 logs,
and on a real MQTT subscriber what was and what was NOT published.

A stranger's directed presence is dropped and counted; a flood of 2000 presences from 2000
different JIDs (a component of the server sends them, so every one has its own bare JID)
leaves the contact table to the real contacts, whose changes still get published; a
contact who has not allowed the bridge to see their presence gets nothing published, not
even "unavailable", until they approve; a JSON status with quotes, newlines and
multi-byte characters round-trips, and a long one is cut on a character boundary."""

import hashlib
import json
import re
import socket
import time

import harness

BRIDGE = "bridge@localhost"
TOPIC = "xmpp/presence"
STRANGERS = "strangers.localhost"
SECRET = "component-secret-for-the-flood"
DROPPED = r"presence: dropped the presence of '%s'"


class Component:
    """A bare XEP-0114 component on a plain loopback socket: it may send stanzas from any
    JID of its domain, which no client account can."""

    def __init__(self, port, domain, secret):
        self.sock = socket.create_connection((harness.LOOPBACK, port), timeout=10)
        self.sock.sendall(("<stream:stream xmlns='jabber:component:accept' "
                           "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>"
                           % domain).encode())
        head = self._read_until(rb"<stream:stream[^>]*>")
        sid = re.search(rb"id=['\"]([^'\"]+)", head).group(1).decode()
        digest = hashlib.sha1((sid + secret).encode()).hexdigest()
        self.sock.sendall(("<handshake>%s</handshake>" % digest).encode())
        self._read_until(rb"<handshake\s*/>|<handshake></handshake>")

    def _read_until(self, pattern):
        buf = b""
        deadline = time.monotonic() + 10
        while not re.search(pattern, buf):
            if time.monotonic() > deadline or b"stream:error" in buf:
                raise harness.TestFailure("component handshake failed: %r" % buf[:300])
            chunk = self.sock.recv(4096)
            if not chunk:
                raise harness.TestFailure("component stream closed: %r" % buf[:300])
            buf += chunk
        return buf

    def send(self, data):
        self.sock.sendall(data.encode())

    def close(self):
        try:
            self.sock.sendall(b"</stream:stream>")
        except OSError:
            pass
        self.sock.close()


def setup(env):
    env.p = env.xmpp_server(users=("bridge", "alice", "carol", "dave", "erin", "mallory"),
                            component=(STRANGERS, SECRET))
    env.cport = env.p.component_port
    env.m = env.broker()
    env.sub = env.mqtt(env.m).subscribe(TOPIC + "/#")
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"log_level": "debug"},
        "xmpp": {"presence_topic": TOPIC, "presence_json": True},
        "commands": [{"from": ["alice@localhost", "carol@localhost", "dave@localhost",
                               "erin@localhost"], "allow": ["home/+/set"]}],
    })
    env.alice = env.xmpp(env.p, "alice")
    env.alice.subscribe(BRIDGE)
    env.alice.wait_subscription(BRIDGE, ("both",), timeout=10)
    wait_value(env, "alice@localhost", lambda v: v["show"] == "available")
    env.check(True, "alice, who shares her presence, is published")


def counters(env):
    """Every counter SIGUSR1 logs."""
    return harness.bridge_counters(env.b)


def wait_value(env, jid, pred, timeout=10):
    m = env.sub.wait_message(TOPIC + "/" + jid, lambda m: pred(json.loads(m.payload)),
                             timeout=timeout)
    return json.loads(m.payload)


def published_for(env, jid):
    return [m for m in env.sub.drain() if m.topic == TOPIC + "/" + jid]


def alive_and_published(env, show, status):
    """The frame of every case: the bridge alive, and alice's change still published."""
    env.check(env.b.alive(), "afterwards: bridge alive")
    env.alice.call(lambda: env.alice.xmpp.send_presence(pshow=show, pstatus=status))
    v = wait_value(env, "alice@localhost", lambda v: v["status"] == status)
    env.check(v == {"show": show, "status": status, "priority": 0},
              "afterwards: alice's change (%s, %r) is still published" % (show, status), v)


def wait_counter(env, name, at_least, timeout=30):
    return harness.wait_until(lambda: (lambda c: c[name] >= at_least and c)(counters(env)),
                              timeout, interval=0.5,
                              what="counter %r reaching %d" % (name, at_least))


def check_stranger_directed_presence(env):
    before = counters(env)
    mark = env.b.mark()
    mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    env.sub.drain()
    mallory.send_raw("<presence to='%s'><show>dnd</show><status>I own this</status>"
                     "<priority>127</priority></presence>" % BRIDGE)
    m = env.b.wait_log(DROPPED % "mallory@localhost", since=mark, timeout=10)
    line = harness.line_of(m)
    env.check(line.startswith("warn:"), "logged as a warning", line[:200])
    after = wait_counter(env, "presence strangers", before["presence strangers"] + 1)
    env.check(after["presence strangers"] - before["presence strangers"] == 1,
              "counted once under 'presence strangers'",
              after["presence strangers"] - before["presence strangers"])
    # (Not the total of contact presences: alice's client may send one meanwhile.)
    time.sleep(0.5)
    env.check(published_for(env, "mallory@localhost") == [], "nothing published for mallory")
    env.check(env.mqtt_retained(env.m, TOPIC + "/mallory@localhost", timeout=1) is None,
              "nothing retained for mallory")
    alive_and_published(env, "away", "after the stranger")
    # her server sends "unavailable" at logout to whoever got her directed presence
    mallory.disconnect()
    wait_counter(env, "presence strangers", before["presence strangers"] + 2)
    time.sleep(0.3)
    env.check(published_for(env, "mallory@localhost") == [] and env.mqtt_retained(
        env.m, TOPIC + "/mallory@localhost", timeout=1) is None,
        "her unavailable at logout is dropped as well: nothing published or retained")


def check_flood_of_strangers(env):
    N = 2000
    before = counters(env)
    mark = env.b.mark()
    env.sub.drain()
    comp = Component(env.cport, STRANGERS, SECRET)
    try:
        t0 = time.monotonic()
        batch = []
        for i in range(N):
            # every one a different bare JID: what filled the old table
            batch.append("<presence from='s%d@%s/r%d' to='%s'><status>flood %d</status>"
                         "</presence>" % (i, STRANGERS, i % 7, BRIDGE, i))
            if len(batch) == 200:
                comp.send("".join(batch))
                batch = []
        after = wait_counter(env, "presence strangers", before["presence strangers"] + N)
        env.note("%d strangers' presences handled in %.2f s" % (N, time.monotonic() - t0))
    finally:
        comp.close()
    env.check(after["presence strangers"] - before["presence strangers"] == N,
              "each of the %d presences counted under 'presence strangers'" % N,
              after["presence strangers"] - before["presence strangers"])
    env.check(after["presence table full"] == before["presence table full"],
              "the contact table never filled", after["presence table full"])
    lines = env.b.text(mark).count("presence: dropped the presence of")
    env.check(lines <= 1, "at most one log line for the whole burst", lines)
    time.sleep(0.5)
    got = [m.topic for m in env.sub.drain() if STRANGERS in m.topic]
    env.check(got == [], "nothing published for any of them", got[:5])
    env.check(env.mqtt_retained(env.m, TOPIC + "/s1999@" + STRANGERS, timeout=1) is None,
              "nothing retained for the last of them")
    # the contact known before the flood: published, and retained
    alive_and_published(env, "xa", "after the flood")
    v = json.loads(env.mqtt_retained(env.m, TOPIC + "/alice@localhost") or b"null")
    env.check(v and v["status"] == "after the flood", "and retained", v)
    # a contact new to the table after the flood still gets a place
    erin = env.xmpp(env.p, "erin")
    erin.subscribe(BRIDGE)
    erin.wait_subscription(BRIDGE, ("both",), timeout=10)
    v = wait_value(env, "erin@localhost", lambda v: v["show"] == "available")
    env.check(True, "erin, a new contact after the flood, is published", v)
    erin.disconnect()


def check_no_subscription_no_state(env):
    carol = env.xmpp(env.p, "carol", auto_authorize=False)
    mark = env.b.mark()
    env.sub.drain()
    carol.subscribe(BRIDGE)
    env.b.wait_log(r"accepting presence subscription from 'carol@localhost'", since=mark)
    carol.wait_subscription(BRIDGE, ("to",), timeout=10)
    # the bridge asked carol back; she has not answered: it may not see her presence
    carol.call(lambda: carol.xmpp.send_presence(pshow="away", pstatus="not yet"))
    time.sleep(1.0)
    env.check(published_for(env, "carol@localhost") == [],
              "nothing published before carol approves")
    env.check(env.mqtt_retained(env.m, TOPIC + "/carol@localhost", timeout=1) is None,
              "nothing retained, not even 'unavailable'")
    # she approves: the roster says both, and her presence comes and is published
    carol.call(lambda: carol.xmpp.send_presence(pto=BRIDGE, ptype="subscribed"))
    v = wait_value(env, "carol@localhost", lambda v: v["show"] == "away")
    env.check(v == {"show": "away", "status": "not yet", "priority": 0},
              "once carol approves, her presence is published", v)
    carol.call(lambda: carol.xmpp.send_presence(pshow="dnd", pstatus="approved"))
    v = wait_value(env, "carol@localhost", lambda v: v["show"] == "dnd")
    env.check(v["status"] == "approved", "and her changes after it", v)
    env.check(env.b.alive(), "bridge alive")
    carol.disconnect()
    v = wait_value(env, "carol@localhost", lambda v: v["show"] == "unavailable")
    env.check(v == {"show": "unavailable", "status": "", "priority": 0},
              "carol's logout is published as unavailable", v)


def check_declined_subscription(env):
    dave = env.xmpp(env.p, "dave", auto_authorize=False)
    mark = env.b.mark()
    env.sub.drain()
    dave.subscribe(BRIDGE)
    env.b.wait_log(r"accepting presence subscription from 'dave@localhost'", since=mark)
    dave.wait_subscription(BRIDGE, ("to",), timeout=10)
    # dave declines the bridge's request: Prosody then tells the bridge "unavailable",
    # ejabberd passes on the "unsubscribed" alone
    dave.call(lambda: dave.xmpp.send_presence(pto=BRIDGE, ptype="unsubscribed"))
    if harness.xmpp_server_kind() == "prosody":
        env.b.wait_log(r"presence: 'dave@localhost' went unavailable before sharing any "
                       r"presence", since=mark, timeout=10)
        env.verified("declined subscription", "the server sends 'unavailable'; "
                     "nothing published")
    else:
        env.check(env.b.absent(r"presence: 'dave@localhost'", 2.0, since=mark) is None,
                  "ejabberd sends the bridge no presence of dave after he declined")
        env.verified("declined subscription", "the server sends no presence; "
                     "nothing published")
    time.sleep(0.5)
    env.check(published_for(env, "dave@localhost") == [],
              "a declined subscription publishes nothing")
    env.check(env.mqtt_retained(env.m, TOPIC + "/dave@localhost", timeout=1) is None,
              "no retained 'unavailable' for dave")
    alive_and_published(env, "chat", "after dave declined")
    dave.disconnect()


def check_json_status_round_trip(env):
    for status in ('say "hi"\nsecond line\ttab \\ back', "caf\u00e9 \u20ac \U0001F600 <&>",
                   "\u20ac" * 500):
        env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="dnd", pstatus=status,
                                                            ppriority=5))
        want = status
        if len(status.encode()) > 1024:
            # 1024 bytes would split the 342nd euro sign: the cut keeps 341 whole ones
            want = "\u20ac" * 341
        v = wait_value(env, "alice@localhost", lambda v: v["status"] == want)
        env.check(v == {"show": "dnd", "status": want, "priority": 5},
                  "JSON status %r... round-trips%s" % (status[:20], " cut on a character "
                                                       "boundary" if want != status else ""),
                  v)
    env.check(env.b.alive(), "bridge alive")
    env.alice.call(lambda: env.alice.xmpp.send_presence())


def check_final_state(env):
    env.check(env.b.alive(), "bridge alive at the end")
    c = counters(env)
    env.note("counters: %s" % ", ".join("%s %d" % kv for kv in c.items() if kv[1]))
    env.check(c["presence table full"] == 0, "the table never filled", c["presence table full"])
    rc = env.b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0", rc)


if __name__ == "__main__":
    harness.main([setup, check_stranger_directed_presence, check_flood_of_strangers,
                  check_no_subscription_no_state, check_declined_subscription,
                  check_json_status_round_trip, check_final_state], time_limit=170)
