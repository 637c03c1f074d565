#!/usr/bin/python3
"""User location both ways, against the real servers.

OwnTracks -> XEP-0080: the app's location JSON on owntracks/alice/phone becomes the PEP
geoloc of alice's account, seen by bob (a client with XEP-0115 caps and geoloc+notify,
subscribed to alice) with the units converted; a replayed older tst, a transition and an
lwt publish nothing; positions closer than min_interval are paced, the latest going out
at the end of the interval.

XEP-0080 -> MQTT: bob's geoloc becomes a retained OwnTracks friend on
owntracks/xmpp/bob@localhost (vel in km/h, tid) with its card on .../info, named from the
bridge's roster once the roster names him; an empty geoloc clears it; carol, a contact the
config does not name, gets nothing published though the bridge sees her location; a bob
removed from the roster is cleared, card included; a location published while the bridge
is down arrives at its next start (the last item is fetched)."""

import json
import os
import signal
import time
import xml.etree.ElementTree as ET

import harness

BRIDGE = "bridge@localhost"
GEOLOC = "http://jabber.org/protocol/geoloc"
EVENT = "http://jabber.org/protocol/pubsub#event"
FRIENDS = "owntracks/xmpp"
INTERVAL = 3
PLUGINS = ("xep_0030", "xep_0004", "xep_0128", "xep_0115", "xep_0163", "xep_0080")


def owntracks(tst, lat=52.5200066, lon=13.404954, **extra):
    """A location as the OwnTracks app (Android 2.4) sends it, fields as the booklet lists."""
    d = {"_type": "location", "acc": 13, "alt": 44, "batt": 84, "bs": 1, "conn": "w",
         "created_at": tst + 2, "lat": lat, "lon": lon, "m": 1, "tid": "al", "tst": tst,
         "vac": 3, "vel": 36, "cog": 270, "BSSID": "b0:f2:8f:aa:bb:cc", "SSID": "home",
         "inregions": ["home"], "topic": "owntracks/alice/phone"}
    d.update(extra)
    return json.dumps(d)


def bridge_config(env):
    return {
        "bridge": {"log_level": "debug"},
        "commands": [{"from": ["alice@localhost", "carol@localhost"],
                      "allow": ["home/+/set"]}],
        "location": {
            "min_interval": INTERVAL,
            "accounts": [{"user": "alice", "jid": "alice@localhost/owntracks",
                          "password": env.p.accounts["alice"]}],
            "contacts": ["bob@localhost"],
            "topic": FRIENDS,
        },
    }


def start_bridge(env, location=None):
    over = bridge_config(env)
    over["location"].update(location or {})
    env.cfg = env.bridge_config(env.p, env.m, over)
    env.b = env.start_bridge_ready(env.p, env.m, over=over)
    env.b.wait_log(r"location: 'alice' publishes as 'alice@localhost'", timeout=20)
    env.m.wait_subscribed("mxb-test", "owntracks/alice/+", timeout=10)


def befriend(env, a, b_jid):
    a.subscribe(b_jid)
    a.wait_subscription(b_jid, ("both",), timeout=15)


def setup(env):
    users = ("bridge", "alice", "bob", "carol", "mallory")
    if harness.xmpp_server_kind() == "ejabberd":
        # PEP is mod_pubsub's pep plugin there, and needs mod_caps (docs/location.md)
        env.p = env.xmpp_server(users=users, modules_yaml="mod_caps: {}\nmod_pubsub:\n"
                                "  plugins: [\"flat\", \"pep\"]\n")
    else:
        env.p = env.xmpp_server(users=users, modules=("pep",))
    env.m = env.broker()
    env.sub = env.mqtt(env.m)
    env.sub.subscribe(FRIENDS + "/#")
    env.pub = env.mqtt(env.m)
    start_bridge(env)
    # alice's own chat client keeps her roster; bob has caps with geoloc+notify
    env.alice = env.xmpp(env.p, "alice")
    env.bob = env.xmpp(env.p, "bob", plugins=PLUGINS)
    env.carol = env.xmpp(env.p, "carol", plugins=PLUGINS)
    befriend(env, env.bob, "alice@localhost")
    befriend(env, env.bob, BRIDGE)
    befriend(env, env.carol, BRIDGE)
    # the servers take caps from presence: the approvals above made bob's count again
    env.bob.call(lambda: env.bob.xmpp.send_presence())
    env.check(True, "bob and alice, bob and carol and the bridge are mutual contacts")


