#!/usr/bin/python3
"""The systemd notify protocol (Type=notify), against a socket of the test's own in place of
systemd's: READY=1 once both sides are up, with a STATUS= line naming each side; the
watchdog fed from the loop while it turns; RELOADING=1 then READY=1 around a SIGHUP;
STOPPING=1 at SIGTERM; STATUS= following a side that goes down; and a loop held in a TLS
handshake that never ends stops feeding the watchdog, so systemd would restart it."""

import os
import signal
import socket
import threading
import time

import harness


class NotifySocket:
    """A datagram socket like systemd's NOTIFY_SOCKET; keeps every message with its time."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                for line in data.decode().split("\n"):
                    if line:
                        self.messages.append((time.monotonic(), line))

    def lines(self, prefix=None, since=0.0):
        with self.lock:
            return [(t, m) for t, m in self.messages
                    if t >= since and (prefix is None or m.startswith(prefix))]

    def wait(self, prefix, since=0.0, timeout=15.0, pred=None):
        def found():
            return [m for t, m in self.lines(prefix, since) if pred is None or pred(m)]
        harness.wait_until(lambda: found(), timeout, what="%s on the notify socket (got %r)"
                           % (prefix, [m for _, m in self.lines(since=since)][-8:]))
        return found()[0]

    def close(self):
        self.stopped = True
        self.sock.close()


def setup(env):
    env.p = env.prosody()
    env.m = env.mosquitto()
    env.ns = NotifySocket(os.path.join(env.tmp, "notify.sock"))
    cfg = env.bridge_config(env.p, env.m)
    env.b = env.bridge(cfg, extra_env={"NOTIFY_SOCKET": env.ns.path, "WATCHDOG_USEC": "1000000"})
    env.b.wait_ready(30)


def check_ready(env):
    ready = env.ns.wait("READY=1")
    env.check(ready == "READY=1", "READY=1 once both sides are up")
    status = [m for _, m in env.ns.lines("STATUS=")]
    env.check(status and status[-1].startswith("STATUS=mqtt up, xmpp up, component off;"),
              "STATUS= names each side", status[-1:])
    env.check("systemd: watchdog every 500 ms" in env.b.text(),
              "the watchdog is fed twice per WATCHDOG_USEC")


def check_watchdog(env):
    t0 = time.monotonic()
    time.sleep(3)
    beats = [t for t, _ in env.ns.lines("WATCHDOG=1", since=t0)]
    env.check(len(beats) >= 4, "WATCHDOG=1 about every 500 ms while idle", len(beats))
    gaps = [b - a for a, b in zip(beats, beats[1:])]
    env.check(gaps and max(gaps) < 0.9, "no gap near the 1 s watchdog", gaps)


def check_reload(env):
    t0 = time.monotonic()
    os.kill(env.b.pid, signal.SIGHUP)
    env.ns.wait("RELOADING=1", since=t0)
    t1 = [t for t, _ in env.ns.lines("RELOADING=1", since=t0)][0]
    env.ns.wait("READY=1", since=t1)
    env.check(True, "RELOADING=1, then READY=1 once the reload is done")


def check_status_follows(env):
    t0 = time.monotonic()
    env.m.stop()
    env.ns.wait("STATUS=", since=t0, pred=lambda m: m.startswith("STATUS=mqtt down"))
    env.check(True, "STATUS= says when MQTT is down")
    env.m.start()
    env.ns.wait("STATUS=", since=t0, pred=lambda m: m.startswith("STATUS=mqtt up"))
    env.check(True, "and when it is up again")


def check_stopping(env):
    t0 = time.monotonic()
    rc = env.b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0", rc)
    env.ns.wait("STOPPING=1", since=t0)
    env.check(True, "STOPPING=1 at SIGTERM")


def check_stalled_handshake(env):
    """A server that accepts and never answers a TLS handshake: the handshake runs off the
    loop, which goes on feeding the watchdog. A loop that stops turning (the process
    stopped) stops feeding it, and feeds it again when it turns again."""
    lsock = socket.socket()
    lsock.bind((harness.LOOPBACK, 0))
    lsock.listen(4)
    conns = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
                conns.append(c)  # held open, never written to
            except socket.timeout:
                continue
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    ns = NotifySocket(os.path.join(env.tmp, "notify2.sock"))
    try:
        cfg = env.bridge_config(env.p, env.m, over={
            "xmpp": {"port": lsock.getsockname()[1], "tls": "direct", "connect_timeout": 60}})
        b = env.bridge(cfg, extra_env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "1000000"})
        harness.wait_until(lambda: conns, 15, what="the bridge connects to the silent server")
        t0 = time.monotonic()
        time.sleep(3)
        beats = [t for t, _ in ns.lines("WATCHDOG=1", since=t0)]
        env.check(len(beats) >= 3, "the watchdog is fed while a TLS handshake stalls",
                  len(beats))
        os.kill(b.pid, signal.SIGSTOP)
        try:
            time.sleep(0.3)
            t1 = time.monotonic()
            time.sleep(3)
            beats = [t for t, _ in ns.lines("WATCHDOG=1", since=t1)]
            env.check(len(beats) == 0, "a loop that does not turn does not feed it", len(beats))
        finally:
            os.kill(b.pid, signal.SIGCONT)
        t2 = time.monotonic()
        harness.wait_until(lambda: ns.lines("WATCHDOG=1", since=t2), 5,
                           what="the watchdog fed again")
        env.check(True, "turning again, it feeds it again")
        b.stop(signal.SIGKILL)
    finally:
        stop.set()
        lsock.close()
        for c in conns:
            c.close()
        ns.close()


def check_cleanup(env):
    env.ns.close()


if __name__ == "__main__":
    harness.main([setup, check_ready, check_watchdog, check_reload, check_status_follows,
                  check_stopping, check_stalled_handshake, check_cleanup], time_limit=120)
