"""Simulated devices on MQTT, for tests and scripts/demo.py: each is a paho client that
answers its commands the way its firmware does."""

import json
import threading


class TasmotaPlug:
    """A Tasmota plug: a retained tele/NAME/LWT "Online"; cmnd/NAME/STATE answered with
    the whole state on stat/NAME/RESULT; cmnd/NAME/POWER (ON, OFF, TOGGLE, or empty to
    ask) answered on stat/NAME/RESULT and stat/NAME/POWER, as Tasmota does."""

    def __init__(self, env, broker, name, power="OFF"):
        self.name = name
        self.power = power
        self.lock = threading.Lock()
        self.asked = 0
        self.c = env.mqtt(broker)
        self.c.c.message_callback_add("cmnd/%s/#" % name, self._command)
        self.c.subscribe("cmnd/%s/#" % name)
        self.c.publish("tele/%s/LWT" % name, "Online", retain=True)

    def state(self):
        return json.dumps({"Time": "2026-12-01T10:00:00", "Uptime": "0T01:00:00",
                           "POWER": self.power, "Wifi": {"AP": 1, "RSSI": 80}})

    def set_power(self, power):
        """Switched by hand: the relay changes, nothing is published."""
        with self.lock:
            self.power = power

    def _command(self, client, userdata, msg):
        what = msg.topic.rsplit("/", 1)[1].upper()
        word = msg.payload.decode("utf-8", "replace").strip().upper()
        with self.lock:
            if what == "STATE":
                self.asked += 1
                client.publish("stat/%s/RESULT" % self.name, self.state())
            elif what == "POWER":
                if word in ("ON", "OFF"):
                    self.power = word
                elif word == "TOGGLE":
                    self.power = "OFF" if self.power == "ON" else "ON"
                client.publish("stat/%s/RESULT" % self.name, json.dumps({"POWER": self.power}))
                client.publish("stat/%s/POWER" % self.name, self.power)


class ZigbeeLight:
    """A Zigbee2MQTT light: a retained availability; zigbee2mqtt/NAME/get answered with
    its state on zigbee2mqtt/NAME."""

    def __init__(self, env, broker, name, state="OFF"):
        self.name = name
        self.state = state
        self.c = env.mqtt(broker)
        self.c.c.message_callback_add("zigbee2mqtt/%s/get" % name, self._get)
        self.c.subscribe("zigbee2mqtt/%s/get" % name)
        self.c.publish("zigbee2mqtt/%s/availability" % name, '{"state":"online"}', retain=True)

    def _get(self, client, userdata, msg):
        try:
            asked = json.loads(msg.payload)
        except ValueError:
            return
        if isinstance(asked, dict) and "state" in asked:
            client.publish("zigbee2mqtt/" + self.name,
                           json.dumps({"state": self.state, "brightness": 254,
                                       "linkquality": 120}))