def counters(env):
    return harness.bridge_counters(env.b)


def geoloc_of(xml, frm):
    """The fields of the geoloc in a PEP event message, or None."""
    items = xml.find("{%s}event/{%s}items" % (EVENT, EVENT))
    if items is None or items.get("node") != GEOLOC:
        return None
    g = items.find("{%s}item/{%s}geoloc" % (EVENT, GEOLOC))
    if g is None:
        return None
    return {c.tag.split("}", 1)[1]: c.text for c in g}


def alice_event(env, pred, since, timeout=15):
    frm, xml = env.bob.wait_pep(
        lambda f, x: f == "alice@localhost" and geoloc_of(x, f) is not None and
        pred(geoloc_of(x, f)), timeout=timeout, since=since)
    return geoloc_of(xml, frm)


def no_alice_event(env, since, duration):
    time.sleep(duration)
    got = [geoloc_of(x, f) for f, x in env.bob.pep_events[since:] if f == "alice@localhost"]
    return [g for g in got if g is not None]


def check_owntracks_to_pep(env):
    tst = int(time.time()) - 60
    mark = env.bob.pep_mark()
    env.pub.publish("owntracks/alice/phone", owntracks(tst), qos=1)
    g = alice_event(env, lambda g: g.get("timestamp") is not None, mark)
    want_ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tst))
    env.check(abs(float(g["lat"]) - 52.5200066) < 1e-7 and
              abs(float(g["lon"]) - 13.404954) < 1e-7, "lat and lon as the phone sent", g)
    env.check(float(g["speed"]) == 10.0, "vel 36 km/h arrives as speed 10 m/s", g)
    env.check(float(g["bearing"]) == 270 and float(g["accuracy"]) == 13 and
              float(g["alt"]) == 44, "cog -> bearing, acc -> accuracy, alt", g)
    env.check(g["timestamp"] == want_ts, "tst -> timestamp %s (XEP-0082, UTC)" % want_ts, g)
    env.check(set(g) == {"lat", "lon", "speed", "bearing", "accuracy", "alt", "timestamp"},
              "nothing else is invented (no battery, no region)", sorted(g))
    c = harness.wait_until(lambda: (lambda c: c["location published"] >= 1 and c)(
        counters(env)), 10, interval=0.5, what="the server's result counted")
    env.check(c["location received"] >= 1, "counted as received and published", c)
    env.verified("XEP-0080 over PEP", "publish with publish-options access_model presence "
                 "accepted; a contact with +notify gets the event")
    env.tst = tst
    env.last_sent = time.monotonic()


def check_replay_skipped(env):
    before = counters(env)
    time.sleep(max(0, INTERVAL + 0.5 - (time.monotonic() - env.last_sent)))
    mark = env.bob.pep_mark()
    # OwnTracks replays what it queued while offline: older, and the same tst again
    env.pub.publish("owntracks/alice/phone", owntracks(env.tst - 30, lat=1.0), qos=1)
    env.pub.publish("owntracks/alice/phone", owntracks(env.tst, lat=2.0), qos=1)
    # leaving a region and the app's will carry no position of now
    env.pub.publish("owntracks/alice/phone", json.dumps(
        {"_type": "transition", "event": "leave", "desc": "home", "lat": 3.0, "lon": 3.0,
         "tst": env.tst + 5, "wtst": 1, "acc": 10, "tid": "al", "t": "c"}), qos=1)
    env.pub.publish("owntracks/alice/phone", json.dumps({"_type": "lwt", "tst": env.tst + 6}))
    after = harness.wait_until(lambda: (lambda c: c["location stale"] >= before[
        "location stale"] + 2 and c["location ignored"] >= before["location ignored"] + 2
        and c)(counters(env)), 10, interval=0.5, what="replays and the rest counted")
    env.check(True, "two replays counted stale, transition and lwt counted ignored")
    got = no_alice_event(env, mark, INTERVAL + 1)
    env.check(got == [], "none of them became a position at bob", got)
    env.check(after["location published"] == before["location published"],
              "nothing more published", harness.counter_delta(before, after))


