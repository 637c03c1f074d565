/*
 * The dashboard of mqtt-xmpp-bridge's devices: logs in with the user's own XMPP account
 * (WebSocket or BOSH, through Strophe.js), shows a tile per device of the bridge's
 * component in the roster, live as presence arrives, sends on/off/toggle as chat and
 * shows the device's answer, and shows the bridge's alarm room.
 *
 * Peer data only ever reaches the page as text (textContent), never as markup.
 * Nothing is stored but, when asked, the JID (localStorage "mxb-dashboard-jid"); the
 * password lives in this page's memory for reconnecting and is gone when the page is.
 */
(function () {
	"use strict";

	const NS_ROSTER = "jabber:iq:roster";
	const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
	const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
	const NS_MUC = "http://jabber.org/protocol/muc";
	const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
	const NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner";
	const NS_XDATA = "jabber:x:data";
	const NS_DELAY = "urn:xmpp:delay";
	const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
	const REL_WEBSOCKET = "urn:xmpp:alt-connections:websocket";
	const REL_BOSH = "urn:xmpp:alt-connections:xbosh";
	const REMEMBER_KEY = "mxb-dashboard-jid";
	const COMMAND_TIMEOUT_S = 30;
	const ROOM_LINES_MAX = 300;
	const RECONNECT_MAX_S = 30;
	const PING_EVERY_S = 60;
	const PING_TIMEOUT_S = 20;
	const NS_PING = "urn:xmpp:ping";

	const S = window.Strophe;
	const $ = (id) => document.getElementById(id);

	/* ---------------------------------------------------------------------------------
	 * Settings: config.js, then the page's query, which wins. */
	const QUERY_KEYS = {
		ws: "websocket", websocket: "websocket", bosh: "bosh", transport: "transport",
		component: "component", room: "room", nick: "nick", history: "history",
		timeout: "timeout", jid: "jid",
	};
	const config = Object.assign({
		websocket: "", bosh: "", transport: "auto", component: "", room: "", nick: "",
		history: 10, timeout: 15, jid: "",
	}, window.MXB_CONFIG || {});
	const fromQuery = {};
	for (const [k, v] of new URLSearchParams(location.search)) {
		if (QUERY_KEYS[k])
			fromQuery[QUERY_KEYS[k]] = v;
	}
	Object.assign(config, fromQuery);
	config.timeout = clampNumber(config.timeout, 2, 300, 15);
	config.history = clampNumber(config.history, 0, 100, 10);

	function clampNumber(v, lo, hi, dflt) {
		const n = Number(v);
		return Number.isFinite(n) ? Math.min(hi, Math.max(lo, n)) : dflt;
	}

	function splitList(v) {
		if (Array.isArray(v))
			return v.map(String).map((s) => s.trim()).filter(Boolean);
		return String(v || "").split(/[\s,]+/).filter(Boolean);
	}

	/* ---------------------------------------------------------------------------------
	 * The page's state: one session at a time. */
	let session = null;
	const devices = new Map(); /* bare JID -> device, see deviceOf() */

	/* ---------------------------------------------------------------------------------
	 * Small helpers */
	function setConnState(text) {
		$("conn-state").textContent = text;
	}

	function showAlert(text, retry) {
		$("alert-text").textContent = text;
		$("alert-retry").hidden = !retry;
		$("alert").hidden = false;
	}

	function hideAlert() {
		$("alert").hidden = true;
		$("alert-text").textContent = "";
	}

	function formatTime(d) {
		const now = new Date();
		const sameDay = d.toDateString() === now.toDateString();
		return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
	}

	function childText(el, name, ns) {
		for (const c of el.children) {
			if (c.localName === name && (!ns || c.namespaceURI === ns))
				return c.textContent;
		}
		return null;
	}

	function child(el, name, ns) {
		for (const c of el.children) {
			if (c.localName === name && (!ns || c.namespaceURI === ns))
				return c;
		}
		return null;
	}

	/* The defined condition of an error stanza, and its text when the server gave one. */
	function stanzaError(el) {
		const err = child(el, "error");
		if (!err)
			return "error";
		let cond = "error";
		let text = "";
		for (const c of err.children) {
			if (c.namespaceURI !== NS_STANZAS)
				continue;
			if (c.localName === "text")
				text = c.textContent;
			else
				cond = c.localName;
		}
		return text ? cond + " (" + text + ")" : cond;
	}

	function domainOf(jid) {
		return S.getDomainFromJid(jid) || "";
	}

	function bare(jid) {
		return S.getBareJidFromJid(jid || "") || "";
	}

	/* A JID local part as the bridge accepts device names (docs/configuration.md). */
	function validDeviceName(name) {
		return /^[\x21-\x7e]{1,64}$/.test(name) && !/[@/:<>&'"]/.test(name);
	}

	/* An IQ as a promise: resolves with the result, rejects with the error condition. */
	function sendIq(iq, timeoutS) {
		const c = session && session.conn;
		return new Promise((resolve, reject) => {
			if (!c)
				return reject(new Error("not connected"));
			c.sendIQ(iq, resolve, (el) => reject(new Error(el ? stanzaError(el) : "timeout")),
				(timeoutS || 10) * 1000);
		});
	}

	/* ---------------------------------------------------------------------------------
	 * Where to connect: the query, else the server's host-meta (XEP-0156), else config.js.
	 */
	function absoluteUrl(url, websocket) {
		if (!url)
			return "";
		let u;
		try {
			u = new URL(url, location.href);
		} catch (e) {
			return "";
		}
		if (websocket && (u.protocol === "http:" || u.protocol === "https:"))
			u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
		const ok = websocket ? ["ws:", "wss:"] : ["http:", "https:"];
		return ok.includes(u.protocol) ? u.href : "";
	}

	async function fetchHostMeta(url, json) {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), 2500);
		try {
			const res = await fetch(url, {
				signal: ctl.signal, cache: "no-store", credentials: "omit",
				headers: { Accept: json ? "application/json" : "application/xrd+xml" },
			});
			if (!res.ok)
				return null;
			const text = await res.text();
			let links = [];
			if (json) {
				const doc = JSON.parse(text);
				links = Array.isArray(doc.links) ? doc.links : [];
			} else {
				const doc = new DOMParser().parseFromString(text, "application/xml");
				links = Array.from(doc.getElementsByTagName("Link")).map((l) => ({
					rel: l.getAttribute("rel"), href: l.getAttribute("href"),
				}));
			}
			const find = (rel) => {
				const l = links.find((x) => x && x.rel === rel && typeof x.href === "string");
				return l ? l.href : "";
			};
			const out = { websocket: find(REL_WEBSOCKET), bosh: find(REL_BOSH), source: url };
			return out.websocket || out.bosh ? out : null;
		} catch (e) {
			return null;
		} finally {
			clearTimeout(timer);
		}
	}

	/* The page's own server first (a page the XMPP server serves itself), then the JID's
	 * domain as XEP-0156 says; the first that answers with a link is taken. */
	async function discover(domain) {
		const bases = [];
		if (location.protocol === "http:" || location.protocol === "https:")
			bases.push(location.origin);
		if (domain && !bases.includes("https://" + domain))
			bases.push("https://" + domain);
		for (const base of bases) {
			for (const json of [true, false]) {
				const r = await fetchHostMeta(
					base + "/.well-known/host-meta" + (json ? ".json" : ""), json);
				if (r)
					return r;
			}
		}
		return null;
	}

	async function endpoints(domain, form) {
		const out = { websocket: form.websocket, bosh: form.bosh, source: "the form" };
		if (!out.websocket && fromQuery.websocket)
			out.websocket = fromQuery.websocket;
		if (!out.bosh && fromQuery.bosh)
			out.bosh = fromQuery.bosh;
		const need = form.transport === "bosh" ? !out.bosh :
			form.transport === "websocket" ? !out.websocket : !(out.websocket || out.bosh);
		if (need) {
			setConnState("Looking up the server's connection addresses…");
			const hm = await discover(domain);
			if (hm) {
				out.websocket = out.websocket || hm.websocket;
				out.bosh = out.bosh || hm.bosh;
				out.source = hm.source;
			}
		}
		out.websocket = absoluteUrl(out.websocket || config.websocket, true);
		out.bosh = absoluteUrl(out.bosh || config.bosh, false);
		return out;
	}

	function candidates(eps, transport) {
		const ws = eps.websocket && "WebSocket" in window ?
			{ kind: "WebSocket", url: eps.websocket } : null;
		const bosh = eps.bosh ? { kind: "BOSH", url: eps.bosh } : null;
		if (transport === "websocket")
			return ws ? [ws] : [];
		if (transport === "bosh")
			return bosh ? [bosh] : [];
		return [ws, bosh].filter(Boolean);
	}

	/* ---------------------------------------------------------------------------------
	 * Logging in, the connection's life, and saying what went wrong. */
	async function onLogin(ev) {
		ev.preventDefault();
		hideAlert();
		const jid = $("jid").value.trim();
		const password = $("password").value;
		if (!/^[^@/\s]+@[^@/\s]+$/.test(jid)) {
			showAlert("Enter your address as name@server, e.g. alice@example.org.");
			$("jid").focus();
			return;
		}
		if (!password) {
			showAlert("Enter your password.");
			$("password").focus();
			return;
		}
		try {
			if ($("remember").checked)
				localStorage.setItem(REMEMBER_KEY, jid);
			else
				localStorage.removeItem(REMEMBER_KEY);
		} catch (e) {
			/* storage refused (private mode): nothing to remember then */
		}
		const form = {
			transport: $("transport").value,
			websocket: $("ws-url").value.trim(),
			bosh: $("bosh-url").value.trim(),
		};
		$("login-button").disabled = true;
		const eps = await endpoints(domainOf(jid), form);
		const list = candidates(eps, form.transport);
		if (!list.length) {
			$("login-button").disabled = false;
			setConnState("Not connected");
			showAlert("No " + (form.transport === "bosh" ? "BOSH" :
				form.transport === "websocket" ? "WebSocket" : "WebSocket or BOSH") +
				" address for " + domainOf(jid) + ": the server's /.well-known/host-meta " +
				"names none and config.js sets none. Enter one under \"Server connection\".");
			return;
		}
		session = {
			jid: jid, password: password, domain: domainOf(jid),
			resource: "dashboard-" + Math.random().toString(16).slice(2, 8),
			candidates: list, working: 0, conn: null, attempt: null,
			connected: false, everConnected: false, userLogout: false,
			reconnectDelay: 1, reconnectTimer: null, countdown: null,
			roster: new Map(), deviceDomains: null, room: null,
		};
		$("password").value = "";
		connect(0);
	}

	function connect(index) {
		const ep = session.candidates[index];
		const c = new S.Connection(ep.url, { keepalive: false });
		const a = { conn: c, ep: ep, index: index, over: false, timer: null };
		session.conn = c;
		session.attempt = a;
		setConnState("Connecting over " + ep.kind + " to " + ep.url + "…");
		a.timer = setTimeout(() => onAttemptTimeout(a), config.timeout * 1000);
		c.connect(session.jid + "/" + session.resource, session.password,
			(status, cond) => onStatus(a, status, cond));
	}

	function onStatus(a, status, cond) {
		const St = S.Status;
		if (!session || session.attempt !== a)
			return;
		switch (status) {
		case St.CONNECTING:
			setConnState("Connecting over " + a.ep.kind + " to " + a.ep.url + "…");
			break;
		case St.AUTHENTICATING:
			setConnState("Logging in as " + session.jid + "…");
			break;
		case St.CONNECTED:
			clearTimeout(a.timer);
			session.connected = true;
			session.everConnected = true;
			session.working = a.index;
			session.reconnectDelay = 1;
			hideAlert();
			setConnState("Connected as " + session.jid + " over " + a.ep.kind);
			onConnected(a.conn);
			startPings(a);
			break;
		case St.AUTHFAIL:
			endAttempt(a);
			loginFailed("Wrong address or password: the server refused the login of " +
				session.jid + ".");
			break;
		case St.CONNFAIL:
			if (session.connected) {
				session.lostReason = cond;
				break; /* DISCONNECTED follows */
			}
			endAttempt(a);
			attemptFailed(a, cond);
			break;
		case St.CONNTIMEOUT:
			if (!session.connected) {
				endAttempt(a);
				attemptFailed(a, "timeout");
			}
			break;
		case St.DISCONNECTED:
			if (a.over)
				break;
			a.over = true;
			clearTimeout(a.timer);
			if (session.userLogout)
				break;
			if (session.connected)
				connectionLost(session.lostReason);
			else
				attemptFailed(a, cond || "disconnected");
			break;
		default:
			break;
		}
	}

	/* A connection cut without a word (a phone that changed networks, a NAT that forgot
	 * it) shows only when something is sent: ping the server now and then (XEP-0199). */
	function startPings(a) {
		const s = session;
		const timer = setInterval(() => {
			if (session !== s || s.attempt !== a || !s.connected) {
				clearInterval(timer);
				return;
			}
			sendIq($iq({ type: "get", to: s.domain }).c("ping", { xmlns: NS_PING }),
				PING_TIMEOUT_S).catch((e) => {
				/* an error reply is an answer too; only silence means the link is gone */
				if (e.message === "timeout" && session === s && s.attempt === a &&
					s.connected) {
					s.lostReason = "no answer to a ping within " + PING_TIMEOUT_S + " s";
					a.conn.disconnect(s.lostReason);
				}
			});
		}, PING_EVERY_S * 1000);
	}

	/* Stops an attempt for good: Strophe's BOSH keeps retrying a blocked request on its
	 * own, so a refused origin would otherwise never end. */
	function endAttempt(a) {
		if (a.over)
			return;
		a.over = true;
		clearTimeout(a.timer);
		try {
			a.conn.disconnect();
		} catch (e) {
			/* already gone */
		}
	}

	function onAttemptTimeout(a) {
		if (!session || session.attempt !== a || a.over || session.connected)
			return;
		endAttempt(a);
		attemptFailed(a, "timeout");
	}

	/* A login attempt that did not get through: the next transport, or the reason. */
	async function attemptFailed(a, cond) {
		const s = session;
		if (!s || s.attempt !== a)
			return;
		const why = await diagnose(a.ep, cond);
		if (session !== s || s.attempt !== a)
			return;
		/* after a session was up, the transport that worked is retried with backoff:
		 * a server that restarts is down for both */
		if (!s.everConnected && a.index + 1 < s.candidates.length && !why.final) {
			const next = s.candidates[a.index + 1];
			setConnState(a.ep.kind + " failed; trying " + next.kind + "…");
			connect(a.index + 1);
			return;
		}
		if (s.everConnected) {
			scheduleReconnect("Still no connection: " + why.text);
			return;
		}
		loginFailed(why.text);
	}

	/* What a failed attempt means, as far as a page can tell: a browser hides why a
	 * request failed, so the page asks again without CORS (an opaque answer tells that
	 * something answers there) to tell a refused origin from an unreachable server. */
	async function diagnose(ep, cond) {
		const c = String(cond || "");
		if (/no-auth-mech|x-strophe-bad-non-anon-jid/i.test(c)) {
			return { final: true, text: "The server at " + ep.url + " offers no way to log " +
				"in over this connection. On plain http, Prosody needs consider_bosh_secure" +
				" = true and consider_websocket_secure = true." };
		}
		if (/host-unknown|improper-addressing/i.test(c)) {
			return { final: true, text: "The server at " + ep.url + " does not serve " +
				session.domain + " (" + c + ")." };
		}
		const httpUrl = ep.url.replace(/^ws/, "http");
		const answers = await reachable(httpUrl);
		const origin = location.origin;
		const cross = (() => {
			try {
				return new URL(httpUrl).origin !== origin;
			} catch (e) {
				return true;
			}
		})();
		if (!answers) {
			return { final: false, text: "Server unreachable: nothing answers at " + ep.url +
				" (" + ep.kind + ")." };
		}
		if (ep.kind === "BOSH" && cross) {
			return { final: false, text: "The server at " + ep.url + " answers, but not to " +
				"this page: it must allow the origin " + origin + " for BOSH (CORS; " +
				"Prosody: http_cors_override, see docs/dashboard.md)." };
		}
		if (ep.kind === "WebSocket") {
			return { final: false, text: "The server at " + ep.url + " answers HTTP but " +
				"did not accept the WebSocket connection (is the path right and WebSocket " +
				"enabled?)" + (c && c !== "timeout" ? ": " + c : ".") };
		}
		return { final: false, text: "The server at " + ep.url + " did not complete the " +
			"login within " + config.timeout + " s" + (c && c !== "timeout" ? " (" + c + ")" :
			"") + "." };
	}

	async function reachable(url) {
		const ctl = new AbortController();
		const timer = setTimeout(() => ctl.abort(), 3000);
		try {
			await fetch(url, { mode: "no-cors", cache: "no-store", credentials: "omit",
				signal: ctl.signal });
			return true;
		} catch (e) {
			return false;
		} finally {
			clearTimeout(timer);
		}
	}

	function loginFailed(text) {
		if (session) {
			clearTimeout(session.reconnectTimer);
			clearInterval(session.countdown);
		}
		session = null;
		clearDevices();
		showView("login");
		$("login-button").disabled = false;
		setConnState("Not connected");
		showAlert(text);
		$("password").focus();
	}

	function connectionLost(reason) {
		const s = session;
		s.connected = false;
		s.lostReason = null;
		markStale(true);
		scheduleReconnect("Connection to the server lost" +
			(reason ? " (" + reason + ")" : "") + ".");
	}

	function scheduleReconnect(text) {
		const s = session;
		clearTimeout(s.reconnectTimer);
		clearInterval(s.countdown);
		const delay = Math.min(RECONNECT_MAX_S, s.reconnectDelay) *
			(0.8 + 0.4 * Math.random());
		s.reconnectDelay = Math.min(RECONNECT_MAX_S, s.reconnectDelay * 2);
		const until = Date.now() + delay * 1000;
		const tick = () => {
			const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
			showAlert(text + " Reconnecting in " + left + " s.", true);
		};
		tick();
		setConnState("Not connected: reconnecting…");
		s.countdown = setInterval(tick, 1000);
		s.reconnectTimer = setTimeout(reconnectNow, delay * 1000);
	}

	function reconnectNow() {
		const s = session;
		if (!s || s.connected)
			return;
		clearTimeout(s.reconnectTimer);
		clearInterval(s.countdown);
		$("alert-retry").hidden = true;
		$("alert-text").textContent = "Reconnecting…";
		connect(s.working);
	}

	function logout() {
		const s = session;
		if (!s)
			return;
		s.userLogout = true;
		clearTimeout(s.reconnectTimer);
		clearInterval(s.countdown);
		try {
			if (s.conn)
				s.conn.disconnect("logout");
		} catch (e) {
			/* gone already */
		}
		session = null;
		clearDevices();
		hideAlert();
		showView("login");
		$("login-button").disabled = false;
		setConnState("Logged out");
		$("password").focus();
	}

	function showView(which) {
		const inSession = which !== "login";
		$("login-view").hidden = inSession;
		$("devices-view").hidden = !inSession;
		$("room-view").hidden = !inSession || !config.room;
		$("logout").hidden = !inSession;
	}

	/* ---------------------------------------------------------------------------------
	 * A session: roster, presence, device domains, room. */
	function onConnected(c) {
		c.addHandler(onPresence, null, "presence");
		c.addHandler(onMessage, null, "message");
		c.addHandler(onRosterPush, NS_ROSTER, "iq", "set");
		const first = $("devices-view").hidden;
		showView("devices");
		markStale(false);
		if (first)
			$("devices-title").focus();
		const s = session;
		sendIq($iq({ type: "get" }).c("query", { xmlns: NS_ROSTER }))
			.then((res) => {
				if (session !== s)
					return;
				s.roster.clear();
				const q = child(res, "query", NS_ROSTER);
				for (const item of q ? q.children : [])
					rosterItem(item);
			})
			.catch((e) => showAlert("The server did not give the roster: " + e.message))
			.then(() => session === s && s.connected ? findDeviceDomains() : null)
			.then(() => {
				if (session !== s || !s.connected)
					return;
				renderRoster();
				/* initial presence once the device domains are known: the server then
				 * probes the devices, and their answers must be recognised */
				c.send($pres());
			});
		joinRoom();
	}

	function rosterItem(item) {
		const jid = bare(item.getAttribute("jid"));
		if (!jid)
			return;
		const sub = item.getAttribute("subscription") || "none";
		if (sub === "remove") {
			session.roster.delete(jid);
			return;
		}
		session.roster.set(jid, {
			jid: jid, name: item.getAttribute("name") || "", subscription: sub,
			ask: item.getAttribute("ask") || "",
		});
	}

	function onRosterPush(iq) {
		const from = iq.getAttribute("from");
		if (from && bare(from) !== bare(session.jid) && from !== session.domain)
			return true; /* a push from anyone else is a forgery (RFC 6121 2.1.6) */
		const q = child(iq, "query", NS_ROSTER);
		for (const item of q ? q.children : []) {
			const jid = bare(item.getAttribute("jid"));
			rosterItem(item);
			const sub = item.getAttribute("subscription");
			if (sub === "remove")
				removeDevice(jid);
			if (jid === session.adding && (sub === "to" || sub === "both")) {
				session.adding = null;
				$("add-result").textContent = "Added " + S.getNodeFromJid(jid) + ".";
				$("add-name").value = "";
			}
		}
		session.conn.send($iq({ type: "result", id: iq.getAttribute("id") }));
		renderRoster();
		return true;
	}

	/* The bridge's component domains: config.js/query, else every domain among the
	 * server's items and the roster's domains whose disco#info says it is the bridge
	 * (identity category "gateway", type "mqtt", as src/component.c answers). */
	async function findDeviceDomains() {
		const s = session;
		const configured = splitList(config.component);
		if (configured.length) {
			s.deviceDomains = configured;
			showDomains();
			return;
		}
		const cands = new Set();
		try {
			const res = await sendIq($iq({ type: "get", to: s.domain })
				.c("query", { xmlns: NS_DISCO_ITEMS }), 5);
			const q = child(res, "query", NS_DISCO_ITEMS);
			for (const it of q ? q.children : []) {
				const j = it.getAttribute("jid") || "";
				if (j && !j.includes("@") && !j.includes("/"))
					cands.add(j);
			}
		} catch (e) {
			/* no items: the roster's domains may still tell */
		}
		for (const jid of s.roster.keys()) {
			const d = domainOf(jid);
			if (d && d !== s.domain)
				cands.add(d);
		}
		const found = await Promise.all(Array.from(cands).map(async (d) => {
			try {
				const res = await sendIq($iq({ type: "get", to: d })
					.c("query", { xmlns: NS_DISCO_INFO }), 5);
				const q = child(res, "query", NS_DISCO_INFO);
				for (const id of q ? q.children : []) {
					if (id.localName === "identity" &&
						id.getAttribute("category") === "gateway" &&
						id.getAttribute("type") === "mqtt")
						return d;
				}
			} catch (e) {
				/* not a bridge */
			}
			return null;
		}));
		if (session !== s)
			return;
		s.deviceDomains = found.filter(Boolean).sort();
		showDomains();
	}

	function showDomains() {
		const d = session.deviceDomains || [];
		$("add-domain").textContent = d.length ? "@" + d[0] : "";
		if (!d.length) {
			$("add-result").textContent = "No device bridge found on " + session.domain +
				": set its component domain in config.js (component) or the query " +
				"(?component=).";
		}
	}

	function isDeviceJid(jid) {
		const d = session && session.deviceDomains;
		return !!d && jid.includes("@") && d.includes(domainOf(jid));
	}

	/* ---------------------------------------------------------------------------------
	 * Presence and messages */
	function onPresence(p) {
		const from = p.getAttribute("from") || "";
		const type = p.getAttribute("type") || "available";
		const jid = bare(from);
		if (session.room && jid === session.room.jid) {
			onRoomPresence(p, from, type);
			return true;
		}
		if (type === "subscribe") {
			/* a device of ours asking back: it only wants to see us, as the bridge does */
			if (isDeviceJid(jid))
				session.conn.send($pres({ to: jid, type: "subscribed" }));
			return true;
		}
		if (type === "unsubscribed" && isDeviceJid(jid)) {
			const dev = deviceOf(jid, true);
			setNote(dev, "The bridge refused the subscription: " + session.jid +
				" is not allowed for this device.");
			$("add-result").textContent = "The bridge refused " + jid + " to " +
				session.jid + ".";
			return true;
		}
		if (type !== "available" && type !== "unavailable" && type !== "error")
			return true;
		if (!isDeviceJid(jid))
			return true;
		const dev = deviceOf(jid, true);
		let state = "offline";
		let note = "";
		if (type === "available") {
			const show = childText(p, "show") || "";
			state = ["away", "xa", "dnd"].includes(show) ? "away" : "online";
		} else if (type === "error") {
			note = "No presence: the bridge does not answer for it (" + stanzaError(p) + ").";
		}
		const status = type === "available" ? (childText(p, "status") || "") : "";
		if (dev.state !== state || dev.status !== status || dev.changed === null)
			dev.changed = new Date();
		dev.state = state;
		dev.status = status;
		dev.note = note;
		dev.seen = true;
		updateTile(dev);
		return true;
	}

	function onMessage(m) {
		const from = m.getAttribute("from") || "";
		const type = m.getAttribute("type") || "normal";
		const jid = bare(from);
		if (session.room && jid === session.room.jid) {
			onRoomMessage(m, from, type);
			return true;
		}
		if (!isDeviceJid(jid))
			return true;
		const dev = deviceOf(jid, true);
		if (type === "error") {
			const cond = stanzaError(m);
			setReply(dev, /forbidden/.test(cond) ?
				"Refused: " + session.jid + " may not command " + dev.name + "." :
				"Error from " + dev.name + ": " + cond, true);
			return true;
		}
		const body = childText(m, "body");
		if (body !== null)
			setReply(dev, body, false);
		return true;
	}

	/* ---------------------------------------------------------------------------------
	 * Devices and their tiles */
	function deviceOf(jid, create) {
		let dev = devices.get(jid);
		if (!dev && create) {
			dev = {
				jid: jid, name: S.getNodeFromJid(jid), state: "offline", status: "",
				changed: null, note: "", seen: false, el: null, pending: null,
			};
			devices.set(jid, dev);
			makeTile(dev);
		}
		return dev;
	}

	function makeTile(dev) {
		const li = $("tile-template").content.firstElementChild.cloneNode(true);
		const id = "tile-" + Math.random().toString(36).slice(2, 10);
		li.dataset.jid = dev.jid;
		li.querySelector("h3").id = id;
		li.querySelector("article").setAttribute("aria-labelledby", id);
		li.querySelector(".name").textContent = dev.name;
		li.querySelector(".name").title = dev.jid;
		const labels = { on: "Turn " + dev.name + " on", off: "Turn " + dev.name + " off",
			toggle: "Toggle " + dev.name };
		for (const b of li.querySelectorAll("button[data-command]")) {
			b.setAttribute("aria-label", labels[b.dataset.command]);
			b.addEventListener("click", () => sendCommand(dev, b.dataset.command));
		}
		const add = document.createElement("button");
		add.type = "button";
		add.className = "add";
		add.textContent = "Add to roster";
		add.setAttribute("aria-label", "Add " + dev.name + " to your roster");
		add.hidden = true;
		add.addEventListener("click", () => addDevice(dev.name, domainOf(dev.jid)));
		li.querySelector(".buttons").appendChild(add);
		dev.el = li;
		/* sorted by name, so that 100 tiles stay findable */
		const list = $("tiles");
		let before = null;
		for (const other of list.children) {
			if (other.querySelector(".name").textContent.localeCompare(dev.name) > 0) {
				before = other;
				break;
			}
		}
		list.insertBefore(li, before);
		updateTile(dev);
	}

	const STATE_LABEL = { online: "Online", away: "Away", offline: "Offline",
		pending: "Waiting", none: "Not in roster" };

	function updateTile(dev) {
		const li = dev.el;
		if (!li)
			return;
		const item = session && session.roster.get(dev.jid);
		let shown = dev.state;
		let note = dev.note;
		if (!item) {
			shown = dev.seen ? dev.state : "none";
			note = note || "Not in your roster: add it to command it.";
		} else if (item.subscription !== "to" && item.subscription !== "both") {
			if (item.ask === "subscribe") {
				shown = "pending";
				note = note || "Waiting for the bridge to approve the subscription…";
			} else {
				note = note || "No subscription to its presence.";
			}
		}
		li.dataset.state = shown;
		li.querySelector(".badge").textContent = STATE_LABEL[shown] || shown;
		li.querySelector(".status").textContent = dev.status;
		const t = li.querySelector("time");
		if (dev.changed) {
			t.dateTime = dev.changed.toISOString();
			t.textContent = formatTime(dev.changed);
			li.querySelector(".since").hidden = false;
		} else {
			li.querySelector(".since").hidden = true;
		}
		const noteEl = li.querySelector(".reply");
		if (!dev.replyText) {
			noteEl.textContent = note;
			noteEl.classList.remove("error");
		}
		li.querySelector(".add").hidden = !!item;
		for (const b of li.querySelectorAll("button[data-command]"))
			b.hidden = !item;
		applyFilter(li);
		updateCount();
	}

	function setNote(dev, text) {
		dev.note = text;
		dev.replyText = "";
		updateTile(dev);
	}

	function setReply(dev, text, error) {
		if (dev.pending) {
			clearTimeout(dev.pending.timer);
			dev.pending = null;
		}
		dev.replyText = text;
		const el = dev.el.querySelector(".reply");
		el.textContent = text + " — " + formatTime(new Date());
		el.classList.toggle("error", !!error);
	}

	function sendCommand(dev, command) {
		if (!session || !session.connected) {
			setReply(dev, "Not connected: nothing sent.", true);
			return;
		}
		session.conn.send($msg({ to: dev.jid, type: "chat" }).c("body").t(command));
		if (dev.pending)
			clearTimeout(dev.pending.timer);
		dev.replyText = "sent";
		const el = dev.el.querySelector(".reply");
		el.textContent = "Sent '" + command + "' to " + dev.name + "…";
		el.classList.remove("error");
		dev.pending = {
			command: command,
			timer: setTimeout(() => {
				dev.pending = null;
				setReply(dev, "No answer from " + dev.name + " within " + COMMAND_TIMEOUT_S +
					" s.", true);
			}, COMMAND_TIMEOUT_S * 1000),
		};
	}

	function removeDevice(jid) {
		const dev = devices.get(jid);
		if (!dev)
			return;
		if (dev.pending)
			clearTimeout(dev.pending.timer);
		if (dev.el)
			dev.el.remove();
		devices.delete(jid);
		updateCount();
	}

	function clearDevices() {
		for (const jid of Array.from(devices.keys()))
			removeDevice(jid);
		$("add-result").textContent = "";
		$("add-domain").textContent = "";
		$("room-log").textContent = "";
		$("room-state").textContent = "";
		setRoomInput(false);
	}

	/* Tiles for every roster item on a device domain (presence that came first included). */
	function renderRoster() {
		const s = session;
		if (!s || !s.deviceDomains)
			return;
		for (const item of s.roster.values()) {
			if (isDeviceJid(item.jid))
				deviceOf(item.jid, true);
		}
		for (const dev of devices.values())
			updateTile(dev);
		updateCount();
	}

	function markStale(stale) {
		$("tiles").classList.toggle("stale", stale);
		for (const b of $("tiles").querySelectorAll("button"))
			b.disabled = stale;
		$("room-input").disabled = stale || !(session && session.room && session.room.joined);
		$("room-send").disabled = $("room-input").disabled;
	}

	function updateCount() {
		const n = { online: 0, away: 0, offline: 0, other: 0 };
		for (const li of $("tiles").children) {
			const st = li.dataset.state;
			n[st in n ? st : "other"]++;
		}
		const total = $("tiles").children.length;
		$("no-devices").hidden = total > 0 || !session || !session.deviceDomains;
		$("device-count").textContent = total ? total + (total === 1 ? " device: " :
			" devices: ") + n.online + " online, " + n.away + " away, " + n.offline +
			" offline" + (n.other ? ", " + n.other + " not subscribed" : "") : "";
	}

	function applyFilter(li) {
		const f = $("filter").value.trim().toLowerCase();
		const text = (li.querySelector(".name").textContent + " " +
			li.querySelector(".badge").textContent + " " +
			li.querySelector(".status").textContent).toLowerCase();
		li.hidden = !!f && !text.includes(f);
	}

	function addDevice(name, domain) {
		const out = $("add-result");
		if (!session || !session.connected) {
			out.textContent = "Not connected.";
			return;
		}
		if (!domain) {
			out.textContent = "No device bridge known: set its component domain in " +
				"config.js (component).";
			return;
		}
		if (!validDeviceName(name)) {
			out.textContent = "'" + name + "' cannot be a device name (letters, digits " +
				"and punctuation other than @/:<>&'\" only, at most 64).";
			return;
		}
		const jid = name + "@" + domain;
		const item = session.roster.get(jid);
		if (item && (item.subscription === "to" || item.subscription === "both")) {
			out.textContent = name + " is already in your roster.";
			return;
		}
		/* the server adds the roster item; the bridge answers with "subscribed" and the
		 * device's presence */
		session.conn.send($pres({ to: jid, type: "subscribe" }));
		out.textContent = "Asked the bridge for " + jid + "…";
		session.adding = jid;
		deviceOf(jid, true);
	}

	/* ---------------------------------------------------------------------------------
	 * The group chat: the room the bridge posts alarms to. */
	function joinRoom() {
		const s = session;
		if (!config.room)
			return;
		const jid = bare(config.room);
		if (!s.room || s.room.jid !== jid) {
			const nick = config.nick || S.getNodeFromJid(s.jid);
			s.room = { jid: jid, nick: nick, baseNick: nick, tries: 0, joined: false,
				configured: false };
			$("room-title").textContent = "Group chat " + jid;
		}
		s.room.joined = false;
		$("room-log").textContent = ""; /* the history comes again with the join */
		const hist = config.history > 0 ? { maxstanzas: String(config.history) } :
			{ maxchars: "0" };
		s.conn.send($pres({ to: s.room.jid + "/" + s.room.nick })
			.c("x", { xmlns: NS_MUC }).c("history", hist));
		$("room-state").textContent = "Joining " + s.room.jid + " as " + s.room.nick + "…";
	}

	function onRoomPresence(p, from, type) {
		const r = session.room;
		const nick = S.getResourceFromJid(from) || "";
		const x = child(p, "x", NS_MUC_USER);
		const codes = x ? Array.from(x.children).filter((c) => c.localName === "status")
			.map((c) => c.getAttribute("code")) : [];
		const self = codes.includes("110") || nick === r.nick;
		if (!self)
			return;
		if (type === "error") {
			const cond = stanzaError(p);
			if (/conflict/.test(cond) && r.tries < 5) {
				r.tries++;
				r.nick = r.baseNick + "-web" + (r.tries > 1 ? r.tries : "");
				joinRoom();
				return;
			}
			$("room-state").textContent = "Cannot join " + r.jid + ": " + cond + ".";
			setRoomInput(false);
			return;
		}
		if (type === "unavailable") {
			r.joined = false;
			$("room-state").textContent = "Left " + r.jid + ".";
			setRoomInput(false);
			return;
		}
		if (codes.includes("201") && !r.configured) {
			/* a new room is locked until its owner takes the defaults */
			r.configured = true;
			sendIq($iq({ type: "set", to: r.jid }).c("query", { xmlns: NS_MUC_OWNER })
				.c("x", { xmlns: NS_XDATA, type: "submit" }))
				.catch((e) => {
					$("room-state").textContent = "The new room " + r.jid + " stays locked: " +
						e.message;
				});
		}
		if (!r.joined) {
			r.joined = true;
			$("room-state").textContent = "In " + r.jid + " as " + r.nick + ".";
			setRoomInput(true);
		}
	}

	function onRoomMessage(m, from, type) {
		if (type === "error") {
			addRoomLine(null, "Not delivered: " + stanzaError(m), false, new Date());
			return;
		}
		if (type !== "groupchat")
			return;
		const nick = S.getResourceFromJid(from);
		const subject = childText(m, "subject");
		const body = childText(m, "body");
		const delay = child(m, "delay", NS_DELAY);
		let when = new Date();
		if (delay && delay.getAttribute("stamp")) {
			const d = new Date(delay.getAttribute("stamp"));
			if (!isNaN(d))
				when = d;
		}
		if (body !== null)
			addRoomLine(nick, body, !!delay, when);
		else if (subject)
			addRoomLine(null, "Subject: " + subject, !!delay, when);
	}

	function addRoomLine(nick, text, history, when) {
		const log = $("room-log");
		const li = document.createElement("li");
		if (history)
			li.className = "history";
		const t = document.createElement("time");
		t.dateTime = when.toISOString();
		t.textContent = formatTime(when);
		li.appendChild(t);
		if (nick) {
			const n = document.createElement("span");
			n.className = "nick";
			n.textContent = nick + ": ";
			li.appendChild(n);
		}
		li.appendChild(document.createTextNode(text));
		const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
		log.appendChild(li);
		while (log.children.length > ROOM_LINES_MAX)
			log.firstElementChild.remove();
		if (atEnd)
			log.scrollTop = log.scrollHeight;
	}

	function setRoomInput(on) {
		$("room-input").disabled = !on;
		$("room-send").disabled = !on;
	}

	function onRoomSend(ev) {
		ev.preventDefault();
		const input = $("room-input");
		const text = input.value.trim();
		const r = session && session.room;
		if (!text || !r || !r.joined || !session.connected)
			return;
		session.conn.send($msg({ to: r.jid, type: "groupchat" }).c("body").t(text));
		input.value = "";
	}

	/* ---------------------------------------------------------------------------------
	 * Start */
	function init() {
		if (!S) {
			showAlert("Strophe.js did not load (vendor/strophe.umd.min.js): the page " +
				"cannot connect.");
			return;
		}
		/* Strophe logs every failed BOSH request as an error; the page says what failed in
		 * its own words instead. ?debug=1 shows Strophe's whole log. */
		S.setLogLevel(new URLSearchParams(location.search).get("debug") === "1" ?
			S.LogLevel.DEBUG : S.LogLevel.FATAL);
		let remembered = "";
		try {
			remembered = localStorage.getItem(REMEMBER_KEY) || "";
		} catch (e) {
			remembered = "";
		}
		$("jid").value = fromQuery.jid || remembered || config.jid || "";
		$("remember").checked = !!remembered;
		if (["auto", "websocket", "bosh"].includes(config.transport))
			$("transport").value = config.transport;
		$("ws-url").value = fromQuery.websocket || "";
		$("bosh-url").value = fromQuery.bosh || "";
		if (!window.isSecureContext) {
			showAlert("This page is not served over https (or from localhost): the " +
				"browser withholds the cryptography SCRAM logins need. Serve it over https.");
		}
		$("login").addEventListener("submit", onLogin);
		$("logout").addEventListener("click", logout);
		$("alert-retry").addEventListener("click", reconnectNow);
		$("add-device").addEventListener("submit", (ev) => {
			ev.preventDefault();
			const d = session && session.deviceDomains && session.deviceDomains[0];
			addDevice($("add-name").value.trim(), d);
		});
		$("filter").addEventListener("input", () => {
			for (const li of $("tiles").children)
				applyFilter(li);
		});
		$("room-form").addEventListener("submit", onRoomSend);
		$("devices-title").tabIndex = -1;
		(($("jid").value && $("password")) || $("jid")).focus();
		document.documentElement.dataset.ready = "true";
	}

	init();
})();
