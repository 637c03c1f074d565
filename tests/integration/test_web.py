#!/usr/bin/python3
"""The web dashboard (web/www) in a real browser: Debian's chromium, driven by
playwright-core from web/node_modules (npm ci in web/), against a real Prosody serving the
page (http_files) with BOSH and WebSocket, the bridge running with its component and a
Tasmota-style device rule, and a real mosquitto; then against ejabberd serving the page
with mod_http_fileserver. The browser part is tests/integration/web_browser.js; it asks
this script (lines "RPC {...}" on its stdout, answers on its stdin) to publish on MQTT,
to wait for a command on MQTT and to restart Prosody, to publish a camera snapshot (a
JPEG the browser drew) that the bridge uploads to Prosody's http_file_share over HTTPS,
and to send hostile out-of-band URLs into the room. Screenshots of each state go to
$MXB_ARTIFACTS (meson: build/tests/web-screenshots), else to the temp dir.
Skips (exit 77) when node, chromium or web/node_modules are missing."""

import base64
import filecmp
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import ssl
import struct
import threading
import time
import urllib.request
import zlib
from xml.sax.saxutils import escape, quoteattr

import harness
import webservers

DOMAIN = "iot.localhost"
ROOM = "alarms@conference.localhost"
SECRET = "component-secret-for-the-web-test"
WEB = os.path.join(harness.SRCDIR, "web")
WWW = webservers.WWW
CHROMIUM = "/usr/bin/chromium"
BROWSER_SCRIPT = os.path.join(harness.HERE, "web_browser.js")
UPLOAD_LIMIT = 2000000
SPAWN_MASK = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM}


def prerequisites():
    """None when everything the browser test needs is there, else why not."""
    if shutil.which("node") is None:
        return "node not found (scripts/install-deps installs nodejs and npm)"
    r = subprocess.run(["node", "--version"], capture_output=True, text=True)
    major = r.stdout.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < 20:
        return "playwright-core 1.65 needs Node.js 20 or newer, this is %s" % (
            r.stdout.strip() or "?")
    if not os.access(CHROMIUM, os.X_OK):
        return "%s not found (apt-get install --no-install-recommends chromium)" % CHROMIUM
    if not os.path.isdir(os.path.join(WEB, "node_modules", "playwright-core")):
        return "web/node_modules/playwright-core missing (cd web && npm ci)"
    return None


def check_vendored_strophe(env):
    """The committed copy of Strophe.js is the one the lock file pins."""
    with open(os.path.join(WEB, "package-lock.json")) as f:
        lock = json.load(f)
    pinned = lock["packages"]["node_modules/strophe.js"]["version"]
    with open(os.path.join(WEB, "node_modules", "strophe.js", "package.json")) as f:
        installed = json.load(f)["version"]
    env.check(pinned == installed == "5.0.0",
              "web/node_modules holds strophe.js as the lock pins it",
              "lock %s, installed %s" % (pinned, installed))
    env.check(filecmp.cmp(os.path.join(WWW, "vendor", "strophe.umd.min.js"),
                          os.path.join(WEB, "node_modules", "strophe.js", "dist",
                                       "strophe.umd.min.js"), shallow=False),
              "web/www/vendor/strophe.umd.min.js is byte for byte the locked package's")


# ---------------------------------------------------------------------------------------
# The servers

def prosody_http(env, http_port, site, cors_origins):
    """A Prosody with the component, a MUC service, HTTP File Upload (http_file_share on
    https://localhost:.upload_port), and BOSH, WebSocket and the page (http_files) on
    plain http on 127.0.0.1:http_port, as docs/dashboard.md shows. The page's config.js
    names the upload service's origin (uploadOrigins)."""
    env.cport = harness.free_port()
    extra = webservers.prosody_http_extra(http_port, site, cors_origins,
                                          component=(DOMAIN, SECRET, env.cport))
    p = env.prosody(users=("bridge", "alice", "mallory"), extra=extra, start=False,
                    upload=UPLOAD_LIMIT)
    with open(os.path.join(site, "config.js"), "a") as f:
        f.write('window.MXB_CONFIG.uploadOrigins = ["https://localhost:%d"];\n' %
                p.upload_port)
    return webservers.prosody_enable_http(p).start()


