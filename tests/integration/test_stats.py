#!/usr/bin/python3
"""mqtt.stats_topic: a subscriber of the real broker reads the retained JSON stats, every
field of the right type, republished every stats_interval; mqtt_received follows the
notifications; a broker restart counts one MQTT reconnect, once; SIGUSR1 still logs the
same counters."""

import json
import signal
import time

import harness

BRIDGE = "bridge@localhost"
TOPIC = "mxb/stats"
INTERVAL = 5

COUNTERS = (
    "mqtt_received", "own_dropped", "retained_skipped", "xmpp_sent", "xmpp_queue_dropped",
    "xmpp_acked", "xmpp_resent", "unacked_dropped", "quarantined", "room_unreachable",
    "payload_too_large", "binary_skipped", "message_too_long", "status_cut",
    "text_replaced", "text_refused", "template_misses", "throttled", "unchanged",
    "commands_published", "commands_refused", "commands_from_strangers",
    "commands_malformed", "mqtt_queue_dropped", "mqtt_too_large", "device_updates", "devices_refused",
    "device_commands", "device_strangers", "contact_presences", "presence_strangers",
    "presence_table_full", "location_received", "location_ignored", "location_invalid",
    "location_stale", "location_paced", "location_published", "location_failed",
    "geoloc_received", "geoloc_invalid", "geoloc_strangers", "location_names_refused",
    "pubsub_published", "pubsub_retracted", "pubsub_replaced", "pubsub_resent",
    "pubsub_queue_dropped", "pubsub_nodes_created", "pubsub_not_json", "pubsub_base64",
    "pubsub_too_big", "pubsub_refused", "pubsub_failed", "pubsub_received",
    "pubsub_own_skipped", "pubsub_invalid",
    "upload_sent", "upload_failed", "upload_refused", "upload_retried", "upload_dropped",
)
NUMBERS = COUNTERS + ("xmpp_batches", "uptime_s", "queued_xmpp", "unacked_xmpp", "queued_mqtt",
                      "reconnects_xmpp", "reconnects_mqtt", "reconnects_component",
                      "devices_known")
SIDES = ("xmpp", "component", "mqtt")


def stats(env, pred=None, retained=None, timeout=3 * INTERVAL):
    """The next stats object on env.sub (retained or live, as asked) that satisfies pred."""
    def ok(m):
        if retained is not None and m.retain != retained:
            return False
        try:
            s = json.loads(m.payload)
        except ValueError:
            return True  # wait_message returns it, the caller's check then fails
        return pred is None or pred(s)
    m = env.sub.wait_message(TOPIC, ok, timeout)
    return json.loads(m.payload), m


def setup(env):
    p, m = env.standard_servers()
    env.p, env.m = p, m
    env.alice = env.xmpp(p, "alice")
    env.b = env.start_bridge_ready(p, m, over={
        "mqtt": {"stats_topic": TOPIC, "stats_interval": INTERVAL},
    })
    env.check(True, "bridge up with mqtt.stats_topic '%s', stats_interval %d" % (TOPIC,
                                                                                INTERVAL))


def check_fields(env):
    env.sub = env.mqtt(env.m).subscribe("#")
    s, m = stats(env, retained=True, timeout=10)
    env.check(m.retain and m.qos == 1, "a fresh subscriber gets the stats retained, QoS 1",
              (m.retain, m.qos))
    env.check(set(s) == set(NUMBERS) | set(SIDES), "exactly the documented fields",
              sorted(set(s) ^ (set(NUMBERS) | set(SIDES))))
    bad = [k for k in NUMBERS if type(s[k]) is not int or s[k] < 0]
    env.check(not bad, "every counter, queue and reconnect field a non-negative integer",
              [(k, s[k]) for k in bad])
    # The first object goes out when MQTT comes up, which may be before XMPP is.
    env.check(s["xmpp"] in ("up", "down"), "xmpp configured: up or down", s["xmpp"])
    if s["xmpp"] != "up":
        s, _ = stats(env, lambda s: s["xmpp"] == "up", retained=False)
    env.check((s["xmpp"], s["component"], s["mqtt"]) == ("up", "off", "up"),
              "xmpp up, component off (none configured), mqtt up",
              (s["xmpp"], s["component"], s["mqtt"]))
    env.check(s["reconnects_xmpp"] == 0 and s["reconnects_mqtt"] == 0 and
              s["reconnects_component"] == 0, "no reconnects yet",
              (s["reconnects_xmpp"], s["reconnects_mqtt"], s["reconnects_component"]))
    env.check(s["devices_known"] == 0 and s["queued_mqtt"] == 0,
              "no devices known, nothing queued for MQTT", s)


