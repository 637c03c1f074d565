#!/usr/bin/python3
"""Interoperability with a second, independent XMPP server, ejabberd 23.01 (the other
tests run against Prosody): the bridge logs in over verified STARTTLS and does a round
trip both ways; stream management comes on; on an ejabberd restricted to one SASL
mechanism the bridge logs in with each it claims (SCRAM-SHA-1/256/512, DIGEST-MD5, PLAIN
inside TLS, and EXTERNAL with a client certificate), and a wrong password or an untrusted
certificate is reported as an authentication failure; the XEP-0114 component
talks to ejabberd's ejabberd_service listener (a device's presence, a command to it).
Skips (exit 77) when ejabberd is not installed or cannot be started."""

import json
import os
import re
import signal
import socket
import ssl
import sys

import harness

BRIDGE = "bridge@localhost"
PAIR = "ejabberd+mosquitto"  # whatever the run's pair: this file chooses its own
DOMAIN = "iot.localhost"
KITCHEN = "kitchen@" + DOMAIN
SECRET = "component-secret-for-ejabberd"


def skip(env, reason):
    print("SKIP test_ejabberd: %s" % reason, flush=True)
    sys.exit(77)  # main()'s finally still stops every process started so far


def start_ejabberd(env, **kw):
    try:
        return env.ejabberd(**kw)
    except (harness.TestFailure, RuntimeError, OSError) as e:
        for s in env.servers:
            if isinstance(s, harness.Ejabberd):
                sys.stderr.write("----- %s -----\n%s\n%s\n" % (
                    s.name, harness.tail(s.out_path, 20), harness.tail(s.log.path, 20)))
        skip(env, "ejabberd cannot be started: %s" % (str(e).splitlines() or ["?"])[0])


def setup(env):
    """One ejabberd (accounts bridge, alice, mallory; component iot.localhost), one
    mosquitto, alice online, an MQTT subscriber to everything, shared by the checks."""
    if getattr(env, "ej", None):
        return
    env.ej = start_ejabberd(env, component_domain=DOMAIN, component_secret=SECRET)
    env.m = env.mosquitto()
    env.alice = env.xmpp(env.ej, "alice")
    env.sub = env.mqtt(env.m).subscribe("#")


def sasl_mechanisms(port, ca_file, before_tls=False, cert=None):
    """The SASL mechanisms a server offers after STARTTLS (verified against ca_file,
    presenting cert if given); with before_tls, (those offered before STARTTLS, those)."""
    def read_until(sock, end):
        data = b""
        sock.settimeout(5)
        while end not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data.decode("utf-8", "replace")
    header = ("<?xml version='1.0'?><stream:stream to='localhost' version='1.0' "
              "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    raw = socket.create_connection((harness.LOOPBACK, port), timeout=5)
    try:
        raw.sendall(header.encode())
        plain = re.findall(r"<mechanism>([^<]+)</mechanism>",
                           read_until(raw, b"</stream:features>"))
        raw.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        read_until(raw, b"<proceed")
        ctx = ssl.create_default_context(cafile=ca_file)
        if cert:
            ctx.load_cert_chain(cert.cert, cert.key)
        tls = ctx.wrap_socket(raw, server_hostname="localhost")
        tls.sendall(header.encode())
        feats = read_until(tls, b"</stream:features>")
        tls.close()
        mechs = re.findall(r"<mechanism>([^<]+)</mechanism>", feats)
        return (plain, mechs) if before_tls else mechs
    finally:
        raw.close()


def check_roundtrip(env):
    setup(env)
    mark = env.ej.log.mark()
    env.b = env.start_bridge_ready(env.ej, env.m)
    m = env.b.wait_log(r"xmpp: session established as '[^']*' \([^)]*\)")
    env.check(harness.line_of(m).endswith("xmpp: session established as "
                                          "'bridge@localhost/bridge' (TLS)"),
              "session over STARTTLS (ca_file verified) as 'bridge@localhost/bridge'",
              harness.line_of(m))
    env.check(env.b.absent(r"TLS certificate", 0) is None,
              "no TLS complaint in the bridge's log")
    # ejabberd writes its log file with a delay
    mech = harness.wait_until(lambda: env.ej.accepted_auth("bridge", since=mark), 5,
                              what="ejabberd's 'Accepted c2s ... authentication' line")
    env.check(True, "ejabberd: the bridge authenticated with %s" % mech)

    env.mqtt(env.m).publish("home/kitchen/alarm", "smoke", qos=1)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "kitchen says smoke" and msg.type == "chat",
              "MQTT -> XMPP: alice got 'kitchen says smoke' (chat)", (msg.type, msg.body))

    env.sub.drain()
    env.alice.send_message(BRIDGE, "home/x/set ON")
    m = env.sub.wait_message("home/x/set", timeout=10)
    env.check(m.payload == b"ON", "XMPP -> MQTT: 'home/x/set ON' published ON to home/x/set",
              m.payload)
    r = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(r.body == "published to 'home/x/set'", "alice got the reply", r.body)


