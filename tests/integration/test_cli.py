#!/usr/bin/python3
"""The command line: --version, --help, --check-config on the shipped config and on
configs with mistakes (exit 1, every error as FILE:LINE: message, FILE as given)."""

import os
import re
import shutil
import subprocess

import harness


def run(env, *args, cwd=None):
    r = subprocess.run([harness.bridge_binary()] + list(args), capture_output=True,
                       text=True, timeout=10, cwd=cwd, stdin=subprocess.DEVNULL)
    return r


def check_version_help(env):
    r = run(env, "--version")
    env.check(r.returncode == 0, "--version exits 0", r.returncode)
    env.check(re.fullmatch(r"mqtt-xmpp-bridge \S+\n?", r.stdout) is not None,
              "--version prints 'mqtt-xmpp-bridge VERSION'", r.stdout)
    r = run(env, "--help")
    env.check(r.returncode == 0, "--help exits 0", r.returncode)
    env.check("-c" in r.stdout and "--check-config" in r.stdout,
              "--help mentions -c and --check-config", r.stdout[:200])
    r = run(env, "--no-such-option")
    env.check(r.returncode not in (0, None) and r.returncode > 0,
              "an unknown option exits non-zero", r.returncode)
    env.check(r.stderr.strip() != "", "... with a message on stderr")


def check_shipped_config(env):
    # bridge.conf names xmpp.password next to it: a copy, with one
    path = os.path.join(env.tmp, "bridge.conf")
    shutil.copyfile(os.path.join(harness.SRCDIR, "config", "bridge.conf"), path)
    fd = os.open(os.path.join(env.tmp, "xmpp.password"), os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"secret\n")
    os.close(fd)
    r = run(env, "--check-config", "-c", path)
    env.check(r.returncode == 0, "--check-config -c %s exits 0" % path,
              (r.returncode, r.stderr[-500:]))
    env.check(r.stdout.strip() != "", "... and prints a summary on stdout")
    minimal = os.path.join(harness.SRCDIR, "config", "minimal.conf")
    if os.path.exists(minimal):
        r = run(env, "--check-config", "-c", minimal)
        env.check(r.returncode == 0, "--check-config on config/minimal.conf exits 0",
                  (r.returncode, r.stderr[-500:]))


