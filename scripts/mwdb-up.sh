#!/usr/bin/env bash
# Starts a real MWDB Core 2.20 on 127.0.0.1 for the `pcap-miner push` tests.
#
# PostgreSQL (Debian package, a cluster of our own in the state folder) and MWDB
# Core (PyPI mwdb-core in a venv, served by gunicorn) listen on loopback only.
# MWDB needs no Redis while rate limiting and metrics are off, as here.
#
# The script then creates:
#   - an API key for the admin account;
#   - the attribute keys network-http, network-tcp, network-sni and network-dns;
#   - a second account, "limited" (not an admin), with its own API key. Its group
#     may read and set network-dns and network-tcp, only read network-http, and
#     has no permission on network-sni.
# and writes them to $STATE/mwdb.env as shell assignments:
#   MWDB_API_URL, MWDB_API_KEY (admin), PCAP_MINER_MWDB_LIMITED_API_KEY,
#   PCAP_MINER_MWDB_STATE, PCAP_MINER_MWDB_GUNICORN_PID_FILE.
#
# Idempotent: a second run starts only what is not running and keeps the
# database, the accounts and the env file. It prints the env file's path.
# scripts/mwdb-down.sh stops everything and removes the state folder.
#
# Settings (environment):
#   PCAP_MINER_MWDB_STATE    state folder            [/tmp/pcap-miner-mwdb]
#   PCAP_MINER_MWDB_VENV     venv, kept as a cache   [/tmp/pcap-miner-mwdb-venv]
#   PCAP_MINER_MWDB_PORT     MWDB HTTP port          [18180]
#   PCAP_MINER_MWDB_PG_PORT  PostgreSQL port         [15532]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

state="${PCAP_MINER_MWDB_STATE:-/tmp/pcap-miner-mwdb}"
venv="${PCAP_MINER_MWDB_VENV:-/tmp/pcap-miner-mwdb-venv}"
port="${PCAP_MINER_MWDB_PORT:-18180}"
pg_port="${PCAP_MINER_MWDB_PG_PORT:-15532}"
mwdb_version="2.20.0"
base_url="http://127.0.0.1:$port"
api_url="$base_url/api/"
keys=(network-http network-tcp network-sni network-dns)
limited_login="limited"

started=$(date +%s)

install_packages() {
    # mwdb-core loads libfuzzy.so.2 (ssdeep) and libmagic at import time.
    apt_install postgresql libfuzzy2 libmagic1 curl ca-certificates
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
}

install_mwdb() {
    local installed
    # Captured first: `pip show | grep -q` fails under pipefail when grep exits early.
    installed="$("$venv/bin/pip" show mwdb-core 2>/dev/null || true)"
    if [[ -x "$venv/bin/gunicorn" ]] && grep -qx "Version: $mwdb_version" <<<"$installed"; then
        return 0
    fi
    log "mwdb-up: pip install mwdb-core==$mwdb_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "mwdb-core==$mwdb_version"
}

pg_bin() {
    find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1
}

start_postgres() {
    local bin data
    bin="$(pg_bin)"
    data="$state/pg"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        log "mwdb-up: initdb $data"
        mkdir -p "$data"
        chown postgres:postgres "$data"
        # initdb refuses to run as root, so the cluster belongs to the postgres user.
        runuser -u postgres -- "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 >/dev/null
    fi
    if ! runuser -u postgres -- "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        log "mwdb-up: starting PostgreSQL on 127.0.0.1:$pg_port"
        runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
            -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $data" start </dev/null >/dev/null 2>&1
    fi
    local exists
    exists="$("$bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -tAc \
        "select 1 from pg_database where datname = 'mwdb'")"
    if [[ "$exists" != 1 ]]; then
        "$bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres mwdb
    fi
}

# MWDB reads every [mwdb] setting of mwdb.ini from MWDB_<KEY> variables, so no file is needed.
write_server_env() {
    if [[ ! -f "$state/secret_key" ]]; then
        python3 -c 'import secrets; print(secrets.token_hex(32))' >"$state/secret_key"
    fi
    if [[ ! -f "$state/admin_password" ]]; then
        python3 -c 'import secrets; print(secrets.token_hex(16))' >"$state/admin_password"
    fi
    cat >"$state/server.env" <<EOF
MWDB_POSTGRES_URI=postgresql://postgres@127.0.0.1:$pg_port/mwdb
MWDB_SECRET_KEY=$(cat "$state/secret_key")
MWDB_UPLOADS_FOLDER=$state/uploads
MWDB_BASE_URL=$base_url
MWDB_ADMIN_LOGIN=admin
MWDB_ADMIN_PASSWORD=$(cat "$state/admin_password")
MWDB_ENABLE_RATE_LIMIT=0
MWDB_ENABLE_KARTON=0
MWDB_ENABLE_PLUGINS=0
EOF
    mkdir -p "$state/uploads"
}

