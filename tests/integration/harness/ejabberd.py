"""ejabberd 23.01 as the tests run it: an Erlang node of its own without ejabberdctl or
epmd, accounts via ejabberd_ctl, and a check that nothing of it outlives a stop."""

import atexit
import os
import re
import secrets
import shutil
import signal
import subprocess
import sysconfig
import time

from .procs import TestFailure, _pdeathsig, free_port, wait_until
from .xmppserver import XMPP_DOMAIN, XmppServer

# Debian installs ejabberd's Erlang applications in the multiarch library directory
EJABBERD_LIBS = os.path.join("/usr/lib", sysconfig.get_config_var("MULTIARCH") or "")
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


def _indent(text, n):
    """text (YAML lines) indented by n spaces, with a final newline, or ""."""
    text = text.strip("\n")
    if not text:
        return ""
    return "".join(" " * n + line + "\n" for line in text.split("\n"))


def _yq(s):
    """A YAML double-quoted scalar (JSON string syntax is valid YAML)."""
    import json
    return json.dumps(str(s))


class Ejabberd(XmppServer):
    """ejabberd 23.01 run as `erl ... -s ejabberd -noinput` (no ejabberdctl, which su's to
    user ejabberd), as SERVERS.md says: one VirtualHost "localhost", c2s on a loopback port
    with STARTTLS required and cert (cert + key + CA in one PEM, `certfiles:`), plain
    password storage, an ejabberd_service listener for the component component_domain
    (password component_secret, port component_port), MUC on conference.localhost.
    The Erlang node has a unique name and cookie, its distribution listens on 127.0.0.1
    only, on dist_port, and no epmd is started or used. Attributes like Prosody's: port,
    accounts, log, proc. extra_yaml: more top-level keys, appended to ejabberd.yml."""

    start_timeout = 30
    ready_interval = 0.05

    def __init__(self, env, cert, name="ejabberd", extra_yaml="",
                 component_domain="iot.localhost", component_secret=None, mqtt=None,
                 listen_yaml="", modules_yaml="", c2s_yaml="", loglevel="info", upload=None,
                 upload_url=None):
        super().__init__(env, cert, name)
        # mod_http_upload on upload.localhost for files up to upload bytes, PUT and GET on
        # https://localhost:upload_port/upload (127.0.0.1 only); upload_url: the put_url the
        # slots name instead, e.g. a listener of the test's own
        self.upload_port = free_port() if upload is not None else None
        if upload is not None:
            docroot = os.path.join(self.dir, "upload")
            os.makedirs(docroot, exist_ok=True)
            listen_yaml += """  -
    port: %d
    ip: "127.0.0.1"
    module: ejabberd_http
    tls: true
    request_handlers:
      /upload: mod_http_upload
""" % self.upload_port
            modules_yaml += """
mod_http_upload:
  put_url: %s
  docroot: %s
  max_size: %d
""" % (_yq(upload_url or "https://localhost:%d/upload" % self.upload_port), _yq(docroot),
       upload)
        self.component_port = free_port()
        # mod_mqtt (mqtt: a dict of its options, {} for the defaults): a plain and a TLS
        # listener, the broker of EjabberdBroker
        self.mqtt = mqtt
        self.mqtt_port = free_port() if mqtt is not None else None
        self.mqtt_tls_port = free_port() if mqtt is not None else None
        self.dist_port = free_port()
        self.component_domain = component_domain
        self.component_secret = component_secret or secrets.token_urlsafe(12)
        self.node = "mxb-%s-%s@localhost" % (re.sub(r"[^A-Za-z0-9_-]", "-", name),
                                             secrets.token_hex(4))
        self.cookie = secrets.token_hex(16)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.conf_path = os.path.join(self.dir, "ejabberd.yml")
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
loglevel: {loglevel}
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
{c2s_yaml}  -
    port: {cport}
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      {cdomain}:
        password: {csecret}
{listen_yaml}modules:
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
{modules_yaml}""".format(pem=_yq(self.pem_path), ca=_yq(env.pki.ca.cert), port=self.port,
           cport=self.component_port, cdomain=_yq(component_domain),
           csecret=_yq(self.component_secret), loglevel=loglevel,
           c2s_yaml=_indent(c2s_yaml, 4), listen_yaml=self._mqtt_listen() + listen_yaml,
           modules_yaml=self._mqtt_module() + _indent(modules_yaml, 2))
        if extra_yaml:
            conf += "\n" + extra_yaml.strip("\n") + "\n"
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def _mqtt_listen(self):
        if self.mqtt is None:
            return ""
        return "".join("""  -
    port: %d
    ip: "127.0.0.1"
    module: mod_mqtt
    tls: %s
