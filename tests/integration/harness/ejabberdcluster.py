"""Two ejabberd 23.01 nodes clustered on one machine, as SERVERS.md checked it: a private
epmd on a loopback port (ERL_EPMD_PORT for every VM), a fixed distribution port per node,
one cookie; node 2 joins node 1 (which restarts it and wipes its data) before any account
is made. Every process (the epmd, both VMs) is started here and stopped by pid."""

import os
import re
import secrets
import signal
import subprocess
import time

from .ejabberd import Ejabberd
from .procs import (LOOPBACK, TestFailure, free_port, port_accepts, port_owner_pids, spawn,
                    tail, terminate, wait_until)
from .xmppserver import XMPP_DOMAIN

# Erlang VMs start in about a second on an idle machine and in many more on a loaded one
NODE_START_TIMEOUT = 120
CTL_TIMEOUT = 90


class ClusterNode(Ejabberd):
    """One node of an EjabberdCluster: an Ejabberd whose Erlang node has a fixed name (its
    mnesia dir is tied to it, so a restart finds its data), the cluster's cookie, a fixed
    distribution port, and the cluster's epmd. Its config differs from the other node's
    only in the c2s and component ports."""

    def __init__(self, env, cert, cluster, index, **kw):
        self.cluster = cluster
        self.index = index
        # mod_admin_extra: user_sessions_info, which tells the node of each session
        kw["modules_yaml"] = "mod_admin_extra: {}\n" + kw.get("modules_yaml", "")
        super().__init__(env, cert, name="%s-%d" % (cluster.name, index), **kw)
        self.node = "mxb-%s%d-%s@localhost" % (re.sub(r"[^A-Za-z0-9_-]", "-", cluster.name),
                                               index, cluster.token)
        self.cookie = cluster.cookie
        self.accounts = cluster.accounts  # one user base for the cluster

    def _environ(self):
        e = super()._environ()
        e["ERL_EPMD_PORT"] = str(self.cluster.epmd_port)
        return e

    def _erl(self, sname):
        return ["erl", "-sname", sname, "-setcookie", self.cookie,
                "-kernel", "inet_dist_use_interface", "{127,0,0,1}",
                "inet_dist_listen_min", str(self.dist_port),
                "inet_dist_listen_max", str(self.dist_port),
                "-mnesia", "dir", '"%s"' % self.spool]

    def ctl(self, *args, timeout=CTL_TIMEOUT):
        """ejabberd_ctl against this node: (returncode, stdout + stderr)."""
        r = self._ctl(*args, timeout=timeout)
        return r.returncode, (r.stdout or "") + (r.stderr or "")

    def can_register_now(self):
        return False  # the cluster registers, once it is formed

    def before_start(self):
        self._epmd_before = set()  # the cluster's epmd is ours, started before the nodes
        super().before_start()

    def after_terminate(self):
        """Nothing of this node left (the epmd is the cluster's, stopped at the end)."""
        self.check_nothing_left(10)


class _Epmd:
    """The cluster's own epmd, in the foreground on 127.0.0.1:port (proc: for env.close)."""

    def __init__(self, env, name):
        self.name = name
        self.port = free_port()
        self.out_path = os.path.join(env.tmp, name + ".out")
        env.register_log(self.out_path, name, lambda: self.proc)
        self.proc = None

    def start(self, timeout=30):
        self.proc = spawn(["epmd", "-port", str(self.port), "-address", LOOPBACK],
                          self.name, self.out_path)

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s" % (
                    self.name, self.proc.returncode, tail(self.out_path)))
            return port_accepts(self.port) and self.proc.pid in port_owner_pids(self.port)
        wait_until(ready, timeout, interval=0.02, what="%s on %d" % (self.name, self.port))

    def stop(self):
        if self.proc is not None:
            terminate(self.proc, signal.SIGTERM, 5)


