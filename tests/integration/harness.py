"""Integration test harness for mqtt-xmpp-bridge.

Starts throwaway mosquitto and Prosody instances on loopback ports in a temp dir,
generates a PKI with the openssl CLI, drives the bridge binary and offers synchronous
XMPP (slixmpp) and MQTT (paho) test clients. Every process it starts is killed by its
pid at the end, also on exceptions, on SIGTERM/SIGINT (meson's timeout) and, through
PR_SET_PDEATHSIG, when the test process itself dies.

A test file is a standalone program:

    import harness
    def check_something(env):
        ...
    if __name__ == "__main__":
        harness.main([check_something])

Environment:
    MXB_BRIDGE     the bridge binary (default SRCDIR/build/mqtt-xmpp-bridge)
    MXB_SRCDIR     the source tree (default: two levels above this file)
    MXB_KEEP_TMP   keep the temp dir of each run
    MXB_LOG_LEVEL  bridge.log_level in generated configs (default "info")
    MXB_VERBOSE    print the log tails also when everything passed
    MXB_BRIDGE_WRAPPER  a command put in front of the bridge (shlex-split), e.g. valgrind
    MXB_TIME_SCALE multiplies each test file's time limit (default 1)
"""

import asyncio
import atexit
import concurrent.futures
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import xml.etree.ElementTree as ET
from collections import namedtuple

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("MXB_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
DEFAULT_BRIDGE = os.path.join(SRCDIR, "build", "mqtt-xmpp-bridge")
LOOPBACK = "127.0.0.1"
XMPP_DOMAIN = "localhost"


def bridge_binary():
    return os.environ.get("MXB_BRIDGE") or DEFAULT_BRIDGE


class TestFailure(Exception):
    """A check failed; the message says what was expected and what was seen."""


class Terminated(BaseException):
    """The test process got SIGTERM/SIGINT (e.g. meson's timeout)."""


class TestTimeout(BaseException):
    """The whole test file ran over its time limit."""


# ---------------------------------------------------------------------------------------
# Process bookkeeping: every child is registered and killed by pid.

_children = {}  # pid -> (Popen, name)
_children_lock = threading.Lock()


_SPAWN_MASK = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM}


def _pdeathsig():
    """Runs in the child between fork and exec: die with the test process, and take the
    signals spawn() blocks in the parent (the mask survives exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SPAWN_MASK)
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


def spawn(argv, name, log_path, cwd=None, env=None):
    """Starts argv with stdout and stderr appended to log_path, in a session of its own."""
    logf = open(log_path, "ab")
    # no SIGTERM (meson's timeout) between fork and registration: the child would be
    # running without the harness knowing its pid
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SPAWN_MASK)
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                cwd=cwd, env=env, start_new_session=True,
                                preexec_fn=_pdeathsig, close_fds=True)
        with _children_lock:
            _children[proc.pid] = (proc, name)
    finally:
        logf.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return proc


def terminate(proc, sig=signal.SIGTERM, timeout=10.0):
    """Sends sig to proc (by its pid), waits up to timeout, then SIGKILLs. Returns the exit
    status as Popen reports it (negative: killed by that signal)."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
    with _children_lock:
        _children.pop(proc.pid, None)
    return proc.returncode


def kill_all_children():
    with _children_lock:
        items = list(_children.values())
    for proc, _name in items:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for proc, _name in items:
        try:
            proc.wait(5)
        except Exception:
            pass
    with _children_lock:
        _children.clear()


atexit.register(kill_all_children)


def _on_signal(signum, _frame):
    raise Terminated("signal %d" % signum)


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)


# ---------------------------------------------------------------------------------------
# Small helpers

_ports_given = set()


def free_port():
    """A loopback TCP port nobody listens on right now (and not handed out before)."""
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in _ports_given:
            _ports_given.add(port)
            return port
    raise RuntimeError("no free port")


def port_accepts(port, host=LOOPBACK):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_owner_pids(port):
    """Pids listening on 127.0.0.1:port according to ss."""
    out = subprocess.run(["ss", "-ltnpH", "sport = :%d" % port], capture_output=True,
                         text=True).stdout
    return {int(p) for p in re.findall(r"pid=(\d+)", out)}


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred until it returns something truthy; returns that or raises TestFailure."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def run(argv, check=True, timeout=30, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), r.returncode, r.stdout,
                                                      r.stderr))
    return r


def line_of(m):
    """The whole log line a regex match lies in."""
    s = m.string
    end = s.find("\n", m.end())
    return s[s.rfind("\n", 0, m.start()) + 1:end if end >= 0 else len(s)]


def tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    text = data.decode("utf-8", "backslashreplace").splitlines()
    return "\n".join(text[-lines:])


class LogFile:
    """A log written by a child process, read incrementally. Positions are byte offsets;
    mark() returns the current end, so a later wait(since=mark) only sees new lines."""

    def __init__(self, path, proc_getter=None, name=None):
        self.path = path
        self.name = name or os.path.basename(path)
        self._proc_getter = proc_getter

    def text(self, since=0):
        try:
            with open(self.path, "rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def mark(self):
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def search(self, regex, since=0):
        return re.compile(regex, re.M).search(self.text(since))

    def count(self, regex, since=0):
        return len(re.compile(regex, re.M).findall(self.text(since)))

    def wait(self, regex, timeout=15.0, since=0, count=1, fail_on_exit=True):
        """Waits until regex (multiline) matched count times in the log after since.
        Returns the last match. Raises TestFailure on timeout, or as soon as the process
        exited without the line having appeared (when fail_on_exit)."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc_getter() if self._proc_getter else None
            exited = proc is not None and proc.poll() is not None
            ms = list(rx.finditer(self.text(since)))
            if len(ms) >= count:
                return ms[count - 1]
            if exited and fail_on_exit:
                raise TestFailure("%s: process exited (status %s) before /%s/ appeared; "
                                  "log tail:\n%s" % (self.name, proc.returncode, regex,
                                                     tail(self.path, 25)))
            if time.monotonic() >= deadline:
                raise TestFailure("%s: no /%s/ within %.1f s; log tail:\n%s" % (
                    self.name, regex, timeout, tail(self.path, 25)))
            time.sleep(0.02)

    def absent(self, regex, duration, since=0):
        """Watches for duration seconds; returns the match if regex shows up (else None)."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + duration
        while True:
            m = rx.search(self.text(since))
            if m or time.monotonic() >= deadline:
                return m
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------
# PKI with the openssl CLI

Cert = namedtuple("Cert", "cert key")


class PKI:
    """Two unrelated CAs and certificates signed by them:
        ca            the good CA
        server        CN localhost, SAN DNS:localhost + IP:127.0.0.1 (signed by ca)
        wrong_host    CN/SAN wrong.example only (signed by ca)
        other_ca      an unrelated CA
        other_server  CN/SAN localhost + 127.0.0.1, signed by other_ca
    """

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = self._make_ca("ca", "mxb test CA")
        self.other_ca = self._make_ca("other-ca", "mxb unrelated CA")
        self.server = self._make_cert("server", self.ca, "localhost",
                                      "DNS:localhost,IP:127.0.0.1")
        self.wrong_host = self._make_cert("wrong-host", self.ca, "wrong.example",
                                          "DNS:wrong.example")
        self.other_server = self._make_cert("other-server", self.other_ca, "localhost",
                                            "DNS:localhost,IP:127.0.0.1")

    def _p(self, name):
        return os.path.join(self.dir, name)

    def _make_ca(self, name, cn):
        key, crt = self._p(name + ".key"), self._p(name + ".pem")
        run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", crt,
             "-days", "3", "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        return Cert(crt, key)

    def _make_cert(self, name, ca, cn, san):
        key, csr, crt = self._p(name + ".key"), self._p(name + ".csr"), self._p(name + ".pem")
        ext = self._p(name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth,clientAuth\n"
                    "subjectAltName=%s\n" % san)
        run(["openssl", "req", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout", key, "-out", csr,
             "-subj", "/CN=" + cn])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key,
             "-CAcreateserial", "-days", "2", "-sha256", "-extfile", ext, "-out", crt])
        os.chmod(key, 0o600)
        return Cert(crt, key)


