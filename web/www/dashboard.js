/*
 * The dashboard of mqtt-xmpp-bridge's devices: logs in with the user's own XMPP account
 * (WebSocket or BOSH, through Strophe.js), shows a tile per device of the bridge's
 * component in the roster, live as presence arrives, sends on/off/toggle as chat and
 * shows the device's answer, and shows the bridge's alarm room.
 *
 * Peer data only ever reaches the page as text (textContent), never as markup.
 * Nothing is stored but, when asked, the JID (localStorage "mxb-dashboard-jid"); the
 * password lives in this page's memory for reconnecting and is gone when the page is.
 *
 * This file starts the page; its parts are the modules in js/: page.js (settings, state,
 * helpers), connection.js (where to connect, the connection's life), session.js (roster,
 * presence and messages), devices.js (the tiles), room.js (the group chat) and media.js
 * (pictures from out-of-band URLs). Loaded as ES modules from this server, no build step.
 */
import { $, showAlert, REMEMBER_KEY, S, config, fromQuery, session } from "./js/page.js";
import { onLogin, reconnectNow, logout } from "./js/connection.js";
import { applyFilter, addDevice } from "./js/devices.js";
import { onRoomSend } from "./js/room.js";

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
