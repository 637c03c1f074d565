#!/usr/bin/python3
"""Content publication (XEP-0060) both ways, against a real pubsub service: Prosody's
pubsub component (no auto-create: the bridge creates nodes itself) or ejabberd's mod_pubsub.
MQTT -> node items as JSON, text and Atom, a subscriber's notification, a retained clear as
a retraction, a node created on demand, max_item and the service's own size limit, a
forbidden node; node items -> retained MQTT (the last item fetched at login, notifications,
retraction), node patterns via disco#items, and no echo of the bridge's own items."""

import os
import re
import signal
import time
import xml.etree.ElementTree as ET

import harness

BRIDGE = "bridge@localhost"
PS = "pubsub.localhost"
NS = "http://jabber.org/protocol/pubsub"
NS_EV = NS + "#event"
NS_JSON = "urn:xmpp:json:0"
NS_ATOM = "http://www.w3.org/2005/Atom"
NS_PAYLOAD = "urn:mqtt-xmpp-bridge:payload:0"
EJ_MAX_PAYLOAD = 5000


def kind():
    return harness.xmpp_server_kind()


def locked_service():
    # Prosody: a second service where only alice is an admin; ejabberd: alice's own node
    return "locked.localhost" if kind() == "prosody" else PS


def create(env, c, service, node, publish_model="open", persist=True):
    r = c.iq(service, "set", (
        "<pubsub xmlns='%s'><create node='%s'/><configure><x xmlns='jabber:x:data' "
        "type='submit'><field var='FORM_TYPE' type='hidden'><value>%s#node_config</value>"
        "</field><field var='pubsub#access_model'><value>open</value></field>"
        "<field var='pubsub#publish_model'><value>%s</value></field>"
        "<field var='pubsub#persist_items'><value>%d</value></field></x></configure>"
        "</pubsub>") % (NS, node, NS, publish_model, persist))
    env.check(r.type == "result", "alice created node %r on %s" % (node, service),
              (r.type, r.error))


def publish(env, c, service, node, item, payload_xml):
    r = c.iq(service, "set", "<pubsub xmlns='%s'><publish node='%s'><item id='%s'>%s</item>"
             "</publish></pubsub>" % (NS, node, item, payload_xml))
    env.check(r.type == "result", "alice published item %r to %r" % (item, node),
              (r.type, r.error))


