#!/usr/bin/python3
"""Devices from Home Assistant MQTT discovery: the retained configs of a switch (as a
hand-written MQTT entity announces it) and of a light (as Zigbee2MQTT announces it, schema
json, two availability topics) make two roster contacts; their state topics give the
status, their availability topics the presence; 'on' and 'off' publish to their
command_topic as the config says; an empty config removes a device; a config that is
not one is refused with a log line."""

import json
import os
import signal

import harness

DOMAIN = "iot.localhost"
SECRET = "component-secret-for-tests"
COFFEE = "coffee@" + DOMAIN
LAMP = "hall_lamp@" + DOMAIN

SWITCH_TOPIC = "homeassistant/switch/coffee/config"
SWITCH = {"name": "Coffee machine", "unique_id": "coffee", "state_topic": "home/coffee/state",
          "command_topic": "home/coffee/set", "availability_topic": "home/coffee/available",
          "payload_on": "1", "payload_off": "0"}
LIGHT_TOPIC = "homeassistant/light/0x00158d0001a2b3c4/light/config"
LIGHT = {
    "availability": [
        {"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"},
        {"topic": "zigbee2mqtt/hall_lamp/availability",
         "value_template": "{{ value_json.state }}"}],
    "availability_mode": "all", "brightness": True, "brightness_scale": 254,
    "command_topic": "zigbee2mqtt/hall_lamp/set",
    "device": {"identifiers": ["zigbee2mqtt_0x00158d0001a2b3c4"], "manufacturer": "IKEA",
               "model": "TRADFRI bulb E27 WW 806 lumen (LED1836G9)", "name": "hall_lamp",
               "via_device": "zigbee2mqtt_bridge_0x00124b0022334455"},
    "name": None, "object_id": "hall_lamp",
    "origin": {"name": "Zigbee2MQTT", "sw": "1.35.1", "url": "https://www.zigbee2mqtt.io"},
    "schema": "json", "state_topic": "zigbee2mqtt/hall_lamp",
    "supported_color_modes": ["brightness"],
    "unique_id": "0x00158d0001a2b3c4_light_zigbee2mqtt"}


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice"), component=(DOMAIN, SECRET))
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.sub = env.mqtt(env.m).subscribe("#")
    env.dev = env.mqtt(env.m)
    # Announced before the bridge runs, retained, as Home Assistant devices do.
    env.dev.publish(SWITCH_TOPIC, json.dumps(SWITCH), retain=True)
    env.dev.publish(LIGHT_TOPIC, json.dumps(LIGHT), retain=True)
    env.dev.publish("home/coffee/available", "online", retain=True)
    env.dev.publish("zigbee2mqtt/bridge/state", '{"state":"online"}', retain=True)
    env.dev.publish("zigbee2mqtt/hall_lamp/availability", '{"state":"online"}', retain=True)
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.p.component_port}},
        "notify": [], "commands": [],
        "devices": [{"convention": "homeassistant", "allow": ["alice@localhost"],
                     "timeout": 3}],
    })
    env.b.wait_log(r"component: connected as 'iot\.localhost'")


def wait_status(env, jid, status, show=None, timeout=10):
    harness.wait_until(lambda: (lambda p: p is not None and p.type == "available" and
                                p.status == status and p.show == show)(
        env.alice.presence_of(jid)), timeout,
        what="presence of %s with status %r show %r (last %r)" % (
            jid, status, show, env.alice.presence_of(jid)))


def check_discovered(env):
    setup(env)
    env.b.wait_log(r"devices: 'coffee' discovered on '%s' \(state 'home/coffee/state', "
                   r"command 'home/coffee/set', 1 availability topics\)" % SWITCH_TOPIC)
    env.b.wait_log(r"devices: 'hall_lamp' discovered on '%s' \(state "
                   r"'zigbee2mqtt/hall_lamp', command 'zigbee2mqtt/hall_lamp/set', 2 "
                   r"availability topics\)" % LIGHT_TOPIC)
    for jid in (COFFEE, LAMP):
        env.alice.subscribe(jid)
        env.alice.wait_subscription(jid, ("to", "both"), timeout=10)
        env.alice.wait_presence(jid, True, timeout=10)
    env.check(True, "both devices are roster contacts, online as their availability says")
    env.dev.publish("home/coffee/state", "0")
    wait_status(env, COFFEE, "0", "away")
    env.dev.publish("zigbee2mqtt/hall_lamp", json.dumps(
        {"brightness": 200, "state": "ON", "linkquality": 87}))
    wait_status(env, LAMP, "ON")
    env.check(True, "the state topics give the status; payload_off shows as away")
    r = env.alice.iq(DOMAIN, "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    items = sorted((i.get("jid"), i.get("name")) for i in
                   r.xml.iter("{http://jabber.org/protocol/disco#items}item"))
    env.check(items == [(COFFEE, "Coffee machine"), (LAMP, "hall_lamp")],
              "disco#items names them as their configs do", items)


