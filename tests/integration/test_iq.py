#!/usr/bin/python3
"""IQ replies of the bridge's full JID: disco#info (identity client/bot and its features),
XEP-0199 ping, XEP-0092 version (matching --version), and service-unavailable for any
other get or set."""

import subprocess

import harness

FULL = "bridge@localhost/bridge"
DISCO = "http://jabber.org/protocol/disco#info"
STANZAS = "{urn:ietf:params:xml:ns:xmpp-stanzas}"


def setup(env):
    env.p, env.m = env.standard_servers()
    env.alice = env.xmpp(env.p, "alice")
    env.mallory = env.xmpp(env.p, "mallory")
    env.b = env.start_bridge_ready(env.p, env.m)


def check_disco_info(env):
    r = env.alice.iq(FULL, "get", "<query xmlns='%s'/>" % DISCO, timeout=5)
    env.check(r.type == "result", "disco#info -> result", r)
    env.check(r.xml.get("from") == FULL, "answered from the full JID", r.xml.get("from"))
    q = r.xml.find("{%s}query" % DISCO)
    env.check(q is not None, "the result carries a disco#info query")
    ids = [(i.get("category"), i.get("type")) for i in q.findall("{%s}identity" % DISCO)]
    env.check(("client", "bot") in ids, "identity category 'client' type 'bot'", ids)
    feats = {f.get("var") for f in q.findall("{%s}feature" % DISCO)}
    for f in (DISCO, "urn:xmpp:ping", "jabber:iq:version"):
        env.check(f in feats, "feature %s advertised" % f, sorted(feats))


def check_ping(env):
    r = env.alice.iq(FULL, "get", "<ping xmlns='urn:xmpp:ping'/>", timeout=5)
    env.check(r.type == "result", "ping -> result", r)
    r = env.mallory.iq(FULL, "get", "<ping xmlns='urn:xmpp:ping'/>", timeout=5)
    env.check(r.type == "result", "ping from a JID not in the config -> result too", r)


def check_version(env):
    out = subprocess.run([harness.bridge_binary(), "--version"], capture_output=True,
                         text=True).stdout.split()
    r = env.alice.iq(FULL, "get", "<query xmlns='jabber:iq:version'/>", timeout=5)
    env.check(r.type == "result", "version -> result", r)
    q = r.xml.find("{jabber:iq:version}query")
    name = q.findtext("{jabber:iq:version}name") if q is not None else None
    ver = q.findtext("{jabber:iq:version}version") if q is not None else None
    env.check(name == "mqtt-xmpp-bridge", "name 'mqtt-xmpp-bridge'", name)
    env.check(ver is not None and ver == out[-1], "version %r as --version says" % out[-1], ver)


def check_unknown(env):
    for itype, payload in (("get", "<query xmlns='urn:example:unknown'/>"),
                           ("set", "<query xmlns='urn:example:unknown'/>"),
                           ("set", "<ping xmlns='urn:xmpp:ping'/>"),
                           ("get", "<query xmlns='jabber:iq:last'/>"),
                           ("get", "<vCard xmlns='vcard-temp'/>")):
        r = env.alice.iq(FULL, itype, payload, timeout=5)
        env.check(r.type == "error" and r.error == "service-unavailable",
                  "%s %s -> error service-unavailable" % (itype, payload), r)
        err = r.xml.find("{jabber:client}error")
        env.check(err is not None and err.get("type") == "cancel",
                  "... with error type 'cancel'", err is not None and err.attrib)
    # disco#items is not required: either empty result or service-unavailable
    r = env.alice.iq(FULL, "get", "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    env.check(r.type == "result" or r.error in ("service-unavailable", "feature-not-implemented"),
              "disco#items answered (result or error)", r)


def check_still_up(env):
    env.check(env.b.alive(), "bridge alive")
    env.check(env.b.text().count("xmpp: session established") == 1,
              "one XMPP session all along")
    env.mqtt(env.m).publish("home/iq/alarm", "done")
    env.alice.wait_message(frm="bridge@localhost", body="iq says done", timeout=10)
    env.check(True, "still forwarding")


if __name__ == "__main__":
    harness.main([setup, check_disco_info, check_ping, check_version, check_unknown,
                  check_still_up])
