/*
 * The dashboard's settings for this site. Each can also be given in the page's query
 * (?ws=...&bosh=...&transport=bosh&component=iot.example.org&room=...&timeout=15), which
 * wins over this file, except uploadOrigins. See docs/dashboard.md.
 */
window.MXB_CONFIG = {
	/*
	 * Where to connect when the server's /.well-known/host-meta (XEP-0156) says nothing.
	 * Relative URLs are taken from the page's own address (ws:// or wss:// for WebSocket),
	 * so these defaults, Prosody's paths, fit a page that Prosody serves itself.
	 */
	websocket: "/xmpp-websocket",
	bosh: "/http-bind",
	/* "auto" (WebSocket when there is an address for it, else BOSH), "websocket", "bosh" */
	transport: "auto",
	/*
	 * The bridge's component domain(s), e.g. "iot.example.org". Empty: found by asking
	 * the server's items and the roster's domains which answers disco#info as the bridge
	 * (identity gateway/mqtt).
	 */
	component: "",
	/* The room the bridge posts alarms to, e.g. "alarms@conference.example.org"; empty:
	 * no group chat view. */
	room: "",
	/* The nick in the room; empty: the local part of the JID. */
	nick: "",
	/* Lines of the room's history to show on joining (0: none). */
	history: 10,
	/* Seconds to wait for a login before saying why it did not work. */
	timeout: 15,
	/* A JID to put in the login form, e.g. "alice@example.org". */
	jid: "",
	/*
	 * The origins of the upload service whose pictures the room shows inline, e.g.
	 * ["https://upload.example.org"] or ["https://example.org:5281"] (https only, no
	 * path): the host and port of the URLs its slots give (Prosody's http_file_share,
	 * ejabberd's mod_http_upload). Empty: no image from elsewhere loads, pictures show
	 * as their URL. Only this file sets it, never the page's query. See
	 * docs/dashboard.md.
	 */
	uploadOrigins: [],
};
