#!/usr/bin/env bash
# Builds a vany lab in network namespaces on this machine (see README, "Try TUN mode on
# one laptop"): a hub router, a client host and three members, fd00::/8 addresses only.
#
#                           vany-hub (IPv6 router)
#     hc fd00:99:10::1   h1 fd00:99:1::1   h2 fd00:99:2::1   h3 fd00:99:3::1
#          | veth             | veth            | veth            | veth
#   vany-client: eth0   vany-n1: eth0     vany-n2: eth0     vany-n3: eth0
#   fd00:99:10::2       fd00:99:1::2      fd00:99:2::2      fd00:99:3::2
#                       vtun: care-of     vtun: care-of     vtun: care-of
#                       fd00:20:1::1      fd00:20:2::1      fd00:20:3::1
#                       + anycast fd00:aa::1 (contact node)
#
# Writes n1.toml .. n3.toml and download.py into the lab directory, and starts nothing
# unless --start is given (then it starts the three nodes; logs and pid files in the
# lab directory). Undo with scripts/netns-down.sh.
#
# With --dpdk N, member N runs on DPDK instead of TUN (README, "Appliance mode on DPDK"):
# a net_af_packet port on vany-nN's eth0 (it shares the veth's MAC) owns the care-of
# address and answers neighbor discovery for it; eth0 keeps fd00:99:N::2 for gossip and
# metrics; the hub routes the care-of address on-link out of hN; vany-nN does not forward.
#
# Usage (as root): scripts/netns-up.sh [--start] [--dpdk N] [--dir DIR] [--vany PATH]
#   --dpdk N     member N (1-3) on DPDK (a vany built with DPDK; no hugepages needed)
#   --dir DIR    lab directory (default /tmp/vany-netns; also $VANY_NETNS_DIR)
#   --vany PATH  the vany binary for --start (default target/release/vany)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dir="${VANY_NETNS_DIR:-/tmp/vany-netns}"
vany="$here/target/release/vany"
start=0
dpdk=0
while [ $# -gt 0 ]; do
    case "$1" in
        --start) start=1 ;;
        --dpdk) dpdk="$2"; shift ;;
        --dir) dir="$2"; shift ;;
        --vany) vany="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "netns-up.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

case "$dpdk" in
    0|1|2|3) ;;
    *) echo "netns-up.sh: --dpdk takes a member, 1 to 3 (got '$dpdk')" >&2; exit 2 ;;
esac
if [ "$(id -u)" -ne 0 ]; then
    echo "netns-up.sh: needs root (network namespaces, veth and TUN devices): run it as root" >&2
    exit 1
fi
command -v ip >/dev/null || { echo "netns-up.sh: 'ip' not found (apt-get install iproute2)" >&2; exit 1; }
command -v nft >/dev/null || echo "netns-up.sh: note: 'nft' not found; vany client needs it (apt-get install nftables)" >&2
if [ "$start" = 1 ] && [ ! -x "$vany" ]; then
    echo "netns-up.sh: no vany binary at $vany (cargo build --release -p vany-appliance, or --vany PATH)" >&2
    exit 1
fi
if ip netns list | grep -qw '^vany-hub'; then
    echo "netns-up.sh: the lab exists already (vany-hub); run scripts/netns-down.sh first" >&2
    exit 1
fi

anycast=fd00:aa::1
key=$(od -An -tx1 -N20 /dev/urandom | tr -d ' \n')
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

# Undo what was built if a step fails.
trap 'echo "netns-up.sh: failed; tearing down" >&2; "$here/scripts/netns-down.sh" --dir "$dir" >/dev/null 2>&1 || true' ERR

mkns() {
    ip netns add "$1"
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw "net.ipv6.conf.all.forwarding=$2"
}

# link NS HUB_DEV HUB_ADDR ADDR: a veth from the hub to eth0 of NS, default route via the hub.
link() {
    ip -n vany-hub link add "$2" type veth peer name eth0 netns "$1"
    ip -n vany-hub addr add "$3/64" dev "$2" nodad
    ip -n "$1" addr add "$4/64" dev eth0 nodad
    ip -n vany-hub link set "$2" up
    ip -n "$1" link set eth0 up
    ip -n "$1" -6 route add default via "$3"
}

