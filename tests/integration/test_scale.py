#!/usr/bin/python3
"""Several instances on one feed: bridges of one account, each with its own name
(bridge.instance), share the notify feed through an MQTT 5 shared subscription
(mqtt.share_group) on one mosquitto. A numbered QoS 1 stream must reach alice exactly once
across the instances; an instance SIGKILLed mid-stream and restarted with its spool loses
nothing, and what it repeats carries the XEP-0359 origin-id of the first copy. Commands to
the account's bare JID are published once, by the instance of the highest xmpp.priority,
and by the next one when that one stops. The suite ends with a table like the fault
suite's."""

import os
import re
import signal
import time

import harness

BRIDGE = "bridge@localhost"
GROUP = "feed"
DOMAIN = "iot.localhost"
SECRET = "component-secret-for-tests"
PLUG = "plug1@" + DOMAIN
RESULTS = []


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice"), modules=("offline",),
                            component=(DOMAIN, SECRET))
    env.m = env.broker(persistence=True)
    env.alice = env.xmpp(env.p, "alice")
    env.cmdsub = env.mqtt(env.m, client_id="scale-cmdsub", clean=False).subscribe("seq/cmd/#")
    env.instances = {}


def instance_config(env, name, priority=0, devices=False):
    over = {}
    if devices:
        over = {"xmpp": {"component": {"domain": DOMAIN, "secret": SECRET,
                                       "host": "127.0.0.1", "port": env.p.component_port}},
                "devices": [{"convention": "tasmota", "allow": ["alice@localhost"]}]}
    return harness.merge(env.bridge_config(env.p, env.m, {
        "bridge": {"instance": name, "spool": "%s/spool-%s" % (env.tmp, name)},
        "xmpp": {"priority": priority},
        "mqtt": {"share_group": GROUP},
        "notify": [{"topic": "seq/+", "to": ["alice@localhost"], "message": "{{payload}}",
                    "qos": 1}],
        "commands": [{"from": ["alice@localhost"], "allow": ["seq/cmd/#"], "qos": 1}],
    }), over)


def start_instance(env, name, priority=0, devices=False):
    """Starts (or restarts) instance name and waits until its shared subscription is in."""
    old = env.instances.get(name)
    if old is not None and old.alive():
        old.stop()
    mark = env.m.log.mark()
    b = env.bridge(instance_config(env, name, priority, devices))
    b.wait_ready(30)
    env.m.wait_subscribed("mxb-test-" + name, "$share/%s/seq/+" % GROUP, since=mark,
                          timeout=30)
    env.instances[name] = b
    return b


def stop_all(env):
    for b in env.instances.values():
        if b.alive():
            env.check(b.stop() == 0, "%s stops with SIGTERM -> exit 0" % b.name)
    env.instances = {}


def received(env, tag):
    """[(body, from, origin-id)] of alice's messages of this stream, with repeats."""
    out = []
    with env.alice._cond:
        for m in env.alice.all_messages:
            if m.frm.startswith(BRIDGE + "/") and m.body.startswith(tag + "-"):
                oid = re.search(r"<origin-id [^>]*id=\"([^\"]+)\"", m.xml) or \
                    re.search(r"<origin-id [^>]*id='([^']+)'", m.xml)
                out.append((m.body, m.frm, oid.group(1) if oid else None))
    return out


