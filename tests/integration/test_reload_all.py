#!/usr/bin/python3
"""A reload applies every section: a SIGHUP changes, in turn, the rooms, the device rules,
the component, the MQTT keepalive, the XMPP TLS files and the MQTT credentials. Each
change is applied at once, or by reconnecting only the side concerned (the others keep
their sessions), and a numbered stream of notifications published all along arrives whole:
nothing queued is lost."""

import os
import shutil
import signal

import harness

BRIDGE = "bridge@localhost"
ALICE = "alice@localhost"
DOMAIN = "iot.localhost"
PLUG = "plug@" + DOMAIN
SECRET = "component-secret-for-reload"
ROOM_A = "alpha@conference.localhost"
ROOM_B = "beta@conference.localhost"
CID = "mxb-test"


def setup(env):
    env.cport = harness.free_port()
    extra = """
component_ports = {{ {port} }}
component_interfaces = {{ "127.0.0.1" }}
Component "{domain}"
	component_secret = "{secret}"
Component "conference.localhost" "muc"
	muc_room_locking = false
	restrict_room_creation = false
""".format(port=env.cport, domain=DOMAIN, secret=SECRET)
    env.p = env.prosody(users=("bridge", "alice", "bob"), extra=extra)
    env.m = env.mosquitto(users={"u1": "pw-one", "u2": "pw-two"}, anonymous=False)
    env.alice = env.xmpp(env.p, "alice")
    env.bob = env.xmpp(env.p, "bob")
    env.alice.join_room(ROOM_A, "alice")
    env.alice.join_room(ROOM_B, "alice")
    env.sub = env.mqtt(env.m, username="u1", password="pw-one").subscribe("#")
    env.pub = env.mqtt(env.m, username="u1", password="pw-one")
    env.ca2 = os.path.join(env.tmp, "ca-copy.pem")
    shutil.copy(env.pki.ca.cert, env.ca2)
    env.cfg = env.bridge_config(env.p, env.m, over={
        "mqtt": {"username": "u1", "password": "pw-one", "keepalive": 30},
        "xmpp": {"rooms": [{"jid": ROOM_A, "nick": "home"}],
                 "component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.cport}},
        "notify": [{"topic": "stream/#", "to": [ALICE], "message": "{{payload}}"},
                   {"topic": "room/#", "to": [ROOM_A], "message": "room {{payload}}"}],
        "devices": [{"convention": "tasmota", "allow": [ALICE], "timeout": 2}],
    })
    env.b = env.bridge(env.cfg)
    env.b.wait_ready(30)
    env.b.wait_log(r"xmpp: joined room '%s' as 'home'" % ROOM_A, timeout=15)
    env.b.wait_log(r"component: connected as 'iot\.localhost'", timeout=15)
    env.n = 0
    env.pub.publish("tele/plug/LWT", "Online", retain=True)
    env.alice.subscribe(PLUG)
    env.alice.wait_subscription(PLUG, ("to", "both"), timeout=10)
    env.alice.wait_presence(PLUG, True, timeout=10)


def sessions(env):
    """How often each side has connected so far."""
    return {"xmpp": env.b.text().count("xmpp: session established"),
            "component": env.b.text().count("component: connected as"),
            "mqtt": len(env.m.log.text().split("New client connected")) - 1
            - env.m.log.text().count("as test-")}


def stream(env, count=10):
    """Publishes count numbered notifications; returns their payloads."""
    sent = []
    for _ in range(count):
        env.n += 1
        sent.append("n%03d" % env.n)
        env.pub.publish("stream/x", sent[-1])
    return sent


def received(env, sent, timeout=20):
    got = []
    while len(got) < len(sent):
        m = env.alice.wait_message(frm=BRIDGE, timeout=timeout,
                                   predicate=lambda m: m.body.startswith("n"))
        got.append(m.body)
    return got


def reload(env, change, log, reconnects, what):
    """Changes env.cfg, SIGHUPs, waits for log; a stream before and during the change must
    arrive whole; only the sides in reconnects connect again."""
    before = sessions(env)
    sent = stream(env)
    change(env.cfg)
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(env.cfg))
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(log, timeout=20, since=mark)
    sent += stream(env)
    for side in reconnects:
        harness.wait_until(lambda: sessions(env)[side] > before[side], 20,
                           what="%s connected again" % side)
    got = received(env, sent)
    env.check(sorted(got) == sorted(sent), "%s: the %d notifications published around the "
              "reload all arrive" % (what, len(sent)), sorted(set(sent) - set(got)))
    after = sessions(env)
    for side in ("xmpp", "component", "mqtt"):
        moved = after[side] - before[side]
        if side in reconnects:
            env.check(moved == 1, "%s: the %s side reconnected once" % (what, side), moved)
        else:
            env.check(moved == 0, "%s: the %s side kept its session" % (what, side), moved)
    env.check(env.b.alive(), "%s: bridge alive" % what)


