#!/usr/bin/python3
"""What the bridge sends leaves in batches (xmpp.batch_delay_us): a burst costs the server a
few TLS records, not one each, and nothing waits in a batch for more traffic to push it
out. Counted by the bridge's own "xmpp batches" (one write each) against "xmpp sent", in
both directions. The replies to a burst of commands come one per pass and need the wait
(with batch_delay_us = 0 they take a write each); an MQTT burst often arrives in a few
reads and then fills few batches by itself, so there the count bounds the writes and the
order and completeness are what the wait could break."""

import harness

# Long enough that a burst from one client is one or two batches on any machine.
DELAY_US = 50000
N = 80


def setup(env):
    env.p, env.m = env.standard_servers()
    env.alice = env.xmpp(env.p, "alice")
    env.sub = env.mqtt(env.m).subscribe("home/+/set")
    env.b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"batch_delay_us": DELAY_US, "ping_interval": 3600}})


def bodies(env, n, frm="bridge@localhost"):
    return [env.alice.wait_message(frm=frm, timeout=10).body for _ in range(n)]


def check_mqtt_burst_in_few_batches(env):
    c = env.mqtt(env.m)
    before = harness.bridge_counters(env.b)
    infos = [c.c.publish("home/b%d/alarm" % i, b"m%d" % i, qos=1) for i in range(N)]
    for info in infos:
        info.wait_for_publish(10)
    env.check(all(i.is_published() for i in infos), "the broker acknowledged all %d" % N)
    got = bodies(env, N)
    env.check(got == ["b%d says m%d" % (i, i) for i in range(N)],
              "all %d arrived, in order, with no traffic after them" % N, got[:5])
    d = harness.counter_delta(before, harness.bridge_counters(env.b))
    env.check(d.get("xmpp sent") == N, "%d messages sent" % N, d)
    env.check(0 < d.get("xmpp batches", 0) <= N // 4,
              "in at most %d writes (one per batch), not one per message" % (N // 4), d)
    c.disconnect()


def check_command_replies_batched(env):
    env.sub.drain()
    before = harness.bridge_counters(env.b)
    for i in range(N):
        env.alice.send_message("bridge@localhost", "home/c%d/set v%d" % (i, i))
    for i in range(N):
        m = env.sub.wait_message("home/c%d/set" % i, timeout=10)
        env.check(m.payload == b"v%d" % i, "command %d published" % i, m.payload)
    got = bodies(env, N)
    env.check(got == ["published to 'home/c%d/set'" % i for i in range(N)],
              "every reply arrived, in order, with no traffic after them", got[:5])
    d = harness.counter_delta(before, harness.bridge_counters(env.b))
    env.check(d.get("xmpp sent") == N, "%d replies sent" % N, d)
    env.check(0 < d.get("xmpp batches", 0) <= N // 4,
              "in at most %d writes, not one per reply" % (N // 4), d)


def check_exit(env):
    env.check(env.b.stop() == 0, "exit 0")


if __name__ == "__main__":
    harness.main([setup, check_mqtt_burst_in_few_batches, check_command_replies_batched,
                  check_exit])