def check_paced(env):
    mark = env.bob.pep_mark()
    t0 = time.monotonic()
    base = env.tst + 100
    env.pub.publish("owntracks/alice/phone", owntracks(base, lat=10.0), qos=1)
    alice_event(env, lambda g: float(g["lat"]) == 10.0, mark)
    t1 = time.monotonic()
    env.pub.publish("owntracks/alice/phone", owntracks(base + 1, lat=11.0), qos=1)
    env.pub.publish("owntracks/alice/phone", owntracks(base + 2, lat=12.0), qos=1)
    g = alice_event(env, lambda g: float(g["lat"]) == 12.0, mark, timeout=INTERVAL + 10)
    t2 = time.monotonic()
    env.check(t2 - t0 >= INTERVAL - 0.3,
              "the latest waited for the end of the %d s interval (%.2f s after the first, "
              "first after %.2f s)" % (INTERVAL, t2 - t0, t1 - t0))
    lats = [float(geoloc_of(x, f)["lat"]) for f, x in env.bob.pep_events[mark:]
            if f == "alice@localhost" and geoloc_of(x, f)]
    env.check(lats == [10.0, 12.0], "the one in between was replaced, not sent", lats)
    env.note("pacing: first position at bob %.0f ms after the publish; the latest %.2f s "
             "after the first" % ((t1 - t0) * 1000, t2 - t1))
    env.last_sent = t2


def check_bad_owntracks(env):
    before = counters(env)
    mark = env.b.mark()
    pmark = env.bob.pep_mark()
    bad = [b"not json", b"\xff\xfe{\"_type\":\"location\"}", b"[1,2,3]",
           owntracks(env.tst + 1000, lat=95).encode(),
           owntracks(env.tst + 1000, lat="52.1").encode(),
           owntracks(env.tst + 1000, vel=1e12).encode(),
           owntracks(env.tst + 1000, pad="x" * 5000).encode(),
           # a phone whose clock is two days ahead would make every true position stale
           owntracks(int(time.time()) + 2 * 86400).encode()]
    for payload in bad:
        env.pub.publish("owntracks/alice/phone", payload, qos=1)
    # a user the config does not map: the bridge does not even subscribe to it
    env.pub.publish("owntracks/eve/phone", owntracks(env.tst + 1000), qos=1)
    after = harness.wait_until(lambda: (lambda c: c["location invalid"] >= before[
        "location invalid"] + len(bad) and c)(counters(env)), 10, interval=0.5,
        what="every bad payload counted")
    env.check(after["location invalid"] - before["location invalid"] == len(bad),
              "each of the %d bad payloads counted once under 'location invalid'" % len(bad),
              harness.counter_delta(before, after))
    text = env.b.text(mark)
    env.check(text.count("location: refused the OwnTracks payload") == 1,
              "one warning for the burst, not one per payload",
              text.count("location: refused the OwnTracks payload"))
    env.check("eve" not in text, "eve's position is not even read")
    env.check(after["location received"] == before["location received"],
              "no position taken from any of them")
    time.sleep(0.5)
    env.check(no_alice_event(env, pmark, 0.5) == [], "nothing published")
    env.check(env.b.alive(), "bridge alive")