def check_rooms(env):
    def change(cfg):
        cfg["xmpp"]["rooms"] = [{"jid": ROOM_B, "nick": "home"}]
        cfg["notify"][1]["to"] = [ROOM_B]
    reload(env, change, r"xmpp: joined room '%s' as 'home'" % ROOM_B, (), "rooms")
    env.check("xmpp: left room '%s': no longer in the config" % ROOM_A in env.b.text(),
              "the removed room is left")
    env.pub.publish("room/x", "hello")
    m = env.alice.wait_message(mtype="groupchat", timeout=15,
                               predicate=lambda m: m.body == "room hello")
    env.check(m.frm == ROOM_B + "/home", "the notification goes to the new room", m.frm)


def check_devices(env):
    mark = env.bob.presence_mark()

    def change(cfg):
        cfg["devices"][0]["allow"] = [ALICE, "bob@localhost"]
    reload(env, change, r"reload: changed: devices", (), "devices")
    env.bob.subscribe(PLUG)
    env.bob.wait_subscription(PLUG, ("to", "both"), timeout=10)
    env.bob.wait_presence(PLUG, True, timeout=10, since=mark)
    env.check(True, "bob, added to the rule, may now see the device")


def check_component(env):
    def change(cfg):
        cfg["xmpp"]["component"]["host"] = "localhost"
    reload(env, change, r"component: the connection settings changed; reconnecting",
           ("component",), "component")
    env.pub.publish("tele/plug/LWT", "Offline", retain=True)
    env.alice.wait_presence(PLUG, False, timeout=10)
    env.pub.publish("tele/plug/LWT", "Online", retain=True)
    env.alice.wait_presence(PLUG, True, timeout=10)
    env.check(True, "the device's presence follows its LWT through the new connection")


def check_keepalive(env):
    mmark = env.m.log.mark()

    def change(cfg):
        cfg["mqtt"]["keepalive"] = 45
    reload(env, change, r"mqtt: the connection settings changed; reconnecting", ("mqtt",),
           "mqtt keepalive")
    env.check(env.m.log.search(r"as %s \(p\d, c\d, k45" % CID, since=mmark) is not None,
              "the broker sees the new keepalive of 45 s")


def check_tls_files(env):
    def change(cfg):
        cfg["xmpp"]["ca_file"] = env.ca2
    reload(env, change, r"xmpp: the connection settings changed; reconnecting", ("xmpp",),
           "xmpp ca_file")


def check_credentials(env):
    mmark = env.m.log.mark()

    def change(cfg):
        cfg["mqtt"]["username"] = "u2"
        cfg["mqtt"]["password"] = "pw-two"
    reload(env, change, r"mqtt: the connection settings changed; reconnecting", ("mqtt",),
           "mqtt credentials")
    env.check(env.m.log.search(r"as %s .*u'u2'" % CID, since=mmark) is not None,
              "the broker sees the bridge log in as u2")
    env.sub.drain()
    env.alice.send_message(BRIDGE, "home/after/set ON")
    m = env.sub.wait_message("home/after/set", timeout=15)
    env.check(m.payload == b"ON", "a command is published after all the reloads")


def check_final(env):
    rc = env.b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0", rc)


if __name__ == "__main__":
    harness.main([setup, check_rooms, check_devices, check_component, check_keepalive,
                  check_tls_files, check_credentials, check_final], time_limit=170)
