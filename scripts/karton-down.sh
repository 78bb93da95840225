#!/usr/bin/env bash
# Stops the Karton backend that scripts/karton-up.sh started, by the pids it
# recorded, and removes the state folder. The venv is kept as a cache.
# PCAP_MINER_KARTON_KEEP_DATA=1 keeps the state folder too.
#
# karton-system goes first: it reacts to SIGTERM only when its blocking Redis
# read returns (up to about 10 s), and it crashes if Redis is gone by then.
#
# Settings (environment): PCAP_MINER_KARTON_STATE [/tmp/pcap-miner-karton].
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

state="${PCAP_MINER_KARTON_STATE:-/tmp/pcap-miner-karton}"

# Sends SIGTERM to the pid in PID_FILE, waits up to SECONDS, then SIGKILL.
stop_process() {
    local name="$1" pid_file="$2" seconds="$3" pid _
    [[ -f "$pid_file" ]] || return 0
    pid="$(cat "$pid_file")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        log "karton-down: stopping $name (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 $((seconds * 4))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "karton-down: $name (pid $pid) still runs after $seconds s, sending SIGKILL"
            kill -KILL "$pid"
        fi
    fi
    rm -f "$pid_file"
}

stop_process karton-system "$state/karton-system.pid" 20
stop_process redis-server "$state/redis.pid" 10
stop_process "SeaweedFS (weed mini)" "$state/weed.pid" 15
if [[ "${PCAP_MINER_KARTON_KEEP_DATA:-0}" != 1 ]]; then
    rm -rf "$state"
    log "karton-down: removed $state"
fi
