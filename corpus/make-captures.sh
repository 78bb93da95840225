#!/usr/bin/env bash
# Regenerate the capture corpus in this folder: http-curl, dns-dig, tls-sni and mixed.
#
# Run as root on Debian 12. The script installs the Debian packages it needs, starts
# servers on loopback (127.0.0.1 and ::1 only), runs real clients against them while
# tcpdump or dumpcap records the traffic, then stops every process it started.
# Each capture's expected.json is written by hand from the client commands below:
# when you change a command, update that file too.
set -euo pipefail

CORPUS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=/usr/bin/python3

# The clients must reach the loopback servers directly, never through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

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
    for tool in tcpdump tshark dumpcap capinfos dig dnsmasq openssl curl ss "$PYTHON"; do
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
    apt-get install -y -q tcpdump tshark bind9-dnsutils dnsmasq-base openssl curl iproute2 python3
}

# Start COMMAND in the background and record its PID for cleanup.
# Its output goes to server.log in the work folder, which is printed when a server fails to start.
start_process() {
    "$@" >>"$WORK_DIR/server.log" 2>&1 &
    STARTED_PIDS+=("$!")
}

# Wait until something listens on PROTO (tcp or udp) PORT, for at most 5 seconds.
# This reads the socket table with ss, so it sends no packet that a capture could record.
wait_for_listener() {
    local proto=$1 port=$2 flag i
    if [[ $proto == tcp ]]; then flag=-Hltn; else flag=-Hlun; fi
    for i in $(seq 50); do
        if [[ -n $(ss "$flag" "sport = :$port") ]]; then
            return
        fi
        sleep 0.1
    done
    echo "error: nothing listens on $proto port $port after 5 s. Server output:" >&2
    cat "$WORK_DIR/server.log" >&2
    exit 1
}

# Wait until LOG_FILE contains PATTERN, for at most 5 seconds.
wait_for_log() {
    local log_file=$1 pattern=$2 i
    for i in $(seq 50); do
        if grep -q "$pattern" "$log_file" 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    echo "error: '$pattern' not found in $log_file after 5 s:" >&2
    cat "$log_file" >&2
    exit 1
}

# Start tcpdump on lo writing classic pcap to OUTPUT, with capture filter FILTER.
# Sets CAPTURE_PID. -U writes each packet at once, and -Z root keeps tcpdump from
# switching to the tcpdump user, which may not be allowed to write OUTPUT.
start_tcpdump() {
    local output=$1 filter=$2
    rm -f "$output"
    tcpdump -i lo -U -Z root -w "$output" "$filter" 2>"$WORK_DIR/tcpdump.log" &
    CAPTURE_PID=$!
    STARTED_PIDS+=("$CAPTURE_PID")
    wait_for_log "$WORK_DIR/tcpdump.log" "listening on"
}

# Stop the capture started last. The pause lets the last packets reach the file, and
# SIGINT makes tcpdump and dumpcap write out what they buffer before they exit.
stop_capture() {
    sleep 1
    kill -INT "$CAPTURE_PID"
    wait "$CAPTURE_PID" || true
    forget_pid "$CAPTURE_PID"
}

# Stop a process started with start_process.
stop_process() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    forget_pid "$1"
}

# Drop PID from the list that cleanup kills, because the PID may be reused once the process has exited.
forget_pid() {
    local pid remaining=()
    for pid in "${STARTED_PIDS[@]}"; do
        if [[ $pid != "$1" ]]; then
            remaining+=("$pid")
        fi
    done
    STARTED_PIDS=("${remaining[@]}")
}

# Send one TLS ClientHello with openssl s_client. The arguments go to s_client.
# With stdin at end of file, s_client closes the connection after the handshake.
run_s_client() {
    openssl s_client "$@" </dev/null >/dev/null 2>&1 || true
}

