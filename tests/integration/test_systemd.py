#!/usr/bin/python3
"""The systemd unit: systemd-analyze finds it well formed, and its hardening rates "OK"
or better (an exposure below 2.0 of 10) in `systemd-analyze security`."""

import os
import re
import shutil
import subprocess
import sys

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


if __name__ == "__main__":
    if not shutil.which("systemd-analyze"):
        print("SKIP: systemd-analyze not installed")
        sys.exit(77)
    harness.main([check_security, check_verify], time_limit=100, need_bridge=False)
