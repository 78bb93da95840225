#!/usr/bin/env bash
# Regenerate the decryption captures in this folder: tls12-keylog, tls13-keylog,
# tls-tlsmon and quic-initial.
#
# Run as root on Debian 12. The script installs the Debian packages it needs, starts
# OpenSSL and ngtcp2 servers on loopback (127.0.0.1 and ::1 only), runs real clients
# against them while tcpdump records the traffic, then stops every process it started.
# The clients write their TLS secrets to the key log next to each capture. Each
# capture's expected.json is written by hand from the client commands below: when
# you change a command, update that file too.
set -euo pipefail

CORPUS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

WORK_DIR=$(mktemp -d)
STARTED_PIDS=()

cleanup() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT

install_packages() {
    local tool missing=0
    for tool in tcpdump tshark capinfos openssl gtlsserver gtlsclient ss python3; do
        if ! command -v "$tool" >/dev/null; then
            missing=1
        fi
    done
    if [[ $missing -eq 0 ]]; then
        return
    fi

    export DEBIAN_FRONTEND=noninteractive
    # Keep dumpcap without the setuid bit, so the tshark install shows no debconf prompt.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    apt-get update -q
    apt-get install -y -q tcpdump tshark openssl ngtcp2-client ngtcp2-server iproute2 python3
}

# Start COMMAND in the background and record its PID for cleanup.
start_process() {
    "$@" >>"$WORK_DIR/server.log" 2>&1 </dev/null &
    STARTED_PIDS+=("$!")
}

# Wait until something listens on PROTO (tcp or udp) PORT, for at most 5 seconds.
wait_for_listener() {
    local proto=$1 port=$2 flag _
    if [[ $proto == tcp ]]; then flag=-Hltn; else flag=-Hlun; fi
    for _ in $(seq 50); do
        if [[ -n $(ss "$flag" "sport = :$port") ]]; then
            return
        fi
        sleep 0.1
    done
    echo "error: nothing listens on $proto port $port after 5 s. Server output:" >&2
    cat "$WORK_DIR/server.log" >&2
    exit 1
}

# Start tcpdump on lo writing classic pcap to OUTPUT, with capture filter FILTER.
start_tcpdump() {
    local output=$1 filter=$2 _
    rm -f "$output"
    : >"$WORK_DIR/tcpdump.log"
    tcpdump -i lo -U -Z root -w "$output" "$filter" 2>"$WORK_DIR/tcpdump.log" &
    CAPTURE_PID=$!
    STARTED_PIDS+=("$CAPTURE_PID")
    for _ in $(seq 50); do
        if grep -q "listening on" "$WORK_DIR/tcpdump.log"; then
            return
        fi
        sleep 0.1
    done
    echo "error: tcpdump did not start:" >&2
    cat "$WORK_DIR/tcpdump.log" >&2
    exit 1
}

# Stop the capture; SIGINT makes tcpdump write out what it buffers.
stop_capture() {
    sleep 1
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" || true
    forget_pid "$CAPTURE_PID"
}

stop_process() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

# Drop PID from the list that cleanup kills, because the PID may be reused.
forget_pid() {
    local pid remaining=()
    for pid in "${STARTED_PIDS[@]}"; do
        if [[ $pid != "$1" ]]; then
            remaining+=("$pid")
        fi
    done
    STARTED_PIDS=("${remaining[@]}")
}

# Send one HTTPS GET with openssl s_client and wait until the server closes.
# Usage: https_get ADDRESS:PORT PATH HOST [s_client options...]
# The client appends its secrets to $KEYLOG; with HOST "-" no Host header and no SNI are sent.
https_get() {
    local connect=$1 path=$2 host=$3
    shift 3
    local host_header="Host: $host\r\n" sni=(-servername "$host")
    if [[ $host == - ]]; then
        host_header=""
        sni=(-noservername)
    fi
    # shellcheck disable=SC2059 # the format carries the optional Host line
    printf "GET %s HTTP/1.1\r\n${host_header}Connection: close\r\n\r\n" "$path" |
        timeout 10 openssl s_client -connect "$connect" "${sni[@]}" -ign_eof \
            -keylogfile "$KEYLOG" "$@" >/dev/null 2>&1 || true
}

make_certificates() {
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK_DIR/rsa.key" -out "$WORK_DIR/rsa.pem" \
        -days 2 -subj /CN=server.example.test 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK_DIR/ec.key" -out "$WORK_DIR/ec.pem" \
        -days 2 -subj /CN=server.example.test 2>/dev/null
    mkdir -p "$WORK_DIR/www"
    printf 'hello\n' >"$WORK_DIR/www/index.html"
}

