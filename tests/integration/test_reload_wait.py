#!/usr/bin/python3
"""`mqtt-xmpp-bridge --reload PID`, the unit's ExecReload: it returns only once the daemon
applied the new configuration (the daemon's log says so before it returns), exits 1 when
the file has errors (the running routes stay), and a plain SIGHUP from a process that did
not ask for an answer reloads without one (that process is never signaled back)."""

import os
import signal
import subprocess
import sys
import time

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
    with open(env.b.conf_path, "w") as f:
        f.write(cfg if isinstance(cfg, str) else harness.format_config(cfg))


def reload_wait(env):
    return subprocess.run([harness.bridge_binary(), "--reload", str(env.b.pid)],
                          capture_output=True, text=True, timeout=70)


def check_reload_waits(env):
    setup(env)
    new = harness.merge(env.cfg, {"notify": [
        {"topic": "garden/+/rain", "to": ["alice@localhost"], "message": "rain in {{topic.2}}"},
        {"topic": "garden/+/sun", "to": ["alice@localhost"], "message": "sun"}]})
    rewrite(env, new)
    bmark = env.b.mark()
    r = reload_wait(env)
    env.check(r.returncode == 0, "--reload exits 0 once the reload is applied", r.stderr)
    # No wait here: the line must already be in the log when --reload returned.
    text = env.b.text(since=bmark)
    env.check("reload: 2 notify and 1 command routes" in text,
              "the daemon had applied the new routes when --reload returned", text[-400:])
    env.pub.publish("garden/north/rain", "yes")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "rain in north", "the new route works", m.body)


def check_reload_refused(env):
    setup(env)
    good = open(env.b.conf_path).read()
    rewrite(env, "xmpp: { jid = \"bridge@localhost\"; pasword = \"x\"; };\n")
    r = reload_wait(env)
    env.check(r.returncode == 1, "--reload exits 1 when the file has errors", r)
    env.check("the configuration has errors" in r.stderr, "and says so", r.stderr)
    env.b.wait_log(r"unknown key 'pasword' in 'xmpp'")
    env.pub.publish("garden/south/rain", "still")
    m = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(m.body == "rain in south", "the running routes stayed", m.body)
    rewrite(env, good)


def check_plain_sighup(env):
    setup(env)
    # A child that sends a plain SIGHUP and then lives on with SIGUSR2 at its default
    # action (terminate): an answer would kill it.
    code = ("import os, signal, sys, time\n"
            "os.kill(int(sys.argv[1]), signal.SIGHUP)\n"
            "time.sleep(1.5)\n"
            "print('alive')\n")
    bmark = env.b.mark()
    r = subprocess.run([sys.executable, "-c", code, str(env.b.pid)], capture_output=True,
                       text=True, timeout=20)
    env.check(r.returncode == 0 and r.stdout.strip() == "alive",
              "a plain SIGHUP's sender is not signaled back", (r.returncode, r.stderr))
    env.b.wait_log(r"reload: \d+ notify and \d+ command routes", since=bmark)
    env.check(True, "and the daemon reloaded")


def check_bad_pid(env):
    r = subprocess.run([harness.bridge_binary(), "--reload", "nope"], capture_output=True,
                       text=True, timeout=10)
    env.check(r.returncode == 1 and "needs the daemon's pid" in r.stderr,
              "--reload with no pid is refused", r.stderr)
    # A process that never answers: --reload does not hang past its bound. pid of a
    # sleeping child that ignores SIGHUP.
    child = subprocess.Popen([sys.executable, "-c",
                              "import signal, time; signal.signal(signal.SIGHUP, "
                              "signal.SIG_IGN); time.sleep(120)"])
    p = None
    try:
        start = time.monotonic()
        p = subprocess.Popen([harness.bridge_binary(), "--reload", str(child.pid)],
                             stderr=subprocess.PIPE, text=True)
        time.sleep(1.0)
        env.check(p.poll() is None, "--reload waits for an answer")
    finally:
        if p:
            p.kill()
            p.wait(5)
        child.kill()
        child.wait(5)
    env.check(time.monotonic() - start < 10, "and can be stopped")

if __name__ == "__main__":
    harness.main([check_reload_waits, check_reload_refused, check_plain_sighup, check_bad_pid],
                 time_limit=120)
