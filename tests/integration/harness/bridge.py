"""The bridge process, its bridge.conf (libconfig syntax written from dicts) and its
counters (SIGUSR1)."""

import os
import re
import signal
import subprocess

from .procs import SRCDIR, TestFailure, spawn, terminate

DEFAULT_BRIDGE = os.path.join(SRCDIR, "build", "mqtt-xmpp-bridge")


def bridge_binary():
    """The bridge binary the tests run: MXB_BRIDGE, else SRCDIR/build/mqtt-xmpp-bridge."""
    return os.environ.get("MXB_BRIDGE") or DEFAULT_BRIDGE


def _cfg_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        out = []
        for ch in v:
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ord(ch) < 0x20:
                out.append("\\x%02x" % ord(ch))
            else:
                out.append(ch)
        return '"' + "".join(out) + '"'
    raise TypeError("cannot write %r to bridge.conf" % (v,))


def _cfg_value(v, indent):
    pad = "\t" * indent
    if isinstance(v, dict):
        inner = "".join("%s\t%s = %s;\n" % (pad, k, _cfg_value(x, indent + 1))
                        for k, x in v.items() if x is not None)
        return "{\n" + inner + pad + "}"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            return "(\n" + ",\n".join(pad + "\t" + _cfg_value(x, indent + 1) for x in v) + \
                "\n" + pad + ")"
        if not v:
            return "( )"
        return "[ " + ", ".join(_cfg_scalar(x) for x in v) + " ]"
    return _cfg_scalar(v)


def format_config(cfg):
    """A dict -> bridge.conf text. dict -> group, list of dicts -> list, list of scalars ->
    array; keys whose value is None are left out."""
    return "".join("%s = %s;\n" % (k, _cfg_value(v, 0)) for k, v in cfg.items()
                   if v is not None)


def merge(base, over):
    """Deep-merges over into a copy of base (dicts merge, anything else replaces; a value
    of None deletes the key)."""
    out = dict(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


class Bridge:
    """The bridge binary run with -c CONF (stdout and stderr to a log file)."""

    def __init__(self, env, conf, name, args=None, extra_env=None):
        self.env = env
        self.extra_env = extra_env or {}
        self.name = name
        self.conf_path = os.path.join(env.tmp, name + ".conf")
        with open(self.conf_path, "w") as f:
            f.write(conf if isinstance(conf, str) else format_config(conf))
        self.args = args or []
        self.proc = None
        self.log = env.register_log(os.path.join(env.tmp, name + ".log"), name,
                                    lambda: self.proc)

    def start(self):
        # not under systemd: plain "level: message" lines, whatever runs the tests
        env = {k: v for k, v in os.environ.items()
               if k not in ("JOURNAL_STREAM", "INVOCATION_ID", "NOTIFY_SOCKET",
                            "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env.update(self.extra_env)
        argv = [bridge_binary(), "-c", self.conf_path] + self.args
        wrapper = os.environ.get("MXB_BRIDGE_WRAPPER")
        if wrapper:
            # e.g. "valgrind --leak-check=full --error-exitcode=99" (scripts/test-valgrind)
            import shlex
            argv = shlex.split(wrapper) + argv
        self.proc = spawn(argv, self.name, self.log.path, env=env)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def mark(self):
        return self.log.mark()

    def wait_log(self, regex, timeout=15.0, since=0, count=1):
        return self.log.wait(regex, timeout, since, count)

    def absent(self, regex, duration, since=0):
        return self.log.absent(regex, duration, since)

    def text(self, since=0):
        return self.log.text(since)

    def wait_ready(self, timeout=30.0, since=0):
        """Both sessions up: the SPEC's two log lines."""
        self.wait_log(r"mqtt: connected to ", timeout, since)
        self.wait_log(r"xmpp: session established as '", timeout, since)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends sig, waits; returns the exit code (negative = killed by that signal;
        -9 also when it did not exit within timeout and had to be killed)."""
        if self.proc is None:
            return None
        return terminate(self.proc, sig, timeout)

    def wait_exit(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

# ---------------------------------------------------------------------------------------
# Counters

_COUNTER_LINE = re.compile(r"bridge: (mqtt received [^\n]*)\n(?:[^\n]*\n)*?[^\n]*"
                           r"bridge: (commands published [^\n]*)\n(?:[^\n]*\n)*?[^\n]*"
                           r"bridge: (xmpp acked [^\n]*)")


def _parse_counter_text(text, prefix=""):
    out = {}
    for part in text.split(","):
        m = re.match(r"\s*(.*?)\s+(\d+)\s*$", part)
        if m:
            name = m.group(1)
            if prefix and not name.startswith(prefix):
                name = prefix + name
            out[name] = int(m.group(2))
    return out


def bridge_counters(bridge, timeout=10.0):
    """Sends SIGUSR1 to the bridge and returns its counters as a dict, from the three log
    lines "bridge: mqtt received N, own dropped N, ...", "bridge: commands published N,
    refused N, ..." and "bridge: xmpp acked N, resent N, ...". The names of the second line
    get the prefix "commands ": {"mqtt received": 3, ..., "commands published": 1,
    "commands refused": 0, ..., "xmpp acked": 2, "unacked dropped": 0, ...}."""
    mark = bridge.mark()
    os.kill(bridge.pid, signal.SIGUSR1)
    bridge.wait_log(r"bridge: xmpp acked [^\n]*\n", timeout=timeout, since=mark)
    m = _COUNTER_LINE.search(bridge.text(mark))
    if m is None:
        raise TestFailure("%s: counter lines not found after SIGUSR1" % bridge.name)
    out = _parse_counter_text(m.group(1))
    out.update(_parse_counter_text(m.group(2), "commands "))
    out.update(_parse_counter_text(m.group(3)))
    return out


def counter_delta(before, after):
    """The counters that changed: {name: after - before}."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}

