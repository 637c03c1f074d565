#!/usr/bin/python3
"""bench/run: mqtt-xmpp-bridge against the servers' limits and against a peer bridge.

Starts one Prosody and two mosquitto instances on loopback (with the integration harness's
PKI and server classes, logging turned down), then runs every contender on the same servers,
interleaved, repeated (the order rotates each repetition):

  xmpp-direct   raw XMPP sender -> Prosody -> raw XMPP receiver           (XMPP limit)
  mqtt-direct   mosquitto_pub -> mosquitto -> mosquitto_sub, QoS 1        (MQTT limit)
  mosq-bridge   mosquitto_pub -> mosquitto A -> (bridge in B) -> B -> mosquitto_sub
  mxb m2x/x2m   mqtt-xmpp-bridge, 10 notify routes + 1 commands route
  m10k m2x      mqtt-xmpp-bridge with 10000 notify routes (per-message cost vs routes)
  m1k           mqtt-xmpp-bridge with 1000 notify routes (peak RSS)
  py m2x/x2m    bench/pybridge.py (slixmpp + paho) doing the same mapping

Every hop is TLS (STARTTLS on XMPP, TLS on MQTT), verified. Each message carries
"R<run> SEQ SEND_NS"; receivers count unique sequence numbers, duplicates and latency.
Then callgrind runs of the bridge (N messages minus 0 messages) give instructions/message.

    bench/run            full run (5 repetitions; ~15 min on 2 cores)
    bench/run --quick    1 repetition, fewer messages, no 10000-route callgrind
Results: a JSON file and the Markdown table on stdout (and --md FILE).
"""

import argparse
import json
import os
import re
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
USERS = ("bridge", "bridge1k", "bridge10k", "bridgecg", "bridgedev", "pybridge", "sender",
         "receiver")
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
    def __init__(self, env):
        self.env = env
        self.ca = env.pki.ca.cert
        # a component for the devices bridge (XEP-0114), as in tests/integration/test_devices.py
        self.cport = harness.free_port()
        component = ('component_ports = {{ {port} }}\ncomponent_interfaces = {{ "127.0.0.1" }}\n'
                     'Component "{domain}"\n\tcomponent_secret = "{secret}"\n').format(
            port=self.cport, domain=COMPONENT, secret=COMPONENT_SECRET)
        self.prosody = env.prosody(users=USERS, start=False, extra=component)
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

