#!/usr/bin/python3
"""The harness itself, without the bridge: servers start, stop and restart on their ports,
accounts work, two XMPP clients talk over verified STARTTLS, MQTT pub/sub over verified
TLS, and the TLS negative cases fail for the test clients as they should for the bridge.
The XMPP server is the one MXB_XMPP_SERVER names (prosody by default, or ejabberd); the
server factory itself is checked with every kind installed, and the package offers every
name test files use."""

import os
import ssl
import socket

import harness


def check_pki(env):
    pki = env.pki
    for cert, ca in ((pki.server, pki.ca), (pki.wrong_host, pki.ca),
                     (pki.other_server, pki.other_ca)):
        r = harness.run(["openssl", "verify", "-CAfile", ca.cert, cert.cert], check=False)
        env.check(r.returncode == 0, "%s verifies against %s" % (cert.cert, ca.cert), r.stdout)
    r = harness.run(["openssl", "verify", "-CAfile", pki.other_ca.cert, pki.server.cert],
                    check=False)
    env.check(r.returncode != 0, "server cert does not verify against the unrelated CA")
    r = harness.run(["openssl", "x509", "-in", pki.server.cert, "-noout", "-ext",
                     "subjectAltName"])
    env.check("DNS:localhost" in r.stdout and "IP Address:127.0.0.1" in r.stdout,
              "server cert SAN has localhost and 127.0.0.1", r.stdout.strip())


def check_mosquitto(env):
    m = env.mosquitto()
    env.check(m.alive(), "mosquitto runs (pid %d, ports %d/%d)" % (m.proc.pid, m.port,
                                                                     m.tls_port))
    sub = env.mqtt(m)
    sub.subscribe("t/#")
    pub = env.mqtt(m, tls=False, version=3)
    pub.publish("t/a", "hello", qos=1)
    msg = sub.wait_message("t/#", timeout=5)
    env.check(msg.payload == b"hello", "paho pub (plain, 3.1.1) -> sub (TLS, v5)")
    pub.publish("t/r", "kept", qos=1, retain=True)
    env.check(env.mqtt_retained(m, "t/r") == b"kept", "retained message seen by new client")
    pub.disconnect()
    sub.disconnect()
    pid = m.proc.pid
    m.restart()
    env.check(m.alive() and m.proc.pid != pid, "mosquitto restarted on the same ports")
    c = env.mqtt(m)
    c.subscribe("x")
    c.publish("x", "again")
    env.check(c.wait_message("x").payload == b"again", "pub/sub after restart")
    mark = m.log.mark()
    c.subscribe("y/+")
    m.wait_subscribed(c.client_id, "y/+", since=mark, timeout=5)
    env.check(True, "wait_subscribed sees the SUBACK in mosquitto's log")
    c.disconnect()

    # a TLS client with the wrong CA fails the handshake
    ctx = ssl.create_default_context(cafile=env.pki.other_ca.cert)
    try:
        with socket.create_connection(("127.0.0.1", m.tls_port), timeout=3) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                ok = False
    except ssl.SSLCertVerificationError:
        ok = True
    env.check(ok, "wrong CA: TLS handshake to mosquitto fails verification")

    m2 = env.mosquitto(cert=env.pki.wrong_host, name="mosquitto-wrong",
                       users={"u": "p"})
    ctx = ssl.create_default_context(cafile=env.pki.ca.cert)
    try:
        with socket.create_connection(("127.0.0.1", m2.tls_port), timeout=3) as s:
            with ctx.wrap_socket(s, server_hostname="127.0.0.1"):
                ok = False
    except ssl.SSLCertVerificationError as e:
        ok = "mismatch" in str(e) or "match" in str(e)
    env.check(ok, "wrong-host cert: hostname check fails")
    rc = m2.stop()
    env.check(rc == 0, "mosquitto stops with SIGTERM, exit 0", rc)


# What test files (and the bench and demo scripts) take from the package by name.
USED_NAMES = [
    "Cert", "Ejabberd", "Env", "LOOPBACK", "SRCDIR", "Terminated", "TestFailure", "XmppClient",
    "_pdeathsig", "bridge_binary", "bridge_counters", "counter_delta", "ejabberd_installed",
    "format_config", "free_port", "install_signal_handlers", "line_of", "main", "merge",
    "run", "spawn", "tail", "wait_until",
    # and what the harness offered besides, for test files written against it
    "HERE", "DEFAULT_BRIDGE", "XMPP_DOMAIN", "TestTimeout", "terminate", "kill_all_children",
    "port_accepts", "port_owner_pids", "LogFile", "PKI", "Mosquitto", "Prosody", "Bridge",
    "Message", "Presence", "IqResult", "MqttMessage", "MqttClient", "EJABBERD_LIBS",
    "EJABBERD_INETRC",
]


def check_names(env):
    missing = [n for n in USED_NAMES if not hasattr(harness, n)]
    env.check(not missing, "the package offers every name tests use", missing)
    missing = [n for n in harness.__all__ if not hasattr(harness, n)]
    env.check(not missing, "every name in __all__ exists", missing)
    here = os.path.dirname(os.path.abspath(__file__))
    env.check(harness.HERE == here, "HERE is the directory of the test files", harness.HERE)
    srcdir = os.environ.get("MXB_SRCDIR") or os.path.normpath(os.path.join(here, "..", ".."))
    env.check(harness.SRCDIR == srcdir, "SRCDIR is MXB_SRCDIR, else the tree the package "
              "belongs to", harness.SRCDIR)


