# Shell helpers for scripts/test.sh and its steps; source it, do not run it.

log() {
    printf '[test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

# Installs Debian packages that are missing; runs apt-get update once per run.
apt_install() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    (( ${#missing[@]} == 0 )) && return 0
    log "apt-get install ${missing[*]}"
    if [[ ! -e /tmp/pcap-miner-apt-updated ]]; then
        apt-get update -q >/dev/null
        touch /tmp/pcap-miner-apt-updated
    fi
    # tshark asks whether non-root users may capture; answer no, non-interactively.
    echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Fails when cargo's output (file $1) shows no test ran.
require_cargo_tests_ran() {
    local output="$1"
    local total
    total=$(grep -Eo 'test result: [a-z]+\. [0-9]+ passed' "$output" | awk '{s += $4} END {print s + 0}')
    if (( total == 0 )); then
        log "cargo ran no test"
        return 1
    fi
    log "cargo ran $total passing tests"
}
