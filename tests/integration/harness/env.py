"""The per-test environment (temp dir, PKI, every server, bridge and client started for a
test, the checks) and main(), which runs a test file's check functions."""

import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

from .bridge import Bridge, bridge_binary, merge
from .ejabberd import Ejabberd, ejabberd_installed
from .ejabberdmqtt import EjabberdBroker
from .mosquitto import Mosquitto
from .mqttclient import MqttClient
from .pki import PKI
from .procs import (LOOPBACK, Terminated, TestFailure, TestTimeout, install_signal_handlers,
                    kill_all_children, tail, terminate, LogFile)
from .prosody import Prosody
from .xmppclient import XmppClient
from .xmppserver import XMPP_DOMAIN

XMPP_SERVERS = ("prosody", "ejabberd")
BROKERS = ("mosquitto", "ejabberd")


def xmpp_server_kind(kind=None):
    """The kind of XMPP server env.xmpp_server() starts: kind, else MXB_XMPP_SERVER, else
    "prosody"; one of XMPP_SERVERS (anything else raises ValueError)."""
    kind = kind or os.environ.get("MXB_XMPP_SERVER") or "prosody"
    if kind not in XMPP_SERVERS:
        raise ValueError("unknown XMPP server %r (MXB_XMPP_SERVER: one of %s)" % (
            kind, ", ".join(XMPP_SERVERS)))
    return kind