def check_stream_management(env):
    setup(env)
    if getattr(env, "b", None) is None:
        env.b = env.start_bridge_ready(env.ej, env.m)
    m = env.b.wait_log(r"xmpp: stream management on", timeout=10)
    env.check(True, "bridge log: %r" % harness.line_of(m))
    env.check(env.b.absent(r"xmpp: (the server offers no|the server refused) stream "
                           r"management", 0) is None, "no 'no stream management' warning")
    # ejabberd acknowledges what the bridge sends: the "xmpp acked" counter grows
    before = xmpp_acked(env.b)
    env.mqtt(env.m).publish("home/hall/alarm", "after sm", qos=1)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "hall says after sm", "a message with SM on arrives", msg.body)
    after = harness.wait_until(lambda: (lambda n: n > before and n)(xmpp_acked(env.b)), 10,
                               interval=0.3, what="the 'xmpp acked' counter to grow")
    env.check(after > before, "ejabberd acked the message (xmpp acked %d -> %d)" % (
        before, after))


def xmpp_acked(bridge):
    """The bridge's 'xmpp acked' counter (SIGUSR1)."""
    mark = bridge.mark()
    os.kill(bridge.pid, signal.SIGUSR1)
    m = bridge.wait_log(r"bridge: xmpp acked (\d+)", timeout=10, since=mark)
    return int(m.group(1))


# Every mechanism ejabberd 23.01 offers with plain password storage (the -PLUS variants
# and X-OAUTH2 are never used by the bridge: libstrophe 0.12.2 has no channel binding).
ALL_MECHS = ["PLAIN", "DIGEST-MD5", "X-OAUTH2", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS",
             "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS", "SCRAM-SHA-512", "SCRAM-SHA-512-PLUS",
             "EXTERNAL"]
PASSWORD_MECHS = ["SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-512", "DIGEST-MD5", "PLAIN"]


def only(mech):
    """ejabberd's disable_sasl_mechanisms for a server that offers mech alone."""
    return "disable_sasl_mechanisms:\n" + "".join(
        "  - %s\n" % x for x in ALL_MECHS if x != mech)


def restricted_bridge(env, server, mech, over=None):
    cid = "mxb-" + mech.lower()
    return env.bridge(env.bridge_config(server, env.m, harness.merge({
        "xmpp": {"jid": "bridge@localhost/" + mech.lower()},
        "mqtt": {"client_id": cid, "status_topic": "mxb/%s/status" % cid},
        "notify": [], "commands": []}, over or {})))


