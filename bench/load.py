#!/usr/bin/python3
"""Load generators and receivers for bench/run (each a subprocess of bench.py).

    load.py xmpp-recv --port P --ca CA --user U --password PW --run R --count N
        A minimal XMPP client (raw socket, STARTTLS via ssl, SASL PLAIN, bind, presence)
        that counts <body>R<run> SEQ TS</body> bodies: unique sequence numbers, duplicates,
        latency (receive time - TS). Prints "ready" once online, a JSON line at the end.
    load.py xmpp-send --port P --ca CA --user U --password PW --run R --count N
            --to JID [--prefix 'TOPIC '] [--rate R] [--shape plain|bridge|sm]
        Sends N chat messages "PREFIX R<run> SEQ TS" to JID, paced at --rate per second
        (0 = as fast as the socket takes them), reading (and counting) whatever comes back
        (the bridge's "published to" replies) on the same non-blocking loop; prints
        "replies" once N replies (or errors) came back, a JSON line after "stop" on stdin.
        --shape bridge: the bridge's stanza (id, origin-id); sm: that, and XEP-0198 as the
        bridge runs it (its ack_every and ack_delay rule, the server's <r/> answered).
    load.py mqtt-gen --run R --count N [--rate R]
        Writes N lines "R<run> SEQ TS" to stdout (for mosquitto_pub -l), paced.

Timestamps are CLOCK_REALTIME nanoseconds (what mosquitto_sub's %U prints).
"""

import argparse
import base64
import json
import os
import re
import select
import socket
import ssl
import sys
import time

NS = "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'"


