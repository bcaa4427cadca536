#!/usr/bin/env python3
"""Measures how long `vany ctl status` and a /metrics scrape take on a real `vany node`
while 500 idle connections are held open to its control socket and to /metrics.

Run as root (it makes a network namespace, vany-cpidle, with the node's TUN in it, and
deletes it at the end): python3 scripts/control-plane-idle.py [--vany target/release/vany]
[--idle 500] [--rounds 5]. fd00::/8 and loopback addresses only; every wait is bounded.
"""

import argparse
import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

NS = "vany-cpidle"


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=30)


def in_ns(code):
    """Runs this file again inside the namespace (sockets must be opened there)."""
    return ["ip", "netns", "exec", NS, sys.executable, "-c", code]


MEASURE = r"""
import http.client, socket, subprocess, sys, time
vany, sock, port, idle, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
held = []
for _ in range(idle):
    u = socket.socket(socket.AF_UNIX); u.settimeout(10); u.connect(sock); held.append(u)
    t = socket.create_connection(("::1", port), timeout=10); held.append(t)
for s in held[-100:]:  # some idle halfway through a request (the oldest are closed)
    try:
        s.send(b'{"cmd":' if s.family == socket.AF_UNIX else b"GET /metrics HTTP/1.1\r\n")
    except OSError:
        pass
for r in range(rounds):
    t0 = time.monotonic()
    out = subprocess.run([vany, "ctl", "status", "--socket", sock], capture_output=True, timeout=30)
    t1 = time.monotonic()
    c = http.client.HTTPConnection("::1", port, timeout=10)
    c.request("GET", "/metrics"); body = c.getresponse().read(); c.close()
    t2 = time.monotonic()
    ok = out.returncode == 0 and b'"kind": "status"' in out.stdout and b"vany_sessions" in body
    print(f"round {r}: ctl status {1000*(t1-t0):.1f} ms (exit {out.returncode}), "
          f"scrape {1000*(t2-t1):.1f} ms ({len(body)} bytes) {'ok' if ok else 'FAILED'}")
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vany", default="target/release/vany")
    ap.add_argument("--idle", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    a = ap.parse_args()
    vany = os.path.abspath(a.vany)
    if os.geteuid() != 0:
        sys.exit("run as root (network namespace and TUN device)")
    d = tempfile.mkdtemp(prefix="vany-cpidle-")
    sock = os.path.join(d, "ctl.sock")
    cfg = os.path.join(d, "node.toml")
    with open(os.open(cfg, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write(f"""id = 1
tun = "vtun"
anycast = "fd00:aa::1"
contact_node = 1
group_key = "00112233445566778899aabbccddeeff"
control_socket = "{sock}"
metrics_listen = "9100"
[members.1]
care_of = "fd00:20:1::1"
contact = true
""")
    sh("ip", "netns", "del", NS, check=False)
    sh("ip", "netns", "add", NS)
    node = None
    try:
        sh("ip", "-n", NS, "link", "set", "lo", "up")
        log = open(os.path.join(d, "node.log"), "w")
        node = subprocess.Popen(["ip", "netns", "exec", NS, vany, "node", "--config", cfg],
                                stdout=log, stderr=log)
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.1)
        else:
            sys.exit("the node did not start: " + open(os.path.join(d, "node.log")).read())
        out = subprocess.run(in_ns(MEASURE) + [vany, sock, "9100", str(a.idle), str(a.rounds)],
                             capture_output=True, text=True, timeout=300)
        print(f"{a.idle} idle connections to the control socket and to /metrics:")
        print(out.stdout + out.stderr, end="")
    finally:
        if node:
            node.terminate()
            try:
                node.wait(timeout=15)
            except subprocess.TimeoutExpired:
                node.kill()
        sh("ip", "netns", "del", NS, check=False)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