make_http_curl() {
    local out_dir=$CORPUS_DIR/http-curl web_dir=$WORK_DIR/www
    mkdir -p "$out_dir" "$web_dir"
    printf 'gate\n' >"$web_dir/gate.php"
    printf 'first\n' >"$web_dir/one.txt"
    printf 'second\n' >"$web_dir/two.txt"
    printf 'v6\n' >"$web_dir/v6.txt"

    # HTTP/1.1 mode keeps the connection open after a 200 response, so curl can reuse it.
    start_process "$PYTHON" -m http.server -p HTTP/1.1 -b 127.0.0.1 -d "$web_dir" 8080
    local server_v4=$!
    start_process "$PYTHON" -m http.server -p HTTP/1.1 -b ::1 -d "$web_dir" 8081
    local server_v6=$!
    wait_for_listener tcp 8080
    wait_for_listener tcp 8081

    start_tcpdump "$out_dir/capture.pcap" 'tcp port 8080 or tcp port 8081 or tcp port 8099'

    # stdout goes to /dev/null because --output would apply to the first URL only.
    local curl=(curl --silent --max-time 5)
    "${curl[@]}" --noproxy '*' 'http://127.0.0.1:8080/gate.php?id=42&os=linux' >/dev/null
    # The server replies to a POST with 501 Unsupported method. Only the request matters here.
    "${curl[@]}" --noproxy '*' --data 'bot=7&cmd=ping' 'http://127.0.0.1:8080/submit' >/dev/null
    # Two URLs in one curl run share one keep-alive connection.
    "${curl[@]}" --noproxy '*' 'http://127.0.0.1:8080/one.txt' 'http://127.0.0.1:8080/two.txt' >/dev/null
    "${curl[@]}" --noproxy '*' -H 'Host: evil.example' 'http://127.0.0.1:8080/payload.bin' >/dev/null
    # An empty header value makes curl send no Host header at all.
    "${curl[@]}" --noproxy '*' -H 'Host:' 'http://127.0.0.1:8080/nohost' >/dev/null
    "${curl[@]}" --noproxy '*' 'http://[::1]:8081/v6.txt' >/dev/null
    # Through an HTTP proxy curl sends the absolute-form target, and for https a CONNECT request.
    # The proxy is the local server, so curl never resolves the example names.
    "${curl[@]}" --proxy http://127.0.0.1:8080 'http://proxied.example/dropper.exe' >/dev/null
    "${curl[@]}" --proxy http://127.0.0.1:8080 'https://tunnel.example/' >/dev/null || true
    # Nothing listens on 8099, so the kernel replies to the SYN with a RST and curl fails.
    "${curl[@]}" --noproxy '*' 'http://127.0.0.1:8099/' >/dev/null || true

    stop_capture
    stop_process "$server_v4"
    stop_process "$server_v6"
}

make_dns_dig() {
    local out_dir=$CORPUS_DIR/dns-dig
    mkdir -p "$out_dir"

    # Serve local data only, without an upstream server, /etc/hosts or a config file.
    start_process dnsmasq --no-daemon --conf-file=/dev/null --pid-file= \
        --port=53 --listen-address=127.0.0.1 --bind-interfaces \
        --no-resolv --no-hosts \
        --address=/example.test/127.0.0.1 \
        --txt-record=txt.example.test,"indicator corpus"
    local server=$!
    wait_for_listener udp 53
    wait_for_listener tcp 53

    start_tcpdump "$out_dir/capture.pcap" 'host 127.0.0.1 and port 53'

    # Every query names the server, so none goes to the resolver in /etc/resolv.conf.
    local dig=(dig @127.0.0.1 -p 53 +tries=1 +time=2)
    "${dig[@]}" www.example.test A >/dev/null
    "${dig[@]}" v6.example.test AAAA >/dev/null
    "${dig[@]}" txt.example.test TXT >/dev/null
    "${dig[@]}" svc.example.test TYPE65 >/dev/null
    "${dig[@]}" +tcp tcp.example.test A >/dev/null
    "${dig[@]}" MiXeD.Example.TEST A >/dev/null
    # '\.' puts a dot inside the first label, so the name on the wire has three labels.
    "${dig[@]}" 'odd\.label.example.test' A >/dev/null

    stop_capture
    stop_process "$server"
}

