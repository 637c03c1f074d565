/*
 * The browser half of test_web.py: drives Debian's chromium through playwright-core
 * (web/node_modules) over the dashboard, and asks test_web.py for what happens outside
 * the browser (MQTT publishes, the command topic, a Prosody restart) with lines
 * "RPC {json}" on stdout, answered one line each on stdin. Prints "  ok    ..." or
 * "  FAIL  ..." per check; exits 0 when all passed. Any JavaScript error of the page
 * (pageerror, console.error) fails the run, except the network errors a scenario expects
 * (a refused origin, a server that is not there, an image the CSP refuses), which the
 * browser logs as errors too.
 *
 * argv[2]: the JSON config test_web.py writes.
 */
"use strict";

const fs = require("fs");
const path = require("path");
const readline = require("readline");
const { createRequire } = require("module");

const cfg = JSON.parse(process.argv[2]);
const webRequire = createRequire(path.join(process.env.NODE_PATH || ".", "..", "package.json"));
const { chromium } = webRequire("playwright-core");

/* ---- RPC to test_web.py ------------------------------------------------------------ */
const pending = new Map();
let nextId = 1;
const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
	const m = JSON.parse(line);
	const p = pending.get(m.id);
	pending.delete(m.id);
	if (p)
		p(m);
});

function rpc(op, args) {
	return new Promise((resolve, reject) => {
		const id = nextId++;
		pending.set(id, (m) => (m.ok ? resolve(m.result) : reject(new Error(m.error))));
		process.stdout.write("RPC " + JSON.stringify(Object.assign({ id: id, op: op }, args)) +
			"\n");
	});
}

/* ---- checks ------------------------------------------------------------------------ */
let failures = 0;

function ok(what) {
	console.log("  ok    " + what);
}

function fail(what, detail) {
	failures++;
	console.log("  FAIL  " + what + (detail !== undefined ? ": " + detail : ""));
}

function check(cond, what, detail) {
	if (cond)
		ok(what);
	else
		fail(what, detail);
	return !!cond;
}

/* Waits for fn (run in the page) to return truthy; a check with the time it took. */
async function waitFor(page, what, fn, arg, timeoutMs) {
	const t0 = Date.now();
	try {
		await page.waitForFunction(fn, arg, { timeout: timeoutMs || 10000, polling: 25 });
		ok(what + " (" + (Date.now() - t0) + " ms)");
		return Date.now() - t0;
	} catch (e) {
		const alert = await page.textContent("#alert-text").catch(() => "?");
		const conn = await page.textContent("#conn-state").catch(() => "?");
		fail(what, "not within " + (timeoutMs || 10000) + " ms; status '" + conn +
			"', alert '" + alert + "'");
		throw new Stop();
	}
}

class Stop extends Error {}

/* JavaScript errors of the page; expected network errors are let through per scenario. */
let jsErrors = [];
let allowed = [];

function watch(page) {
	page.on("pageerror", (e) => jsErrors.push("pageerror: " + e.message));
	page.on("console", (msg) => {
		if (msg.type() !== "error")
			return;
		const text = msg.text();
		if (allowed.some((rx) => rx.test(text)))
			return;
		jsErrors.push("console.error: " + text);
	});
}

function checkNoErrors(what) {
	check(jsErrors.length === 0, "no JavaScript error on the page " + what,
		jsErrors.join(" | "));
	jsErrors = [];
}

async function shot(page, name) {
	const file = path.join(cfg.artifacts, name + ".png");
	await page.screenshot({ path: file, fullPage: true });
	console.log("  ..    screenshot " + file);
}

const tile = (jid) => "li.tile[data-jid='" + jid + "']";

async function login(page, url, password, transportWord) {
	await page.goto(url);
	await page.waitForSelector("html[data-ready='true']", { state: "attached" });
	await page.fill("#jid", cfg.jid);
	await page.fill("#password", password);
	await page.click("#login-button");
	if (transportWord) {
		await waitFor(page, "logged in over " + transportWord, (w) =>
			document.getElementById("conn-state").textContent.includes("over " + w),
		transportWord, 10000);
	}
}

async function logout(page) {
	await page.click("#logout");
	await page.waitForSelector("#login-view:not([hidden])");
}

