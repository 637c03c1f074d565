"""What the XMPP servers the tests run have in common: a directory and log files of their
own, accounts on the VirtualHost "localhost", start with a readiness check that the
listening ports belong to this instance, stop by pid until the ports are free again."""

import os
import secrets
import signal

from .procs import (TestFailure, free_port, port_accepts, port_owner_pids, spawn, tail,
                    terminate, wait_until)

XMPP_DOMAIN = "localhost"


class XmppServer:
    """The scaffolding of one throwaway XMPP server with its VirtualHost XMPP_DOMAIN and
    a c2s port with STARTTLS required (attributes env, name, cert, port, dir, log,
    out_path, proc, accounts). A subclass writes its config in __init__ after calling
    this one, and says how to run it:

        log_path()     where the server writes its own log (default env.tmp/NAME.log)
        start_timeout  the default time limit of start()
        ready_interval how often start() polls for readiness
        argv()         the command line; spawn_env(): its environment (None: ours)
        ports()        the ports that must accept connections and be ours to be ready
        family()       the pids that count as this instance when owning a port
        register_now(user, password)  creates an account; can_register_now() says when
        before_start(), after_start(), after_terminate(): hooks around start and stop
    """

    start_timeout = 15
    ready_interval = 0.02

    def __init__(self, env, cert, name):
        self.env = env
        self.name = name
        self.cert = cert
        self.port = free_port()
        self.dir = os.path.join(env.tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.log = env.register_log(self.log_path(), name, lambda: self.proc)
        self.out_path = os.path.join(env.tmp, name + ".out")
        env.register_log(self.out_path, name + " stdout/stderr")
        self.proc = None
        self.accounts = {}
        self._pending = []  # accounts to create once the server runs

    # -- what a subclass says ---------------------------------------------------------
    def log_path(self):
        return os.path.join(self.env.tmp, self.name + ".log")

    def argv(self):
        raise NotImplementedError

    def spawn_env(self):
        return None

    def ports(self):
        return [self.port]

    def family(self):
        return {self.proc.pid}

    def can_register_now(self):
        return True

    def register_now(self, user, password):
        raise NotImplementedError

    def before_start(self):
        pass

    def after_start(self):
        pass

    def after_terminate(self):
        pass

    def ready_what(self):
        return "%s listening on %s" % (self.name, "/".join(str(p) for p in self.ports()))

    # -- accounts ---------------------------------------------------------------------
    def register(self, user, password=None):
        """Creates user@localhost (now, or right after the server started when it must run
        for that); returns the password, also kept in .accounts."""
        password = password or secrets.token_urlsafe(12)
        if self.can_register_now():
            self.register_now(user, password)
        else:
            self._pending.append((user, password))
        self.accounts[user] = password
        return password

    # -- start / stop -----------------------------------------------------------------
    def start(self, timeout=None):
        """Starts the server and waits until every port of ports() accepts connections
        and is owned by this instance (a taken port must not pass for ours); raises
        TestFailure with the log tails if it exits first or is not ready in time."""
        self.before_start()
        self.proc = spawn(self.argv(), self.name, self.out_path, env=self.spawn_env())

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("%s exited (%s) at start:\n%s\n%s" % (
                    self.name, self.proc.returncode, tail(self.out_path),
                    tail(self.log.path)))
            ports = self.ports()
            if not all(port_accepts(p) for p in ports):
                return False
            fam = self.family()
            return all(port_owner_pids(p) & fam for p in ports)
        wait_until(ready, self.start_timeout if timeout is None else timeout,
                   interval=self.ready_interval, what=self.ready_what())
        pending, self._pending = self._pending, []
        for user, password in pending:
            self.register_now(user, password)
        self.after_start()
        return self

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the server by its pid (sig, then SIGKILL after timeout) and waits until
        its ports are free again, so that a restart can bind them; returns the status."""
        if self.proc is None:
            return None
        rc = terminate(self.proc, sig, timeout)
        self.after_terminate()
        ports = self.ports()
        wait_until(lambda: not any(port_owner_pids(p) for p in ports), 10,
                   what="%s port%s released" % (self.name, "s" if len(ports) > 1 else ""))
        return rc

    def restart(self):
        self.stop()
        return self.start()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None
