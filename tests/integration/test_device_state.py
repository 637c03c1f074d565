#!/usr/bin/python3
"""A device's state after a restart: Tasmota retains its LWT but not its POWER, so the
bridge asks each device seen online for its state (an empty cmnd/NAME/STATE, answered on
stat/NAME/RESULT; {"state": ""} on zigbee2mqtt/NAME/get) at start and after every MQTT
reconnect, and takes Tasmota's periodic tele/NAME/STATE and tele/NAME/SENSOR. The devices
are paho clients that answer their commands as the firmware does. A device answers
'status' and 'help' itself."""

import json

import devicesim
import harness

DOMAIN = "iot.localhost"
SECRET = "component-secret-for-tests"
PLUG = "plug@" + DOMAIN
LAMP = "lamp@" + DOMAIN
TH = "th@" + DOMAIN


RULES = [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 2},
         {"convention": "zigbee2mqtt", "allow": ["alice@localhost"]}]


def start(env, rules=RULES):
    b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.p.component_port}},
        "notify": [], "commands": [], "devices": rules,
    })
    b.wait_log(r"component: connected as 'iot\.localhost'")
    return b


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice"), component=(DOMAIN, SECRET))
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.sub = env.mqtt(env.m).subscribe("#")
    env.plug = devicesim.TasmotaPlug(env, env.m, "plug", "ON")
    env.lamp = devicesim.ZigbeeLight(env, env.m, "lamp", "ON")
    env.b = start(env)
    for jid in (PLUG, LAMP, TH):
        env.alice.subscribe(jid)
        env.alice.wait_subscription(jid, ("to", "both"), timeout=10)


def wait_status(env, jid, status, show=None, timeout=10):
    harness.wait_until(lambda: (lambda p: p is not None and p.type == "available" and
                                p.status == status and p.show == show)(
        env.alice.presence_of(jid)), timeout,
        what="presence of %s with status %r show %r (last %r)" % (
            jid, status, show, env.alice.presence_of(jid)))


def check_asked_at_start(env):
    setup(env)
    env.b.wait_log(r"devices: asked 'plug' for its state on 'cmnd/plug/STATE'")
    env.b.wait_log(r"devices: asked 'lamp' for its state on 'zigbee2mqtt/lamp/get'")
    wait_status(env, PLUG, "ON")
    env.check(True, "Tasmota: the answer on stat/plug/RESULT is the status")
    wait_status(env, LAMP, "ON")
    env.check(True, "Zigbee2MQTT: the answer to zigbee2mqtt/lamp/get is the status")
    asks = [m for m in env.sub.drain() if m.topic in ("cmnd/plug/STATE", "zigbee2mqtt/lamp/get")]
    env.check(sorted((m.topic, m.payload) for m in asks) ==
              [("cmnd/plug/STATE", b""), ("zigbee2mqtt/lamp/get", b'{"state": ""}')],
              "each device asked once, as its firmware expects",
              [(m.topic, m.payload) for m in asks])


def check_restart(env):
    setup(env)
    env.plug.set_power("OFF")  # switched by hand while the bridge is away: nothing published
    env.check(env.b.stop() == 0, "the bridge exits 0")
    env.alice.wait_presence(PLUG, False, timeout=10)
    mark = env.alice.presence_mark()
    env.b = start(env)
    env.alice.wait_presence(PLUG, True, timeout=15, since=mark)
    wait_status(env, PLUG, "OFF", "away", timeout=15)
    env.check(True, "after a bridge restart the roster shows the state the plug has now")


def check_reconnect(env):
    setup(env)
    mark = env.b.mark()
    env.m.restart()
    env.b.wait_log(r"mqtt: connected to", since=mark, timeout=30)
    # the device's own client reconnects too, and publishes its LWT again
    with env.plug.lock:
        env.plug.power = "ON"
    env.plug = devicesim.TasmotaPlug(env, env.m, "plug", "ON")
    env.sub = env.mqtt(env.m).subscribe("#")
    env.b.wait_log(r"devices: asked 'plug' for its state on 'cmnd/plug/STATE'", since=mark,
                   timeout=15)
    wait_status(env, PLUG, "ON", timeout=15)
    env.check(True, "after an MQTT reconnect the device is asked again")


