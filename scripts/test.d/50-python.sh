#!/usr/bin/env bash
# The pcap_miner Python module and the Karton service's unit tests: builds the
# wheel with maturin into a venv, then runs both pytest suites.
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

venv="$(bash python/setup-venv.sh)"
# Keep the work tree free of bytecode and pytest's cache folder.
export PYTHONDONTWRITEBYTECODE=1

log "pytest python/pcap-miner/tests"
"$venv/bin/python" -m pytest -p no:cacheprovider -q python/pcap-miner/tests

log "pytest python/karton-pcap-miner/tests/unit"
"$venv/bin/python" -m pytest -p no:cacheprovider -q python/karton-pcap-miner/tests/unit
