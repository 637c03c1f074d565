#!/usr/bin/python3
"""Devices as XMPP entities (XEP-0114 component): a Tasmota-style device appears, goes
online and offline as its LWT says, its POWER state shows as status; a contact subscribes,
sees the presence, sends "on" and the command topic receives ON; a stranger is refused;
a contact's presence shows up on MQTT; Prosody and broker restarts restore device
presence; on shutdown every device goes unavailable."""

import time

import harness

BRIDGE = "bridge@localhost"
DOMAIN = "iot.localhost"
KITCHEN = "kitchen@" + DOMAIN
SECRET = "component-secret-for-tests"


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory"), component=(DOMAIN, SECRET))
    env.cport = env.p.component_port
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.sub = env.mqtt(env.m).subscribe("#")
    env.dev = env.mqtt(env.m)  # plays the device
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.cport},
                 "presence_topic": "xmpp/presence"},
        "notify": [],
        "commands": [],
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 2}],
    })
    env.b.wait_log(r"component: connected as 'iot\.localhost'")


def check_device_appears(env):
    setup(env)
    mark = env.alice.presence_mark()
    env.alice.subscribe(KITCHEN)
    env.alice.wait_subscription(KITCHEN, ("to", "both"), timeout=10)
    env.check(True, "the subscription to a device not seen yet is accepted")
    env.alice.wait_presence(KITCHEN, False, timeout=10, since=mark)
    env.check(True, "a device never seen is unavailable")
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    p = env.alice.wait_presence(KITCHEN, True, timeout=10)
    env.check(p.type == "available", "LWT Online: the device is available")
    env.dev.publish("stat/kitchen/POWER", "ON")
    wait_status(env, KITCHEN, "ON", None)
    env.dev.publish("stat/kitchen/POWER", "OFF")
    wait_status(env, KITCHEN, "OFF", "away")
    env.check(True, "POWER is the status text; OFF shows as away")


def wait_status(env, jid, status, show, timeout=10):
    harness.wait_until(lambda: (lambda p: p is not None and p.type == "available" and
                                p.status == status and p.show == show)(
        env.alice.presence_of(jid)), timeout,
        what="presence of %s with status %r show %r (last %r)" % (
            jid, status, show, env.alice.presence_of(jid)))


def check_command(env):
    setup(env)
    env.sub.drain()
    env.alice.send_message(KITCHEN, "on")
    m = env.sub.wait_message("cmnd/kitchen/POWER", timeout=10)
    env.check(m.payload == b"ON", "'on' to the device publishes ON to cmnd/kitchen/POWER",
              m.payload)
    env.dev.publish("stat/kitchen/POWER", "ON")
    r = env.alice.wait_message(frm=KITCHEN, timeout=10)
    env.check(r.body == "kitchen is ON", "the reply is the new state", r.body)
    wait_status(env, KITCHEN, "ON", None)
    env.alice.send_message(KITCHEN, "toggle")
    env.sub.wait_message("cmnd/kitchen/POWER", lambda m: m.payload == b"TOGGLE")
    r = env.alice.wait_message(frm=KITCHEN, timeout=10)
    env.check(r.body == "sent 'TOGGLE' to 'cmnd/kitchen/POWER'; no new state within the "
              "timeout", "no state in time: a timeout note", r.body)


