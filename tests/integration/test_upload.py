#!/usr/bin/python3
"""Camera snapshots as pictures: a JPEG published on MQTT goes through the server's HTTP
File Upload service (XEP-0363, Prosody's mod_http_file_share or ejabberd's
mod_http_upload, over HTTPS with the test CA) and arrives as a message whose body and
XEP-0066 OOB URL serve exactly the published bytes. Over the server's limit, over
Prosody's daily quota (the server's refusal) or without a service: a text message says
why. A journaled picture message comes back with its OOB after a restart. A burst is throttled like text, the last snapshot delivered. An upload
server that accepts and never answers times out, while text notifies keep flowing; a
reload changes the upload settings without a reconnect."""

import os
import re
import signal
import socket
import ssl
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET

import harness

BRIDGE = "bridge@localhost"
LIMIT = 300000
OOB = "{jabber:x:oob}"


def jpeg(seed, size=40000):
    """A payload that sniffs as JPEG: SOI, APP0 marker, bytes that are not UTF-8, EOI."""
    body = bytes(((i * 131 + seed * 7) ^ (i >> 3)) & 0xFF for i in range(size))
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + body + b"\xff\xd9"


def oob_url(msg):
    x = ET.fromstring(msg.xml).find(OOB + "x")
    u = x.find(OOB + "url") if x is not None else None
    return u.text if u is not None else None


def fetch(env, url):
    ctx = ssl.create_default_context(cafile=env.pki.ca.cert)
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return r.read(), r.headers.get("Content-Type")


def routes():
    return [
        {"topic": "frigate/+/person/snapshot", "to": ["alice@localhost"],
         "binary": "upload", "max_payload": 2000000, "file_name": "{{topic.2}}-{{time}}",
         "message": "{{topic.2}}: person"},
        {"topic": "cam/+/snapshot", "to": ["alice@localhost"], "binary": "upload",
         "max_payload": 2000000, "min_interval": 4},
        {"topic": "home/+/alarm", "to": ["alice@localhost"],
         "message": "{{topic.2}} says {{payload}}"},
    ]


def setup(env):
    p = env.xmpp_server(users=("bridge", "alice"), upload=LIMIT)
    m = env.broker()
    env.p, env.m = p, m
    env.alice = env.xmpp(p, "alice")
    env.pub = env.mqtt(m)
    env.b = env.start_bridge_ready(p, m, over={"notify": routes()})
    found = env.b.wait_log(r"upload: HTTP File Upload service '([^']+)' "
                           r"\(max-file-size (\d+)\)")
    line = found.group(0)
    env.check(found and found.group(1) == "upload.localhost",
              "upload service discovered by disco#items/disco#info: upload.localhost",
              line)
    env.check(found and int(found.group(2)) == LIMIT,
              "its max-file-size %d read from the disco#info form" % LIMIT, line)


def wait_picture(env, timeout=15):
    return env.alice.wait_message(frm=BRIDGE, predicate=lambda m: oob_url(m) is not None,
                                  timeout=timeout)


def check_jpeg(env):
    data = jpeg(1)
    t0 = time.monotonic()
    env.pub.publish("frigate/front/person/snapshot", data)
    msg = wait_picture(env)
    took = time.monotonic() - t0
    url = oob_url(msg)
    env.check(msg.body == url, "the body is the OOB URL", (msg.body, url))
    env.check(url.startswith("https://localhost:"), "an https URL on localhost", url)
    env.check(re.search(r"/front-[0-9T_Z-]+\.jpg$", url) is not None,
              "file name from {{topic.2}}-{{time}}, sanitised, .jpg added", url)
    got, ctype = fetch(env, url)
    env.check(got == data, "GET of the URL serves exactly the %d published bytes" % len(data),
              (len(got), len(data)))
    env.check(ctype == "image/jpeg", "served as image/jpeg (sniffed)", ctype)
    cap = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(cap.body == "front: person" and oob_url(cap) is None,
              "the route's message follows as a caption, a message of its own", cap.body)
    env.verified("JPEG snapshot uploaded, OOB URL serves the same bytes",
                 "%d bytes in %.2f s" % (len(data), took))
    env.url = url


def check_too_large(env):
    data = jpeg(2, LIMIT + 1000)
    env.pub.publish("frigate/garage/person/snapshot", data)
    msg = env.alice.wait_message(frm=BRIDGE, timeout=15)
    env.check(oob_url(msg) is None and msg.body.startswith(
        "snapshot from frigate/garage/person/snapshot could not be uploaded: ") and
        str(LIMIT) in msg.body,
        "over the server's max-file-size: a text message says so, with the limit", msg.body)
    env.b.wait_log(r"upload: snapshot from 'frigate/garage/person/snapshot' \(\d+ bytes\) "
                   r"could not be uploaded")
    env.verified("payload over the server's limit: text fallback", msg.body)


