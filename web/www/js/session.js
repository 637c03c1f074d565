/*
 * A session once logged in: the roster, the bridge's component domains, and presence
 * and messages handed to the devices' tiles and to the room.
 */
import {
	$, splitList, showAlert, childText, child, stanzaError, domainOf, bare, sendIq, NS_ROSTER,
	NS_DISCO_INFO, NS_DISCO_ITEMS, S, config, session,
} from "./page.js";
import { showView } from "./connection.js";
import {
	deviceOf, updateTile, setNote, setReply, removeDevice, renderRoster, markStale,
} from "./devices.js";
import { joinRoom, onRoomPresence, onRoomMessage } from "./room.js";

/* ---------------------------------------------------------------------------------
 * A session: roster, presence, device domains, room. */
export function onConnected(c) {
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

export function isDeviceJid(jid) {
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

