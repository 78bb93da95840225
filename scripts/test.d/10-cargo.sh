#!/usr/bin/env bash
# Formatting, lints, and every Rust test of the workspace (unit, integration, doc).
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

# The shared corpus must be there in CI; the corpus test fails without it when CI is set.
export PCAP_MINER_SHARED_CORPUS="${PCAP_MINER_SHARED_CORPUS:-$PCAP_MINER_SHARED/corpus}"
# The verify step runs the tests that need tshark; they take minutes.
export PCAP_MINER_SKIP_TSHARK=1

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

output="$(mktemp)"
cargo test --workspace --locked 2>&1 | tee "$output"
require_cargo_tests_ran "$output"