def check_interval(env):
    env.sub.drain()
    a, _ = stats(env, retained=False)
    t0 = time.monotonic()
    b, _ = stats(env, retained=False)
    dt = time.monotonic() - t0
    env.check(INTERVAL - 1.5 <= dt <= INTERVAL + 3, "republished every %d s" % INTERVAL,
              "%.1f s" % dt)
    env.check(b["uptime_s"] > a["uptime_s"], "uptime_s grows", (a["uptime_s"], b["uptime_s"]))


def check_received(env):
    env.sub.drain()
    base, _ = stats(env, retained=False)
    pub = env.mqtt(env.m)
    for room in ("kitchen", "hall", "cellar"):
        pub.publish("home/%s/alarm" % room, "smoke", qos=1)
        msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
        env.check(msg.body == "%s says smoke" % room, "alice got '%s says smoke'" % room,
                  msg.body)
    n = base["mqtt_received"]
    s, _ = stats(env, lambda s: s["mqtt_received"] >= n + 3, retained=False)
    env.check(s["mqtt_received"] == n + 3, "mqtt_received grew by the 3 notifications",
              (n, s["mqtt_received"]))
    env.check(s["xmpp_sent"] >= base["xmpp_sent"] + 3, "xmpp_sent grew by at least 3",
              (base["xmpp_sent"], s["xmpp_sent"]))


def check_broker_restart(env):
    env.sub.drain()
    base, _ = stats(env, retained=False)
    n = base["reconnects_mqtt"]
    mark = env.b.mark()
    env.m.stop()
    env.b.wait_log(r"mqtt: reconnecting in", since=mark, timeout=15)
    env.m.start()
    env.b.wait_log(r"mqtt: connected", since=mark, timeout=20)
    # The test client lost its connection too: a new one reads what the bridge sent since.
    env.sub.disconnect()
    env.sub = env.mqtt(env.m).subscribe("#")
    s, _ = stats(env, lambda s: s["reconnects_mqtt"] != n)
    env.check(s["reconnects_mqtt"] == n + 1, "one broker restart: reconnects_mqtt + 1",
              (n, s["reconnects_mqtt"]))
    env.check(s["mqtt"] == "up", "and the object published after it says mqtt up", s["mqtt"])
    env.check(s["reconnects_xmpp"] == base["reconnects_xmpp"], "reconnects_xmpp unchanged",
              (base["reconnects_xmpp"], s["reconnects_xmpp"]))
    s, _ = stats(env, retained=False)
    env.check(s["reconnects_mqtt"] == n + 1, "still + 1 an interval later", s["reconnects_mqtt"])


def check_sigusr1(env):
    mark = env.b.mark()
    env.b.proc.send_signal(signal.SIGUSR1)
    env.b.wait_log(r"bridge: mqtt received \d+, own dropped", since=mark, timeout=10)
    env.b.wait_log(r"bridge: commands published \d+", since=mark, timeout=10)
    env.b.wait_log(r"bridge: xmpp acked \d+", since=mark, timeout=10)
    env.check(True, "SIGUSR1 still logs the counters")


if __name__ == "__main__":
    harness.main([setup, check_fields, check_interval, check_received, check_broker_restart,
                  check_sigusr1], time_limit=150)
