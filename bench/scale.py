#!/usr/bin/python3
"""bench/scale: saturated MQTT -> XMPP throughput with 1, 2 and 3 instances of the bridge
sharing one feed (mqtt.share_group), side by side in one run, until a server saturates.

The servers and the load are bench/bench.py's: Prosody and mosquitto on loopback, TLS on
every hop, QoS 1; mosquitto_pub -l publishes "R<run> SEQ SEND_NS" as fast as the broker
takes it, one raw XMPP client receives and counts unique sequence numbers. For every
instance count the repetitions are interleaved (1, 2, 3, 1, 2, 3, ...) and the table has
the medians: messages per second, and the CPU each process spent per message with the
share of one core it used, so that the process at the limit shows.

    bench/scale              3 repetitions of 20000 messages (~3 min on 2 cores)
    bench/scale --reps 1 --count 5000
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import harness, log  # noqa: E402

GROUP = "bench"
TAG = "scale"


def start_instances(env, srv, n):
    out = []
    for i in range(n):
        name = "i%d" % (i + 1)
        cfg = env.bridge_config(srv.prosody, srv.mqa, {
            "bridge": {"instance": name},
            "xmpp": {"jid": "bridge@localhost/bench",
                     "password": srv.prosody.accounts["bridge"]},
            # A clean session: a stopped instance must leave the group, not keep a share
            # queued for its return (docs/scaling.md), or the next run would lose it.
            "mqtt": {"client_id": "mxb-" + TAG, "status_topic": "bench/status",
                     "share_group": GROUP, "session_expiry": 0},
            "notify": [{"topic": "bench/%s/5" % TAG, "to": ["receiver@localhost"],
                        "message": "{{payload}}", "qos": 1}],
            "commands": [],
        })
        mark = srv.mqa.log.mark()
        b = env.bridge(cfg)
        b.wait_ready(60)
        srv.mqa.log.wait(r"mxb-%s-%s \d \$share/%s/bench/%s/5$" % (TAG, name, GROUP, TAG),
                         60, mark, fail_on_exit=False)
        out.append(b)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--max", type=int, default=3, help="instances at most")
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    harness.install_signal_handlers()
    env = harness.Env("bench-scale")
    import shutil
    binary = os.path.join(env.tmp, "mqtt-xmpp-bridge")
    shutil.copy2(harness.bridge_binary(), binary)
    os.environ["MXB_BRIDGE"] = binary
    runs = []
    failed = False
    try:
        srv = bench.Servers(env)
        b = bench.Bench(env, srv, args)
        for rep in range(args.reps):
            for n in range(1, args.max + 1):
                inst = start_instances(env, srv, n)
                watch = {"prosody": srv.prosody.proc.pid, "mosquitto": srv.mqa.proc.pid}
                for k, x in enumerate(inst):
                    watch["bridge%d" % (k + 1)] = x.pid
                time.sleep(0.5)
                res = b.run("%s-m2x" % TAG, args.count, 0, watch)
                res.update(instances=n, rep=rep)
                runs.append(res)
                for x in inst:
                    x.stop()
    except BaseException as e:  # noqa: BLE001
        failed = True
        log("failed: %r" % (e,))
    finally:
        env.close(failed)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1)
    print(report(runs, args))
    return 1 if failed else 0


def report(runs, args):
    lines = ["Saturated MQTT -> XMPP, %d messages, %d repetitions (medians), one receiver."
             % (args.count, args.reps), "",
             "| instances | msg/s | ratio to 1 | lost | dups | bridges µs/msg (all) | "
             "Prosody µs/msg | mosquitto µs/msg | busiest (share of one core) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    base = None
    for n in range(1, args.max + 1):
        rs = [r for r in runs if r["instances"] == n]
        if not rs:
            continue
        rate = statistics.median(r.get("rate") or 0 for r in rs)
        base = base or rate

        def per_msg(key_pred):
            vals = []
            for r in rs:
                ns = sum(v for k, v in r["cpu_ns"].items() if key_pred(k) and v)
                vals.append(ns / 1000.0 / max(1, r["unique"]))
            return statistics.median(vals)

        def core_share(key_pred):
            vals = []
            for r in rs:
                span = (r["last_recv_ns"] - r["first_send_ns"]) / 1e9 \
                    if r.get("last_recv_ns") and r.get("first_send_ns") else r["wall"]
                ns = max((v for k, v in r["cpu_ns"].items() if key_pred(k) and v),
                         default=0)
                vals.append(ns / 1e9 / max(span, 1e-9))
            return statistics.median(vals)

        shares = {"Prosody": core_share(lambda k: k == "prosody"),
                  "mosquitto": core_share(lambda k: k == "mosquitto"),
                  "a bridge": core_share(lambda k: k.startswith("bridge"))}
        busiest = max(shares, key=shares.get)
        lines.append("| %d | %.0f | %.2f | %d | %d | %.1f | %.1f | %.1f | %s %.0f%% |" % (
            n, rate, rate / base if base else 0, sum(r["lost"] for r in rs),
            sum(r["dups"] for r in rs), per_msg(lambda k: k.startswith("bridge")),
            per_msg(lambda k: k == "prosody"), per_msg(lambda k: k == "mosquitto"),
            busiest, 100 * shares[busiest]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
