#!/bin/bash
# Requests per second of vany's `files` and `proxy` apps against nginx and Python's
# http.server served directly (kernel TCP), same machine, same client. As root:
#
#   scripts/apps-bench.sh [--seconds N] [--connections "1 16"] [--bin PATH] [--build]
#
# Two namespaces, like scripts/http-bench.sh: a hub (the client: wrk and ab) and a member
# (a `vany node` on a TUN device, nginx and http.server on its veth address), joined by a
# veth pair; fd00::/8 addresses only. Every server is one hop away from the client over
# the same veth; vany's also go through the TUN device and its userspace TCP.
#
#   files-vany     the files app on the anycast address, serving DIR
#   files-python   python3 -m http.server --protocol HTTP/1.1 serving DIR
#   files-nginx    nginx (one worker, sendfile on) serving DIR
#   proxy-vany     the proxy app, backend nginx on [::1] in the member's namespace
#   proxy-nginx    that nginx reached directly (the same server as files-nginx)
#
# DIR holds a 4 KiB and a 1 MiB file of random bytes. Each run lasts N seconds (default
# 5) with keep-alive: wrk (one thread, latency percentiles) and ApacheBench (`ab -k`, as
# http-bench.sh uses it), for each connection count. Then a table (requests/s, MiB/s of
# bodies, p50/p99 latency in ms, errors) and the ratios vany/direct. Namespaces,
# processes and the temp dir are removed on exit. Numbers on a shared machine vary by a
# factor of two from run to run: look at the load average printed first, compare runs.
set -eu

usage() {
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    cat <<'EOT'
Options:
  --seconds N          length of each measurement (default 5)
  --connections LIST   connection counts, quoted, space separated (default "1 16")
  --bin PATH           the vany binary (default target/release/vany)
  --build              run `cargo build --release -p vany-appliance --bin vany` first
  --help               this text
EOT
}

SECS=5 CONNS="1 16" BIN=target/release/vany BUILD=
while [ $# -gt 0 ]; do
    case "$1" in
        --help|-h) usage; exit 0 ;;
        --seconds) SECS=${2:-}; shift 2 || { echo "--seconds needs a value" >&2; exit 2; } ;;
        --connections) CONNS=${2:-}; shift 2 || { echo "--connections needs a value" >&2; exit 2; } ;;
        --bin) BIN=${2:-}; shift 2 || { echo "--bin needs a value" >&2; exit 2; } ;;
        --build) BUILD=1; shift ;;
        *) echo "apps-bench.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
case "$SECS" in ''|*[!0-9]*|0) echo "--seconds wants a positive whole number, not '$SECS'" >&2; exit 2 ;; esac
for c in $CONNS; do
    case "$c" in ''|*[!0-9]*|0) echo "--connections wants positive whole numbers, not '$c'" >&2; exit 2 ;; esac
done
[ -n "$CONNS" ] || { echo "--connections is empty" >&2; exit 2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "apps-bench.sh: must run as root (it creates network namespaces and a TUN device): sudo $0 $*" >&2
    exit 2
fi
missing=
need() { command -v "$1" >/dev/null || missing="$missing $2"; }
need ip iproute2; need wrk wrk; need ab apache2-utils; need nginx nginx-light
need curl curl; need sha256sum coreutils; need awk gawk
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || missing="$missing python3"
if [ -n "$missing" ]; then
    echo "apps-bench.sh: missing tools; apt-get install$missing" >&2
    exit 2
fi
if [ -n "$BUILD" ]; then
    cargo build --release -p vany-appliance --bin vany
fi
[ -x "$BIN" ] || { echo "apps-bench.sh: no vany binary at $BIN: cargo build --release -p vany-appliance --bin vany (or --build)" >&2; exit 2; }
BIN=$(realpath "$BIN")
# http.server keeps connections alive only with --protocol HTTP/1.1 (Python 3.11+).
PYPROTO=(--protocol HTTP/1.1)
"$PY" -m http.server --help 2>/dev/null | grep -q -- --protocol || PYPROTO=()

D=$(mktemp -d) H=vab$$-hub N=vab$$-n1 PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    ip netns del "$H" 2>/dev/null || true
    ip netns del "$N" 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the machine -------------------------------------------------------------------
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')
echo "cpu: ${CPU:-unknown}, $(nproc) cores; load average before the run: $LOAD"
awk -v l="${LOAD%% *}" 'BEGIN { exit !(l > 1.0) }' \
    && echo "warning: load average > 1.0: numbers will be noisy, rerun when idle"
echo "vany: $BIN; $("$PY" --version) http.server ${PYPROTO[*]:-HTTP/1.0 (no keep-alive)}; $(nginx -v 2>&1 | sed 's/.*: //')"
echo "each run: $SECS s, keep-alive; wrk -t1; ab -k"
echo

# --- the files ---------------------------------------------------------------------
# nginx's worker runs as an unprivileged user: it must reach DIR.
chmod 755 "$D"
mkdir -p "$D/www" "$D/nginx/tmp" "$D/nginx/logs"
head -c 4096 /dev/urandom > "$D/www/4k.bin"
head -c 1048576 /dev/urandom > "$D/www/1m.bin"

# --- the namespaces ----------------------------------------------------------------
ip netns add "$H"; ip netns add "$N"
for ns in "$H" "$N"; do
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding'
done
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

# --- the servers (all in the member's namespace) -----------------------------------
NGINX_PORT=9000 PY_PORT=9001
cat > "$D/nginx/nginx.conf" <<EOT
daemon off; worker_processes 1; pid $D/nginx/nginx.pid; error_log $D/nginx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; sendfile on; tcp_nopush on; keepalive_requests 100000000;
  client_body_temp_path $D/nginx/tmp; proxy_temp_path $D/nginx/tmp;
  fastcgi_temp_path $D/nginx/tmp; uwsgi_temp_path $D/nginx/tmp; scgi_temp_path $D/nginx/tmp;
  server { listen [::]:$NGINX_PORT ipv6only=on; root $D/www; } }
