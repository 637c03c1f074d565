#!/usr/bin/python3
"""An XMPP server that accepts and then says nothing stalls nothing else: the connection
attempt runs beside the loop. Two such servers, on loopback: one accepts TCP and never
answers (STARTTLS: the stream header waits for an answer), one reads the TLS ClientHello
and never answers (direct TLS: the handshake, which libstrophe makes blocking and without
a timeout, waits). During the stall the MQTT side goes on: notifications are received and
counted, the stats topic is published on time, SIGUSR1 is answered at once. The attempt
fails after xmpp.connect_timeout with a log line, the backoff continues (the listener sees
the next attempt), and a SIGTERM stops the bridge promptly while an attempt waits."""

import json
import signal
import socket
import threading
import time

import harness

CONNECT_TIMEOUT = 4
INTERVAL = 5
TOPIC = "mxb/stats"


class Mute(threading.Thread):
    """Accepts every connection and never writes; reads (and counts) what comes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = []  # (monotonic time, first bytes read)
        self.conns = []
        self.stop = False

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            c.settimeout(1.0)
            try:
                first = c.recv(4096)
            except OSError:
                first = b""
            self.accepted.append((time.monotonic(), first))
            self.conns.append(c)

    def close(self):
        self.stop = True
        self.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


class FakeServer:
    """What env.bridge_config reads of an XMPP server."""

    def __init__(self, port):
        self.port = port
        self.accounts = {"bridge": "unused"}


def setup(env):
    env.m = env.broker()
    env.sub = env.mqtt(env.m).subscribe("#")
    env.pub = env.mqtt(env.m)


def stall(env, tls, kind):
    mute = Mute()
    mute.start()
    cfg = env.bridge_config(FakeServer(mute.port), env.m, {
        "xmpp": {"tls": tls, "connect_timeout": CONNECT_TIMEOUT, "reconnect_max": 1},
        "mqtt": {"stats_topic": TOPIC, "stats_interval": INTERVAL},
    })
    b = env.bridge(cfg)
    try:
        harness.wait_until(lambda: mute.accepted, 10, what="%s: the bridge connects" % kind)
        t_accept = mute.accepted[0][0]
        first = mute.accepted[0][1]
        if tls == "direct":
            env.check(first[:1] == b"\x16", "%s: the server read a TLS ClientHello" % kind,
                      first[:8])
        else:
            env.check(b"<stream:stream" in first or b"<?xml" in first,
                      "%s: the server read the stream header" % kind, first[:60])
        b.wait_log(r"mqtt: connected to", timeout=15)

        # The loop turns while the attempt waits: counters at once, MQTT in and out.
        mark = b.mark()
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGUSR1)
        b.wait_log(r"bridge: commands published \d+", since=mark, timeout=2)
        env.check(time.monotonic() - t0 < 1.0, "%s: SIGUSR1 answered during the stall" % kind,
                  "%.2f s" % (time.monotonic() - t0))
        env.sub.drain()
        for i in range(5):
            env.pub.publish("home/k%d/alarm" % i, "smoke", qos=1)

        def counted(m):
            try:
                s = json.loads(m.payload)
            except ValueError:
                return False
            return s.get("mqtt_received", 0) >= 5 and s.get("xmpp") == "down"
        m = env.sub.wait_message(TOPIC, counted, INTERVAL * 2 + 3)
        env.check(m is not None, "%s: notifications received and stats published on MQTT "
                  "while the XMPP attempt waits" % kind)
        env.check(len(mute.accepted) == 1 or mute.accepted[1][0] - t_accept >= CONNECT_TIMEOUT,
                  "%s: no second attempt before the first was given up" % kind)

        line = b.wait_log(r"xmpp: no session with 127\.0\.0\.1:%d within %d s; giving up "
                          r"this attempt" % (mute.port, CONNECT_TIMEOUT), timeout=15)
        env.check(bool(line), "%s: the attempt is given up after connect_timeout, said once "
                  "at the error level" % kind)
        b.wait_log(r"xmpp: reconnecting in", timeout=5)
        harness.wait_until(lambda: len(mute.accepted) >= 2, 15,
                           what="%s: the backoff tries again" % kind)
        gap = mute.accepted[1][0] - t_accept
        env.check(CONNECT_TIMEOUT <= gap < CONNECT_TIMEOUT + 5,
                  "%s: the next attempt after the timeout and the backoff" % kind,
                  "%.1f s" % gap)
        env.verified("xmpp: " + kind, "the loop goes on; given up after connect_timeout")

        # A stop while an attempt waits is prompt.
        t0 = time.monotonic()
        rc = b.stop(signal.SIGTERM, 10)
        env.check(time.monotonic() - t0 < 5, "%s: SIGTERM during an attempt stops the "
                  "bridge promptly" % kind, "%.1f s" % (time.monotonic() - t0))
        env.check(rc == 0, "%s: clean exit" % kind, rc)
    finally:
        if b.proc.poll() is None:
            b.stop(signal.SIGKILL)
        mute.close()


def check_silent_tcp(env):
    setup(env)
    stall(env, "starttls", "a server that accepts TCP and never answers")


def check_silent_tls(env):
    stall(env, "direct", "a server that reads the ClientHello and never answers")


if __name__ == "__main__":
    harness.main([check_silent_tcp, check_silent_tls], time_limit=120)
