#!/usr/bin/python3
"""Overlapping device rules: a rule for one Zigbee2MQTT light and the general zigbee2mqtt
rule both take zigbee2mqtt/hall. The first rule of the file owns the device, whatever
order messages come in, so its status does not flip; 'exclude' keeps a topic from a rule;
the bridge warns at start and at every reload about two rules that can claim one
device."""

import json
import os
import re
import signal
import subprocess
import time

import harness

DOMAIN = "iot.localhost"
SECRET = "component-secret-for-tests"
HALL = "hall@" + DOMAIN
KITCHEN = "kitchen@" + DOMAIN

HALL_RULE = {"state": "zigbee2mqtt/hall", "status": "{{json.brightness}}",
             "command": "zigbee2mqtt/{{name}}/set", "allow": ["alice@localhost"]}
GENERAL = {"convention": "zigbee2mqtt", "allow": ["alice@localhost"]}
WARNING = (r"warn: devices: the rules of lines (\d+) and (\d+) can both claim a device "
           r"\(filters '%s' and '%s'\); the first owns it: put the narrower rule first or "
           r"add 'exclude' to the other$")


def config(env, rules):
    return env.bridge_config(env.p, env.m, {
        "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                               "port": env.p.component_port}},
        "notify": [], "commands": [], "devices": rules,
    })


def setup(env):
    if getattr(env, "p", None):
        return
    env.p = env.xmpp_server(users=("bridge", "alice"), component=(DOMAIN, SECRET))
    env.m = env.broker()
    env.alice = env.xmpp(env.p, "alice")
    env.pub = env.mqtt(env.m)
    env.b = env.start_bridge_ready(env.p, env.m, over=config(env, [HALL_RULE, GENERAL]))
    env.b.wait_log(r"component: connected as 'iot\.localhost'")
    for jid in (HALL, KITCHEN):
        env.alice.subscribe(jid)
        env.alice.wait_subscription(jid, ("to", "both"), timeout=10)


def wait_status(env, jid, status, timeout=10):
    harness.wait_until(lambda: (lambda p: p is not None and p.status == status)(
        env.alice.presence_of(jid)), timeout,
        what="presence of %s with status %r (last %r)" % (jid, status,
                                                          env.alice.presence_of(jid)))


def line_of(env, text):
    """The line of the config file where the group holding text starts."""
    with open(env.b.conf_path) as f:
        lines = f.read().split("\n")
    at = next(i for i, ln in enumerate(lines) if text in ln)
    while "{" not in lines[at]:
        at -= 1
    return at + 1


def reload(env, rules):
    with open(env.b.conf_path, "w") as f:
        f.write(harness.format_config(config(env, rules)))
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGHUP)
    env.b.wait_log(r"reload: \d+ notify and \d+ command routes", since=mark)
    return mark


def light(env, state, brightness):
    env.pub.publish("zigbee2mqtt/hall", json.dumps({"state": state, "brightness": brightness,
                                                   "linkquality": 90}))


def check_warning_at_start(env):
    setup(env)
    m = env.b.wait_log(WARNING % ("zigbee2mqtt/hall", r"zigbee2mqtt/\+"))
    want = (line_of(env, '"zigbee2mqtt/hall"'), line_of(env, '"zigbee2mqtt"'))
    env.check((int(m.group(1)), int(m.group(2))) == want,
              "the warning names the lines of both rules", (m.group(0), want))
    env.check(len(re.findall(r"can both claim", env.b.text())) == 1, "once per pair")
    r = subprocess.run([harness.bridge_binary(), "--check-config", "-c", env.b.conf_path],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    env.check(r.returncode == 0 and re.search(WARNING % ("zigbee2mqtt/hall", r"zigbee2mqtt/\+"),
                                              r.stderr, re.M) is not None,
              "--check-config says so too, and exits 0", (r.returncode, r.stderr))


def check_first_rule_owns(env):
    setup(env)
    light(env, "ON", 128)
    wait_status(env, HALL, "128")
    light(env, "ON", 200)
    wait_status(env, HALL, "200")
    time.sleep(0.5)
    env.check(env.alice.presence_of(HALL).status == "200",
              "the light's own rule, first in the file, owns it: its status does not flip",
              env.alice.presence_of(HALL))
    env.pub.publish("zigbee2mqtt/kitchen", json.dumps({"state": "ON"}))
    wait_status(env, KITCHEN, "ON")
    env.check(True, "every other light is the general rule's")


def check_order_and_exclude(env):
    setup(env)
    mark = reload(env, [GENERAL, HALL_RULE])
    env.b.wait_log(WARNING % (r"zigbee2mqtt/\+", "zigbee2mqtt/hall"), since=mark)
    env.check(True, "a reload warns again")
    light(env, "ON", 50)
    wait_status(env, HALL, "ON")
    env.b.wait_log(r"devices: 'hall' belongs to the rule of line %d, before the rule of "
                   r"line %d" % (line_of(env, '"zigbee2mqtt"'),
                                 line_of(env, '"zigbee2mqtt/hall"')), since=mark)
    env.check(True, "the general rule, now first, owns the light and says so")

    excluding = dict(GENERAL, exclude=["zigbee2mqtt/hall/#"])
    mark = reload(env, [excluding, HALL_RULE])
    light(env, "ON", 60)
    wait_status(env, HALL, "60")
    env.check(True, "with exclude the light is its own rule's again, whatever the order")
    env.check(env.b.absent(r"can both claim", 0.5, since=mark) is None,
              "and the reload warns no more")
    env.check(env.b.stop() == 0, "the bridge exits 0")


if __name__ == "__main__":
    harness.main([check_warning_at_start, check_first_rule_owns, check_order_and_exclude],
                 time_limit=90)