EOT
ip netns exec "$N" nginx -p "$D/nginx" -c "$D/nginx/nginx.conf" >"$D/nginx.out" 2>&1 &
PIDS="$PIDS $!"
ip netns exec "$N" "$PY" -m http.server "$PY_PORT" --bind fd00:98:1::2 "${PYPROTO[@]}" \
    --directory "$D/www" >"$D/python.out" 2>&1 &
PIDS="$PIDS $!"
cat > "$D/n1.toml" <<EOT
id = 1
tun = "vtun"
anycast = "fd00:ab::1"
contact_node = 1
group_key = "5ca1ab1e0ddba11c0ffee000deadbeef5ca1ab1e"
control_socket = "$D/n1.sock"
log_level = "warn"
apps = { 8080 = { kind = "files", root = "$D/www" }, 8081 = { kind = "proxy", backend = "[::1]:$NGINX_PORT" } }
[members.1]
name = "node1"
care_of = "fd00:21:1::1"
contact = true
EOT
chmod 600 "$D/n1.toml"
ip netns exec "$N" "$BIN" node --config "$D/n1.toml" >"$D/node.log" 2>&1 &
PIDS="$PIDS $!"

declare -A URL=(
    [files-vany]="http://[fd00:ab::1]:8080"
    [files-python]="http://[fd00:98:1::2]:$PY_PORT"
    [files-nginx]="http://[fd00:98:1::2]:$NGINX_PORT"
    [proxy-vany]="http://[fd00:ab::1]:8081"
    [proxy-nginx]="http://[fd00:98:1::2]:$NGINX_PORT"
)
SERVERS="files-vany files-python files-nginx proxy-vany proxy-nginx"
declare -A SIZE=([4k.bin]=4096 [1m.bin]=1048576)

# Every server answers both files with their exact bytes (at most 10 s to start).
for s in $SERVERS; do
    for f in 4k.bin 1m.bin; do
        want=$(sha256sum < "$D/www/$f") got= i=0
        while [ $i -lt 100 ]; do
            got=$(ip netns exec "$H" curl -gsf --max-time 5 "${URL[$s]}/$f" | sha256sum) || true
            [ "$got" = "$want" ] && break
            i=$((i + 1)); sleep 0.1
        done
        if [ "$got" != "$want" ]; then
            echo "apps-bench.sh: $s does not serve $f correctly at ${URL[$s]}/$f" >&2
            tail -n 20 "$D/node.log" "$D/nginx.out" "$D/nginx/logs/error.log" "$D/python.out" >&2
            exit 1
        fi
    done
done