""" % (p, tls) for p, tls in ((self.mqtt_port, "false"), (self.mqtt_tls_port, "true")))

    def _mqtt_module(self):
        if self.mqtt is None:
            return ""
        opts = "".join("    %s: %s\n" % (k, v) for k, v in sorted(self.mqtt.items()))
        return "  mod_mqtt:%s\n%s" % ("" if opts else " {}", opts)

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

    def log_path(self):
        return os.path.join(self.dir, "ejabberd.log")

    def spawn_env(self):
        return self._environ()

    def argv(self):
        return self._erl(self.node) + ["-s", "ejabberd", "-noinput"]

    def ports(self):
        ports = [self.port, self.component_port]
        if self.mqtt is not None:
            ports += [self.mqtt_port, self.mqtt_tls_port]
        return ports

    def ready_what(self):
        return "%s listening on %s (c2s, component%s)" % (
            self.name, "/".join(str(p) for p in self.ports()),
            ", mqtt, mqtts" if self.mqtt is not None else "")

    def can_register_now(self):
        """Accounts are made by the running node; they live in the spool, so they survive
        restarts."""
        return self.alive()

    def register_now(self, user, password):
        self._register_now(user, password)

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
        """The epmds on the default port, as an erl starts one by itself (`epmd -daemon`).
        One given a port of its own (-port, or ERL_EPMD_PORT as a cluster test's VMs
        have it) was started on purpose elsewhere: not one that our -start_epmd false
        let slip."""
        out = set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/comm" % d) as f:
                        if f.read().strip() != "epmd":
                            continue
                    with open("/proc/%s/cmdline" % d, "rb") as f:
                        if b"-port" in f.read().split(b"\0"):
                            continue
                    with open("/proc/%s/environ" % d, "rb") as f:
                        if any(v.startswith(b"ERL_EPMD_PORT=") for v in f.read().split(b"\0")):
                            continue
                    out.add(int(d))
                except OSError:
                    pass
        return out

    def _could_be_ours(self, pid):
        """An epmd this instance could have started: erl's own starts one daemonized
        (parent init), ours would carry its marker. One whose live parent is someone
        else's, e.g. a cluster test's private epmd running beside this one, is not."""
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
            with open("/proc/%d/environ" % pid, "rb") as f:
                envb = b"\0" + f.read() + b"\0"
        except OSError:
            return False  # gone already
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        return ppid == 1 or self._marker() in envb or ppid in self._family()

    def _family(self):
        return {self.proc.pid} | set(self.own_processes())

    def family(self):
        """The pids that count as this node when owning a port: the one we started and
        every process carrying this instance's marker (see own_processes)."""
        return self._family()

    # -- start / stop --------------------------------------------------------------------
    def before_start(self):
        if self._epmd_before is None:
            self._epmd_before = self.epmd_pids()
        atexit.register(self._reap_leftovers)

    def _reap_leftovers(self):
        """SIGKILLs (by pid) whatever of this instance outlived its beam process."""
        for pid in self.own_processes():
            if self.proc is not None and pid == self.proc.pid and self.proc.poll() is None:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def check_nothing_left(self, timeout):
        """Fails when a process of this server's own (beam, port programs) is still there
        after timeout seconds; kills what is left first."""
        try:
            wait_until(lambda: not self.own_processes(), timeout, interval=0.05,
                       what="%s: no process of its own left" % self.name)
        except TestFailure:
            left = self.own_processes()
            self._reap_leftovers()
            raise TestFailure("%s left processes behind after stopping: %r" % (
                self.name, left))

    def after_terminate(self):
        """Checks that no process of ours (beam, port programs, epmd) is left behind."""
        self.check_nothing_left(5)
        new_epmd = {pid for pid in self.epmd_pids() - (self._epmd_before or set())
                    if self._could_be_ours(pid)}
        if new_epmd:
            # one left behind is a daemon that stays; others' short-lived ones are gone
            time.sleep(0.5)
            new_epmd &= self.epmd_pids()
        if new_epmd:
            raise TestFailure("%s: an epmd appeared while it ran: %r" % (self.name,
                                                                        sorted(new_epmd)))

    def accepted_auth(self, user, since=0):
        """The SASL mechanism of the last c2s login of user@localhost ejabberd logged
        ("Accepted c2s MECH authentication for user@localhost ..."), or None."""
        ms = re.findall(r"Accepted c2s (\S+) authentication for %s@%s" % (
            re.escape(user), re.escape(XMPP_DOMAIN)), self.log.text(since))
        return ms[-1] if ms else None