# An s_server that answers GET requests with files of the web folder. Both an RSA
# and an ECDSA certificate are loaded, so ECDHE_RSA and ECDHE_ECDSA suites both work,
# and security level 0 allows TLS 1.0 and 1.1.
web_server() {
    start_process env -C "$WORK_DIR/www" openssl s_server -quiet -WWW \
        -cert "$WORK_DIR/rsa.pem" -key "$WORK_DIR/rsa.key" \
        -dcert "$WORK_DIR/ec.pem" -dkey "$WORK_DIR/ec.key" \
        -cipher 'ALL:@SECLEVEL=0' "$@"
}

make_tls12_keylog() {
    local out_dir=$CORPUS_DIR/tls12-keylog
    mkdir -p "$out_dir"
    KEYLOG=$out_dir/keylog.txt
    rm -f "$KEYLOG"

    web_server -accept 127.0.0.1:4433
    local etm_server=$!
    # Without encrypt-then-MAC, CBC suites use the older MAC-then-encrypt records.
    web_server -accept 127.0.0.1:4434 -no_etm
    local mte_server=$!
    wait_for_listener tcp 4433
    wait_for_listener tcp 4434

    start_tcpdump "$out_dir/capture.pcap" 'tcp port 4433 or tcp port 4434'

    local tls12=(-tls1_2)
    https_get 127.0.0.1:4433 /aes128-gcm aes128-gcm.example.test "${tls12[@]}" -cipher ECDHE-RSA-AES128-GCM-SHA256
    https_get 127.0.0.1:4433 /aes256-gcm aes256-gcm.example.test "${tls12[@]}" -cipher ECDHE-ECDSA-AES256-GCM-SHA384
    https_get 127.0.0.1:4433 /chacha20 chacha20.example.test "${tls12[@]}" -cipher ECDHE-RSA-CHACHA20-POLY1305
    https_get 127.0.0.1:4433 /rsa-gcm rsa-gcm.example.test "${tls12[@]}" -cipher AES128-GCM-SHA256
    https_get 127.0.0.1:4433 /dhe-gcm dhe-gcm.example.test "${tls12[@]}" -cipher DHE-RSA-AES256-GCM-SHA384
    https_get 127.0.0.1:4433 /etm-sha1 etm-sha1.example.test "${tls12[@]}" -cipher ECDHE-RSA-AES128-SHA
    https_get 127.0.0.1:4433 /etm-sha256 etm-sha256.example.test "${tls12[@]}" -cipher ECDHE-ECDSA-AES128-SHA256
    https_get 127.0.0.1:4433 /etm-sha384 etm-sha384.example.test "${tls12[@]}" -cipher ECDHE-RSA-AES256-SHA384
    https_get 127.0.0.1:4433 /etm-rsa etm-rsa.example.test "${tls12[@]}" -cipher AES256-SHA
    https_get 127.0.0.1:4434 /mte-sha1 mte-sha1.example.test "${tls12[@]}" -cipher ECDHE-RSA-AES256-SHA
    https_get 127.0.0.1:4434 /mte-sha256 mte-sha256.example.test "${tls12[@]}" -cipher ECDHE-RSA-AES128-SHA256
    https_get 127.0.0.1:4434 /mte-sha384 mte-sha384.example.test "${tls12[@]}" -cipher ECDHE-ECDSA-AES256-SHA384
    https_get 127.0.0.1:4434 /mte-rsa-sha256 mte-rsa-sha256.example.test "${tls12[@]}" -cipher AES256-SHA256
    https_get 127.0.0.1:4434 /tls10 tls10.example.test -tls1 -cipher 'AES128-SHA:@SECLEVEL=0'
    https_get 127.0.0.1:4434 /tls11 tls11.example.test -tls1_1 -cipher 'ECDHE-RSA-AES256-SHA:@SECLEVEL=0'
    # Resumption: by session ID (tickets off), then by session ticket.
    https_get 127.0.0.1:4433 /full-id resume-id.example.test "${tls12[@]}" -no_ticket -sess_out "$WORK_DIR/id.session"
    https_get 127.0.0.1:4433 /resumed-id resume-id.example.test "${tls12[@]}" -no_ticket -sess_in "$WORK_DIR/id.session"
    https_get 127.0.0.1:4433 /full-ticket resume-ticket.example.test "${tls12[@]}" -sess_out "$WORK_DIR/ticket.session"
    https_get 127.0.0.1:4433 /resumed-ticket resume-ticket.example.test "${tls12[@]}" -sess_in "$WORK_DIR/ticket.session"
    # No Host header: the URI takes the server address and port.
    https_get 127.0.0.1:4433 /no-host - "${tls12[@]}"
    # Secrets written elsewhere: the key log lacks this session, so no URI.
    KEYLOG=$WORK_DIR/unlisted.keys https_get 127.0.0.1:4433 /unlisted unlisted.example.test "${tls12[@]}"

    stop_capture
    stop_process "$etm_server"
    stop_process "$mte_server"
}