def mxb_config(env, srv, user, tag, routes):
    cfg = env.bridge_config(srv.prosody, srv.mqa, {
        "xmpp": {"jid": "%s@localhost/bench" % user,
                 "password": srv.prosody.accounts[user]},
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


def start_mxb(env, srv, user, tag, routes, wrap=None, timeout=60):
    cfg = mxb_config(env, srv, user, tag, routes)
    mark = srv.mqa.log.mark()
    if wrap is None:
        b = env.bridge(cfg)
    else:
        b = env.bridge(cfg, start=False)
        b.proc = harness.spawn(wrap + [harness.bridge_binary(), "-c", b.conf_path], b.name,
                               b.log.path)
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
                                   "--password", srv.prosody.accounts["pybridge"],
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
                "--user", user, "--password", self.srv.prosody.accounts[user],
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
        pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p",
                                str(self.srv.mqa.tls_port), "--cafile", self.srv.ca, "-q", "1",
                                "-t", topic, "-l", "-V", "mqttv311",
                                "-i", "bench-pub-%d" % run], stdin=gen.stdout,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=harness._pdeathsig)
        gen.stdout.close()
        time.sleep(0.3)  # TLS + CONNECT before the first timestamp
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
    def run(self, name, count, rate, watch):
        """name: xmpp-direct, mqtt-direct, mosq-bridge, <tag>-m2x, <tag>-x2m.
        watch: {label: pid} whose CPU time is measured over the run."""
        run = self._next_run()
        idle = self.args.idle
        timeout = max(60.0, count / 500.0)
        before = {k: cpu_ns(p) for k, p in watch.items()}
        t_start = time.monotonic()
        kind = name.split("-")[-1] if name.endswith(("m2x", "x2m")) else name
        tag = name.rsplit("-", 1)[0]
        recv_mode = "xmpp" if kind in ("xmpp-direct", "m2x") else "mqtt"
        procs = []
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
            if kind in ("xmpp-direct", "x2m"):
                to = "receiver@localhost" if kind == "xmpp-direct" else \
                    "%s@localhost/bench" % {"mxb": "bridge", "py": "pybridge", "cg": "bridgecg",
                                             "cg10k": "bridgecg"}[tag]
                extra = ["--to", to, "--rate", str(rate)]
                if kind == "x2m":
                    extra += ["--prefix", "cmd/%s/1" % tag]
                snd = self.xmpp_client("xmpp-send", "sender", run, count, extra)
                procs.append(snd)
                self.go(snd)
            else:
                topic = {"mqtt-direct": "bench/direct", "mosq-bridge": "bench/mb/1"}.get(
                    kind, "bench/%s/5" % tag)
                gen, pub = self.mqtt_pub(topic, run, count, rate)
                procs += [gen, pub]
                self.go(gen)
            if recv_mode == "xmpp":
                out, _ = recv.communicate(timeout=timeout + 30)
                res = json.loads(out.strip().splitlines()[-1])
            else:
                res = self.wait_sub_file(out_path, run, count, idle, timeout)
            if kind in ("xmpp-direct", "x2m"):
                snd.stdin.write("stop\n")
                snd.stdin.flush()
                out, _ = snd.communicate(timeout=30)
                res["sender"] = json.loads(out.strip().splitlines()[-1])
        finally:
            for p in procs:
                if p.poll() is None:
                    try:
                        p.terminate()
                        p.wait(5)
                    except Exception:
                        p.kill()
        after = {k: cpu_ns(p) for k, p in watch.items()}
        res["cpu_ns"] = {k: (after[k] - before[k]) if before[k] is not None and
                         after[k] is not None else None for k in watch}
        res.update(name=name, rate_target=rate, count=count, run=run,
                   wall=time.monotonic() - t_start)
        log("%-13s %6s n=%-6d got=%-6d lost=%-5d dup=%-3d rate=%8.0f/s p50=%6s us p99=%7s us"
            " cpu=%s" % (name, rate or "sat", count, res["unique"], res["lost"], res["dups"],
                         res.get("rate") or 0, res["p50_us"], res["p99_us"],
                         {k: round(v / 1e9, 3) for k, v in res["cpu_ns"].items()
                          if v is not None}))
        return res


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


def callgrind_phase(env, srv, bench, args, results):
    """Instructions per message: (run with N messages) - (run with 0), per direction, with
    10 routes, and M2X with 10000 routes."""
    cg = {}
    plan = [("cg", 10, 0, None), ("cg", 10, args.cg_n, "m2x"), ("cg", 10, args.cg_n, "x2m")]
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
        b = start_mxb(env, srv, "bridgecg", tag, routes, wrap=wrap, timeout=600)
        subprocess.run(["callgrind_control", "-i", "on", str(b.pid)], check=True,
                       capture_output=True, timeout=60)
        time.sleep(1.0)
        res = None
        if n:
            name = "%s-%s" % (tag, direction)
            # the pseudo-tags "cg"/"cg10k" route like "mxb": bench/<tag>/5, cmd/<tag>/1
            res = bench.run(name if direction == "m2x" else name, n, 0, {})
        b.stop(signal.SIGTERM, 120)
        total = callgrind_totals(out)
        cg[(tag, direction or "idle")] = {"out": out, "total": total, "run": res,
                                          "routes": routes, "n": n}
        log("callgrind: total Ir %s" % (total,))
    res = {}
    for key in (("cg", "m2x"), ("cg", "x2m"), ("cg10k", "m2x")):
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
        log("callgrind %s-%s: %.0f instructions/message" % (key[0], key[1], per))
    results["callgrind"] = res


# ---------------------------------------------------------------------------------------
# Report

def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec="%.0f"):
    return "n/a" if v is None else spec % v


