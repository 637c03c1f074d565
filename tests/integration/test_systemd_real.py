#!/usr/bin/python3
"""The unit under a real service manager, where the machine has one: the bridge started
through systemd-run with the unit's Type=notify, WatchdogSec= and ExecReload=, between
real servers, becomes active only once it said READY, shows its STATUS= line, reloads
with `systemctl reload` (which waits for --reload), and stops cleanly. On a machine
without a usable manager (a container or VM whose PID 1 is not systemd) the test is
skipped, its reason naming what is missing; test_notify covers the protocol there against
a fake NOTIFY_SOCKET."""

import os
import re
import shutil
import subprocess
import time
import uuid

import harness

UNIT = os.environ.get("MXB_UNIT") or os.path.join(harness.SRCDIR, "build",
                                                 "mqtt-xmpp-bridge.service")


def run(argv, timeout=30):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 255, "", str(e))


def pid1_name():
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def find_manager():
    """(systemctl argv prefix, systemd-run argv prefix), or (None, reason)."""
    missing = []
    if not shutil.which("systemd-run"):
        return None, "systemd-run is not installed"
    if os.path.isdir("/run/systemd/system") and os.geteuid() == 0:
        r = run(["systemctl", "is-system-running"])
        if r.stdout.strip() in ("running", "degraded", "starting"):
            return (["systemctl"], ["systemd-run"]), None
        missing.append("PID 1 is systemd but not running (%s)" % r.stdout.strip())
    else:
        missing.append("PID 1 is not systemd (/run/systemd/system does not exist; PID 1 "
                       "is '%s')" % pid1_name())
    r = run(["systemd-run", "--user", "--quiet", "--wait", "true"])
    if r.returncode == 0:
        return (["systemctl", "--user"], ["systemd-run", "--user"]), None
    missing.append("no user manager ('systemd-run --user' says: %s; 'systemd --user' "
                   "refuses to run on a system not booted with systemd)" %
                   (r.stderr.strip().splitlines() or ["?"])[-1])
    if not shutil.which("systemd-nspawn"):
        missing.append("systemd-nspawn is not installed (nor a container image to boot)")
    return None, "; ".join(missing)


def unit_values(key):
    return re.findall(r"^%s=(.*)$" % key, open(UNIT).read(), re.M)


def show(ctl, unit, *props):
    r = run(ctl + ["show", unit, "-p", ",".join(props)])
    return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)


def check_real_unit(env):
    (ctl, sdrun), _ = env.manager
    p, m = env.standard_servers()
    cfg = env.bridge_config(p, m)
    conf = os.path.join(env.tmp, "systemd-bridge.conf")
    with open(conf, "w") as f:
        f.write(harness.format_config(cfg))
    unit = "mxb-test-%s.service" % uuid.uuid4().hex[:8]
    env.unit = (ctl, unit)
    watchdog = unit_values("WatchdogSec")[0]
    argv = sdrun + ["--unit", unit, "--quiet", "-p", "Type=notify", "-p", "NotifyAccess=main",
                    "-p", "WatchdogSec=" + watchdog,
                    "-p", "ExecReload=%s --reload $MAINPID" % harness.bridge_binary(),
                    harness.bridge_binary(), "-c", conf]
    start = time.monotonic()
    r = run(argv, timeout=60)
    env.check(r.returncode == 0, "systemd-run starts the bridge as a Type=notify unit", r.stderr)
    st = show(ctl, unit, "ActiveState", "SubState", "StatusText", "WatchdogUSec")
    env.check(st.get("ActiveState") == "active", "active once it said READY", st)
    env.note("active after %.1f s" % (time.monotonic() - start))
    env.check(re.search(r"mqtt up, xmpp up", st.get("StatusText", "")),
              "its STATUS= line says both sides are up", st)
    with open(conf, "a") as f:
        f.write("\n")
    r = run(ctl + ["reload", unit], timeout=90)
    env.check(r.returncode == 0, "systemctl reload returns once the reload is done", r.stderr)
    with open(conf, "w") as f:
        f.write("xmpp: { pasword = 1; };\n")
    r = run(ctl + ["reload", unit], timeout=90)
    env.check(r.returncode != 0, "systemctl reload fails on a broken file")
    st = show(ctl, unit, "ActiveState")
    env.check(st.get("ActiveState") == "active", "and the bridge keeps running", st)
    r = run(ctl + ["stop", unit], timeout=60)
    env.check(r.returncode == 0, "systemctl stop stops it", r.stderr)


def cleanup(env):
    if getattr(env, "unit", None):
        ctl, unit = env.unit
        run(ctl + ["stop", unit], timeout=60)
        run(ctl + ["reset-failed", unit], timeout=30)


if __name__ == "__main__":
    env_manager = find_manager()
    if env_manager[0] is None:
        print("SKIP test_systemd_real: no service manager to run the unit under: %s" %
              env_manager[1], flush=True)
        raise SystemExit(77)

    def check(env):
        env.manager = env_manager
        try:
            check_real_unit(env)
        finally:
            cleanup(env)
    check.__name__ = "check_real_unit"
    harness.main([check], time_limit=170)