def check_came_back(env):
    setup(env)
    env.plug.c.publish("tele/plug/LWT", "Offline", retain=True)
    env.alice.wait_presence(PLUG, False, timeout=10)
    env.plug.set_power("OFF")  # it rebooted with the relay off, and says nothing of it
    mark = env.b.mark()
    env.plug.c.publish("tele/plug/LWT", "Online", retain=True)
    env.b.wait_log(r"devices: asked 'plug' for its state on 'cmnd/plug/STATE'", since=mark)
    wait_status(env, PLUG, "OFF", "away")
    env.check(True, "a device back online is asked again: the roster shows its state now")


def check_telemetry(env):
    setup(env)
    env.plug.c.publish("tele/plug/STATE", json.dumps({"Time": "t", "POWER": "OFF"}))
    wait_status(env, PLUG, "OFF", "away")
    env.check(True, "tele/plug/STATE, every TelePeriod, is a state")
    env.plug.c.publish("tele/plug/SENSOR", json.dumps({"Time": "t", "ENERGY": {"Power": 3}}))
    env.plug.c.publish("tele/plug/STATE", json.dumps({"Time": "t", "POWER": "ON"}))
    wait_status(env, PLUG, "ON")
    env.check(True, "a plug's energy readings do not hide its switch")
    th = env.mqtt(env.m)
    th.publish("tele/th/LWT", "Online", retain=True)
    th.publish("tele/th/SENSOR", '{"Time":"2026-12-01T10:00:00","AM2301":{"Temperature":21.5,'
               '"Humidity":40.2},"TempUnit":"C"}')
    wait_status(env, TH, "AM2301 Temperature 21.5, Humidity 40.2")
    env.check(True, "a sensor without a switch shows its readings")


def check_device_words(env):
    setup(env)
    env.sub.drain()
    env.alice.send_message(PLUG, "status")
    r = env.alice.wait_message(frm=PLUG, timeout=10)
    env.check(r.body == "plug is online; state: ON", "'status' is answered by the device",
              r.body)
    env.alice.send_message(PLUG, " Help ")
    r = env.alice.wait_message(frm=PLUG, timeout=10)
    env.check(r.body == "plug takes on, off, toggle or any other payload, published to "
              "'cmnd/plug/POWER'; 'status' tells its state, 'help' this",
              "'help' is answered by the device", r.body)
    env.alice.send_message(TH, "status")
    r = env.alice.wait_message(frm=TH, timeout=10)
    env.check(r.body == "th is online; state: AM2301 Temperature 21.5, Humidity 40.2",
              "a sensor's status", r.body)
    env.alice.send_message(PLUG, "off")
    r = env.alice.wait_message(frm=PLUG, timeout=10)
    env.check(r.body == "plug is OFF", "a real command still goes to the device", r.body)
    # The device's answer can overtake the test's own copy of the command: wait for it.
    off = env.sub.poll_message("cmnd/plug/POWER", lambda m: m.payload == b"OFF", timeout=10)
    sent = [(m.topic, m.payload) for m in env.sub.drain() if m.topic.startswith("cmnd/")]
    env.check(off is not None and sent == [], "'status' and 'help' were not published",
              sent)


def check_ask_off(env):
    setup(env)
    env.check(env.b.stop() == 0, "the bridge exits 0")
    env.sub.drain()
    rules = [dict(r, ask_state=False) for r in RULES]
    env.b = start(env, rules)
    env.b.wait_log(r"devices: 'plug' is online")
    env.check(env.b.absent(r"devices: asked", 1.5) is None, "ask_state = false: nobody is asked")
    asks = [m.topic for m in env.sub.drain() if m.topic in ("cmnd/plug/STATE",
                                                           "zigbee2mqtt/lamp/get")]
    env.check(asks == [], "and nothing is published", asks)
    env.check(env.b.stop() == 0, "the bridge exits 0")


if __name__ == "__main__":
    harness.main([check_asked_at_start, check_restart, check_reconnect, check_came_back,
                  check_telemetry,
                  check_device_words, check_ask_off], time_limit=150)
