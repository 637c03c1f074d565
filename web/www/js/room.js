/*
 * The group chat: the room the bridge posts alarms to, joined with some history,
 * readable and writable; pictures (XEP-0066 out-of-band URLs) shown through media.js.
 */
import {
	$, formatTime, childText, child, stanzaError, bare, sendIq, NS_MUC, NS_MUC_USER,
	NS_MUC_OWNER, NS_XDATA, NS_DELAY, ROOM_LINES_MAX, S, config, session,
} from "./page.js";
import { messageContent, oobUrl, pictureElement } from "./media.js";

export function joinRoom() {
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

export function onRoomPresence(p, from, type) {
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

export function onRoomMessage(m, from, type) {
	if (type === "error") {
		addRoomLine(null, { text: "Not delivered: " + stanzaError(m) }, false, new Date());
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
	const oob = oobUrl(m);
	if (body !== null || oob !== null)
		addRoomLine(nick, messageContent(body, oob), !!delay, when);
	else if (subject)
		addRoomLine(null, { text: "Subject: " + subject }, !!delay, when);
}

/* A line of the room's log; content is { text } or { picture } (media.js). */
function addRoomLine(nick, content, history, when) {
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
	const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
	if (content.picture) {
		/* a picture that loads makes the line taller: the log stays at its end */
		li.classList.add("with-picture");
		li.appendChild(pictureElement(content.picture, () => {
			if (atEnd)
				log.scrollTop = log.scrollHeight;
		}));
	} else {
		li.appendChild(document.createTextNode(content.text));
	}
	log.appendChild(li);
	while (log.children.length > ROOM_LINES_MAX)
		log.firstElementChild.remove();
	if (atEnd)
		log.scrollTop = log.scrollHeight;
}

export function setRoomInput(on) {
	$("room-input").disabled = !on;
	$("room-send").disabled = !on;
}

export function onRoomSend(ev) {
	ev.preventDefault();
	const input = $("room-input");
	const text = input.value.trim();
	const r = session && session.room;
	if (!text || !r || !r.joined || !session.connected)
		return;
	session.conn.send($msg({ to: r.jid, type: "groupchat" }).c("body").t(text));
	input.value = "";
}