make_tls_sni() {
    local out_dir=$CORPUS_DIR/tls-sni
    mkdir -p "$out_dir"

    # A throwaway self-signed certificate. The clients do not verify it.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$WORK_DIR/key.pem" -out "$WORK_DIR/cert.pem" \
        -days 2 -subj /CN=server.example.test 2>/dev/null

    local tls_server=(openssl s_server -quiet -cert "$WORK_DIR/cert.pem" -key "$WORK_DIR/key.pem")
    start_process "${tls_server[@]}" -4 -accept 127.0.0.1:4433 </dev/null
    local server_v4=$!
    start_process "${tls_server[@]}" -6 -accept '[::1]:8443' </dev/null
    local server_v6=$!
    wait_for_listener tcp 4433
    wait_for_listener tcp 8443

    start_tcpdump "$out_dir/capture.pcap" 'tcp port 4433 or tcp port 8443'

    run_s_client -connect 127.0.0.1:4433 -servername c2.example.test -tls1_2
    run_s_client -connect 127.0.0.1:4433 -servername update.example.test -tls1_3
    run_s_client -connect 127.0.0.1:4433 -noservername
    run_s_client -connect '[::1]:8443' -servername v6.example.test

    stop_capture
    stop_process "$server_v4"
    stop_process "$server_v6"
}

# One HTTP request, one DNS query and one TLS ClientHello in a pcapng file with two
# interfaces: lo (Ethernet link type) records the HTTP traffic, and the Linux "any"
# pseudo-interface (Linux cooked v2 link type) records the DNS and TLS traffic.
# The two capture filters do not overlap, so each packet is in the file once.
make_mixed() {
    local out_dir=$CORPUS_DIR/mixed web_dir=$WORK_DIR/www-mixed
    mkdir -p "$out_dir" "$web_dir"

    start_process "$PYTHON" -m http.server -p HTTP/1.1 -b 127.0.0.1 -d "$web_dir" 8080
    local http_server=$!
    start_process dnsmasq --no-daemon --conf-file=/dev/null --pid-file= \
        --port=53 --listen-address=127.0.0.1 --bind-interfaces \
        --no-resolv --no-hosts --address=/example.test/127.0.0.1
    local dns_server=$!
    start_process openssl s_server -quiet -cert "$WORK_DIR/cert.pem" -key "$WORK_DIR/key.pem" \
        -4 -accept 127.0.0.1:4433 </dev/null
    local tls_server=$!
    wait_for_listener tcp 8080
    wait_for_listener udp 53
    wait_for_listener tcp 4433

    rm -f "$out_dir/capture.pcapng"
    # "any" also captures on eth0, so its filter keeps only packets to or from 127.0.0.1.
    dumpcap -q -i lo -f 'tcp port 8080' \
        -i any -y LINUX_SLL2 -f 'host 127.0.0.1 and (udp port 53 or tcp port 4433)' \
        -w "$out_dir/capture.pcapng" 2>"$WORK_DIR/dumpcap.log" &
    CAPTURE_PID=$!
    STARTED_PIDS+=("$CAPTURE_PID")
    wait_for_log "$WORK_DIR/dumpcap.log" "Capturing on"
    # A safety margin before the first client starts, in case the second filter is set later.
    sleep 1

    curl --silent --output /dev/null --max-time 5 --noproxy '*' \
        -A 'Mozilla/5.0 (sandbox sample)' 'http://127.0.0.1:8080/api/beacon?id=7'
    dig @127.0.0.1 -p 53 +tries=1 +time=2 mixed.example.test A >/dev/null
    run_s_client -connect 127.0.0.1:4433 -servername cdn.example.test

    stop_capture
    # dumpcap creates its file with mode 0600.
    chmod 644 "$out_dir/capture.pcapng"
    stop_process "$http_server"
    stop_process "$dns_server"
    stop_process "$tls_server"
}

check_captures() {
    local file
    for file in "$CORPUS_DIR"/*/capture.pcap "$CORPUS_DIR"/*/capture.pcapng; do
        capinfos -t -E -c "$file"
        # tshark exits non-zero on a file it cannot read. Any message other than its
        # warning about running as root is printed as well.
        if ! tshark -r "$file" >/dev/null 2>"$WORK_DIR/tshark.log"; then
            echo "error: tshark cannot read $file:" >&2
            cat "$WORK_DIR/tshark.log" >&2
            exit 1
        fi
        grep -v '^Running as user "root"' "$WORK_DIR/tshark.log" >&2 || true
    done
}

install_packages
make_http_curl
make_dns_dig
make_tls_sni
make_mixed
check_captures
