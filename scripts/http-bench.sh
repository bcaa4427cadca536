#!/bin/bash
# Requests per second of the http app of one `vany node`, measured with ApacheBench
# (`apt-get install apache2-utils`) and Python's http.client from another network
# namespace. As root:
#
#   scripts/http-bench.sh [path/to/vany]      (default: target/release/vany)
#
# Prints, per run: ab -k -c 50 -n 100000 GET /health (keep-alive, three runs),
# ab -c 20 -n 20000 GET /bytes/1000 (a connection per request) and a 5 s
# http.client keep-alive loop. Namespaces vbh<pid>-hub and vbh<pid>-n1 (fd00::/8
# addresses only) and the node are removed on exit. Numbers on a shared machine vary by
# a factor of two from run to run: compare several runs.
set -eu
BIN=$(realpath "${1:-target/release/vany}")
command -v ab >/dev/null || { echo "needs ab (apt-get install apache2-utils)" >&2; exit 2; }
P=vbh$$ D=$(mktemp -d) H=vbh$$-hub N=vbh$$-n1 NODE=
cleanup() {
    [ -n "$NODE" ] && kill "$NODE" 2>/dev/null && wait "$NODE" 2>/dev/null
    ip netns del "$H" 2>/dev/null; ip netns del "$N" 2>/dev/null; rm -rf "$D"
}
trap cleanup EXIT
ip netns add "$H"; ip netns add "$N"
for ns in "$H" "$N"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
done
ip -n "$H" addr add fd00:98:ff::10/128 dev lo
ip -n "$H" link add h1 type veth peer name eth0 netns "$N"
ip -n "$H" addr add fd00:98:1::1/64 dev h1 nodad
ip -n "$N" addr add fd00:98:1::2/64 dev eth0 nodad
ip -n "$H" link set h1 up; ip -n "$N" link set eth0 up
ip -n "$N" -6 route add default via fd00:98:1::1
ip -n "$N" tuntap add dev vtun mode tun; ip -n "$N" link set vtun up
for a in fd00:21:1::1/128 fd00:ab::1/128; do
    ip -n "$N" -6 route add "$a" dev vtun
    ip -n "$H" -6 route add "$a" via fd00:98:1::2
done
cat > "$D/n1.toml" <<EOT
id = 1
tun = "vtun"
anycast = "fd00:ab::1"
contact_node = 1
group_key = "5ca1ab1e0ddba11c0ffee000deadbeef5ca1ab1e"
control_socket = "$D/n1.sock"
log_level = "warn"
apps = { 8080 = "http" }
[members.1]
name = "node1"
care_of = "fd00:21:1::1"
contact = true
EOT
ip netns exec "$N" "$BIN" node --config "$D/n1.toml" > "$D/log" 2>&1 &
NODE=$!
sleep 1
AB="ip netns exec $H timeout 120 ab -q -B fd00:98:ff::10"
for i in 1 2 3; do
    echo "ab -k -c 50 -n 100000 /health, run $i:"
    $AB -k -c 50 -n 100000 'http://[fd00:ab::1]:8080/health' | grep -E "Requests per second|Failed requests"
done
echo "ab -c 20 -n 20000 /bytes/1000 (no keep-alive):"
$AB -c 20 -n 20000 'http://[fd00:ab::1]:8080/bytes/1000' | grep -E "Requests per second|Failed requests|longest"
ip netns exec "$H" timeout 60 python3 - <<'EOPY'
import http.client, time
c = http.client.HTTPConnection("fd00:ab::1", 8080, timeout=10, source_address=("fd00:98:ff::10", 0))
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < 5 and n < 200000:
    c.request("GET", "/health"); c.getresponse().read(); n += 1
print("http.client keep-alive loop: %.0f req/s" % (n / (time.monotonic() - t0)))
EOPY
