#!/bin/sh
# Runs the test programs given as arguments (paths build/<variant>/<program>), keeps each
# one's output in LOG_DIR, adds up the "CHECKS <program> passed=N failed=M" lines they
# print, and ends with the line
#     c-tests: N passed, M failed
# A program that crashes, is stopped by AddressSanitizer or valgrind (leaks included) or
# exits non-zero without a failed check counts as one more failure. Exits 1 on any failure.
#
# A program given as valgrind:PATH runs under
#     valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect
# and is shown as variant "valgrind".
#
# Programs named test_cluster* talk to live emulator clusters. For each run of such a
# program this script creates, in a fresh directory (so that runs never see each other's
# users), two clusters of 3 HSMs on free loopback ports:
#   - one activated, with a random admin password: its cloudhsm-cli.cfg is passed in
#     CLOUDHSM_MFA_CONFIG, the password in CHM_TEST_ADMIN_PASSWORD (never printed);
#   - one not activated yet: its configuration in CHM_TEST_NEW_CLUSTER_CONFIG.
# It starts `cloudhsm-emulator run` for each, waits until every port in the configuration
# accepts connections, runs the program, then stops the emulators with SIGTERM and checks
# that they exit with status 0. They are stopped too when this script is interrupted.
# The emulator's output goes to LOG_DIR/<variant>-<program>.emulator.log.
#
# Environment: CHM_EMULATOR (the cloudhsm-emulator binary) and CHM_WAIT_FOR_PORTS (the
# wait-for-ports helper), needed only for test_cluster* programs.
#
# usage: run-tests.sh LOG_DIR [valgrind:]PROGRAM...
set -u

log_dir=$1
shift
script_dir=$(dirname "$0")
mkdir -p "$log_dir"

total_passed=0
total_failed=0

# ---- emulator clusters ------------------------------------------------------------------
cluster_root=""
main_pid=""
new_pid=""

# Stops the emulator with pid $1 with SIGTERM; sets stop_status to its exit status.
stop_emulator() {
    kill -TERM "$1" 2>/dev/null
    wait "$1"
    stop_status=$?
}

program_pid=""

# Stops whatever is still running and removes the cluster directories.
cleanup() {
    if [ -n "$program_pid" ]; then
        kill -TERM "$program_pid" 2>/dev/null
        wait "$program_pid"
        program_pid=""
    fi
    if [ -n "$main_pid" ]; then
        stop_emulator "$main_pid"
        main_pid=""
    fi
    if [ -n "$new_pid" ]; then
        stop_emulator "$new_pid"
        new_pid=""
    fi
    if [ -n "$cluster_root" ]; then
        rm -rf "$cluster_root"
        cluster_root=""
    fi
}
trap cleanup EXIT
trap 'echo "run-tests.sh: interrupted" >&2; exit 130' INT TERM HUP

# run_program COMMAND...: runs a test program with its output in $log and sets status to
# its exit status. It runs in the background so that a signal to this script is handled
# at once (the trap stops the program and the clusters).
run_program() {
    "$@" >"$log" 2>&1 &
    program_pid=$!
    wait "$program_pid"
    status=$?
    program_pid=""
}

