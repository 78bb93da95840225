#!/usr/bin/env bash
# pcap-miner verify against tshark 4.x: every capture of the shared corpus
# and of corpus/ with tshark run live, the saved reference outputs, captures
# built for each class of difference, and the failure cases.
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

apt_install tshark
log "$(tshark --version 2>/dev/null | head -n 1)"

# The shared corpus must be there in CI; its tests fail without it when CI is set.
export PCAP_MINER_SHARED_CORPUS="${PCAP_MINER_SHARED_CORPUS:-$PCAP_MINER_SHARED/corpus}"
# Tests that need tshark fail instead of skipping.
export PCAP_MINER_REQUIRE_TSHARK=1

output="$(mktemp)"
# --nocapture shows the known gaps (values pcap-miner cannot read yet) in the log.
cargo test -p pcap-miner-cli --test tests --locked verify:: -- --nocapture 2>&1 | tee "$output"
require_cargo_tests_ran "$output"