def publish_geoloc(client, fields):
    body = "".join("<%s>%s</%s>" % (k, v, k) for k, v in fields.items())
    jid = client.jid.split("/")[0]
    return client.iq(jid, "set",
                     "<pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='%s'>"
                     "<item id='current'><geoloc xmlns='%s'>%s</geoloc></item></publish>"
                     "</pubsub>" % (GEOLOC, GEOLOC, body))


def friend(env, jid, pred, timeout=15):
    m = env.sub.wait_message(FRIENDS + "/" + jid, lambda m: m.payload and pred(
        json.loads(m.payload)), timeout=timeout)
    return json.loads(m.payload)


def check_contact_to_owntracks(env):
    env.sub.drain()
    r = publish_geoloc(env.bob, {"lat": "48.8584", "lon": "2.2945", "speed": "10",
                                 "bearing": "90.4", "accuracy": "20", "alt": "35",
                                 "timestamp": "2024-02-29T12:00:00Z",
                                 "text": "Eiffel Tower"})
    env.check(r.type == "result", "bob published his geoloc", r)
    v = friend(env, "bob@localhost", lambda v: v.get("lat") == 48.8584)
    env.check(v == {"_type": "location", "lat": 48.8584, "lon": 2.2945, "acc": 20, "alt": 35,
                    "vel": 36, "cog": 90, "tst": 1709208000, "tid": "BO"},
              "an OwnTracks friend: speed 10 m/s as vel 36 km/h, bearing as cog, tid", v)
    retained = env.mqtt_retained(env.m, FRIENDS + "/bob@localhost")
    env.check(retained is not None and json.loads(retained) == v, "retained", retained)
    env.verified("XEP-0115 caps with geoloc+notify", "the server sends the bridge its "
                 "contacts' PEP events (ejabberd checks the hash)")
    card = env.mqtt_retained(env.m, FRIENDS + "/bob@localhost/info")
    env.check(card is not None and json.loads(card) == {"_type": "card", "name": "bob"},
              "the card, named by the JID until the roster names him", card)


def check_roster_name_on_card(env):
    # another resource of the bridge's account names bob in the shared roster
    me = env.xmpp(env.p, "bridge")
    env.sub.drain()
    r = me.iq(BRIDGE, "set", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost' "
              "name='Bob Ünal'/></query>")
    env.check(r.type == "result", "roster item named", r)
    m = env.sub.wait_message(FRIENDS + "/bob@localhost/info", lambda m: m.payload and json.loads(
        m.payload).get("name") == "Bob Ünal", timeout=10)
    env.check(m.retain or json.loads(m.payload)["_type"] == "card",
              "the card takes the roster name at once", m.payload)
    me.disconnect()
    env.me_named = True


def check_empty_clears(env):
    env.sub.drain()
    r = publish_geoloc(env.bob, {})
    env.check(r.type == "result", "bob published an empty geoloc", r)
    m = env.sub.wait_message(FRIENDS + "/bob@localhost", lambda m: m.payload == b"" or
                             m.payload == "", timeout=10)
    env.check(True, "an empty retained publish clears his location")
    env.check(env.mqtt_retained(env.m, FRIENDS + "/bob@localhost", timeout=1.5) is None,
              "nothing retained any more")


def check_stranger_not_published(env):
    before = counters(env)
    env.sub.drain()
    r = publish_geoloc(env.carol, {"lat": "1.5", "lon": "2.5"})
    env.check(r.type == "result", "carol published her geoloc", r)
    after = harness.wait_until(lambda: (lambda c: c["geoloc strangers"] > before[
        "geoloc strangers"] and c)(counters(env)), 10, interval=0.5,
        what="carol's location seen by the bridge and refused")
    env.check(True, "the bridge saw carol's location (a contact with +notify) and counted it")
    time.sleep(0.5)
    env.check([m for m in env.sub.drain() if "carol" in m.topic] == [],
              "nothing published for carol, whom location.contacts does not name")
    env.check(env.mqtt_retained(env.m, FRIENDS + "/carol@localhost", timeout=1) is None,
              "nothing retained for carol")
    env.check(after["geoloc received"] == before["geoloc received"], "not counted as received")