def check_burst(env):
    env.alice.drain()
    payloads = [jpeg(100 + i, 20000) for i in range(20)]
    t0 = time.monotonic()
    for d in payloads:
        env.pub.publish("cam/door/snapshot", d, qos=0)
    first = wait_picture(env)
    got, _ = fetch(env, oob_url(first))
    env.check(got == payloads[0], "the first snapshot of the burst at once")
    last = wait_picture(env, timeout=15)
    waited = time.monotonic() - t0
    got, _ = fetch(env, oob_url(last))
    env.check(got == payloads[-1], "the last of 20 snapshots delivered when the interval "
              "ended (held whole, not encoded)", len(got))
    env.check(waited >= 3.0, "not before min_interval (4 s) ended: %.1f s" % waited)
    extra = env.alice.poll_message(frm=BRIDGE, predicate=lambda m: oob_url(m) is not None,
                                   timeout=5)
    env.check(extra is None, "2 pictures for a burst of 20, no more",
              extra and extra.body)
    env.verified("burst of 20 snapshots throttled (min_interval 4 s)",
                 "2 delivered, the first and the last, the last after %.1f s" % waited)


def check_counters(env):
    mark = env.b.mark()
    env.b.proc.send_signal(signal.SIGUSR1)
    m = env.b.wait_log(r"snapshots uploaded (\d+), not uploaded (\d+), refused (\d+)",
                       since=mark)
    line = m.group(0)
    env.check(m and int(m.group(1)) == 3 and int(m.group(2)) == 1 and int(m.group(3)) == 1,
              "SIGUSR1: 3 uploaded, 1 not uploaded, 1 refused", line)


def check_spool_replay(env):
    """A picture's message journaled by a run that stopped: the journal keeps its type
    chat+oob and its URL, and the next run sends it with the OOB element again."""
    spool = os.path.join(env.tmp, "spool-replay")
    os.makedirs(spool)
    rid, to, mtype, body = "mxb-00000000feedbeef-1", "alice@localhost", "chat+oob", env.url
    with open(os.path.join(spool, "spool.journal"), "wb") as f:
        f.write(("A %d %d %d %d\n%s%s%s%s\n" % (len(rid), len(to), len(mtype), len(body),
                                                rid, to, mtype, body)).encode())
    b3 = env.start_bridge_ready(env.p, env.m, over={
        "bridge": {"spool": spool},
        "xmpp": {"jid": "bridge@localhost/replay"},
        "mqtt": {"client_id": "mxb-test-replay"}})
    msg = env.alice.wait_message(frm=BRIDGE, body=env.url, timeout=15)
    env.check(oob_url(msg) == env.url, "a journaled picture message is replayed with its "
              "OOB element", msg.xml[-300:])
    env.check(b3.stop() == 0, "that bridge stops cleanly")


def check_no_service(env):
    """xmpp.upload_service names an entity without upload: one log line, then every
    snapshot is said in text."""
    b4 = env.start_bridge_ready(env.p, env.m, over={
        "xmpp": {"jid": "bridge@localhost/noservice", "upload_service": "localhost"},
        "mqtt": {"client_id": "mxb-test-noservice"},
        "notify": [{"topic": "nosvc/+/snapshot", "to": ["alice@localhost"],
                    "binary": "upload", "max_payload": 100000}]})
    env.alice.drain()
    b4.wait_log(r"upload: the server offers no HTTP File Upload service")
    env.pub.publish("nosvc/door/snapshot", jpeg(4, 1000))
    msg = env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(msg.body == "snapshot from nosvc/door/snapshot could not be uploaded: the "
              "server offers no upload service", "no upload service: the text fallback",
              msg.body)
    env.pub.publish("nosvc/door/snapshot", jpeg(5, 1000))
    env.alice.wait_message(frm=BRIDGE, timeout=10)
    env.check(len(re.findall("offers no HTTP File Upload", b4.text())) == 1,
              "said once in the log, for two snapshots")
    env.check(b4.stop() == 0, "that bridge stops cleanly")


def check_quota(env):
    """Prosody's daily quota: the second snapshot's slot is refused (a wait error), asked
    again once, then said in text with the server's words."""
    if harness.xmpp_server_kind() != "prosody":
        env.note("the quota refusal is Prosody's (http_file_share_daily_quota)")
        return
    p3 = env.xmpp_server(users=("bridge", "alice"), name="quota", upload=LIMIT,
                         extra="http_file_share_daily_quota = 50000\n")
    alice3 = env.xmpp(p3, "alice")
    b5 = env.start_bridge_ready(p3, env.m, over={
        "mqtt": {"client_id": "mxb-test-quota"},
        "xmpp": {"upload_retries": 1},
        "notify": [{"topic": "quota/+/snapshot", "to": ["alice@localhost"],
                    "binary": "upload", "max_payload": 100000}]})
    b5.wait_log(r"upload: HTTP File Upload service")
    env.pub.publish("quota/door/snapshot", jpeg(6))
    first = alice3.wait_message(frm=BRIDGE, timeout=10)
    env.check(oob_url(first) is not None, "the first snapshot fits the daily quota",
              first.body)
    env.pub.publish("quota/door/snapshot", jpeg(7))
    msg = alice3.wait_message(frm=BRIDGE, timeout=15)
    env.check(msg.body == "snapshot from quota/door/snapshot could not be uploaded: the "
              "server refused the slot (resource-constraint: Daily quota reached)",
              "over the daily quota: the server's refusal said in text", msg.body)
    env.check(re.search(r"Daily quota reached\); trying again in 1 s", b5.text()) is not None,
              "a wait error is asked again once (upload_retries 1)")
    env.check(b5.stop() == 0, "that bridge stops cleanly")
    env.verified("slot refused by the server (Prosody daily quota)", msg.body)