# ---------------------------------------------------------------------------------------
# Mosquitto

class Mosquitto:
    """mosquitto -c FILE with a plain and a TLS listener on 127.0.0.1.
    cert: a PKI Cert for the TLS listener. users: {name: password} -> password_file."""

    def __init__(self, env, cert, users=None, name="mosquitto", extra="", anonymous=True,
                 persistence=False):
        self.env = env
        self.name = name
        self.port = free_port()
        self.tls_port = free_port()
        self.cert = cert
        self.conf_path = os.path.join(env.tmp, name + ".conf")
        self.log = env.register_log(os.path.join(env.tmp, name + ".log"), name,
                                    lambda: self.proc)
        self.proc = None
        lines = [
            "user root",
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if anonymous else "false"),
            "persistence %s" % ("true" if persistence else "false"),
            "persistence_location %s/" % env.tmp,
            "persistence_file %s.db" % name,
            "log_dest stderr",
            "log_type all",
            "log_timestamp_format %H:%M:%S",
            "max_queued_messages 10000",
        ]
        if users:
            pwfile = os.path.join(env.tmp, name + ".passwd")
            first = True
            for user, pw in users.items():
                run(["mosquitto_passwd", "-b"] + (["-c"] if first else []) + [pwfile, user, pw])
                first = False
            lines.append("password_file " + pwfile)
        lines += ["listener %d %s" % (self.port, LOOPBACK),
                  "listener %d %s" % (self.tls_port, LOOPBACK),
                  "cafile " + env.pki.ca.cert,
                  "certfile " + cert.cert,
                  "keyfile " + cert.key]
        if extra:
            lines.append(extra)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10):
        self.proc = spawn(["mosquitto", "-c", self.conf_path], self.name, self.log.path)
        pid = self.proc.pid

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s" % (
                    self.name, self.proc.returncode, tail(self.log.path)))
            return (port_accepts(self.port) and port_accepts(self.tls_port) and
                    pid in port_owner_pids(self.port) and pid in port_owner_pids(self.tls_port))
        wait_until(ready, timeout, what="%s listening on %d/%d" % (self.name, self.port,
                                                                  self.tls_port))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        rc = terminate(self.proc, sig)
        # the ports must be free again before a restart can bind them
        wait_until(lambda: not port_owner_pids(self.port) and not port_owner_pids(self.tls_port),
                   10, what="%s ports released" % self.name)
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_subscribed(self, client_id, topic_filter, since=0, timeout=15):
        """Waits until the broker has processed a SUBSCRIBE from client_id that includes
        topic_filter and sent the SUBACK (so publishes from now on are routed to it)."""
        def check():
            seen_filter = False
            in_sub = False
            for line in self.log.text(since).splitlines():
                if line.endswith("Received SUBSCRIBE from " + client_id):
                    in_sub, seen_filter = True, False
                elif in_sub and re.search(r"\t%s \(QoS \d\)$" % re.escape(topic_filter), line):
                    seen_filter = True
                elif in_sub and line.endswith("Sending SUBACK to " + client_id):
                    if seen_filter:
                        return True
                    in_sub = False
            return False
        wait_until(check, timeout, interval=0.02,
                   what="mosquitto: SUBACK to %r for %r" % (client_id, topic_filter))


# ---------------------------------------------------------------------------------------
# Prosody

class Prosody:
    """prosody --config FILE -F with one VirtualHost "localhost", STARTTLS required.
    cert: the Cert the VirtualHost presents (env.pki.wrong_host for the wrong-name case)."""

    def __init__(self, env, cert, name="prosody", auth="internal_plain", extra=""):
        self.env = env
        self.name = name
        self.cert = cert
        self.port = free_port()
        self.dir = os.path.join(env.tmp, name)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        self.conf_path = os.path.join(self.dir, "prosody.cfg.lua")
        self.log = env.register_log(os.path.join(env.tmp, name + ".log"), name,
                                    lambda: self.proc)
        self.out_path = os.path.join(env.tmp, name + ".out")
        env.register_log(self.out_path, name + " stdout/stderr")
        self.proc = None
        self.accounts = {}

        def q(s):
            return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
        conf = """
run_as_root = true
daemonize = false
data_path = {data}
pidfile = {pid}
log = {{ debug = {log} }}
certificates = {certs}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
admins = {{ }}
authentication = {auth}
storage = "internal"
allow_registration = false
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "version", "presence",
	"message", "posix", "smacks" }}
modules_disabled = {{ "s2s", "s2s_auth_certs" }}
{extra}
VirtualHost "localhost"
	ssl = {{ certificate = {crt}; key = {key}; }}
""".format(data=q(self.data), pid=q(os.path.join(self.dir, "prosody.pid")),
           log=q(self.log.path), certs=q(os.path.join(self.dir, "certs")), port=self.port,
           auth=q(auth), extra=extra, crt=q(cert.cert), key=q(cert.key))
        # An option set twice makes Prosody warn with the line number, which it cannot find
        # when the config's path is long (Lua cuts it): the extra settings replace ours.
        if "component_ports" in extra:
            conf = conf.replace("component_ports = { }\n", "", 1)
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def register(self, user, password=None):
        """Creates user@localhost (prosodyctl); returns the password."""
        password = password or secrets.token_urlsafe(12)
        r = run(["prosodyctl", "--config", self.conf_path, "register", user, XMPP_DOMAIN,
                 password], check=False)
        if r.returncode != 0:
            raise RuntimeError("prosodyctl register %s failed (%d): %s%s" % (
                user, r.returncode, r.stdout, r.stderr))
        self.accounts[user] = password
        return password

    def start(self, timeout=15):
        self.proc = spawn(["prosody", "--config", self.conf_path, "-F"], self.name,
                          self.out_path)
        pid = self.proc.pid

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s\n%s" % (
                    self.name, self.proc.returncode, tail(self.out_path), tail(self.log.path)))
            # Prosody keeps running when its port is taken: the port must be ours
            return port_accepts(self.port) and pid in port_owner_pids(self.port)
        wait_until(ready, timeout, what="%s listening on %d" % (self.name, self.port))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return None
        rc = terminate(self.proc, sig)
        wait_until(lambda: not port_owner_pids(self.port), 10,
                   what="%s port released" % self.name)
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


