#!/usr/bin/python3
"""The real unit under a real systemd: the installed unit file (its Type=notify,
WatchdogSec=, ExecReload=, LoadCredential=, StateDirectory= and all its sandboxing) run by
systemd 252 between real servers.

Where the machine's PID 1 is systemd the test would disturb a real system, so it uses a
manager of its own everywhere: as root it boots systemd as PID 1 of a private PID and mount
namespace (a container without an image: the same root file system, a private /run,
/var/lib, /var/tmp and /tmp, /etc/passwd with the unit's user added), sharing the network
so that the bridge reaches the test's servers on loopback. Only the bridge's unit runs in
it: the unit's copy has DefaultDependencies=no and the boot targets are masked, so that
no unit of the machine's boot acts on the machine. (A credential's directory comes up
empty in such a nested manager, so the password is a file here; test_systemd checks the
${CREDENTIALS_DIRECTORY} names.) It checks:

- systemctl start returns once the bridge said READY, and the unit's STATUS= line says
  both sides are up; its LoadCredential= lines, naming secrets that are in no credstore,
  do not stop it; it runs as the unit's user, its spool in the StateDirectory;
- systemctl reload returns once the reload is applied (ExecReload=--reload), and fails
  on a broken file while the bridge keeps running;
- a TLS handshake that stalls does not stop the loop: the watchdog goes on being fed and
  nothing restarts it; a loop that stops turning (the process stopped) stops feeding it,
  and systemd kills the bridge and restarts it (NRestarts);
- systemctl stop ends it with status 0.

Without root, unshare, nsenter or systemd the test is skipped, its reason naming what is
missing; test_notify covers the protocol against a fake NOTIFY_SOCKET there."""

import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import harness

UNIT = os.environ.get("MXB_UNIT") or os.path.join(harness.SRCDIR, "build",
                                                 "mqtt-xmpp-bridge.service")
SYSTEMD = "/usr/lib/systemd/systemd"
SERVICE = "mqtt-xmpp-bridge.service"
USER = "mqtt-xmpp-bridge"
# Nothing of the machine's boot may start in the test's manager.
MASKED = ("sysinit.target", "basic.target", "sockets.target", "timers.target", "paths.target",
          "network.target", "network-online.target", "shutdown.target")

BOOT = r"""
set -eu
src=$1
# Nothing of this reaches the machine: every path systemd or the unit writes is private.
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p /run/systemd/system /run/mxb
cp -P "$src"/units/* /run/systemd/system/
cp "$src"/run/* /run/mxb/
chmod 0755 /run/mxb
chmod 0644 /run/mxb/*
chgrp "$3" /run/mxb/xmpp.password
chmod 0640 /run/mxb/xmpp.password
mount --bind "$src"/passwd /etc/passwd
mount --bind "$src"/group /etc/group
mount -t tmpfs -o mode=1777 tmpfs /tmp
exec env container=mxb-test SYSTEMD_LOG_LEVEL=info "$2" --system --unit=mxb-test.target
"""


def run(argv, timeout=30, **kw):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        return subprocess.CompletedProcess(argv, 255, "", str(e))


def missing_tools():
    missing = []
    if os.geteuid() != 0:
        missing.append("root (to boot a private systemd in PID and mount namespaces)")
    for tool in ("unshare", "nsenter", "systemctl"):
        if not shutil.which(tool):
            missing.append("%s is not installed" % tool)
    if not os.access(SYSTEMD, os.X_OK):
        missing.append("%s is not installed" % SYSTEMD)
    if not missing:
        r = run(["unshare", "--pid", "--fork", "--mount", "--mount-proc", "true"])
        if r.returncode != 0:
            missing.append("no PID and mount namespaces here (unshare: %s)" %
                           (r.stderr.strip() or r.returncode))
    return missing


def cgroup_dirs():
    out = set()
    for dp, _dn, _fn in os.walk("/sys/fs/cgroup"):
        out.add(dp)
    return out


