#!/usr/bin/env bash
# End-to-end test of the Karton service on real components on 127.0.0.1:
# Redis, SeaweedFS S3 and karton-system (scripts/karton-up.sh), MWDB Core with
# PostgreSQL (scripts/mwdb-up.sh), two replicas of karton-pcap-miner and
# karton-mwdb-reporter (started by the tests). Everything is stopped on exit.
set -euo pipefail
. "$PCAP_MINER_ROOT/scripts/lib.sh"
cd "$PCAP_MINER_ROOT"

# State folders and ports of this step's own stack.
export PCAP_MINER_KARTON_STATE=/tmp/pcap-miner-karton-e2e
export PCAP_MINER_KARTON_REDIS_PORT=16480
export PCAP_MINER_KARTON_S3_PORT=19200
export PCAP_MINER_MWDB_STATE=/tmp/pcap-miner-karton-e2e-mwdb
export PCAP_MINER_MWDB_PORT=18280
export PCAP_MINER_MWDB_PG_PORT=15632
export PCAP_MINER_E2E_LOGS
PCAP_MINER_E2E_LOGS="$(mktemp -d /tmp/pcap-miner-karton-e2e-logs.XXXXXX)"

stop_all() {
    local status=$? pid_file log_file
    # Services the tests started and could not stop, if pytest itself was stopped.
    for pid_file in "$PCAP_MINER_E2E_LOGS"/*.pid; do
        if [[ -f "$pid_file" ]]; then
            kill -KILL "$(cat "$pid_file")" 2>/dev/null || true
        fi
    done
    if (( status != 0 )); then
        for log_file in "$PCAP_MINER_E2E_LOGS"/*.log; do
            [[ -f "$log_file" ]] || continue
            log "last lines of $log_file:"
            tail -n 30 "$log_file" >&2
        done
    fi
    bash scripts/karton-down.sh || true
    bash scripts/mwdb-down.sh || true
    rm -rf "$PCAP_MINER_E2E_LOGS"
    exit "$status"
}
trap stop_all EXIT

venv="$(bash python/setup-venv.sh)"
export PCAP_MINER_KARTON_ENV PCAP_MINER_MWDB_ENV
PCAP_MINER_KARTON_ENV="$(bash scripts/karton-up.sh)"
PCAP_MINER_MWDB_ENV="$(bash scripts/mwdb-up.sh)"

export PYTHONDONTWRITEBYTECODE=1
log "pytest python/karton-pcap-miner/tests/e2e"
"$venv/bin/python" -m pytest -p no:cacheprovider -q python/karton-pcap-miner/tests/e2e
