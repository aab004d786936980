#!/bin/sh
# Runs the test programs given as arguments (paths build/<variant>/<program>), keeps each
# one's output in LOG_DIR, adds up the "CHECKS <program> passed=N failed=M" lines they
# print, and ends with the line
#     c-tests: N passed, M failed
# A program that crashes, is stopped by AddressSanitizer (leaks included) or exits
# non-zero without a failed check counts as one more failure. Exits 1 on any failure.
#
# usage: run-tests.sh LOG_DIR PROGRAM...
set -u

log_dir=$1
shift
mkdir -p "$log_dir"

total_passed=0
total_failed=0
known_bugs="$log_dir/known-bugs.txt"
: >"$known_bugs"

for program in "$@"; do
    name=$(basename "$program")
    variant=$(basename "$(dirname "$program")")
    log="$log_dir/$variant-$name.log"
    case $variant in
    asan)
        # exitcode: a sanitizer report (a leak too) makes the program exit non-zero.
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=1 "$program" >"$log" 2>&1
        status=$?
        ;;
    *)
        "$program" >"$log" 2>&1
        status=$?
        ;;
    esac

    line=$(grep '^CHECKS ' "$log" | tail -n 1)
    passed=$(printf '%s\n' "$line" | sed -n 's/.* passed=\([0-9][0-9]*\) failed=[0-9][0-9]*$/\1/p')
    failed=$(printf '%s\n' "$line" | sed -n 's/.* passed=[0-9][0-9]* failed=\([0-9][0-9]*\)$/\1/p')
    grep 'KNOWN LIBRARY BUG' "$log" >>"$known_bugs"

    problem=""
    if [ -z "$passed" ] || [ -z "$failed" ]; then
        problem="printed no totals (exit status $status)"
        passed=0
        failed=1
    elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        problem="exited with status $status after its checks passed"
        failed=1
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))

    if [ "$failed" -eq 0 ]; then
        printf 'ok      %-8s %-26s %5d checks\n' "$variant" "$name" "$passed"
    else
        printf 'FAILED  %-8s %-26s %5d passed, %d failed %s\n' "$variant" "$name" "$passed" \
            "$failed" "$problem"
        echo "----- output of $variant/$name ($log) -----"
        cat "$log"
        echo "----- end of $variant/$name -----"
    fi
done

if [ -s "$known_bugs" ]; then
    echo "c-tests: known library bugs, reported but not counted (each check fails once fixed):"
    sed 's/^/    /' "$known_bugs" | sort -u
fi
echo "c-tests: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