# ---------------------------------------------------------------------------------------
# bridge.conf writer (libconfig syntax) and the bridge process

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

    def __init__(self, env, conf, name, args=None):
        self.env = env
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
                            "LISTEN_FDS", "LISTEN_PID")}
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
# XMPP test client (slixmpp in a thread of its own)

Message = namedtuple("Message", "body frm type error xml")
Presence = namedtuple("Presence", "frm type show status xml")
IqResult = namedtuple("IqResult", "type error xml")


class XmppClient:
    """A synchronous wrapper over slixmpp. The asyncio loop and the ClientXMPP live in a
    background thread; methods of this class are called from the test's thread.

    Messages (every <message/> with a body or of type error) are queued; wait_message
    returns and consumes the first queued one that matches. Presences are recorded and the
    latest one of each full JID kept. Roster subscription requests are accepted and
    answered with a subscription back (slixmpp's auto_authorize/auto_subscribe), unless
    auto_authorize=False."""

    def __init__(self, env, jid, password, port, ca_file, auto_authorize=True, name=None):
        self.env = env
        self.jid = jid
        self.password = password
        self.port = port
        self.ca_file = ca_file
        self.auto_authorize = auto_authorize
        self.name = name or jid.split("@")[0]
        self.loop = None
        self.xmpp = None
        self.thread = None
        self._cond = threading.Condition()
        self.messages = []     # not yet consumed
        self.all_messages = []
        self.presences = []
        self.iqs = []          # every <iq/> received (ET elements), for diagnostics
        self.state = "new"     # new, connecting, online, failed, auth_failed, disconnected
        self.failure = None
        self.events = []       # (time, name, detail)
        env.clients.append(self)

    # -- thread side -----------------------------------------------------------------
    def _record(self, name, detail=None):
        with self._cond:
            self.events.append((time.monotonic(), name, detail))
            self._cond.notify_all()

    def _set_state(self, state, failure=None):
        with self._cond:
            self.state = state
            if failure is not None:
                self.failure = failure
            self.events.append((time.monotonic(), "state", state))
            self._cond.notify_all()

    def _thread_main(self, started):
        import slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            x = slixmpp.ClientXMPP(self.jid, self.password)
            x.ca_certs = self.ca_file
            # slixmpp checks the certificate against default_domain, which it leaves
            # empty (= no hostname check) when connecting to an IP address
            x.default_domain = self.jid.split("@", 1)[1].split("/", 1)[0]

            async def no_dns(_domain, _port=None):
                return None  # connect to 127.0.0.1:port only, never to what DNS says
            x._pick_dns_answer = no_dns
            x.auto_reconnect = False
            x.roster.auto_authorize = True if self.auto_authorize else None
            x.roster.auto_subscribe = bool(self.auto_authorize)
            self.xmpp = x

            async def on_session_start(_ev):
                x.send_presence()
                try:
                    await x.get_roster(timeout=10)
                except Exception as e:  # noqa: BLE001
                    self._record("roster_error", repr(e))
                self._set_state("online")

            def on_message(stanza):
                t = stanza.xml.get("type") or "normal"
                body_el = stanza.xml.find("{jabber:client}body")
                body = body_el.text if body_el is not None else None
                if body is None and t != "error":
                    return
                if body is None:
                    body = ""
                err = None
                if t == "error":
                    e = stanza.xml.find("{jabber:client}error")
                    if e is not None:
                        for c in e:
                            if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and \
                                    not c.tag.endswith("}text"):
                                err = c.tag.split("}", 1)[1]
                                break
                m = Message(body, str(stanza["from"]), t, err, str(stanza))
                with self._cond:
                    self.messages.append(m)
                    self.all_messages.append(m)
                    self._cond.notify_all()

            def on_presence(stanza):
                el = stanza.xml
                show = el.findtext("{jabber:client}show")
                status = el.findtext("{jabber:client}status")
                p = Presence(str(stanza["from"]), el.get("type") or "available", show, status,
                             str(stanza))
                with self._cond:
                    self.presences.append(p)
                    self._cond.notify_all()

            x.register_handler(Callback("mxb test messages",
                                        MatchXPath("{jabber:client}message"), on_message))
            def on_iq(stanza):
                with self._cond:
                    self.iqs.append(stanza.xml)
            x.register_handler(Callback("mxb test iqs", MatchXPath("{jabber:client}iq"), on_iq))
            x.register_handler(Callback("mxb test presences",
                                        MatchXPath("{jabber:client}presence"), on_presence))
            x.add_event_handler("session_start", on_session_start)
            x.add_event_handler("failed_auth", lambda ev: self._set_state(
                "auth_failed", "authentication failed"))
            x.add_event_handler("failed_all_auth", lambda ev: self._set_state(
                "auth_failed", "authentication failed"))
            x.add_event_handler("connection_failed", lambda e: self._record(
                "connection_failed", str(e)))
            x.add_event_handler("disconnected", lambda reason: self._set_state(
                "disconnected", "disconnected: %s" % (reason,))
                if self.state != "auth_failed" else None)
            x.add_event_handler("stream_error", lambda e: self._record("stream_error", str(e)))
            self._set_state("connecting")
            x.connect(address=(LOOPBACK, self.port), force_starttls=True,
                      disable_starttls=False)
        except BaseException as e:  # noqa: BLE001
            self._set_state("failed", "setup: %r" % (e,))
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            except Exception:
                pass
            loop.close()

    # -- test side ---------------------------------------------------------------------
    def call(self, fn, *args, timeout=10.0):
        """Runs fn(*args) in the client's loop; awaits it if it returns a coroutine."""
        fut = concurrent.futures.Future()

        def runner():
            try:
                r = fn(*args)
                if asyncio.iscoroutine(r):
                    task = asyncio.ensure_future(r)

                    def done(t):
                        if t.cancelled():
                            fut.set_exception(concurrent.futures.CancelledError())
                        elif t.exception() is not None:
                            fut.set_exception(t.exception())
                        else:
                            fut.set_result(t.result())
                    task.add_done_callback(done)
                else:
                    fut.set_result(r)
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(runner)
        return fut.result(timeout)

    def connect(self, timeout=15.0, expect_failure=False):
        """Connects, STARTTLS verified against ca_file, authenticates, binds, fetches the
        roster and sends initial presence. Returns self, or raises TestFailure (with
        expect_failure: returns the failure state instead of raising)."""
        started = threading.Event()
        self.thread = threading.Thread(target=self._thread_main, args=(started,),
                                       name="xmpp-" + self.name, daemon=True)
        self.thread.start()
        started.wait(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.state not in ("online", "failed", "auth_failed", "disconnected"):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            state = self.state
        if state == "online":
            return state if expect_failure else self
        failure = self.failure or "timeout (state %s, events %s)" % (
            state, [e[1:] for e in self.events[-5:]])
        self._abort()
        if expect_failure:
            return state
        raise TestFailure("xmpp client %s could not log in: %s" % (self.jid, failure))

    @property
    def full_jid(self):
        return str(self.xmpp.boundjid)

    def online(self):
        return self.state == "online"

    def send_message(self, to, body, mtype="chat"):
        self.call(lambda: self.xmpp.send_message(mto=to, mbody=body, mtype=mtype))

    def send_raw(self, data):
        self.call(lambda: self.xmpp.send_raw(data))

    def wait_message(self, predicate=None, timeout=10.0, frm=None, body=None, mtype=None):
        """Returns (and consumes) the first received message satisfying every criterion:
        predicate(msg), frm (bare or full JID), body (exact), mtype. Raises TestFailure on
        timeout, listing what did arrive."""
        m = self.poll_message(predicate, timeout, frm, body, mtype)
        if m is None:
            with self._cond:
                got = [(x.frm, x.type, x.body) for x in self.messages]
            raise TestFailure("%s: no matching message (from=%r body=%r type=%r) within "
                              "%.1f s; unconsumed messages: %r" % (self.jid, frm, body, mtype,
                                                                   timeout, got))
        return m

    def poll_message(self, predicate=None, timeout=10.0, frm=None, body=None, mtype=None):
        """Like wait_message, but returns None on timeout."""
        def ok(m):
            if frm is not None and m.frm != frm and m.frm.split("/")[0] != frm:
                return False
            if body is not None and m.body != body:
                return False
            if mtype is not None and m.type != mtype:
                return False
            return predicate is None or predicate(m)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, m in enumerate(self.messages):
                    if ok(m):
                        del self.messages[i]
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def no_message(self, duration, predicate=None, frm=None):
        """Returns a matching message if one arrives within duration (None = good)."""
        return self.poll_message(predicate, duration, frm)

    def drain(self):
        with self._cond:
            msgs, self.messages = self.messages, []
        return msgs

    def presence_of(self, jid):
        """The latest presence from jid (full JID, or bare: latest of any resource)."""
        with self._cond:
            for p in reversed(self.presences):
                if p.frm == jid or p.frm.split("/")[0] == jid:
                    return p
        return None

    def wait_presence(self, jid, available=True, timeout=10.0, since=None):
        """Waits until the latest presence from jid (full or bare) is available (True) or
        unavailable (False). since: only presences recorded after index since count
        (see presence_mark)."""
        want = "available" if available else "unavailable"
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pres = self.presences[since:] if since is not None else self.presences
                last = None
                for p in reversed(pres):
                    if p.frm == jid or p.frm.split("/")[0] == jid:
                        if p.type in ("available", "unavailable"):
                            last = p
                            break
                if last is not None and last.type == want:
                    return last
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("%s: presence of %s not %s within %.1f s (last: %r)" % (
                        self.jid, jid, want, timeout, last and last.type))
                self._cond.wait(left)

    def presence_mark(self):
        with self._cond:
            return len(self.presences)

    def subscribe(self, jid):
        """Asks jid for a presence subscription (<presence type='subscribe'/>)."""
        self.call(lambda: self.xmpp.send_presence(pto=jid, ptype="subscribe"))

    def subscription(self, jid):
        """The roster subscription state of jid: none, to, from, both (or None)."""
        def get():
            roster = self.xmpp.client_roster
            if jid not in roster:
                return None
            return roster[jid]["subscription"]
        return self.call(get)

    def wait_subscription(self, jid, states=("both",), timeout=10.0):
        return wait_until(lambda: self.subscription(jid) in states and self.subscription(jid),
                          timeout, interval=0.05,
                          what="%s roster: subscription to %s in %s (now %r)" % (
                              self.jid, jid, states, self.subscription(jid)))

    def iq(self, to, itype, payload_xml, timeout=10.0):
        """Sends an IQ with payload_xml as its child; returns IqResult(type, error, xml)
        (type 'timeout' when no answer came)."""
        from slixmpp.exceptions import IqError, IqTimeout

        async def go():
            iq = self.xmpp.Iq()
            iq["id"] = self.xmpp.new_id()
            iq["to"] = to
            iq["type"] = itype
            iq.xml.append(ET.fromstring(payload_xml))
            try:
                resp = await iq.send(timeout=timeout)
            except IqError as e:
                resp = e.iq
            except IqTimeout:
                # an answer with the same id but a wrong type does not count: say so
                with self._cond:
                    same = [e for e in self.iqs if e.get("id") == iq["id"]]
                if same:
                    return IqResult("timeout", "an answer with type=%r came: %s" % (
                        same[0].get("type"), ET.tostring(same[0], "unicode")[:300]), same[0])
                return IqResult("timeout", None, None)
            err = None
            if resp["type"] == "error":
                err = resp["error"]["condition"]
            return IqResult(resp["type"], err, resp.xml)
        return self.call(go, timeout=timeout + 5)

    def _abort(self):
        if self.loop is None or self.loop.is_closed():
            return

        def stop():
            try:
                self.xmpp.cancel_connection_attempt()
                self.xmpp.abort()
            except Exception:
                pass
            self.loop.stop()
        try:
            self.loop.call_soon_threadsafe(stop)
        except RuntimeError:
            pass
        if self.thread:
            self.thread.join(5)

    def disconnect(self, timeout=5.0):
        """Closes the stream (unavailable presence, </stream>) and stops the thread."""
        if self.loop is None or self.loop.is_closed():
            return
        if self.state == "online":
            try:
                self.call(lambda: self.xmpp.disconnect(wait=2.0), timeout=timeout)
                with self._cond:
                    self._cond.wait_for(lambda: self.state == "disconnected", timeout)
            except Exception:
                pass
        self._abort()


# ---------------------------------------------------------------------------------------
# MQTT test client (paho)

MqttMessage = namedtuple("MqttMessage", "topic payload qos retain")


class MqttClient:
    """A synchronous wrapper over paho-mqtt 1.6 (MQTT 5 by default), TLS verified against
    ca_file when given. Received messages are queued; wait_message consumes."""

    def __init__(self, env, port, ca_file=None, client_id=None, version=5, username=None,
                 password=None, clean=True):
        import paho.mqtt.client as mqtt
        self.mqtt = mqtt
        self.env = env
        self.port = port
        self.client_id = client_id or "test-" + secrets.token_hex(4)
        self.version = version
        proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        self.clean = clean
        if version == 5:
            self.c = mqtt.Client(client_id=self.client_id, protocol=proto)
        else:
            self.c = mqtt.Client(client_id=self.client_id, clean_session=clean, protocol=proto)
        if ca_file:
            self.c.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        if username:
            self.c.username_pw_set(username, password)
        self._cond = threading.Condition()
        self.messages = []
        self.connected = None
        self.connect_rc = None
        self.subacks = {}
        self.c.on_connect = self._on_connect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe
        self.c.on_disconnect = self._on_disconnect
        env.mqtt_clients.append(self)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        with self._cond:
            self.connect_rc = rc
            self.connected = (rc == 0)
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        with self._cond:
            self.connected = False
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        with self._cond:
            self.subacks[mid] = granted
            self._cond.notify_all()

    def _on_message(self, client, userdata, msg):
        m = MqttMessage(msg.topic, bytes(msg.payload), msg.qos, bool(msg.retain))
        with self._cond:
            self.messages.append(m)
            self._cond.notify_all()

    def connect(self, timeout=10.0):
        """Connects (MQTT 5: clean start, or a session that lives 300 s when clean=False)."""
        if self.version == 5:
            from paho.mqtt.properties import Properties
            from paho.mqtt.packettypes import PacketTypes
            props = None
            if not self.clean:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = 300
            self.c.connect(LOOPBACK, self.port, keepalive=30, clean_start=self.clean,
                           properties=props)
        else:
            self.c.connect(LOOPBACK, self.port, keepalive=30)
        self.c.loop_start()
        with self._cond:
            self._cond.wait_for(lambda: self.connected is not None, timeout)
            if not self.connected:
                raise TestFailure("mqtt client %s: connect to %d failed (rc %r)" % (
                    self.client_id, self.port, self.connect_rc))
        return self

    def subscribe(self, topic, qos=1, timeout=10.0):
        rc, mid = self.c.subscribe(topic, qos)
        if rc != 0:
            raise TestFailure("mqtt subscribe %r: rc %d" % (topic, rc))
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self.subacks, timeout):
                raise TestFailure("mqtt subscribe %r: no SUBACK" % topic)
        return self

    def publish(self, topic, payload, qos=1, retain=False, timeout=10.0):
        if isinstance(payload, str):
            payload = payload.encode()
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise TestFailure("mqtt publish to %r not acknowledged" % topic)

    def poll_message(self, topic=None, predicate=None, timeout=10.0):
        def ok(m):
            if topic is not None and not self.mqtt.topic_matches_sub(topic, m.topic):
                return False
            return predicate is None or predicate(m)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, m in enumerate(self.messages):
                    if ok(m):
                        del self.messages[i]
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_message(self, topic=None, predicate=None, timeout=10.0):
        """Returns (and consumes) the first message whose topic matches the filter topic
        and satisfies predicate; raises TestFailure on timeout."""
        m = self.poll_message(topic, predicate, timeout)
        if m is None:
            with self._cond:
                got = [(x.topic, x.payload[:60]) for x in self.messages]
            raise TestFailure("mqtt client %s: no matching message on %r within %.1f s; "
                              "unconsumed: %r" % (self.client_id, topic, timeout, got))
        return m

    def drain(self):
        with self._cond:
            msgs, self.messages = self.messages, []
        return msgs

    def disconnect(self):
        try:
            self.c.disconnect()
        except Exception:
            pass
        try:
            self.c.loop_stop()
        except Exception:
            pass


