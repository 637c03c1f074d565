#!/usr/bin/python3
"""Home Assistant MQTT discovery for contacts (xmpp.presence_discovery): a contact whose
presence the bridge publishes gets a retained binary_sensor config under the prefix, read
here by a fresh real MQTT subscriber, whose state_topic is the contact's presence topic and
whose template turns the published values into ON and OFF; a stranger gets none; a reload
that turns discovery off publishes an empty retained config, so Home Assistant removes the
entity."""

import json
import os
import re
import signal

import harness

BRIDGE = "bridge@localhost"
TOPIC = "xmpp/presence"
PREFIX = "homeassistant"
CONFIG_RE = r"homeassistant/binary_sensor/mqtt_xmpp_bridge_alice_localhost_[0-9a-f]{8}/config"


def setup(env):
    if getattr(env, "b", None):
        return
    env.p, env.m = env.standard_servers()
    env.sub = env.mqtt(env.m).subscribe(PREFIX + "/#")
    env.cfg = env.bridge_config(env.p, env.m, over={
        "xmpp": {"presence_topic": TOPIC, "presence_discovery": PREFIX},
    })
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"presence_topic": TOPIC, "presence_discovery": PREFIX},
    })
    env.alice = env.xmpp(env.p, "alice")
    env.alice.subscribe(BRIDGE)
    env.alice.wait_subscription(BRIDGE, ("both",), timeout=10)


def retained_configs(env, timeout=3.0):
    """Every retained config under the prefix, as a fresh subscriber sees them."""
    c = env.mqtt(env.m)
    try:
        c.subscribe(PREFIX + "/#")
        out = {}
        while True:
            m = c.poll_message(PREFIX + "/#", lambda m: m.retain, timeout)
            if m is None:
                return out
            out[m.topic] = m.payload
            timeout = 0.5
    finally:
        c.disconnect()


def check_config_published(env):
    setup(env)
    m = env.sub.wait_message(PREFIX + "/#", lambda m: re.fullmatch(CONFIG_RE, m.topic),
                             timeout=10)
    env.note("config on %s" % m.topic)
    env.topic = m.topic
    configs = retained_configs(env)
    env.check(m.topic in configs, "the config is retained: a fresh subscriber gets it",
              sorted(configs))
    cfg = json.loads(configs[m.topic])
    env.check(cfg["state_topic"] == TOPIC + "/alice@localhost",
              "its state_topic is alice's presence topic", cfg)
    env.check(cfg["name"] == "alice@localhost", "its name is her JID", cfg)
    env.check(cfg["payload_on"] == "ON" and cfg["payload_off"] == "OFF",
              "payload_on and payload_off", cfg)
    env.check(cfg["unique_id"] == m.topic.split("/")[2], "unique_id is the object id", cfg)
    env.check(cfg["device"]["identifiers"] == [cfg["unique_id"]] and
              cfg["device"]["name"] == "alice@localhost", "a device per contact", cfg)
    env.check(cfg["device_class"] == "presence", "a presence sensor", cfg)
    env.check(cfg["availability_topic"] == "mxb/status", "the bridge's status topic tells "
              "Home Assistant whether the value is current", cfg)
    env.check("unavailable" in cfg["value_template"] and "OFF" in cfg["value_template"],
              "the template maps unavailable to OFF", cfg["value_template"])
    state = env.mqtt_retained(env.m, TOPIC + "/alice@localhost")
    env.check(state == b"available", "the state topic it names holds her presence", state)


def check_only_once(env):
    setup(env)
    env.sub.drain()
    env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="away"))
    harness.wait_until(lambda: env.mqtt_retained(env.m, TOPIC + "/alice@localhost") == b"away",
                       10, what="alice away on MQTT")
    env.check(env.sub.poll_message(PREFIX + "/#", None, 1.0) is None,
              "a presence change publishes no second config")


def check_stranger(env):
    setup(env)
    mallory = env.xmpp(env.p, "mallory")
    mallory.call(lambda: mallory.xmpp.send_presence(pto=BRIDGE + "/bridge", pshow="dnd"))
    env.b.wait_log(r"presence: dropped the presence of 'mallory@localhost'", timeout=10)
    configs = retained_configs(env)
    env.check(not [t for t in configs if "mallory" in t],
              "a stranger is not announced", sorted(configs))


def check_removed_on_reload(env):
    setup(env)
    cfg = harness.merge(env.cfg, {})
    del cfg["xmpp"]["presence_discovery"]
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(cfg))
    mark = env.b.mark()
    env.sub.drain()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"presence: removing the discovery configs of 1 contacts", since=mark)
    m = env.sub.wait_message(env.topic, lambda m: m.payload == b"", timeout=10)
    env.check(m.payload == b"", "turning discovery off publishes an empty config")
    configs = retained_configs(env)
    env.check(env.topic not in configs, "and no retained config is left", sorted(configs))
    env.check(env.b.alive(), "the bridge kept running")
    env.check(env.b.stop() == 0, "and exits 0 (sanitized: without a leak)")


if __name__ == "__main__":
    harness.main([check_config_published, check_only_once, check_stranger,
                  check_removed_on_reload], time_limit=150)
