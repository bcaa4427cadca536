#!/usr/bin/env bash
# Tears down what scripts/netns-up.sh built: stops the nodes it started (by their pid
# files), deletes the namespaces (their veth and TUN devices go with them) and the lab
# directory. Idempotent: whatever is already gone is skipped.
#
# Usage (as root): scripts/netns-down.sh [--dir DIR]   (default /tmp/vany-netns; $VANY_NETNS_DIR)
set -euo pipefail

dir="${VANY_NETNS_DIR:-/tmp/vany-netns}"
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) dir="$2"; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "netns-down.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$(id -u)" -ne 0 ]; then
    echo "netns-down.sh: needs root (deleting network namespaces): run it as root" >&2
    exit 1
fi

# The nodes netns-up.sh --start started: SIGTERM (they drain), then SIGKILL after 5 s.
pids=()
for f in "$dir"/n*.pid; do
    [ -e "$f" ] || continue
    pid="$(cat "$f")"
    # Only a vany process: a stale pid file must not hit an unrelated process.
    if [ -n "$pid" ] && grep -qs vany "/proc/$pid/cmdline"; then
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    fi
    rm -f "$f"
done
for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
done
for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done

for ns in vany-client vany-n1 vany-n2 vany-n3 vany-hub; do
    if ip netns list | grep -qw "^$ns"; then
        ip netns del "$ns"
        echo "deleted namespace $ns"
    fi
done
# The DPDK runtime directories of a member started with netns-up.sh --dpdk.
rm -rf /var/run/dpdk/vany-n1 /var/run/dpdk/vany-n2 /var/run/dpdk/vany-n3
if [ -d "$dir" ]; then
    rm -f "$dir"/n[123].toml "$dir"/n[123].log "$dir"/n[123].sock "$dir"/download.py
    rmdir "$dir" 2>/dev/null || echo "netns-down.sh: left $dir (it holds other files)"
fi
echo "lab down"
