#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 20), from the
# committed seed corpus in fuzz/corpus/<target>; what a run discovers goes to a temporary
# corpus, so the tree is left as it was. A crash fails the script and leaves its input in
# fuzz/artifacts/<target>/. Needs the nightly toolchain and cargo-fuzz (scripts/setup.sh).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo +nightly fuzz build --release
passed=0
for t in "${targets[@]}"; do
    mkdir -p "$work/$t"
    log=$work/$t.log
    if cargo +nightly fuzz run --release "$t" "$work/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        echo "fuzz $t: $runs executions in ${seconds} s, 0 crashes"
        passed=$((passed + 1))
    else
        echo "fuzz $t: FAILED"
        tail -n 40 "$log"
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
done
echo "fuzz: $passed passed, 0 failed"
