#!/usr/bin/python3
"""The systemd unit: systemd-analyze finds it well formed, and its hardening rates "OK"
or better (an exposure below 2.0 of 10) in `systemd-analyze security`; it loads the
secrets as credentials, keeps the spool in its StateDirectory and reloads with a command
that waits; a config naming ${CREDENTIALS_DIRECTORY} files loads where systemd set the
variable and is a file:line error where it did not."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

import harness

# The unit meson generates from systemd/mqtt-xmpp-bridge.service.in, with the build's paths.
UNIT = os.environ.get("MXB_UNIT") or os.path.join(harness.SRCDIR, "build",
                                                 "mqtt-xmpp-bridge.service")


def check_security(env):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", UNIT],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\w+)", r.stdout)
    env.check(m is not None, "systemd-analyze rates the unit", r.stdout[-300:] + r.stderr)
    level, word = float(m.group(1)), m.group(2)
    env.note("exposure %.1f %s" % (level, word))
    env.check(level < 2.0 and word in ("OK", "SAFE", "PERFECT"),
              "the unit rates OK or better (%.1f %s)" % (level, word))
    for key in ("NoNewPrivileges=yes", "ProtectSystem=strict", "User=mqtt-xmpp-bridge",
                "CapabilityBoundingSet=", "SystemCallFilter=@system-service"):
        env.check(key in open(UNIT).read(), "the unit sets %s" % key)


def check_verify(env):
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", UNIT], capture_output=True,
                       text=True, timeout=60)
    # Without the installed binary and user, verify complains about those only.
    bad = [line for line in r.stderr.splitlines()
           if line.strip() and "mqtt-xmpp-bridge" not in line.split(":")[-1]
           and not re.search(r"Command \S*/mqtt-xmpp-bridge ", line)]
    env.check(not [b for b in bad if "Unknown" in b or "Invalid" in b or "Failed to parse" in b],
              "systemd-analyze verify finds no unknown or invalid setting", r.stderr[-500:])


def check_unit_settings(env):
    text = open(UNIT).read()
    for cred in ("xmpp.password", "mqtt.password", "component.secret"):
        env.check("LoadCredential=%s:mqtt-xmpp-bridge.%s" % (cred, cred) in text,
                  "the unit loads the credential %s (from /etc/credstore)" % cred)
    env.check("StateDirectory=mqtt-xmpp-bridge" in text, "the spool's StateDirectory")
    env.check(re.search(r"^ExecReload=\S*/mqtt-xmpp-bridge --reload \$MAINPID$", text, re.M),
              "ExecReload waits for the reload (--reload $MAINPID)")


def check_credentials(env):
    d = tempfile.mkdtemp(dir=env.tmp)
    creds = os.path.join(d, "credentials")
    os.mkdir(creds, 0o700)
    for name, value in (("xmpp.password", "xmpp-secret"), ("mqtt.password", "mqtt-secret")):
        path = os.path.join(creds, name)
        with open(path, "w") as f:
            f.write(value + "\n")
        os.chmod(path, 0o400)  # as systemd makes them
    conf = os.path.join(d, "bridge.conf")
    with open(conf, "w") as f:
        f.write('xmpp: {\n  jid = "home@example.org/bridge";\n'
                '  password_file = "${CREDENTIALS_DIRECTORY}/xmpp.password";\n};\n'
                'mqtt: {\n  username = "bridge";\n'
                '  password_file = "${CREDENTIALS_DIRECTORY}/mqtt.password";\n};\n')
    base = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    argv = [harness.bridge_binary(), "--check-config", "-c", conf]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30,
                       env=dict(base, CREDENTIALS_DIRECTORY=creds))
    env.check(r.returncode == 0, "the config loads with CREDENTIALS_DIRECTORY set", r.stderr)
    env.check("xmpp-secret" not in r.stdout + r.stderr, "and shows no secret")
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=base)
    want = ("%s:3: password_file '${CREDENTIALS_DIRECTORY}/xmpp.password' names a systemd "
            "credential, but CREDENTIALS_DIRECTORY is not set (systemd sets it for a unit "
            "with LoadCredential=)" % conf)
    env.check(r.returncode == 1 and want in r.stderr,
              "without it: a file:line error that names the variable", r.stderr)
    env.check("%s:7: password_file" % conf in r.stderr, "for each key naming it", r.stderr)


if __name__ == "__main__":
    if not shutil.which("systemd-analyze"):
        print("SKIP: systemd-analyze not installed")
        sys.exit(77)
    harness.main([check_security, check_verify, check_unit_settings, check_credentials],
                 time_limit=100, need_bridge=False)
