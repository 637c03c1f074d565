"""Integration test harness for mqtt-xmpp-bridge.

Starts throwaway mosquitto and Prosody (or ejabberd) instances on loopback ports in a
temp dir, generates a PKI with the openssl CLI, drives the bridge binary and offers
synchronous XMPP (slixmpp) and MQTT (paho) test clients. Every process it starts is
killed by its pid at the end, also on exceptions, on SIGTERM/SIGINT (meson's timeout)
and, through PR_SET_PDEATHSIG, when the test process itself dies.

A test file is a standalone program:

    import harness
    def check_something(env):
        ...
    if __name__ == "__main__":
        harness.main([check_something])

The modules, one concern each:
    procs       spawning, signals, killing by pid, ports, waiting, log files
    pki         the generated CAs and certificates
    mosquitto   the MQTT broker
    xmppserver  what the XMPP servers share (start, readiness, stop, accounts)
    prosody, ejabberd   the two XMPP servers
    ejabberdcluster     two ejabberd nodes in one cluster, with their own epmd
    bridge      the bridge process, bridge.conf, its counters
    xmppclient, mqttclient   the test clients
    env         Env (servers by kind, checks, cleanup) and main()
Everything a test uses is importable from the package itself, as listed in __all__.

Environment:
    MXB_BRIDGE     the bridge binary (default SRCDIR/build/mqtt-xmpp-bridge)
    MXB_SRCDIR     the source tree (default: two levels above this package's directory)
    MXB_KEEP_TMP   keep the temp dir of each run
    MXB_LOG_LEVEL  bridge.log_level in generated configs (default "info")
    MXB_VERBOSE    print the log tails also when everything passed
    MXB_BRIDGE_WRAPPER  a command put in front of the bridge (shlex-split), e.g. valgrind
    MXB_TIME_SCALE multiplies each test file's time limit (default 1)
    MXB_XMPP_SERVER  the server env.xmpp_server() starts: prosody (default) or ejabberd
    MXB_MQTT_BROKER  the broker env.broker() starts: mosquitto (the default and only one)
"""

from .bridge import (DEFAULT_BRIDGE, Bridge, bridge_binary, bridge_counters, counter_delta,
                     format_config, merge)
from .ejabberd import EJABBERD_INETRC, EJABBERD_LIBS, Ejabberd, ejabberd_installed
from .ejabberdcluster import ClusterNode, EjabberdCluster
from .env import (BROKERS, XMPP_SERVERS, Env, broker_kind, main, xmpp_server_kind)
from .mosquitto import Mosquitto
from .mqttclient import MqttClient, MqttMessage
from .pki import PKI, Cert
from .procs import (HERE, LOOPBACK, SRCDIR, LogFile, Terminated, TestFailure, TestTimeout,
                    _pdeathsig, free_port, install_signal_handlers, kill_all_children,
                    line_of, port_accepts, port_owner_pids, run, spawn, tail, terminate,
                    wait_until)
from .prosody import Prosody
from .streams import SeqPublisher
from .xmppclient import IqResult, Message, Presence, XmppClient
from .xmppserver import XMPP_DOMAIN, XmppServer

__all__ = [
    # paths and addresses
    "HERE", "SRCDIR", "DEFAULT_BRIDGE", "LOOPBACK", "XMPP_DOMAIN", "bridge_binary",
    # errors
    "TestFailure", "Terminated", "TestTimeout",
    # processes, ports, waiting, logs
    "spawn", "terminate", "kill_all_children", "install_signal_handlers", "_pdeathsig",
    "free_port", "port_accepts", "port_owner_pids", "wait_until", "run", "line_of", "tail",
    "LogFile",
    # PKI
    "Cert", "PKI",
    # servers
    "Mosquitto", "XmppServer", "Prosody", "Ejabberd", "EjabberdCluster", "ClusterNode",
    "EJABBERD_LIBS", "EJABBERD_INETRC",
    "ejabberd_installed", "XMPP_SERVERS", "BROKERS", "xmpp_server_kind", "broker_kind",
    # the bridge
    "format_config", "merge", "Bridge", "bridge_counters", "counter_delta",
    # clients
    "Message", "Presence", "IqResult", "XmppClient", "MqttMessage", "MqttClient",
    "SeqPublisher",
    # the environment
    "Env", "main",
]
