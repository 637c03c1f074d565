#!/usr/bin/python3
"""Ad-hoc commands (XEP-0050) on the bridge's account, driven by slixmpp's xep_0050: an
allowed contact lists the commands, runs "status" (the stats topic's figures as a result
form) and "devices" (a table of the devices and their state), switches a device from a
form and a real MQTT subscriber sees the publish; a stranger is refused listing and
running, and disco#info advertises the commands feature."""

import harness

BRIDGE = "bridge@localhost/bridge"
DOMAIN = "iot.localhost"
SECRET = "component-secret-for-tests"
NS = "http://jabber.org/protocol/commands"


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice", "mallory"), component=(DOMAIN, SECRET))
    env.m = env.broker()
    env.sub = env.mqtt(env.m).subscribe("cmnd/#")
    env.dev = env.mqtt(env.m)  # plays the devices
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.p.component_port}},
        "mqtt": {"stats_topic": "mxb/stats", "stats_interval": 60},
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 2}],
    })
    env.b.wait_log(r"component: connected as 'iot\.localhost'")
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    env.dev.publish("stat/kitchen/POWER", "OFF")
    env.dev.publish("tele/hall/LWT", "Offline", retain=True)
    env.b.wait_log(r"devices: 'hall' is offline")
    env.alice = adhoc_client(env, "alice")
    env.mallory = adhoc_client(env, "mallory")


def adhoc_client(env, user):
    c = env.xmpp(env.p, user)
    c.call(lambda: c.xmpp.register_plugin("xep_0050"))
    return c


def command(c, node, action="execute", payload=None, sessionid=None):
    """Runs one stage; returns the <command/> stanza of the answer, or the IqError."""
    from slixmpp.exceptions import IqError

    async def go():
        try:
            iq = await c.xmpp["xep_0050"].send_command(
                BRIDGE, node, action=action, payload=payload, sessionid=sessionid,
                timeout=10)
            return iq["command"]
        except IqError as e:
            return e
    return c.call(go, timeout=20)


def fields(cmd):
    return cmd["form"].get_values()