/* ---- the scenarios ----------------------------------------------------------------- */
const plug = "plug@" + cfg.domain;

async function prosodyWebSocket(page) {
	console.log("-- Prosody serves the page; WebSocket found from its host-meta.json");
	await login(page, cfg.prosody.page + "?room=" + encodeURIComponent(cfg.room),
		cfg.prosody.password, "WebSocket");
	await waitFor(page, "the empty roster says how to add a device", () =>
		!document.getElementById("no-devices").hidden &&
		document.getElementById("add-domain").textContent === "@iot.localhost");
	await shot(page, "01-empty-roster");

	await page.fill("#add-name", "plug");
	await page.press("#add-name", "Enter");
	await waitFor(page, "'Add' sends the subscription; the bridge approves; plug is offline",
		(sel) => {
			const li = document.querySelector(sel);
			return li && li.dataset.state === "offline" &&
				!li.querySelector("button[data-command='on']").hidden;
		}, tile(plug));

	await rpc("publish", { topic: "tele/plug/LWT", payload: "Online", retain: true });
	await waitFor(page, "LWT Online: the tile turns online", (sel) =>
		document.querySelector(sel).dataset.state === "online", tile(plug), 5000);
	const t0 = Date.now();
	await rpc("publish", { topic: "stat/plug/POWER", payload: "ON" });
	await waitFor(page, "POWER ON shows as the status", (sel) =>
		document.querySelector(sel + " .status").textContent === "ON", tile(plug), 1000);
	check(Date.now() - t0 < 1000, "within a second of the MQTT publish",
		(Date.now() - t0) + " ms");
	check(/Changed \S/.test(await page.textContent(tile(plug) + " .since")),
		"the tile says when it changed");
	await shot(page, "02-online-on");

	await rpc("publish", { topic: "stat/plug/POWER", payload: "OFF" });
	await waitFor(page, "POWER OFF: status OFF, shown as away", (sel) => {
		const li = document.querySelector(sel);
		return li.querySelector(".status").textContent === "OFF" && li.dataset.state === "away";
	}, tile(plug), 1000);

	await rpc("drain_commands", {});
	await page.click(tile(plug) + " button[data-command='on']");
	const cmd = await rpc("expect_command", { topic: "cmnd/plug/POWER", timeout: 5 });
	check(cmd === "ON", "the On button publishes ON on cmnd/plug/POWER", cmd);
	await waitFor(page, "the tile says the command went out", (sel) =>
		/Sent 'on'/.test(document.querySelector(sel + " .reply").textContent), tile(plug), 2000);
	await rpc("publish", { topic: "stat/plug/POWER", payload: "ON" });
	await waitFor(page, "the device's reply shows: 'plug is ON'", (sel) =>
		/^plug is ON/.test(document.querySelector(sel + " .reply").textContent),
	tile(plug), 3000);

	await waitFor(page, "the group chat is joined", () =>
		/^In alarms@/.test(document.getElementById("room-state").textContent));
	await rpc("publish", { topic: "home/kitchen/alarm", payload: "smoke detected" });
	await waitFor(page, "the bridge's alarm shows in the group chat", () =>
		/home: kitchen: smoke detected/.test(document.getElementById("room-log").textContent),
	null, 5000);
	await page.fill("#room-input", "on my way");
	await page.press("#room-input", "Enter");
	await waitFor(page, "a line written in the room comes back from it", () =>
		/alice: on my way/.test(document.getElementById("room-log").textContent), null, 5000);
	await shot(page, "03-command-reply-and-room");

	await rpc("publish", { topic: "tele/plug/LWT", payload: "Offline", retain: true });
	await waitFor(page, "LWT Offline: the tile turns offline", (sel) =>
		document.querySelector(sel).dataset.state === "offline", tile(plug), 2000);
	await shot(page, "04-offline");

	await page.setViewportSize({ width: 360, height: 800 });
	const overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth - document.documentElement.clientWidth);
	check(overflow <= 0, "nothing wider than a 360 px phone", overflow + " px too wide");
	await shot(page, "05-phone-360");
	await page.setViewportSize({ width: 1000, height: 800 });

	await rpc("publish", { topic: "tele/plug/LWT", payload: "Online", retain: true });
	await waitFor(page, "online again", (sel) =>
		document.querySelector(sel).dataset.state === "online", tile(plug), 2000);
	allowed = [/WebSocket connection to .* failed/, /net::ERR_CONNECTION_REFUSED/];
	await rpc("restart_prosody", {});
	await waitFor(page, "a Prosody restart: the page says the connection was lost", () =>
		/Connection to the server lost|Reconnecting/.test(
			document.getElementById("alert-text").textContent), null, 5000);
	await shot(page, "06-connection-lost");
	await waitFor(page, "and reconnects by itself, over WebSocket again", () =>
		document.getElementById("alert").hidden &&
		/^Connected as .* over WebSocket/.test(
			document.getElementById("conn-state").textContent), null, 15000);
	await waitFor(page, "the device's presence comes back after the reconnect", (sel) =>
		document.querySelector(sel).dataset.state !== "offline", tile(plug), 10000);
	allowed = [];
	await logout(page);
	checkNoErrors("over WebSocket");
}