def check_commands(env):
    setup(env)
    env.sub.drain()
    env.alice.send_message(COFFEE, "on")
    m = env.sub.wait_message("home/coffee/set", timeout=10)
    env.check(m.payload == b"1", "'on' publishes payload_on to the command_topic", m.payload)
    env.dev.publish("home/coffee/state", "1")
    r = env.alice.wait_message(frm=COFFEE, timeout=10)
    env.check(r.body == "coffee is 1", "the reply is the new state", r.body)
    env.alice.send_message(LAMP, "off")
    m = env.sub.wait_message("zigbee2mqtt/hall_lamp/set", timeout=10)
    env.check(json.loads(m.payload) == {"state": "OFF"},
              "schema json: {\"state\": \"OFF\"} to zigbee2mqtt/hall_lamp/set", m.payload)
    env.dev.publish("zigbee2mqtt/hall_lamp", json.dumps({"brightness": 200, "state": "OFF"}))
    r = env.alice.wait_message(frm=LAMP, timeout=10)
    env.check(r.body == "hall_lamp is OFF", "the light's reply", r.body)
    env.alice.send_message(LAMP, "help")
    r = env.alice.wait_message(frm=LAMP, timeout=10)
    env.check(r.body == "hall_lamp takes on, off, toggle or any other payload, published to "
              "'zigbee2mqtt/hall_lamp/set'; 'status' tells its state, 'help' this",
              "'help' names the command_topic", r.body)


def check_availability_all(env):
    setup(env)
    env.dev.publish("zigbee2mqtt/hall_lamp/availability", '{"state":"offline"}', retain=True)
    env.alice.wait_presence(LAMP, False, timeout=10)
    env.check(True, "availability_mode all: one topic offline is offline")
    env.dev.publish("zigbee2mqtt/hall_lamp/availability", '{"state":"online"}', retain=True)
    env.alice.wait_presence(LAMP, True, timeout=10)
    env.check(True, "and online again when all say so")


def check_reload(env):
    """A reload that changes the rule: the discovered devices keep their topics."""
    setup(env)
    cfg = env.bridge_config(env.p, env.m, {
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.p.component_port}},
        "notify": [], "commands": [],
        "devices": [{"convention": "homeassistant", "timeout": 3,
                     "allow": ["alice@localhost", "bob@localhost"]}],
    })
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(cfg))
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"reload: \d+ notify and \d+ command routes", since=mark)
    env.dev.publish("zigbee2mqtt/hall_lamp", json.dumps({"brightness": 9, "state": "ON"}))
    wait_status(env, LAMP, "ON")
    env.check(env.b.alive(), "after a reload the light's state still comes")


def check_removed_and_refused(env):
    setup(env)
    mark = env.b.mark()
    env.dev.publish("homeassistant/switch/bad/config", json.dumps({"name": "bad"}), retain=True)
    env.b.wait_log(r"warn: devices: refused the discovery config on "
                   r"'homeassistant/switch/bad/config': neither a state_topic nor an "
                   r"availability topic$", since=mark)
    env.dev.publish("homeassistant/switch/bad2/config", "{not json", retain=True)
    env.b.wait_log(r"warn: devices: refused the discovery config on "
                   r"'homeassistant/switch/bad2/config': the config is not a JSON object$",
                   since=mark)
    env.check(True, "configs that are none are refused with a reason")
    env.dev.publish(SWITCH_TOPIC, "", retain=True)
    env.b.wait_log(r"devices: 'coffee' was removed on '%s'" % SWITCH_TOPIC, since=mark)
    env.alice.wait_presence(COFFEE, False, timeout=10)
    env.check(True, "an empty config removes the device: it goes offline")
    for t in ("homeassistant/switch/bad/config", "homeassistant/switch/bad2/config",
              LIGHT_TOPIC):
        env.dev.publish(t, "", retain=True)
    env.check(env.b.stop() == 0, "the bridge exits 0")


if __name__ == "__main__":
    harness.main([check_discovered, check_commands, check_availability_all, check_reload,
                  check_removed_and_refused], time_limit=90)