mkns vany-hub 1
mkns vany-client 0
link vany-client hc fd00:99:10::1 fd00:99:10::2
for i in 1 2 3; do
    ns=vany-n$i
    routed="fd00:20:$i::1/128"
    [ "$i" = 1 ] && routed="$routed $anycast/128"
    if [ "$i" = "$dpdk" ]; then
        # The kernel sees every frame the DPDK port sees: it must not forward the
        # member's packets back to the hub.
        mkns "$ns" 0
        link "$ns" "h$i" "fd00:99:$i::1" "fd00:99:$i::2"
        for r in $routed; do
            ip -n vany-hub -6 route add "$r" dev "h$i"
        done
    else
        mkns "$ns" 1
        link "$ns" "h$i" "fd00:99:$i::1" "fd00:99:$i::2"
        # The node's TUN, persistent so that it is routed before the node starts.
        ip -n "$ns" tuntap add dev vtun mode tun
        ip -n "$ns" link set vtun up
        for r in $routed; do
            ip -n "$ns" -6 route add "$r" dev vtun
            ip -n vany-hub -6 route add "$r" via "fd00:99:$i::2"
        done
    fi
    {
        echo "# vany node $i (written by scripts/netns-up.sh; see vany node --example-config)"
        echo "id = $i"
        [ "$i" = "$dpdk" ] || echo "tun = \"vtun\""
        echo "anycast = \"$anycast\""
        echo "contact_node = 1"
        echo "group_key = \"$key\""
        echo "control_socket = \"$dir/n$i.sock\""
        echo "metrics_listen = \"[fd00:99:$i::2]:9100\""
        echo "log_level = \"info\""
        echo
        if [ "$i" = "$dpdk" ]; then
            echo "[io]"
            echo "backend = \"dpdk\""
            echo "eal = [\"-l\", \"0\", \"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--vdev=net_af_packet0,iface=eth0\", \"--file-prefix=vany-n$i\"]"
            echo "port = \"net_af_packet0\""
            echo "gateway = \"fd00:99:$i::1\""
            echo
        fi
        echo "[gossip]"
        echo "listen = \"[fd00:99:$i::2]:4700\""
        echo "probe_period_ms = 500"
        echo "probe_rtt_ms = 150"
        echo "suspect_to_down_ms = 1500"
        for m in 1 2 3; do
            echo
            echo "[members.$m]"
            echo "name = \"node$m\""
            echo "care_of = \"fd00:20:$m::1\""
            [ "$m" = 1 ] && echo "contact = true"
            echo "gossip = \"[fd00:99:$m::2]:4700\""
        done
    } > "$dir/n$i.toml"
    chmod 600 "$dir/n$i.toml"
done

# A kernel TCP client for the hosted `source` app: asks stream ID of MIB MiB at
# RATE MiB/s (0 = unpaced), checks every byte, prints progress and the SHA-256.
cat > "$dir/download.py" <<'PY'
import hashlib, socket, struct, sys, time
M = (1 << 64) - 1
def word(sid, block):  # apps/source.rs stream_word: SplitMix64 of (id, block)
    z = (sid * 0xD1B54A32D192ED03 + block + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
def expected(sid, off, n):
    first, last = off // 8, (off + n + 7) // 8
    b = b"".join(struct.pack("<Q", word(sid, k)) for k in range(first, last))
    return b[off - first * 8: off - first * 8 + n]
sid = int(sys.argv[1]) if len(sys.argv) > 1 else 1
n = (int(sys.argv[2]) if len(sys.argv) > 2 else 64) << 20
rate = int(float(sys.argv[3]) * (1 << 20)) if len(sys.argv) > 3 else 4 << 20
s = socket.create_connection(("fd00:aa::1", 80), timeout=10)
s.sendall(struct.pack(">QQQ", sid, n, rate))
h, got, gap, t0 = hashlib.sha256(), 0, 0.0, time.monotonic()
last = shown = t0
while got < n:
    b = s.recv(1 << 16)
    if not b:
        break
    now = time.monotonic()
    gap, last = max(gap, now - last), now
    if b != expected(sid, got, len(b)):
        sys.exit(f"wrong byte in {got}..{got + len(b)}")
    h.update(b)
    got += len(b)
    if now - shown >= 1:
        print(f"{got / 2**20:7.1f} MiB  largest gap {gap * 1000:.0f} ms", flush=True)
        shown = now
s.close()
print(f"{got} bytes in {time.monotonic() - t0:.1f} s, largest gap {gap * 1000:.0f} ms, "
      f"sha256 {h.hexdigest()}", "complete" if got == n else "INCOMPLETE")
PY

trap - ERR
echo "lab up: namespaces vany-hub vany-client vany-n1 vany-n2 vany-n3; configs in $dir"

if [ "$start" = 1 ]; then
    for i in 1 2 3; do
        ip netns exec "vany-n$i" "$vany" node --config "$dir/n$i.toml" \
            </dev/null >"$dir/n$i.log" 2>&1 &
        echo $! > "$dir/n$i.pid"
    done
    sleep 1
    for i in 1 2 3; do
        if ! kill -0 "$(cat "$dir/n$i.pid")" 2>/dev/null; then
            echo "netns-up.sh: node $i did not start:" >&2
            cat "$dir/n$i.log" >&2
            exit 1
        fi
    done
    echo "nodes started (pids $(cat "$dir"/n*.pid | tr '\n' ' ')); logs: $dir/n1.log .. n3.log"
    echo "status: $vany ctl --socket $dir/n1.sock status"
fi
