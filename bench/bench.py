#!/usr/bin/python3
"""bench/run: mqtt-xmpp-bridge against the servers' limits and against a peer bridge.

Starts one Prosody and two mosquitto instances on loopback (with the integration harness's
PKI and server classes, logging turned down), then runs every contender on the same servers,
interleaved, repeated (the order rotates each repetition):

  xmpp-direct   raw XMPP sender -> Prosody -> raw XMPP receiver           (XMPP limit)
  xmpp-shaped   the same with stanzas shaped as the bridge's (id, origin-id)
  xmpp-sm       shaped, and with XEP-0198 acks as the bridge asks them (<r/> every 32)
  mqtt-direct   mosquitto_pub -> mosquitto -> mosquitto_sub, QoS 1        (MQTT limit)
  mosq-bridge   mosquitto_pub -> mosquitto A -> (bridge in B) -> B -> mosquitto_sub
  mxb m2x/x2m   mqtt-xmpp-bridge, 10 notify routes + 1 commands route
  base m2x/x2m  the same with the --baseline binary (its own account and topics)
  m10k m2x      mqtt-xmpp-bridge with 10000 notify routes (per-message cost vs routes)
  m1k           mqtt-xmpp-bridge with 1000 notify routes (peak RSS)
  py m2x/x2m    bench/pybridge.py (slixmpp + paho) doing the same mapping

each saturated and at fixed rates (--rates, default 10, 100, 1000, 5000 messages/s). Every hop
is TLS (STARTTLS on XMPP, TLS on MQTT), verified. Each message carries "R<run> SEQ SEND_NS";
receivers count unique sequence numbers, duplicates and latency. Every run reads the CPU
time of the bridge, Prosody and both mosquittos (/proc/PID/task/*/schedstat) from the moment
the clients are ready to the moment the last message arrived. Each repetition starts with an
idle window (no traffic) counting the context switches (wakeups) of every long-running
process. Then strace -c counts system calls per message at 1000/s, and callgrind runs of
the bridge (N messages minus 0 messages) give instructions/message.

    bench/run                         full run (3 repetitions; ~16 min on 2 cores)
    bench/run --baseline OLD-BINARY   the same with an older build side by side (~21 min)
    bench/run --quick                 1 repetition, fewer messages, no 10000-route callgrind
    bench/run --only mxb,xmpp-direct  a subset of the contenders (names or tags)
Results: a JSON file and the Markdown tables on stdout (and --md FILE).
"""

import argparse
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
import harness  # noqa: E402

PY = "/usr/bin/python3"
LOAD = os.path.join(HERE, "load.py")
PYBRIDGE = os.path.join(HERE, "pybridge.py")
USERS = ("bridge", "bridgebase", "bridge1k", "bridge10k", "bridgecg", "bridgedev", "pybridge",
         "sender", "receiver")
# the XMPP account of each bridge tag (the x2m sender writes to ACCOUNT@localhost/bench)
ACCOUNT = {"mxb": "bridge", "base": "bridgebase", "m1k": "bridge1k", "m10k": "bridge10k",
           "py": "pybridge", "cg": "bridgecg", "cgb": "bridgecg", "cg10k": "bridgecg"}
# settles the replies and acks still in flight when the last message arrived
SETTLE = 0.2
COMPONENT = "iot.localhost"
COMPONENT_SECRET = "bench-component-secret"


def log(msg):
    print("[%6.1f] %s" % (time.monotonic() - T0, msg), flush=True)


T0 = time.monotonic()


# ---------------------------------------------------------------------------------------
# /proc

def cpu_ns(pid):
    """CPU time (user+system, every thread) of pid in ns, from /proc/PID/task/*/schedstat."""
    total = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total


def io_calls(pid):
    """(read, write) system calls of every thread of pid so far, from /proc/PID/io (syscr,
    syscw): how many reads a server makes per message, without tracing it."""
    try:
        with open("/proc/%d/io" % pid) as f:
            d = dict(line.split(": ") for line in f.read().splitlines())
        return int(d["syscr"]), int(d["syscw"])
    except (OSError, KeyError, ValueError):
        return None


def readings(pid):
    """What a run reads of pid before and after: CPU ns, (reads, writes), switches,
    migrations."""
    return {"cpu_ns": cpu_ns(pid), "io": io_calls(pid), "switches": ctxt_switches(pid),
            "migrations": migrations(pid)}


def readings_delta(before, after):
    """after - before of each reading (pairwise for io); None where either is missing."""
    out = {}
    for key, b in before.items():
        a = after.get(key)
        if a is None or b is None:
            out[key] = None
        elif isinstance(b, tuple):
            out[key] = [x - y for x, y in zip(a, b)]
        else:
            out[key] = a - b
    return out


def task_sum(pid, name, keys, value):
    """The sum over every thread of pid of value(line) for the lines of
    /proc/PID/task/*/NAME that start with one of keys; None when pid is gone."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/%s" % (pid, t, name)) as f:
                total += sum(value(line) for line in f if line.startswith(keys))
        except (OSError, ValueError):
            pass
    return total


def ctxt_switches(pid):
    """voluntary + nonvoluntary context switches of every thread of pid (each one a wakeup
    of a sleeping or a preempted thread), from /proc/PID/task/*/status."""
    return task_sum(pid, "status", ("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"),
                    lambda line: int(line.split()[1]))


def migrations(pid):
    """Moves of every thread of pid from one CPU to another (each one leaves the caches of
    the last behind), from se.nr_migrations in /proc/PID/task/*/sched."""
    return task_sum(pid, "sched", ("se.nr_migrations",), lambda line: int(line.split(":")[1]))


def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ---------------------------------------------------------------------------------------
# Servers

def quiet_conf(path, old, new):
    with open(path) as f:
        s = f.read()
    assert old in s, (path, old)
    with open(path, "w") as f:
        f.write(s.replace(old, new))


class Servers:
    def __init__(self, env, settings=()):
        self.env = env
        self.ca = env.pki.ca.cert
        # a component for the devices bridge (XEP-0114), as in tests/integration/test_devices.py
        self.cport = harness.free_port()
        component = ('component_ports = {{ {port} }}\ncomponent_interfaces = {{ "127.0.0.1" }}\n'
                     'Component "{domain}"\n\tcomponent_secret = "{secret}"\n').format(
            port=self.cport, domain=COMPONENT, secret=COMPONENT_SECRET)
        # settings: (KEY, LUA) global options (--prosody-set), so before the Component section
        glob = "".join("%s = %s\n" % kv for kv in settings)
        self.prosody = env.prosody(users=USERS, start=False, extra=glob + component)
        # the harness logs every stanza at debug: a benchmark measures Prosody, not its log
        quiet_conf(self.prosody.conf_path, "log = { debug = ", "log = { info = ")
        self.prosody.start()
        common = "max_queued_messages 0\nmax_inflight_messages 20\n"
        self.mqa = env.mosquitto(name="mosqA", start=False, extra=common)
        quiet_conf(self.mqa.conf_path, "log_type all", "log_type error\nlog_type warning\n"
                   "log_type notice\nlog_type subscribe")
        self.mqa.start()
        bridge_conn = "\n".join([
            common.strip(),
            "connection benchbridge",
            "address 127.0.0.1:%d" % self.mqa.tls_port,
            "bridge_cafile " + self.ca,
            "bridge_protocol_version mqttv311",
            "remote_clientid mosq-bridge-b",
            "cleansession true",
            "try_private false",
            "notifications false",
            "topic bench/mb/# in 1",
        ])
        self.mqb = env.mosquitto(name="mosqB", start=False, extra=bridge_conn)
        quiet_conf(self.mqb.conf_path, "log_type all", "log_type error\nlog_type warning\n"
                   "log_type notice")
        self.mqb.start()
        harness.wait_until(lambda: self.mqa.log.search(r"mosq-bridge-b \d bench/mb/#"), 15,
                           what="mosquitto B's bridge subscribed on A")


# ---------------------------------------------------------------------------------------
# Bridges under test

# xmpp settings of the bridges under test (--xmpp-set / --base-xmpp-set), by tag
XMPP_SET = {}


def parse_set(items):
    """["batch_delay_us=0", ...] -> {"batch_delay_us": 0}: integers stay integers."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit("bench: expected KEY=VALUE, got %r" % item)
        out[key] = int(value) if value.lstrip("-").isdigit() else value
    return out


