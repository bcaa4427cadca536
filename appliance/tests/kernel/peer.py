#!/usr/bin/python3
"""Kernel-TCP peer for appliance/tests/kernel_tcp.rs: plain kernel sockets, stdlib only.

Run inside the test's network namespace (`ip netns exec NS /usr/bin/python3 peer.py ...`):

    peer.py client HOST PORT NBYTES SEED TIMEOUT   connect to [HOST]:PORT
    peer.py server HOST PORT NBYTES SEED TIMEOUT   listen on [HOST]:PORT, accept one

Either way, once connected it sends NBYTES deterministic bytes (random.Random(SEED)),
then shuts down its sending side, while it reads until the peer's FIN, at the same time
(two threads). It prints JSON lines on stdout: {"ready": true} once listening (server),
then one result: sent/received byte counts, their SHA-256, the elapsed time and an error
(null if none). Exit status 0 only without error. Every socket operation times out after
TIMEOUT seconds.
"""

import hashlib
import json
import random
import socket
import sys
import threading
import time

CHUNK = 1 << 20


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def send_stream(sock, nbytes, seed, out):
    try:
        rng = random.Random(seed)
        digest = hashlib.sha256()
        sent = 0
        while sent < nbytes:
            block = rng.randbytes(min(CHUNK, nbytes - sent))
            digest.update(block)
            sock.sendall(block)
            sent += len(block)
        sock.shutdown(socket.SHUT_WR)
        out["sent_bytes"] = sent
        out["sent_sha256"] = digest.hexdigest()
    except Exception as e:  # reported to the test, which fails
        out["send_error"] = "%s: %s" % (type(e).__name__, e)


def recv_stream(sock, out):
    try:
        digest = hashlib.sha256()
        total = 0
        while True:
            data = sock.recv(CHUNK)
            if not data:
                break
            digest.update(data)
            total += len(data)
        out["recv_bytes"] = total
        out["recv_sha256"] = digest.hexdigest()
    except Exception as e:
        out["recv_error"] = "%s: %s" % (type(e).__name__, e)


def main():
    if len(sys.argv) != 7 or sys.argv[1] not in ("client", "server"):
        sys.stderr.write(__doc__)
        return 2
    role, host, port, nbytes, seed, timeout = sys.argv[1:]
    port, nbytes, seed, timeout = int(port), int(nbytes), int(seed), float(timeout)
    result = {"role": role, "error": None}
    start = time.monotonic()
    try:
        if role == "server":
            lsock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.bind((host, port))
            lsock.listen(1)
            lsock.settimeout(timeout)
            emit({"ready": True})
            sock, peer = lsock.accept()
            lsock.close()
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
            peer = sock.getpeername()
        sock.settimeout(timeout)
        result["peer"] = "[%s]:%d" % (peer[0], peer[1])
        start = time.monotonic()
        out = {}
        threads = [
            threading.Thread(target=send_stream, args=(sock, nbytes, seed, out)),
            threading.Thread(target=recv_stream, args=(sock, out)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sock.close()
        result.update(out)
        errors = [out[k] for k in ("send_error", "recv_error") if k in out]
        if errors:
            result["error"] = "; ".join(errors)
    except Exception as e:
        result["error"] = "%s: %s" % (type(e).__name__, e)
    result["elapsed"] = time.monotonic() - start
    emit(result)
    return 0 if result["error"] is None else 1


if __name__ == "__main__":
    sys.exit(main())