def broker_kind(kind=None):
    """The kind of MQTT broker env.broker() starts: kind, else MXB_MQTT_BROKER, else
    "mosquitto"; one of BROKERS (anything else raises ValueError)."""
    kind = kind or os.environ.get("MXB_MQTT_BROKER") or "mosquitto"
    if kind not in BROKERS:
        raise ValueError("unknown MQTT broker %r (MXB_MQTT_BROKER: one of %s)" % (
            kind, ", ".join(BROKERS)))
    return kind


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
        self.nchecks = 0
        # what this run verifies for docs/compatibility.md, from scratch every run
        if self.compat_path() and os.path.exists(self.compat_path()):
            os.unlink(self.compat_path())

    def compat_path(self):
        """MXB_COMPAT_DIR/TEST@PAIR.jsonl of this run (None without MXB_COMPAT_DIR)."""
        d = os.environ.get("MXB_COMPAT_DIR")
        return os.path.join(d, "%s@%s.jsonl" % (self.name, self.pair())) if d else None

    def record(self, rec):
        path = self.compat_path()
        if not path:
            return
        import json
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")

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
                start=True, extra="", muc=False, component=None, modules=(), upload=None,
                upload_url=None):
        """A Prosody with accounts users@localhost (random passwords, in .accounts).
        muc, component, modules, upload: as for xmpp_server(). upload_url: the base URL
        its slots name instead of its own (http_external_url)."""
        p = Prosody(self, cert or self.pki.server, name=name, extra=extra, muc=muc,
                    component=component, modules=modules, upload=upload,
                    upload_url=upload_url)
        for u in users:
            p.register(u)
        self.servers.append(p)
        return p.start() if start else p

    def ejabberd(self, cert=None, users=("bridge", "alice", "mallory"), name="ejabberd",
                 start=True, extra_yaml="", component_domain="iot.localhost",
                 component_secret=None, muc=False, component=None, modules=(), **kw):
        """An ejabberd with accounts users@localhost (random passwords, in .accounts),
        started (and registered for the cleanup at the end) like env.prosody(). MUC and
        offline storage are always on; component=(domain, secret) names the component
        its ejabberd_service listener accepts. kw: Ejabberd's own (c2s_yaml, ...)."""
        if component:
            component_domain, component_secret = component
        e = Ejabberd(self, cert or self.pki.server, name=name, extra_yaml=extra_yaml,
                     component_domain=component_domain, component_secret=component_secret,
                     **kw)
        for u in users:
            e.register(u)
        self.servers.append(e)
        return e.start() if start else e

    # -- servers by kind ---------------------------------------------------------------
    def xmpp_server(self, kind=None, cert=None, users=("bridge", "alice", "mallory"),
                    name=None, start=True, **kw):
        """An XMPP server of the given kind (default: xmpp_server_kind(), i.e.
        MXB_XMPP_SERVER or prosody), made by env.prosody() or env.ejabberd(); name
        defaults to the kind. Server-neutral options, which each kind turns into its own
        config: muc=True (rooms on conference.localhost; Prosody's are created unlocked,
        ejabberd's are never locked: instant rooms with its default_room_options),
        component=(domain, secret) (a XEP-0114 component listener on .component_port),
        modules=("offline",) (Prosody modules; ejabberd has them on anyway),
        upload=LIMIT (HTTP File Upload on upload.localhost, files up to LIMIT bytes, over
        HTTPS on 127.0.0.1:.upload_port with the server's certificate). Other kw are
        that kind's own options (extra, extra_yaml, ...).
        Without ejabberd installed, asking for it skips the test file (exit 77)."""
        kind = xmpp_server_kind(kind)
        if kind == "ejabberd":
            reason = ejabberd_installed()
            if reason:
                self.skip(reason)
            kw.pop("extra", None)  # Prosody's Lua; the neutral options say it for both
        else:
            kw.pop("extra_yaml", None)
        make = self.ejabberd if kind == "ejabberd" else self.prosody
        return make(cert=cert, users=users, name=name or kind, start=start, **kw)

    def broker(self, kind=None, cert=None, users=None, name=None, start=True,
               persistence=False, anonymous=True, extra="", options=None):
        """An MQTT broker of the given kind (default: broker_kind(), i.e. MXB_MQTT_BROKER
        or mosquitto): env.mosquitto(), or ejabberd's mod_mqtt (EjabberdBroker, whose
        sessions live in memory whatever persistence says and which always checks logins;
        options: mod_mqtt's). env.mqtt() and bridge_config() log in as the broker wants."""
        kind = broker_kind(kind)
        if kind == "ejabberd":
            reason = ejabberd_installed()
            if reason:
                self.skip(reason)
            b = EjabberdBroker(self, cert or self.pki.server, users=users,
                               name=name or "ejabberd-mqtt", options=options)
            return b.start() if start else b
        return self.mosquitto(cert=cert, users=users, name=name or "mosquitto", start=start,
                              extra=extra, anonymous=anonymous, persistence=persistence)

    def pair(self):
        """The server pair of this run, as docs/compatibility.md names it:
        "prosody+mosquitto", "ejabberd+mosquitto" or "ejabberd+ejabberd"."""
        return "%s+%s" % (xmpp_server_kind(), broker_kind())

    def verified(self, feature, outcome="verified", pair=None):
        """Records that this run verified feature on this pair (outcome: what it showed,
        in a few words), for docs/compatibility.md: one JSON line per call appended to
        compat_path() when MXB_COMPAT_DIR is set. pair: for a test that chooses its
        servers itself (default: this run's)."""
        pair = pair or self.pair()
        self.note("verified on %s: %s (%s)" % (pair, feature, outcome))
        self.record({"test": self.name, "pair": pair, "feature": feature,
                     "outcome": outcome})

    def skip(self, reason):
        """Ends the test file as skipped (exit 77); main() still stops every process."""
        print("SKIP %s: %s" % (self.name, reason), flush=True)
        sys.exit(77)

    def standard_servers(self):
        """One XMPP server (accounts bridge, alice, mallory, bob) and one MQTT broker of
        this run's kinds, started on first use and shared by the check functions of a
        test file."""
        if getattr(self, "_std", None) is None:
            self._std = (self.xmpp_server(users=("bridge", "alice", "mallory", "bob")),
                         self.broker())
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
        if hasattr(mosq, "bridge_login"):
            cfg["mqtt"]["username"], cfg["mqtt"]["password"] = mosq.bridge_login()
        return merge(cfg, over or {})

    def bridge(self, conf, start=True, args=None, extra_env=None):
        """A bridge process with conf (a dict or text); extra_env: variables of its own
        (e.g. NOTIFY_SOCKET), on top of the test's environment less systemd's."""
        self._nbridge += 1
        b = Bridge(self, conf, "bridge-%d" % self._nbridge, args=args, extra_env=extra_env)
        self.bridges.append(b)
        return b.start() if start else b

    def xmpp(self, prosody, user, password=None, connect=True, **kw):
        c = XmppClient(self, "%s@%s/test" % (user, XMPP_DOMAIN),
                       password if password is not None else prosody.accounts[user],
                       prosody.port, self.pki.ca.cert, **kw)
        return c.connect() if connect else c

    def mqtt(self, mosq, tls=True, connect=True, **kw):
        """A test client of broker mosq (logged in as the broker's default client unless
        kw says username=)."""
        if "username" not in kw and hasattr(mosq, "client_login"):
            kw["username"], kw["password"] = mosq.client_login()
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
            self.nchecks += 1
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


def main(checks, time_limit=110, need_bridge=True, unresolved=None):
    """Runs check functions (each takes the shared Env) in order, prints a line per check
    function with its time, and exits 0 (all passed), 1 (a failure), 77 (skipped: no
    bridge binary). A failure in one check function does not stop the later ones.
    unresolved: {(check name, pair): the failure seen there}: a check that fails on that
    pair for a reason not yet understood is not run there; the page of docs/
    compatibility.md says so with the failure."""
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
            why = (unresolved or {}).get((label, env.pair()))
            if why:
                print("NOT RUN %s on %s: unresolved: %s" % (label, env.pair(), why),
                      flush=True)
                env.record({"test": name, "pair": env.pair(), "feature": label,
                            "outcome": "NOT VERIFIED: " + why})
                continue
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
    if env is not None:
        env.record({"test": name, "pair": env.pair(), "suite": True,
                    "checks": env.nchecks})
    print("%s: all passed in %.1f s" % (name, total), flush=True)
    sys.exit(0)
