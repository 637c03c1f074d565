#!/usr/bin/python3
"""The fault suite: a steady stream of numbered QoS 1 messages MQTT -> XMPP (and, where
the sender's own XMPP connection survives the fault, commands XMPP -> MQTT too) while a
fault strikes mid-stream; afterwards every number is counted on the far side. Expected: none
lost; duplicates only within the unacknowledged window (counted, reported).

Faults: XMPP server SIGTERM + restart, SIGKILL + restart, frozen (SIGSTOP) while the
bridge sends and then SIGKILL + restart (only resending saves those), the bridge's XMPP
connection reset (ss -K), broker SIGTERM + restart (with persistence), bridge SIGTERM +
restart (persistent MQTT session), bridge SIGKILL + restart while it holds messages (the
spool), the same with the replies to commands from full JIDs whose resources hold spaces,
quotes and non-ASCII UTF-8, a network cut longer than the ping (a proxy that black-holes
the link).

Where a broker cannot keep the session, the suite asserts what it does instead: ejabberd's
mod_mqtt keeps sessions in memory only, so a broker restart starts the bridge on a fresh
session (no "session resumed") and what the broker held or received before the bridge
subscribed again is lost; the table says how much. ejabberd keeps a message that reaches it
while alice logs in again in her offline store until her next login, and returns a command
in flight to a connection that dies to its sender as service-unavailable: both asserted as
such (run_fault says how): the one delivered at that login, the other lost to the bridge but
never silently."""

import os
import select
import signal
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import harness

BRIDGE = "bridge@localhost"
N = 120          # messages per fault
RATE = 60.0      # messages per second
# Offline storage keeps what arrives for alice while her own connection is down; smacks
# gives the bridge its acks.
RESULTS = []  # (fault, sent, lost, duplicated, seconds to recover, what was asserted)
LOSS = "loss reported, not asserted"


def setup(env):
    if getattr(env, "p", None):
        return
    # A pubsub service too, for the items that cross a restart (check_pubsub_restart).
    own = ({"extra": 'Component "pubsub.localhost" "pubsub"\n'
                     '\tadmins = { "bridge@localhost" }\n'}
           if harness.xmpp_server_kind() == "prosody"
           else {"modules_yaml": "mod_caps: {}\nmod_pubsub:\n  host: \"pubsub.localhost\"\n"
                                 "  access_createnode: local\n  plugins: [\"flat\"]\n"})
    env.p = env.xmpp_server(users=("bridge", "alice"), modules=("offline",), **own)
    env.m = env.broker(persistence=True)
    env.alices = [env.xmpp(env.p, "alice")]
    env.cfg = env.bridge_config(env.p, env.m, {
        "bridge": {"spool": env.tmp + "/spool"},
        "notify": [{"topic": "seq/+", "to": ["alice@localhost"], "message": "{{payload}}",
                    "qos": 1}],
        "commands": [{"from": ["alice@localhost"], "allow": ["seq/cmd/#"], "qos": 1}],
        "pubsub": [{"topic": "psseq/+", "service": "pubsub.localhost",
                    "node": "seq/{{topic.2}}", "format": "text", "history": 200}],
    })
    env.b = start_bridge(env)
    # The commands side: alice on a resource of her own, and a subscriber whose session
    # outlives broker restarts.
    new_cmd(env)
    env.cmdsub = env.mqtt(env.m, client_id="faults-cmdsub", clean=False).subscribe("seq/cmd/#")


def new_cmd(env):
    env.cmd = harness.XmppClient(env, "alice@localhost/cmd", env.p.accounts["alice"],
                                 env.p.port, env.pki.ca.cert).connect()


def start_bridge(env):
    mark = env.m.log.mark()
    b = env.bridge(env.cfg)
    b.wait_ready(30)
    env.m.wait_subscribed("mxb-test", "seq/+", since=mark, timeout=30)
    return b


