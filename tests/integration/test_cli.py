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


if __name__ == "__main__":
    harness.main([check_version_help, check_shipped_config, check_valid_generated, check_typo,
                  check_many_errors, check_syntax_error, check_unreadable_password_file])