class Stall:
    """A TCP listener that accepts and never answers (nor closes)."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen(8)
        self.port = self.s.getsockname()[1]
        self.conns = []
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.s.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.stop = True
        for c in self.conns:
            c.close()
        self.s.close()


def check_stalled(env):
    stall = Stall()
    env.stall = stall
    kind = harness.xmpp_server_kind()
    url = ("https://localhost:%d/" % stall.port if kind == "prosody"
           else "https://localhost:%d/upload" % stall.port)
    p2 = env.xmpp_server(users=("bridge", "alice"), name="stalled", upload=LIMIT,
                         upload_url=url)
    alice2 = env.xmpp(p2, "alice")
    over = {
        "mqtt": {"client_id": "mxb-test-stall"},
        "xmpp": {"upload_timeout": 2, "upload_retries": 1},
        "notify": [
            {"topic": "stall/+/snapshot", "to": ["alice@localhost"], "binary": "upload",
             "max_payload": 2000000},
            {"topic": "stall/+/text", "to": ["alice@localhost"],
             "message": "{{topic.2}}: {{payload}}"},
        ]}
    b2 = env.start_bridge_ready(p2, env.m, over=over)
    env.stall_bridge = (b2, alice2, env.bridge_config(p2, env.m, over))
    b2.wait_log(r"upload: HTTP File Upload service")
    t0 = time.monotonic()
    env.pub.publish("stall/door/snapshot", jpeg(3))
    b2.wait_log(r"upload: snapshot from 'stall/door/snapshot'.*trying again", timeout=10)
    # the PUT hangs; text still goes through, at once
    lat = []
    for i in range(5):
        t = time.monotonic()
        env.pub.publish("stall/hall/text", "n%d" % i)
        msg = alice2.wait_message(frm=BRIDGE, body="hall: n%d" % i, timeout=5)
        lat.append(time.monotonic() - t)
        time.sleep(0.2)
    env.check(max(lat) < 2.0, "text notifies delivered during the stalled upload "
              "(max %.2f s)" % max(lat), lat)
    msg = alice2.wait_message(
        frm=BRIDGE, timeout=20,
        predicate=lambda m: m.body.startswith("snapshot from stall/door/snapshot"))
    took = time.monotonic() - t0
    env.check(msg.body.startswith("snapshot from stall/door/snapshot could not be uploaded: "
                                  "the upload failed: ") and oob_url(msg) is None,
              "after the timeout and one retry: 'could not be uploaded' in text", msg.body)
    env.check(4.0 <= took <= 15.0, "2 attempts of 2 s plus a 1 s backoff: %.1f s" % took)
    env.check(len(stall.conns) >= 2, "the stalled server saw both attempts",
              len(stall.conns))
    env.check(b2.proc.poll() is None, "the bridge is still up")
    env.verified("stalled upload server: timeout, retry, text fallback; text keeps flowing",
                 "failed after %.1f s, text latency max %.2f s" % (took, max(lat)))


def check_reload(env):
    """SIGHUP with new xmpp.upload_* values: taken for the next upload, no reconnect."""
    b2, alice2, cfg = env.stall_bridge
    cfg["xmpp"]["upload_timeout"] = 1
    cfg["xmpp"]["upload_retries"] = 0
    with open(b2.conf_path, "w") as f:
        f.write(harness.format_config(cfg))
    mark = b2.mark()
    os.kill(b2.pid, signal.SIGHUP)
    b2.wait_log(r"reload: changed: upload$", since=mark)
    t0 = time.monotonic()
    env.pub.publish("stall/door/snapshot", jpeg(8))
    msg = alice2.wait_message(
        frm=BRIDGE, timeout=10,
        predicate=lambda m: m.body.startswith("snapshot from stall/door/snapshot"))
    took = time.monotonic() - t0
    env.check(took < 3.0 and "trying again" not in b2.text(mark),
              "the new timeout (1 s) and retries (0) apply at once: failed after %.1f s" %
              took, msg.body)
    env.check(b2.text().count("xmpp: session established") == 1,
              "the XMPP session stayed up through the reload")
    env.check(b2.stop() == 0, "that bridge stops cleanly")
    env.stall.close()


def check_stop(env):
    env.check(env.b.stop() == 0, "the bridge that uploaded stops cleanly (exit 0)")


if __name__ == "__main__":
    harness.main([setup, check_jpeg, check_too_large, check_burst, check_counters,
                  check_spool_replay, check_no_service, check_quota, check_stalled,
                  check_reload, check_stop])
