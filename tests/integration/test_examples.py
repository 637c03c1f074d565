#!/usr/bin/python3
"""Every example in config/ passes --check-config, and the routes each one is about are
what the bridge understood (Tasmota, Zigbee2MQTT, Home Assistant, Frigate); so does every
cookbook configuration in config/examples/ (with its secrets as systemd credentials where
it names them), and each cookbook page in docs/cookbook/ shows its file as it is."""

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
    "owntracks.conf": ["location.accounts: 2", "'owntracks/alice/+' -> "
                       "'alice@example.org/owntracks' (password set)",
                       "location.contacts: 2 'granny@example.org', 'grandpa@example.org'",
                       "location.topic: 'owntracks/family/BAREJID' (owntracks)"],
    "pubsub.conf": ["pubsub: 2 routes", "'zigbee2mqtt/+' -> node 'sensors/{{topic.2}}' on "
                    "'pubsub.example.org', format json, latest value as item 'current'",
                    "format atom (title '{{topic.2}}', summary '{{topic.2}}: {{payload}}'), "
                    "history 100", "subscribe: 2 routes", "nodes matching 'weather/*'",
                    "nodes 'announcements', 'alerts' -> topic 'xmpp/pubsub/{{name}}' (qos 1, "
                    "retain false)"],
    "frigate.conf": ["'frigate/+/person/snapshot'", "binary upload, max_payload 4194304",
                     "caption the message", "content_type 'image/jpeg'",
                     "xmpp.upload_service: (discovered on the server)"],
    "homeassistant.conf": ["'homeassistant/alarm_control_panel/+/state'", "(headline)",
                           "from '*@example.org'",
                           "homeassistant, name '{{topic.2}}', availability '' (online/"
                           "offline), state '', command '', allow 'alice@example.org', also "
                           "'homeassistant/+/+/config', 'homeassistant/+/+/+/config'"],
}

# config/examples/NAME.conf, shown in docs/cookbook/NAME.md
COOKBOOK = {
    "tasmota.conf": ["devices: 1 rule", "tasmota, name '{{topic.2}}'",
                     "command 'power' -> topic 'cmnd/{{arg.1}}/POWER'",
                     "bridge.spool: '/var/lib/mqtt-xmpp-bridge'"],
    "zigbee2mqtt.conf": ["zigbee2mqtt, name '{{topic.2}}'", "'zigbee2mqtt/kitchen_leak' (qos 1) "
                         "-> 'alice@example.org', 'bob@example.org' (headline)"],
    "homeassistant.conf": ["xmpp.presence_discovery: 'homeassistant' (Home Assistant)",
                           "xmpp.presence_topic: 'xmpp/presence' (show)",
                           "mqtt.password: (set)"],
    "family.conf": ["xmpp.rooms: 1", "(role moderator or higher) command 'lights'",
                    "(affiliation member or higher) command 'garage'",
                    "'home/+/alarm' (qos 1) -> 'family@muc.example.org'"],
    "owntracks.conf": ["location.accounts: 2", "location.topic: 'owntracks/family/BAREJID'",
                       "location.contacts: 2 'granny@example.org', 'grandpa@example.org'"],
    "frigate.conf": ["'frigate/+/person/snapshot' (qos 1) -> 'family@muc.example.org', "
                     "'alice@example.org'", "min_interval 30, only_changes false, binary "
                     "upload, max_payload 4194304", "upload: file_name '{{topic.2}}-person-"
                     "{{time}}', content_type (sniffed), caption the message",
                     "upload: file_name 'drive-car-{{time}}', content_type 'image/jpeg', "
                     "caption none", "xmpp.upload_service: (discovered on the server)",
                     "xmpp.rooms: 1"],
}


def copy_examples(env):
    """config/ copied into the temp dir with the xmpp.password that bridge.conf names
    (a relative name, taken from the config's directory), readable by its owner only."""
    confdir = os.path.join(env.tmp, "config")
    if os.path.isdir(confdir):
        return confdir
    shutil.copytree(os.path.join(harness.SRCDIR, "config"), confdir)
    for name in ("xmpp.password", "alice.password", "ben.password"):
        fd = os.open(os.path.join(confdir, name), os.O_WRONLY | os.O_CREAT, 0o600)
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


def check_cookbook(env):
    confdir = os.path.join(copy_examples(env), "examples")
    creds = os.path.join(env.tmp, "credentials")
    os.mkdir(creds, 0o700)
    for d, name in ((confdir, "xmpp.password"), (confdir, "component.secret"),
                    (creds, "xmpp.password"), (creds, "component.secret"),
                    (creds, "mqtt.password"), (creds, "alice.password"),
                    (creds, "ben.password")):
        fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"secret\n")
        os.close(fd)
    found = sorted(f for f in os.listdir(confdir) if f.endswith(".conf"))
    env.check(found == sorted(COOKBOOK), "config/examples holds the cookbook's files", found)
    pages = os.path.join(harness.SRCDIR, "docs", "cookbook")
    index = open(os.path.join(pages, "README.md")).read()
    for name in found:
        path = os.path.join(confdir, name)
        r = subprocess.run([harness.bridge_binary(), "--check-config", "-c", path],
                           capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL,
                           env=dict(os.environ, CREDENTIALS_DIRECTORY=creds))
        env.check(r.returncode == 0, "--check-config examples/%s exits 0" % name,
                  r.stderr.strip()[-300:])
        for want in COOKBOOK[name]:
            env.check(want in r.stdout, "examples/%s: shows %s" % (name, want),
                      r.stdout[-400:])
        page = name[:-len(".conf")] + ".md"
        text = open(os.path.join(pages, page)).read()
        conf = open(path).read().rstrip("\n")
        env.check(conf in text, "docs/cookbook/%s shows config/examples/%s as it is" % (
            page, name))
        env.check("(%s)" % page in index, "the cookbook's index links %s" % page)


if __name__ == "__main__":
    harness.main([check_examples, check_cookbook], time_limit=60)
