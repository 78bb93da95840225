#!/usr/bin/env bash
# Memory bound under a flood: 1,000,000 connections open at once (a SYN flood
# from distinct client endpoints) must be mined to the end within 256 MiB of
# peak RSS, on one thread and on all cores, and the indicators before and
# after the flood must still come out.
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

apt_install time
limit_kib=$((256 * 1024))
cargo build --release --locked -q -p pcap-miner-cli -p pcap-miner-bench

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
target/release/pcap-synflood 1000000 "$work/flood.pcap"

checks=0
for threads in 1 "$(nproc)"; do
    /usr/bin/time -f '%M' -o "$work/rss" \
        target/release/pcap-miner mine -q --threads "$threads" "$work/flood.pcap" > "$work/out.json"
    rss_kib="$(tail -1 "$work/rss")"
    log "1,000,000 connections on $threads thread(s): peak RSS $((rss_kib / 1024)) MiB (limit $((limit_kib / 1024)) MiB)"
    (( rss_kib <= limit_kib )) || { log "peak RSS over the limit"; exit 1; }
    grep -q '"http://flood.example/before-the-flood"' "$work/out.json" || { log "request before the flood missing"; exit 1; }
    grep -q '"after-flood.example"' "$work/out.json" || { log "DNS query after the flood missing"; exit 1; }
    checks=$((checks + 1))
done
echo "$checks passed, 0 failed"
