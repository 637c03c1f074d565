"""Prosody 0.12 as the tests run it: a config of its own, accounts via prosodyctl."""

import os

from .procs import free_port, run
from .xmppserver import XMPP_DOMAIN, XmppServer


class Prosody(XmppServer):
    """prosody --config FILE -F with one VirtualHost "localhost", STARTTLS required.
    cert: the Cert the VirtualHost presents (env.pki.wrong_host for the wrong-name case).
    extra: more Lua settings, put before the VirtualHost (they replace ours).
    muc: rooms on conference.localhost, created unlocked by whoever joins first.
    component: (domain, secret) of a XEP-0114 component on .component_port.
    modules: more modules_enabled (e.g. "offline").
    upload: HTTP File Upload (mod_http_file_share) on upload.localhost for files up to
    upload bytes, PUT and GET on https://localhost:.upload_port/file_share/ (127.0.0.1
    only, the VirtualHost's certificate); upload_url: what the slots name instead
    (http_external_url), e.g. a listener of the test's own."""

    def __init__(self, env, cert, name="prosody", auth="internal_plain", extra="", muc=False,
                 component=None, modules=(), upload=None, upload_url=None):
        super().__init__(env, cert, name)
        self.upload_port = None
        self.component_port = None
        self.component_domain = self.component_secret = None
        if component:
            self.component_port = free_port()
            self.component_domain, self.component_secret = component
            extra = """component_ports = {{ {port} }}
component_interfaces = {{ "127.0.0.1" }}
""".format(port=self.component_port) + extra
        hosts = ""
        if component:
            hosts += 'Component "%s"\n\tcomponent_secret = "%s"\n' % component
        if muc:
            hosts += ('Component "conference.localhost" "muc"\n'
                      '\tmuc_room_locking = false\n\trestrict_room_creation = false\n')
        if upload is not None:
            # "localhost" in the URLs: upload.localhost does not resolve (SERVERS.md)
            self.upload_port = free_port()
            hosts += ('Component "upload.localhost" "http_file_share"\n'
                      '\thttp_host = "localhost"\n\thttp_file_share_size_limit = %d\n'
                      % upload)
            if upload_url:
                hosts += '\thttp_external_url = "%s"\n' % upload_url
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        self.conf_path = os.path.join(self.dir, "prosody.cfg.lua")

        def q(s):
            return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')
        conf = """
run_as_root = true
daemonize = false
data_path = {data}
pidfile = {pid}
log = {{ debug = {log} }}
certificates = {certs}
interfaces = {{ "127.0.0.1" }}
local_interfaces = {{ "127.0.0.1" }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
s2s_direct_tls_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
admins = {{ }}
authentication = {auth}
storage = "internal"
allow_registration = false
c2s_require_encryption = true
allow_unencrypted_plain_auth = false
modules_enabled = {{ "roster", "saslauth", "tls", "disco", "ping", "version", "presence",
	"message", "posix", "smacks"{modules} }}
modules_disabled = {{ "s2s", "s2s_auth_certs" }}
{extra}
VirtualHost "localhost"
	ssl = {{ certificate = {crt}; key = {key}; }}
{hosts}""".format(modules="".join(', "%s"' % m for m in modules), hosts=hosts,data=q(self.data), pid=q(os.path.join(self.dir, "prosody.pid")),
           log=q(self.log.path), certs=q(os.path.join(self.dir, "certs")), port=self.port,
           auth=q(auth), extra=extra, crt=q(cert.cert), key=q(cert.key))
        # An option set twice makes Prosody warn with the line number, which it cannot find
        # when the config's path is long (Lua cuts it): the extra settings replace ours.
        if "component_ports" in extra:
            conf = conf.replace("component_ports = { }\n", "", 1)
        if upload is not None:
            conf = conf.replace("https_ports = { }\n", """https_ports = {{ {port} }}
https_interfaces = {{ "127.0.0.1" }}
https_ssl = {{ certificate = {crt}; key = {key}; }}
""".format(port=self.upload_port, crt=q(cert.cert), key=q(cert.key)), 1)
        with open(self.conf_path, "w") as f:
            f.write(conf)

    def argv(self):
        return ["prosody", "--config", self.conf_path, "-F"]

    def register_now(self, user, password):
        """prosodyctl register: works whether or not the server runs."""
        r = run(["prosodyctl", "--config", self.conf_path, "register", user, XMPP_DOMAIN,
                 password], check=False)
        if r.returncode != 0:
            raise RuntimeError("prosodyctl register %s failed (%d): %s%s" % (
                user, r.returncode, r.stdout, r.stderr))