def mxb_config(env, srv, user, tag, routes):
    xmpp = {"jid": "%s@localhost/bench" % user, "password": srv.prosody.accounts[user]}
    xmpp.update(XMPP_SET.get("base" if tag in ("base", "cgb") else "mxb", {}))
    cfg = env.bridge_config(srv.prosody, srv.mqa, {
        "xmpp": xmpp,
        "mqtt": {"client_id": "mxb-" + tag, "status_topic": "bench/status/" + tag},
        "notify": [{"topic": "bench/%s/%d" % (tag, i), "to": ["receiver@localhost"],
                    "message": "{{payload}}", "qos": 1} for i in range(routes)],
        "commands": [{"from": ["sender@localhost"], "allow": ["cmd/%s/#" % tag], "qos": 1,
                      "retain": False}],
    })
    return cfg


def wait_mxb_subscribed(srv, tag, routes, since, timeout):
    last = re.escape("bench/%s/%d" % (tag, routes - 1))
    srv.mqa.log.wait(r"mxb-%s \d %s$" % (re.escape(tag), last), timeout, since,
                     fail_on_exit=False)


def start_mxb(env, srv, user, tag, routes, wrap=None, timeout=60, binary=None):
    """A bridge with routes notify routes bench/TAG/N and commands cmd/TAG/#, logged in as
    user; binary: another build (--baseline), wrap: a command put in front (callgrind)."""
    cfg = mxb_config(env, srv, user, tag, routes)
    mark = srv.mqa.log.mark()
    if wrap is None and binary is None:
        b = env.bridge(cfg)
    else:
        b = env.bridge(cfg, start=False)
        b.proc = harness.spawn((wrap or []) + [binary or harness.bridge_binary(), "-c",
                                               b.conf_path], b.name, b.log.path)
    b.wait_ready(timeout)
    wait_mxb_subscribed(srv, tag, routes, mark, timeout)
    return b


def devices_rss(env, srv, n):
    """Peak RSS of a bridge tracking n devices: one tasmota devices rule through the component,
    no notify routes; n distinct tele/devN/LWT "Online" messages, then VmHWM."""
    cfg = env.bridge_config(srv.prosody, srv.mqa, {
        "xmpp": {"jid": "bridgedev@localhost/bench",
                 "password": srv.prosody.accounts["bridgedev"],
                 "component": {"domain": COMPONENT, "secret": COMPONENT_SECRET,
                               "host": "127.0.0.1", "port": srv.cport}},
        "mqtt": {"client_id": "mxb-dev", "status_topic": "bench/status/dev"},
        "bridge": {"max_devices": n},
        "notify": [],
        "commands": [],
        "devices": [{"convention": "tasmota", "allow": ["receiver@localhost"]}],
    })
    mark = srv.mqa.log.mark()
    b = env.bridge(cfg)
    try:
        b.wait_ready(60)
        b.wait_log(r"component: connected as '%s'" % re.escape(COMPONENT), 30)
        srv.mqa.log.wait(r"mxb-dev \d tele/\+/LWT", 30, mark, fail_on_exit=False)
        time.sleep(0.5)
        before = status_kb(b.pid, "VmHWM")
        c = env.mqtt(srv.mqa, client_id="bench-devices", version=4)
        t = time.monotonic()
        info = None
        for i in range(n):
            info = c.c.publish("tele/dev%d/LWT" % i, b"Online", qos=1)
        info.wait_for_publish(120)
        b.wait_log(r"devices: 'dev%d' is online" % (n - 1), 120)
        took = time.monotonic() - t
        time.sleep(0.5)
        online = len(re.findall(r"devices: 'dev\d+' is online", b.log.text()))
        res = {"devices": n, "online_logged": online, "vmhwm_before": before,
               "vmhwm": status_kb(b.pid, "VmHWM"), "vmrss": status_kb(b.pid, "VmRSS"),
               "seconds": took}
        c.disconnect()
        log("devices: %s" % res)
        return res
    finally:
        b.stop()