async function prosodyBoshCrossOrigin(page) {
	console.log("-- the page from another origin, BOSH with CORS, logged in by keyboard");
	const url = cfg.other.allowed + "?transport=bosh&bosh=" + encodeURIComponent(cfg.prosody.bosh);
	await page.goto(url);
	await page.waitForSelector("html[data-ready='true']", { state: "attached" });
	await page.focus("#jid");
	await page.keyboard.type(cfg.jid);
	await page.keyboard.press("Tab");
	await page.keyboard.type(cfg.prosody.password);
	await page.keyboard.press("Enter");
	await waitFor(page, "logged in over BOSH from " + cfg.other.allowed, () =>
		document.getElementById("conn-state").textContent.includes("over BOSH"));
	await waitFor(page, "plug is in the roster, online from the probe's answer", (sel) => {
		const li = document.querySelector(sel);
		return li && li.dataset.state === "online" &&
			li.querySelector(".status").textContent === "ON";
	}, tile(plug), 5000);
	await rpc("drain_commands", {});
	await page.focus(tile(plug) + " button[data-command='toggle']");
	await page.keyboard.press("Enter");
	const cmd = await rpc("expect_command", { topic: "cmnd/plug/POWER", timeout: 5 });
	check(cmd === "TOGGLE", "Toggle by keyboard publishes TOGGLE", cmd);
	await rpc("publish", { topic: "stat/plug/POWER", payload: "OFF" });
	await waitFor(page, "the reply shows over BOSH", (sel) =>
		/^plug is OFF/.test(document.querySelector(sel + " .reply").textContent),
	tile(plug), 3000);
	await shot(page, "07-bosh-cross-origin");
	await logout(page);
	checkNoErrors("over BOSH");
}

/* ---- pictures: a camera snapshot through HTTP File Upload, hostile OOB URLs ---------- */

/* Draws a front-door camera's night frame (a house, a porch light, a person on the path,
 * the camera's own caption and a detection box, sensor noise) and returns it as a JPEG,
 * base64: a snapshot as Frigate would publish it, made here rather than fetched. */