# ---------------------------------------------------------------------------------------
# The per-test environment

class Env:
    """One temp dir, the PKI, and every server, bridge and client started for a test."""

    def __init__(self, name="test"):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="mxb-%s-" % name)
        # slixmpp and paho log through `logging`: into a file of this run, not stderr
        import logging
        path = os.path.join(self.tmp, "clients.log")
        self._log_handler = logging.FileHandler(path)
        self._log_handler.setFormatter(logging.Formatter(
            "%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s"))
        root = logging.getLogger()
        for h in list(root.handlers):
            root.removeHandler(h)
        root.addHandler(self._log_handler)
        root.setLevel(logging.DEBUG)
        self.logs = [LogFile(path, None, "test clients (slixmpp)")]
        self.clients = []    # XmppClient
        self.mqtt_clients = []
        self.bridges = []
        self.servers = []
        self._pki = None
        self._nbridge = 0
        self.failures = []

    # -- infrastructure ------------------------------------------------------------------
    @property
    def pki(self):
        if self._pki is None:
            self._pki = PKI(os.path.join(self.tmp, "pki"))
        return self._pki

    def register_log(self, path, name, proc_getter=None):
        lf = LogFile(path, proc_getter, name)
        self.logs.append(lf)
        return lf

    def mosquitto(self, cert=None, users=None, name="mosquitto", start=True, extra="",
                  anonymous=True, persistence=False):
        m = Mosquitto(self, cert or self.pki.server, users=users, name=name, extra=extra,
                      anonymous=anonymous, persistence=persistence)
        self.servers.append(m)
        return m.start() if start else m

    def prosody(self, cert=None, users=("bridge", "alice", "mallory"), name="prosody",
                start=True, extra=""):
        """A Prosody with accounts users@localhost (random passwords, in .accounts)."""
        p = Prosody(self, cert or self.pki.server, name=name, extra=extra)
        for u in users:
            p.register(u)
        self.servers.append(p)
        return p.start() if start else p

    def standard_servers(self):
        """One Prosody (accounts bridge, alice, mallory, bob) and one mosquitto, started on
        first use and shared by the check functions of a test file."""
        if getattr(self, "_std", None) is None:
            self._std = (self.prosody(users=("bridge", "alice", "mallory", "bob")),
                         self.mosquitto())
        return self._std

    def bridge_config(self, prosody, mosq, over=None):
        """The standard bridge.conf dict: verified STARTTLS to prosody as
        bridge@localhost/bridge, verified TLS to mosq, a notify route home/+/alarm ->
        alice ("{{topic.2}} says {{payload}}") and a command route alice -> home/+/set."""
        cfg = {
            "bridge": {"log_level": os.environ.get("MXB_LOG_LEVEL", "info")},
            "xmpp": {
                "jid": "bridge@localhost/bridge",
                "password": prosody.accounts.get("bridge", "x"),
                "host": LOOPBACK,
                "port": prosody.port,
                "tls": "starttls",
                "ca_file": self.pki.ca.cert,
                "reconnect_max": 2,
            },
            "mqtt": {
                "host": LOOPBACK,
                "port": mosq.tls_port,
                "client_id": "mxb-test",
                "status_topic": "mxb/status",
                "reconnect_max": 2,
                "tls": {"ca_file": self.pki.ca.cert},
            },
            "notify": [
                {"topic": "home/+/alarm", "to": ["alice@localhost"],
                 "message": "{{topic.2}} says {{payload}}", "qos": 1},
            ],
            "commands": [
                {"from": ["alice@localhost"], "allow": ["home/+/set"], "qos": 1,
                 "retain": False},
            ],
        }
        return merge(cfg, over or {})

    def bridge(self, conf, start=True, args=None):
        self._nbridge += 1
        b = Bridge(self, conf, "bridge-%d" % self._nbridge, args=args)
        self.bridges.append(b)
        return b.start() if start else b

    def xmpp(self, prosody, user, password=None, connect=True, **kw):
        c = XmppClient(self, "%s@%s/test" % (user, XMPP_DOMAIN),
                       password if password is not None else prosody.accounts[user],
                       prosody.port, self.pki.ca.cert, **kw)
        return c.connect() if connect else c

    def mqtt(self, mosq, tls=True, connect=True, **kw):
        c = MqttClient(self, mosq.tls_port if tls else mosq.port,
                       self.pki.ca.cert if tls else None, **kw)
        return c.connect() if connect else c

    def mqtt_retained(self, mosq, topic, timeout=5.0):
        """The retained payload of topic as a fresh subscriber sees it (None if none)."""
        c = self.mqtt(mosq)
        try:
            c.subscribe(topic)
            m = c.poll_message(topic, lambda m: m.retain, timeout)
            return m.payload if m else None
        finally:
            c.disconnect()

    def start_bridge_ready(self, prosody, mosq, over=None, timeout=30.0):
        """Starts a bridge with the standard config (+over) and waits until both sessions
        are up and the broker acknowledged its notify subscriptions."""
        cfg = self.bridge_config(prosody, mosq, over)
        mark = mosq.log.mark()
        b = self.bridge(cfg)
        b.wait_ready(timeout)
        cid = cfg["mqtt"].get("client_id", "mqtt-xmpp-bridge")
        for route in cfg.get("notify", []):
            mosq.wait_subscribed(cid, route["topic"], since=mark, timeout=timeout)
        return b

    # -- checks ----------------------------------------------------------------------------
    def check(self, cond, what, detail=None):
        """Records and prints one check; a failed check raises TestFailure."""
        if cond:
            print("  ok    %s" % what, flush=True)
            return
        msg = what + (": " + str(detail) if detail is not None else "")
        print("  FAIL  %s" % msg, flush=True)
        raise TestFailure(msg)

    def expect(self, cond, what, detail=None):
        """Like check, but a failure is recorded and the test goes on."""
        try:
            self.check(cond, what, detail)
            return True
        except TestFailure as e:
            self.failures.append(str(e))
            return False

    def note(self, text):
        print("  ..    %s" % text, flush=True)

    # -- teardown --------------------------------------------------------------------------
    def cleanup_actors(self):
        for c in self.clients:
            try:
                c._abort()
            except Exception:
                pass
        self.clients = []
        for c in self.mqtt_clients:
            c.disconnect()
        self.mqtt_clients = []
        for b in self.bridges:
            if b.proc is not None and b.proc.poll() is None:
                terminate(b.proc, signal.SIGKILL, 5)

    def close(self, failed):
        self.cleanup_actors()
        for s in self.servers:
            if s.proc is not None:
                terminate(s.proc, signal.SIGTERM, 5)
        kill_all_children()
        if failed or os.environ.get("MXB_VERBOSE"):
            for lf in self.logs:
                if os.path.exists(lf.path) and os.path.getsize(lf.path) > 0:
                    sys.stderr.write("\n----- tail of %s (%s) -----\n%s\n" % (
                        lf.name, lf.path, tail(lf.path, 40)))
            sys.stderr.flush()
        if os.environ.get("MXB_KEEP_TMP"):
            print("temp dir kept: %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main(checks, time_limit=110, need_bridge=True):
    """Runs check functions (each takes the shared Env) in order, prints a line per check
    function with its time, and exits 0 (all passed), 1 (a failure), 77 (skipped: no
    bridge binary). A failure in one check function does not stop the later ones."""
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
    if need_bridge and not os.access(bridge_binary(), os.X_OK):
        print("SKIP %s: bridge binary %s not found (set MXB_BRIDGE)" % (name, bridge_binary()))
        sys.exit(77)
    install_signal_handlers()
    # MXB_TIME_SCALE (default 1): a slower bridge (valgrind) gets a longer time limit
    time_limit = int(time_limit * float(os.environ.get("MXB_TIME_SCALE") or 1))

    def on_alarm(_s, _f):
        raise TestTimeout("time limit of %d s exceeded" % time_limit)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(time_limit)
    t0 = time.monotonic()
    env = None
    failed = []
    interrupted = None
    try:
        env = Env(name)
        for fn in checks:
            label = fn.__name__
            print("== %s" % label, flush=True)
            t1 = time.monotonic()
            nfail = len(env.failures)
            nbridges = len(env.bridges)
            ok = False
            try:
                fn(env)
                if len(env.failures) > nfail:
                    raise TestFailure("; ".join(env.failures[nfail:]))
                print("PASS %s (%.1f s)" % (label, time.monotonic() - t1), flush=True)
                ok = True
            except TestFailure as e:
                failed.append(label)
                print("FAIL %s (%.1f s): %s" % (label, time.monotonic() - t1, e), flush=True)
            except Exception:
                failed.append(label)
                print("FAIL %s (%.1f s): exception" % (label, time.monotonic() - t1),
                      flush=True)
                traceback.print_exc()
            finally:
                if not ok:
                    # a failed check leaves no bridge of its own behind to disturb the next
                    for br in env.bridges[nbridges:]:
                        if br.proc is not None and br.proc.poll() is None:
                            terminate(br.proc, signal.SIGKILL, 5)
    except (Terminated, TestTimeout, KeyboardInterrupt) as e:
        interrupted = e
        failed.append("interrupted: %s" % e)
        print("INTERRUPTED: %s" % (e,), flush=True)
        traceback.print_exc()
    finally:
        signal.alarm(0)
        if env is not None:
            env.close(bool(failed))
        kill_all_children()
    total = time.monotonic() - t0
    if failed:
        print("%s: FAILED (%s) in %.1f s" % (name, ", ".join(failed), total), flush=True)
        sys.exit(143 if isinstance(interrupted, Terminated) else 1)
    print("%s: all passed in %.1f s" % (name, total), flush=True)
    sys.exit(0)


# ---------------------------------------------------------------------------------------
# Counters (added for test_hostile and test_security)

_COUNTER_LINE = re.compile(r"bridge: (mqtt received [^\n]*)\n(?:[^\n]*\n)*?[^\n]*"
                           r"bridge: (commands published [^\n]*)")


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
    """Sends SIGUSR1 to the bridge and returns its counters as a dict, from the two log
    lines "bridge: mqtt received N, own dropped N, ..." and "bridge: commands published N,
    refused N, ...". The names of the second line get the prefix "commands ":
    {"mqtt received": 3, ..., "commands published": 1, "commands refused": 0,
    "commands from strangers": 0, "commands malformed": 0,
    "commands mqtt queue dropped": 0}."""
    mark = bridge.mark()
    os.kill(bridge.pid, signal.SIGUSR1)
    bridge.wait_log(r"bridge: commands published [^\n]*\n", timeout=timeout, since=mark)
    m = _COUNTER_LINE.search(bridge.text(mark))
    if m is None:
        raise TestFailure("%s: counter lines not found after SIGUSR1" % bridge.name)
    out = _parse_counter_text(m.group(1))
    out.update(_parse_counter_text(m.group(2), "commands "))
    return out


def counter_delta(before, after):
    """The counters that changed: {name: after - before}."""
    return {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}


# ---------------------------------------------------------------------------------------
# ejabberd (added for test_ejabberd): a second, independent XMPP server

EJABBERD_LIBS = "/usr/lib/x86_64-linux-gnu"
EJABBERD_INETRC = "/etc/ejabberd/inetrc"


def ejabberd_installed():
    """None when erl and ejabberd's Erlang application are installed, else the reason."""
    import glob
    if shutil.which("erl") is None:
        return "erl not found (apt-get install ejabberd)"
    if not glob.glob(os.path.join(EJABBERD_LIBS, "ejabberd-*", "ebin", "ejabberd.app")):
        return "ejabberd not found in %s (apt-get install ejabberd)" % EJABBERD_LIBS
    if not os.path.exists(EJABBERD_INETRC):
        return "%s missing" % EJABBERD_INETRC
    return None


def _yq(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json
    return json.dumps(str(s))


class Ejabberd:
    """ejabberd 23.01 run as `erl ... -s ejabberd -noinput` (no ejabberdctl, which su's to
    user ejabberd), as SERVERS.md says: one VirtualHost "localhost", c2s on a loopback port
    with STARTTLS required and cert (cert + key + CA in one PEM, `certfiles:`), plain
    password storage, an ejabberd_service listener for the component component_domain
    (password component_secret, port component_port), MUC on conference.localhost.
    The Erlang node has a unique name and cookie, its distribution listens on 127.0.0.1
    only, on dist_port, and no epmd is started or used. Attributes like Prosody's: port,
    accounts, log, proc. extra_yaml: more top-level keys, appended to ejabberd.yml."""

    def __init__(self, env, cert, name="ejabberd", extra_yaml="",
                 component_domain="iot.localhost", component_secret=None):
        self.env = env
        self.name = name
        self.cert = cert
        self.port = free_port()
        self.component_port = free_port()
        self.dist_port = free_port()
        self.component_domain = component_domain
        self.component_secret = component_secret or secrets.token_urlsafe(12)
        self.node = "mxb-%s-%s@localhost" % (re.sub(r"[^A-Za-z0-9_-]", "-", name),
                                             secrets.token_hex(4))
        self.cookie = secrets.token_hex(16)
        self.dir = os.path.join(env.tmp, name)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "ejabberd.yml")
        self.log = env.register_log(os.path.join(self.dir, "ejabberd.log"), name,
                                    lambda: self.proc)
        self.out_path = os.path.join(env.tmp, name + ".out")
        env.register_log(self.out_path, name + " stdout/stderr")
        self.proc = None
        self.accounts = {}
        self._pending = []  # accounts to register once the node runs
        self._epmd_before = None

        # ejabberd wants the certificate and its key in one file
        self.pem_path = os.path.join(self.dir, "server.pem")
        with open(self.pem_path, "w") as out:
            for p in (cert.cert, cert.key, env.pki.ca.cert):
                with open(p) as f:
                    out.write(f.read().rstrip("\n") + "\n")
        os.chmod(self.pem_path, 0o600)

        conf = """hosts:
  - "localhost"
loglevel: info
log_rotate_count: 0
hide_sensitive_log_data: true
certfiles:
  - {pem}
ca_file: {ca}
auth_method: internal
auth_password_format: plain
registration_timeout: infinity
s2s_access: none
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: local
  c2s:
    allow: all
  register:
    deny: all
shaper_rules:
  c2s_shaper: none
listen:
  -
    port: {port}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
    access: c2s
    shaper: c2s_shaper
    max_stanza_size: 262144
  -
    port: {cport}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      {cdomain}:
        password: {csecret}
modules:
  mod_roster: {{}}
  mod_disco: {{}}
  mod_ping: {{}}
  mod_stream_mgmt: {{}}
  mod_offline: {{}}
  mod_muc:
    host: "conference.localhost"
    access: all
    access_create: local
    access_persistent: local
""".format(pem=_yq(self.pem_path), ca=_yq(env.pki.ca.cert), port=self.port,
           cport=self.component_port, cdomain=_yq(component_domain),
           csecret=_yq(self.component_secret))
        if extra_yaml:
            conf += "\n" + extra_yaml.strip("\n") + "\n"
        with open(self.conf_path, "w") as f:
            f.write(conf)

    # -- the erl command lines (SERVERS.md) -------------------------------------------
    def _environ(self):
        e = dict(os.environ)
        e.update({
            "EJABBERD_CONFIG_PATH": self.conf_path,
            "EJABBERD_LOG_PATH": self.log.path,
            "EJABBERD_PID_PATH": os.path.join(self.dir, "ejabberd.pid"),
            "ERL_LIBS": EJABBERD_LIBS,
            "ERL_INETRC": EJABBERD_INETRC,
            "ERL_CRASH_DUMP": os.path.join(self.dir, "erl_crash.dump"),
            # erl keeps .erlang.cookie and friends in HOME: not root's
            "HOME": self.dir,
        })
        return e

    def _erl(self, sname):
        return ["erl", "-sname", sname, "-setcookie", self.cookie,
                "-erl_epmd_port", str(self.dist_port), "-start_epmd", "false",
                "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                "-mnesia", "dir", '"%s"' % self.spool]

    def _ctl(self, *args, timeout=30):
        """ejabberd_ctl on a node of its own (no distribution listener) against ours."""
        sname = "mxb-ctl-%s@localhost" % secrets.token_hex(4)
        argv = self._erl(sname) + ["-noinput", "-dist_listen", "false",
                                   "-s", "ejabberd_ctl", "-extra", self.node] + list(args)
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                              env=self._environ(), stdin=subprocess.DEVNULL,
                              preexec_fn=_pdeathsig)

    def register(self, user, password=None):
        """Creates user@localhost (now if the node runs, else right after it started);
        returns the password. Accounts live in the spool, so they survive restarts."""
        password = password or secrets.token_urlsafe(12)
        self.accounts[user] = password
        if self.alive():
            self._register_now(user, password)
        else:
            self._pending.append((user, password))
        return password

    def _register_now(self, user, password):
        r = self._ctl("register", user, XMPP_DOMAIN, password)
        if r.returncode != 0:
            raise RuntimeError("ejabberd register %s failed (%d): %s%s" % (
                user, r.returncode, r.stdout, r.stderr))

    # -- our processes -------------------------------------------------------------------
    def _marker(self):
        return ("EJABBERD_CONFIG_PATH=" + self.conf_path).encode() + b"\0"

    def own_processes(self):
        """{pid: comm} of every live process started for this instance (beam.smp,
        erl_child_setup, its port programs, an epmd if one had been started): they all
        carry this instance's EJABBERD_CONFIG_PATH in their environment."""
        out = {}
        marker = self._marker()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    envb = f.read() + b"\0"
                if marker not in b"\0" + envb:
                    continue
                with open("/proc/%s/stat" % d) as f:
                    stat = f.read()
                if stat[stat.rfind(")") + 2] == "Z":
                    continue  # a zombie holds nothing
                with open("/proc/%s/comm" % d) as f:
                    out[int(d)] = f.read().strip()
            except OSError:
                continue
        return out

    @staticmethod
    def epmd_pids():
        out = set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/comm" % d) as f:
                        if f.read().strip() == "epmd":
                            out.add(int(d))
                except OSError:
                    pass
        return out

    def _family(self):
        return {self.proc.pid} | set(self.own_processes())

    # -- start / stop --------------------------------------------------------------------
    def start(self, timeout=30):
        if self._epmd_before is None:
            self._epmd_before = self.epmd_pids()
        argv = self._erl(self.node) + ["-s", "ejabberd", "-noinput"]
        self.proc = spawn(argv, self.name, self.out_path, env=self._environ())
        atexit.register(self._reap_leftovers)

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s\n%s" % (
                    self.name, self.proc.returncode, tail(self.out_path),
                    tail(self.log.path)))
            if not (port_accepts(self.port) and port_accepts(self.component_port)):
                return False
            fam = self._family()
            # a taken port must not pass for ours
            return (port_owner_pids(self.port) & fam and
                    port_owner_pids(self.component_port) & fam)
        wait_until(ready, timeout, interval=0.05,
                   what="%s listening on %d (c2s) and %d (component)" % (
                       self.name, self.port, self.component_port))
        pending, self._pending = self._pending, []
        for user, password in pending:
            self._register_now(user, password)
        return self

    def _reap_leftovers(self):
        """SIGKILLs (by pid) whatever of this instance outlived its beam process."""
        for pid in self.own_processes():
            if self.proc is not None and pid == self.proc.pid and self.proc.poll() is None:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the node by its pid (sig, then SIGKILL after timeout) and checks that no
        process of ours (beam, port programs, epmd) is left behind; returns the status."""
        if self.proc is None:
            return None
        rc = terminate(self.proc, sig, timeout)
        try:
            wait_until(lambda: not self.own_processes(), 5, interval=0.05,
                       what="%s: no process of its own left" % self.name)
        except TestFailure:
            left = self.own_processes()
            self._reap_leftovers()
            raise TestFailure("%s left processes behind after stopping: %r" % (
                self.name, left))
        new_epmd = self.epmd_pids() - (self._epmd_before or set())
        if new_epmd:
            raise TestFailure("%s: an epmd appeared while it ran: %r" % (self.name,
                                                                        sorted(new_epmd)))
        wait_until(lambda: not port_owner_pids(self.port) and
                   not port_owner_pids(self.component_port), 10,
                   what="%s ports released" % self.name)
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def accepted_auth(self, user, since=0):
        """The SASL mechanism of the last c2s login of user@localhost ejabberd logged
        ("Accepted c2s MECH authentication for user@localhost ..."), or None."""
        ms = re.findall(r"Accepted c2s (\S+) authentication for %s@%s" % (
            re.escape(user), re.escape(XMPP_DOMAIN)), self.log.text(since))
        return ms[-1] if ms else None


def _env_ejabberd(self, cert=None, users=("bridge", "alice", "mallory"), name="ejabberd",
                  start=True, extra_yaml="", component_domain="iot.localhost",
                  component_secret=None):
    """An ejabberd with accounts users@localhost (random passwords, in .accounts), started
    (and registered for the cleanup at the end) like env.prosody()."""
    e = Ejabberd(self, cert or self.pki.server, name=name, extra_yaml=extra_yaml,
                 component_domain=component_domain, component_secret=component_secret)
    for u in users:
        e.register(u)
    self.servers.append(e)
    return e.start() if start else e


Env.ejabberd = _env_ejabberd
