#!/usr/bin/python3
"""Every example in config/ passes --check-config, and the routes each one is about are
what the bridge understood (Tasmota, Zigbee2MQTT, Home Assistant, Frigate)."""

import os
import shutil
import subprocess

import harness

EXPECT = {
    "bridge.conf": ["notify: 2 routes", "commands: 3 routes", "xmpp.rooms: 1"],
    "minimal.conf": ["notify: 1 route"],
    "tasmota.conf": ["'tele/+/LWT'", "'tele/+/SENSOR'", "command 'power' -> topic "
                     "'cmnd/{{arg.1}}/POWER'"],
    "zigbee2mqtt.conf": ["'zigbee2mqtt/front_door'", "(role moderator or higher)",
                         "command 'set' -> topic 'zigbee2mqtt/{{arg.1}}/set'"],
    "devices.conf": ["xmpp.component: 'iot.example.org'", "devices: 3 rules",
                     "tasmota, name '{{topic.2}}', availability 'tele/+/LWT' (Online/Offline)",
                     "xmpp.presence_topic: 'xmpp/presence' (show)"],
    "frigate.conf": ["'frigate/+/person/snapshot'", "binary upload, max_payload 4194304",
                     "caption the message", "content_type 'image/jpeg'",
                     "xmpp.upload_service: (discovered on the server)"],
    "homeassistant.conf": ["'homeassistant/alarm_control_panel/+/state'", "(headline)",
                           "from '*@example.org'"],
}


def copy_examples(env):
    """config/ copied into the temp dir with the xmpp.password that bridge.conf names
    (a relative name, taken from the config's directory), readable by its owner only."""
    confdir = os.path.join(env.tmp, "config")
    shutil.copytree(os.path.join(harness.SRCDIR, "config"), confdir)
    fd = os.open(os.path.join(confdir, "xmpp.password"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"secret\n")
    os.close(fd)
    return confdir


def check_examples(env):
    confdir = copy_examples(env)
    found = sorted(f for f in os.listdir(confdir) if f.endswith(".conf"))
    env.check(set(EXPECT) <= set(found), "the examples are all there", found)
    for name in found:
        path = os.path.join(confdir, name)
        r = subprocess.run([harness.bridge_binary(), "--check-config", "-c", path],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        env.check(r.returncode == 0, "--check-config %s exits 0" % name,
                  r.stderr.strip()[-300:])
        for want in EXPECT.get(name, []):
            env.check(want in r.stdout, "%s: shows %s" % (name, want), r.stdout[-400:])


if __name__ == "__main__":
    harness.main([check_examples], time_limit=60)