class PrivateManager:
    """systemd as PID 1 of namespaces of its own; systemctl reaches it through nsenter."""

    def __init__(self, env, files, gid):
        self.env = env
        self.src = os.path.join(env.tmp, "manager")
        for sub, content in files.items():
            path = os.path.join(self.src, sub)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if content is None:
                os.symlink("/dev/null", path)  # masked
                continue
            with open(path, "w") as f:
                f.write(content)
        self.cgroups = cgroup_dirs()
        log = os.path.join(env.tmp, "systemd.log")
        self.proc = harness.spawn(["unshare", "--pid", "--fork", "--mount", "--mount-proc",
                                   "--kill-child", "sh", "-c", BOOT, "sh", self.src, SYSTEMD,
                                   str(gid)],
                                  "systemd", log)
        self.pid1 = None
        harness.wait_until(self._find_pid1, 15, what="systemd started in its namespace")
        harness.wait_until(lambda: self.ctl("is-system-running").stdout.strip()
                           in ("running", "degraded"), 30, what="the private systemd running")

    def _find_pid1(self):
        try:
            with open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)) as f:
                kids = f.read().split()
        except OSError:
            return False
        for k in kids:
            try:
                with open("/proc/%s/comm" % k) as f:
                    if f.read().strip() == "systemd":
                        self.pid1 = int(k)
                        return True
            except OSError:
                pass
        return False

    def path(self, p):
        """A path of the namespace, as seen from here."""
        return "/proc/%d/root%s" % (self.pid1, p)

    def ctl(self, *args, timeout=60):
        return run(["nsenter", "--target", str(self.pid1), "--mount", "--pid", "systemctl",
                    "--no-pager"] + list(args), timeout=timeout)

    def show(self, *props):
        r = self.ctl("show", SERVICE, "-p", ",".join(props))
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def write(self, p, text):
        with open(self.path(p), "w") as f:
            f.write(text)

    def stop(self):
        if self.pid1:
            try:
                os.kill(self.pid1, signal.SIGKILL)  # and with it every process it started
            except ProcessLookupError:
                pass
        harness.terminate(self.proc, signal.SIGKILL, 10)
        # The cgroups systemd made in the machine's hierarchies, emptied by the kill.
        deadline = time.monotonic() + 10
        new = sorted(cgroup_dirs() - self.cgroups, key=lambda d: -d.count("/"))
        while new and time.monotonic() < deadline:
            left = []
            for d in new:
                try:
                    os.rmdir(d)
                except OSError:
                    left.append(d)
            new = left
            if new:
                time.sleep(0.2)
        if new:
            self.env.note("cgroups left behind: %s" % new[:5])


def user_ids():
    """A uid and gid no account uses."""
    used_u = {int(line.split(":")[2]) for line in open("/etc/passwd") if line.count(":") >= 3}
    used_g = {int(line.split(":")[2]) for line in open("/etc/group") if line.count(":") >= 2}
    n = 64500
    while n in used_u or n in used_g:
        n += 1
    return n


def unit_text(watchdog):
    text = open(UNIT).read()
    binary = harness.bridge_binary()
    text = re.sub(r"^ExecStart=.*$", "ExecStart=%s -c /run/mxb/bridge.conf" % binary, text,
                  flags=re.M)
    text = re.sub(r"^ExecReload=\S+ ", "ExecReload=%s " % binary, text, flags=re.M)
    # Only for the test: a short watchdog, no core file, the log where the test reads it.
    text = re.sub(r"^WatchdogSec=.*$", "WatchdogSec=%ds" % watchdog, text, flags=re.M)
    text = re.sub(r"^RestartSec=.*$", "RestartSec=1s", text, flags=re.M)
    # A stopped process does not act on the watchdog's SIGABRT: SIGKILL comes this soon.
    text = text.replace("[Service]\n", "[Service]\nTimeoutAbortSec=2s\n", 1)
    # A manager of its own must start nothing but the bridge: sysinit.target's units
    # (tmpfiles, sysctl, journald, utmp) would act on the machine, not on the namespace.
    text = text.replace("[Unit]\n", "[Unit]\nDefaultDependencies=no\n", 1)
    text = text.replace("[Service]\n", "[Service]\nLimitCORE=0\n"
                        "StandardOutput=append:/run/mxb/bridge.log\nStandardError=inherit\n", 1)
    return text