class PyBridge:
    def __init__(self, env, srv):
        self.log = os.path.join(env.tmp, "pybridge.log")
        self.proc = harness.spawn([PY, PYBRIDGE, "--jid", "pybridge@localhost/bench",
                                   "--password=" + srv.prosody.accounts["pybridge"],
                                   "--xmpp-port", str(srv.prosody.port),
                                   "--mqtt-port", str(srv.mqa.tls_port), "--ca", srv.ca,
                                   "--notify", "bench/py/#", "--to", "receiver@localhost",
                                   "--allow-from", "sender@localhost",
                                   "--allow", "cmd/py/#"], "pybridge", self.log)
        harness.wait_until(lambda: self._ready(), 30, what="pybridge ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError("pybridge exited:\n" + harness.tail(self.log))
        with open(self.log, "rb") as f:
            return b"ready" in f.read()

    @property
    def pid(self):
        return self.proc.pid


# ---------------------------------------------------------------------------------------
# Clients

def wait_line(p, word, timeout):
    """Reads p's stdout until a line word (True) or timeout seconds or EOF (False)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([p.stdout], [], [], left)
        if r:
            line = p.stdout.readline()
            if not line:
                return False
            if line.strip() == word:
                return True


class Bench:
    def __init__(self, env, srv, args):
        self.env = env
        self.srv = srv
        self.args = args
        self.run_id = 0

    def _next_run(self):
        self.run_id += 1
        return self.run_id

    def xmpp_client(self, mode, user, run, count, extra=()):
        argv = [PY, LOAD, mode, "--port", str(self.srv.prosody.port), "--ca", self.srv.ca,
                "--user", user, "--password=" + self.srv.prosody.accounts[user],
                "--run", str(run), "--count", str(count)] + list(extra)
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             preexec_fn=harness._pdeathsig)
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            raise RuntimeError("%s %s not ready: %r" % (mode, user, line))
        return p

    def mqtt_sub(self, port, topic, out_path):
        f = open(out_path, "w")
        p = subprocess.Popen(["stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "--cafile",
                              self.srv.ca, "-q", "1", "-t", topic, "-d", "-V", "mqttv311",
                              "-i", "bench-sub-%d" % self.run_id, "-F", "%U %p"],
                             stdout=f, stderr=subprocess.STDOUT, preexec_fn=harness._pdeathsig)
        f.close()

        def subacked():
            with open(out_path) as g:
                return "SUBACK" in g.read()
        harness.wait_until(subacked, 10, what="mosquitto_sub SUBACK")
        return p

    def mqtt_pub(self, topic, run, count, rate):
        gen = subprocess.Popen([PY, LOAD, "mqtt-gen", "--run", str(run), "--count", str(count),
                                "--rate", str(rate), "--wait-go"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, preexec_fn=harness._pdeathsig)
        mark = self.srv.mqa.log.mark()
        pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p",
                                str(self.srv.mqa.tls_port), "--cafile", self.srv.ca, "-q", "1",
                                "-t", topic, "-l", "-V", "mqttv311",
                                "-i", "bench-pub-%d" % run], stdin=gen.stdout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=harness._pdeathsig)
        gen.stdout.close()
        # TLS + CONNECT done before the first timestamp and outside the CPU measured; then
        # mosquitto_pub still takes tens of ms before it reads its input (the first
        # messages waited ~60 ms without this pause)
        self.srv.mqa.log.wait(r" as bench-pub-%d \(" % run, 15, mark, fail_on_exit=False)
        time.sleep(0.3)
        return gen, pub

    @staticmethod
    def go(p):
        p.stdin.write("go\n" if isinstance(p.stdin, __import__("io").TextIOWrapper) else b"go\n")
        p.stdin.flush()

    def wait_sub_file(self, path, run, count, idle, timeout):
        """Counts the R<run> lines mosquitto_sub wrote until count or idle seconds."""
        rx = re.compile(r"^(\d+)\.(\d+) R%d (\d+) (\d+)$" % run, re.M)
        deadline = time.monotonic() + timeout
        last_n, last_change = -1, time.monotonic()
        while True:
            with open(path) as f:
                text = f.read()
            n = text.count(" R%d " % run)
            now = time.monotonic()
            if n != last_n:
                last_n, last_change = n, now
            if n >= count or now - last_change > idle or now > deadline:
                break
            time.sleep(0.05)
        seen, dups, lat = set(), 0, []
        first_send = last_recv = None
        for m in rx.finditer(text):
            recv = int(m.group(1)) * 10**9 + int(m.group(2).ljust(9, "0")[:9])
            seq, ts = int(m.group(3)), int(m.group(4))
            if seq in seen:
                dups += 1
                continue
            seen.add(seq)
            lat.append((recv - ts) // 1000)
            first_send = ts if first_send is None else min(first_send, ts)
            last_recv = recv if last_recv is None else max(last_recv, recv)
        import load
        return load.summarize(count, seen, dups, lat, first_send, last_recv)

    # -- one contender run ---------------------------------------------------------------
    def run(self, name, count, rate, watch, during=None):
        """name: xmpp-direct, mqtt-direct, mosq-bridge, <tag>-m2x, <tag>-x2m.
        watch: {label: pid} whose CPU time is measured, from the moment every client is
        connected (logins and TLS handshakes left out) to the last message's arrival.
        during: (start, stop) callables run around that window (strace)."""
        run = self._next_run()
        idle = self.args.idle
        timeout = max(60.0, count / 500.0, count / rate * 1.5 + 10 if rate else 0)
        t_start = time.monotonic()
        kind = name.split("-")[-1] if name.endswith(("m2x", "x2m")) else name
        tag = name.rsplit("-", 1)[0]
        recv_mode = "xmpp" if kind in XMPP_DIRECTS + ("m2x",) else "mqtt"
        procs = []
        snd = None
        try:
            if recv_mode == "xmpp":
                recv = self.xmpp_client("xmpp-recv", "receiver", run, count,
                                        ["--idle", str(idle), "--timeout", str(timeout)])
                procs.append(recv)
            else:
                port = self.srv.mqb.tls_port if kind == "mosq-bridge" else self.srv.mqa.tls_port
                topic = {"mqtt-direct": "bench/direct", "mosq-bridge": "bench/mb/#"}.get(
                    kind, "cmd/%s/#" % tag)
                out_path = os.path.join(self.env.tmp, "sub-%d.txt" % run)
                sub = self.mqtt_sub(port, topic, out_path)
                procs.append(sub)
            if kind in XMPP_DIRECTS + ("x2m",):
                to = "receiver@localhost" if kind != "x2m" else \
                    "%s@localhost/bench" % ACCOUNT[tag]
                extra = ["--to", to, "--rate", str(rate)]
                if kind == "x2m":
                    extra += ["--prefix", "cmd/%s/1" % tag]
                if kind in SHAPES:
                    extra += ["--shape", SHAPES[kind]]
                snd = self.xmpp_client("xmpp-send", "sender", run, count, extra)
                procs.append(snd)
                starter = snd
            else:
                topic = {"mqtt-direct": "bench/direct", "mosq-bridge": "bench/mb/1"}.get(
                    kind, "bench/%s/5" % tag)
                gen, pub = self.mqtt_pub(topic, run, count, rate)
                procs += [gen, pub]
                starter = gen
            if during:
                during[0]()
            before = {k: readings(p) for k, p in watch.items()}
            t_go = time.monotonic()
            self.go(starter)
            if recv_mode == "xmpp":
                line = recv.stdout.readline()
                if not line.strip():
                    raise RuntimeError("%s: the receiver ended without a result" % name)
                res = json.loads(line)
            else:
                res = self.wait_sub_file(out_path, run, count, idle, timeout)
            if kind == "x2m":
                # the replies trail the publishes: their cost belongs in the reading
                t = time.monotonic()
                res["replies_all"] = wait_line(snd, "replies", 10 + count / 1000.0)
                res["replies_wait"] = time.monotonic() - t
            time.sleep(SETTLE)
            after = {k: readings(p) for k, p in watch.items()}
            t_end = time.monotonic()
            if during:
                res["during"] = during[1]()
            if snd is not None:
                snd.stdin.write("stop\n")
                snd.stdin.flush()
                out, _ = snd.communicate(timeout=30)
                res["sender"] = json.loads(out.strip().splitlines()[-1])
            if recv_mode == "xmpp":
                recv.wait(30)
        finally:
            for p in procs:
                if p.poll() is None:
                    try:
                        p.terminate()
                        p.wait(5)
                    except Exception:
                        p.kill()
        delta = {k: readings_delta(before[k], after[k]) for k in watch}
        for key in ("cpu_ns", "io", "switches", "migrations"):
            res[key] = {k: delta[k][key] for k in watch}
        res.update(name=name, rate_target=rate, count=count, run=run,
                   window=t_end - t_go, wall=time.monotonic() - t_start)
        replies = ""
        if kind == "x2m":
            replies = " replies=%s%s" % (res["sender"].get("replies"), "" if res.get(
                "replies_all") else " (waited %.1f s)" % res.get("replies_wait", 0))
            if res["sender"].get("other_answers") or res["sender"].get("errors"):
                replies += " other=%s errors=%s" % (res["sender"].get("other_answers"),
                                                    res["sender"].get("errors"))
        log("%-13s %6s n=%-6d got=%-6d lost=%-5d dup=%-3d rate=%8.0f/s p50=%6s us p99=%7s us"
            "%s cpu_us/msg=%s" % (name, rate or "sat", count, res["unique"], res["lost"],
                                  res["dups"], res.get("rate") or 0, res["p50_us"],
                                  res["p99_us"], replies,
                                  {k: round(v / 1000.0 / max(1, res["unique"]), 1)
                                   for k, v in res["cpu_ns"].items() if v is not None}))
        return res


# ---------------------------------------------------------------------------------------
# Idle wakeups and system calls

def idle_window(pids, secs):
    """Context switches and CPU time of each pid over secs seconds without traffic."""
    time.sleep(1.0)  # the previous run's last acks and logouts
    sw0 = {k: ctxt_switches(p) for k, p in pids.items()}
    cpu0 = {k: cpu_ns(p) for k, p in pids.items()}
    t0 = time.monotonic()
    time.sleep(secs)
    t = time.monotonic() - t0
    out = {}
    for k, p in pids.items():
        sw, cpu = ctxt_switches(p), cpu_ns(p)
        out[k] = {"secs": t,
                  "switches": sw - sw0[k] if sw is not None and sw0[k] is not None else None,
                  "cpu_ns": cpu - cpu0[k] if cpu is not None and cpu0[k] is not None else None}
    log("idle %.0f s: wakeups/min %s" % (t, {k: round(v["switches"] * 60.0 / t)
                                              for k, v in out.items()
                                              if v["switches"] is not None}))
    return out


STRACE_RX = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\S+)\s*$")


def strace_counts(path):
    """{syscall: calls} and the total from strace -c's table."""
    calls, total = {}, None
    with open(path) as f:
        for line in f:
            m = STRACE_RX.match(line)
            if not m:
                continue
            if m.group(2) == "total":
                total = int(m.group(1))
            else:
                calls[m.group(2)] = int(m.group(1))
    return calls, total


def strace_phase(env, bench, args, bridges, watch, results):
    """System calls per message at 1000/s: strace -c -f attached to each bridge (every
    thread) for one run per direction. ptrace slows the traced process; only the counts
    are kept, not the CPU or the latency of these runs."""
    count = int(1000 * args.rate_secs)
    out = {}
    for tag, b in bridges:
        for direction in ("m2x", "x2m"):
            name = "%s-%s" % (tag, direction)
            if not selected(args, name):
                continue
            path = os.path.join(env.tmp, "strace.%s.txt" % name)
            holder = {}

            def start(pid=b.pid, path=path, holder=holder):
                holder["p"] = subprocess.Popen(["strace", "-c", "-f", "-o", path, "-p",
                                                str(pid)], stdout=subprocess.DEVNULL,
                                               stderr=subprocess.PIPE,
                                               preexec_fn=harness._pdeathsig)
                time.sleep(1.0)  # attached to every thread

            def stop(holder=holder):
                p = holder["p"]
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                return p.returncode
            try:
                res = bench.run(name, count, 1000, watch(name), during=(start, stop))
            finally:
                p = holder.get("p")
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
            calls, total = strace_counts(path)
            got = max(1, res["unique"])
            out[name] = {"messages": res["unique"], "lost": res["lost"], "total": total,
                         "per_msg": total / got if total is not None else None,
                         "top": sorted(((k, v / got) for k, v in calls.items()),
                                       key=lambda kv: -kv[1])[:8]}
            log("strace %s: %s system calls/message" % (
                name, fmt(out[name]["per_msg"], "%.2f")))
    results["strace"] = out


# ---------------------------------------------------------------------------------------
# callgrind

def callgrind_totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith("summary:") or line.startswith("totals:"):
                return int(line.split()[1])
    return None


FN_RX = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*?):(\S.*?)\s+\[(.*)\]\s*$")