def items(c, node, service=PS):
    """The items of node as [(id, first child element)], newest first as the service says."""
    r = c.iq(service, "get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS, node))
    if r.type != "result":
        return r.type, r.error
    out = []
    for it in r.xml.iter("{%s}item" % NS):
        kids = list(it)
        out.append((it.get("id"), kids[0] if kids else None))
    return out


def wait_items(c, node, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = items(c, node)
        if isinstance(got, list) and pred(got):
            return got
        time.sleep(0.1)
    return got


def pubsub_counters(b):
    mark = b.mark()
    os.kill(b.pid, signal.SIGUSR1)
    b.wait_log(r"bridge: pubsub published [^\n]*\n", since=mark)
    m = re.search(r"bridge: (pubsub published [^\n]*)", b.text(mark))
    out = {}
    for part in m.group(1).split(","):
        k = re.match(r"\s*(?:pubsub )?(.*?)\s+(\d+)\s*$", part)
        out[k.group(1)] = int(k.group(2))
    return out


def setup(env):
    extra = ('Component "pubsub.localhost" "pubsub"\n'
             '\tadmins = { "bridge@localhost", "alice@localhost" }\n'
             'Component "locked.localhost" "pubsub"\n'
             '\tadmins = { "alice@localhost" }\n')
    modules_yaml = ("mod_caps: {}\nmod_pubsub:\n  host: \"pubsub.localhost\"\n"
                    "  access_createnode: local\n  plugins: [\"flat\"]\n"
                    "  default_node_config:\n    max_payload_size: %d\n" % EJ_MAX_PAYLOAD)
    own = {"extra": extra} if kind() == "prosody" else {"modules_yaml": modules_yaml}
    p = env.xmpp_server(users=("bridge", "alice", "mallory"), **own)
    m = env.broker()
    env.p, env.m = p, m
    env.alice = env.xmpp(p, "alice")
    # Nodes that exist before the bridge logs in: it subscribes and fetches their last item.
    create(env, env.alice, PS, "weather")
    publish(env, env.alice, PS, "weather", "w1",
            "<json xmlns='%s'>{\"temp\": 3}</json>" % NS_JSON)
    create(env, env.alice, PS, "feed/a")
    publish(env, env.alice, PS, "feed/a", "f1", "<text xmlns='%s'>hello</text>" % NS_PAYLOAD)
    create(env, env.alice, PS, "sensors/kitchen")
    # A node that keeps no items: a publish asking for persist_items meets its precondition
    create(env, env.alice, PS, "volatile", persist=False)
    r = env.alice.iq(PS, "set", "<pubsub xmlns='%s'><subscribe node='volatile' "
                     "jid='alice@localhost'/></pubsub>" % NS)
    env.check(r.type == "result", "alice subscribed to volatile", (r.type, r.error))
    create(env, env.alice, locked_service(), "secret", publish_model="publishers")
    env.sub = env.mqtt(m).subscribe("#")
    env.over = {
        "pubsub": [
            {"topic": "sensors/+/state", "service": PS, "node": "sensors/{{topic.2}}"},
            {"topic": "log/+/event", "service": PS, "node": "eventlog", "format": "atom",
             "title": "{{topic.2}}", "summary": "{{topic.2}}: {{payload}}", "history": 5},
            {"topic": "text/+", "service": PS, "node": "text/{{topic.2}}", "format": "text"},
            {"topic": "big/+", "service": PS, "node": "big", "max_item": 240000},
            {"topic": "locked/+", "service": locked_service(), "node": "secret"},
            {"topic": "volatile/+", "service": PS, "node": "volatile"},
        ],
        "subscribe": [
            {"service": PS, "nodes": ["weather", "sensors/kitchen"], "topic": "xmpp/{{name}}"},
            {"service": PS, "pattern": "feed/*", "topic": "feeds/{{topic.2}}"},
        ],
    }
    env.b = env.start_bridge_ready(p, m, over=env.over)
    env.check(True, "bridge up with pubsub and subscribe routes on %s" % kind())


def check_json_item(env):
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"t": 21.5}')
    got = wait_items(env.alice, "sensors/kitchen", lambda g: len(g) == 1)
    env.check(isinstance(got, list) and len(got) == 1, "node sensors/kitchen has one item", got)
    iid, el = got[0]
    env.check(iid == "current", "latest value as item 'current'", iid)
    env.check(el is not None and el.tag == "{%s}json" % NS_JSON and el.text == '{"t": 21.5}',
              "the payload is a XEP-0335 <json/> with the MQTT payload",
              el is not None and ET.tostring(el, "unicode"))
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"t": 22}')
    got = wait_items(env.alice, "sensors/kitchen",
                     lambda g: len(g) == 1 and g[0][1] is not None and g[0][1].text == '{"t": 22}')
    env.check(isinstance(got, list) and len(got) == 1 and got[0][1].text == '{"t": 22}',
              "a new value replaces item 'current' (still one item)", got)
    env.mqtt(env.m).publish("sensors/kitchen/state", "not json")
    got = wait_items(env.alice, "sensors/kitchen",
                     lambda g: g and g[0][1] is not None and g[0][1].tag == "{%s}text" % NS_PAYLOAD)
    env.check(isinstance(got, list) and got[0][1].text == "not json",
              "a payload that is not JSON goes as <text/>", got)
    env.verified("pubsub: MQTT -> node item as XEP-0335 JSON, latest value as 'current'")


def check_created_on_demand(env):
    mark = env.b.mark()
    env.mqtt(env.m).publish("sensors/hall/state", '{"t": 19}')
    got = wait_items(env.alice, "sensors/hall", lambda g: len(g) == 1)
    env.check(isinstance(got, list) and len(got) == 1 and got[0][1].text == '{"t": 19}',
              "node sensors/hall (not there before) holds the item", got)
    if kind() == "prosody":
        env.b.wait_log(r"pubsub: created node 'sensors/hall' on 'pubsub.localhost'",
                       since=mark)
        env.check(True, "Prosody does not auto-create: the bridge created the node")
        env.verified("pubsub: node created on demand (no autocreate_on_publish)")
    else:
        env.verified("pubsub: node auto-created by the service on publish")


