/*
 * The page's image policy, from config.js's uploadOrigins: the Content-Security-Policy in
 * index.html allows images from 'self', data: and https:, and this adds a second policy
 * that allows only 'self', data: and these origins. A browser enforces both, so an image
 * loads only from an origin both allow: with uploadOrigins empty (the default), from
 * this server alone. Runs before anything else that could load an image, and is not
 * taken from the page's query: a link must not widen what the page loads.
 *
 * The accepted origins ("https://host" or "https://host:port", nothing else) are left in
 * window.MXB_UPLOAD_ORIGINS for js/media.js, which shows pictures only from them.
 */
(function () {
	"use strict";

	const cfg = window.MXB_CONFIG || {};
	const given = Array.isArray(cfg.uploadOrigins) ? cfg.uploadOrigins :
		String(cfg.uploadOrigins || "").split(/[\s,]+/);
	const origins = [];
	for (const raw of given) {
		const s = String(raw).trim();
		if (!s)
			continue;
		let u = null;
		try {
			u = new URL(s);
		} catch (e) {
			u = null;
		}
		if (!u || u.protocol !== "https:" || u.username || u.password ||
			u.pathname !== "/" || u.search || u.hash) {
			console.warn("config.js: uploadOrigins: '" + s + "' is not an https origin " +
				"(https://host or https://host:port): left out");
			continue;
		}
		if (!origins.includes(u.origin))
			origins.push(u.origin);
	}
	window.MXB_UPLOAD_ORIGINS = Object.freeze(origins);
	const meta = document.createElement("meta");
	meta.httpEquiv = "Content-Security-Policy";
	meta.content = ["img-src", "'self'", "data:"].concat(origins).join(" ");
	document.head.appendChild(meta);
})();
