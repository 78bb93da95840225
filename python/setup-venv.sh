#!/usr/bin/env bash
# Builds the pcap_miner wheel and installs it with the Karton service package
# and the test tools into a venv, then prints the venv's path.
#
# The venv and the wheel are kept between runs: the wheel is built and both
# packages are installed again only when a file under crates/, python/ or
# Cargo.lock changed since the last install into that venv.
#
# Usage: bash python/setup-venv.sh [VENV]
#   VENV defaults to $PCAP_MINER_PY_VENV, else /tmp/pcap-miner-py-venv.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

venv="${1:-${PCAP_MINER_PY_VENV:-/tmp/pcap-miner-py-venv}}"
wheels="$root/target/wheels"
# Test tools and the components the end-to-end test runs next to the service.
tools=(
    "maturin>=1.9,<2"
    "setuptools>=77"
    "pytest>=8"
    "karton-core==5.9.1"
    "karton-mwdb-reporter==1.3.0"
    "mwdblib==4.8.0"
)

install_tools() {
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    local stamp="$venv/.pcap-miner-tools"
    [[ -f "$stamp" && "$(cat "$stamp")" == "${tools[*]}" ]] && return 0
    log "setup-venv: installing ${tools[*]} into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${tools[@]}"
    echo "${tools[*]}" >"$stamp"
}

# Hash of every input of the wheel and the service package.
sources_hash() {
    (
        cd "$root"
        find crates python Cargo.lock Cargo.toml -type f \
            -not -path '*/__pycache__/*' -not -path '*/.pytest_cache/*' -not -name '*.pyc' -print0 |
            sort -z | xargs -0 sha256sum
    ) | sha256sum | cut -d' ' -f1
}

install_packages() {
    local stamp="$venv/.pcap-miner-sources" hash wheel
    hash="$(sources_hash)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$hash" ]]; then
        return 0
    fi

    log "setup-venv: building the pcap_miner wheel (maturin build --release)"
    rm -f "$wheels"/pcap_miner-*.whl
    (cd "$root/python/pcap-miner" && "$venv/bin/maturin" build --release --locked --quiet -o "$wheels" \
        --interpreter "$venv/bin/python") >&2
    wheel="$(ls "$wheels"/pcap_miner-*.whl)"

    log "setup-venv: installing $(basename "$wheel") and python/karton-pcap-miner"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
    # setuptools writes build/ and *.egg-info next to the sources, so it builds from a copy.
    local copy
    copy="$(mktemp -d)"
    cp -r "$root/python/karton-pcap-miner/." "$copy"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --force-reinstall --no-deps \
        --no-build-isolation "$copy"
    rm -rf "$copy"
    echo "$hash" >"$stamp"
}

install_tools
install_packages
echo "$venv"