function drawSnapshot({ w, h }) {
	const c = document.createElement("canvas");
	c.width = w;
	c.height = h;
	const g = c.getContext("2d");
	let seed = 12345;
	const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
	const sky = g.createLinearGradient(0, 0, 0, h * 0.45);
	sky.addColorStop(0, "#0d1522");
	sky.addColorStop(1, "#2a3442");
	g.fillStyle = sky;
	g.fillRect(0, 0, w, h);
	const lawn = g.createLinearGradient(0, h * 0.55, 0, h);
	lawn.addColorStop(0, "#1f2a1c");
	lawn.addColorStop(1, "#34452c");
	g.fillStyle = lawn;
	g.fillRect(0, h * 0.55, w, h * 0.45);
	/* the house: siding, roof, door, two lit windows */
	g.fillStyle = "#4a4d52";
	g.fillRect(w * 0.18, h * 0.16, w * 0.64, h * 0.42);
	g.strokeStyle = "rgba(0,0,0,0.25)";
	for (let y = h * 0.18; y < h * 0.58; y += 9) {
		g.beginPath();
		g.moveTo(w * 0.18, y);
		g.lineTo(w * 0.82, y);
		g.stroke();
	}
	g.fillStyle = "#23262b";
	g.beginPath();
	g.moveTo(w * 0.14, h * 0.17);
	g.lineTo(w * 0.5, h * 0.02);
	g.lineTo(w * 0.86, h * 0.17);
	g.fill();
	for (const x of [0.25, 0.63]) {
		const win = g.createLinearGradient(0, h * 0.26, 0, h * 0.42);
		win.addColorStop(0, "#e9b765");
		win.addColorStop(1, "#a8763a");
		g.fillStyle = win;
		g.fillRect(w * x, h * 0.26, w * 0.12, h * 0.16);
		g.fillStyle = "#2b2d31";
		g.fillRect(w * (x + 0.058), h * 0.26, w * 0.004, h * 0.16);
		g.fillRect(w * x, h * 0.335, w * 0.12, h * 0.006);
	}
	g.fillStyle = "#5b3a26";
	g.fillRect(w * 0.46, h * 0.3, w * 0.08, h * 0.28);
	g.fillStyle = "#c8a04a";
	g.beginPath();
	g.arc(w * 0.525, h * 0.45, 4, 0, 2 * Math.PI);
	g.fill();
	const glow = g.createRadialGradient(w * 0.57, h * 0.28, 2, w * 0.57, h * 0.28, w * 0.22);
	glow.addColorStop(0, "rgba(255,214,150,0.85)");
	glow.addColorStop(0.15, "rgba(255,200,130,0.35)");
	glow.addColorStop(1, "rgba(255,190,120,0)");
	g.fillStyle = glow;
	g.fillRect(0, 0, w, h);
	/* the path to the door, in perspective, and a hedge */
	g.fillStyle = "#6d6a64";
	g.beginPath();
	g.moveTo(w * 0.45, h * 0.58);
	g.lineTo(w * 0.55, h * 0.58);
	g.lineTo(w * 0.75, h);
	g.lineTo(w * 0.25, h);
	g.fill();
	for (let i = 0; i < 60; i++) {
		g.fillStyle = "rgba(" + (20 + rnd() * 25 | 0) + "," + (45 + rnd() * 35 | 0) + ",30,0.9)";
		g.beginPath();
		const x = rnd() < 0.5 ? w * (0.02 + rnd() * 0.2) : w * (0.78 + rnd() * 0.2);
		g.arc(x, h * (0.55 + rnd() * 0.08), 12 + rnd() * 22, 0, 2 * Math.PI);
		g.fill();
	}
	/* a person on the path, lit from the porch, with a shadow */
	const px = w * 0.53;
	const py = h * 0.88;
	g.fillStyle = "rgba(0,0,0,0.35)";
	g.beginPath();
	g.ellipse(px + 40, py + 6, 70, 12, 0, 0, 2 * Math.PI);
	g.fill();
	g.fillStyle = "#1c2230";
	g.fillRect(px - 28, py - 150, 22, 150);
	g.fillRect(px + 4, py - 150, 22, 150);
	const coat = g.createLinearGradient(px - 50, 0, px + 50, 0);
	coat.addColorStop(0, "#5e2a24");
	coat.addColorStop(1, "#8c4034");
	g.fillStyle = coat;
	g.beginPath();
	g.moveTo(px - 48, py - 150);
	g.lineTo(px - 42, py - 290);
	g.quadraticCurveTo(px, py - 312, px + 42, py - 290);
	g.lineTo(px + 48, py - 150);
	g.fill();
	g.fillStyle = "#c59a7c";
	g.beginPath();
	g.ellipse(px, py - 335, 25, 31, 0, 0, 2 * Math.PI);
	g.fill();
	g.fillStyle = "#2a1d17";
	g.beginPath();
	g.ellipse(px, py - 352, 27, 17, 0, Math.PI, 2 * Math.PI);
	g.fill();
	/* sensor noise, then a vignette */
	const img = g.getImageData(0, 0, w, h);
	for (let i = 0; i < img.data.length; i += 4) {
		const n = (rnd() - 0.5) * 26;
		img.data[i] += n;
		img.data[i + 1] += n;
		img.data[i + 2] += n;
	}
	g.putImageData(img, 0, 0);
	const vig = g.createRadialGradient(w / 2, h / 2, h * 0.35, w / 2, h / 2, w * 0.7);
	vig.addColorStop(0, "rgba(0,0,0,0)");
	vig.addColorStop(1, "rgba(0,0,0,0.55)");
	g.fillStyle = vig;
	g.fillRect(0, 0, w, h);
	/* what Frigate draws on a snapshot: the box and the label's score; the camera's OSD */
	g.strokeStyle = "#f0c419";
	g.lineWidth = 3;
	g.strokeRect(px - 70, py - 380, 140, 392);
	g.fillStyle = "#f0c419";
	g.fillRect(px - 71, py - 406, 128, 26);
	g.fillStyle = "#111";
	g.font = "bold 18px sans-serif";
	g.fillText("person 91%", px - 64, py - 386);
	g.font = "bold 24px monospace";
	g.fillStyle = "rgba(255,255,255,0.9)";
	g.fillText("FRONT", 24, 40);
	g.fillText("2026-12-02 03:12:44", w - 300, 40);
	return c.toDataURL("image/jpeg", 0.85).split(",")[1];
}

