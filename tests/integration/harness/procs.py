"""Processes and their logs: spawning with signal hygiene (the harness's signals blocked
across fork, PR_SET_PDEATHSIG in the child), killing by pid, the registry of every child
killed at exit, loopback ports, polling and incremental reading of log files."""

import atexit
import ctypes
import os
import re
import signal
import socket
import subprocess
import threading
import time

# tests/integration, where the test scripts (and this package) live
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRCDIR = os.environ.get("MXB_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
LOOPBACK = "127.0.0.1"


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