def received(env):
    """Every sequence number alice got, over all her connections (with repeats)."""
    out = []
    for a in env.alices:
        with a._cond:
            out += [m.body for m in a.all_messages if m.frm.startswith(BRIDGE)]
    return out


def new_alice(env):
    env.alices.append(env.xmpp(env.p, "alice"))


class Publisher(threading.Thread):
    """Publishes tag-1 .. tag-N at RATE, each until the broker acknowledged it (through
    broker restarts: a new connection per failure)."""

    def __init__(self, env, tag, prefix="seq"):
        super().__init__(daemon=True)
        self.env, self.tag, self.prefix = env, tag, prefix
        self.sent = 0
        self.error = None

    def run(self):
        c = None
        try:
            for i in range(1, N + 1):
                t0 = time.monotonic()
                while True:
                    try:
                        if c is None:
                            c = self.env.mqtt(self.env.m)
                        c.publish("%s/%s" % (self.prefix, self.tag), "%s-%d" % (self.tag, i), qos=1,
                                  timeout=3)
                        break
                    except Exception:  # noqa: BLE001 - broker away: try again
                        if c is not None:
                            c.disconnect()
                        c = None
                        time.sleep(0.2)
                self.sent = i
                time.sleep(max(0.0, 1.0 / RATE - (time.monotonic() - t0)))
        except BaseException as e:  # noqa: BLE001
            self.error = e
        finally:
            if c is not None:
                c.disconnect()


class Commander(threading.Thread):
    """alice sends "seq/cmd/TAG TAG-c-N" to the bridge at RATE."""

    def __init__(self, env, tag, prefix="seq"):
        super().__init__(daemon=True)
        self.env, self.tag, self.prefix = env, tag, prefix
        self.sent = 0
        self.error = None

    def run(self):
        try:
            for i in range(1, N + 1):
                self.env.cmd.send_message(BRIDGE, "seq/cmd/%s %s-c-%d" % (self.tag, self.tag, i))
                self.sent = i
                time.sleep(1.0 / RATE)
        except BaseException as e:  # noqa: BLE001
            self.error = e


def from_storage(env, bodies):
    """Which of bodies alice's newest connection got out of the server's offline storage
    (a <delay/> saying so) rather than live."""
    a = env.alices[-1]
    with a._cond:
        return {m.body for m in a.all_messages if m.body in bodies and
                "urn:xmpp:delay" in m.xml and "Offline storage" in m.xml}


def bounced(env, tag):
    """The commands of tag the server returned to alice as <service-unavailable/>."""
    with env.cmd._cond:
        return {m.body.split(" ", 1)[1] for m in env.cmd.all_messages
                if m.type == "error" and m.error == "service-unavailable" and
                m.body.startswith("seq/cmd/%s " % tag)}