# start_cluster DIR LOG [ADMIN_PASSWORD]: initialises a cluster of 3 HSMs in DIR (activated
# when a password is given; cheap password hashing for tests), starts it in the background
# (its pid in started_pid, empty if it did not start) and waits up to 30 s until every
# port of DIR/cloudhsm-cli.cfg accepts connections. Returns non-zero on failure.
start_cluster() {
    started_pid=""
    if [ $# -ge 3 ]; then
        "$CHM_EMULATOR" init --dir "$1" --nodes 3 --admin-password "$3" \
            --argon2-memory-kib 64 --argon2-iterations 1 >>"$2" 2>&1 || return 1
    else
        "$CHM_EMULATOR" init --dir "$1" --nodes 3 \
            --argon2-memory-kib 64 --argon2-iterations 1 >>"$2" 2>&1 || return 1
    fi
    "$CHM_EMULATOR" run --dir "$1" >>"$2" 2>&1 &
    started_pid=$!
    cfg="$1/cloudhsm-cli.cfg"
    host=$(sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p' "$cfg" | head -n 1)
    ports=$(sed -n 's/.*"port": *\([0-9][0-9]*\).*/\1/p' "$cfg")
    [ -n "$host" ] && [ -n "$ports" ] || { echo "no servers in $cfg" >>"$2"; return 1; }
    # shellcheck disable=SC2086 # one argument per port
    "$CHM_WAIT_FOR_PORTS" 30 "$host" $ports >>"$2" 2>&1
}

# start_clusters LOG: the two clusters of a test_cluster* program, in a fresh directory.
start_clusters() {
    : "${CHM_EMULATOR:?CHM_EMULATOR must name the cloudhsm-emulator binary}"
    : "${CHM_WAIT_FOR_PORTS:?CHM_WAIT_FOR_PORTS must name the wait-for-ports helper}"
    cluster_root=$(mktemp -d "${TMPDIR:-/tmp}/chm-clusters-XXXXXX") || return 1
    admin_password=$(od -An -N15 -tx1 /dev/urandom | tr -d ' \n')
    start_cluster "$cluster_root/main" "$1" "$admin_password"
    status=$?
    main_pid=$started_pid
    [ "$status" -eq 0 ] || return 1
    start_cluster "$cluster_root/new" "$1"
    status=$?
    new_pid=$started_pid
    [ "$status" -eq 0 ] || return 1
    CLOUDHSM_MFA_CONFIG="$cluster_root/main/cloudhsm-cli.cfg"
    CHM_TEST_NEW_CLUSTER_CONFIG="$cluster_root/new/cloudhsm-cli.cfg"
    CHM_TEST_ADMIN_PASSWORD=$admin_password
    export CLOUDHSM_MFA_CONFIG CHM_TEST_NEW_CLUSTER_CONFIG CHM_TEST_ADMIN_PASSWORD
    return 0
}

# stop_clusters: stops both emulators; sets emulator_problem when one did not exit 0.
stop_clusters() {
    emulator_problem=""
    for which in main new; do
        eval "pid=\$${which}_pid"
        if [ -n "$pid" ]; then
            stop_emulator "$pid"
            eval "${which}_pid=''"
            if [ "$stop_status" -ne 0 ]; then
                emulator_problem="$emulator_problem the $which emulator exited with status"
                emulator_problem="$emulator_problem $stop_status on SIGTERM;"
            fi
        fi
    done
    unset CLOUDHSM_MFA_CONFIG CHM_TEST_NEW_CLUSTER_CONFIG CHM_TEST_ADMIN_PASSWORD
    rm -rf "$cluster_root"
    cluster_root=""
}

now_ms() {
    date +%s%3N
}

# ---- the programs -----------------------------------------------------------------------
for arg in "$@"; do
    case $arg in
    valgrind:*)
        program=${arg#valgrind:}
        variant=valgrind
        ;;
    *)
        program=$arg
        variant=$(basename "$(dirname "$program")")
        ;;
    esac
    name=$(basename "$program")
    log="$log_dir/$variant-$name.log"
    emulator_log="$log_dir/$variant-$name.emulator.log"
    problem=""
    cluster=0
    : >"$log"

    case $name in
    test_cluster*)
        cluster=1
        : >"$emulator_log"
        if ! start_clusters "$emulator_log"; then
            problem="the emulator clusters did not start (see $emulator_log);"
        fi
        ;;
    esac

    start=$(now_ms)
    status=0
    if [ -z "$problem" ]; then
        case $variant in
        asan)
            # exitcode: a sanitizer report (a leak too) makes the program exit non-zero.
            run_program env ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=1 "$program"
            ;;
        valgrind)
            # Under valgrind the programs run some 50 times slower: test_cluster_threads
            # makes 10 logins per thread here instead of 50 (its AddressSanitizer and
            # other runs make all 50).
            # Leaks that count as errors: definite and indirect ones. "Possibly lost" is
            # left out: the standard library keeps the main thread's handle, made when a
            # call first spreads work over threads, behind an interior pointer in a
            # thread-local slot that is only freed at exit (AddressSanitizer's leak check
            # still runs on every program).
            run_program env CHM_TEST_LOGINS_PER_THREAD=10 valgrind --error-exitcode=1 \
                --leak-check=full --errors-for-leak-kinds=definite,indirect "$program"
            ;;
        *)
            run_program "$program"
            ;;
        esac
    fi
    elapsed=$(($(now_ms) - start))
    if [ "$cluster" -eq 1 ]; then
        stop_clusters
        problem="$problem$emulator_problem"
    fi

    line=$(grep '^CHECKS ' "$log" | tail -n 1)
    passed=$(printf '%s\n' "$line" | sed -n 's/.* passed=\([0-9][0-9]*\) failed=[0-9][0-9]*$/\1/p')
    failed=$(printf '%s\n' "$line" | sed -n 's/.* passed=[0-9][0-9]* failed=\([0-9][0-9]*\)$/\1/p')

    if [ -z "$passed" ] || [ -z "$failed" ]; then
        problem="$problem printed no totals (exit status $status)"
        passed=0
        failed=1
    elif [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        problem="$problem exited with status $status after its checks passed"
        failed=1
    elif [ -n "$problem" ]; then
        failed=$((failed + 1))
    fi
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))

    seconds="$((elapsed / 1000)).$((elapsed % 1000 / 100))"
    if [ "$failed" -eq 0 ]; then
        printf 'ok      %-8s %-30s %5d checks %7s s\n' "$variant" "$name" "$passed" "$seconds"
        grep '^TIMING ' "$log" | sed 's/^TIMING /            /'
    else
        printf 'FAILED  %-8s %-30s %5d passed, %d failed %s (%s s)\n' "$variant" "$name" \
            "$passed" "$failed" "$problem" "$seconds"
        echo "----- output of $variant/$name ($log) -----"
        cat "$log"
        if [ "$cluster" -eq 1 ]; then
            echo "----- emulator output ($emulator_log) -----"
            cat "$emulator_log"
        fi
        echo "----- end of $variant/$name -----"
    fi
done

echo "c-tests: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