def check_factory(env):
    kind = harness.xmpp_server_kind()
    env.check(kind == (os.environ.get("MXB_XMPP_SERVER") or "prosody"),
              "the XMPP server kind of this run comes from MXB_XMPP_SERVER (default "
              "prosody)", kind)
    for fn, bad in ((harness.xmpp_server_kind, "openfire"), (harness.broker_kind, "nanomq")):
        try:
            fn(bad)
            refused = False
        except ValueError:
            refused = True
        env.check(refused, "%s(%r) is refused" % (fn.__name__, bad))
    mq = env.broker(name="factory-broker")
    env.check(isinstance(mq, harness.Mosquitto) and mq.alive(),
              "env.broker() starts a mosquitto (pid %d)" % mq.proc.pid)
    env.check(mq.stop() == 0, "the broker stops by its pid, exit 0")

    classes = {"prosody": harness.Prosody, "ejabberd": harness.Ejabberd}
    for k in harness.XMPP_SERVERS:
        if k == "ejabberd" and harness.ejabberd_installed():
            env.note("ejabberd left out: %s" % harness.ejabberd_installed())
            continue
        s = env.xmpp_server(kind=k, name="factory-" + k, users=("alice", "mallory"))
        env.check(isinstance(s, classes[k]) and isinstance(s, harness.XmppServer),
                  "env.xmpp_server(kind=%r) gives a %s (an XmppServer)" % (k, classes[k].__name__))
        env.check(s.alive() and s.port in s.ports(),
                  "%s runs (pid %d, ports %s)" % (s.name, s.proc.pid, s.ports()))
        s.register("carol")
        alice, carol = env.xmpp(s, "alice"), env.xmpp(s, "carol")
        carol.send_message("alice@localhost", "over " + k)
        alice.wait_message(frm="carol@localhost", body="over " + k, timeout=5)
        env.check(True, "%s: accounts made before and after the start log in and talk" % k)
        alice.disconnect()
        carol.disconnect()
        s.stop()
        env.check(not s.alive() and not any(harness.port_owner_pids(p) for p in s.ports()),
                  "%s stopped by its pid, its ports free" % s.name)


def check_xmpp_server(env):
    p = env.xmpp_server()
    env.check(p.alive(), "%s runs (pid %d, port %d)" % (p.name, p.proc.pid, p.port))
    alice = env.xmpp(p, "alice")
    mallory = env.xmpp(p, "mallory")
    env.check(alice.online() and mallory.online(), "two clients logged in over STARTTLS")
    mallory.send_message("alice@localhost", "hi alice \u00e9")
    m = alice.wait_message(frm="mallory@localhost", timeout=5)
    env.check(m.body == "hi alice \u00e9" and m.type == "chat", "message exchanged", m)

    # mutual subscription via auto-authorize on both sides
    alice.subscribe("mallory@localhost")
    alice.wait_subscription("mallory@localhost", ("both",), timeout=5)
    mallory.wait_subscription("alice@localhost", ("both",), timeout=5)
    env.check(True, "mutual subscription established")
    alice.wait_presence("mallory@localhost", True, timeout=5)
    mallory.disconnect()
    alice.wait_presence("mallory@localhost", False, timeout=5)
    env.check(True, "alice sees mallory go unavailable")

    r = alice.iq("localhost", "get", "<ping xmlns='urn:xmpp:ping'/>")
    env.check(r.type == "result", "server answers ping", r)
    r = alice.iq("localhost", "get", "<query xmlns='urn:example:nothing'/>")
    env.check(r.type == "error" and r.error == "service-unavailable",
              "unknown IQ -> service-unavailable", r)

    bad = env.xmpp(p, "alice", password="wrong", connect=False)
    env.check(bad.connect(timeout=10, expect_failure=True) == "auth_failed",
              "wrong password -> auth failure seen by the client")

    pid = p.proc.pid
    p.restart()
    env.check(p.alive() and p.proc.pid != pid, "%s restarted on the same port" % p.name)
    a2 = env.xmpp(p, "alice")
    env.check(a2.online(), "login after restart")

    w = env.xmpp_server(cert=env.pki.wrong_host, name=p.name + "-wrong", users=("alice",))
    c = env.xmpp(w, "alice", connect=False)
    st = c.connect(timeout=8, expect_failure=True)
    env.check(st != "online", "client refuses the wrong-host certificate", st)
    c = harness.XmppClient(env, "alice@localhost/x", p.accounts["alice"], p.port,
                           env.pki.other_ca.cert)
    st = c.connect(timeout=8, expect_failure=True)
    env.check(st != "online", "client refuses a certificate from an unknown CA", st)

    # a taken port is noticed
    q = env.xmpp_server(name=p.name + "-taken", users=(), start=False)
    q.port = p.port
    try:
        q.start(timeout=3)
        ok = False
    except harness.TestFailure:
        ok = True
    env.check(ok, "%s with its port taken is not taken for ready" % p.name)


if __name__ == "__main__":
    harness.main([check_names, check_pki, check_mosquitto, check_factory, check_xmpp_server],
                 need_bridge=False)
