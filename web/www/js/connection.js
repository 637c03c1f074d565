/*
 * Where to connect (the form or the query, the server's host-meta, config.js), logging
 * in, the connection's life (pings, reconnects with backoff), logging out, and saying
 * what went wrong in words a user can act on.
 */
import {
	$, setConnState, showAlert, hideAlert, domainOf, sendIq, REL_WEBSOCKET, REL_BOSH,
	REMEMBER_KEY, RECONNECT_MAX_S, PING_EVERY_S, PING_TIMEOUT_S, NS_PING, S, config,
	fromQuery, session, setSession,
} from "./page.js";
import { onConnected } from "./session.js";
import { clearDevices, markStale } from "./devices.js";

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
export async function onLogin(ev) {
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
	setSession({
		jid: jid, password: password, domain: domainOf(jid),
		resource: "dashboard-" + Math.random().toString(16).slice(2, 8),
		candidates: list, working: 0, conn: null, attempt: null,
		connected: false, everConnected: false, userLogout: false,
		reconnectDelay: 1, reconnectTimer: null, countdown: null,
		roster: new Map(), deviceDomains: null, room: null,
	});
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
	setSession(null);
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

export function reconnectNow() {
	const s = session;
	if (!s || s.connected)
		return;
	clearTimeout(s.reconnectTimer);
	clearInterval(s.countdown);
	$("alert-retry").hidden = true;
	$("alert-text").textContent = "Reconnecting…";
	connect(s.working);
}

export function logout() {
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
	setSession(null);
	clearDevices();
	hideAlert();
	showView("login");
	$("login-button").disabled = false;
	setConnState("Logged out");
	$("password").focus();
}

export function showView(which) {
	const inSession = which !== "login";
	$("login-view").hidden = inSession;
	$("devices-view").hidden = !inSession;
	$("room-view").hidden = !inSession || !config.room;
	$("logout").hidden = !inSession;
}