def check_each_password_mechanism(env):
    """Each SASL mechanism the bridge claims, on an ejabberd that offers it alone: the
    right password logs in with exactly that mechanism, a wrong one is reported as an
    authentication failure and never logged. PLAIN is offered only inside TLS."""
    setup(env)
    for mech in PASSWORD_MECHS:
        ej2 = start_ejabberd(env, users=("bridge",), name="ejabberd-" + mech.lower(),
                             extra_yaml=only(mech), component_domain="iot2.localhost")
        before, mechs = sasl_mechanisms(ej2.port, env.pki.ca.cert, before_tls=True)
        env.check(mechs == [mech], "ejabberd restricted to %s offers only it" % mech, mechs)
        env.check(before == [], "... and no mechanism before STARTTLS", before)
        emark = ej2.log.mark()
        b = restricted_bridge(env, ej2, mech)
        b.wait_ready(30)
        m = b.wait_log(r"xmpp: session established as '[^']*' \([^)]*\)")
        env.check(harness.line_of(m).endswith("'bridge@localhost/%s' (TLS)" % mech.lower()),
                  "%s only: session established over TLS" % mech, harness.line_of(m))
        got = harness.wait_until(lambda: ej2.accepted_auth("bridge", since=emark), 5,
                                 what="ejabberd's 'Accepted c2s ... authentication' line")
        env.check(got == mech, "ejabberd: the bridge authenticated with %s" % mech, got)
        env.check(b.stop() == 0, "SIGTERM -> exit 0")

        wrong = "wrong-" + ej2.accounts["bridge"][::-1]
        b = restricted_bridge(env, ej2, mech, {"xmpp": {"password": wrong}})
        m = b.wait_log(r"xmpp: authentication failed for 'bridge@localhost'", timeout=30)
        env.check(True, "wrong password over %s: %r" % (mech, harness.line_of(m)))
        env.check(b.absent(r"xmpp: session established", 0.5) is None,
                  "no session established")
        log = b.text()
        env.check(wrong not in log and ej2.accounts["bridge"] not in log,
                  "neither the wrong nor the right password appears in the log")
        env.check(b.stop() == 0, "SIGTERM -> exit 0 while XMPP keeps failing")
        rc = ej2.stop()
        env.check(rc == 0, "the restricted ejabberd stopped by its pid, nothing (beam, "
                  "epmd) left behind", rc)
        env.verified("SASL %s" % mech, "login; a wrong password is an authentication failure",
                     pair=PAIR)


def check_external(env):
    """SASL EXTERNAL with a client certificate (xmpp.client_cert/client_key, no password):
    ejabberd verifies it against the CA (c2s listener: tls_verify and cafile) and takes
    the account from its xmppAddr; a certificate of a CA it does not trust is reported
    by the bridge as an authentication failure."""
    setup(env)
    pki = env.pki
    good = pki._make_cert("bridge-client", pki.ca, "bridge@localhost",
                          "otherName:1.3.6.1.5.5.7.8.5;UTF8:bridge@localhost")
    untrusted = pki._make_cert("bridge-client-other", pki.other_ca, "bridge@localhost",
                               "otherName:1.3.6.1.5.5.7.8.5;UTF8:bridge@localhost")
    ej2 = start_ejabberd(env, users=("bridge",), name="ejabberd-external",
                         extra_yaml=only("EXTERNAL"), component_domain="iot2.localhost",
                         c2s_yaml="tls_verify: true\ncafile: %s" % json.dumps(pki.ca.cert))
    env.check(sasl_mechanisms(ej2.port, env.pki.ca.cert, cert=good) == ["EXTERNAL"],
              "ejabberd restricted to EXTERNAL offers only it to a client with a "
              "certificate")
    emark = ej2.log.mark()
    b = restricted_bridge(env, ej2, "EXTERNAL", {"xmpp": {
        "password": None, "client_cert": good.cert, "client_key": good.key}})
    b.wait_ready(30)
    m = b.wait_log(r"xmpp: session established as '[^']*' \([^)]*\)")
    env.check(harness.line_of(m).endswith("'bridge@localhost/external' (TLS)"),
              "EXTERNAL: session established with the client certificate", harness.line_of(m))
    got = harness.wait_until(lambda: ej2.accepted_auth("bridge", since=emark), 5,
                             what="ejabberd's 'Accepted c2s ... authentication' line")
    env.check(got == "EXTERNAL", "ejabberd: the bridge authenticated with EXTERNAL", got)
    env.check(b.stop() == 0, "SIGTERM -> exit 0")

    b = restricted_bridge(env, ej2, "EXTERNAL", {"xmpp": {
        "password": None, "client_cert": untrusted.cert, "client_key": untrusted.key}})
    m = b.wait_log(r"xmpp: authentication failed for 'bridge@localhost'", timeout=30)
    env.check(True, "a certificate of an untrusted CA: %r" % harness.line_of(m))
    env.check(b.absent(r"xmpp: session established", 0.5) is None, "no session established")
    env.check(b.stop() == 0, "SIGTERM -> exit 0 while XMPP keeps failing")
    env.check(ej2.stop() == 0, "the EXTERNAL ejabberd stopped by its pid")
    env.verified("SASL EXTERNAL", "client certificate; an untrusted one is an "
                 "authentication failure", pair=PAIR)