def check_subscriber_and_retract(env):
    r = env.alice.iq(PS, "set", "<pubsub xmlns='%s'><subscribe node='sensors/kitchen' "
                     "jid='alice@localhost'/></pubsub>" % NS)
    env.check(r.type == "result", "alice subscribed to sensors/kitchen", (r.type, r.error))
    env.alice.pubsub_events.clear()
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"t": 23}', retain=True)

    def item_event(frm, ev):
        it = ev.find("{%s}items/{%s}item" % (NS_EV, NS_EV))
        return frm == PS and it is not None and it.get("id") == "current" and \
            ev.find("{%s}items" % NS_EV).get("node") == "sensors/kitchen" and \
            it.find("{%s}json" % NS_JSON) is not None and \
            it.find("{%s}json" % NS_JSON).text == '{"t": 23}'
    e = env.alice.poll_pubsub(item_event, 10)
    env.check(e is not None, "the subscriber got the item as a notification",
              [ET.tostring(x[1], "unicode")[:200] for x in env.alice.pubsub_events])
    env.mqtt(env.m).publish("sensors/kitchen/state", "", retain=True)

    def retract_event(frm, ev):
        rt = ev.find("{%s}items/{%s}retract" % (NS_EV, NS_EV))
        return frm == PS and rt is not None and rt.get("id") == "current"
    e = env.alice.poll_pubsub(retract_event, 10)
    env.check(e is not None, "an empty retained message retracts 'current', subscribers told",
              [ET.tostring(x[1], "unicode")[:200] for x in env.alice.pubsub_events])
    got = wait_items(env.alice, "sensors/kitchen", lambda g: len(g) == 0)
    env.check(got == [], "the node has no item any more", got)
    env.verified("pubsub: subscriber notified; empty retained message retracts (notify)")


def check_atom_and_text(env):
    env.mqtt(env.m).publish("log/door/event", "opened")
    env.mqtt(env.m).publish("log/door/event", "closed & locked")
    got = wait_items(env.alice, "eventlog", lambda g: len(g) == 2)
    env.check(isinstance(got, list) and len(got) == 2, "history: two items in eventlog", got)
    ids = {g[0] for g in got}
    env.check(len(ids) == 2 and "current" not in ids, "unique item ids with history", ids)
    entries = [g[1] for g in got]
    env.check(all(e is not None and e.tag == "{%s}entry" % NS_ATOM for e in entries),
              "the items are Atom entries", [e.tag for e in entries if e is not None])
    titles = sorted(e.findtext("{%s}title" % NS_ATOM) for e in entries)
    summaries = sorted(e.findtext("{%s}summary" % NS_ATOM) for e in entries)
    env.check(titles == ["door", "door"], "titles from the template", titles)
    env.check(summaries == ["door: closed & locked", "door: opened"],
              "summaries from the template, escaped and read back", summaries)
    env.check(all(e.findtext("{%s}id" % NS_ATOM) and e.findtext("{%s}updated" % NS_ATOM)
                  for e in entries), "each entry has an id and an updated time")
    env.mqtt(env.m).publish("text/motd", "caf\u00e9 <b>")
    got = wait_items(env.alice, "text/motd", lambda g: len(g) == 1)
    env.check(isinstance(got, list) and got[0][1].tag == "{%s}text" % NS_PAYLOAD and
              got[0][1].text == "caf\u00e9 <b>", "format text: <text/> with the payload", got)
    env.mqtt(env.m).publish("text/bin", b"\x00\x01\xff")
    got = wait_items(env.alice, "text/bin", lambda g: len(g) == 1)
    env.check(isinstance(got, list) and got[0][1].tag == "{%s}base64" % NS_PAYLOAD and
              got[0][1].text == "AAH/", "binary payload: <base64/>", got)
    env.verified("pubsub: Atom entries with history, text, binary as base64")


def check_node_to_mqtt(env):
    got = env.mqtt_retained(env.m, "xmpp/weather")
    env.check(got == b'{"temp": 3}', "the last item, fetched at login, is retained on "
              "xmpp/weather", got)
    got = env.mqtt_retained(env.m, "feeds/a")
    env.check(got == b"hello", "a node found by pattern (disco#items) feeds feeds/a", got)
    env.sub.drain()
    publish(env, env.alice, PS, "weather", "w2", "<json xmlns='%s'>{\"temp\": 4}</json>"
            % NS_JSON)
    m = env.sub.wait_message("xmpp/weather", timeout=10)
    env.check(m.payload == b'{"temp": 4}', "a notification reaches MQTT", m.payload)
    got = env.mqtt_retained(env.m, "xmpp/weather")
    env.check(got == b'{"temp": 4}', "... retained", got)
    r = env.alice.iq(PS, "set", "<pubsub xmlns='%s'><retract node='weather' notify='true'>"
                     "<item id='w2'/></retract></pubsub>" % NS)
    env.check(r.type == "result", "alice retracted w2", (r.type, r.error))
    m = env.sub.wait_message("xmpp/weather", timeout=10)
    env.check(m.payload == b"", "a retraction -> an empty publish", m.payload)
    got = env.mqtt_retained(env.m, "xmpp/weather")
    env.check(got is None, "... which clears the retained value", got)
    env.verified("pubsub: node items -> retained MQTT; last item fetched; retract clears")


