#!/usr/bin/env bash
# Seeds each fuzz target's corpus folder (fuzz/corpus/TARGET, not committed)
# from the project's captures and the kept regression inputs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"

seed() {
    local target="$1"
    shift
    mkdir -p "$here/corpus/$target"
    local file
    for file in "$@"; do
        [[ -f "$file" ]] && cp "$file" "$here/corpus/$target/seed-$(basename "$(dirname "$file")")-$(basename "$file")"
    done
    if [[ -d "$root/corpus/fuzz-regressions/$target" ]]; then
        cp "$root/corpus/fuzz-regressions/$target/"* "$here/corpus/$target/" 2>/dev/null || true
    fi
}

captures=("$root"/corpus/*/capture.pcap "$root"/corpus/*/capture.pcapng)
seed capture_reader "${captures[@]}"
seed pipeline "${captures[@]}"
for target in decode reassembly http tls dns segment_order; do
    seed "$target"
done