def spki_hash(cert):
    """The base64 SHA-256 of a certificate's public key, as chromium's
    --ignore-certificate-errors-spki-list takes it: the browser trusts that one key (the
    test server's) and no other certificate the test CA could sign."""
    pub = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"],
                         capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True).stdout
    dgst = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                          capture_output=True, check=True).stdout
    return base64.b64encode(dgst).decode()


def jpeg_size(data):
    """(width, height) from a baseline or progressive JPEG's SOF marker, or None: read
    here, independently of the browser that drew it and the one that shows it."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return (int.from_bytes(data[i + 7:i + 9], "big"),
                    int.from_bytes(data[i + 5:i + 7], "big"))
        i += 2 + length
    return None


def blank_png(width, height):
    """A black 1-bit PNG of width x height: a few KB for tens of megapixels."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    row = b"\x00" * (1 + (width + 7) // 8)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(row * height, 9)) + chunk(b"IEND", b""))


def upload_as(env, client, name, data, ctype):
    """What any user of the server can do: a slot from upload.localhost (XEP-0363), the
    PUT with its headers; returns the GET URL."""
    ns = "{urn:xmpp:http:upload:0}"
    r = client.iq("upload.localhost", "get", "<request xmlns='urn:xmpp:http:upload:0' "
                  "filename=%s size='%d' content-type=%s/>" % (quoteattr(name), len(data),
                                                                quoteattr(ctype)))
    if r.type != "result":
        raise RuntimeError("no upload slot: %s %s" % (r.type, r.error))
    slot = r.xml.find(ns + "slot")
    put, get = slot.find(ns + "put"), slot.find(ns + "get")
    req = urllib.request.Request(put.get("url"), data=data, method="PUT",
                                 headers={"Content-Type": ctype})
    for h in put.findall(ns + "header"):
        req.add_header(h.get("name"), h.text)
    ctx = ssl.create_default_context(cafile=env.pki.ca.cert)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as res:
        if res.status not in (200, 201):
            raise RuntimeError("PUT answered %d" % res.status)
    return get.get("url")


def oob_message(room, body, url):
    """A groupchat message with a body (None: none) and an OOB URL (None: no OOB)."""
    xml = "<message to=%s type='groupchat'>" % quoteattr(room)
    if body is not None:
        xml += "<body>%s</body>" % escape(body)
    if url is not None:
        xml += "<x xmlns='jabber:x:oob'><url>%s</url></x>" % escape(url)
    return xml + "</message>"


def ejabberd_http(env, http_port, admin_port, site):
    """An ejabberd serving the page (webservers.ejabberd_enable_http); (server, None), or
    (None, why not)."""
    reason = harness.ejabberd_installed()
    if reason:
        return None, reason
    e = env.ejabberd(users=("alice",), start=False, component_domain=DOMAIN,
                     component_secret=SECRET)
    webservers.ejabberd_enable_http(e, http_port, admin_port, site)
    try:
        e.start()
    except (harness.TestFailure, RuntimeError, OSError) as ex:
        return None, "ejabberd cannot be started: %s" % (str(ex).splitlines() or ["?"])[0]
    return e, None


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def static_server(directory):
    """The page on another origin than the XMPP server's: a thread of this process."""
    handler = functools.partial(QuietHandler, directory=directory)
    srv = http.server.ThreadingHTTPServer((harness.LOOPBACK, 0), handler)
    threading.Thread(target=srv.serve_forever, name="static-http", daemon=True).start()
    return srv


# ---------------------------------------------------------------------------------------
# The browser

def browser_processes(marker):
    """{pid: comm} of the live processes whose command line holds marker (the run's own
    browser profile directory): the chromium playwright started, and its helpers."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                if marker.encode() not in f.read():
                    continue
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
            if stat[stat.rfind(")") + 2] == "Z":
                continue
            with open("/proc/%s/comm" % d) as f:
                out[int(d)] = f.read().strip()
        except OSError:
            continue
    return out


def stop_browser(env, node, profile):
    """Stops node (by its pid) and then any chromium process of this run's profile."""
    if node.poll() is None:
        harness.terminate(node, signal.SIGTERM, 5)
    try:
        harness.wait_until(lambda: not browser_processes(profile), 5, interval=0.1,
                           what="chromium gone with node")
    except harness.TestFailure:
        pass
    for pid in browser_processes(profile):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    harness.wait_until(lambda: not browser_processes(profile), 5, interval=0.1,
                       what="no chromium of this run left")