def check_foreign_events(env):
    """Notifications are read only from the services of subscribe routes: a contact's
    (PEP, or forged) event for a node of the same name changes nothing."""
    env.sub.drain()
    env.alice.send_raw(
        "<message to='%s'><event xmlns='%s'><items node='weather'><item id='x'>"
        "<json xmlns='%s'>{\"forged\": true}</json></item></items></event></message>"
        % (BRIDGE, NS_EV, NS_JSON))
    env.alice.send_raw(
        "<message to='%s'><event xmlns='%s'><delete node='weather'/></event></message>"
        % (BRIDGE, NS_EV))
    # a barrier: a real item after the forged ones arrives, and alone
    publish(env, env.alice, PS, "weather", "w3", "<json xmlns='%s'>{\"temp\": 5}</json>"
            % NS_JSON)
    m = env.sub.wait_message("xmpp/weather", timeout=10)
    env.check(m.payload == b'{"temp": 5}', "only the service's item reached MQTT", m.payload)
    env.check(env.b.alive(), "the bridge kept running")
    env.verified("pubsub: events from others than the configured services ignored")


def check_publish_options_refused(env):
    mark = env.b.mark()
    env.alice.pubsub_events.clear()
    env.mqtt(env.m).publish("volatile/x", '{"v": 1}')

    def item_event(frm, ev):
        it = ev.find("{%s}items/{%s}item" % (NS_EV, NS_EV))
        return frm == PS and it is not None and \
            it.find("{%s}json" % NS_JSON) is not None and \
            it.find("{%s}json" % NS_JSON).text == '{"v": 1}'
    e = env.alice.poll_pubsub(item_event, 10)
    env.check(e is not None, "the item reached the subscriber of a node without persistence",
              [ET.tostring(x[1], "unicode")[:200] for x in env.alice.pubsub_events])
    line = env.b.wait_log(r"pubsub: 'pubsub.localhost' does not take the publish-options for "
                          r"node 'volatile' \(([a-z-]+)\); publishing without them",
                          since=mark)
    env.note("the service refused the publish-options with: %s" % line.group(1))
    env.check(True, "publish-options refused: published again without them")
    env.verified("pubsub: publish-options precondition refused -> published without them")


def check_no_echo(env):
    env.sub.drain()
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"t": 30}')
    wait_items(env.alice, "sensors/kitchen",
               lambda g: len(g) == 1 and g[0][1] is not None and g[0][1].text == '{"t": 30}')
    # the bridge subscribes to sensors/kitchen too: its own item must not come back
    m = env.sub.poll_message("xmpp/sensors/kitchen", timeout=3)
    env.check(m is None, "the bridge's own item is not published back to MQTT",
              m and m.payload)
    c = pubsub_counters(env.b)
    env.check(c.get("own skipped", 0) >= 1, "counted as own skipped", c)
    env.verified("pubsub: no echo of the bridge's own items")


def check_limits_and_forbidden(env):
    mark = env.b.mark()
    before = pubsub_counters(env.b)
    env.mqtt(env.m).publish("big/x", "x" * 300000)
    env.b.wait_log(r"pubsub: payload on topic 'big/x' \(300000 bytes\) is larger than "
                   r"max_item 240000", since=mark)
    env.check(True, "a payload over max_item is refused before it is sent")
    if kind() == "ejabberd":
        env.mqtt(env.m).publish("big/y", '"%s"' % ("y" * (2 * EJ_MAX_PAYLOAD)))
        env.b.wait_log(r"refused the item for node 'big' as too large; dropped", since=mark)
        env.check(True, "ejabberd's payload limit (not-acceptable): dropped and counted")
    env.mqtt(env.m).publish("locked/x", '{"a": 1}')
    env.b.wait_log(r"pubsub: '%s' refuses the bridge's items for node 'secret' "
                   r"\((forbidden|not-allowed|not-authorized)\); the route at line \d+ is off"
                   % re.escape(locked_service()), since=mark)
    env.check(True, "forbidden: the route is off, with one log line")
    env.mqtt(env.m).publish("locked/x", '{"a": 2}')
    # the session stayed up: a later publish still arrives
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"after": true}')
    got = wait_items(env.alice, "sensors/kitchen",
                     lambda g: len(g) == 1 and g[0][1].text == '{"after": true}')
    env.check(isinstance(got, list) and got[0][1].text == '{"after": true}',
              "a later item still arrives: the stream survived", got)
    text = env.b.text(mark)
    env.check(text.count("refuses the bridge's items") == 1,
              "one log line for the refused route", text.count("refuses the bridge's items"))
    env.check("session established" not in text, "no reconnect happened")
    after = pubsub_counters(env.b)
    env.check(after["too big"] - before["too big"] >= (2 if kind() == "ejabberd" else 1),
              "too big counted", (before, after))
    env.check(after["refused"] - before["refused"] >= 2,
              "both refused items counted", (before, after))
    env.verified("pubsub: size cap before sending, forbidden route off, stream kept")


