#!/usr/bin/python3
"""Rooms that do not exist yet. The first join creates the room with status 201 and,
on Prosody with its default room locking, leaves it locked (XEP-0045 10.1: item-not-found
to everyone else) until the owner accepts a configuration; Prosody's muc=True unlocks new
rooms, so its MUC component is configured here. ejabberd never locks a new room: it is an
instant room with the service's default options from the start. A first check asserts
each (on ejabberd: a second client enters at once, and accepting the default changes
nothing). Then the bridge creates a room of its config, accepts the default configuration at
once, and a second client joins it and gets a notification."""

import time

import harness

ROOM = "fresh@conference.localhost"
PROBE = "probe@conference.localhost"
MUC_NS = "http://jabber.org/protocol/muc"

# Prosody's MUC component with its default room locking (muc=True turns it off).
PROSODY_MUC = """Component "conference.localhost" "muc"
\trestrict_room_creation = false
"""


def setup(env):
    if getattr(env, "p", None):
        return
    if harness.xmpp_server_kind() == "ejabberd":
        env.p = env.xmpp_server(users=("bridge", "alice", "bob"), muc=True)
    else:
        # extra goes before the VirtualHost, where a Component section may start
        env.p = env.xmpp_server(users=("bridge", "alice", "bob"), extra=PROSODY_MUC)
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.bob = env.xmpp(env.p, "bob")


def send_join(client, room, nick):
    mark = client.presence_mark()
    client.send_raw("<presence to='%s/%s'><x xmlns='%s'/></presence>" % (room, nick, MUC_NS))
    return mark


def wait_room_presence(env, client, full, since, timeout=10.0):
    """The first presence from full (room/nick) after since, any type (wait_presence
    looks at available and unavailable only, not at errors)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with client._cond:
            for p in client.presences[since:]:
                if p.frm == full:
                    return p
            client._cond.wait(0.2)
    return None


OWNER_NS = "http://jabber.org/protocol/muc#owner"
XDATA = "{jabber:x:data}"


def room_config(env, client, room):
    """The room's configuration form as the owner gets it: {var: [values]}."""
    r = client.iq(room, "get", "<query xmlns='%s'/>" % OWNER_NS)
    env.check(r.type == "result", "the owner gets the configuration form of %s" % room,
              r.error)
    return {f.get("var"): [v.text for v in f.findall(XDATA + "value")]
            for f in r.xml.iter(XDATA + "field") if f.get("var")}


def check_server_locks_new_rooms(env):
    """What each server does with a room created by a join (XEP-0045 10.1): status 201 on
    both. Prosody keeps it locked (item-not-found to everyone else) until the owner accepts
    a configuration. ejabberd 23.01 never locks: its mod_muc_room makes every new room an
    instant room with mod_muc's default_room_options at once (the 201 only says it is new),
    so others may enter at once; accepting the default configuration then changes nothing.
    Either way nobody sees the room in any configuration but the default the bridge
    accepts."""
    setup(env)
    mark = send_join(env.alice, PROBE, "alice")
    p = wait_room_presence(env, env.alice, PROBE + "/alice", mark)
    env.check(p is not None and p.type == "available" and "code=\"201\"" in p.xml.replace(
        "'", '"'), "joining a room that does not exist creates it (status 201)",
        p and p.xml[:400])
    ejabberd = harness.xmpp_server_kind() == "ejabberd"
    before = room_config(env, env.alice, PROBE) if ejabberd else None
    mark = send_join(env.bob, PROBE, "bob")
    p = wait_room_presence(env, env.bob, PROBE + "/bob", mark)
    env.check(p is not None, "the second client's join gets an answer")
    if not ejabberd:
        env.check(p.type == "error" and "item-not-found" in p.xml,
                  "the new room stays locked: a second client gets item-not-found",
                  p.xml[:400])
        env.verified("a room created by a join", "locked until the owner accepts a "
                     "configuration (item-not-found to others)")
        return
    env.check(p.type == "available", "ejabberd: the new room is not locked, a second client "
              "enters at once", p.xml[:400])
    r = env.alice.iq(PROBE, "set", "<query xmlns='%s'><x xmlns='jabber:x:data' "
                     "type='submit'/></query>" % OWNER_NS)
    env.check(r.type == "result", "ejabberd takes the instant room's acceptance", r.error)
    after = room_config(env, env.alice, PROBE)
    env.check(before == after and before, "accepting the default changed nothing: the room "
              "had its default configuration from the first moment",
              {k: (before.get(k), after.get(k)) for k in set(before) | set(after)
               if before.get(k) != after.get(k)})
    env.verified("a room created by a join", "never locked: an instant room with "
                 "default_room_options at once (asserted: others enter, accepting changes "
                 "nothing)")


def check_bridge_unlocks_room_it_created(env):
    setup(env)
    b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"log_level": "debug"},
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}]},
        "notify": [{"topic": "home/+/alarm", "to": [ROOM], "message": "ALARM {{topic.2}}"}],
    })
    b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, timeout=15)
    b.wait_log(r"xmpp: created room '%s'; accepted the default configuration" % ROOM,
               timeout=15)
    env.check("stays locked" not in b.text(), "the service took the configuration")

    mark = send_join(env.bob, ROOM, "bob")
    p = wait_room_presence(env, env.bob, ROOM + "/bob", mark)
    env.check(p is not None and p.type == "available",
              "a second client can join the room the bridge created", p and p.xml[:400])
    env.bob.wait_presence(ROOM + "/home", True, timeout=10)
    env.check(True, "and sees the bridge in it")

    env.mqtt(env.m).publish("home/door/alarm", "1")
    m = env.bob.wait_message(mtype="groupchat", body="ALARM door", timeout=15)
    env.check(m.frm == ROOM + "/home", "the room gets the notification from the bridge's nick",
              m.frm)

    # a room that exists already: no 201, nothing to accept
    env.check(b.stop() == 0, "bridge exits 0")
    b = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"log_level": "debug"},
        "xmpp": {"rooms": [{"jid": ROOM, "nick": "home"}]},
        "notify": [{"topic": "home/+/alarm", "to": [ROOM], "message": "ALARM {{topic.2}}"}],
    })
    b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM, timeout=15)
    env.check("created room" not in b.text(),
              "joining a room that exists (bob keeps it open) accepts nothing",
              [line for line in b.text().splitlines() if "room" in line][:5])
    env.check(b.stop() == 0, "bridge exits 0")


if __name__ == "__main__":
    harness.main([check_server_locks_new_rooms, check_bridge_unlocks_room_it_created],
                 time_limit=120)