# --- the runs ----------------------------------------------------------------------
RES="$D/results.tsv"
: > "$RES"
# wrk: requests/s, p50 and p99 in ms, errors (socket errors + non-2xx/3xx).
run_wrk() { # server file conns
    local out="$D/wrk.out"
    ip netns exec "$H" timeout $((SECS + 60)) wrk -t1 -c"$3" -d"${SECS}s" --timeout 10s \
        --latency "${URL[$1]}/$2" >"$out" 2>&1 || true
    awk -v s="$1" -v f="$2" -v c="$3" -v size="${SIZE[$2]}" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                         if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) } $1 == "99%" { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { err += $NF }
        END { if (rps == "") { printf "%s\twrk\t%s\t%s\tfail\t-\t-\t-\t-\n", s, f, c; exit }
              printf "%s\twrk\t%s\t%s\t%.0f\t%.1f\t%.3f\t%.3f\t%d\n", s, f, c, rps,
                     rps * size / 1048576, p50, p99, err }' "$out" >> "$RES"
}
# ab -k: requests/s, p50 and p99 in ms (ab rounds to whole ms), errors. ab keeps a
# connection only if the response says `Connection: keep-alive`, which http.server never
# does (it keeps HTTP/1.1 connections without saying so): ab would wait for a close.
run_ab() { # server file conns
    local out="$D/ab.out"
    if [ "$1" = files-python ]; then
        printf '%s\tab\t%s\t%s\tn/a\t-\t-\t-\t-\n' "$1" "$2" "$3" >> "$RES"
        return
    fi
    ip netns exec "$H" timeout $((SECS + 60)) ab -q -k -c "$3" -t "$SECS" -n $((SECS * 100000)) \
        -s 10 "${URL[$1]}/$2" >"$out" 2>&1 || true
    awk -v s="$1" -v f="$2" -v c="$3" -v size="${SIZE[$2]}" '
        /^Requests per second:/ { rps = $4 }
        /^Failed requests:/ { err += $3 } /^Non-2xx responses:/ { err += $3 }
        $1 == "50%" { p50 = $2 } $1 == "99%" { p99 = $2 }
        END { if (rps == "") { printf "%s\tab\t%s\t%s\tfail\t-\t-\t-\t-\n", s, f, c; exit }
              printf "%s\tab\t%s\t%s\t%.0f\t%.1f\t%s\t%s\t%d\n", s, f, c, rps,
                     rps * size / 1048576, p50, p99, err }' "$out" >> "$RES"
}
TOTAL=0
for _ in $SERVERS; do for _ in 4k.bin 1m.bin; do for _ in $CONNS; do TOTAL=$((TOTAL + 2)); done; done; done
# Warm up every server (first connections, page cache, nginx's open files).
for s in $SERVERS; do
    for f in 4k.bin 1m.bin; do
        ip netns exec "$H" timeout 30 wrk -t1 -c4 -d1s "${URL[$s]}/$f" >/dev/null 2>&1 || true
    done
done
PROGRESS=
[ -t 2 ] && PROGRESS=1
n=0
for f in 4k.bin 1m.bin; do
    for c in $CONNS; do
        for s in $SERVERS; do
            for tool in wrk ab; do
                n=$((n + 1))
                [ -z "$PROGRESS" ] || printf '\r[%d/%d] %-12s %-3s %-6s c=%-4s' "$n" "$TOTAL" "$s" "$tool" "$f" "$c" >&2
                "run_$tool" "$s" "$f" "$c"
                kill -0 ${PIDS##* } 2>/dev/null || { echo; echo "apps-bench.sh: the vany node exited" >&2; tail -n 20 "$D/node.log" >&2; exit 1; }
            done
        done
    done
done
[ -z "$PROGRESS" ] || printf '\r%60s\r' '' >&2

# --- the tables --------------------------------------------------------------------
echo "requests/s (MiB/s of bodies), latency in ms (ab: whole ms), errors:"
awk -F'\t' 'BEGIN { printf "%-13s %-4s %-7s %5s %9s %8s %9s %9s %6s\n",
                    "server", "tool", "file", "conns", "req/s", "MiB/s", "p50", "p99", "errors" }
            { printf "%-13s %-4s %-7s %5s %9s %8s %9s %9s %6s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }' "$RES"
echo
echo "ratios of requests/s, vany / direct (1.00 = as fast; > 1 faster):"
awk -F'\t' '
    { rps[$1, $2, $3, $4] = $5; if (!(($2, $3, $4) in seen)) { seen[$2, $3, $4] = 1; key[++k] = $2 SUBSEP $3 SUBSEP $4 } }
    function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2f", a / b) : "-" }
    BEGIN { printf "%-4s %-7s %5s %14s %14s %14s\n", "tool", "file", "conns",
            "files/python", "files/nginx", "proxy/nginx" }
    END { for (i = 1; i <= k; i++) { split(key[i], p, SUBSEP)
            printf "%-4s %-7s %5s %14s %14s %14s\n", p[1], p[2], p[3],
                r(rps["files-vany", key[i]], rps["files-python", key[i]]),
                r(rps["files-vany", key[i]], rps["files-nginx", key[i]]),
                r(rps["proxy-vany", key[i]], rps["proxy-nginx", key[i]]) } }' "$RES"
echo "(ab against http.server: n/a, it never answers Connection: keep-alive, so ab -k"
echo " waits for a close. proxy-nginx is the same nginx as files-nginx, run again.)"
echo
echo "load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)"