def check_list(env):
    setup(env)

    async def go():
        return await env.alice.xmpp["xep_0050"].get_commands(BRIDGE, timeout=10)
    iq = env.alice.call(go, timeout=20)
    items = {i[1]: i[2] for i in iq["disco_items"]["items"]}
    env.check(set(items) == {"status", "devices", "switch-1"},
              "alice lists status, devices and one switch per device rule", items)
    env.check(items["switch-1"] == "Switch a device", "the switch has a name", items)
    r = env.alice.iq(BRIDGE, "get", "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = [f.get("var") for f in r.xml.iter("{http://jabber.org/protocol/disco#info}feature")]
    env.check(r.type == "result" and NS in feats, "disco#info advertises %s" % NS, feats)


def check_status(env):
    setup(env)
    cmd = command(env.alice, "status")
    env.check(not isinstance(cmd, Exception), "status runs", cmd)
    env.check(cmd["status"] == "completed" and cmd["form"]["type"] == "result",
              "status completes with a result form", cmd)
    f = fields(cmd)
    env.check(f.get("xmpp") == "up" and f.get("mqtt") == "up" and f.get("component") == "up",
              "the form says both sides and the component are up", f)
    env.check(f.get("devices_known") == "2", "and knows two devices", f)
    for k in ("mqtt_received", "xmpp_sent", "commands_published", "uptime_s",
              "reconnects_mqtt", "queued_mqtt"):
        env.check(k in f, "the form has %s, as the stats topic" % k, sorted(f))
    import json
    stats = json.loads(env.mqtt_retained(env.m, "mxb/stats"))
    env.check(set(stats) == set(f), "the same figures as the stats topic",
              set(stats) ^ set(f))


def check_devices(env):
    setup(env)
    cmd = command(env.alice, "devices")
    env.check(not isinstance(cmd, Exception) and cmd["status"] == "completed",
              "devices runs", cmd)
    form = cmd["form"]
    rows = {i["device"]: i for i in form.get_items()}
    env.check(set(rows) == {"kitchen", "hall"}, "both devices are listed", rows)
    env.check(rows["kitchen"]["availability"] == "online" and
              rows["kitchen"]["state"] == "OFF", "kitchen: online, OFF", rows["kitchen"])
    env.check(rows["hall"]["availability"] == "offline", "hall: offline", rows["hall"])


def check_switch(env):
    setup(env)
    first = command(env.alice, "switch-1")
    env.check(not isinstance(first, Exception) and first["status"] == "executing",
              "the switch starts with a form", first)
    form = first["form"]
    env.check(form["type"] == "form", "of type form", form)
    dev = form.get_fields()["device"]
    env.check(dev["type"] == "list-single" and
              sorted(o["value"] for o in dev["options"]) == ["hall", "kitchen"],
              "a list-single of the devices", dev)
    act = form.get_fields()["action"]
    env.check(sorted(o["value"] for o in act["options"]) == ["off", "on", "toggle"],
              "a list-single of on, off, toggle", act)
    reply = env.alice.xmpp["xep_0004"].make_form("submit")
    reply.add_field(var="device", value="kitchen")
    reply.add_field(var="action", value="on")
    env.sub.drain()
    done = command(env.alice, "switch-1", action="complete", payload=reply,
                   sessionid=first["sessionid"])
    m = env.sub.wait_message("cmnd/kitchen/POWER", timeout=10)
    env.check(m.payload == b"ON", "the submitted form publishes ON to cmnd/kitchen/POWER",
              m.payload)
    env.check(not isinstance(done, Exception) and done["status"] == "completed",
              "the command completes", done)
    notes = done["notes"]
    env.check(notes == [("info", "Published 'ON' to 'cmnd/kitchen/POWER'")],
              "its note says what was published, once the broker acked it", notes)

    bad = env.alice.xmpp["xep_0004"].make_form("submit")
    bad.add_field(var="device", value="nosuch")
    bad.add_field(var="action", value="on")
    done = command(env.alice, "switch-1", action="complete", payload=bad)
    env.check(not isinstance(done, Exception) and done["notes"] and
              done["notes"][0][0] == "error", "an unknown device is an error note", done)


def check_switch_mqtt_down(env):
    setup(env)
    mark = env.b.mark()
    env.m.stop()
    env.b.wait_log(r"mqtt: disconnected from", since=mark, timeout=15)
    form = env.alice.xmpp["xep_0004"].make_form("submit")
    form.add_field(var="device", value="kitchen")
    form.add_field(var="action", value="off")
    done = command(env.alice, "switch-1", action="complete", payload=form)
    env.check(not isinstance(done, Exception) and done["status"] == "completed" and
              done["notes"] == [("warn", "Queued 'OFF' for 'cmnd/kitchen/POWER': MQTT is down")],
              "with MQTT down the note says the switch is queued", done)
    env.m.start()
    env.b.wait_log(r"adhoc: 'alice@localhost' sent 'OFF' to 'cmnd/kitchen/POWER'", since=mark,
                   timeout=30)
    env.check(True, "and it is published once MQTT is back")
    env.sub = env.mqtt(env.m).subscribe("cmnd/#")
    env.dev = env.mqtt(env.m)


def check_stranger(env):
    setup(env)
    from slixmpp.exceptions import IqError

    async def go():
        try:
            await env.mallory.xmpp["xep_0050"].get_commands(BRIDGE, timeout=10)
            return None
        except IqError as e:
            return e.iq["error"]["condition"]
    env.check(env.mallory.call(go, timeout=20) == "forbidden",
              "a stranger listing the commands gets <forbidden/>")
    for node in ("status", "devices", "switch-1"):
        r = command(env.mallory, node)
        env.check(isinstance(r, IqError) and r.iq["error"]["condition"] == "forbidden",
                  "a stranger running %s gets <forbidden/>" % node, r)
    reply = env.mallory.xmpp["xep_0004"].make_form("submit")
    reply.add_field(var="device", value="kitchen")
    reply.add_field(var="action", value="off")
    env.sub.drain()
    r = command(env.mallory, "switch-1", action="complete", payload=reply)
    env.check(isinstance(r, IqError) and r.iq["error"]["condition"] == "forbidden",
              "a stranger's submitted switch is forbidden", r)
    env.check(env.sub.poll_message("cmnd/kitchen/POWER", None, 1.0) is None,
              "and publishes nothing")


def check_bounds(env):
    setup(env)
    r = env.alice.iq(BRIDGE, "set", "<command xmlns='%s' node='%s'/>" % (NS, "x" * 200))
    env.check(r.error == "item-not-found", "an over-long node is item-not-found", r)
    r = env.alice.iq(BRIDGE, "set", "<command xmlns='%s' node='switch-99'/>" % NS)
    env.check(r.error == "item-not-found", "a switch of no rule is item-not-found", r)
    many = "".join("<field var='f%d'><value>v</value></field>" % i for i in range(20))
    r = env.alice.iq(BRIDGE, "set", "<command xmlns='%s' node='switch-1' action='complete'>"
                     "<x xmlns='jabber:x:data' type='submit'>%s</x></command>" % (NS, many))
    env.check(r.error == "bad-request", "a form of too many fields is a bad request", r)
    r = env.alice.iq(BRIDGE, "set", "<command xmlns='%s' node='status' action='dance'/>" % NS)
    env.check(r.error == "bad-request", "an unknown action is a bad request", r)
    env.check(env.b.alive(), "the bridge is still running")


def check_exit(env):
    setup(env)
    env.check(env.b.stop() == 0, "the bridge exits 0 (and, sanitized, without a leak)")


if __name__ == "__main__":
    harness.main([check_list, check_status, check_devices, check_switch,
                  check_switch_mqtt_down, check_stranger,
                  check_bounds, check_exit], time_limit=170)
