#!/usr/bin/python3
"""SIGHUP: the routes are read again and swapped in when the file is valid (new routes
work, removed ones stop, subscriptions follow); a file with errors is refused with
file:line and the running routes stay; SIGUSR1 logs the counters."""

import os
import signal

import harness

BRIDGE = "bridge@localhost"


def setup(env):
    if getattr(env, "b", None):
        return
    env.p, env.m = env.standard_servers()
    env.alice = env.xmpp(env.p, "alice")
    env.cfg = env.bridge_config(env.p, env.m)
    env.b = env.start_bridge_ready(env.p, env.m)
    env.pub = env.mqtt(env.m)


def rewrite(env, cfg):
    text = cfg if isinstance(cfg, str) else harness.format_config(cfg)
    with open(env.b.conf_path, "w") as f:
        f.write(text)


def check_reload_routes(env):
    setup(env)
    env.pub.publish("home/hall/alarm", "one")
    env.alice.wait_message(frm=BRIDGE, body="hall says one")
    new = harness.merge(env.cfg, {"notify": [
        {"topic": "garden/+/rain", "to": ["alice@localhost"], "message": "rain in {{topic.2}}"}]})
    rewrite(env, new)
    mark = env.m.log.mark()
    bmark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"reload: 1 notify and 1 command routes", since=bmark)
    env.m.wait_subscribed("mxb-test", "garden/+/rain", since=mark, timeout=10)
    env.pub.publish("garden/north/rain", "yes")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "rain in north", "the new route works after SIGHUP", m.body)
    env.pub.publish("home/hall/alarm", "two")
    env.check(env.alice.no_message(1.5, frm=BRIDGE) is None, "the removed route is gone")
    env.check(env.b.alive(), "the bridge kept running")


def check_reload_broken(env):
    setup(env)
    rewrite(env, "xmpp: { jid = \"bridge@localhost\"; pasword = \"x\"; };\n")
    bmark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"%s:1: unknown key 'pasword' in 'xmpp'" % env.b.conf_path.replace(".", r"\."),
                   since=bmark)
    env.b.wait_log(r"reload: .* has errors; keeping the running configuration", since=bmark)
    env.pub.publish("garden/south/rain", "still")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "rain in south", "the running routes stayed", m.body)


def check_counters(env):
    setup(env)
    c = harness.bridge_counters(env.b)
    env.check(c.get("mqtt received", 0) >= 3 and c.get("xmpp sent", 0) >= 3,
              "SIGUSR1 logs the counters", c)
    env.check(env.b.stop() == 0, "the bridge exits 0")


if __name__ == "__main__":
    harness.main([check_reload_routes, check_reload_broken, check_counters])
