#!/usr/bin/env bash
# Runs every cargo-fuzz target (fuzz/fuzz_targets/) for SECONDS each (default 20), from the
# committed seed corpus in fuzz/corpus/<target>; what a run discovers goes to a temporary
# corpus, so the tree is left as it was. A crash fails the script and leaves its input in
# fuzz/artifacts/<target>/. Needs the nightly toolchain and cargo-fuzz (scripts/setup.sh).
# With FUZZ_RUNS=N a target also stops after N executions, whichever comes first.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   FUZZ_RUNS=10000000 scripts/fuzz.sh 1800      # the long run: 10 million or 30 minutes
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
        -max_total_time="$seconds" ${FUZZ_RUNS:+-runs="$FUZZ_RUNS"} -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
        runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
        took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o '[0-9]* second' | grep -o '[0-9]*' || echo "$seconds")
        echo "fuzz $t: $runs executions in ${took} s, 0 crashes"
        passed=$((passed + 1))
    else
        echo "fuzz $t: FAILED"
        tail -n 40 "$log"
        echo "fuzz: $passed passed, 1 failed"
        exit 1
    fi
done
echo "fuzz: $passed passed, 0 failed"
