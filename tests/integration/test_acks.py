#!/usr/bin/python3
"""XEP-0198 acks without a round trip per message: the bridge asks for an ack once
xmpp.ack_every stanzas wait for one, and otherwise at most once per xmpp.ack_delay. Read from
Prosody's own log of the bridge's stream: each <r/> the bridge sent and the h of each
<a/> Prosody answered with."""

import re
import time

import harness

EVERY = 10
DELAY_MS = 8000


def setup(env):
    env.p, env.m = env.standard_servers()
    env.alice = env.xmpp(env.p, "alice")


def acks_of(env, since):
    """The h of every <a/> Prosody sent to the bridge's newest stream after since."""
    text = env.p.log.text()
    sid = re.findall(r"(c2s\w+)\s+info\s+Authenticated as bridge@localhost$", text, re.M)
    if not sid:
        return []
    tail = env.p.log.text(since)
    return [int(h) for h in re.findall(
        r"%s\s+debug\s+Sending\[c2s\]: <a [^>]*h='(\d+)'" % sid[-1],
        tail)]


def check_acks_by_count_and_delay(env):
    b = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"ack_every": EVERY, "ack_delay": DELAY_MS, "ping_interval": 3600}})
    time.sleep(0.5)
    mark = env.p.log.mark()
    c = env.mqtt(env.m)
    n = 25
    t0 = time.monotonic()
    for i in range(n):
        c.publish("home/a%d/alarm" % i, "m%d" % i, qos=1)
        env.alice.wait_message(frm="bridge@localhost", body="a%d says m%d" % (i, i), timeout=10)
    took = time.monotonic() - t0
    c.disconnect()
    if took < DELAY_MS / 1000.0:
        acks = acks_of(env, mark)
        steps = [y - x for x, y in zip(acks, acks[1:])]
        env.check(len(acks) >= 2 and all(s == EVERY for s in steps),
                  "25 messages one by one: an ack asked for every %d stanzas, not per message"
                  % EVERY, acks)
    else:
        env.note("the messages took %.1f s, longer than ack_delay: count not judged" % took)
        acks = acks_of(env, mark)
    before = len(acks)
    harness.wait_until(lambda: len(acks_of(env, mark)) > before, DELAY_MS / 1000.0 + 10,
                       what="the ack asked for after ack_delay")
    last = acks_of(env, mark)
    env.check(0 < last[-1] - (acks[-1] if acks else 0) < EVERY,
              "the rest (fewer than %d) asked for once ack_delay passed" % EVERY, last)
    env.check(b.stop() == 0, "exit 0")


if __name__ == "__main__":
    harness.main([setup, check_acks_by_count_and_delay])
