"""The MQTT broker: a throwaway mosquitto on loopback ports."""

import os
import re
import signal

from .procs import (LOOPBACK, TestFailure, free_port, port_accepts, port_owner_pids, run,
                    spawn, tail, terminate, wait_until)


class Mosquitto:
    """mosquitto -c FILE with a plain and a TLS listener on 127.0.0.1.
    cert: a PKI Cert for the TLS listener. users: {name: password} -> password_file."""

    def __init__(self, env, cert, users=None, name="mosquitto", extra="", anonymous=True,
                 persistence=False):
        self.env = env
        self.name = name
        self.port = free_port()
        self.tls_port = free_port()
        self.cert = cert
        self.conf_path = os.path.join(env.tmp, name + ".conf")
        self.log = env.register_log(os.path.join(env.tmp, name + ".log"), name,
                                    lambda: self.proc)
        self.proc = None
        lines = [
            "user root",
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if anonymous else "false"),
            "persistence %s" % ("true" if persistence else "false"),
            "persistence_location %s/" % env.tmp,
            "persistence_file %s.db" % name,
            "log_dest stderr",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
            "max_queued_messages 10000",
        ]
        if users:
            pwfile = os.path.join(env.tmp, name + ".passwd")
            first = True
            for user, pw in users.items():
                run(["mosquitto_passwd", "-b"] + (["-c"] if first else []) + [pwfile, user, pw])
                first = False
            lines.append("password_file " + pwfile)
        lines += ["listener %d %s" % (self.port, LOOPBACK),
                  "listener %d %s" % (self.tls_port, LOOPBACK),
                  "cafile " + env.pki.ca.cert,
                  "certfile " + cert.cert,
                  "keyfile " + cert.key]
        if extra:
            lines.append(extra)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10):
        self.proc = spawn(["mosquitto", "-c", self.conf_path], self.name, self.log.path)
        pid = self.proc.pid

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s" % (
                    self.name, self.proc.returncode, tail(self.log.path)))
            return (port_accepts(self.port) and port_accepts(self.tls_port) and
                    pid in port_owner_pids(self.port) and pid in port_owner_pids(self.tls_port))
        wait_until(ready, timeout, what="%s listening on %d/%d" % (self.name, self.port,
                                                                  self.tls_port))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        rc = terminate(self.proc, sig)
        # the ports must be free again before a restart can bind them
        wait_until(lambda: not port_owner_pids(self.port) and not port_owner_pids(self.tls_port),
                   10, what="%s ports released" % self.name)
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_subscribed(self, client_id, topic_filter, since=0, timeout=15):
        """Waits until the broker has processed a SUBSCRIBE from client_id that includes
        topic_filter and sent the SUBACK (so publishes from now on are routed to it)."""
        def check():
            seen_filter = False
            in_sub = False
            for line in self.log.text(since).splitlines():
                if line.endswith("Received SUBSCRIBE from " + client_id):
                    in_sub, seen_filter = True, False
                elif in_sub and re.search(r"\t%s \(QoS \d\)$" % re.escape(topic_filter), line):
                    seen_filter = True
                elif in_sub and line.endswith("Sending SUBACK to " + client_id):
                    if seen_filter:
                        return True
                    in_sub = False
            return False
        wait_until(check, timeout, interval=0.02,
                   what="mosquitto: SUBACK to %r for %r" % (client_id, topic_filter))
