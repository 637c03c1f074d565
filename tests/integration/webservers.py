"""The XMPP servers serving the web dashboard (web/www) as docs/dashboard.md shows, for
test_web.py and scripts/demo.py: Prosody with http_files, BOSH and WebSocket on plain
http on loopback; ejabberd with mod_http_fileserver, mod_bosh, ejabberd_http_ws and
mod_host_meta; and the copy of the page they serve."""

import json
import os
import shutil

import harness

WWW = os.path.join(harness.SRCDIR, "web", "www")


def site_copy(dest, http_port, config=None):
    """web/www copied to dest, with the host-meta file docs/dashboard.md suggests for
    Prosody (which has no host-meta module of its own) and, when config is given, a
    config.js setting those keys."""
    shutil.copytree(WWW, dest)
    os.makedirs(os.path.join(dest, ".well-known"))
    with open(os.path.join(dest, ".well-known", "host-meta.json"), "w") as f:
        json.dump({"links": [
            {"rel": "urn:xmpp:alt-connections:websocket",
             "href": "ws://127.0.0.1:%d/xmpp-websocket" % http_port},
            {"rel": "urn:xmpp:alt-connections:xbosh",
             "href": "http://127.0.0.1:%d/http-bind" % http_port},
        ]}, f)
    if config:
        with open(os.path.join(dest, "config.js"), "w") as f:
            f.write("window.MXB_CONFIG = %s;\n" % json.dumps(config, indent="\t"))
    return dest


def prosody_http_extra(http_port, site, cors_origins, component=None, muc=True):
    """Lua settings for env.prosody(extra=...): the page (http_files at /), BOSH with CORS
    for cors_origins only, WebSocket (which checks no Origin), both taken as secure on
    plain http; component = (domain, secret, port) adds the bridge's component; muc adds
    conference.localhost. Global settings come first: after a Component line, settings
    belong to that component."""
    origins = ", ".join('"%s"' % o for o in cors_origins)
    out = """
http_ports = {{ {hport} }}
http_interfaces = {{ "127.0.0.1" }}
http_default_host = "localhost"
http_files_dir = "{site}"
http_paths = {{ files = "/" }}
consider_bosh_secure = true
consider_websocket_secure = true
http_cors_override = {{ bosh = {{ enabled = true; origins = {{ {origins} }} }} }}
""".format(hport=http_port, site=site, origins=origins)
    if component:
        domain, secret, cport = component
        out += """component_ports = {{ {cport} }}
component_interfaces = {{ "127.0.0.1" }}
Component "{domain}"
	component_secret = "{secret}"
""".format(cport=cport, domain=domain, secret=secret)
    if muc:
        out += """Component "conference.localhost" "muc"
	muc_room_locking = false
"""
    return out


def prosody_enable_http(prosody):
    """Rewrites the config of a Prosody made with start=False: the base config's empty
    http_ports and its module list give way to the web modules."""
    with open(prosody.conf_path) as f:
        conf = f.read()
    conf = conf.replace("http_ports = { }\n", "", 1)
    conf = conf.replace('"posix", "smacks" }', '"posix", "smacks", "bosh", "websocket", '
                        '"http_files" }', 1)
    with open(prosody.conf_path, "w") as f:
        f.write(conf)
    return prosody


def ejabberd_enable_http(ej, http_port, admin_port, site):
    """Rewrites the config of an ejabberd made with start=False: the page with
    mod_http_fileserver under /web, BOSH under /bosh, WebSocket under /ws and host-meta
    on one listener, the web admin on a listener of its own. ejabberd's HTTP handlers
    answer only for a virtual host's name in the Host header ("Host unknown" for
    127.0.0.1): the page is http://localhost:PORT/web/."""
    listeners = """listen:
  -
    port: {port}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /bosh: mod_bosh
      /ws: ejabberd_http_ws
      /web: mod_http_fileserver
      /.well-known/host-meta: mod_host_meta
      /.well-known/host-meta.json: mod_host_meta
  -
    port: {admin}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /admin: ejabberd_web_admin
""".format(port=http_port, admin=admin_port)
    modules = """modules:
  mod_bosh: {{}}
  mod_host_meta:
    bosh_service_url: "http://@HOST@:{port}/bosh"
    websocket_url: "ws://@HOST@:{port}/ws"
  mod_http_fileserver:
    docroot: {site}
    directory_indices:
      - index.html
""".format(port=http_port, site=json.dumps(site))
    with open(ej.conf_path) as f:
        conf = f.read()
    conf = conf.replace("listen:\n", listeners, 1).replace("modules:\n", modules, 1)
    with open(ej.conf_path, "w") as f:
        f.write(conf)
    return ej
