#!/usr/bin/env bash
# Smoke-fuzzes every target for a fixed time; any crash fails the step and
# leaves its input under fuzz/artifacts/TARGET/ (move it to
# corpus/fuzz-regressions/TARGET/ once fixed, so the test suite replays it).
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT/fuzz"

seconds="${PCAP_MINER_FUZZ_SECONDS:-30}"
if ! cargo +nightly --version >/dev/null 2>&1; then
    log "the nightly toolchain is missing: cargo-fuzz needs it"
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz"
    cargo install cargo-fuzz --locked >/dev/null
fi

./seed.sh
cargo +nightly fuzz build

targets=$(cargo +nightly fuzz list)
ran=0
failed=()
for target in $targets; do
    log "fuzzing $target for $seconds s"
    if cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        > "/tmp/pcap-miner-fuzz-$target.log" 2>&1; then
        log "$target: $(grep -E '^Done' "/tmp/pcap-miner-fuzz-$target.log" || echo 'no summary')"
        ran=$((ran + 1))
    else
        tail -40 "/tmp/pcap-miner-fuzz-$target.log" >&2
        failed+=("$target")
    fi
done
(( ran + ${#failed[@]} > 0 )) || { log "no fuzz target ran"; exit 1; }
if (( ${#failed[@]} > 0 )); then
    log "fuzz targets with findings: ${failed[*]}"
    exit 1
fi
echo "$ran passed, 0 failed"
