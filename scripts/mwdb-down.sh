#!/usr/bin/env bash
# Stops the MWDB that scripts/mwdb-up.sh started (gunicorn, then its PostgreSQL
# cluster) by the pids they recorded, and removes the state folder. The venv is
# kept as a cache. PCAP_MINER_MWDB_KEEP_DATA=1 keeps the state folder too.
#
# Settings (environment): PCAP_MINER_MWDB_STATE [/tmp/pcap-miner-mwdb].
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

state="${PCAP_MINER_MWDB_STATE:-/tmp/pcap-miner-mwdb}"

stop_gunicorn() {
    local pid_file="$state/gunicorn.pid" pid _
    [[ -f "$pid_file" ]] || return 0
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null; then
        log "mwdb-down: stopping gunicorn (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 80); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "mwdb-down: gunicorn (pid $pid) still runs after 20 s; sending SIGKILL"
            kill -KILL "$pid"
        fi
    fi
    rm -f "$pid_file"
}

stop_postgres() {
    local data="$state/pg" bin
    [[ -f "$data/postmaster.pid" ]] || return 0
    bin="$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)"
    log "mwdb-down: stopping PostgreSQL ($data)"
    if ! runuser -u postgres -- "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null; then
        kill -TERM "$(head -n 1 "$data/postmaster.pid")" 2>/dev/null || true
    fi
}

stop_gunicorn
stop_postgres
if [[ "${PCAP_MINER_MWDB_KEEP_DATA:-0}" != 1 ]]; then
    rm -rf "$state"
    log "mwdb-down: removed $state"
fi