def check_invalid_geoloc(env):
    before = counters(env)
    r = publish_geoloc(env.bob, {"lat": "95", "lon": "0x10"})
    env.check(r.type == "result", "bob published an invalid geoloc", r)
    after = harness.wait_until(lambda: (lambda c: c["geoloc invalid"] > before[
        "geoloc invalid"] and c)(counters(env)), 10, interval=0.5, what="invalid counted")
    env.b.wait_log(r"location: refused the location of 'bob@localhost'", timeout=5)
    env.check(env.b.alive(), "counted, logged, and the bridge is alive")


def check_fetched_at_start(env):
    env.b.stop()
    r = publish_geoloc(env.bob, {"lat": "-33.8568", "lon": "151.2153", "speed": "0"})
    env.check(r.type == "result", "bob moved while the bridge was down", r)
    env.sub.drain()
    start_bridge(env)
    v = friend(env, "bob@localhost", lambda v: v.get("lat") == -33.8568, timeout=20)
    env.check(v["lon"] == 151.2153 and v["vel"] == 0, "his last item is fetched at start and "
              "published", v)
    env.check(abs(v["tst"] - time.time()) < 60,
              "a location without a timestamp gets the time it arrived as tst", v)
    env.verified("PEP last item", "fetched with <items max_items='1'/> at start")


def check_plain_json(env):
    env.b.stop()
    env.sub.subscribe("people/#")
    start_bridge(env, {"format": "json", "json_topic": "people/{{name}}/location"})
    env.sub.drain()
    r = publish_geoloc(env.bob, {"lat": "51.5007", "lon": "-0.1246", "speed": "1.5",
                                 "timestamp": "2024-03-01T08:30:00+01:00"})
    env.check(r.type == "result", "bob published his geoloc", r)
    m = env.sub.wait_message("people/Bob Ünal/location", lambda m: m.payload and json.loads(
        m.payload).get("lat") == 51.5007, timeout=15)
    v = json.loads(m.payload)
    env.check(v == {"jid": "bob@localhost", "lat": 51.5007, "lon": -0.1246, "speed": 1.5,
                    "timestamp": "2024-03-01T07:30:00Z"},
              "plain JSON on the topic json_topic renders with his roster name", v)
    env.check(env.mqtt_retained(env.m, "people/Bob Ünal/location") is not None, "retained")
    env.b.stop()
    start_bridge(env)


def check_removed_contact(env):
    me = env.xmpp(env.p, "bridge")
    env.sub.drain()
    r = me.iq(BRIDGE, "set", "<query xmlns='jabber:iq:roster'><item jid='bob@localhost' "
              "subscription='remove'/></query>")
    env.check(r.type == "result", "bob removed from the bridge's roster", r)
    env.sub.wait_message(FRIENDS + "/bob@localhost", lambda m: not m.payload, timeout=10)
    env.sub.wait_message(FRIENDS + "/bob@localhost/info", lambda m: not m.payload, timeout=10)
    env.check(env.mqtt_retained(env.m, FRIENDS + "/bob@localhost", timeout=1) is None and
              env.mqtt_retained(env.m, FRIENDS + "/bob@localhost/info", timeout=1) is None,
              "location and card cleared")
    me.disconnect()
    env.check(env.b.alive(), "bridge alive")