def check_reload(env):
    cfg = harness.merge(env.bridge_config(env.p, env.m, env.over), {})
    cfg["pubsub"] = [r for r in cfg["pubsub"] if r["topic"] != "text/+"] + [
        {"topic": "reload/+", "service": PS, "node": "reloaded/{{topic.2}}"}]
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(cfg))
    mark, bmark = env.m.log.mark(), env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"reload: changed: [^\n]*routes", since=bmark)
    env.m.wait_subscribed("mxb-test", "reload/+", since=mark, timeout=10)
    env.mqtt(env.m).publish("reload/x", '{"r": 1}')
    got = wait_items(env.alice, "reloaded/x", lambda g: len(g) == 1)
    env.check(isinstance(got, list) and len(got) == 1 and got[0][1].text == '{"r": 1}',
              "a pubsub route added by SIGHUP works", got)
    env.mqtt(env.m).publish("text/gone", "x")
    env.mqtt(env.m).publish("sensors/kitchen/state", '{"after reload": 1}')
    got = wait_items(env.alice, "sensors/kitchen",
                     lambda g: len(g) == 1 and g[0][1].text == '{"after reload": 1}')
    env.check(isinstance(got, list) and got[0][1].text == '{"after reload": 1}',
              "a kept route still works", got)
    got = items(env.alice, "text/gone")
    env.check(not isinstance(got, list) or got == [], "a removed route publishes nothing", got)
    env.check(env.b.alive(), "the bridge kept running")


def check_spool(env):
    """Items held while the XMPP server is away are journaled: a SIGKILLed bridge's
    successor publishes them."""
    rc = env.b.stop()
    env.check(rc == 0, "the bridge stops cleanly (exit 0)", rc)
    over = harness.merge(env.over, {"bridge": {"spool": env.tmp + "/spool"}})
    over["pubsub"] = [{"topic": "spooled/+", "service": PS, "node": "spooled",
                       "format": "text", "history": 10}]
    over["subscribe"] = []
    b = env.start_bridge_ready(env.p, env.m, over=over)
    env.p.stop(signal.SIGTERM)
    b.wait_log(r"xmpp: ", since=b.mark())
    for i in range(1, 6):
        env.mqtt(env.m).publish("spooled/x", "held-%d" % i)
    mark = b.mark()
    os.kill(b.pid, signal.SIGUSR1)
    b.wait_log(r"bridge: mqtt received [1-9]", since=mark)
    journal = open(env.tmp + "/spool/spool.journal", "rb").read()
    env.check(journal.count(b"held-") == 5, "the five held items are in the journal",
              journal.count(b"held-"))
    b.stop(signal.SIGKILL)
    env.p.start()
    env.alice = env.xmpp(env.p, "alice")
    b2 = env.start_bridge_ready(env.p, env.m, over=over)
    got = wait_items(env.alice, "spooled", lambda g: len(g) == 5, timeout=15)
    values = sorted(g[1].text for g in got) if isinstance(got, list) else got
    env.check(values == ["held-%d" % i for i in range(1, 6)],
              "after a SIGKILL the next bridge publishes every journaled item", values)
    rc = b2.stop()
    env.check(rc == 0, "the next bridge stops cleanly (exit 0)", rc)
    env.verified("pubsub: held items journaled in bridge.spool, published after SIGKILL")


if __name__ == "__main__":
    harness.main([setup, check_json_item, check_created_on_demand, check_subscriber_and_retract,
                  check_atom_and_text, check_node_to_mqtt, check_foreign_events,
                  check_publish_options_refused,
                  check_no_echo,
                  check_limits_and_forbidden, check_reload, check_spool], time_limit=150)
