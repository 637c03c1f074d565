#!/usr/bin/python3
"""scripts/demo.py --once: its own mosquitto and Prosody, a message each way, the
simulated Tasmota plug added to a roster and switched, a command in the room the bridge
created; every step printed as a new user sees it, and exit 0."""

import os
import subprocess

import harness


def check_demo_once(env):
    script = os.path.join(harness.SRCDIR, "scripts", "demo.py")
    r = subprocess.run(["/usr/bin/python3", script, "--once"], capture_output=True,
                       text=True, timeout=150, stdin=subprocess.DEVNULL,
                       env=dict(os.environ, MXB_BRIDGE=harness.bridge_binary()))
    out = r.stdout
    env.check(r.returncode == 0 and "demo OK" in out, "the demo exits 0 and says OK",
              (r.returncode, out[-600:], r.stderr[-600:]))
    for line in (
            "XMPP  alice@localhost got from bridge@localhost/bridge: 'kitchen says smoke "
            "detected'",
            "XMPP  alice@localhost added plug@iot.localhost: available, show away, status "
            "'OFF'",
            "XMPP  plug@iot.localhost answered: 'plug is ON'",
            "XMPP  the room got: \"alice: published to 'cmnd/plug/POWER'\""):
        env.check(line in out.split("\n"), "it shows: %s" % line, out[-800:])


if __name__ == "__main__":
    harness.main([check_demo_once], time_limit=170)