def callgrind_functions(path, inclusive=False):
    """{(object, function): self (or inclusive) Ir} from callgrind_annotate."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100",
                          "--inclusive=" + ("yes" if inclusive else "no"), path],
                         capture_output=True, text=True).stdout
    fns = {}
    for line in out.splitlines():
        m = FN_RX.match(line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        obj = os.path.basename(m.group(4))
        fns[(obj, m.group(3))] = fns.get((obj, m.group(3)), 0) + ir
    return fns


INCLUSIVE_OF_INTEREST = {
    "on_log", "mxb_log", "on_mqtt_message", "on_xmpp_message", "on_message", "on_published",
    "mxb_xmpp_send_message", "mxb_xmpp_handle", "mxb_mqtt_handle", "xmpp_send",
    "xmpp_run_once", "mosquitto_loop_read", "mosquitto_loop_write", "mosquitto_publish",
    "SSL_read", "SSL_write", "mxb_template_render", "mxb_topic_index_match",
    "mxb_text_xml_valid", "mxb_text_sanitize", "poll", "xmpp_uuid_gen", "XML_Parse",
    "malloc", "free", "__vfprintf_internal", "__vsnprintf_internal"}


def callgrind_phase(env, srv, bench, args, results, baseline=None):
    """Instructions per message: (run with N messages) - (run with 0), per direction, with
    10 routes, and M2X with 10000 routes; the baseline binary (tag cgb) with 10 routes."""
    cg = {}
    plan = [("cg", 10, 0, None), ("cg", 10, args.cg_n, "m2x"), ("cg", 10, args.cg_n, "x2m")]
    if baseline:
        plan += [("cgb", 10, 0, None), ("cgb", 10, args.cg_n, "m2x"),
                 ("cgb", 10, args.cg_n, "x2m")]
    if not args.quick:
        plan += [("cg10k", 10000, 0, None), ("cg10k", 10000, args.cg_n, "m2x")]
    for tag, routes, n, direction in plan:
        os.makedirs(args.cg_dir, exist_ok=True)
        out = os.path.join(args.cg_dir, "callgrind.%s.%s.%d.out" % (tag, direction or "idle", n))
        # instrumentation starts once the bridge is connected and subscribed (startup with
        # 10000 routes would take minutes under callgrind and is not per-message cost)
        wrap = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--instr-atstart=no",
                "--callgrind-out-file=" + out]
        log("callgrind: %s routes=%d n=%d %s" % (tag, routes, n, direction or "idle"))
        b = start_mxb(env, srv, "bridgecg", tag, routes, wrap=wrap, timeout=600,
                      binary=baseline if tag == "cgb" else None)
        subprocess.run(["callgrind_control", "-i", "on", str(b.pid)], check=True,
                       capture_output=True, timeout=60)
        time.sleep(1.0)
        res = None
        if n:
            name = "%s-%s" % (tag, direction)
            # the pseudo-tags "cg"/"cgb"/"cg10k" route like "mxb": bench/<tag>/5, cmd/<tag>/1
            res = bench.run(name, n, 0, {})
        b.stop(signal.SIGTERM, 120)
        total = callgrind_totals(out)
        cg[(tag, direction or "idle")] = {"out": out, "total": total, "run": res,
                                          "routes": routes, "n": n}
        log("callgrind: total Ir %s" % (total,))
    res = {}
    for key in (("cg", "m2x"), ("cg", "x2m"), ("cgb", "m2x"), ("cgb", "x2m"),
                ("cg10k", "m2x")):
        if key not in cg:
            continue
        base = cg[(key[0], "idle")]
        run = cg[key]
        got = run["run"]["unique"] if run["run"] else run["n"]
        per = (run["total"] - base["total"]) / max(1, got)
        f_run = callgrind_functions(run["out"])
        f_base = callgrind_functions(base["out"])
        diff = {k: (v - f_base.get(k, 0)) / max(1, got) for k, v in f_run.items()}
        by_obj = {}
        for (obj, _fn), v in diff.items():
            by_obj[obj] = by_obj.get(obj, 0) + v
        top = sorted(diff.items(), key=lambda kv: -kv[1])[:25]
        i_run = callgrind_functions(run["out"], True)
        i_base = callgrind_functions(base["out"], True)
        incl = {"%s %s" % k: (v - i_base.get(k, 0)) / max(1, got) for k, v in i_run.items()
                if k[1] in INCLUSIVE_OF_INTEREST}
        res["%s-%s" % key] = {"per_msg": per, "messages": got, "routes": run["routes"],
                              "by_object": sorted(by_obj.items(), key=lambda kv: -kv[1]),
                              "top": [[o, f, v] for (o, f), v in top],
                              "inclusive": incl}
        if run["run"] and "sender" in run["run"]:
            res["%s-%s" % key]["replies"] = run["run"]["sender"].get("replies")
        log("callgrind %s-%s: %.0f instructions/message" % (key[0], key[1], per))
    results["callgrind"] = res


# ---------------------------------------------------------------------------------------
# Report

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


LABELS = {
    "xmpp-direct": "direct XMPP (client -> Prosody -> client)",
    "xmpp-shaped": "direct XMPP, stanzas shaped as the bridge's (id, origin-id)",
    "xmpp-sm": "direct XMPP, shaped, XEP-0198 acks as the bridge's",
    "mqtt-direct": "direct MQTT (mosquitto_pub -> A -> mosquitto_sub)",
    "mosq-bridge": "mosquitto bridge (A -> bridge in B -> B), MQTT -> MQTT",
    "mxb-m2x": "**mqtt-xmpp-bridge MQTT -> XMPP**",
    "mxb-x2m": "**mqtt-xmpp-bridge XMPP -> MQTT**",
    "base-m2x": "before (--baseline) MQTT -> XMPP",
    "base-x2m": "before (--baseline) XMPP -> MQTT",
    "m10k-m2x": "mqtt-xmpp-bridge MQTT -> XMPP, 10000 routes",
    "m1k-m2x": "mqtt-xmpp-bridge MQTT -> XMPP, 1000 routes",
    "py-m2x": "Python peer (slixmpp+paho) MQTT -> XMPP",
    "py-x2m": "Python peer (slixmpp+paho) XMPP -> MQTT",
}
IDLE_LABELS = (("bridge", "mqtt-xmpp-bridge (10 routes)"), ("base", "before (--baseline)"),
               ("py", "Python peer"), ("mosqB", "mosquitto B (with its bridge)"),
               ("mosqA", "mosquitto A"), ("prosody", "Prosody"))
DIRECTIONS = (("m2x", "MQTT -> XMPP"), ("x2m", "XMPP -> MQTT"))
# the paths without a bridge process; the XMPP ones, and the sender's --shape of each
XMPP_DIRECTS = ("xmpp-direct", "xmpp-shaped", "xmpp-sm")
SHAPES = {"xmpp-shaped": "bridge", "xmpp-sm": "sm"}
DIRECTS = XMPP_DIRECTS + ("mqtt-direct",)

# Prosody's Nagle off (--prosody-no-nagle)
NO_NAGLE = "network_settings={ nagle = false }"

# instructions/message targets (callgrind; XMPP -> MQTT includes the reply)
CG_TARGET = {"m2x": 30000, "x2m": 45000}


def report(results, cmd):
    runs = results["runs"]
    names = [n for n in LABELS if any(r["name"] == n for r in runs)]
    has_base = any(n.startswith("base-") for n in names)
    rates = results["rates"]
    cg = results.get("callgrind", {})

    def pick(name, rate):
        return [r for r in runs if r["name"] == name and r["rate_target"] == rate]

    def m(name, rate, key):
        return med([r.get(key) for r in pick(name, rate)])

    def per_msg(name, rate, key, who, i=None, scale=1.0):
        """Median of a run's reading key ("cpu_ns", "io", "switches", "migrations") of who per
        message delivered, over the runs of name; i picks one of a pair (io: read, write).
        who "own": the path's own process (mosquitto B for the mosquitto bridge)."""
        if who == "own":
            who = "mosqB" if name == "mosq-bridge" else "bridge"
        vals = []
        for r in pick(name, rate):
            v = (r.get(key) or {}).get(who)
            if v is not None and r["unique"]:
                vals.append((v if i is None else v[i]) * scale / r["unique"])
        return med(vals)

    def cpu_us(name, rate, who="own"):
        """Median CPU µs per message delivered of process who over the runs of name."""
        return per_msg(name, rate, "cpu_ns", who, scale=0.001)

    def ratio(a, b):
        return a / b if a is not None and b else None

    def rl(rate):
        return "saturated" if rate == 0 else "%d/s" % rate

    def met(ok):
        return "n/a" if ok is None else ("met" if ok else "**missed**")

    def total(name, key, rate=None):
        return int(sum(r[key] for r in runs if r["name"] == name and
                       (rate is None or r["rate_target"] == rate)))

    sat = {n: m(n, 0, "rate") for n in names}
    directs = [v for v in (sat.get("xmpp-direct"), sat.get("mqtt-direct")) if v]
    limit = min(directs) if directs else None

    L = []
    L.append("Command: `%s`  " % cmd)
    counts = results.get("rate_counts") or {}
    per_rate = ", ".join("%d/s: %s messages (%s s)" % (
        r, counts.get(str(r), "?"),
        fmt(counts[str(r)] / float(r) if str(r) in counts else None, "%.0f")) for r in rates)
    L.append("Repetitions: %d (medians), interleaved: each repetition starts with an idle "
             "window of %s s, then the runs grouped by rate, the groups and the order within "
             "each rotated every repetition. Saturation runs of %d messages (Python peer: %d); "
             "fixed rates %s. TLS on every hop; QoS 1 on MQTT. Machine: %d cores%s.\n" % (
                 results["reps"], fmt(results.get("idle_secs")), results["n_sat"],
                 results["n_sat_py"], per_rate or "none", os.cpu_count(),
                 ("; wall time %.0f s" % results["duration_s"])
                 if results.get("duration_s") else ""))
    # results of before --prosody-no-nagle was a --prosody-set say so as prosody_nagle
    settings = list(results.get("prosody_set") or [])
    if results.get("prosody_nagle") is False and NO_NAGLE not in settings:
        settings.insert(0, NO_NAGLE)
    if settings:
        L.append("Prosody settings (--prosody-set, --prosody-no-nagle): %s.\n" % ", ".join(
            "`%s`" % kv for kv in settings))
    if results.get("prosody_cpu") is not None:
        L.append("Prosody was pinned to CPU %d (--prosody-cpu).\n" % results["prosody_cpu"])
    if has_base:
        L.append("Before: `%s` (--baseline), run as the contenders `base-m2x` / `base-x2m` "
                 "with its own account and topics, in every repetition and at every rate.\n" %
                 results.get("baseline"))

    # -- throughput ----------------------------------------------------------------------
    L.append("### Throughput (saturated, messages/s, median)\n")
    L.append("| path | msg/s | ratio to direct XMPP | ratio to min(direct XMPP, direct MQTT) "
             "| lost | dup | target |")
    L.append("|---|---:|---:|---:|---:|---:|---|")
    for name in names:
        v = sat.get(name)
        if v is None:
            continue
        t = ">= 0.8" if name.startswith(("mxb-", "base-")) else ""
        L.append("| %s | %s | %s | %s | %d | %d | %s |" % (
            LABELS[name], fmt(v), fmt(ratio(v, sat.get("xmpp-direct")), "%.2f"),
            fmt(ratio(v, limit), "%.2f"), total(name, "lost", 0), total(name, "dups", 0), t))

    # -- CPU per message -----------------------------------------------------------------
    L.append("\n### CPU per message, every process (µs per message delivered, median)\n")
    L.append("From `/proc/PID/task/*/schedstat` (every thread), read when all clients of a "
             "run are connected and again %.1f s after its last message arrived (XMPP -> "
             "MQTT: after the sender also had every reply), so logins and TLS handshakes are "
             "left out and idle time during the run is included. \"bridge\" is the path's "
             "own process: mqtt-xmpp-bridge, the Python peer, or for the mosquitto bridge "
             "mosquitto B itself (its bridge runs inside B, so that column repeats mosquitto "
             "B's figure).\n" % SETTLE)
    L.append("| path | rate | messages | bridge | Prosody | mosquitto A | mosquitto B | lost "
             "| dup |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in [0] + rates:
        for name in names:
            if not pick(name, rate):
                continue
            own = "-" if name in DIRECTS else fmt(cpu_us(name, rate),
                                                                        "%.1f")
            L.append("| %s | %s | %s | %s | %s | %s | %s | %d | %d |" % (
                LABELS[name], rl(rate), fmt(m(name, rate, "unique")), own,
                fmt(cpu_us(name, rate, "prosody"), "%.1f"),
                fmt(cpu_us(name, rate, "mosqA"), "%.1f"),
                fmt(cpu_us(name, rate, "mosqB"), "%.1f"),
                total(name, "lost", rate), total(name, "dups", rate)))

    L.append("\n### The bridge's CPU per message against the mosquitto bridge and the Python "
             "peer (µs, median)\n")
    head = "| direction | rate | bridge | mosquitto bridge (B) | bridge / mosquitto bridge " \
           "| Python peer | Python / bridge |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if has_base:
        head += " before | after / before |"
        sep += "---:|---:|"
    L.append(head)
    L.append(sep)
    for rate in [0] + rates:
        for d, dl in DIRECTIONS:
            a, mb, py = cpu_us("mxb-" + d, rate), cpu_us("mosq-bridge", rate), \
                cpu_us("py-" + d, rate)
            if a is None:
                continue
            row = "| %s | %s | %s | %s | %s | %s | %s |" % (
                dl, rl(rate), fmt(a, "%.1f"), fmt(mb, "%.1f"), fmt(ratio(a, mb), "%.2f"),
                fmt(py, "%.1f"), fmt(ratio(py, a), "%.1f"))
            if has_base:
                b = cpu_us("base-" + d, rate)
                row += " %s | %s |" % (fmt(b, "%.1f"), fmt(ratio(a, b), "%.2f"))
            L.append(row)

    # -- Prosody per bridged message -----------------------------------------------------
    L.append("\n### Prosody's CPU per bridged message against a direct one (µs, median)\n")
    L.append("Direct: one chat message client -> Prosody -> client. MQTT -> XMPP passes one "
             "stanza through Prosody per message (plus the bridge's XEP-0198 acks); XMPP -> "
             "MQTT two (the command and the bridge's reply), so its target applies per "
             "stanza.\n")
    L.append("| path | rate | Prosody | Prosody, direct XMPP | ratio | stanzas per message | "
             "ratio per stanza | target <= 1.2 |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for rate in [0] + [r for r in rates if r == 1000]:
        direct = cpu_us("xmpp-direct", rate, "prosody")
        for name in names:
            if not (name.endswith(("m2x", "x2m")) or name in SHAPES) or \
                    name.startswith(("m1k", "m10k")):
                continue
            p = cpu_us(name, rate, "prosody")
            if p is None:
                continue
            st = 2 if name.endswith("x2m") else 1
            r = ratio(p, direct)
            L.append("| %s | %s | %s | %s | %s | %d | %s | %s |" % (
                LABELS[name], rl(rate), fmt(p, "%.1f"), fmt(direct, "%.1f"), fmt(r, "%.2f"),
                st, fmt(r / st if r else None, "%.2f"),
                met(r / st <= 1.2 if r else None) if name.startswith(("mxb", "base")) else ""))

    # -- reads and writes ----------------------------------------------------------------
    def io_per(name, rate, who, i):
        return per_msg(name, rate, "io", who, i)

    def sw_per(name, rate, who):
        return per_msg(name, rate, "switches", who)

    def mig_per(name, rate, who):
        return per_msg(name, rate, "migrations", who)

    L.append("\n### Wakeups, reads and writes per message (median)\n")
    L.append("Over the same window as the CPU: context switches (every thread, "
             "`/proc/PID/task/*/status`) and read and write system calls (`/proc/PID/io` syscr, "
             "syscw) per message, i.e. how many messages one wakeup, read or write carries; "
             "and Prosody's moves from one CPU to the other (`se.nr_migrations`, "
             "`/proc/PID/task/*/sched`), each of which finds the caches cold.\n")
    L.append("| path | rate | bridge wakeups | bridge reads | bridge writes | Prosody wakeups "
             "| Prosody reads | Prosody writes | Prosody migrations |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for rate in [0] + rates:
        for name in names:
            if not pick(name, rate) or name.startswith(("m1k", "m10k")):
                continue
            own = name not in DIRECTS
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                LABELS[name], rl(rate),
                fmt(sw_per(name, rate, "own"), "%.2f") if own else "-",
                fmt(io_per(name, rate, "own", 0), "%.2f") if own else "-",
                fmt(io_per(name, rate, "own", 1), "%.2f") if own else "-",
                fmt(sw_per(name, rate, "prosody"), "%.2f"),
                fmt(io_per(name, rate, "prosody", 0), "%.2f"),
                fmt(io_per(name, rate, "prosody", 1), "%.2f"),
                fmt(mig_per(name, rate, "prosody"), "%.3f")))

    # -- latency -------------------------------------------------------------------------
    L.append("\n### Latency at fixed rates (µs, medians of per-run percentiles)\n")
    L.append("Added latency: p50 minus the sum of the direct paths' p50 it replaces; p99 "
             "minus the sum of their p99 (lenient) and minus the larger of their p99 "
             "(strict; the target is judged on this one).\n")
    L.append("| path | rate | p50 | p99 | p50 added | p99 added (sum) | p99 added (larger) "
             "| lost | target |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for rate in rates:
        base = {n: (m(n, rate, "p50_us"), m(n, rate, "p99_us"))
                for n in ("xmpp-direct", "mqtt-direct")}
        for name in names:
            if name.startswith(("m1k", "m10k")):
                continue
            p50, p99 = m(name, rate, "p50_us"), m(name, rate, "p99_us")
            if p50 is None:
                continue
            minus = () if name in DIRECTS else ("mqtt-direct",) if \
                name == "mosq-bridge" else ("mqtt-direct", "xmpp-direct")
            a50 = a99 = s99 = None
            if minus and all(base[b][0] is not None for b in minus):
                a50 = p50 - sum(base[b][0] for b in minus)
                a99 = p99 - sum(base[b][1] for b in minus)
                s99 = p99 - max(base[b][1] for b in minus)
            t = "strict < 1000" if rate == 1000 and name.startswith(("mxb", "base")) else ""
            L.append("| %s | %d/s | %s | %s | %s | %s | %s | %d | %s |" % (
                LABELS[name], rate, fmt(p50), fmt(p99), fmt(a50), fmt(a99), fmt(s99),
                total(name, "lost", rate), t))

    def added_p99(name, rate=1000):
        p99 = m(name, rate, "p99_us")
        d = [m(n, rate, "p99_us") for n in ("mqtt-direct", "xmpp-direct")]
        if p99 is None or None in d:
            return None
        return p99 - max(d)

    # -- idle ----------------------------------------------------------------------------
    windows = results.get("idle") or []
    idle = {}
    for key, _label in IDLE_LABELS:
        ws = [w[key] for w in windows if key in w and w[key]["switches"] is not None]
        if ws:
            secs = sum(w["secs"] for w in ws)
            per = [w["switches"] * 60.0 / w["secs"] for w in ws]
            idle[key] = {"pooled": sum(w["switches"] for w in ws) * 60.0 / secs,
                         "min": min(per), "max": max(per), "secs": secs,
                         "cpu": sum(w["cpu_ns"] for w in ws) / 1000.0 / secs}
    if idle:
        L.append("\n### Idle wakeups (no traffic; %d window(s), %.0f s in all)\n" % (
            len(windows), max(v["secs"] for v in idle.values())))
        L.append("Wakeups: the change of `voluntary_ctxt_switches + nonvoluntary_ctxt_switches` "
                 "summed over `/proc/PID/task/*/status` (every thread) across each idle "
                 "window; every blocking wait that returns is one. Pooled: all windows' "
                 "switches over all windows' time.\n")
        L.append("| process | wakeups/min (pooled) | per window min - max | CPU µs/s idle |")
        L.append("|---|---:|---:|---:|")
        for key, label in IDLE_LABELS:
            v = idle.get(key)
            if v:
                L.append("| %s | %.1f | %.0f - %.0f | %.1f |" % (label, v["pooled"], v["min"],
                                                                 v["max"], v["cpu"]))

    # -- system calls --------------------------------------------------------------------
    st = results.get("strace") or {}
    if st:
        L.append("\n### System calls per message at 1000/s (`strace -c -f -p PID`, every "
                 "thread, one run per direction)\n")
        L.append("ptrace slows the traced process, so these runs are not counted for CPU or "
                 "latency; the count includes the ~1 s between attaching and the first "
                 "message.\n")
        L.append("| run | messages | system calls/message | most frequent (per message) |")
        L.append("|---|---:|---:|---|")
        for name in names:
            s = st.get(name)
            if s:
                L.append("| %s | %d | %s | %s |" % (
                    LABELS[name], s["messages"], fmt(s["per_msg"], "%.2f"),
                    ", ".join("%s %.2f" % (k, v) for k, v in s["top"][:6])))

    # -- instructions --------------------------------------------------------------------
    L.append("\n### Instructions per message (valgrind --tool=callgrind; run with N messages "
             "minus run with 0)\n")
    L.append("| run | messages | instructions/message | target |")
    L.append("|---|---:|---:|---|")
    rows = [("cg-m2x", "MQTT -> XMPP, 10 routes", "<= 30000"),
            ("cg-x2m", "XMPP -> MQTT, 10 routes (incl. the reply)", "<= 45000")]
    if has_base or "cgb-m2x" in cg:
        rows += [("cgb-m2x", "before: MQTT -> XMPP, 10 routes", ""),
                 ("cgb-x2m", "before: XMPP -> MQTT, 10 routes (incl. the reply)", "")]
    rows.append(("cg10k-m2x", "MQTT -> XMPP, 10000 routes", ""))
    for key, label, t in rows:
        c = cg.get(key)
        n = "n/a"
        if c:
            n = str(c["messages"])
            if c.get("replies") is not None and c["replies"] != c["messages"]:
                n += " (replies received: %d)" % c["replies"]
        L.append("| %s | %s | %s | %s |" % (label, n, fmt(c["per_msg"] if c else None), t))
    mx_m = cpu_us("mxb-m2x", 0)
    if "cg-m2x" in cg and "cg10k-m2x" in cg:
        L.append("\nPer-message cost, 10000 routes / 10 routes: instructions %.2f x, CPU "
                 "(from /proc) %s x (target <= 1.2 x).\n" % (
                     cg["cg10k-m2x"]["per_msg"] / cg["cg-m2x"]["per_msg"],
                     fmt(ratio(cpu_us("m10k-m2x", 0), mx_m), "%.2f")))
    elif mx_m and cpu_us("m10k-m2x", 0):
        L.append("\nPer-message CPU, 10000 routes / 10 routes: %.2f x (target <= 1.2 x).\n" % (
            cpu_us("m10k-m2x", 0) / mx_m))

    # -- before / after ------------------------------------------------------------------
    def cgv(tag, d):
        c = cg.get(("cg" if tag == "mxb" else "cgb") + "-" + d)
        return c["per_msg"] if c else None

    if has_base:
        L.append("\n### Before / after (the --baseline binary and this one, same run)\n")
        L.append("| figure | before | after | after / before |")
        L.append("|---|---:|---:|---:|")

        def ba(label, fb, fa, spec="%.0f"):
            L.append("| %s | %s | %s | %s |" % (label, fmt(fb, spec), fmt(fa, spec),
                                                fmt(ratio(fa, fb), "%.2f")))
        for d, dl in DIRECTIONS:
            ba("%s saturated, msg/s" % dl, sat.get("base-" + d), sat.get("mxb-" + d))
        for d, dl in DIRECTIONS:
            for rate in [0] + rates:
                ba("%s bridge CPU µs/message, %s" % (dl, rl(rate)),
                   cpu_us("base-" + d, rate), cpu_us("mxb-" + d, rate), "%.1f")
        for d, dl in DIRECTIONS:
            for rate in [0] + rates:
                ba("%s Prosody CPU µs/message, %s" % (dl, rl(rate)),
                   cpu_us("base-" + d, rate, "prosody"), cpu_us("mxb-" + d, rate, "prosody"),
                   "%.1f")
        for d, dl in DIRECTIONS:
            for rate in rates:
                ba("%s p99 µs, %d/s" % (dl, rate), m("base-" + d, rate, "p99_us"),
                   m("mxb-" + d, rate, "p99_us"))
        for d, dl in DIRECTIONS:
            ba("%s instructions/message (callgrind)" % dl, cgv("base", d), cgv("mxb", d))
        for d, dl in DIRECTIONS:
            sb, sa = st.get("base-" + d), st.get("mxb-" + d)
            ba("%s system calls/message, 1000/s" % dl, sb["per_msg"] if sb else None,
               sa["per_msg"] if sa else None, "%.2f")
        ba("idle wakeups/min", idle.get("base", {}).get("pooled"),
           idle.get("bridge", {}).get("pooled"), "%.1f")
        ba("idle CPU µs/s", idle.get("base", {}).get("cpu"), idle.get("bridge", {}).get("cpu"),
           "%.1f")
        ba("peak RSS kB, idle (VmHWM)", results["rss"].get("idle_base"),
           results["rss"].get("idle"))

    # -- targets -------------------------------------------------------------------------
    def targets(tag):
        """(figure, target, measured, ok) for the bridge tag (mxb or base)."""
        out = []
        for d, dl in DIRECTIONS:
            a, mb = cpu_us(tag + "-" + d, 1000), cpu_us("mosq-bridge", 1000)
            out.append(("%s at 1000/s: bridge CPU/message vs the mosquitto bridge's "
                        "(mosquitto B)" % dl, "<= 1.0 x",
                        "%s vs %s µs = %s x" % (fmt(a, "%.1f"), fmt(mb, "%.1f"),
                                              fmt(ratio(a, mb), "%.2f")),
                        a <= mb if a is not None and mb is not None else None))
        for rate, want in ((1000, 10), (0, 8)):
            for d, dl in DIRECTIONS:
                a, py = cpu_us(tag + "-" + d, rate), cpu_us("py-" + d, rate)
                r = ratio(py, a)
                out.append(("%s %s: Python peer's CPU/message / the bridge's" % (dl, rl(rate)),
                            ">= %d x" % want, "%s / %s µs = %s x" % (
                                fmt(py, "%.1f"), fmt(a, "%.1f"), fmt(r, "%.1f")),
                            r >= want if r is not None else None))
        for d, dl in DIRECTIONS:
            v = cgv(tag, d)
            c = cg.get(("cg" if tag == "mxb" else "cgb") + "-" + d)
            out.append(("%s instructions/message (callgrind, %s messages)" % (
                dl, c["messages"] if c else "n/a"), "<= %d" % CG_TARGET[d], fmt(v),
                v <= CG_TARGET[d] if v is not None else None))
        for rate in (0, 1000):
            direct = cpu_us("xmpp-direct", rate, "prosody")
            for d, dl in DIRECTIONS:
                p = cpu_us(tag + "-" + d, rate, "prosody")
                r = ratio(p, direct)
                stz = 2 if d == "x2m" else 1
                out.append(("%s %s: Prosody CPU/message bridged / direct%s" % (
                    dl, rl(rate), " per stanza (2 per command)" if stz == 2 else ""),
                    "<= 1.2 x", "%s / %s µs%s = %s x" % (
                        fmt(p, "%.1f"), fmt(direct, "%.1f"), " / 2" if stz == 2 else "",
                        fmt(r / stz if r else None, "%.2f")),
                    r / stz <= 1.2 if r else None))
        for d, dl in DIRECTIONS:
            v = sat.get(tag + "-" + d)
            r = ratio(v, limit)
            out.append(("%s saturated throughput / min(direct XMPP, direct MQTT)" % dl,
                        ">= 0.8 x", "%s / %s msg/s = %s x" % (fmt(v), fmt(limit),
                                                             fmt(r, "%.2f")),
                        r >= 0.8 if r is not None else None))
        for d, dl in DIRECTIONS:
            v = added_p99(tag + "-" + d)
            out.append(("%s at 1000/s: p99 added (minus the larger direct p99)" % dl,
                        "< 1000 µs", fmt(v) + " µs" if v is not None else "n/a",
                        v < 1000 if v is not None else None))
        mine = [n for n in names if n.startswith(tag + "-") or
                (tag == "mxb" and n.startswith(("m1k-", "m10k-")))]
        lost = sum(total(n, "lost") for n in mine)
        dups = sum(total(n, "dups") for n in mine)
        nruns = sum(1 for r in runs if r["name"] in mine)
        unanswered = sum(r["count"] - r["sender"].get("replies", 0) for r in runs
                         if r["name"] in mine and r["name"].endswith("x2m") and "sender" in r)
        out.append(("lost / duplicated messages, every run of this bridge (%d runs)" % nruns,
                    "0 / 0", "%d / %d (commands without a reply: %d)" % (lost, dups,
                                                                        unanswered),
                    lost == 0 and dups == 0 if nruns else None))
        return out

    L.append("\n### Against the targets\n")
    now = targets("mxb")
    if has_base:
        before = targets("base")
        L.append("| figure | target | measured | met? | before | before met? |")
        L.append("|---|---|---|---|---|---|")
        for (f, t, v, ok), (_f, _t, bv, bok) in zip(now, before):
            L.append("| %s | %s | %s | %s | %s | %s |" % (f, t, v, met(ok), bv, met(bok)))
    else:
        L.append("| figure | target | measured | met? |")
        L.append("|---|---|---|---|")
        for f, t, v, ok in now:
            L.append("| %s | %s | %s | %s |" % (f, t, v, met(ok)))
    L.append("")

    L.append("### Peak RSS (VmHWM, kB)\n")
    L.append("| bridge | VmHWM | target |")
    L.append("|---|---:|---|")
    rss = results["rss"]
    for key, label, t in (("idle", "idle (10 routes, connected, before traffic)", ""),
                          ("routes1k", "1000 routes, after its 1000/s runs", "< 6144 (6 MB)"),
                          ("routes10k_idle", "10000 routes, connected, before traffic", ""),
                          ("after_all", "10 routes, after every run incl. saturation", ""),
                          ("devices10k_idle", "devices rule, connected, before any device", ""),
                          ("devices10k", "%s devices online (tele/devN/LWT)" % (
                              results.get("devices", {}).get("devices", 10000)), "")):
        L.append("| %s | %s | %s |" % (label, fmt(rss.get(key)), t))
    L.append("| Python peer, after every run | %s | |" % fmt(rss.get("python")))
    if rss.get("idle_base"):
        L.append("| before (--baseline), idle (10 routes, connected, before traffic) | %s | |"
                 % fmt(rss.get("idle_base")))

    for key in ("cg-m2x", "cg-x2m"):
        c = cg.get(key)
        if not c:
            continue
        L.append("\n#### Where the instructions go: %s (per message, by object)\n" % key)
        L.append("| object | instructions/message | share |")
        L.append("|---|---:|---:|")
        tot = sum(v for _o, v in c["by_object"] if v > 0)
        for obj, v in c["by_object"][:10]:
            L.append("| %s | %.0f | %.1f%% |" % (obj, v, 100.0 * v / tot if tot else 0))
        if c.get("inclusive"):
            L.append("\nInclusive instructions per message of selected functions:\n")
            L.append("| function (inclusive) | instructions/message |")
            L.append("|---|---:|")
            for k, v in sorted(c["inclusive"].items(), key=lambda kv: -kv[1]):
                if v >= 50:
                    L.append("| `%s` | %.0f |" % (k, v))
        L.append("\nTop functions (self instructions per message):\n")
        L.append("| function | object | instructions/message | share |")
        L.append("|---|---|---:|---:|")
        for obj, fn, v in c["top"][:15]:
            L.append("| `%s` | %s | %.0f | %.1f%% |" % (fn, obj, v, 100.0 * v / tot
                                                       if tot else 0))
    return "\n".join(L) + "\n"


# ---------------------------------------------------------------------------------------

def selected(args, name):
    """--only: the contender's name (mxb-m2x), tag (mxb) or kind (m2x, direct) listed."""
    if not args.only:
        return True
    tag, _, kind = name.rpartition("-")
    return any(w in (name, tag, kind) for w in args.only)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, small counts")
    ap.add_argument("--reps", type=int, help="repetitions (default 3; --quick 1)")
    ap.add_argument("--n-sat", type=int, help="messages per saturation run (default 30000; "
                    "--quick 5000; the Python peer a sixth, at least 1000)")
    ap.add_argument("--rates", default="10,100,1000,5000",
                    help="fixed rates in messages/s (default 10,100,1000,5000)")
    ap.add_argument("--rate-secs", type=float,
                    help="seconds per fixed-rate run (default 6; --quick 2)")
    ap.add_argument("--min-msgs", type=int, help="messages per fixed-rate run at least "
                    "(default 100, i.e. 10 s at 10/s; --quick 20)")
    ap.add_argument("--idle-window", type=float, help="seconds without traffic at the start "
                    "of each repetition, for the wakeup counts (default 20; --quick 5; 0: none)")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another build of the bridge (e.g. of an older commit) run side by "
                    "side as base-m2x / base-x2m, in callgrind too; the report adds before/after")
    ap.add_argument("--xmpp-set", metavar="KEY=VALUE", action="append",
                    help="an xmpp setting of this build's bridges (repeatable), e.g. "
                    "batch_delay_us=0")
    ap.add_argument("--base-xmpp-set", metavar="KEY=VALUE", action="append",
                    help="the same for the --baseline bridges: one binary with two settings "
                    "side by side")
    ap.add_argument("--prosody-no-nagle", action="store_true",
                    help="short for --prosody-set '%s': Prosody's small writes to a client "
                    "no longer wait for that client's delayed ACK" % NO_NAGLE)
    ap.add_argument("--prosody-set", metavar="KEY=LUA", action="append",
                    help="a global Prosody option (repeatable), e.g. "
                    "smacks_max_unacked_stanzas=32")
    ap.add_argument("--prosody-cpu", type=int, metavar="N",
                    help="pin Prosody to CPU N (the others keep every CPU): its CPU per "
                    "message without the moves between cores that a busier machine causes")
    ap.add_argument("--only", metavar="LIST",
                    help="comma-separated contenders: names (mxb-m2x, xmpp-direct, "
                    "mosq-bridge), tags (mxb, base, py, m10k, m1k) or kinds (m2x, x2m, direct)")
    ap.add_argument("--cg-n", type=int, help="messages per callgrind run (default 10000; "
                    "--quick 2000)")
    ap.add_argument("--idle", type=float, default=2.0,
                    help="a receiver gives up after this many seconds without a message")
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-strace", action="store_true",
                    help="no system call counts (they need strace)")
    ap.add_argument("--cg-dir", default="/tmp/mxb-bench-callgrind",
                    help="where the callgrind outputs are kept (callgrind_annotate FILE)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--callgrind-only", action="store_true",
                    help="servers and the callgrind runs only (no repetitions)")
    ap.add_argument("--devices", type=int, help="devices for the peak-RSS run (default "
                    "10000; --quick 2000; 0: skip it)")
    ap.add_argument("--devices-only", action="store_true",
                    help="servers and the devices peak-RSS run only")
    ap.add_argument("--report", metavar="JSON",
                    help="only print the tables of an earlier run's JSON results")
    args = ap.parse_args()
    XMPP_SET["mxb"] = parse_set(args.xmpp_set)
    XMPP_SET["base"] = parse_set(args.base_xmpp_set)
    args.prosody_set = ([NO_NAGLE] if args.prosody_no_nagle else []) + (args.prosody_set or [])
    for kv in args.prosody_set:
        if not re.match(r"^[a-z_][a-z0-9_]*=.+", kv):
            ap.error("--prosody-set %r: expected KEY=LUA" % kv)
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        md = report(results, results.get("cmd", "bench/run"))
        print(md)
        if args.md:
            with open(args.md, "w") as f:
                f.write(md)
        return
    args.reps = args.reps or (1 if args.quick else 3)
    args.n_sat = args.n_sat or (5000 if args.quick else 30000)
    args.rate_secs = args.rate_secs or (2.0 if args.quick else 6.0)
    args.min_msgs = args.min_msgs or (20 if args.quick else 100)
    if args.idle_window is None:
        args.idle_window = 5.0 if args.quick else 20.0
    if args.devices is None:
        args.devices = 2000 if args.quick else 10000
    args.cg_n = args.cg_n or (2000 if args.quick else 10000)
    args.only = [w.strip() for w in args.only.split(",") if w.strip()] if args.only else None
    rates = [int(r) for r in args.rates.split(",") if r]
    counts = {r: max(int(r * args.rate_secs), args.min_msgs) for r in rates}
    cmd = "bench/run " + " ".join(sys.argv[1:])
    if args.baseline and not os.access(args.baseline, os.X_OK):
        ap.error("--baseline %s: not an executable file" % args.baseline)

    harness.install_signal_handlers()
    env = harness.Env("bench")
    # measure one binary even if someone rebuilds build/ meanwhile
    import shutil
    binary = os.path.join(env.tmp, "mqtt-xmpp-bridge")
    shutil.copy2(harness.bridge_binary(), binary)
    os.environ["MXB_BRIDGE"] = binary
    base_bin = None
    if args.baseline:
        base_bin = os.path.join(env.tmp, "mqtt-xmpp-bridge.baseline")
        shutil.copy2(args.baseline, base_bin)
    results = {"reps": args.reps, "n_sat": args.n_sat, "n_sat_py": max(1000, args.n_sat // 6),
               "rates": rates, "rate_counts": {str(r): c for r, c in counts.items()},
               "idle_secs": args.idle_window, "baseline": args.baseline, "only": args.only,
               "prosody_set": args.prosody_set, "prosody_cpu": args.prosody_cpu,
               "runs": [], "idle": [], "rss": {"devices10k": None}}
    t_begin = time.monotonic()
    failed = False
    try:
        log("servers: PKI, Prosody, mosquitto A and B (tmp %s)" % env.tmp)
        srv = Servers(env, [tuple(kv.split("=", 1)) for kv in args.prosody_set])
        if args.prosody_cpu is not None:
            for t in os.listdir("/proc/%d/task" % srv.prosody.proc.pid):
                os.sched_setaffinity(int(t), {args.prosody_cpu})
        bench = Bench(env, srv, args)
        if args.callgrind_only:
            callgrind_phase(env, srv, bench, args, results, base_bin)
            return
        if args.devices_only:
            d = devices_rss(env, srv, args.devices)
            results["devices"] = d
            results["rss"]["devices10k_idle"] = d["vmhwm_before"]
            results["rss"]["devices10k"] = d["vmhwm"]
            return
        base_names = ["base-m2x", "base-x2m"] if base_bin else []
        paths = ["xmpp-direct", "xmpp-shaped", "xmpp-sm", "mqtt-direct", "mosq-bridge",
                 "mxb-m2x", "mxb-x2m"] + base_names
        sat = [n for n in paths + ["py-m2x", "py-x2m", "m10k-m2x"] if selected(args, n)]
        fixed = [n for n in paths + ["py-m2x", "py-x2m"] if selected(args, n)]
        m1k_run = 1000 in rates and selected(args, "m1k-m2x")
        need = {n.rsplit("-", 1)[0] for n in sat + fixed} | ({"m1k"} if m1k_run else set())
        log("bridges: mqtt-xmpp-bridge (10%s routes)%s%s" % (
            "".join(", %s" % r for t, r in (("m1k", 1000), ("m10k", 10000)) if t in need),
            ", the baseline" if base_bin else "", ", Python peer" if "py" in need else ""))
        bridges = {"mxb": start_mxb(env, srv, "bridge", "mxb", 10)}
        time.sleep(0.5)
        results["rss"]["idle"] = status_kb(bridges["mxb"].pid, "VmHWM")
        if base_bin:
            bridges["base"] = start_mxb(env, srv, "bridgebase", "base", 10, binary=base_bin)
            time.sleep(0.5)
            results["rss"]["idle_base"] = status_kb(bridges["base"].pid, "VmHWM")
        if "m1k" in need:
            bridges["m1k"] = start_mxb(env, srv, "bridge1k", "m1k", 1000)
        if "m10k" in need:
            bridges["m10k"] = start_mxb(env, srv, "bridge10k", "m10k", 10000, timeout=120)
            results["rss"]["routes10k_idle"] = status_kb(bridges["m10k"].pid, "VmHWM")
        if "py" in need:
            bridges["py"] = PyBridge(env, srv)
        pids = {"mosqA": srv.mqa.proc.pid, "mosqB": srv.mqb.proc.pid,
                "prosody": srv.prosody.proc.pid}
        idle_pids = dict(pids)
        for tag, key in (("mxb", "bridge"), ("base", "base"), ("py", "py")):
            if tag in bridges:
                idle_pids[key] = bridges[tag].pid

        def watch(name):
            w = dict(pids)
            b = bridges.get(name.rsplit("-", 1)[0])
            if b is not None:
                w["bridge"] = b.pid
            return w

        log("warm-up (not counted)")
        for name in sat + (["m1k-m2x"] if m1k_run else []):
            bench.run(name, 200 if args.quick else 300, 0, watch(name))
        for rep in range(args.reps):
            log("repetition %d/%d" % (rep + 1, args.reps))
            if args.idle_window > 0:
                results["idle"].append(idle_window(idle_pids, args.idle_window))
            # runs of one rate together (what is compared runs close in time); the groups
            # and the order within each rotate every repetition
            groups = [[(n, 0) for n in sat]] + [
                [(n, r) for n in fixed] + ([("m1k-m2x", r)] if r == 1000 and m1k_run else [])
                for r in rates]
            groups = [g for g in groups if g]
            k = rep % len(groups) if groups else 0
            for g in groups[k:] + groups[:k]:
                j = (rep * 3) % len(g)
                for name, rate in g[j:] + g[:j]:
                    if rate:
                        count = counts[rate]
                    else:
                        count = results["n_sat_py"] if name.startswith("py") else args.n_sat
                    results["runs"].append(bench.run(name, count, rate, watch(name)))
        for key, tag in (("routes1k", "m1k"), ("after_all", "mxb"), ("routes10k_after", "m10k"),
                         ("python", "py"), ("after_all_base", "base")):
            if tag in bridges:
                results["rss"][key] = status_kb(bridges[tag].pid, "VmHWM")
        # the measured bridges are stopped before callgrind so that it has the CPUs
        for tag in ("m1k", "m10k"):
            if tag in bridges:
                bridges.pop(tag).stop()
        if args.no_strace:
            pass
        elif shutil.which("strace"):
            strace_phase(env, bench, args, [(t, bridges[t]) for t in ("mxb", "base", "py")
                                            if t in bridges], watch, results)
        else:
            log("strace not installed: no system call counts")
        if args.devices:
            d = devices_rss(env, srv, args.devices)
            results["devices"] = d
            results["rss"]["devices10k_idle"] = d["vmhwm_before"]
            results["rss"]["devices10k"] = d["vmhwm"]
        if not args.no_callgrind:
            callgrind_phase(env, srv, bench, args, results, base_bin)
        results["cmd"] = cmd
        results["duration_s"] = time.monotonic() - t_begin
        md = report(results, cmd)
        print("\n" + md)
        if args.md:
            with open(args.md, "w") as f:
                f.write(md)
    except BaseException:
        failed = True
        import traceback
        traceback.print_exc()
    finally:
        path = args.json or os.path.join(os.getcwd(), "bench-results.json")
        with open(path, "w") as f:
            json.dump(results, f, indent=1, default=str)
        log("results: %s" % path)
        env.close(failed)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
