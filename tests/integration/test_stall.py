#!/usr/bin/python3
"""A server that stalls an attempt delays only that attempt: one that accepts TCP and then
says nothing, one that stops in the middle of the STARTTLS handshake, one that stops in
the middle of a direct TLS handshake, and a resolver that never answers. The MQTT side keeps acknowledging meanwhile, the
attempt fails after xmpp.connect_timeout with a log line, the backoff tries again, and
SIGTERM still stops the bridge at once."""

import os
import re
import shutil
import socket
import threading
import time

import harness

TIMEOUT = 6  # xmpp.connect_timeout of these bridges, seconds

STREAM = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' id='stall' from='localhost' "
          b"version='1.0'>")
FEATURES = (b"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'>"
            b"<required/></starttls></stream:features>")
PROCEED = b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"


class Staller:
    """A loopback listener playing a server that stalls at `stage`: "tcp" (never writes),
    "starttls" (answers up to <proceed/>, then reads the ClientHello and stalls) or
    "tls" (reads the ClientHello of a direct TLS client and stalls). It records each
    connection and whether a TLS ClientHello came, and holds the sockets open."""

    def __init__(self, stage):
        self.stage = stage
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.hellos = 0
        self.conns = []
        self.lock = threading.Lock()
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accepted += 1
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _read_until(self, c, marker):
        data = b""
        while marker not in data:
            chunk = c.recv(4096)
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self, c):
        try:
            if self.stage == "starttls":
                if self._read_until(c, b"<stream:stream") is None:
                    return
                c.sendall(STREAM + FEATURES)
                if self._read_until(c, b"starttls") is None:
                    return
                c.sendall(PROCEED)
            if self.stage in ("starttls", "tls"):
                first = c.recv(1)
                if first == b"\x16":  # a TLS handshake record: the ClientHello
                    with self.lock:
                        self.hellos += 1
            # and then nothing, until the client gives up
            while c.recv(4096):
                pass
        except OSError:
            pass

    def close(self):
        self.stopping = True
        self.sock.close()
        with self.lock:
            for c in self.conns:
                c.close()


def setup(env):
    env.m = env.mosquitto()


def stalled_bridge(env, staller, tls):
    cfg = env.bridge_config(_NoServer(staller.port), env.m, {
        "xmpp": {"tls": tls, "connect_timeout": TIMEOUT, "reconnect_max": 1}})
    b = env.bridge(cfg)
    b.wait_log(r"mqtt: connected to ", timeout=15)
    return b


class _NoServer:
    """What bridge_config reads of an XMPP server: its port and accounts."""

    def __init__(self, port):
        self.port = port
        self.accounts = {"bridge": "stall-password"}


def one_stall(env, stage, tls):
    s = Staller(stage)
    try:
        b = stalled_bridge(env, s, tls)
        line = r"xmpp: no session with 127\.0\.0\.1:%d within %d s \(xmpp\.connect_timeout\)" % (
            s.port, TIMEOUT)
        harness.wait_until(lambda: s.accepted >= 1, 10, what="the bridge connects")
        if stage != "tcp":
            harness.wait_until(lambda: s.hellos >= 1, 10, what="a TLS ClientHello")
            env.check(True, "%s: the bridge's TLS handshake is under way and stalled" % stage)
        c = env.mqtt(env.m)
        try:
            c.publish("home/stall/alarm", "while stalled", qos=1, timeout=3.0)
            stalled = re.search(line, b.text()) is None
            env.check(stalled, "%s: a QoS 1 publish is acknowledged while the attempt is "
                      "still stalled" % stage)
        finally:
            c.disconnect()
        m = b.wait_log(line, timeout=TIMEOUT + 10)
        env.check(True, "%s: the attempt fails with %r" % (stage, harness.line_of(m)))
        harness.wait_until(lambda: s.accepted >= 2, 15, what="the next attempt")
        env.check(True, "%s: the backoff tries again (%d connections)" % (stage, s.accepted))
        if stage != "tcp":
            harness.wait_until(lambda: s.hellos >= 2, 10, what="the second ClientHello")
        rc = b.stop(timeout=5)
        env.check(rc == 0, "%s: SIGTERM during a stalled attempt exits 0" % stage, rc)
    finally:
        s.close()


def check_silent_server(env):
    one_stall(env, "tcp", "starttls")


def check_starttls_stall(env):
    one_stall(env, "starttls", "starttls")


def check_direct_tls_stall(env):
    one_stall(env, "tls", "direct")


def check_hung_resolver(env):
    """A resolver that never answers: the bridge, in a mount namespace of its own whose
    /etc/resolv.conf names a loopback server that reads queries and says nothing, looks up
    the XMPP host on the attempt's thread. MQTT goes on, the attempt fails after
    connect_timeout, and while the lookup has not returned the next attempts wait for it."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        env.note("not root, or no unshare: the hung resolver is not tried here")
        return
    dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dns.bind(("127.0.0.2", 53))
    except OSError as e:
        env.note("cannot listen on 127.0.0.2:53 (%s): the hung resolver is not tried" % e)
        dns.close()
        return
    queries = []

    def swallow():
        while True:
            try:
                queries.append(dns.recvfrom(512)[0])
            except OSError:
                return
    threading.Thread(target=swallow, daemon=True).start()
    resolv = os.path.join(env.tmp, "resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver 127.0.0.2\noptions timeout:5 attempts:3\n")
    host = "xmpp.stall.example"
    try:
        cfg = env.bridge_config(_NoServer(5222), env.m, {
            "xmpp": {"host": host, "connect_timeout": TIMEOUT, "reconnect_max": 1}})
        b = env.bridge(cfg, start=False)
        b.proc = harness.spawn(
            ["unshare", "-m", "sh", "-c",
             'mount --bind "$1" /etc/resolv.conf && exec "$2" -c "$3"', "sh", resolv,
             harness.bridge_binary(), b.conf_path], b.name, b.log.path)
        b.wait_log(r"mqtt: connected to ", timeout=15)
        harness.wait_until(lambda: queries, 10, what="the bridge's query to the resolver")
        env.check(True, "the bridge asked the resolver for %s" % host)
        line = r"xmpp: no session with %s:5222 within %d s \(xmpp\.connect_timeout\)" % (
            re.escape(host), TIMEOUT)
        c = env.mqtt(env.m)
        try:
            c.publish("home/dns/alarm", "while resolving", qos=1, timeout=3.0)
            env.check(re.search(line, b.text()) is None,
                      "a QoS 1 publish is acknowledged while the lookup hangs")
        finally:
            c.disconnect()
        m = b.wait_log(line, timeout=TIMEOUT + 10)
        env.check(True, "the attempt fails with %r" % harness.line_of(m))
        m = b.wait_log(r"xmpp: the name lookup of the last attempt has not returned; not "
                       r"trying again yet", timeout=15)
        env.check(True, "the backoff goes on, waiting for the lookup: %r" % harness.line_of(m))
        rc = b.stop(timeout=10)
        env.check(rc == 0, "SIGTERM while the lookup hangs exits 0", rc)
    finally:
        dns.close()


if __name__ == "__main__":
    harness.main([setup, check_silent_server, check_starttls_stall, check_direct_tls_stall,
                  check_hung_resolver])
