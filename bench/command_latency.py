#!/usr/bin/python3
"""XMPP -> MQTT latency of 100 commands at 20/s, with Prosody's Nagle on (its default) or off:
    MXB_BRIDGE=build/mqtt-xmpp-bridge /usr/bin/python3 bench/command_latency.py on|off
Each command is timed from the chat message leaving alice to its publish reaching an MQTT
subscriber."""
import sys, time, statistics
import os
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import harness
NAGLE = sys.argv[1] == "off"
def check_lat(env):
    extra = "network_settings = { nagle = false }\n" if NAGLE else ""
    p = env.prosody(users=("bridge", "alice"), extra=extra)
    m = env.mosquitto()
    alice = env.xmpp(p, "alice")
    b = env.start_bridge_ready(p, m, over={"commands": [{"from": ["alice@localhost"], "allow": ["lat/#"], "qos": 1}]})
    sub = env.mqtt(m).subscribe("lat/#")
    lat = []
    for i in range(100):
        t0 = time.monotonic()
        alice.send_message("bridge@localhost", "lat/x %d" % i)
        sub.wait_message("lat/x", lambda mm: mm.payload == str(i).encode(), timeout=5)
        lat.append((time.monotonic() - t0) * 1000)
        time.sleep(0.02)
    lat.sort()
    print("nagle %s: p50 %.2f ms p90 %.2f ms max %.2f ms" % ("off" if NAGLE else "on", lat[50], lat[90], lat[-1]))
harness.main([check_lat], time_limit=100)