def run_browser(env, cfg, rpc):
    """Runs web_browser.js with cfg, answers its RPC lines, relays its check lines; returns
    its exit status."""
    profile = os.path.join(env.tmp, "chromium-profile")
    cfg = dict(cfg, profile=profile, chromium=CHROMIUM)
    err_path = os.path.join(env.tmp, "web_browser.err")
    env.register_log(err_path, "web_browser.js stderr")
    errf = open(err_path, "ab")
    # as harness.spawn does, but with pipes: no SIGTERM between fork and knowing the pid;
    # _pdeathsig unblocks them in the child and ties node's life to this process
    old = signal.pthread_sigmask(signal.SIG_BLOCK, SPAWN_MASK)
    try:
        node = subprocess.Popen(
            ["node", BROWSER_SCRIPT, json.dumps(cfg)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=errf, cwd=env.tmp, start_new_session=True,
            preexec_fn=harness._pdeathsig, close_fds=True,
            env=dict(os.environ, NODE_PATH=os.path.join(WEB, "node_modules")))
    finally:
        errf.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    try:
        for raw in node.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if not line.startswith("RPC "):
                print(line, flush=True)
                continue
            req = json.loads(line[4:])
            try:
                reply = {"id": req["id"], "ok": True, "result": rpc(req)}
            except Exception as e:  # told to the browser script, which fails its check
                reply = {"id": req["id"], "ok": False, "error": "%s: %s" % (
                    type(e).__name__, e)}
            node.stdin.write((json.dumps(reply) + "\n").encode())
            node.stdin.flush()
        return node.wait(10)
    finally:
        stop_browser(env, node, profile)


def check_browser(env):
    t0 = time.monotonic()
    http_port = harness.free_port()
    site = webservers.site_copy(os.path.join(env.tmp, "site"), http_port)
    other = static_server(WWW)
    env.static = other
    other_port = other.server_address[1]
    allowed = "http://127.0.0.1:%d" % other_port
    ej_thread = release = None
    ej_box = {}
    try:
        p = prosody_http(env, http_port, site, [allowed])
        m = env.mosquitto()
        cmds = env.mqtt(m).subscribe("cmnd/#")
        dev = env.mqtt(m)  # plays the Tasmota plug
        env.start_bridge_ready(p, m, over={
            "xmpp": {"component": {"domain": DOMAIN, "secret": SECRET, "host": "127.0.0.1",
                                   "port": env.cport},
                     "rooms": [{"jid": ROOM, "nick": "home"}]},
            "notify": [{"topic": "home/+/alarm", "to": [ROOM],
                        "message": "{{topic.2}}: {{payload}}"},
                       # as config/examples/frigate.conf, into the room the page shows
                       {"topic": "frigate/+/person/snapshot", "to": [ROOM],
                        "binary": "upload", "max_payload": UPLOAD_LIMIT,
                        "file_name": "{{topic.2}}-person-{{time}}",
                        "message": "Person at the {{topic.2}} camera"}],
            "commands": [],
            "devices": [{"convention": "tasmota", "allow": ["alice@localhost"],
                         "timeout": 5}],
        })
        env.bridges[-1].wait_log(r"component: connected as 'iot\.localhost'")
        env.bridges[-1].wait_log(r"upload: HTTP File Upload service 'upload\.localhost'")
        mallory = None
        ej_http, ej_admin = harness.free_port(), harness.free_port()
        env.note("Prosody, mosquitto and the bridge up in %.1f s" % (time.monotonic() - t0))
        # ejabberd takes a second or more to start: meanwhile the browser works on Prosody.
        # The thread that starts it lives until it is stopped: PR_SET_PDEATHSIG fires when
        # the thread that forked a child ends, not the process.
        ej_box = {}
        release = threading.Event()

        def start_ejabberd():
            t1 = time.monotonic()
            try:
                ej_box["server"], ej_box["reason"] = ejabberd_http(env, ej_http, ej_admin,
                                                                   WWW)
            except BaseException as e:  # said to the browser script, which fails on it
                ej_box["server"], ej_box["reason"] = None, "ejabberd failed: %s" % e
                ej_box["error"] = True
            ej_box["took"] = time.monotonic() - t1
            release.wait(300)
        ej_thread = threading.Thread(target=start_ejabberd, name="ejabberd-start")
        ej_thread.start()

        def rpc(req):
            nonlocal mallory
            op = req["op"]
            if op == "publish_jpeg":
                data = base64.b64decode(req["base64"])
                size = jpeg_size(data)
                if size is None:
                    raise ValueError("the browser's snapshot is not a JPEG")
                dev.publish(req["topic"], data)
                return {"width": size[0], "height": size[1], "bytes": len(data)}
            if op in ("room_hostile", "upload_png") and mallory is None:
                mallory = env.xmpp(p, "mallory")
                mallory.join_room(ROOM, "mallory")
            if op == "room_hostile":
                for body, url in req["messages"]:
                    mallory.send_raw(oob_message(ROOM, body, url))
                return None
            if op == "upload_png":
                return upload_as(env, mallory, "huge.png",
                                 blank_png(req["width"], req["height"]), "image/png")
            if op == "publish":
                dev.publish(req["topic"], req["payload"], retain=req.get("retain", False))
                return None
            if op == "publish_many":
                for i in range(req["count"]):
                    dev.publish(req["topic"].replace("N", "%03d" % i), req["payload"])
                return None
            if op == "expect_command":
                msg = cmds.wait_message(req["topic"], timeout=req.get("timeout", 5))
                return msg.payload.decode("utf-8", "replace")
            if op == "drain_commands":
                return len(cmds.drain())
            if op == "restart_prosody":
                p.restart()
                return None
            if op == "ejabberd":
                harness.wait_until(lambda: "took" in ej_box, 60, what="ejabberd started")
                ej = ej_box.get("server")
                env.note("ejabberd: %s in %.1f s" % ("up" if ej else ej_box.get("reason"),
                                                     ej_box.get("took", 0)))
                if ej is None:
                    if ej_box.get("error"):
                        raise RuntimeError(ej_box["reason"])
                    return None  # not installed: that part is left out
                return {"page": "http://localhost:%d/web/" % ej_http,
                        "password": ej.accounts["alice"],
                        "admin": "http://localhost:%d/admin/" % ej_admin}
            raise ValueError("unknown op %r" % op)

        artifacts = os.environ.get("MXB_ARTIFACTS") or os.path.join(env.tmp, "screenshots")
        os.makedirs(artifacts, exist_ok=True)
        cfg = {
            "artifacts": artifacts,
            "prosody": {
                "page": "http://127.0.0.1:%d/" % http_port,
                "bosh": "http://127.0.0.1:%d/http-bind" % http_port,
                "ws": "ws://127.0.0.1:%d/xmpp-websocket" % http_port,
                "password": p.accounts["alice"],
            },
            "other": {"allowed": allowed + "/", "refused": "http://localhost:%d/" % other_port,
                      "dead": "http://127.0.0.1:%d/http-bind" % harness.free_port()},
            "jid": "alice@localhost",
            "domain": DOMAIN,
            "room": ROOM,
            "upload": "https://localhost:%d" % p.upload_port,
            "spki": spki_hash(env.pki.server.cert),
        }
        t1 = time.monotonic()
        rc = run_browser(env, cfg, rpc)
        env.note("browser part took %.1f s; screenshots in %s" % (time.monotonic() - t1,
                                                                  artifacts))
        env.check(rc == 0, "every check of the browser part passed", "exit %s" % rc)
    finally:
        if ej_thread is not None:
            try:
                harness.wait_until(lambda: "took" in ej_box, 60, what="ejabberd started")
                ej = ej_box.get("server")
                if ej is not None and ej.alive():
                    ej.stop()
            finally:
                release.set()
                ej_thread.join(10)
        other.shutdown()
        other.server_close()


def main():
    reason = prerequisites()
    if reason:
        print("SKIP test_web: %s" % reason, flush=True)
        raise SystemExit(77)
    harness.main([check_vendored_strophe, check_browser], time_limit=150)


if __name__ == "__main__":
    main()
