#!/usr/bin/python3
"""Logins: a wrong XMPP password is reported as such and never logged; password_file
works; MQTT username/password against a broker that refuses anonymous clients."""

import os

import harness


def setup(env):
    env.p, env.m = env.standard_servers()


def check_xmpp_wrong_password(env):
    wrong = "wrong-" + env.p.accounts["bridge"][::-1]
    b = env.bridge(env.bridge_config(env.p, env.m, {"xmpp": {"password": wrong}}))
    m = b.wait_log(r"xmpp: authentication failed for 'bridge@localhost'", timeout=30)
    env.check(True, "log: %r" % harness.line_of(m))
    env.check(b.absent(r"xmpp: session established", 1.0) is None, "no session established")
    b.wait_log(r"mqtt: connected to ", timeout=15)
    env.check(True, "the MQTT side connected anyway")
    log = b.text()
    env.check(wrong not in log and env.p.accounts["bridge"] not in log,
              "neither the wrong nor the right password appears in the log")
    rc = b.stop()
    env.check(rc == 0, "SIGTERM -> exit 0 while XMPP keeps failing", rc)


def check_xmpp_password_file(env):
    pwfile = os.path.join(env.tmp, "xmpp.password")
    with open(pwfile, "w") as f:
        f.write(env.p.accounts["bridge"] + "\nsecond line is ignored\n")
    os.chmod(pwfile, 0o600)
    cfg = env.bridge_config(env.p, env.m)
    del cfg["xmpp"]["password"]
    cfg["xmpp"]["password_file"] = pwfile
    b = env.bridge(cfg)
    b.wait_log(r"xmpp: session established as 'bridge@localhost/bridge'", timeout=30)
    env.check(True, "password_file (first line) logs in")
    env.check(env.p.accounts["bridge"] not in b.text(), "the password is not logged")
    env.check(b.stop() == 0, "exit 0")


def check_mqtt_credentials(env):
    pw = "mqtt-" + env.p.accounts["alice"]
    ma = env.mosquitto(name="mosquitto-auth", users={"bridge": pw}, anonymous=False)
    b = env.bridge(env.bridge_config(env.p, ma, {
        "mqtt": {"username": "bridge", "password": pw, "client_id": "mxb-auth-1"}}))
    b.wait_log(r"mqtt: connected to 127\.0\.0\.1:%d" % ma.tls_port, timeout=30)
    env.check(True, "right MQTT username/password: connected to 127.0.0.1:%d" % ma.tls_port)
    env.check(b.stop() == 0, "exit 0")

    b = env.bridge(env.bridge_config(env.p, ma, {
        "mqtt": {"username": "bridge", "password": "not-" + pw, "client_id": "mxb-auth-2"}}))
    b.wait_log(r"xmpp: session established", timeout=30)
    ma.log.wait(r"(?i)(not authori[sz]ed|bad user name or password|client mxb-auth-2 "
                r"disconnected)", timeout=10)
    env.check(b.absent(r"mqtt: connected", 1.5) is None,
              "wrong MQTT password: no 'mqtt: connected'")
    env.check(("not-" + pw) not in b.text(), "the MQTT password is not logged")
    env.check(b.alive(), "the bridge keeps running (and retrying)")
    env.check(b.stop() == 0, "exit 0")
    ma.stop()


if __name__ == "__main__":
    harness.main([setup, check_xmpp_wrong_password, check_xmpp_password_file,
                  check_mqtt_credentials])