const TINY_PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAA" +
	"DUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/* Loads url as an image in the page: "loaded", "error", or the CSP violation's
 * "blockedURI directive". */
function tryImage(url) {
	return new Promise((resolve) => {
		const onViolation = (e) => {
			if (e.blockedURI && url.startsWith(e.blockedURI))
				resolve("csp " + e.blockedURI + " " + e.effectiveDirective);
		};
		document.addEventListener("securitypolicyviolation", onViolation);
		const img = new Image();
		img.onload = () => resolve("loaded");
		img.onerror = () => setTimeout(() => resolve("error"), 500);
		img.src = url;
	});
}

async function pictures(page, context) {
	console.log("-- a camera snapshot on MQTT becomes a picture in the room; hostile URLs do not");
	const drawer = await context.newPage();
	const w = 1280;
	const h = 720;
	const b64 = await drawer.evaluate(drawSnapshot, { w: w, h: h });
	await drawer.close();
	await login(page, cfg.prosody.page + "?room=" + encodeURIComponent(cfg.room),
		cfg.prosody.password, "WebSocket");
	await waitFor(page, "the group chat is joined", () =>
		/^In alarms@/.test(document.getElementById("room-state").textContent));
	await rpc("publish", { topic: "stat/plug/POWER", payload: "ON" });
	await waitFor(page, "plug is there, ON", (sel) => {
		const li = document.querySelector(sel);
		return li && li.dataset.state === "online" &&
			li.querySelector(".status").textContent === "ON";
	}, tile(plug), 5000);
	check(await page.evaluate((o) => window.MXB_UPLOAD_ORIGINS.join(" ") === o, cfg.upload),
		"config.js's uploadOrigins taken: " + cfg.upload);
	const t0 = Date.now();
	const jpeg = await rpc("publish_jpeg", { topic: "frigate/front/person/snapshot",
		base64: b64 });
	check(jpeg.width === w && jpeg.height === h, "the browser drew a " + jpeg.width + "x" +
		jpeg.height + " JPEG of " + jpeg.bytes + " bytes, published on frigate/front/person/" +
		"snapshot");
	const pic = "#room-log li.with-picture a.picture[data-loaded='true'] img";
	await waitFor(page, "the bridge's upload shows as an image in the room", (sel) =>
		!!document.querySelector(sel), pic, 15000);
	console.log("  ..    MQTT publish to a loaded picture: " + (Date.now() - t0) + " ms");
	const got = await page.$eval(pic, (img) => ({
		w: img.naturalWidth, h: img.naturalHeight, src: img.src, href: img.parentNode.href,
		rel: img.parentNode.rel, lazy: img.loading, ref: img.referrerPolicy,
		box: img.getBoundingClientRect().toJSON(),
		nick: img.closest("li").querySelector(".nick").textContent,
	}));
	check(got.w === jpeg.width && got.h === jpeg.height, "the <img> loaded the JPEG: " +
		"naturalWidth " + got.w + " = " + jpeg.width + ", naturalHeight " + got.h);
	check(got.src.startsWith(cfg.upload + "/file_share/") && /\/front-person-[^/]+\.jpg$/
		.test(got.src), "from the upload service, named by the route's file_name", got.src);
	check(got.href === got.src && /noopener/.test(got.rel) && /noreferrer/.test(got.rel),
		"inside a link to the file (noopener noreferrer)", got.href + " " + got.rel);
	check(got.lazy === "lazy" && got.ref === "no-referrer", "lazy, without a referrer");
	check(got.box.width <= 513 && got.box.height <= 241, "shown bounded: " +
		Math.round(got.box.width) + "x" + Math.round(got.box.height) + " px");
	check(got.nick === "home: ", "posted by the bridge's nick", got.nick);
	await waitFor(page, "the route's caption follows as a line of its own", () =>
		/home: Person at the front camera/.test(
			document.getElementById("room-log").textContent), null, 5000);
	await page.evaluate(() => {
		const log = document.getElementById("room-log");
		log.scrollTop = log.scrollHeight;
	});
	await shot(page, "13-picture-in-room");
	await page.setViewportSize({ width: 390, height: 844 });
	await page.evaluate(() => document.getElementById("room-view").scrollIntoView());
	await page.screenshot({ path: path.join(cfg.artifacts, "13-picture-phone.png") });
	await page.setViewportSize({ width: 1000, height: 800 });

	const good = got.src;
	const other = good.replace("https://localhost:", "https://127.0.0.1:");
	const missing = cfg.upload + "/file_share/no-such-slot/missing.jpg";
	const markup = "<img src=\"" + good + "\" onerror=\"alert(1)\">";
	const hostile = [
		["javascript:alert(1)", "javascript:alert(1)", "a javascript: URL"],
		[TINY_PNG, TINY_PNG, "a data: URL"],
		[other, other, "an https URL on another origin (the same server by its IP)"],
		[good.replace("https://", "http://"), good.replace("https://", "http://"),
			"plain http on the upload host"],
		[good.replace("https://", "https://user:pw@"),
			good.replace("https://", "https://user:pw@"), "a URL with credentials"],
		["look at this", good, "a body that is not the OOB URL"],
		[good, null, "the upload's URL in a body without OOB"],
		[markup, good, "markup in the body"],
	];
	allowed = [/Failed to load resource: the server responded with a status of 404/,
		/violates the following Content Security Policy directive: "img-src /];
	/* any user of the server may upload: the origin alone does not make a file harmless */
	const huge = await rpc("upload_png", { width: 10000, height: 5001 });
	check(huge.startsWith(cfg.upload + "/file_share/"), "mallory uploaded a 10000x5001 PNG " +
		"(50 megapixels and some) to the same upload service", huge);
	await rpc("room_hostile", { messages: hostile.map((x) => [x[0], x[1]])
		.concat([[missing, missing], [huge, huge], ["end of the hostile messages", null]]) });
	await waitFor(page, "mallory's messages arrive; the missing picture falls back to its link",
		(url) => /mallory: end of the hostile messages/.test(
			document.getElementById("room-log").textContent) &&
			!!Array.from(document.querySelectorAll("#room-log a.picture.failed"))
				.find((a) => a.href === url), missing, 10000);
	const lines = await page.$$eval("#room-log li", (lis) => lis
		.filter((li) => (li.querySelector(".nick") || {}).textContent === "mallory: ")
		.map((li) => ({
			text: li.textContent.replace(/^.*?mallory: /, ""),
			tags: Array.from(li.querySelectorAll("*")).map((e) => e.tagName),
			links: Array.from(li.querySelectorAll("a")).map((a) => a.href),
		})));
	for (const [body, , what] of hostile) {
		const line = lines.find((l) => l.text === body);
		check(line && line.tags.join(",") === "TIME,SPAN", what + ": shown as text, no " +
			"image, no link", JSON.stringify(line));
	}
	const miss = lines.find((l) => l.text === missing);
	check(miss && miss.tags.join(",") === "TIME,SPAN,A" && miss.links[0] === missing,
		"a picture that does not load: the text link to it", JSON.stringify(miss));
	await waitFor(page, "a picture of over 50 megapixels: not shown, the text link to it",
		(url) => !!Array.from(document.querySelectorAll("#room-log a.picture.failed"))
			.find((a) => a.href === url && /too large/.test(a.title)), huge, 10000);
	check(await page.$$eval("#room-log img", (imgs) => imgs.length) === 1,
		"one image in the room: the bridge's snapshot");

	const v = await page.evaluate(tryImage, other);
	check(v.startsWith("csp " + new URL(other).origin) && v.endsWith(" img-src"),
		"the page's CSP refuses an image from another https origin", v);
	await shot(page, "14-hostile-urls");
	await logout(page);
	checkNoErrors("with pictures and hostile URLs");

	console.log("-- the page as shipped (config.js without uploadOrigins): no image from elsewhere");
	await page.goto(cfg.other.allowed);
	await page.waitForSelector("html[data-ready='true']", { state: "attached" });
	check(await page.evaluate(() => window.MXB_UPLOAD_ORIGINS.length === 0),
		"no upload origin by default");
	const d = await page.evaluate(tryImage, good);
	check(d.startsWith("csp " + cfg.upload) && d.endsWith(" img-src"),
		"the default CSP refuses even the upload service's image", d);
	checkNoErrors("as shipped");
	allowed = [];
}

async function wrongPassword(page) {
	console.log("-- a wrong password");
	await login(page, cfg.prosody.page, "not-the-password");
	await waitFor(page, "a wrong password is said", () =>
		/Wrong address or password/.test(document.getElementById("alert-text").textContent) &&
		!document.getElementById("login-view").hidden);
	await shot(page, "08-wrong-password");
	checkNoErrors("after a wrong password");
}

async function refusedOrigin(page) {
	console.log("-- an origin the server does not allow for BOSH");
	allowed = [/CORS policy/, /net::ERR_FAILED/, /Failed to load resource/];
	const origin = cfg.other.refused.replace(/\/$/, "");
	const url = cfg.other.refused + "?transport=bosh&timeout=3&bosh=" +
		encodeURIComponent(cfg.prosody.bosh);
	const t0 = Date.now();
	await login(page, url, cfg.prosody.password);
	await waitFor(page, "a refused origin is said, naming the origin to allow", (o) => {
		const t = document.getElementById("alert-text").textContent;
		return t.includes("must allow the origin " + o) &&
			!document.getElementById("login-view").hidden &&
			!document.getElementById("login-button").disabled;
	}, origin, 9000);
	check(Date.now() - t0 < 9000, "within the page's own timeout, not a spinner forever",
		(Date.now() - t0) + " ms");
	await shot(page, "09-refused-origin");
	allowed = [];
	checkNoErrors("other than the refused requests");
}

async function unreachable(page) {
	console.log("-- a BOSH address where nothing listens");
	allowed = [/net::ERR_CONNECTION_REFUSED/, /Failed to load resource/];
	await login(page, cfg.prosody.page + "?transport=bosh&timeout=2&bosh=" +
		encodeURIComponent(cfg.other.dead), cfg.prosody.password);
	await waitFor(page, "an unreachable server is said", () =>
		/Server unreachable/.test(document.getElementById("alert-text").textContent),
	null, 9000);
	allowed = [];
	checkNoErrors("other than the refused connections");
}

async function ejabberd(page) {
	cfg.ejabberd = await rpc("ejabberd", {});
	if (!cfg.ejabberd) {
		console.log("-- no ejabberd here: its part is left out");
		return;
	}
	console.log("-- ejabberd serves the page (mod_http_fileserver); host-meta from mod_host_meta");
	await login(page, cfg.ejabberd.page, cfg.ejabberd.password, "WebSocket");
	await waitFor(page, "on ejabberd: the devices view, saying no bridge answers there", () =>
		!document.getElementById("devices-view").hidden &&
		/No device bridge found/.test(document.getElementById("add-result").textContent));
	await shot(page, "10-ejabberd-websocket");
	/* ejabberd 23.01 sends a frame after its WebSocket close frame when a session ends,
	 * which the browser reports itself; nothing the page does */
	allowed = [/WebSocket connection to .* failed: Data frame received after close/];
	await logout(page);
	/* (the browser reports it a little after the page is done: allowed until the BOSH
	 * login below is over) */
	await login(page, cfg.ejabberd.page + "?transport=bosh", cfg.ejabberd.password, "BOSH");
	await logout(page);
	allowed = [];
	const res = await page.request.get(cfg.ejabberd.admin);
	check(res.status() === 401 || res.status() === 200,
		"the web admin answers on its own port", res.status());
	checkNoErrors("on ejabberd");
}

async function hundredDevices(page) {
	console.log("-- 100 devices at phone width");
	await login(page, cfg.prosody.page, cfg.prosody.password, "WebSocket");
	await waitFor(page, "the device domain is known", () =>
		document.getElementById("add-domain").textContent === "@iot.localhost");
	/* the bridge tells the people its rule names of every device, roster or not */
	await rpc("publish_many", { topic: "tele/sensorN/LWT", payload: "Online", count: 100 });
	await waitFor(page, "100 more devices show, each with its own tile", () =>
		document.querySelectorAll("#tiles li.tile").length >= 101, null, 15000);
	await page.setViewportSize({ width: 360, height: 800 });
	const overflow = await page.evaluate(() =>
		document.documentElement.scrollWidth - document.documentElement.clientWidth);
	check(overflow <= 0, "101 tiles at 360 px: nothing wider than the phone",
		overflow + " px too wide");
	const widths = await page.$$eval("#tiles li.tile", (els) =>
		els.map((e) => Math.round(e.getBoundingClientRect().width)));
	check(widths.every((w) => w > 250 && w <= 360), "every tile takes the phone's width",
		widths.slice(0, 5).join(","));
	await page.fill("#filter", "sensor042");
	const shown = await page.$$eval("#tiles li.tile:not([hidden])", (els) =>
		els.map((e) => e.dataset.jid));
	check(shown.length === 1 && shown[0] === "sensor042@" + cfg.domain,
		"the filter finds one device among 101", shown.join(","));
	await page.fill("#filter", "");
	await page.screenshot({ path: path.join(cfg.artifacts, "11-hundred-devices-phone.png") });
	console.log("  ..    screenshot " + path.join(cfg.artifacts,
		"11-hundred-devices-phone.png") + " (the first screen)");
	await page.setViewportSize({ width: 1000, height: 800 });
	await page.screenshot({ path: path.join(cfg.artifacts, "12-hundred-devices.png") });
	await logout(page);
	checkNoErrors("with 101 devices");
}

async function main() {
	fs.mkdirSync(cfg.artifacts, { recursive: true });
	const t0 = Date.now();
	const context = await chromium.launchPersistentContext(cfg.profile, {
		executablePath: cfg.chromium,
		headless: true,
		/* nothing but loopback: no background networking, updates, sync or QUIC probes */
		args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--disable-quic",
			"--no-first-run", "--disable-default-apps", "--disable-domain-reliability",
			"--no-pings",
			/* the upload service's https: its certificate's key alone is trusted */
			"--ignore-certificate-errors-spki-list=" + cfg.spki],
		viewport: { width: 1000, height: 800 },
	});
	context.setDefaultTimeout(10000);
	let page = context.pages()[0] || await context.newPage();
	watch(page);
	console.log("  ..    chromium up in " + (Date.now() - t0) + " ms");
	for (const scenario of [prosodyWebSocket, prosodyBoshCrossOrigin, pictures, wrongPassword,
		refusedOrigin, unreachable, ejabberd, hundredDevices]) {
		const t1 = Date.now();
		try {
			await scenario(page, context);
		} catch (e) {
			if (!(e instanceof Stop))
				fail(scenario.name + " threw", e.stack || e);
			await shot(page, "failed-" + scenario.name).catch(() => {});
			/* a fresh page, so that the next scenario does not start in this one's state */
			await page.close().catch(() => {});
			page = await context.newPage();
			watch(page);
			allowed = [];
			jsErrors = [];
		}
		console.log("  ..    " + scenario.name + ": " + (Date.now() - t1) + " ms");
	}
	await context.close();
	console.log("  ..    browser part: " + (Date.now() - t0) + " ms, " + failures + " failed");
	rl.close();
	process.exit(failures ? 1 : 0);
}

main().catch((e) => {
	console.log("  FAIL  web_browser.js: " + (e.stack || e));
	process.exit(1);
});