def wait_all(want, got_fn, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want <= set(got_fn()):
            break
        time.sleep(0.2)
    return got_fn()


def run_fault(env, name, fault, commands=False, may_lose=False, may_lose_commands=None,
              relogin=False, returned=False):
    """Streams while fault() strikes, counts what arrived. may_lose: the broker cannot
    keep what it held through this fault (fault() checked how); the loss is reported.
    may_lose_commands: the same for the commands only (default: may_lose).
    relogin: alice logs in again while the bridge sends (the server restarted); returned:
    the bridge's connection dies with commands in flight to it. Both matter on ejabberd:

    A message the bridge sends to alice while she logs in again after a restart
    can be decided offline (she is not bound yet) and reach the offline store only after
    her initial presence emptied it (mod_offline writes to a disc_only_copies table, tens
    of milliseconds after a restart): it waits there for her next login, with a <delay/>
    saying "Offline storage". Such a message is counted when a fresh login of alice gets
    it so, and said; anything still missing is lost. A command in flight to the bridge
    when its connection dies is returned to alice as <service-unavailable/> ("User session
    terminated": mod_stream_mgmt's resend_on_timeout is false by default): the sender
    is told, and every command lost must have been so returned."""
    if may_lose_commands is None:
        may_lose_commands = may_lose
    setup(env)
    ejabberd = harness.xmpp_server_kind() == "ejabberd"
    tag = name.replace(" ", "_").replace("+", "").replace("(", "").replace(")", "")
    tag = tag.replace(",", "")
    pub = Publisher(env, tag)
    pub.start()
    cmd = None
    if commands:
        if not env.cmd.online():
            new_cmd(env)  # an earlier fault took Prosody, and her connection, down
        cmd = Commander(env, tag)
        cmd.start()
    harness.wait_until(lambda: pub.sent >= N // 3, 30, what="a third of the stream sent")
    t_fault = time.monotonic()
    fault()
    want = {"%s-%d" % (tag, i) for i in range(1, N + 1)}

    def mine():
        return [x for x in received(env) if x.startswith(tag + "-")]
    pub.join(60)
    relogin = relogin and ejabberd
    returned = returned and ejabberd
    got = wait_all(want, mine, 20 if relogin else 60)
    stored = set()
    if relogin and not want <= set(got):
        new_alice(env)  # her offline store comes with her initial presence
        missing = want - set(got)
        got = wait_all(want, mine, 15)
        stored = from_storage(env, missing)
        earlier = set()
        for a in env.alices[:-1]:
            with a._cond:
                earlier |= {m.body for m in a.all_messages if m.body in missing}
        late = missing & set(got)
        env.check(late <= stored | earlier, "%s: what only a fresh login of alice got came "
                  "from ejabberd's offline storage" % name, sorted(late - stored - earlier))
    lost = sorted(want - set(got), key=lambda s: int(s.rsplit("-", 1)[1]))
    dups = len(got) - len(set(got))
    recovery = time.monotonic() - t_fault
    RESULTS.append((name + " (MQTT -> XMPP)", N, len(lost), dups, recovery,
                    LOSS if may_lose else "no loss" + (
                        " (%d from alice's offline store at her next login)" % len(stored)
                        if stored else "")))
    env.note("%s: sent %d, lost %d%s, duplicates %d, all in %.1f s after the fault%s" % (
        name, N, len(lost), " (%s)" % ", ".join(lost[:10]) if lost else "", dups, recovery,
        "; %d kept in offline storage until alice's next login (%s)" % (
            len(stored), ", ".join(sorted(stored))) if stored else ""))
    env.check(pub.error is None, "%s: the publisher sent everything" % name, pub.error)
    if may_lose:
        # the count varies from run to run: the suite's table has it, the page the kind
        env.verified("fault: " + name, "loss possible (counted in the suite's table, not "
                     "asserted)")
    else:
        env.check(not lost, "%s: nothing lost" % name, lost[:10])
        env.verified("fault: " + name, "nothing lost" + (
            " (a message routed while alice logs in again may wait in the offline store "
            "for her next login)" if relogin else ""))
    if not cmd:
        return
    cmd.join(60)
    cwant = {"%s-c-%d" % (tag, i) for i in range(1, N + 1)}
    cgot = []

    def cmine():
        cgot.extend(m.payload.decode() for m in env.cmdsub.drain()
                    if m.topic == "seq/cmd/" + tag)
        return cgot
    wait_all(cwant, cmine, 20 if returned else 60)
    clost = sorted(cwant - set(cgot), key=lambda s: int(s.rsplit("-", 1)[1]))
    cdups = len(cgot) - len(set(cgot))
    back = bounced(env, tag)
    RESULTS.append((name + " (XMPP -> MQTT)", N, len(clost), cdups,
                    time.monotonic() - t_fault,
                    LOSS if may_lose_commands else
                    "none lost silently (%d returned to alice)" % len(back) if returned else
                    "no loss"))
    env.note("%s, commands: sent %d, lost %d%s, duplicates %d%s" % (
        name, N, len(clost), " (%s)" % ", ".join(clost[:10]) if clost else "", cdups,
        "; returned to alice as service-unavailable: %s" % ", ".join(sorted(back))
        if back else ""))
    env.check(cmd.error is None, "%s: alice sent every command" % name, cmd.error)
    if may_lose_commands:
        env.verified("fault: %s, commands" % name, "loss possible (counted in the suite's "
                     "table, not asserted)")
    elif returned:
        env.check(set(clost) <= back, "%s: every command lost was returned to alice as "
                  "<service-unavailable/>" % name, sorted(set(clost) - back)[:10])
        env.verified("fault: %s, commands" % name, "none lost silently: one in flight to "
                     "the bridge comes back to its sender as service-unavailable (asserted)")
    else:
        env.check(not clost, "%s: no command lost" % name, clost[:10])
        env.check(not back, "%s: no command returned to alice" % name, sorted(back)[:10])
        env.verified("fault: %s, commands" % name, "nothing lost")


def check_prosody_sigterm(env):
    def fault():
        env.p.stop(signal.SIGTERM)
        env.p.start()
        new_alice(env)
    run_fault(env, "XMPP server SIGTERM + restart", fault, relogin=True)


def check_prosody_sigkill(env):
    def fault():
        env.p.stop(signal.SIGKILL)
        env.p.start()
        new_alice(env)
    run_fault(env, "XMPP server SIGKILL + restart", fault, relogin=True)


def check_prosody_frozen_then_killed(env):
    """Prosody stops reading (SIGSTOP) while the bridge keeps sending: those messages are
    written but never acknowledged. Then SIGKILL: only the bridge's resend saves them."""
    def fault():
        mark = env.b.mark()
        import os
        os.kill(env.p.proc.pid, signal.SIGSTOP)
        time.sleep(1.0)
        env.p.stop(signal.SIGKILL)
        env.p.start()
        new_alice(env)
        env.b.wait_log(r"bridge: \d+ messages were not acknowledged; they go out again",
                       since=mark, timeout=20)
    run_fault(env, "XMPP server frozen, then SIGKILL + restart", fault, relogin=True)


def check_connection_reset(env):
    def fault():
        mark = env.b.mark()
        lport = bridge_local_port(env)
        r = subprocess.run(["ss", "-K", "-tn", "src", "127.0.0.1", "sport", "=", ":%d" % lport,
                            "dport", "=", ":%d" % env.p.port], capture_output=True, text=True)
        env.check(r.returncode == 0 and str(lport) in r.stdout,
                  "ss -K closed the bridge's XMPP connection (port %d)" % lport, r.stderr)
        env.b.wait_log(r"xmpp: session established", since=mark, timeout=20)
    run_fault(env, "XMPP connection reset (ss -K)", fault, commands=True, returned=True)


def bridge_local_port(env):
    """The local port of the bridge's connection to Prosody, found by the bridge's pid."""
    r = subprocess.run(["ss", "-tnpH", "dst", "127.0.0.1", "dport", "=", ":%d" % env.p.port],
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        if "pid=%d," % env.b.pid in line:
            return int(line.split()[3].rsplit(":", 1)[1])
    raise harness.TestFailure("no connection of the bridge to Prosody: %r" % r.stdout)


def check_broker_sigterm(env):
    """mosquitto saves its sessions on SIGTERM: the bridge resumes its own. mod_mqtt keeps
    them in memory: the bridge gets a fresh one (and subscribes again), and so must the
    test's command subscriber."""
    keeps = harness.broker_kind() == "mosquitto"

    def fault():
        mark = env.b.mark()
        env.m.stop(signal.SIGTERM)
        mmark = env.m.log.mark()
        env.m.start()
        m = env.b.wait_log(r"mqtt: connected to [^\n]*", since=mark, timeout=30)
        line = harness.line_of(m)
        if keeps:
            env.check(line.endswith("(session resumed)"), "the bridge resumed its session",
                      line)
            env.verified("broker restart: the bridge's MQTT session", "resumed (asserted)")
        else:
            env.check(not line.endswith("(session resumed)"),
                      "mod_mqtt lost the session in the restart: a fresh one", line)
            env.verified("broker restart: the bridge's MQTT session",
                         "lost (asserted: no 'session resumed'); the bridge subscribes again")
            # a new subscriber, keeping what the old one got before the restart
            old = env.cmdsub.drain()
            env.cmdsub.disconnect()
            env.cmdsub = env.mqtt(env.m, client_id="faults-cmdsub",
                                  clean=False).subscribe("seq/cmd/#")
            env.cmdsub.messages[:0] = old
        if not keeps:
            env.m.wait_subscribed("mxb-test", "seq/+", since=mmark, timeout=30)
    run_fault(env, "broker SIGTERM + restart", fault, commands=True, may_lose=not keeps)


def check_bridge_sigterm(env):
    def fault():
        env.check(env.b.stop() == 0, "bridge exits 0")
        time.sleep(0.5)  # the stream goes on without it, into its persistent session
        env.b = start_bridge(env)
    run_fault(env, "bridge SIGTERM + restart", fault, commands=True)


class Proxy(threading.Thread):
    """A TCP proxy on loopback that can cut the network: while cut, established
    connections become a black hole (bytes are read and dropped, nothing is closed) and new
    ones are refused; after heal, new connections pass again."""

    def __init__(self, upstream_port):
        super().__init__(daemon=True)
        self.upstream = upstream_port
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.cut = False
        self.stop = False
        self.pairs = []
        self.dead = set()  # ids of the pairs cut off

    def run(self):
        while not self.stop:
            socks = [self.lsock] + [x for p in self.pairs for x in p]
            r, _, _ = select.select(socks, [], [], 0.1)
            for s in r:
                if s is self.lsock:
                    c, _ = self.lsock.accept()
                    if self.cut:
                        c.close()
                        continue
                    try:
                        u = socket.create_connection(("127.0.0.1", self.upstream))
                    except OSError:
                        c.close()
                        continue
                    self.pairs.append((c, u))
                    continue
                pair = next(p for p in self.pairs if s in p)
                other = pair[1] if s is pair[0] else pair[0]
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for x in pair:
                        x.close()
                    self.pairs.remove(pair)
                    continue
                if id(pair) not in self.dead:
                    other.sendall(data)

    def blackhole(self):
        self.cut = True
        self.dead.update(id(p) for p in self.pairs)

    def heal(self):
        self.cut = False

    def close(self):
        self.stop = True
        self.join(2)
        for p in self.pairs:
            for x in p:
                x.close()
        self.lsock.close()


def check_network_cut(env):
    """The bridge's link to Prosody goes silent (no FIN, no RST) for longer than its ping
    interval and timeout: the ping notices, the bridge reconnects once the network is
    back and sends again what was not acknowledged."""
    setup(env)
    env.check(env.b.stop() == 0, "the bridge of the other cases stops")
    proxy = Proxy(env.p.port)
    proxy.start()
    try:
        cfg = harness.merge(env.cfg, {"xmpp": {"port": proxy.port, "ping_interval": 5,
                                               "ping_timeout": 3}})
        mark = env.m.log.mark()
        env.b = env.bridge(cfg)
        env.b.wait_ready(30)
        env.m.wait_subscribed("mxb-test", "seq/+", since=mark, timeout=30)

        def fault():
            mark = env.b.mark()
            proxy.blackhole()
            env.b.wait_log(r"xmpp: no answer to ping within 3 s", since=mark, timeout=20)
            t_noticed = time.monotonic()
            proxy.heal()
            env.b.wait_log(r"xmpp: session established", since=mark, timeout=30)
            env.note("the dead link was noticed and the session back %.1f s later" % (
                time.monotonic() - t_noticed))
        run_fault(env, "network cut longer than the ping (proxy black hole)", fault)
    finally:
        proxy.close()


def check_bridge_sigkill_spool(env):
    """XMPP is away, so the bridge holds what comes; then the bridge is SIGKILLed. The
    broker counts those messages delivered: only the spool brings them back."""
    def fault():
        env.p.stop(signal.SIGTERM)
        time.sleep(1.0)
        env.b.stop(signal.SIGKILL)
        env.p.start()
        new_alice(env)
        env.b = start_bridge(env)
        env.b.wait_log(r"spool: \d+ messages from the last run go out again")
    # Prosody goes down here too, and alice's command connection with it: one way only.
    run_fault(env, "bridge SIGKILL + restart, with the spool", fault)


# Resources as RFC 7622 allows them (any Unicode but controls, so spaces, quotes, XML's
# special characters and non-ASCII too): the spool must hold replies for them as they are.
# Prosody 0.12 still applies stringprep, which refuses code points Unicode 3.2 did not
# assign (emoji among them) and binds a random resource instead: these are all in 3.2.
ODD_RESOURCES = ("my phone", "caf\u00e9 \u0442\u0435\u043b\u0435\u0444\u043e\u043d \u96fb\u8a71",
                 "\"quoted\" o'neil & <co>")
K = 10  # commands per resource


def odd_clients(env):
    clients = [harness.XmppClient(env, "alice@localhost/" + r, env.p.accounts["alice"],
                                  env.p.port, env.pki.ca.cert, name="alice-odd%d" % i).connect()
               for i, r in enumerate(ODD_RESOURCES)]
    for c, r in zip(clients, ODD_RESOURCES):
        env.check(c.full_jid == "alice@localhost/" + r, "the server bound the resource %r" % r,
                  c.full_jid)
    return clients


def check_bridge_sigkill_spool_odd_jids(env):
    """The spool holds replies to commands, each for the full JID it came from, whose
    resources hold spaces, quotes and non-ASCII UTF-8. The broker is frozen while alice's
    resources send commands, XMPP goes away, then the broker acknowledges: the bridge holds
    the replies. It is SIGKILLed; after the restart each reply reaches its very resource."""
    import os
    name = "bridge SIGKILL + restart, spool of replies to odd full JIDs"
    tag = "odd_jids"
    setup(env)
    clients = odd_clients(env)
    want = {}
    for i, r in enumerate(ODD_RESOURCES):
        for n in range(1, K + 1):
            want["published to 'seq/cmd/%s/%d/%d'" % (tag, i, n)] = "alice@localhost/" + r
    journal = env.tmp + "/spool/spool.journal"

    def held():
        with open(journal, "rb") as f:
            data = f.read()
        return sum(data.count(w.encode()) for w in want)

    mark = env.b.mark()
    os.kill(env.m.proc.pid, signal.SIGSTOP)
    try:
        for i, c in enumerate(clients):
            for n in range(1, K + 1):
                c.send_message(BRIDGE, "seq/cmd/%s/%d/%d %d" % (tag, i, n, n))
        # Written to the frozen broker: published, not yet acknowledged.
        env.b.wait_log(r"command: published to 'seq/cmd/%s/" % tag, since=mark,
                       count=len(want), timeout=20)
        env.p.stop(signal.SIGTERM)
        env.b.wait_log(r"xmpp: (disconnected|stream error)", since=mark, timeout=20)
    finally:
        os.kill(env.m.proc.pid, signal.SIGCONT)
    harness.wait_until(lambda: held() == len(want), 20,
                       what="the replies for the odd JIDs in the journal")
    t_fault = time.monotonic()
    env.b.stop(signal.SIGKILL)
    env.p.start()
    new_alice(env)
    clients = odd_clients(env)
    env.b = start_bridge(env)
    env.b.wait_log(r"spool: \d+ messages from the last run go out again")

    def got():
        out = []
        for c in clients:
            with c._cond:
                for m in c.all_messages:
                    if m.frm.startswith(BRIDGE) and m.body in want:
                        out.append((m.body, ET.fromstring(m.xml).get("to")))
        return out
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not set(want) <= {b for b, _ in got()}:
        time.sleep(0.2)
    recv = got()
    lost = sorted(set(want) - {b for b, _ in recv})
    misrouted = [(b, to) for b, to in recv if to != want[b]]
    dups = len(recv) - len(set(b for b, _ in recv))
    recovery = time.monotonic() - t_fault
    RESULTS.append((name + " (XMPP -> MQTT replies)", len(want), len(lost), dups, recovery,
                    "no loss"))
    env.note("%s: held %d, lost %d, duplicates %d, all in %.1f s after the kill" % (
        name, len(want), len(lost), dups, recovery))
    env.check(not lost, "%s: nothing lost" % name, lost[:10])
    env.check(not misrouted, "%s: each reply reached the resource it was for" % name,
              misrouted[:5])


def check_pubsub_restart(env):
    """Items published to a node (history: one item each) while the XMPP server restarts:
    what was in flight is sent again after the reconnect, so the node holds every one."""
    setup(env)
    name = "XMPP server SIGTERM + restart, pubsub items"
    # A bridge of the standard config: an earlier case may have left one behind a proxy.
    env.check(env.b.stop() == 0, "the bridge of the other cases stops")
    env.b = start_bridge(env)
    tag = "ps"
    pub = Publisher(env, tag, prefix="psseq")
    pub.start()
    harness.wait_until(lambda: pub.sent >= N // 3, 30, what="a third of the stream sent")
    t_fault = time.monotonic()
    env.p.stop(signal.SIGTERM)
    env.p.start()
    new_alice(env)
    pub.join(60)
    want = {"%s-%d" % (tag, i) for i in range(1, N + 1)}
    got = []
    deadline = time.monotonic() + 60
    ns = "http://jabber.org/protocol/pubsub"
    while time.monotonic() < deadline:
        r = env.alices[-1].iq("pubsub.localhost", "get",
                              "<pubsub xmlns='%s'><items node='seq/%s'/></pubsub>" % (ns, tag))
        if r.type == "result":
            got = [t.text for t in r.xml.iter("{urn:mqtt-xmpp-bridge:payload:0}text")]
            if want <= set(got):
                break
        time.sleep(0.3)
    lost = sorted(want - set(got), key=lambda s: int(s.rsplit("-", 1)[1]))
    dups = len(got) - len(set(got))
    recovery = time.monotonic() - t_fault
    RESULTS.append((name + " (MQTT -> node)", N, len(lost), dups, recovery, "no loss"))
    env.note("%s: sent %d, lost %d, duplicates %d, all in %.1f s after the fault" % (
        name, N, len(lost), dups, recovery))
    env.check(pub.error is None, "%s: the publisher sent everything" % name, pub.error)
    env.check(not lost, "%s: nothing lost" % name, lost[:10])
    mark = env.b.mark()
    os.kill(env.b.pid, signal.SIGUSR1)
    line = env.b.wait_log(r"bridge: pubsub published [^\n]*", since=mark)
    env.note("%s: %s" % (name, line.group(0) if hasattr(line, "group") else line))
    env.verified("fault: " + name, "nothing lost")


def check_report(env):
    print("\non %s:" % env.pair())
    print("| fault | sent | lost | duplicated | all delivered after | expected |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, n, lost, dups, rec, expected in RESULTS:
        print("| %s | %d | %d | %d | %.1f s | %s |" % (name, n, lost, dups, rec, expected))
    env.check(len(RESULTS) == 13, "every fault ran, both ways where it can", len(RESULTS))


if __name__ == "__main__":
    harness.main([check_prosody_sigterm, check_prosody_sigkill,
                  check_prosody_frozen_then_killed, check_connection_reset,
                  check_broker_sigterm, check_bridge_sigterm, check_bridge_sigkill_spool,
                  check_bridge_sigkill_spool_odd_jids, check_network_cut, check_pubsub_restart,
                  check_report],
                 time_limit=170 if harness.xmpp_server_kind() == "prosody" else 420)