configure_mwdb() {
    [[ -f "$state/configured" ]] && return 0
    log "mwdb-up: mwdb-core configure (database migrations, admin account)"
    # `configure` exits 0 even when it fails, so its output is checked instead.
    (cd "$state" && "$venv/bin/mwdb-core" configure --quiet basic) >"$state/configure.log" 2>&1 || true
    if ! grep -q "configured successfully" "$state/configure.log"; then
        cat "$state/configure.log" >&2
        log "mwdb-up: mwdb-core configure failed; its output is above"
        return 1
    fi
    touch "$state/configured"
}

server_responds() {
    curl -fsS --max-time 5 "${api_url}ping" >/dev/null 2>&1
}

start_gunicorn() {
    server_responds && return 0
    log "mwdb-up: starting gunicorn on 127.0.0.1:$port"
    # The daemon must not keep the caller's pipes open, or a caller reading this
    # script's output would wait for it forever.
    (cd "$state" && "$venv/bin/gunicorn" --bind "127.0.0.1:$port" --workers 2 --timeout 120 \
        --pid "$state/gunicorn.pid" --access-logfile "$state/access.log" \
        --error-logfile "$state/gunicorn.log" --capture-output --daemon mwdb.app:app) \
        </dev/null >/dev/null 2>&1
    local _
    for _ in $(seq 1 120); do
        server_responds && return 0
        sleep 0.5
    done
    tail -n 40 "$state/gunicorn.log" >&2 || true
    log "mwdb-up: MWDB did not respond on ${api_url}ping within 60 s; the gunicorn log is above"
    return 1
}

# Sends one JSON request to the API; prints the body, fails on an HTTP error status.
api() {
    local method="$1" path="$2" token="$3" body="${4:-}"
    local args=(-fsS --max-time 30 -X "$method" -H "Authorization: Bearer $token")
    if [[ -n "$body" ]]; then
        args+=(-H 'Content-Type: application/json' --data "$body")
    fi
    curl "${args[@]}" "$api_url$path"
}

json_field() {
    python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# Declares a key unless it exists (MWDB returns 409 for a key already declared).
declare_key() {
    local token="$1" key="$2" status
    status="$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
        --data "{\"key\": \"$key\", \"label\": \"$key\", \"description\": \"$key indicators mined from the analysis capture\", \"hidden\": false}" \
        "${api_url}attribute")"
    case "$status" in
        200 | 409) ;;
        *)
            log "mwdb-up: declaring attribute key $key failed with HTTP $status"
            return 1
            ;;
    esac
}

grant() {
    local token="$1" key="$2" can_set="$3"
    api PUT "attribute/$key/permissions" "$token" \
        "{\"group_name\": \"$limited_login\", \"can_read\": true, \"can_set\": $can_set}" >/dev/null
}

create_accounts() {
    [[ -f "$state/mwdb.env" ]] && return 0
    local password session admin_key limited_key key
    password="$(cat "$state/admin_password")"
    session="$(curl -fsS --max-time 30 -H 'Content-Type: application/json' \
        --data "{\"login\": \"admin\", \"password\": \"$password\"}" \
        "${api_url}auth/login" | json_field token)"
    admin_key="$(api POST user/admin/api_key "$session" '{"name": "pcap-miner tests"}' | json_field token)"

    for key in "${keys[@]}"; do
        declare_key "$admin_key" "$key"
    done

    # The account's private group has the account's name. A run that stopped
    # half-way may have created it already (409).
    local status
    status="$(curl -sS --max-time 30 -o /dev/null -w '%{http_code}' -X POST \
        -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
        --data '{"email": "limited@example.invalid", "additional_info": "pcap-miner tests without set permission on every key"}' \
        "${api_url}user/$limited_login")"
    case "$status" in
        200 | 409) ;;
        *)
            log "mwdb-up: creating account $limited_login failed with HTTP $status"
            return 1
            ;;
    esac
    limited_key="$(api POST "user/$limited_login/api_key" "$admin_key" '{"name": "pcap-miner tests"}' | json_field token)"
    grant "$admin_key" network-dns true
    grant "$admin_key" network-tcp true
    grant "$admin_key" network-http false

    cat >"$state/mwdb.env.tmp" <<EOF
MWDB_API_URL=$api_url
MWDB_API_KEY=$admin_key
PCAP_MINER_MWDB_LIMITED_API_KEY=$limited_key
PCAP_MINER_MWDB_STATE=$state
PCAP_MINER_MWDB_GUNICORN_PID_FILE=$state/gunicorn.pid
EOF
    mv "$state/mwdb.env.tmp" "$state/mwdb.env"
}

main() {
    mkdir -p "$state"
    chmod 755 "$state"
    install_packages
    install_mwdb
    start_postgres
    write_server_env
    set -a
    # shellcheck disable=SC1091
    . "$state/server.env"
    set +a
    configure_mwdb
    start_gunicorn
    create_accounts
    log "mwdb-up: MWDB $mwdb_version is up on $api_url ($(( $(date +%s) - started )) s)"
    echo "$state/mwdb.env"
}

main