def check_disco_vcard(env):
    setup(env)
    r = env.alice.iq(KITCHEN, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    env.check(r.type == "result", "disco#info of a device answers", r)
    ident = r.xml.find(".//{http://jabber.org/protocol/disco#info}identity")
    env.check(ident is not None and ident.get("name") == "kitchen",
              "its identity names it", ident is not None and ident.attrib)
    r = env.alice.iq(KITCHEN, "get", "<vCard xmlns='vcard-temp'/>")
    fn = r.xml.find(".//{vcard-temp}FN") if r.xml is not None else None
    env.check(r.type == "result" and fn is not None and fn.text == "kitchen",
              "its vCard carries the friendly name", r)


def check_stranger(env):
    setup(env)
    mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    mark = env.b.mark()
    mallory.subscribe(KITCHEN)
    env.b.wait_log(r"devices: refused the subscription of 'mallory@localhost' to 'kitchen'",
                   since=mark)
    harness.wait_until(lambda: mallory.subscription(KITCHEN) in (None, "none"), 5,
                       what="mallory not subscribed")
    env.check(mallory.presence_of(KITCHEN) is None or
              mallory.presence_of(KITCHEN).type != "available",
              "a stranger never sees the device's presence")
    env.sub.drain()
    mallory.send_message(KITCHEN, "off")
    e = mallory.wait_message(frm=KITCHEN, mtype="error", timeout=10)
    env.check(e.error == "forbidden", "a stranger's command gets <forbidden/>", e.error)
    time.sleep(0.5)
    env.check(not [m for m in env.sub.drain() if m.topic.startswith("cmnd/")],
              "and publishes nothing")
    mallory.disconnect()


ITEMS = "http://jabber.org/protocol/disco#items"


def check_directory(env):
    setup(env)
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    env.dev.publish("stat/kitchen/POWER", "ON")
    wait_status(env, KITCHEN, "ON", None)
    env.dev.publish("tele/hall/LWT", "Online", retain=True)
    env.dev.publish("stat/hall/POWER", "OFF")
    env.alice.subscribe("hall@" + DOMAIN)
    env.alice.wait_subscription("hall@" + DOMAIN, ("to", "both"), timeout=10)
    wait_status(env, "hall@" + DOMAIN, "OFF", "away")
    # subscribed to but never heard of on MQTT: not a known device
    env.alice.subscribe("ghost@" + DOMAIN)
    env.alice.wait_subscription("ghost@" + DOMAIN, ("to", "both"), timeout=10)

    r = env.alice.iq(DOMAIN, "get", "<query xmlns='%s'/>" % ITEMS)
    env.check(r.type == "result", "disco#items on the domain answers", r)
    items = [(i.get("jid"), i.get("name")) for i in r.xml.iter("{%s}item" % ITEMS)]
    env.check(items == [("hall@" + DOMAIN, "hall"), (KITCHEN, "kitchen")],
              "it lists the known devices with their friendly names, not a device only "
              "subscribed to", items)
    r = env.alice.iq(DOMAIN, "get", "<query xmlns='%s' node='x'/>" % ITEMS)
    env.check(r.type == "error" and r.error == "item-not-found", "the domain has no nodes", r)
    r = env.alice.iq(DOMAIN, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = [f.get("var") for f in r.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
    env.check(ITEMS in feats, "disco#info of the domain announces disco#items", feats)
    r = env.alice.iq(KITCHEN, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = [f.get("var") for f in r.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
    env.check(ITEMS not in feats, "a device does not announce it", feats)

    mallory = env.xmpp(env.p, "mallory", auto_authorize=False)
    r = mallory.iq(DOMAIN, "get", "<query xmlns='%s'/>" % ITEMS)
    env.check(r.type == "result" and not list(r.xml.iter("{%s}item" % ITEMS)),
              "a stranger gets an empty list", r)

    env.alice.send_message(DOMAIN, "help")
    m = env.alice.wait_message(frm=DOMAIN, timeout=10)
    env.check(m.body.startswith("Devices of mqtt-xmpp-bridge, each a contact NAME@%s." % DOMAIN)
              and "'list'" in m.body and "'on', 'off', 'toggle'" in m.body,
              "'help' to the domain says what the domain and the devices understand", m.body)
    env.alice.send_message(DOMAIN, " List ")
    m = env.alice.wait_message(frm=DOMAIN, timeout=10)
    env.check(m.body == "2 devices:\nhall@%s: online (away), OFF\n%s: online, ON" % (
        DOMAIN, KITCHEN), "'list' gives the known devices with their state", m.body)
    env.alice.send_message(DOMAIN, "dance")
    m = env.alice.wait_message(frm=DOMAIN, timeout=10)
    env.check(m.body == "unknown request 'dance'; send 'help' or 'list'",
              "anything else says what is understood", m.body)

    mark = env.b.mark()
    mallory.send_message(DOMAIN, "list")
    e = mallory.wait_message(frm=DOMAIN, mtype="error", timeout=10)
    env.check(e.error == "forbidden", "a stranger's 'list' gets <forbidden/>", e.error)
    env.b.wait_log(r"devices: refused a message from 'mallory@localhost' to 'iot\.localhost'",
                   since=mark)
    env.check(mallory.no_message(1.0, frm=DOMAIN) is None, "and nothing else")
    mallory.disconnect()
    for local in ("ghost", "hall"):
        env.alice.send_raw("<presence to='%s@%s' type='unsubscribe'/>" % (local, DOMAIN))


def check_contact_presence(env):
    setup(env)
    env.alice.subscribe(BRIDGE)
    env.alice.wait_subscription(BRIDGE, ("both",), timeout=10)
    # Prosody tells the new subscriber "unavailable" first, then alice's presence.
    m = env.sub.wait_message("xmpp/presence/alice@localhost",
                             lambda m: m.payload == b"available", timeout=10)
    env.check(m.payload == b"available", "alice online shows on MQTT", m.payload)
    env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="away", pstatus="lunch"))
    m = env.sub.wait_message("xmpp/presence/alice@localhost",
                             lambda m: m.payload == b"away", timeout=10)
    env.check(m.payload == b"away", "alice away shows on MQTT", m.payload)
    env.check(env.mqtt_retained(env.m, "xmpp/presence/alice@localhost") == b"away",
              "retained, for automations that start later")
    env.alice.call(lambda: env.alice.xmpp.send_presence())


def check_offline(env):
    setup(env)
    env.dev.publish("tele/kitchen/LWT", "Offline", retain=True)
    env.alice.wait_presence(KITCHEN, False, timeout=10)
    env.check(True, "LWT Offline: the device is unavailable")
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    env.alice.wait_presence(KITCHEN, True, timeout=10)


def check_restarts(env):
    setup(env)
    env.p.restart()
    env.b.wait_log(r"component: connected as", count=2, timeout=30)
    env.alice = env.xmpp(env.p, "alice")
    env.alice.wait_presence(KITCHEN, True, timeout=15)
    env.check(True, "after a Prosody restart the device's presence is back")
    mark = env.b.mark()
    env.m.restart()
    env.b.wait_log(r"mqtt: connected to", since=mark, timeout=30)
    env.dev = env.mqtt(env.m)
    env.dev.publish("stat/kitchen/POWER", "OFF")
    wait_status(env, KITCHEN, "OFF", "away", timeout=15)
    env.check(True, "after a broker restart device state flows again")


def check_shutdown(env):
    setup(env)
    mark = env.alice.presence_mark()
    env.check(env.b.stop() == 0, "the bridge exits 0")
    env.alice.wait_presence(KITCHEN, False, timeout=10, since=mark)
    env.check(True, "on shutdown the device goes unavailable")


def check_presence_json(env):
    setup(env)
    import json
    sub = env.mqtt(env.m).subscribe("xmpp/json/#")  # the first subscriber lived before a broker restart
    b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"presence_topic": "xmpp/json", "presence_json": True},
        "notify": [], "commands": [{"from": ["alice@localhost"], "allow": ["x/#"]}],
    })
    env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="dnd", pstatus='in a "meeting"',
                                                        ppriority=5))
    m = sub.wait_message("xmpp/json/alice@localhost",
                             lambda m: b"dnd" in m.payload, timeout=10)
    v = json.loads(m.payload)
    env.check(v == {"show": "dnd", "status": 'in a "meeting"', "priority": 5},
              "presence_json publishes show, status and priority as JSON", v)
    env.check(b.stop() == 0, "bridge exits 0")


if __name__ == "__main__":
    harness.main([check_device_appears, check_command, check_disco_vcard, check_stranger,
                  check_directory, check_contact_presence, check_offline, check_restarts,
                  check_shutdown, check_presence_json],
                 time_limit=170)
