#!/usr/bin/python3
"""What every producer hands the outbox while the broker is down reaches MQTT once it is
back: a device command (published after the reconnect, then answered with the device's
new state), and a contact's presence (only its latest value: one that changed twice while
the broker was down is published once, with the newer value, never the older one after
it). A persistent QoS 1 subscriber sees what the broker got while it was away."""

import time

import harness

BRIDGE = "bridge@localhost"
DOMAIN = "iot.localhost"
KITCHEN = "kitchen@" + DOMAIN
SECRET = "component-secret-for-tests"
TOPIC = "xmpp/presence"
ALICE_TOPIC = TOPIC + "/alice@localhost"


def setup(env):
    env.cport = harness.free_port()
    extra = """
component_ports = {{ {port} }}
component_interfaces = {{ "127.0.0.1" }}
Component "{domain}"
	component_secret = "{secret}"
""".format(port=env.cport, domain=DOMAIN, secret=SECRET)
    env.p = env.prosody(users=("bridge", "alice"), extra=extra)
    # persistence: the test subscriber's session and queue outlive the broker's restart
    env.m = env.mosquitto(persistence=True)
    env.alice = env.xmpp(env.p, "alice")
    env.dev = env.mqtt(env.m)  # plays the device
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.cport},
                 "presence_topic": TOPIC},
        "notify": [],
        "commands": [],
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 20}],
    })
    env.b.wait_log(r"component: connected as 'iot\.localhost'")
    env.alice.subscribe(KITCHEN)
    env.alice.wait_subscription(KITCHEN, ("to", "both"), timeout=10)
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    env.alice.wait_presence(KITCHEN, True, timeout=10)
    env.alice.subscribe(BRIDGE)
    env.alice.wait_subscription(BRIDGE, ("both",), timeout=10)
    sub = env.mqtt(env.m).subscribe(TOPIC + "/#")
    sub.wait_message(ALICE_TOPIC, lambda m: m.payload == b"available", timeout=10)
    sub.disconnect()


def persistent(env):
    return env.mqtt(env.m, client_id="test-outbox-persistent", version=3, clean=False)


def broker_down(env, during):
    """Stops the broker, runs during(), starts it again and waits for the bridge; returns
    a persistent QoS 1 subscriber (to cmnd/# and the presence topics) that was away
    meanwhile, and the bridge's log mark from the restart on."""
    sub = persistent(env)
    sub.subscribe("cmnd/#", qos=1)
    sub.subscribe(TOPIC + "/#", qos=1)
    time.sleep(0.5)
    sub.drain()  # the retained values
    sub.disconnect()
    mark = env.b.mark()
    env.m.stop()
    env.note("broker stopped")
    env.b.wait_log(r"mqtt: disconnected from", since=mark, timeout=15)
    try:
        during()
    finally:
        mark = env.b.mark()
        env.m.start()  # even when during() failed: the next case needs the broker
        env.note("broker started again")
    env.b.wait_log(r"mqtt: connected to", since=mark, timeout=30)
    return persistent(env), mark


def check_device_command_while_down(env):
    def during():
        env.alice.drain()
        env.alice.send_message(KITCHEN, "on")
        r = env.alice.wait_message(frm=KITCHEN, timeout=10)
        env.check(r.body == "queued for 'cmnd/kitchen/POWER': MQTT is down",
                  "a device command while the broker is down is queued, its sender told",
                  r.body)
    sub, mark = broker_down(env, during)
    cmd = sub.wait_message("cmnd/kitchen/POWER", timeout=10)
    env.check(cmd.payload == b"ON", "the device command is published once the broker is back",
              cmd.payload)
    sub.disconnect()
    env.b.wait_log(r"devices: 'alice@localhost' sent 'ON' to 'cmnd/kitchen/POWER'",
                   since=mark, timeout=5)
    env.dev = env.mqtt(env.m)
    env.dev.publish("stat/kitchen/POWER", "ON")
    r = env.alice.wait_message(frm=KITCHEN, timeout=10)
    env.check(r.body == "kitchen is ON",
              "the queued command is answered with the device's new state", r.body)
    c = harness.bridge_counters(env.b)
    env.check(c["commands mqtt queue dropped"] == 0, "nothing dropped from the MQTT queue", c)


def check_presence_while_down(env):
    def during():
        env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="away"))
        time.sleep(1.0)
        env.alice.call(lambda: env.alice.xmpp.send_presence(pshow="dnd"))
        time.sleep(1.0)
    sub, _ = broker_down(env, during)
    pres = sub.wait_message(ALICE_TOPIC, timeout=10)
    env.check(pres.payload == b"dnd",
              "a contact's presence changed while the broker was down reaches MQTT once it "
              "is back, with its latest value", pres.payload)
    time.sleep(1.5)
    later = [m.payload for m in sub.drain() if m.topic == ALICE_TOPIC]
    env.check(later == [], "and no older value after the newer one", later)
    sub.disconnect()
    env.check(env.mqtt_retained(env.m, ALICE_TOPIC) == b"dnd", "the retained value is dnd")


if __name__ == "__main__":
    harness.main([setup, check_device_command_while_down, check_presence_while_down],
                 time_limit=150)
