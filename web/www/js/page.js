/*
 * What every part of the dashboard shares: its settings (config.js, then the page's
 * query, which wins), the one session at a time and the devices, and small helpers
 * (elements by id, a stanza's children and error, JIDs, an IQ as a promise).
 */
export const NS_ROSTER = "jabber:iq:roster";
export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items";
export const NS_MUC = "http://jabber.org/protocol/muc";
export const NS_MUC_USER = "http://jabber.org/protocol/muc#user";
export const NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner";
export const NS_XDATA = "jabber:x:data";
export const NS_DELAY = "urn:xmpp:delay";
const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";
export const REL_WEBSOCKET = "urn:xmpp:alt-connections:websocket";
export const REL_BOSH = "urn:xmpp:alt-connections:xbosh";
export const REMEMBER_KEY = "mxb-dashboard-jid";
export const COMMAND_TIMEOUT_S = 30;
export const ROOM_LINES_MAX = 300;
export const RECONNECT_MAX_S = 30;
export const PING_EVERY_S = 60;
export const PING_TIMEOUT_S = 20;
export const NS_PING = "urn:xmpp:ping";

export const S = window.Strophe;
export const $ = (id) => document.getElementById(id);

/* ---------------------------------------------------------------------------------
 * Settings: config.js, then the page's query, which wins. */
const QUERY_KEYS = {
	ws: "websocket", websocket: "websocket", bosh: "bosh", transport: "transport",
	component: "component", room: "room", nick: "nick", history: "history",
	timeout: "timeout", jid: "jid",
};
export const config = Object.assign({
	websocket: "", bosh: "", transport: "auto", component: "", room: "", nick: "",
	history: 10, timeout: 15, jid: "",
}, window.MXB_CONFIG || {});
export const fromQuery = {};
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

export function splitList(v) {
	if (Array.isArray(v))
		return v.map(String).map((s) => s.trim()).filter(Boolean);
	return String(v || "").split(/[\s,]+/).filter(Boolean);
}

/* ---------------------------------------------------------------------------------
 * The page's state: one session at a time. */
export let session = null;
export const devices = new Map(); /* bare JID -> device, see deviceOf() */

/* The session starts with a login and ends with a logout or a failed login (connection.js). */
export function setSession(s) {
	session = s;
}

/* ---------------------------------------------------------------------------------
 * Small helpers */
export function setConnState(text) {
	$("conn-state").textContent = text;
}

export function showAlert(text, retry) {
	$("alert-text").textContent = text;
	$("alert-retry").hidden = !retry;
	$("alert").hidden = false;
}

export function hideAlert() {
	$("alert").hidden = true;
	$("alert-text").textContent = "";
}

export function formatTime(d) {
	const now = new Date();
	const sameDay = d.toDateString() === now.toDateString();
	return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

export function childText(el, name, ns) {
	for (const c of el.children) {
		if (c.localName === name && (!ns || c.namespaceURI === ns))
			return c.textContent;
	}
	return null;
}

export function child(el, name, ns) {
	for (const c of el.children) {
		if (c.localName === name && (!ns || c.namespaceURI === ns))
			return c;
	}
	return null;
}

/* The defined condition of an error stanza, and its text when the server gave one. */
export function stanzaError(el) {
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

export function domainOf(jid) {
	return S.getDomainFromJid(jid) || "";
}

export function bare(jid) {
	return S.getBareJidFromJid(jid || "") || "";
}

/* A JID local part as the bridge accepts device names (docs/configuration.md). */
export function validDeviceName(name) {
	return /^[\x21-\x7e]{1,64}$/.test(name) && !/[@/:<>&'"]/.test(name);
}

/* An IQ as a promise: resolves with the result, rejects with the error condition. */
export function sendIq(iq, timeoutS) {
	const c = session && session.conn;
	return new Promise((resolve, reject) => {
		if (!c)
			return reject(new Error("not connected"));
		c.sendIQ(iq, resolve, (el) => reject(new Error(el ? stanzaError(el) : "timeout")),
			(timeoutS || 10) * 1000);
	});
}