make_tls13_keylog() {
    local out_dir=$CORPUS_DIR/tls13-keylog
    mkdir -p "$out_dir"
    KEYLOG=$out_dir/keylog.txt
    rm -f "$KEYLOG"

    web_server -accept 127.0.0.1:4443
    local web=$!
    web_server -6 -accept '[::1]:8443'
    local web_v6=$!
    # Only P-256 here: a client that sends an X25519 key share gets a HelloRetryRequest.
    web_server -accept 127.0.0.1:4444 -groups P-256
    local retry=$!
    # An echo server (no -WWW) that takes 0-RTT data and stays open for key updates.
    # In echo mode s_server closes connections once its standard input ends, so
    # its input is a FIFO that this script holds open.
    mkfifo "$WORK_DIR/echo.stdin"
    exec 3<>"$WORK_DIR/echo.stdin"
    openssl s_server -quiet -cert "$WORK_DIR/rsa.pem" -key "$WORK_DIR/rsa.key" \
        -accept 127.0.0.1:4445 -early_data <&3 >>"$WORK_DIR/server.log" 2>&1 &
    local echo_server=$!
    STARTED_PIDS+=("$echo_server")
    wait_for_listener tcp 4443
    wait_for_listener tcp 8443
    wait_for_listener tcp 4444
    wait_for_listener tcp 4445

    start_tcpdump "$out_dir/capture.pcap" 'tcp port 4443 or tcp port 8443 or tcp port 4444 or tcp port 4445'

    local tls13=(-tls1_3)
    https_get 127.0.0.1:4443 /aes128-gcm aes128-gcm.example.test "${tls13[@]}" -ciphersuites TLS_AES_128_GCM_SHA256
    https_get 127.0.0.1:4443 /aes256-gcm aes256-gcm.example.test "${tls13[@]}" -ciphersuites TLS_AES_256_GCM_SHA384
    https_get 127.0.0.1:4443 /chacha20 chacha20.example.test "${tls13[@]}" -ciphersuites TLS_CHACHA20_POLY1305_SHA256
    https_get '[::1]:8443' /ipv6 - "${tls13[@]}"
    https_get 127.0.0.1:4444 /retry retry.example.test "${tls13[@]}" -groups X25519:P-256
    https_get 127.0.0.1:4443 /psk-full psk.example.test "${tls13[@]}" -sess_out "$WORK_DIR/tls13.session"
    https_get 127.0.0.1:4443 /psk-resumed psk.example.test "${tls13[@]}" -sess_in "$WORK_DIR/tls13.session"

    # 0-RTT: the first connection gets a ticket that allows early data, the
    # second sends its request as early data and another after the handshake.
    (printf 'GET /ticket HTTP/1.1\r\nHost: early.example.test\r\n\r\n'; sleep 1) |
        timeout 10 openssl s_client -connect 127.0.0.1:4445 -servername early.example.test \
            -tls1_3 -quiet -keylogfile "$KEYLOG" -sess_out "$WORK_DIR/early.session" >/dev/null 2>&1 || true
    printf 'GET /zero-rtt HTTP/1.1\r\nHost: early.example.test\r\n\r\n' >"$WORK_DIR/early.txt"
    (sleep 0.5; printf 'GET /after-zero-rtt HTTP/1.1\r\nHost: early.example.test\r\n\r\n'; sleep 0.5) |
        timeout 10 openssl s_client -connect 127.0.0.1:4445 -servername early.example.test \
            -tls1_3 -keylogfile "$KEYLOG" -sess_in "$WORK_DIR/early.session" \
            -early_data "$WORK_DIR/early.txt" >/dev/null 2>&1 || true

    # A line "k" alone makes an interactive s_client send a KeyUpdate; the
    # request after it is protected with the next traffic secret.
    (printf 'GET /before-key-update HTTP/1.1\r\nHost: key-update.example.test\r\n\r\n'; sleep 0.5
        printf 'k\n'; sleep 0.5
        printf 'GET /after-key-update HTTP/1.1\r\nHost: key-update.example.test\r\n\r\n'; sleep 0.5) |
        timeout 10 openssl s_client -connect 127.0.0.1:4445 -servername key-update.example.test \
            -tls1_3 -keylogfile "$KEYLOG" >/dev/null 2>&1 || true

    stop_capture
    stop_process "$web"
    stop_process "$web_v6"
    stop_process "$retry"
    stop_process "$echo_server"
    exec 3>&-
}

