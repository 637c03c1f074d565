"""ejabberd 23.01's own MQTT broker, mod_mqtt, as the tests run it: an ejabberd node of its
own (see ejabberd.py) with a plain and a TLS MQTT listener, where MQTT users are XMPP
accounts. It looks like Mosquitto to a test (port, tls_port, log, start, stop, restart,
alive, wait_subscribed) and adds what mosquitto does not need: a login for every client."""

import re
import secrets
import signal

from .ejabberd import Ejabberd
from .procs import wait_until

# What every test client logs in as unless it says otherwise (an XMPP account).
CLIENT_USER = "mqtt-client"


class EjabberdBroker:
    """mod_mqtt on an ejabberd of its own. users: {name: password} of accounts to create
    besides "bridge" and CLIENT_USER (random passwords); anonymous is ignored (mod_mqtt
    always checks the login like an XMPP one). options: mod_mqtt's own (session_expiry,
    max_queue, access_publish, ...). The bridge's login is bridge_login(), a test client's
    default one client_login()."""

    kind = "ejabberd"

    def __init__(self, env, cert, users=None, name="ejabberd-mqtt", options=None):
        self.env = env
        self.name = name
        # mod_mqtt logs every packet at debug level only: wait_subscribed reads them
        self.server = Ejabberd(env, cert, name=name, mqtt=dict(options or {}),
                               loglevel="debug")
        self.port = self.server.mqtt_port
        self.tls_port = self.server.mqtt_tls_port
        self.log = self.server.log
        self.users = {"bridge": secrets.token_urlsafe(12),
                      CLIENT_USER: secrets.token_urlsafe(12)}
        self.users.update(users or {})
        for user, pw in self.users.items():
            self.server.register(user, pw)
        env.servers.append(self)

    @property
    def proc(self):
        return self.server.proc

    def bridge_login(self):
        return "bridge", self.users["bridge"]

    def client_login(self):
        return CLIENT_USER, self.users[CLIENT_USER]

    def start(self, timeout=None):
        self.server.start(timeout)
        return self

    def stop(self, sig=signal.SIGTERM):
        return self.server.stop(sig)

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.server.alive()

    def packets(self, since=0):
        """[(session pid, "got" or "send", packet text)] from mod_mqtt's debug log."""
        out = []
        for rec in re.split(r"\n(?=\d{4}-\d\d-\d\d )", self.log.text(since)):
            m = re.match(r"\S+ \S+ \[debug\] <([\d.]+)>@mod_mqtt_session:\S+ (Got|Send) MQTT "
                         r"packet:\n(.*)", rec, re.S)
            if m:
                out.append((m.group(1), m.group(2).lower(), m.group(3)))
        return out

    def wait_subscribed(self, client_id, topic_filter, since=0, timeout=15):
        """Waits until mod_mqtt sent a SUBACK for a SUBSCRIBE with topic_filter from the
        session of client_id (its debug log: "Got MQTT packet: #subscribe{...}" and
        "Send MQTT packet: #suback{...}", each tagged with the session's pid)."""
        def check():
            pids = {pid for pid, way, pkt in self.packets()
                    if way == "got" and pkt.startswith("#connect{") and
                    ('client_id = <<"%s">>' % client_id) in pkt}
            pending = set()
            for pid, way, pkt in self.packets(since):
                if pid not in pids:
                    continue
                if way == "got" and pkt.startswith("#subscribe{") and \
                        ('{<<"%s">>' % topic_filter) in pkt:
                    pending.add(pid)
                elif way == "send" and pkt.startswith("#suback{") and pid in pending:
                    return True
            return False
        wait_until(check, timeout, interval=0.05,
                   what="%s: SUBACK to %r for %r" % (self.name, client_id, topic_filter))
