"""The MQTT test client: paho-mqtt behind a synchronous API."""

import secrets
import ssl
import threading
import time
from collections import namedtuple

from .procs import LOOPBACK, TestFailure

MqttMessage = namedtuple("MqttMessage", "topic payload qos retain")


class MqttClient:
    """A synchronous wrapper over paho-mqtt 1.6 (MQTT 5 by default), TLS verified against
    ca_file when given. Received messages are queued; wait_message consumes."""

    def __init__(self, env, port, ca_file=None, client_id=None, version=5, username=None,
                 password=None, clean=True):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.env = env
        self.port = port
        self.client_id = client_id or "test-" + secrets.token_hex(4)
        self.version = version
        proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        self.clean = clean
        if version == 5:
            self.c = mqtt.Client(client_id=self.client_id, protocol=proto)
        else:
            self.c = mqtt.Client(client_id=self.client_id, clean_session=clean, protocol=proto)
        if ca_file:
            self.c.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if username:
            self.c.username_pw_set(username, password)
        self._cond = threading.Condition()
        self.messages = []
        self.connected = None
        self.connect_rc = None
        self.subacks = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect
        env.mqtt_clients.append(self)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self._cond:
            self.connect_rc = rc
            self.connected = (rc == 0)
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self._cond:
            self.connected = False
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._cond:
            self.subacks[mid] = granted
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg):
        m = MqttMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        with self._cond:
            self.messages.append(m)
            self._cond.notify_all()

    def connect(self, timeout=10.0):
        """Connects (MQTT 5: clean start, or a session that lives 300 s when clean=False)."""
        if self.version == 5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            props = None
            if not self.clean:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 300
            self.c.connect(LOOPBACK, self.port, keepalive=30, clean_start=self.clean,
                           properties=props)
        else:
            self.c.connect(LOOPBACK, self.port, keepalive=30)
        self.c.loop_start()
        with self._cond:
            self._cond.wait_for(lambda: self.connected is not None, timeout)
            if not self.connected:
                raise TestFailure("mqtt client %s: connect to %d failed (rc %r)" % (
                    self.client_id, self.port, self.connect_rc))
        return self

    def subscribe(self, topic, qos=1, timeout=10.0):
        rc, mid = self.c.subscribe(topic, qos)
        if rc != 0:
            raise TestFailure("mqtt subscribe %r: rc %d" % (topic, rc))
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self.subacks, timeout):
                raise TestFailure("mqtt subscribe %r: no SUBACK" % topic)
        return self

    def publish(self, topic, payload, qos=1, retain=False, timeout=10.0):
        if isinstance(payload, str):
            payload = payload.encode()
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TestFailure("mqtt publish to %r not acknowledged" % topic)

    def poll_message(self, topic=None, predicate=None, timeout=10.0):
        def ok(m):
            if topic is not None and not self.mqtt.topic_matches_sub(topic, m.topic):
                return False
            return predicate is None or predicate(m)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, m in enumerate(self.messages):
                    if ok(m):
                        del self.messages[i]
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_message(self, topic=None, predicate=None, timeout=10.0):
        """Returns (and consumes) the first message whose topic matches the filter topic
        and satisfies predicate; raises TestFailure on timeout."""
        m = self.poll_message(topic, predicate, timeout)
        if m is None:
            with self._cond:
                got = [(x.topic, x.payload[:60]) for x in self.messages]
            raise TestFailure("mqtt client %s: no matching message on %r within %.1f s; "
                              "unconsumed: %r" % (self.client_id, topic, timeout, got))
        return m

    def drain(self):
        with self._cond:
            msgs, self.messages = self.messages, []
        return msgs

    def disconnect(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        try:
            self.c.loop_stop()
        except Exception:
            pass