def check_component(env):
    setup(env)
    b = env.bridge(env.bridge_config(env.ej, env.m, {
        "xmpp": {"jid": "bridge@localhost/devices",
                 "component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.ej.component_port}},
        "mqtt": {"client_id": "mxb-devices", "status_topic": "mxb/devices/status"},
        "notify": [],
        "commands": [],
        "devices": [{"convention": "tasmota", "allow": ["alice@localhost"], "timeout": 2}],
    }))
    b.wait_ready(30)
    m = b.wait_log(r"component: connected as 'iot\.localhost'", timeout=15)
    env.check(True, "bridge log: %r" % harness.line_of(m))
    harness.wait_until(lambda: env.ej.log.search(
        r"Accepted external component handshake authentication for iot\.localhost"), 5,
        what="ejabberd's 'Accepted external component handshake' line")
    env.check(True, "ejabberd (ejabberd_service) accepted the component's handshake")

    mark = env.alice.presence_mark()
    env.alice.subscribe(KITCHEN)
    sub = env.alice.wait_subscription(KITCHEN, ("to", "both"), timeout=10)
    env.check(True, "alice's subscription to %s is accepted (%s)" % (KITCHEN, sub))
    env.dev = env.mqtt(env.m)
    env.dev.publish("tele/kitchen/LWT", "Online", retain=True)
    p = env.alice.wait_presence(KITCHEN, True, timeout=10, since=mark)
    env.check(p.type == "available", "tele/kitchen/LWT Online: alice sees the device "
              "available", p.frm)

    env.sub.drain()
    env.alice.send_message(KITCHEN, "on")
    m = env.sub.wait_message("cmnd/kitchen/POWER", timeout=10)
    env.check(m.payload == b"ON", "'on' to %s publishes ON to cmnd/kitchen/POWER" % KITCHEN,
              m.payload)
    env.dev.publish("stat/kitchen/POWER", "ON")
    r = env.alice.wait_message(frm=KITCHEN, timeout=10)
    env.check(r.body == "kitchen is ON", "the device answers with its new state", r.body)

    env.dev.publish("tele/kitchen/LWT", "Offline", retain=True)
    env.alice.wait_presence(KITCHEN, False, timeout=10)
    env.check(True, "LWT Offline: unavailable")
    env.check(b.stop() == 0, "SIGTERM -> exit 0")


def check_stop(env):
    setup(env)
    for c in list(env.clients):
        c.disconnect()
    rc = env.ej.stop()
    env.check(rc == 0, "ejabberd stopped by its pid (SIGTERM) with status 0", rc)
    env.check(not env.ej.own_processes() and not env.ej.alive(),
              "no beam, port program or epmd of it left behind")


if __name__ == "__main__":
    reason = harness.ejabberd_installed()
    if reason:
        print("SKIP test_ejabberd: %s" % reason)
        sys.exit(77)
    harness.main([check_roundtrip, check_stream_management, check_each_password_mechanism,
                  check_external, check_component, check_stop], time_limit=170)
