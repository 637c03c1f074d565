"""The XMPP test client: slixmpp in a thread of its own behind a synchronous API."""

import asyncio
import concurrent.futures
import threading
import time
import xml.etree.ElementTree as ET
from collections import namedtuple

from .procs import LOOPBACK, TestFailure, wait_until

Message = namedtuple("Message", "body frm type error xml")
Presence = namedtuple("Presence", "frm type show status xml")
IqResult = namedtuple("IqResult", "type error xml")


class XmppClient:
    """A synchronous wrapper over slixmpp. The asyncio loop and the ClientXMPP live in a
    background thread; methods of this class are called from the test's thread.

    Messages (every <message/> with a body or of type error) are queued; wait_message
    returns and consumes the first queued one that matches. Presences are recorded and the
    latest one of each full JID kept. Roster subscription requests are accepted and
    answered with a subscription back (slixmpp's auto_authorize/auto_subscribe), unless
    auto_authorize=False."""

    def __init__(self, env, jid, password, port, ca_file, auto_authorize=True, name=None,
                 plugins=()):
        self.env = env
        self.jid = jid
        self.password = password
        self.port = port
        self.ca_file = ca_file
        self.auto_authorize = auto_authorize
        self.name = name or jid.split("@")[0]
        self.loop = None
        self.xmpp = None
        self.thread = None
        self._cond = threading.Condition()
        self.messages = []     # not yet consumed
        self.all_messages = []
        self.presences = []
        self.iqs = []          # every <iq/> received (ET elements), for diagnostics
        # slixmpp plugins to register (e.g. xep_0115, xep_0080: caps with geoloc+notify)
        self.plugins = plugins
        self.pep_events = []   # (from, ET element) of every message with a pubsub event
        self.pubsub_events = []  # (from, <event/> element) of XEP-0060 notifications
        self.state = "new"     # new, connecting, online, failed, auth_failed, disconnected
        self.failure = None
        self.events = []       # (time, name, detail)
        env.clients.append(self)

    # -- thread side -----------------------------------------------------------------
    def _record(self, name, detail=None):
        with self._cond:
            self.events.append((time.monotonic(), name, detail))
            self._cond.notify_all()

    def _set_state(self, state, failure=None):
        with self._cond:
            self.state = state
            if failure is not None:
                self.failure = failure
            self.events.append((time.monotonic(), "state", state))
            self._cond.notify_all()

    def _thread_main(self, started):
        import slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.loop = loop
        try:
            x = slixmpp.ClientXMPP(self.jid, self.password)
            x.ca_certs = self.ca_file
            # slixmpp checks the certificate against default_domain, which it leaves
            # empty (= no hostname check) when connecting to an IP address
            x.default_domain = self.jid.split("@", 1)[1].split("/", 1)[0]

            async def no_dns(_domain, _port=None):
                return None  # connect to 127.0.0.1:port only, never to what DNS says
            x._pick_dns_answer = no_dns
            x.auto_reconnect = False
            x.roster.auto_authorize = True if self.auto_authorize else None
            x.roster.auto_subscribe = bool(self.auto_authorize)
            for plugin in self.plugins:
                x.register_plugin(plugin)
            self.xmpp = x

            async def on_session_start(_ev):
                x.send_presence()
                try:
                    await x.get_roster(timeout=10)
                except Exception as e:  # noqa: BLE001
                    self._record("roster_error", repr(e))
                self._set_state("online")

            def on_message(stanza):
                t = stanza.xml.get("type") or "normal"
                body_el = stanza.xml.find("{jabber:client}body")
                body = body_el.text if body_el is not None else None
                ev = stanza.xml.find("{http://jabber.org/protocol/pubsub#event}event")
                if ev is not None and t != "error":
                    with self._cond:
                        self.pubsub_events.append((str(stanza["from"]), ev))
                        self._cond.notify_all()
                if body is None and t != "error":
                    return
                if body is None:
                    body = ""
                err = None
                if t == "error":
                    e = stanza.xml.find("{jabber:client}error")
                    if e is not None:
                        for c in e:
                            if c.tag.startswith("{urn:ietf:params:xml:ns:xmpp-stanzas}") and \
                                    not c.tag.endswith("}text"):
                                err = c.tag.split("}", 1)[1]
                                break
                m = Message(body, str(stanza["from"]), t, err, str(stanza))
                with self._cond:
                    self.messages.append(m)
                    self.all_messages.append(m)
                    self._cond.notify_all()

            def on_presence(stanza):
                el = stanza.xml
                show = el.findtext("{jabber:client}show")
                status = el.findtext("{jabber:client}status")
                p = Presence(str(stanza["from"]), el.get("type") or "available", show, status,
                             str(stanza))
                with self._cond:
                    self.presences.append(p)
                    self._cond.notify_all()

            x.register_handler(Callback("mxb test messages",
                                        MatchXPath("{jabber:client}message"), on_message))
            def on_iq(stanza):
                with self._cond:
                    self.iqs.append(stanza.xml)
            x.register_handler(Callback("mxb test iqs", MatchXPath("{jabber:client}iq"), on_iq))

            def on_pep(stanza):
                with self._cond:
                    self.pep_events.append((str(stanza["from"]), stanza.xml))
                    self._cond.notify_all()
            x.register_handler(Callback("mxb test pep", MatchXPath(
                "{jabber:client}message/{http://jabber.org/protocol/pubsub#event}event"),
                on_pep))
            x.register_handler(Callback("mxb test presences",
                                        MatchXPath("{jabber:client}presence"), on_presence))
            x.add_event_handler("session_start", on_session_start)
            x.add_event_handler("failed_auth", lambda ev: self._set_state(
                "auth_failed", "authentication failed"))
            x.add_event_handler("failed_all_auth", lambda ev: self._set_state(
                "auth_failed", "authentication failed"))
            x.add_event_handler("connection_failed", lambda e: self._record(
                "connection_failed", str(e)))
            x.add_event_handler("disconnected", lambda reason: self._set_state(
                "disconnected", "disconnected: %s" % (reason,))
                if self.state != "auth_failed" else None)
            x.add_event_handler("stream_error", lambda e: self._record("stream_error", str(e)))
            self._set_state("connecting")
            x.connect(address=(LOOPBACK, self.port), force_starttls=True,
                      disable_starttls=False)
        except BaseException as e:  # noqa: BLE001
            self._set_state("failed", "setup: %r" % (e,))
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            except Exception:
                pass
            loop.close()

    # -- test side ---------------------------------------------------------------------
    def call(self, fn, *args, timeout=10.0):
        """Runs fn(*args) in the client's loop; awaits it if it returns a coroutine."""
        fut = concurrent.futures.Future()

        def runner():
            try:
                r = fn(*args)
                if asyncio.iscoroutine(r):
                    task = asyncio.ensure_future(r)

                    def done(t):
                        if t.cancelled():
                            fut.set_exception(concurrent.futures.CancelledError())
                        elif t.exception() is not None:
                            fut.set_exception(t.exception())
                        else:
                            fut.set_result(t.result())
                    task.add_done_callback(done)
                else:
                    fut.set_result(r)
            except BaseException as e:  # noqa: BLE001
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(runner)
        return fut.result(timeout)

    def connect(self, timeout=15.0, expect_failure=False):
        """Connects, STARTTLS verified against ca_file, authenticates, binds, fetches the
        roster and sends initial presence. Returns self, or raises TestFailure (with
        expect_failure: returns the failure state instead of raising)."""
        started = threading.Event()
        self.thread = threading.Thread(target=self._thread_main, args=(started,),
                                       name="xmpp-" + self.name, daemon=True)
        self.thread.start()
        started.wait(10)
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.state not in ("online", "failed", "auth_failed", "disconnected"):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            state = self.state
        if state == "online":
            return state if expect_failure else self
        failure = self.failure or "timeout (state %s, events %s)" % (
            state, [e[1:] for e in self.events[-5:]])
        self._abort()
        if expect_failure:
            return state
        raise TestFailure("xmpp client %s could not log in: %s" % (self.jid, failure))

    @property
    def full_jid(self):
        return str(self.xmpp.boundjid)

    def online(self):
        return self.state == "online"

    def send_message(self, to, body, mtype="chat"):
        self.call(lambda: self.xmpp.send_message(mto=to, mbody=body, mtype=mtype))

    def send_raw(self, data):
        self.call(lambda: self.xmpp.send_raw(data))

    def wait_message(self, predicate=None, timeout=10.0, frm=None, body=None, mtype=None):
        """Returns (and consumes) the first received message satisfying every criterion:
        predicate(msg), frm (bare or full JID), body (exact), mtype. Raises TestFailure on
        timeout, listing what did arrive."""
        m = self.poll_message(predicate, timeout, frm, body, mtype)
        if m is None:
            with self._cond:
                got = [(x.frm, x.type, x.body) for x in self.messages]
            raise TestFailure("%s: no matching message (from=%r body=%r type=%r) within "
                              "%.1f s; unconsumed messages: %r" % (self.jid, frm, body, mtype,
                                                                   timeout, got))
        return m

    def poll_message(self, predicate=None, timeout=10.0, frm=None, body=None, mtype=None):
        """Like wait_message, but returns None on timeout."""
        def ok(m):
            if frm is not None and m.frm != frm and m.frm.split("/")[0] != frm:
                return False
            if body is not None and m.body != body:
                return False
            if mtype is not None and m.type != mtype:
                return False
            return predicate is None or predicate(m)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, m in enumerate(self.messages):
                    if ok(m):
                        del self.messages[i]
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def poll_pubsub(self, predicate, timeout=10.0):
        """Returns (and consumes) the first XEP-0060 notification (from, <event/> element)
        for which predicate(frm, event) holds, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (frm, ev) in enumerate(self.pubsub_events):
                    if predicate(frm, ev):
                        del self.pubsub_events[i]
                        return frm, ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def no_message(self, duration, predicate=None, frm=None):
        """Returns a matching message if one arrives within duration (None = good)."""
        return self.poll_message(predicate, duration, frm)

    def drain(self):
        with self._cond:
            msgs, self.messages = self.messages, []
        return msgs

    def presence_of(self, jid):
        """The latest presence from jid (full JID, or bare: latest of any resource)."""
        with self._cond:
            for p in reversed(self.presences):
                if p.frm == jid or p.frm.split("/")[0] == jid:
                    return p
        return None

    def wait_presence(self, jid, available=True, timeout=10.0, since=None):
        """Waits until the latest presence from jid (full or bare) is available (True) or
        unavailable (False). since: only presences recorded after index since count
        (see presence_mark)."""
        want = "available" if available else "unavailable"
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pres = self.presences[since:] if since is not None else self.presences
                last = None
                for p in reversed(pres):
                    if p.frm == jid or p.frm.split("/")[0] == jid:
                        if p.type in ("available", "unavailable"):
                            last = p
                            break
                if last is not None and last.type == want:
                    return last
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("%s: presence of %s not %s within %.1f s (last: %r)" % (
                        self.jid, jid, want, timeout, last and last.type))
                self._cond.wait(left)

    def join_room(self, room, nick, timeout=10.0):
        """Joins room as nick (no history asked for); returns once the room echoed the
        client's own presence."""
        mark = self.presence_mark()
        self.send_raw("<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'/>"
                      "</presence>" % (room, nick))
        self.wait_presence("%s/%s" % (room, nick), True, timeout=timeout, since=mark)

    def pep_mark(self):
        with self._cond:
            return len(self.pep_events)

    def wait_pep(self, predicate, timeout=10.0, since=0):
        """The first PEP event (from, ET element of the message) after index since for
        which predicate(frm, xml) holds; raises TestFailure after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for frm, xml in self.pep_events[since:]:
                    if predicate(frm, xml):
                        return frm, xml
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("%s: no matching PEP event within %.1f s (%d seen)" % (
                        self.jid, timeout, len(self.pep_events) - since))
                self._cond.wait(left)

    def presence_mark(self):
        with self._cond:
            return len(self.presences)

    def subscribe(self, jid):
        """Asks jid for a presence subscription (<presence type='subscribe'/>)."""
        self.call(lambda: self.xmpp.send_presence(pto=jid, ptype="subscribe"))

    def subscription(self, jid):
        """The roster subscription state of jid: none, to, from, both (or None)."""
        def get():
            roster = self.xmpp.client_roster
            if jid not in roster:
                return None
            return roster[jid]["subscription"]
        return self.call(get)

    def wait_subscription(self, jid, states=("both",), timeout=10.0):
        return wait_until(lambda: self.subscription(jid) in states and self.subscription(jid),
                          timeout, interval=0.05,
                          what="%s roster: subscription to %s in %s (now %r)" % (
                              self.jid, jid, states, self.subscription(jid)))

    def iq(self, to, itype, payload_xml, timeout=10.0):
        """Sends an IQ with payload_xml as its child; returns IqResult(type, error, xml)
        (type 'timeout' when no answer came)."""
        from slixmpp.exceptions import IqError, IqTimeout

        async def go():
            iq = self.xmpp.Iq()
            iq["id"] = self.xmpp.new_id()
            iq["to"] = to
            iq["type"] = itype
            iq.xml.append(ET.fromstring(payload_xml))
            try:
                resp = await iq.send(timeout=timeout)
            except IqError as e:
                resp = e.iq
            except IqTimeout:
                # an answer with the same id but a wrong type does not count: say so
                with self._cond:
                    same = [e for e in self.iqs if e.get("id") == iq["id"]]
                if same:
                    return IqResult("timeout", "an answer with type=%r came: %s" % (
                        same[0].get("type"), ET.tostring(same[0], "unicode")[:300]), same[0])
                return IqResult("timeout", None, None)
            err = None
            if resp["type"] == "error":
                err = resp["error"]["condition"]
            return IqResult(resp["type"], err, resp.xml)
        return self.call(go, timeout=timeout + 5)

    def _abort(self):
        if self.loop is None or self.loop.is_closed():
            return

        def stop():
            try:
                self.xmpp.cancel_connection_attempt()
                self.xmpp.abort()
            except Exception:
                pass
            self.loop.stop()
        try:
            self.loop.call_soon_threadsafe(stop)
        except RuntimeError:
            pass
        if self.thread:
            self.thread.join(5)

    def disconnect(self, timeout=5.0):
        """Closes the stream (unavailable presence, </stream>) and stops the thread."""
        if self.loop is None or self.loop.is_closed():
            return
        if self.state == "online":
            try:
                self.call(lambda: self.xmpp.disconnect(wait=2.0), timeout=timeout)
                with self._cond:
                    self._cond.wait_for(lambda: self.state == "disconnected", timeout)
            except Exception:
                pass
        self._abort()
