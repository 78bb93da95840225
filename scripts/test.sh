#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian 12 machine, as root.
#
# Installs what the tests need (Debian packages, pip packages), starts the
# servers they use on 127.0.0.1, runs every step in scripts/test.d in name
# order, and stops the servers again. A step that runs no test fails the run.
#
# Usage: bash scripts/test.sh [STEP-NAME-PATTERN]
#   e.g. bash scripts/test.sh 10-cargo   runs only the matching steps.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
export PCAP_MINER_ROOT="$root"
export PCAP_MINER_SHARED="${PCAP_MINER_SHARED:-$root/../shared}"
cd "$root"

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

pattern="${1:-}"
failed=()
ran=0
for step in "$root"/scripts/test.d/*.sh; do
    name="$(basename "$step" .sh)"
    if [[ -n "$pattern" && "$name" != *"$pattern"* ]]; then
        continue
    fi
    ran=$((ran + 1))
    log "step $name: start"
    start=$(date +%s)
    if bash "$step"; then
        log "step $name: passed in $(( $(date +%s) - start )) s"
    else
        log "step $name: FAILED in $(( $(date +%s) - start )) s"
        failed+=("$name")
    fi
done

if (( ran == 0 )); then
    log "no step matched ${pattern:-anything}: no tests ran"
    exit 1
fi
if (( ${#failed[@]} > 0 )); then
    log "failed steps: ${failed[*]}"
    echo "$((ran - ${#failed[@]})) passed, ${#failed[@]} failed"
    exit 1
fi
echo "$ran passed, 0 failed"