def write(env, name, text):
    path = os.path.join(env.tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def lineno(text, needle):
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(needle)


def base_text(env):
    """A valid config as text (servers need not run: --check-config does not connect)."""
    fake_p = type("P", (), {"port": 5222, "accounts": {"bridge": "secret"}})()
    fake_m = type("M", (), {"tls_port": 8883})()
    return harness.format_config(env.bridge_config(fake_p, fake_m))


def check_valid_generated(env):
    text = base_text(env)
    path = write(env, "ok.conf", text)
    r = run(env, "--check-config", "-c", path)
    env.check(r.returncode == 0, "the harness's standard config passes --check-config",
              (r.returncode, r.stderr))


def check_typo(env):
    text = base_text(env).replace("\tpassword = ", "\tpasword = ")
    path = write(env, "typo.conf", text)
    line = lineno(text, "pasword")
    r = run(env, "--check-config", "-c", path)
    env.check(r.returncode == 1, "a typo'd key: exit 1", (r.returncode, r.stdout, r.stderr))
    env.check("%s:%d:" % (path, line) in r.stderr,
              "stderr has '%s:%d:'" % (path, line), r.stderr.strip())

    # relative path: FILE as given on the command line
    r = run(env, "--check-config", "-c", "typo.conf", cwd=env.tmp)
    env.check(r.returncode == 1 and "typo.conf:%d:" % line in r.stderr and
              env.tmp not in r.stderr, "FILE is shown as given ('typo.conf:%d:')" % line,
              r.stderr.strip())

    # the same file without --check-config: the daemon refuses to start, same message
    r = run(env, "-c", path)
    env.check(r.returncode != 0 and "%s:%d:" % (path, line) in r.stderr,
              "running the daemon with it: exits non-zero with the same error",
              (r.returncode, r.stderr.strip()))


def check_many_errors(env):
    text = base_text(env)
    text = text.replace('"home/+/alarm"', '"home/#/alarm"')         # bad filter
    text = text.replace('"{{topic.2}} says {{payload}}"', '"{{nope}}"')  # bad template
    text = text.replace('[ "alice@localhost" ]', '[ "not a jid@@" ]', 1)  # bad JID (notify)
    text = text.replace("\tqos = 1;\n\t\tretain", "\tqos = 7;\n\t\tretain")  # qos range
    text = text.replace("\treconnect_max = 2;", "\treconnect_max = \"2\";", 1)  # type
    path = write(env, "many.conf", text)
    want = [lineno(text, "home/#/alarm"), lineno(text, "{{nope}}"),
            lineno(text, "not a jid@@"), lineno(text, "qos = 7"),
            lineno(text, 'reconnect_max = "2"')]
    r = run(env, "--check-config", "-c", path)
    env.check(r.returncode == 1, "a config with 5 mistakes: exit 1", r.returncode)
    for ln in want:
        env.expect("%s:%d:" % (path, ln) in r.stderr, "error reported at line %d (%s)" % (
            ln, text.splitlines()[ln - 1].strip()), r.stderr.strip())


def check_syntax_error(env):
    text = base_text(env).replace("\tport = 5222;", "\tport = = 5222;", 1)
    path = write(env, "syntax.conf", text)
    r = run(env, "--check-config", "-c", path)
    m = re.search(re.escape(path) + r":(\d+):", r.stderr)
    env.check(r.returncode == 1 and m is not None,
              "a libconfig syntax error: exit 1, FILE:LINE", (r.returncode, r.stderr.strip()))
    r = run(env, "--check-config", "-c", os.path.join(env.tmp, "missing.conf"))
    env.check(r.returncode == 1 and "missing.conf" in r.stderr,
              "a missing file: exit 1, named in the error", (r.returncode, r.stderr.strip()))


def check_unreadable_password_file(env):
    text = base_text(env).replace('\tpassword = "secret";',
                                  '\tpassword_file = "%s/nope";' % env.tmp)
    path = write(env, "pwfile.conf", text)
    r = run(env, "--check-config", "-c", path)
    env.check(r.returncode == 1 and ("%s:%d:" % (path, lineno(text, "password_file"))) in
              r.stderr, "an unreadable password_file: exit 1, FILE:LINE",
              (r.returncode, r.stderr.strip()))


def check_hints(env):
    """The usual mistakes get a hint, each an exact line."""
    base = base_text(env)
    text = base.replace("\tpassword = ", "\tpasword = ")
    path = write(env, "hint-key.conf", text)
    r = run(env, "--check-config", "-c", path)
    want = "%s:%d: unknown key 'pasword' in 'xmpp' (did you mean 'password'?)" % (
        path, lineno(text, "pasword"))
    env.check(r.returncode == 1 and want in r.stderr.splitlines(), "a typo: " + want,
              r.stderr.strip())
    cases = [
        ("hint-comma.conf", 'notify = ( { topic = "a"; to = [ "a@b.org" ]; }\n'
         '  { topic = "b"; to = [ "a@b.org" ]; } );\n', 2,
         "syntax error (a ',' is missing between two groups of a list)"),
        ("hint-brackets.conf", 'commands = [ { from = [ "a@b.org" ]; allow = [ "x" ]; } ];\n',
         1, "syntax error (a list of groups is written ( { ... }, { ... } ); [ ] holds only "
         "strings, numbers or booleans)"),
        ("hint-quotes.conf", "extra: { host = localhost; };\n", 1,
         'syntax error (a text value is written in double quotes, as in host = '
         '"localhost";)'),
    ]
    for name, extra, at, message in cases:
        text = base.replace("notify = (", "old_notify = (", 1) if "notify" in extra else base
        text = text.replace("commands = (", "old_commands = (", 1) if "commands" in extra \
            else text
        text += extra
        path = write(env, name, text)
        want = "%s:%d: %s" % (path, len(text.splitlines()) - len(extra.splitlines()) + at,
                              message)
        r = run(env, "--check-config", "-c", path)
        env.check(r.returncode == 1 and r.stderr.splitlines() == [want],
                  "exactly: " + want, r.stderr.strip())


def check_log_prefixes(env):
    """A terminal gets the time first; journald (JOURNAL_STREAM names stderr) a <N>
    priority and no time; a pipe 'level: message'."""
    import pty
    import signal
    import time
    text = base_text(env)
    path = write(env, "logs.conf", text)
    stamp = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info: mqtt-xmpp-bridge \S+ "
                       r"starting with ")
    env_clean = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}

    def first_line(stderr, read, extra=None):
        p = subprocess.Popen([harness.bridge_binary(), "-c", path], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=stderr,
                             env=dict(env_clean, **(extra or {})))
        try:
            deadline = time.monotonic() + 10
            got = ""
            while "\n" not in got and time.monotonic() < deadline:
                got += read()
            return got.split("\n")[0].rstrip("\r")
        finally:
            p.send_signal(signal.SIGTERM)
            p.wait(10)

    master, slave = pty.openpty()
    line = first_line(slave, lambda: os.read(master, 4096).decode())
    os.close(slave)
    os.close(master)
    env.check(stamp.match(line) is not None, "on a terminal: the local time first", line)

    log = os.path.join(env.tmp, "journal.log")
    with open(log, "w") as f:
        st = os.fstat(f.fileno())
        line = first_line(f, lambda: open(log).read() or (time.sleep(0.05) or ""),
                          {"JOURNAL_STREAM": "%d:%d" % (st.st_dev, st.st_ino)})
    env.check(line.startswith("<6>mqtt-xmpp-bridge "), "under journald: <6>, no time", line)

    with open(log, "w") as f:
        line = first_line(f, lambda: open(log).read() or (time.sleep(0.05) or ""),
                          {"JOURNAL_STREAM": "1:1"})
    env.check(line.startswith("info: mqtt-xmpp-bridge "),
              "a JOURNAL_STREAM of another stream: 'level: message', no time", line)


if __name__ == "__main__":
    harness.main([check_version_help, check_shipped_config, check_valid_generated, check_typo,
                  check_many_errors, check_syntax_error, check_unreadable_password_file,
                  check_hints, check_log_prefixes])
