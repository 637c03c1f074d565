/*
 * Devices and their tiles: one per device of the bridge's component, its state from
 * presence, its commands sent as chat, its answers, the filter and the count.
 */
import {
	$, formatTime, domainOf, validDeviceName, COMMAND_TIMEOUT_S, S, session, devices,
} from "./page.js";
import { isDeviceJid } from "./session.js";
import { setRoomInput } from "./room.js";

export function deviceOf(jid, create) {
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

export function updateTile(dev) {
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

export function setNote(dev, text) {
	dev.note = text;
	dev.replyText = "";
	updateTile(dev);
}

export function setReply(dev, text, error) {
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

export function removeDevice(jid) {
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

export function clearDevices() {
	for (const jid of Array.from(devices.keys()))
		removeDevice(jid);
	$("add-result").textContent = "";
	$("add-domain").textContent = "";
	$("room-log").textContent = "";
	$("room-state").textContent = "";
	setRoomInput(false);
}

/* Tiles for every roster item on a device domain (presence that came first included). */
export function renderRoster() {
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

export function markStale(stale) {
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

export function applyFilter(li) {
	const f = $("filter").value.trim().toLowerCase();
	const text = (li.querySelector(".name").textContent + " " +
		li.querySelector(".badge").textContent + " " +
		li.querySelector(".status").textContent).toLowerCase();
	li.hidden = !!f && !text.includes(f);
}

export function addDevice(name, domain) {
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

