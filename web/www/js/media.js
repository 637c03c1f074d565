/*
 * Pictures in messages, as XMPP clients show them: a message whose out-of-band element
 * (XEP-0066, <x xmlns='jabber:x:oob'><url>) names an image, and whose body is that URL
 * (or absent), shows the image itself, as the bridge's snapshot messages (docs/pictures.md)
 * and Conversations' or Dino's uploads are.
 *
 * A peer chooses the URL, so an image is shown only when all of these hold:
 * - the URL comes from the OOB element, not from words in the body, and the body says
 *   nothing else (a body that differs is shown as text, the URL left out);
 * - it is https:, has no user name or password, is at most URL_MAX long, and its origin
 *   is one of the site's upload origins (config.js uploadOrigins, validated by csp.js,
 *   which also puts them in the page's Content-Security-Policy: the browser itself
 *   refuses images from anywhere else);
 * - it loads as an image of at most PIXELS_MAX pixels.
 * Anything else is text: javascript: and data: URLs, other hosts, plain http. The image
 * is built with DOM calls (never markup from peer text), loaded lazily, without a
 * referrer, shown at a bounded size (dashboard.css), inside a link to the URL; when it
 * does not load the link stays, with the URL as its text.
 */
import { child } from "./page.js";

const NS_OOB = "jabber:x:oob";
const URL_MAX = 2048;
const PIXELS_MAX = 50 * 1000 * 1000;

/* The upload origins csp.js accepted from config.js ("https://host[:port]"), none when
 * it did not run. */
function uploadOrigins() {
	return Array.isArray(window.MXB_UPLOAD_ORIGINS) ? window.MXB_UPLOAD_ORIGINS : [];
}

/* The URL of the first OOB element of a message, trimmed, or null. */
export function oobUrl(m) {
	const x = child(m, "x", NS_OOB);
	const u = x && child(x, "url");
	return u ? u.textContent.trim() : null;
}

/* url as an image may be shown (see above), or "" when it may not. */
function pictureUrl(url) {
	if (typeof url !== "string" || !url || url.length > URL_MAX)
		return "";
	let u;
	try {
		u = new URL(url);
	} catch (e) {
		return "";
	}
	if (u.protocol !== "https:" || u.username || u.password)
		return "";
	return uploadOrigins().includes(u.origin) ? u.href : "";
}

/*
 * What a message with this body and OOB URL shows: { picture } with the URL of the image
 * to show, or { text } (the body as it is) when there is no picture to show.
 */
export function messageContent(body, oob) {
	if (oob !== null && (body === null || body.trim() === oob)) {
		const picture = pictureUrl(oob);
		if (picture)
			return { picture: picture };
	}
	return { text: body !== null ? body : oob || "" };
}

/*
 * A link to url holding the image, for a line of the room. onSize is called when the
 * image has loaded (or given up), as the line's height changed.
 */
export function pictureElement(url, onSize) {
	const a = document.createElement("a");
	a.className = "picture";
	a.href = url;
	a.target = "_blank";
	a.rel = "noopener noreferrer";
	const img = document.createElement("img");
	img.alt = "Picture (" + url + ")";
	img.loading = "lazy";
	img.decoding = "async";
	img.referrerPolicy = "no-referrer";
	const fallback = (why) => {
		a.classList.add("failed");
		a.title = why;
		a.textContent = url;
		if (onSize)
			onSize();
	};
	img.addEventListener("load", () => {
		if (!img.naturalWidth || img.naturalWidth * img.naturalHeight > PIXELS_MAX) {
			fallback("The picture is too large to show here (" + img.naturalWidth + "×" +
				img.naturalHeight + ").");
			return;
		}
		a.dataset.loaded = "true";
		if (onSize)
			onSize();
	});
	img.addEventListener("error", () => fallback("The picture did not load."));
	img.src = url;
	a.appendChild(img);
	return a;
}
