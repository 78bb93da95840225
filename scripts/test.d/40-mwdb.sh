#!/usr/bin/env bash
# `pcap-miner push` and the MWDB client against a real MWDB Core on 127.0.0.1.
#
# Starts MWDB with scripts/mwdb-up.sh and stops it again on exit, also after a
# failure. PCAP_MINER_MWDB_ENV names the env file with the server's settings,
# and while it is set the live tests fail instead of skipping when MWDB is not usable.
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

trap 'bash "$PCAP_MINER_ROOT/scripts/mwdb-down.sh"' EXIT
env_file="$(bash scripts/mwdb-up.sh)"
export PCAP_MINER_MWDB_ENV="$env_file"

output="$(mktemp)"
# The client crate: unit tests, the scripted-server retry tests and the live tests.
cargo test --locked -p pcap-miner-mwdb 2>&1 | tee "$output"
# The command line: the push module of the workspace's integration tests.
cargo test --locked -p pcap-miner-cli --test tests push:: 2>&1 | tee -a "$output"
require_cargo_tests_ran "$output"