def config_text(env, p, m, port=None, tls=None):
    cfg = env.bridge_config(p, m, over={
        "bridge": {"spool": "/var/lib/mqtt-xmpp-bridge"},
        "xmpp": {"ca_file": "/run/mxb/ca.pem"},
        "mqtt": {"tls": {"ca_file": "/run/mxb/ca.pem"}},
    })
    del cfg["xmpp"]["password"]
    cfg["xmpp"]["password_file"] = "/run/mxb/xmpp.password"
    if port:
        cfg["xmpp"]["port"] = port
    if tls:
        cfg["xmpp"]["tls"] = tls
    return harness.format_config(cfg)


def silent_server():
    """A TCP server that accepts and never says a word: a TLS handshake to it stalls."""
    lsock = socket.socket()
    lsock.bind((harness.LOOPBACK, 0))
    lsock.listen(8)
    conns = []
    stop = threading.Event()

    def accept():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = lsock.accept()
                conns.append(c)
            except socket.timeout:
                continue
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()

    def close():
        stop.set()
        lsock.close()
        for c in conns:
            c.close()
    return lsock.getsockname()[1], conns, close


def check_real_unit(env):
    p, m = env.standard_servers()
    uid = user_ids()
    passwd = open("/etc/passwd").read().rstrip("\n") + \
        "\n%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n" % (USER, uid, uid)
    group = open("/etc/group").read().rstrip("\n") + "\n%s:x:%d:\n" % (USER, uid)
    watchdog = 4
    files = {
        "units/mxb-test.target": "[Unit]\nDescription=mqtt-xmpp-bridge test\n"
                                 "DefaultDependencies=no\n",
        "units/" + SERVICE: unit_text(watchdog),
        "run/xmpp.password": p.accounts["bridge"] + "\n",
        "run/bridge.conf": config_text(env, p, m),
        "run/ca.pem": open(env.pki.ca.cert).read(),
        "passwd": passwd,
        "group": group,
    }
    for target in MASKED:
        files["units/" + target] = None
    mgr = env.mgr = PrivateManager(env, files, uid)
    env.note("systemd %s is PID 1 of its namespace (pid %d here)" % (
        run(["systemctl", "--version"]).stdout.split()[1], mgr.pid1))

    start = time.monotonic()
    r = mgr.ctl("start", SERVICE, timeout=90)
    env.check(r.returncode == 0, "systemctl start returns once the bridge is ready", r.stderr)
    st = mgr.show("ActiveState", "SubState", "StatusText", "MainPID", "WatchdogUSec")
    env.note("active after %.1f s: %s" % (time.monotonic() - start, st))
    env.check(st.get("ActiveState") == "active" and st.get("SubState") == "running",
              "the unit is active (running)", st)
    env.check(re.search(r"^mqtt up, xmpp up", st.get("StatusText", "")),
              "its STATUS= line says both sides are up", st)
    env.check(st.get("WatchdogUSec") == "%ds" % watchdog or
              st.get("WatchdogUSec") == str(watchdog * 1000000),
              "the watchdog is armed", st)
    env.check(True, "LoadCredential= of secrets that are not in a credstore does not stop it")
    spool = os.stat(mgr.path("/var/lib/mqtt-xmpp-bridge"))
    env.check(spool.st_uid == uid, "the spool is in the StateDirectory, the unit user's")
    pid = st.get("MainPID")
    status = open("/proc/%d/root/proc/%s/status" % (mgr.pid1, pid)).read() if pid else ""
    env.check(re.search(r"^Uid:\s+%d\b" % uid, status, re.M),
              "the bridge runs as the unit's user", status[:200])

    log = mgr.path("/run/mxb/bridge.log")
    mark = len(open(log).read())
    with open(mgr.path("/run/mxb/bridge.conf"), "a") as f:
        f.write("\n# edited\n")
    r = mgr.ctl("reload", SERVICE, timeout=90)
    env.check(r.returncode == 0, "systemctl reload returns 0", r.stderr)
    env.check("reload: " in open(log).read()[mark:],
              "the reload was applied when systemctl reload returned")
    good = open(mgr.path("/run/mxb/bridge.conf")).read()
    mgr.write("/run/mxb/bridge.conf", "xmpp: { pasword = 1; };\n")
    r = mgr.ctl("reload", SERVICE, timeout=90)
    env.check(r.returncode != 0, "systemctl reload fails on a broken file", r.returncode)
    env.check(mgr.show("ActiveState").get("ActiveState") == "active",
              "and the bridge keeps running")

    port, conns, close = silent_server()
    try:
        mgr.write("/run/mxb/bridge.conf", config_text(env, p, m, port=port, tls="direct"))
        r = mgr.ctl("reload", SERVICE, timeout=90)
        env.check(r.returncode == 0, "a reload moves the XMPP side to a silent server",
                  r.stderr)
        harness.wait_until(lambda: conns, 15, what="the bridge connects to the silent server")
        time.sleep(watchdog * 3)
        st = mgr.show("ActiveState", "NRestarts")
        env.check(st.get("ActiveState") == "active" and st.get("NRestarts", "0") == "0",
                  "a stalled TLS handshake leaves the loop turning: the watchdog is fed, "
                  "no restart in %d s" % (watchdog * 3), st)
        r = mgr.ctl("kill", "--signal=SIGSTOP", SERVICE)
        env.check(r.returncode == 0, "the bridge's process stopped (SIGSTOP)", r.stderr)
        harness.wait_until(lambda: int(mgr.show("NRestarts").get("NRestarts", "0")) >= 1,
                           watchdog * 4 + 10, what="systemd restarting the stopped bridge")
        env.check(True, "a loop that stops turning stops feeding the watchdog; systemd "
                  "restarts the bridge")
    finally:
        close()
    # The restarted bridge read the silent server's port; it is closed now, so the bridge
    # gets ready (MQTT up, XMPP retrying), and a reload gives it the good file again.
    mgr.write("/run/mxb/bridge.conf", good)
    harness.wait_until(lambda: mgr.show("ActiveState", "SubState") == {
        "ActiveState": "active", "SubState": "running"}, 60, what="the restarted bridge ready")
    r = mgr.ctl("reload", SERVICE, timeout=90)
    env.check(r.returncode == 0, "the restarted bridge reloads the fixed file", r.stderr)
    harness.wait_until(lambda: re.search(r"^mqtt up, xmpp up", mgr.show(
        "StatusText").get("StatusText", "")), 30, what="the restarted bridge up again")
    env.check(True, "and is up again on both sides")

    r = mgr.ctl("stop", SERVICE, timeout=60)
    st = mgr.show("ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
    env.check(r.returncode == 0 and st.get("ActiveState") == "inactive",
              "systemctl stop stops it", (r.stderr, st))
    env.check(st.get("ExecMainStatus") == "0" and st.get("Result") == "success",
              "with exit status 0", st)


if __name__ == "__main__":
    missing = missing_tools()
    if missing:
        print("SKIP test_systemd_real: cannot run the unit under systemd here: %s" %
              "; ".join(missing), flush=True)
        raise SystemExit(77)

    def check(env):
        try:
            check_real_unit(env)
        finally:
            if getattr(env, "mgr", None):
                mgr = env.mgr
                try:
                    print(mgr.ctl("status", SERVICE, "-n", "30").stdout[-3000:])
                    print(open(mgr.path("/run/mxb/bridge.log")).read()[-3000:])
                except OSError as e:
                    print("no bridge log: %s" % e)
                mgr.stop()
    check.__name__ = "check_real_unit"
    harness.main([check], time_limit=170)