class EjabberdCluster:
    """Two ejabberd nodes (nodes[1], nodes[2]; each an Ejabberd with .port for c2s,
    .component_port, .node, .log) forming one cluster serving "localhost". users are
    registered once the cluster is formed (random passwords, in .accounts, shared by the
    nodes so that env.xmpp(cluster.nodes[i], user) logs in on node i). kw: Ejabberd's
    options (component=(domain, secret) as component_domain/component_secret,
    modules_yaml, ...), the same for both nodes."""

    def __init__(self, env, cert, name="ejc", users=("bridge", "alice", "bob"), **kw):
        self.env = env
        self.name = name
        self.token = secrets.token_hex(3)
        self.cookie = secrets.token_hex(16)
        self.accounts = {}
        self.users = list(users)
        self.epmd = _Epmd(env, name + "-epmd")
        self.epmd_port = self.epmd.port
        self.nodes = {i: ClusterNode(env, cert, self, i, **kw) for i in (1, 2)}
        # env.close stops the nodes by pid, then the epmd
        env.servers += [self.nodes[1], self.nodes[2], self.epmd]
        self.timings = {}

    # -- membership ------------------------------------------------------------------
    def running_nodes(self, via):
        """The Erlang node names nodes[via] counts as running members of its cluster
        (mnesia's running db nodes, ejabberdctl list_cluster), or None if it cannot say."""
        rc, out = self.nodes[via].ctl("list_cluster")
        if rc != 0:
            return None
        return set(re.findall(r"[A-Za-z0-9_.-]+@localhost", out))

    def formed(self, via=1):
        """True when nodes[via] sees both nodes running in its cluster."""
        got = self.running_nodes(via)
        return got is not None and {self.nodes[1].node, self.nodes[2].node} <= got

    def wait_formed(self, timeout=NODE_START_TIMEOUT):
        """Waits until each node sees both running (asked of both: the restarted node may
        still be catching up while the other already counts it)."""
        wait_until(lambda: self.formed(1) and self.formed(2), timeout, interval=0.3,
                   what="%s: both nodes running in one cluster" % self.name)

    def _wait_ports_ours(self, node, timeout):
        def ready():
            if node.proc.poll() is not None:
                raise TestFailure("%s exited (%s):\n%s\n%s" % (
                    node.name, node.proc.returncode, tail(node.out_path), tail(node.log.path)))
            fam = node.family()
            return all(port_accepts(p) and port_owner_pids(p) & fam for p in node.ports())
        wait_until(ready, timeout, interval=0.1, what=node.ready_what())

    # -- start / stop ----------------------------------------------------------------
    def start(self):
        """epmd, node 1, node 2, node 2 joins node 1, the accounts."""
        t0 = time.monotonic()
        self.epmd.start()
        self.nodes[1].start(timeout=NODE_START_TIMEOUT)
        self.nodes[2].start(timeout=NODE_START_TIMEOUT)
        n1, n2 = self.nodes[1], self.nodes[2]
        mark = n2.log.mark()
        rc, out = n2.ctl("join_cluster", n1.node, timeout=NODE_START_TIMEOUT)
        if rc != 0:
            raise TestFailure("%s: join_cluster %s failed (%d): %s\n%s" % (
                n2.name, n1.node, rc, out, tail(n2.log.path)))
        # join_cluster restarted ejabberd inside node 2's VM: its listeners were closed
        # and opened again; wait for them, then for both to see the cluster
        n2.log.wait(r"ejabberd \S+ is started in the node", since=mark,
                    timeout=NODE_START_TIMEOUT)
        self._wait_ports_ours(n2, NODE_START_TIMEOUT)
        self.wait_formed()
        for user in self.users:
            self.register(user)
        self.timings["formed"] = time.monotonic() - t0
        return self

    def register(self, user, password=None):
        """Creates user@localhost on the cluster (through node 1); returns the password."""
        password = password or secrets.token_urlsafe(12)
        self.nodes[1]._register_now(user, password)
        self.accounts[user] = password
        return password

    def stop_node(self, i, sig=signal.SIGTERM):
        """Stops node i by its pid (sig; SIGKILL after 30 s) and waits until its ports are
        free; returns its exit status."""
        return self.nodes[i].stop(sig, timeout=30)

    def start_node(self, i):
        """Starts node i again (it rejoins the cluster by itself) and waits until its ports
        are its own and both nodes see it running; returns the seconds that took (timings:
"ports", the seconds until its ports were its own, "rejoined" the same as returned)."""
        t0 = time.monotonic()
        self.nodes[i].start(timeout=NODE_START_TIMEOUT)
        self.timings["ports"] = time.monotonic() - t0
        self.wait_formed()
        self.timings["rejoined"] = time.monotonic() - t0
        return self.timings["rejoined"]

    def stop(self):
        """Both nodes (by pid), then the epmd."""
        for i in (2, 1):
            if self.nodes[i].alive():
                self.stop_node(i)
        self.epmd.stop()

    # -- who is where ----------------------------------------------------------------
    def node_of_port(self, port):
        """The index of the node whose c2s or component port is port, or None."""
        for i, n in self.nodes.items():
            if port in (n.port, n.component_port):
                return i
        return None

    def nodes_of_pid(self, pid):
        """{index} of the nodes a process (e.g. a bridge) has an established TCP connection
        to, on their c2s or component port, found by its pid with ss."""
        r = subprocess.run(["ss", "-tnpH", "state", "established", "dst", LOOPBACK],
                           capture_output=True, text=True)
        out = set()
        for line in r.stdout.splitlines():
            if "pid=%d," % pid not in line:
                continue
            fields = line.split()
            peer = next((f for f in fields if f.startswith(LOOPBACK + ":") and
                         self.node_of_port(int(f.rsplit(":", 1)[1])) is not None), None)
            if peer:
                out.add(self.node_of_port(int(peer.rsplit(":", 1)[1])))
        return out

    def offline_count(self, user, via=1):
        """How many messages offline storage holds for user@localhost (asked of nodes[via])."""
        rc, out = self.nodes[via].ctl("get_offline_count", user, XMPP_DOMAIN)
        m = re.match(r"\s*(\d+)\s*$", out)
        if rc != 0 or not m:
            raise TestFailure("get_offline_count %s failed (%d): %s" % (user, rc, out))
        return int(m.group(1))

    def sessions(self, user, via=1):
        """{resource: node index} of user@localhost's sessions, as the cluster's session
        table (asked of nodes[via]) says: which node each connection is on."""
        rc, out = self.nodes[via].ctl("user_sessions_info", user, XMPP_DOMAIN)
        if rc != 0:
            raise TestFailure("user_sessions_info %s failed (%d): %s" % (user, rc, out))
        by_name = {n.node: i for i, n in self.nodes.items()}
        res = {}
        for line in out.splitlines():
            fields = line.split("\t")
            node = next((f for f in fields if f in by_name), None)
            if node is None:
                continue
            # the fields: connection ip port priority node uptime status resource statustext
            idx = fields.index(node)
            if len(fields) > idx + 3:
                res[fields[idx + 3]] = by_name[node]
        return res
