#!/usr/bin/env bash
# Mixed versions, as users' CI pipelines run them: the 0.1.0 client (its CLI and library)
# against this emulator, and this client against the 0.1.0 emulator, through every flow
# 0.1.0 has: activation-time admin login, user creation, MFA registration with a signing
# key, an MFA login, user list with full coverage, logout.
#
# Builds 0.1.0 (the tag, or its commit when the clone has no tags) once into
# target/mixed/, then runs both directions. Needs this version built in release first
# (cargo build --release --workspace).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

old_ref=0.1.0
git rev-parse -q --verify "refs/tags/$old_ref" >/dev/null || old_ref=1253a7a
old_src=$root/target/mixed/src-0.1.0
old_target=$root/target/mixed/target-0.1.0
if [ ! -x "$old_target/release/cloudhsm-mfa" ] || [ ! -x "$old_target/release/cloudhsm-emulator" ]; then
    echo "mixed-versions: building 0.1.0 ($old_ref) into $old_target"
    rm -rf "$old_src"
    mkdir -p "$old_src"
    git archive "$old_ref" | tar -x -C "$old_src"
    (cd "$old_src" && CARGO_TARGET_DIR=$old_target cargo build --release --quiet \
        -p cloudhsm-mfa-cli -p cloudhsm-mfa-emulator)
fi
new_bin=$root/target/release
old_bin=$old_target/release
for b in "$new_bin/cloudhsm-mfa" "$new_bin/cloudhsm-emulator"; do
    [ -x "$b" ] || { echo "mixed-versions: $b is missing; run cargo build --release --workspace" >&2; exit 1; }
done

work=$(mktemp -d)
emulator_pid=
cleanup() {
    [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# flow SLUG NAME CLI_BIN_DIR EMULATOR_BIN_DIR
flow() {
    local name=$2 cli=$3/cloudhsm-mfa emu=$4/cloudhsm-emulator dir=$work/$1
    mkdir -p "$dir"
    "$emu" init --dir "$dir/cluster" --nodes 3 --admin-password admin-pw-1 2>"$dir/init.log" >/dev/null
    "$emu" run --dir "$dir/cluster" >"$dir/run.out" 2>"$dir/run.log" &
    emulator_pid=$!
    for _ in $(seq 1 200); do
        grep -q '"event":"ready"' "$dir/run.log" 2>/dev/null && break
        kill -0 "$emulator_pid" 2>/dev/null || { cat "$dir/run.log" >&2; return 1; }
        sleep 0.05
    done
    grep -q '"event":"ready"' "$dir/run.log" || { echo "$name: the emulator did not start" >&2; return 1; }
    export CLOUDHSM_MFA_CONFIG=$dir/cluster/cloudhsm-cli.cfg
    "$cli" keygen --private-key "$dir/mfa.pem" --public-key "$dir/mfa.pub" >/dev/null
    printf '%s\n' \
        "login --username admin --role admin --password admin-pw-1" \
        "user create --username alice --role crypto-user --password alice-pw-1" \
        "logout" \
        "login --username alice --role crypto-user --password alice-pw-1" \
        "user change-mfa token-sign --username alice --role crypto-user --sign-with $dir/mfa.pem --change-password alice-pw-2" \
        "logout" \
        "login --username alice --role crypto-user --password alice-pw-2 mfa-token-sign --sign-with $dir/mfa.pem" \
        "user list" \
        "logout" \
        "quit" | "$cli" interactive >"$dir/cli.out" 2>"$dir/cli.err"
    kill "$emulator_pid"
    wait "$emulator_pid" 2>/dev/null || true
    emulator_pid=
    python3 - "$name" "$dir/cli.out" <<'PY'
import json, sys
name, path = sys.argv[1], sys.argv[2]
text, docs, i = open(path).read(), [], 0
decoder = json.JSONDecoder()
while True:
    i = text.find("{", i)
    if i < 0:
        break
    doc, i = decoder.raw_decode(text, i)
    docs.append(doc)
failed = [d for d in docs if d.get("error_code") != 0]
users = next((d["data"]["users"] for d in docs if isinstance(d.get("data"), dict) and "users" in d["data"]), [])
alice = next((u for u in users if u["username"] == "alice"), None)
ok = (len(docs) == 9 and not failed and alice is not None
      and alice["mfa"] == [{"strategy": "token-sign", "status": "enabled"}]
      and all(u["cluster-coverage"] == "full" for u in users))
print(f"{name}: {len(docs)} commands, {len(failed)} failed, alice's MFA "
      f"{'enabled' if alice and alice['mfa'] else 'missing'}: {'ok' if ok else 'FAILED'}")
for d in failed:
    print(f"  {d}")
sys.exit(0 if ok else 1)
PY
}

status=0
flow old-client "0.1.0 client against this emulator" "$old_bin" "$new_bin" || status=1
flow old-emulator "this client against the 0.1.0 emulator" "$new_bin" "$old_bin" || status=1
n=$(( status == 0 ? 2 : 0 ))
echo "mixed-versions: $n passed, $(( 2 - n )) failed"
exit $status