# TLS 1.2 traffic as a Windows sandbox makes it, with the secrets written as
# DRAKVUF's tlsmon plugin writes them: one JSON object per line with the
# client random and the master secret. TLS 1.3 sessions have no master
# secret, so tlsmon.log cannot cover the last connection.
make_tls_tlsmon() {
    local out_dir=$CORPUS_DIR/tls-tlsmon
    mkdir -p "$out_dir"
    KEYLOG=$WORK_DIR/tlsmon-source.keys
    rm -f "$KEYLOG"

    web_server -accept 127.0.0.1:8443 -no_etm
    local server=$!
    wait_for_listener tcp 8443

    start_tcpdump "$out_dir/capture.pcap" 'tcp port 8443'

    https_get 127.0.0.1:8443 /gate.php?id=1 c2.example.test -tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384
    https_get 127.0.0.1:8443 /update.bin cdn.example.test -tls1_2 -cipher ECDHE-RSA-AES128-SHA256
    https_get 127.0.0.1:8443 /legacy legacy.example.test -tls1 -cipher 'ECDHE-RSA-AES128-SHA:@SECLEVEL=0'
    https_get 127.0.0.1:8443 /tls13 tls13.example.test -tls1_3

    stop_capture
    stop_process "$server"

    # drakrun writes each event with Python's json.dumps, so the same is used here.
    python3 - "$KEYLOG" "$out_dir/tlsmon.log" <<'PYTHON'
import json
import sys

source, target = sys.argv[1], sys.argv[2]
with open(source) as keys, open(target, "w") as log:
    for number, line in enumerate(keys):
        fields = line.split()
        if len(fields) != 3 or fields[0] != "CLIENT_RANDOM":
            continue
        event = {
            "Plugin": "tlsmon",
            "TimeStamp": f"1700000000.{number:06d}",
            "PID": 636,
            "PPID": 480,
            "TID": 700 + number,
            "ProcessName": "C:\\Windows\\system32\\lsass.exe",
            "Method": "SslGenerateSessionKeys",
            "client_random": fields[1],
            "master_key": fields[2],
        }
        log.write(json.dumps(event) + "\n")
PYTHON
}

make_quic_initial() {
    local out_dir=$CORPUS_DIR/quic-initial
    mkdir -p "$out_dir"

    local server=(gtlsserver --quiet --htdocs "$WORK_DIR/www")
    start_process "${server[@]}" 127.0.0.1 4433 "$WORK_DIR/ec.key" "$WORK_DIR/ec.pem"
    local quic_v4=$!
    start_process "${server[@]}" ::1 8443 "$WORK_DIR/ec.key" "$WORK_DIR/ec.pem"
    local quic_v6=$!
    # --validate-addr makes the server answer the first Initial with a Retry packet.
    start_process "${server[@]}" --validate-addr 127.0.0.1 4434 "$WORK_DIR/ec.key" "$WORK_DIR/ec.pem"
    local quic_retry=$!
    wait_for_listener udp 4433
    wait_for_listener udp 8443
    wait_for_listener udp 4434

    start_tcpdump "$out_dir/capture.pcap" 'udp port 4433 or udp port 8443 or udp port 4434'

    # gtlsclient 0.12.1 sends the server name "localhost" whenever the host
    # argument is an address, so every value is localhost with the server port.
    local client=(timeout 10 gtlsclient --quiet --exit-on-all-streams-close)
    "${client[@]}" 127.0.0.1 4433 https://localhost/index.html >/dev/null 2>&1 || true
    "${client[@]}" ::1 8443 https://localhost/index.html >/dev/null 2>&1 || true
    "${client[@]}" 127.0.0.1 4434 https://localhost/index.html >/dev/null 2>&1 || true

    stop_capture
    stop_process "$quic_v4"
    stop_process "$quic_v6"
    stop_process "$quic_retry"
}

check_captures() {
    local name file
    for name in tls12-keylog tls13-keylog tls-tlsmon quic-initial; do
        file=$CORPUS_DIR/$name/capture.pcap
        capinfos -t -E -c "$file"
        if ! tshark -r "$file" >/dev/null 2>"$WORK_DIR/tshark.log"; then
            echo "error: tshark cannot read $file:" >&2
            cat "$WORK_DIR/tshark.log" >&2
            exit 1
        fi
    done
}

install_packages
make_certificates
make_tls12_keylog
make_tls13_keylog
make_tls_tlsmon
make_quic_initial
check_captures