def report(results, cmd):
    runs = results["runs"]

    def pick(name, rate):
        return [r for r in runs if r["name"] == name and r["rate_target"] == rate]

    def m(name, rate, key):
        return med([r.get(key) for r in pick(name, rate)])

    def cpu_per(name, who, per=100000):
        vals = []
        for r in pick(name, 0):
            c = r["cpu_ns"].get(who)
            if c is not None and r["unique"]:
                vals.append(c / 1e9 / r["unique"] * per)
        return med(vals)

    sat = {n: m(n, 0, "rate") for n in ("xmpp-direct", "mqtt-direct", "mosq-bridge",
                                         "mxb-m2x", "mxb-x2m", "py-m2x", "py-x2m", "m10k-m2x")}
    limit = min(v for v in (sat["xmpp-direct"], sat["mqtt-direct"]) if v)
    L = []
    L.append("Command: `%s`  " % cmd)
    L.append("Repetitions: %d (medians), interleaved, order rotated each repetition; "
             "saturation runs of %d messages (Python peer: %d); TLS on every hop; QoS 1 on "
             "MQTT. Machine: %d cores.\n" % (results["reps"], results["n_sat"],
                                             results["n_sat_py"], os.cpu_count()))
    L.append("### Throughput (saturated, messages/s, median)\n")
    L.append("| path | msg/s | ratio to direct XMPP | ratio to min(direct XMPP, direct MQTT) "
             "| lost | target |")
    L.append("|---|---:|---:|---:|---:|---|")

    def lost(name):
        return int(sum(r["lost"] for r in pick(name, 0)))
    tgt = {"mxb-m2x": ">= 0.9", "mxb-x2m": ">= 0.9"}
    for name, label in (("xmpp-direct", "direct XMPP (client -> Prosody -> client)"),
                        ("mqtt-direct", "direct MQTT (mosquitto_pub -> mosquitto -> "
                                        "mosquitto_sub)"),
                        ("mosq-bridge", "mosquitto bridge (A -> B), MQTT -> MQTT"),
                        ("mxb-m2x", "**mqtt-xmpp-bridge MQTT -> XMPP**"),
                        ("mxb-x2m", "**mqtt-xmpp-bridge XMPP -> MQTT**"),
                        ("m10k-m2x", "mqtt-xmpp-bridge MQTT -> XMPP, 10000 routes"),
                        ("py-m2x", "Python peer (slixmpp+paho) MQTT -> XMPP"),
                        ("py-x2m", "Python peer (slixmpp+paho) XMPP -> MQTT")):
        v = sat[name]
        L.append("| %s | %s | %s | %s | %d | %s |" % (
            label, fmt(v), fmt(v / sat["xmpp-direct"] if v else None, "%.2f"),
            fmt(v / limit if v else None, "%.2f"), lost(name), tgt.get(name, "")))

    L.append("\n### Added latency at fixed rates (µs; path minus the direct hops it "
             "replaces, medians of per-run percentiles)\n")
    L.append("| path | rate | p50 | p99 | p50 added | p99 added | lost | target |")
    L.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for rate in results["rates"]:
        base = {n: (m(n, rate, "p50_us"), m(n, rate, "p99_us"))
                for n in ("xmpp-direct", "mqtt-direct")}
        for name, label, minus in (
                ("xmpp-direct", "direct XMPP", ()), ("mqtt-direct", "direct MQTT", ()),
                ("mosq-bridge", "mosquitto bridge", ("mqtt-direct",)),
                ("mxb-m2x", "**bridge MQTT -> XMPP**", ("mqtt-direct", "xmpp-direct")),
                ("mxb-x2m", "**bridge XMPP -> MQTT**", ("mqtt-direct", "xmpp-direct")),
                ("py-m2x", "Python peer MQTT -> XMPP", ("mqtt-direct", "xmpp-direct")),
                ("py-x2m", "Python peer XMPP -> MQTT", ("mqtt-direct", "xmpp-direct"))):
            p50, p99 = m(name, rate, "p50_us"), m(name, rate, "p99_us")
            if p50 is None:
                continue
            a50 = p50 - sum(base[b][0] for b in minus) if minus else None
            a99 = p99 - sum(base[b][1] for b in minus) if minus else None
            t = "p99 added < 1000" if rate == 1000 and name.startswith("mxb") else ""
            L.append("| %s | %d/s | %s | %s | %s | %s | %d | %s |" % (
                label, rate, fmt(p50), fmt(p99), fmt(a50), fmt(a99),
                int(sum(r["lost"] for r in pick(name, rate))), t))

    L.append("\n### CPU (from /proc/PID/task/*/schedstat, saturated runs, median)\n")
    L.append("| process | CPU s per 100000 messages | ratio to mosquitto broker (QoS 1 in+out) "
             "| target |")
    L.append("|---|---:|---:|---|")
    broker = cpu_per("mqtt-direct", "mosqA")
    rows = [("mosquitto broker, QoS 1 in+out (direct MQTT run)", broker, ""),
            ("mosquitto B incl. its bridge (mosquitto bridge run)",
             cpu_per("mosq-bridge", "mosqB"), ""),
            ("Prosody, per message routed (direct XMPP run)", cpu_per("xmpp-direct",
                                                                     "prosody"), ""),
            ("**mqtt-xmpp-bridge MQTT -> XMPP**", cpu_per("mxb-m2x", "bridge"),
             "<= broker; >= 20x less than Python"),
            ("**mqtt-xmpp-bridge XMPP -> MQTT** (incl. the reply)", cpu_per("mxb-x2m",
                                                                            "bridge"),
             "<= broker; >= 20x less than Python"),
            ("mqtt-xmpp-bridge MQTT -> XMPP, 10000 routes", cpu_per("m10k-m2x", "bridge"), ""),
            ("Python peer MQTT -> XMPP", cpu_per("py-m2x", "bridge"), ""),
            ("Python peer XMPP -> MQTT (incl. the reply)", cpu_per("py-x2m", "bridge"), "")]
    for label, v, t in rows:
        L.append("| %s | %s | %s | %s |" % (label, fmt(v, "%.2f"),
                                            fmt(v / broker if v and broker else None, "%.2f"),
                                            t))
    py_m, py_x = cpu_per("py-m2x", "bridge"), cpu_per("py-x2m", "bridge")
    mx_m, mx_x = cpu_per("mxb-m2x", "bridge"), cpu_per("mxb-x2m", "bridge")
    L.append("\nPython peer / mqtt-xmpp-bridge CPU per message: MQTT -> XMPP %s x, "
             "XMPP -> MQTT %s x (target >= 20 x).\n" % (
                 fmt(py_m / mx_m if py_m and mx_m else None, "%.1f"),
                 fmt(py_x / mx_x if py_x and mx_x else None, "%.1f")))

    cg = results.get("callgrind", {})
    L.append("### Instructions per message (valgrind --tool=callgrind; run with N messages "
             "minus run with 0)\n")
    L.append("| run | messages | instructions/message | target |")
    L.append("|---|---:|---:|---|")
    for key, label, t in (("cg-m2x", "MQTT -> XMPP, 10 routes", "~20000-30000"),
                          ("cg-x2m", "XMPP -> MQTT, 10 routes (incl. the reply)",
                           "~20000-30000"),
                          ("cg10k-m2x", "MQTT -> XMPP, 10000 routes", "")):
        c = cg.get(key)
        L.append("| %s | %s | %s | %s |" % (label, c["messages"] if c else "n/a",
                                            fmt(c["per_msg"] if c else None), t))
    if "cg-m2x" in cg and "cg10k-m2x" in cg:
        L.append("\nPer-message cost, 10000 routes / 10 routes: instructions %.2f x, CPU "
                 "(from /proc) %s x (target <= 1.2 x).\n" % (
                     cg["cg10k-m2x"]["per_msg"] / cg["cg-m2x"]["per_msg"],
                     fmt(cpu_per("m10k-m2x", "bridge") / mx_m
                         if cpu_per("m10k-m2x", "bridge") and mx_m else None, "%.2f")))
    elif mx_m and cpu_per("m10k-m2x", "bridge"):
        L.append("\nPer-message CPU, 10000 routes / 10 routes: %.2f x (target <= 1.2 x).\n" % (
            cpu_per("m10k-m2x", "bridge") / mx_m))

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

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repetition, small counts")
    ap.add_argument("--reps", type=int)
    ap.add_argument("--n-sat", type=int)
    ap.add_argument("--rates", default="1000,5000")
    ap.add_argument("--rate-secs", type=float)
    ap.add_argument("--cg-n", type=int)
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--cg-dir", default="/tmp/mxb-bench-callgrind",
                    help="where the callgrind outputs are kept (callgrind_annotate FILE)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--md", default=None)
    ap.add_argument("--callgrind-only", action="store_true",
                    help="servers and the callgrind runs only (no repetitions)")
    ap.add_argument("--devices", type=int, default=10000,
                    help="devices for the peak-RSS run (0: skip it)")
    ap.add_argument("--devices-only", action="store_true",
                    help="servers and the devices peak-RSS run only")
    ap.add_argument("--report", metavar="JSON",
                    help="only print the tables of an earlier run's JSON results")
    args = ap.parse_args()
    if args.report:
        with open(args.report) as f:
            results = json.load(f)
        md = report(results, results.get("cmd", "bench/run"))
        print(md)
        if args.md:
            with open(args.md, "w") as f:
                f.write(md)
        return
    args.reps = args.reps or (1 if args.quick else 5)
    args.n_sat = args.n_sat or (5000 if args.quick else 30000)
    args.rate_secs = args.rate_secs or (2.0 if args.quick else 3.0)
    args.cg_n = args.cg_n or (2000 if args.quick else 10000)
    rates = [int(r) for r in args.rates.split(",") if r]
    cmd = "bench/run " + " ".join(sys.argv[1:])

    harness.install_signal_handlers()
    env = harness.Env("bench")
    # measure one binary even if someone rebuilds build/ meanwhile
    import shutil
    binary = os.path.join(env.tmp, "mqtt-xmpp-bridge")
    shutil.copy2(harness.bridge_binary(), binary)
    os.environ["MXB_BRIDGE"] = binary
    results = {"reps": args.reps, "n_sat": args.n_sat, "n_sat_py": max(1000, args.n_sat // 6),
               "rates": rates, "runs": [], "rss": {"devices10k": None}}
    failed = False
    try:
        log("servers: PKI, Prosody, mosquitto A and B (tmp %s)" % env.tmp)
        srv = Servers(env)
        bench = Bench(env, srv, args)
        if args.callgrind_only:
            callgrind_phase(env, srv, bench, args, results)
            return
        if args.devices_only:
            d = devices_rss(env, srv, args.devices)
            results["devices"] = d
            results["rss"]["devices10k_idle"] = d["vmhwm_before"]
            results["rss"]["devices10k"] = d["vmhwm"]
            return
        log("bridges: mqtt-xmpp-bridge (10, 1000, 10000 routes), Python peer")
        mxb = start_mxb(env, srv, "bridge", "mxb", 10)
        time.sleep(0.5)
        results["rss"]["idle"] = status_kb(mxb.pid, "VmHWM")
        m1k = start_mxb(env, srv, "bridge1k", "m1k", 1000)
        m10k = start_mxb(env, srv, "bridge10k", "m10k", 10000, timeout=120)
        results["rss"]["routes10k_idle"] = status_kb(m10k.pid, "VmHWM")
        py = PyBridge(env, srv)
        pids = {"mosqA": srv.mqa.proc.pid, "mosqB": srv.mqb.proc.pid,
                "prosody": srv.prosody.proc.pid}

        def watch(name):
            w = dict(pids)
            b = {"mxb": mxb, "m10k": m10k, "m1k": m1k, "py": py}.get(name.split("-")[0])
            if b is not None:
                w["bridge"] = b.pid
            return w

        sat = ["xmpp-direct", "mqtt-direct", "mosq-bridge", "mxb-m2x", "mxb-x2m", "py-m2x",
               "py-x2m", "m10k-m2x"]
        fixed = ["xmpp-direct", "mqtt-direct", "mosq-bridge", "mxb-m2x", "mxb-x2m", "py-m2x",
                 "py-x2m"]
        log("warm-up (not counted)")
        for name in sat + ["m1k-m2x"]:
            bench.run(name, 300, 0, watch(name))
        for rep in range(args.reps):
            log("repetition %d/%d" % (rep + 1, args.reps))
            jobs = [(n, 0) for n in sat]
            for rate in rates:
                jobs += [(n, rate) for n in fixed]
            jobs.append(("m1k-m2x", 1000))
            k = (rep * 3) % len(jobs)
            jobs = jobs[k:] + jobs[:k]
            for name, rate in jobs:
                if rate:
                    count = int(rate * args.rate_secs)
                else:
                    count = results["n_sat_py"] if name.startswith("py") else args.n_sat
                results["runs"].append(bench.run(name, count, rate, watch(name)))
        results["rss"]["routes1k"] = status_kb(m1k.pid, "VmHWM")
        results["rss"]["after_all"] = status_kb(mxb.pid, "VmHWM")
        results["rss"]["routes10k_after"] = status_kb(m10k.pid, "VmHWM")
        results["rss"]["python"] = status_kb(py.pid, "VmHWM")
        # the measured bridges are stopped before callgrind so that it has the CPUs
        for b in (m1k, m10k):
            b.stop()
        if args.devices:
            d = devices_rss(env, srv, args.devices)
            results["devices"] = d
            results["rss"]["devices10k_idle"] = d["vmhwm_before"]
            results["rss"]["devices10k"] = d["vmhwm"]
        if not args.no_callgrind:
            callgrind_phase(env, srv, bench, args, results)
        results["cmd"] = cmd
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