class RawXmpp:
    def __init__(self, port, ca, user, password, domain="localhost", sm=False):
        self.domain = domain
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self._header()
        self._until(b"</stream:features>")
        self.sock.sendall(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self._until(b"<proceed")
        ctx = ssl.create_default_context(cafile=ca)
        self.sock = ctx.wrap_socket(self.sock, server_hostname=domain)
        self.buf = b""
        self._header()
        self._until(b"</stream:features>")
        cred = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()
        self.sock.sendall(("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
                           "%s</auth>" % cred).encode())
        got = self._until(b"<success", b"<failure")
        if b"<failure" in got:
            raise SystemExit("xmpp: authentication failed for %s" % user)
        self.buf = b""
        self._header()
        self._until(b"</stream:features>")
        res = "b%d" % os.getpid()
        self.sock.sendall(("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:"
                           "xmpp-bind'><resource>%s</resource></bind></iq>" % res).encode())
        self._until(b"</iq>")
        self.jid = "%s@%s/%s" % (user, domain, res)
        if sm:
            # XEP-0198 as the bridge runs it: the server counts from <enabled/> on
            self.buf = b""
            self.sock.sendall(b"<enable xmlns='urn:xmpp:sm:3'/>")
            if b"<enabled" not in self._until(b"<enabled", b"<failed"):
                raise SystemExit("xmpp: the server refused stream management")
        self.sock.sendall(b"<presence/>")
        self.buf = b""

    def _header(self):
        self.sock.sendall(("<?xml version='1.0'?><stream:stream to='%s' version='1.0' %s>" % (
            self.domain, NS)).encode())

    def _until(self, *marks):
        while not any(m in self.buf for m in marks):
            d = self.sock.recv(65536)
            if not d:
                raise SystemExit("xmpp: connection closed during login: %r" % self.buf[-300:])
            self.buf += d
        return self.buf

    def close(self):
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(1)
            self.sock.sendall(b"<presence type='unavailable'/></stream:stream>")
            t = time.monotonic() + 1
            while time.monotonic() < t:
                if not self.sock.recv(65536):
                    break
        except Exception:
            pass
        try:
            self.sock.close()
        except Exception:
            pass


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def summarize(count, seqs_first, dups, lat_us, first_send, last_recv, extra=None):
    """The common result record of a receiving side."""
    lat_us.sort()
    out = {
        "expected": count,
        "unique": len(seqs_first),
        "lost": count - len(seqs_first),
        "dups": dups,
        "p50_us": percentile(lat_us, 50),
        "p99_us": percentile(lat_us, 99),
        "first_send_ns": first_send,
        "last_recv_ns": last_recv,
    }
    if first_send and last_recv and last_recv > first_send:
        out["rate"] = len(seqs_first) / ((last_recv - first_send) / 1e9)
    if extra:
        out.update(extra)
    return out


def xmpp_recv(a):
    c = RawXmpp(a.port, a.ca, a.user, a.password)
    print("ready", flush=True)
    rx = re.compile(rb"<body>R" + str(a.run).encode() + rb" (\d+) (\d+)</body>")
    sock = c.sock
    sock.setblocking(False)
    seen = set()
    dups = 0
    lat = []
    first_send = None
    last_recv = None
    buf = b""
    deadline = time.monotonic() + a.timeout
    last_progress = time.monotonic()
    while len(seen) < a.count:
        now = time.monotonic()
        if now > deadline or (now - last_progress > a.idle and (seen or now - last_progress >
                                                                 a.idle * 4)):
            break
        r, _, _ = select.select([sock], [], [], 0.2) if not sock.pending() else ([sock], 0, 0)
        if not r:
            continue
        got = False
        while True:
            try:
                d = sock.recv(262144)
            except ssl.SSLWantReadError:
                break
            if not d:
                deadline = 0
                break
            buf += d
            got = True
        if not got:
            continue
        t = time.time_ns()
        for m in rx.finditer(buf):
            seq = int(m.group(1))
            ts = int(m.group(2))
            if seq in seen:
                dups += 1
                continue
            seen.add(seq)
            lat.append((t - ts) // 1000)
            if first_send is None or ts < first_send:
                first_send = ts
            last_recv = t
            last_progress = time.monotonic()
        pos = buf.rfind(b"<body>")
        if pos >= 0 and buf.find(b"</body>", pos) < 0:
            buf = buf[pos:]
        else:
            buf = buf[-6:]
    # the result first: the orchestrator reads the servers' CPU time when it arrives, before
    # this session's logout adds to it
    print(json.dumps(summarize(a.count, seen, dups, lat, first_send, last_recv)), flush=True)
    c.close()


def stdin_ready(done_at):
    """After the last message went out: the orchestrator writes a line when the receiving
    side is done (so the bridge's replies still find this session online)."""
    if done_at is None:
        return False
    r, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(r)


# the bridge's other answers to a command (src/bridge_commands.c): not a "published to"
OTHER_ANSWERS = (b"sent to '", b"queued for '", b"failed: cannot publish",
                 b"dropped: MQTT stayed")


class SmAcks:
    """XEP-0198 on the sender's side, by the bridge's rule (src/sm.c, xmpp.ack_every and
    ack_delay at their defaults): an <r/> once EVERY stanzas wait for one, else at most one
    per DELAY: at once when none was asked within it, else when it has passed; none while
    one is unanswered. It also counts what the server sent (the h of the <a/> answering the
    server's <r/>). A token cut in two by a read counts once, in the read that completes it."""
    EVERY = 32
    DELAY = 0.050
    STANZAS = (b"<message", b"<presence", b"<iq ")
    R = b"<r xmlns='urn:xmpp:sm:3'/>"

    def __init__(self):
        self.tail = b""
        self.h = 0            # stanzas the server sent
        self.asked = 0        # <r/> the server sent, to be answered
        self.sent = 0         # stanzas sent
        self.requested = 0    # stanzas sent when the last <r/> went out
        self.last_r = -1e9
        self.pending = False  # an <r/> of ours is unanswered

    def _count(self, buf, skip, token):
        n, k = 0, buf.find(token)
        while k >= 0:
            n += k + len(token) > skip
            k = buf.find(token, k + 1)
        return n

    def feed(self, d):
        """What the server sent: returns the <a/> answers it asks for."""
        buf = self.tail + d
        skip = len(self.tail)
        self.h += sum(self._count(buf, skip, t) for t in self.STANZAS)
        if self._count(buf, skip, b"<a "):
            self.pending = False
        asked = self._count(buf, skip, b"<r ")
        self.tail = buf[-9:]
        return b"<a xmlns='urn:xmpp:sm:3' h='%d'/>" % self.h * asked

    def request(self, now):
        """After stanzas were queued, or on a tick: an <r/> when the rule says so, or b""."""
        waiting = self.sent - self.requested
        if not waiting:
            return b""
        if waiting < self.EVERY and (self.pending or now < self.last_r + self.DELAY):
            return b""
        self.requested = self.sent
        self.last_r = now
        self.pending = True
        return self.R


def xmpp_send(a):
    sm = a.shape == "sm"
    c = RawXmpp(a.port, a.ca, a.user, a.password, sm=sm)
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    sock = c.sock
    sock.setblocking(False)
    head = ("<message to='%s' type='chat'><body>%sR%d " % (a.to, a.prefix, a.run)).encode()
    tail = b"</body></message>"

    def stanza(i, ts):
        return head + b"%d " % i + ts + tail
    if a.shape in ("bridge", "sm"):
        # the bridge's own shape of a chat message: an id, and the id as XEP-0359 origin-id
        def stanza(i, ts):
            sid = b"mxb-%d-%d" % (a.run, i)
            return (b"<message to='%s' type='chat' id='%s'><body>%sR%d %d %s</body>"
                    b"<origin-id xmlns='urn:xmpp:sid:0' id='%s'/></message>" % (
                        a.to.encode(), sid, a.prefix.encode(), a.run, i, ts, sid))
    out = bytearray()
    pending = b""
    sent = 0
    replies = 0
    others = 0
    errors = 0
    told = False
    inbuf = b""
    t0 = time.monotonic()
    first_ts = None
    done_at = None
    acks = SmAcks() if sm else None
    while True:
        now = time.monotonic()
        if sent < a.count and len(out) < 262144:
            want = a.count if a.rate <= 0 else min(a.count, int((now - t0) * a.rate) + 1)
            if a.rate <= 0:
                want = min(a.count, sent + 500)
            if want > sent:
                ts = b"%d" % time.time_ns()
                if first_ts is None:
                    first_ts = int(ts)
                for i in range(sent, want):
                    out += stanza(i, ts)
                    if acks:
                        acks.sent += 1
                        out += acks.request(now)
                sent = want
        if acks:
            out += acks.request(now)
        if sent >= a.count and not out and not pending and done_at is None:
            done_at = time.monotonic()
        if done_at is not None and time.monotonic() - done_at > a.linger:
            break
        wlist = [sock] if (out or pending) else []
        timeout = 0.05
        if a.rate > 0 and sent < a.count:
            # sleep until the next message is due (a fixed short timeout would wake this
            # client thousands of times a second at 10/s, taking CPU from what is measured)
            timeout = min(0.05, max(0.0, t0 + sent / a.rate - time.monotonic()))
        if sent < a.count and a.rate <= 0 and len(out) < 262144:
            timeout = 0
        r, w, _ = select.select([sock], wlist, [], timeout) if not sock.pending() else \
            ([sock], wlist, [])
        if r:
            while True:
                try:
                    d = sock.recv(262144)
                except ssl.SSLWantReadError:
                    break
                if not d:
                    break
                inbuf += d
                if acks:
                    out += acks.feed(d)
            m1, m2 = b"published to", b"type='error'"
            replies += inbuf.count(m1)
            errors += inbuf.count(m2)
            for m in OTHER_ANSWERS:
                others += inbuf.count(m)
            if not told and replies + others + errors >= a.count:
                # every command answered: the orchestrator ends its CPU reading here
                print("replies", flush=True)
                told = True
            cut = len(inbuf) - 25  # a marker cut in two by the read
            for m in (m1, m2) + OTHER_ANSWERS:
                k = inbuf.rfind(m)
                if k >= 0:
                    cut = max(cut, k + len(m))
            inbuf = inbuf[max(cut, 0):]
        if stdin_ready(done_at):
            break
        if w or (out or pending):
            try:
                if not pending:
                    pending = bytes(out[:65536])
                    del out[:65536]
                n = sock.send(pending)
                pending = pending[n:]
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                pass
    c.close()
    print(json.dumps({"sent": sent, "replies": replies, "other_answers": others,
                      "errors": errors,
                      "first_send_ns": first_ts, "send_secs": (done_at or now) - t0}),
          flush=True)


def mqtt_gen(a):
    fd = sys.stdout.fileno()
    sys.stdin.readline() if a.wait_go else None
    t0 = time.monotonic()
    sent = 0
    pre = b"R%d " % a.run
    while sent < a.count:
        if a.rate <= 0:
            want = min(a.count, sent + 1000)
        else:
            now = time.monotonic()
            want = min(a.count, int((now - t0) * a.rate) + 1)
            if want <= sent:
                time.sleep(max(0.0005, t0 + sent / a.rate - now))
                continue
        ts = b"%d" % time.time_ns()
        data = b"".join(pre + b"%d " % i + ts + b"\n" for i in range(sent, want))
        while data:
            n = os.write(fd, data)
            data = data[n:]
        sent = want


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["xmpp-recv", "xmpp-send", "mqtt-gen"])
    p.add_argument("--port", type=int)
    p.add_argument("--ca")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--run", type=int, default=0)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--to")
    p.add_argument("--prefix", default="")
    p.add_argument("--shape", choices=["plain", "bridge", "sm"], default="plain",
                   help="xmpp-send: plain chat messages, shaped as the bridge's, or shaped "
                   "and with XEP-0198 acks as the bridge runs them")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--idle", type=float, default=3)
    p.add_argument("--linger", type=float, default=300)
    p.add_argument("--wait-go", action="store_true")
    a = p.parse_args()
    if a.prefix:
        a.prefix = a.prefix.rstrip() + " "
    {"xmpp-recv": xmpp_recv, "xmpp-send": xmpp_send, "mqtt-gen": mqtt_gen}[a.mode](a)


if __name__ == "__main__":
    main()
