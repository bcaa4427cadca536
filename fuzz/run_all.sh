#!/usr/bin/env bash
# Runs every fuzz target one after another for SECONDS_PER_TARGET seconds (default 600),
# starting from the committed seeds (copied into the gitignored fuzz/corpus/<target>/,
# which keeps what earlier runs found). Logs go to fuzz/logs/<target>.log; the final
# libFuzzer stats (stat::number_of_executed_units etc.) are at the end of each log.
#
# Usage, from anywhere: fuzz/run_all.sh [seconds] [target...]
set -u
cd "$(dirname "$0")/.."
secs="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(packet_parse inspect_decode tcp_segments mip6_receive client_translate peer_datagram)
fi
mkdir -p fuzz/logs
cargo +nightly fuzz build || exit 1
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    [ -d "fuzz/seeds/$t" ] && cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/"
    echo "== $t: start $(date -u +%FT%TZ), ${secs}s" | tee "fuzz/logs/$t.log"
    start=$(date +%s)
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=4096 -print_final_stats=1 \
        >>"fuzz/logs/$t.log" 2>&1
    rc=$?
    echo "== $t: exit $rc after $(( $(date +%s) - start ))s, end $(date -u +%FT%TZ)" | tee -a "fuzz/logs/$t.log"
done