def check_reload_keeps_location(env):
    # A new status swaps the xmpp section's strings; a new interval waits for a restart.
    new = harness.merge(env.cfg, {"xmpp": {"status": "reloaded"},
                                  "location": {"min_interval": 600}})
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(new))
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"reload: the location group changed; the running one stays until the "
                   r"next start", since=mark, timeout=10)
    env.check(True, "the reload says the location group waits for the next start")
    before = counters(env)
    pmark = env.bob.pep_mark()
    env.pub.publish("owntracks/alice/phone", owntracks(int(time.time()) - 5, lat=33.0), qos=1)
    alice_event(env, lambda g: float(g["lat"]) == 33.0, pmark)
    # The server notifies bob before it answers the bridge: wait for the answer too, so
    # that the next check starts from a counter that has nothing more to come.
    harness.wait_until(lambda: counters(env)["location published"] > before[
        "location published"], 10, interval=0.5, what="the server's result counted")
    env.check(env.b.alive(), "positions still go out after the reload")


def alice_current(bob):
    """bob's read of alice's location node: (the IQ result, the lat of its item or None)."""
    r = bob.iq("alice@localhost", "get", "<pubsub xmlns='http://jabber.org/protocol/pubsub'>"
               "<items node='%s' max_items='1'/></pubsub>" % GEOLOC)
    g = r.xml.find(".//{%s}geoloc" % GEOLOC) if r.type == "result" and r.xml is not None \
        else None
    got = g.findtext("{%s}lat" % GEOLOC) if g is not None else None
    return r, float(got) if got is not None else None


def check_held_across_server_restart(env):
    before = counters(env)
    env.p.stop()
    lat = 47.3769
    tst = int(time.time())
    mark = env.b.mark()
    env.pub.publish("owntracks/alice/phone", owntracks(tst, lat=lat), qos=1)
    # paced: it may wait for the end of the interval of the last one
    env.b.wait_log(r"location: position of 'alice' \(tst %d\) goes out" % tst, since=mark,
                   timeout=INTERVAL + 10)
    env.p.start()
    bob = env.xmpp(env.p, "bob", plugins=PLUGINS)
    # The node holds the older position until the bridge is back: read until it changes.
    last = []

    def current():
        last[:] = alice_current(bob)
        return last[0].type == "result" and last[1] == lat

    try:
        harness.wait_until(current, 30, interval=0.5,
                           what="alice's current item to be lat %s" % lat)
        ok = True
    except harness.TestFailure:
        ok = False
    r = last[0] if last else None
    env.check(ok, "the position taken while the server was down went out after the reconnect "
              "and is alice's current item (lat %s, the node has %s)" % (
                  lat, last[1] if last else None),
              None if ok else (ET.tostring(r.xml, "unicode") if r is not None and
                               r.xml is not None else r))
    after = harness.wait_until(lambda: (lambda c: c["location published"] > before[
        "location published"] and c)(counters(env)), 10, interval=0.5,
        what="the server's result counted")
    env.check(after["location published"] == before["location published"] + 1,
              "counted once as published", harness.counter_delta(before, after))
    env.check(after["location failed"] == before["location failed"], "none refused",
              harness.counter_delta(before, after))
    r, got = alice_current(bob)
    env.check(got == lat, "nothing older replaced it afterwards",
              ET.tostring(r.xml, "unicode") if r.xml is not None else r)
    # Access model presence: someone who is not alice's contact reads nothing.
    mallory = env.xmpp(env.p, "mallory")
    r = mallory.iq("alice@localhost", "get", "<pubsub xmlns='http://jabber.org/protocol/"
                   "pubsub'><items node='%s' max_items='1'/></pubsub>" % GEOLOC)
    env.check(r.type == "error", "a stranger cannot read alice's location (%s)" % r.error, r)


if __name__ == "__main__":
    harness.main([setup, check_owntracks_to_pep, check_replay_skipped, check_paced,
                  check_bad_owntracks,
                  check_contact_to_owntracks, check_roster_name_on_card, check_empty_clears,
                  check_stranger_not_published, check_invalid_geoloc, check_fetched_at_start,
                  check_plain_json, check_removed_contact, check_reload_keeps_location,
                  check_held_across_server_restart], time_limit=170)