def stream(env, name, tag, n, rate, fault=None):
    """Streams n messages, runs fault() a third of the way, and counts what alice got."""
    pub = harness.SeqPublisher(env, env.m, tag, n, rate)
    pub.start()
    if fault:
        harness.wait_until(lambda: pub.sent >= n // 3, 60, what="a third of the stream sent")
        fault()
    pub.join(120)
    env.check(pub.error is None and pub.sent == n, "%s: every message published" % name,
              pub.error)
    want = {"%s-%d" % (tag, i) for i in range(1, n + 1)}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not want <= {b for b, _, _ in received(env, tag)}:
        time.sleep(0.2)
    # what is still on its way would show as a duplicate later: let it land first
    time.sleep(1.0)
    got = received(env, tag)
    bodies = [b for b, _, _ in got]
    lost = sorted(want - set(bodies), key=lambda s: int(s.rsplit("-", 1)[1]))
    dups = len(bodies) - len(set(bodies))
    by = {}
    for _, frm, _ in got:
        by[frm.split("/", 1)[1]] = by.get(frm.split("/", 1)[1], 0) + 1
    RESULTS.append((name, n, len(lost), dups, by))
    env.note("%s: sent %d, lost %d, duplicates %d, by instance %s" % (
        name, n, len(lost), dups, sorted(by.items())))
    return got, lost, dups, by


def check_two_instances(env):
    setup(env)
    for name in ("a", "b"):
        start_instance(env, name)
    got, lost, dups, by = stream(env, "2 instances", "two", 2000, 400)
    env.check(not lost, "2 instances: nothing lost", lost[:10])
    env.check(dups == 0, "2 instances: each message exactly once", dups)
    env.check(set(by) == {"bridge-a", "bridge-b"} and min(by.values()) >= 2000 // 10,
              "2 instances: both share the feed (each at least a tenth)", by)
    env.check(all(oid for _, _, oid in got) and len({oid for _, _, oid in got}) == len(got),
              "2 instances: every message has an origin-id of its own")
    env.verified("scale: shared subscription, 2 instances", "each message once")
    stop_all(env)


def check_three_instances_one_killed(env):
    setup(env)
    for name in ("a", "b", "c"):
        start_instance(env, name)
    kill = {}

    def fault():
        victim = env.instances["b"]
        victim.stop(signal.SIGKILL)
        kill["at"] = time.monotonic()
        time.sleep(1.0)
        start_instance(env, "b")
        kill["back"] = time.monotonic() - kill["at"]

    n = 3000
    got, lost, dups, by = stream(env, "3 instances, one SIGKILLed + restarted", "kill", n,
                                 300, fault)
    env.note("instance b back %.1f s after the kill" % kill.get("back", -1))
    env.check(not lost, "3 instances, one killed: nothing lost", lost[:10])
    env.check(set(by) == {"bridge-a", "bridge-b", "bridge-c"},
              "3 instances: all three share the feed", by)
    # A repeat is what the killed instance wrote but had not seen acknowledged: its spool
    # replays it, under the same origin-id, so a client can drop it.
    first = {}
    same = True
    for body, _, oid in got:
        if body in first and first[body] != oid:
            same = False
        first.setdefault(body, oid)
    env.check(same, "3 instances, one killed: a repeat carries the origin-id of the first copy")
    env.check(dups <= 300, "3 instances, one killed: repeats within the unacknowledged window "
              "(at most a second of the stream)", dups)
    env.verified("scale: shared subscription, 3 instances, one SIGKILLed",
                 "nothing lost; a repeat has the first copy's origin-id")
    stop_all(env)


def commands(env, tag, n):
    """alice sends n commands to the bare JID; returns the payloads wanted and those
    published (with repeats)."""
    for i in range(1, n + 1):
        env.alice.send_message(BRIDGE, "seq/cmd/%s %s-c-%d" % (tag, tag, i))
        time.sleep(0.02)
    want = {"%s-c-%d" % (tag, i) for i in range(1, n + 1)}
    got = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not want <= set(got):
        got += [m.payload.decode() for m in env.cmdsub.drain() if m.topic == "seq/cmd/" + tag]
        time.sleep(0.1)
    time.sleep(1.0)
    got += [m.payload.decode() for m in env.cmdsub.drain() if m.topic == "seq/cmd/" + tag]
    return want, got


def replies_from(env, tag):
    """The instances that said they published commands of tag."""
    out = set()
    with env.alice._cond:
        for m in env.alice.all_messages:
            if m.frm.startswith(BRIDGE + "/") and \
                    (m.body or "") == "published to 'seq/cmd/%s'" % tag:
                out.add(m.frm.split("/", 1)[1])
    return out


def taken_once(env, name, tag, n, instance, what):
    """alice sends n commands to the bare JID: each must be published once, and every
    reply come from instance."""
    want, got = commands(env, tag, n)
    lost = want - set(got)
    dups = len(got) - len(set(got))
    takers = replies_from(env, tag)
    RESULTS.append((name, n, len(lost), dups, {r: 0 for r in takers}))
    env.check(not lost and dups == 0, "%s: each command published exactly once" % what,
              (sorted(lost)[:5], dups))
    env.check(takers == {"bridge-" + instance}, "%s: instance %s took them" % (what, instance),
              takers)


def check_commands_once(env):
    setup(env)
    start_instance(env, "a", priority=3)
    start_instance(env, "b", priority=2)
    start_instance(env, "c", priority=1)
    n = 40
    taken_once(env, "commands to the bare JID, 3 instances", "prio", n, "a",
               "the highest priority")
    # The first one stops: the server gives the bare JID's messages to the next.
    bmark = env.instances["b"].mark()
    env.check(env.instances["a"].stop() == 0, "instance a stops with SIGTERM -> exit 0")
    env.instances["b"].wait_log(r"xmpp: instance 'bridge-a' of the share group is gone",
                                since=bmark, timeout=15)
    taken_once(env, "commands after the first instance stopped", "next", n, "b",
               "after a stop, the next priority")
    env.verified("scale: commands to the bare JID with instance priorities",
                 "each published once, by one instance")
    stop_all(env)


def check_broker_without_shared(env):
    """ejabberd's mod_mqtt has no shared subscriptions ($share/ drops the connection): the
    bridge says so at connect, subscribes no feed there, and stays up for the rest."""
    setup(env)
    b = env.bridge(instance_config(env, "a"))
    b.wait_ready(30)
    said = b.wait_log(r"error: mqtt: 'mqtt.share_group' needs shared subscriptions, which "
                      r"the broker does not have", timeout=10)
    env.check(b.text().count(said.group(0)) == 1,
              "the bridge says once that the broker has no shared subscriptions")
    pub = env.mqtt(env.m)
    pub.publish("seq/none", "none-1", qos=1)
    pub.disconnect()
    env.check(env.alice.poll_message(body="none-1", timeout=3) is None,
              "no feed is subscribed there")
    want, got = commands(env, "alone", 5)
    env.check(set(got) == want and len(got) == 5, "commands still go out, once each", got)
    env.check(b.alive(), "the bridge is up")
    env.verified("scale: shared subscription", "none on this broker: said at connect, the "
                 "feeds not subscribed")
    env.check(b.stop() == 0, "SIGTERM -> exit 0")


def check_commands_equal_priority(env):
    """The same priority everywhere: the server gives the bare JID's messages to every
    instance, and all but the one that sorts first leave them."""
    setup(env)
    b = start_instance(env, "b")
    a = start_instance(env, "a")
    # each has seen the other before the commands come
    a.wait_log(r"xmpp: instance 'bridge-b' of the share group is here", timeout=15)
    b.wait_log(r"xmpp: instance 'bridge-a' of the share group is here", timeout=15)
    # A person's client on the bridge's account, first by name: it is no instance.
    phone = harness.XmppClient(env, "bridge@localhost/0phone", env.p.accounts["bridge"],
                               env.p.port, env.pki.ca.cert).connect()
    env.check(a.absent(r"instance '0phone'", 1.0) is None,
              "a client of the account that is no instance is not counted as one")
    n = 40
    taken_once(env, "commands to the bare JID, 2 instances of one priority", "same", n, "a",
               "one priority, the resource that sorts first")
    env.verified("scale: commands to the bare JID, instances of one priority",
                 "each published once, by one instance")
    phone.disconnect()
    # A reload gives b the higher priority: the server gives it the commands from now on.
    with open(b.conf_path, "w") as f:
        f.write(harness.format_config(instance_config(env, "b", priority=5)))
    amark = a.mark()
    os.kill(b.pid, signal.SIGHUP)
    a.wait_log(r"xmpp: instance 'bridge-b' of the share group is here \(priority 5",
               since=amark, timeout=15)
    taken_once(env, "commands after a reload raised the other's priority", "raised", n,
               "b", "after a reload of the priority, the raised instance")
    stop_all(env)


def plug_presences(env, since):
    with env.alice._cond:
        return [p.type for p in env.alice.presences[since:] if p.frm.split("/")[0] == PLUG]


def check_devices_once(env):
    """Both instances see every device message (device subscriptions are not shared); the
    one that leads among those whose component is up tells each change once. When it
    stops, the next one takes over: the same presence again at most, never a flap."""
    setup(env)
    a = start_instance(env, "a", priority=2, devices=True)
    a.wait_log(r"component: connected as 'iot\.localhost'", timeout=30)
    a.wait_log(r"xmpp: this instance \('bridge-a'\) now tells the devices' presence",
               timeout=30)
    b = start_instance(env, "b", priority=1, devices=True)
    two = harness.xmpp_server_kind() == "ejabberd"
    if two:
        # ejabberd takes several connections of one component domain
        b.wait_log(r"component: connected as 'iot\.localhost'", timeout=30)
        a.wait_log(r"xmpp: instance 'bridge-b' of the share group is here \(priority 1, "
                   r"devices up\)", timeout=30)
    else:
        # Prosody takes one: the second waits, and says its devices are down
        a.wait_log(r"xmpp: instance 'bridge-b' of the share group is here \(priority 1, "
                   r"devices down\)", timeout=30)
    env.check(b.absent(r"now tells the devices' presence", 2.0) is None,
              "the instance of the lower priority does not tell the devices' presence")
    dev = env.mqtt(env.m)
    mark = env.alice.presence_mark()
    dev.publish("tele/plug1/LWT", "Online", retain=True)
    env.alice.wait_presence(PLUG, True, timeout=10, since=mark)
    time.sleep(2.0)
    seen = plug_presences(env, mark)
    env.check(seen == ["available"], "a device's change is told once, by one instance", seen)
    # The one that tells stops: the other takes over from the same state.
    mark = env.alice.presence_mark()
    bmark = b.mark()
    env.check(a.stop() == 0, "instance a stops with SIGTERM -> exit 0")
    b.wait_log(r"xmpp: this instance \('bridge-b'\) now tells the devices' presence",
               since=bmark, timeout=30)
    time.sleep(2.0)
    seen = plug_presences(env, mark)
    env.check("unavailable" not in seen and len(seen) <= 1,
              "the next instance takes over without a flap (the same presence at most once "
              "again)", seen)
    mark = env.alice.presence_mark()
    dev.publish("tele/plug1/LWT", "Offline", retain=True)
    env.alice.wait_presence(PLUG, False, timeout=10, since=mark)
    time.sleep(1.0)
    seen = plug_presences(env, mark)
    env.check(seen == ["unavailable"], "after the takeover each change is told once", seen)
    dev.publish("tele/plug1/LWT", "", retain=True)
    dev.disconnect()
    RESULTS.append(("device presence, 2 instances, the first stopped", 2, 0,
                    0, {"bridge-a": 1, "bridge-b": 1}))
    env.verified("scale: device presence from one instance at a time",
                 "each change once; taken over without a flap (%s)" % (
                     "both components connected" if two else "one component connection"))
    stop_all(env)


def check_table(env):
    print("\n| run | messages | lost | repeated | by instance |")
    print("|---|---:|---:|---:|---|")
    for name, n, lost, dups, by in RESULTS:
        print("| %s | %d | %d | %d | %s |" % (
            name, n, lost, dups,
            ", ".join("%s %d" % kv for kv in sorted(by.items())) if any(by.values())
            else ", ".join(sorted(by))))
    env.check(len(RESULTS) == 7, "every run is in the table", len(RESULTS))


if __name__ == "__main__":
    if harness.broker_kind() == "ejabberd":
        harness.main([setup, check_broker_without_shared], time_limit=120)
    else:
        harness.main([setup, check_two_instances, check_three_instances_one_killed,
                      check_commands_once, check_commands_equal_priority,
                      check_devices_once, check_table],
                     time_limit=170)
