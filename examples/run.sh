#!/usr/bin/env bash
# Builds and runs the README's C, Python and C++ examples against a fresh local cluster:
# each example gets its own new 3-node emulator cluster, started here and stopped at the
# end. The build is taken from target/release, or $CARGO_TARGET_DIR/release.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${CARGO_TARGET_DIR:-target}/release")
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a cluster in $work/$1 (more `init` options after it) and waits until every node
# accepts connections.
start_cluster() {
  local dir="$work/$1"
  "$bin/cloudhsm-emulator" init --dir "$dir" --nodes 3 --argon2-memory-kib 64 --argon2-iterations 1 "${@:2}" 2>/dev/null
  "$bin/cloudhsm-emulator" run --dir "$dir" 2>"$dir.log" &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q '"ready"' "$dir.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "the cluster in $dir did not start:"; cat "$dir.log"; exit 1
}

passed=0
failed=0

start_cluster c-cluster
mkdir -p "$work/c"
cc -std=c99 -Wall -Wextra -Wpedantic -Werror -Iinclude examples/quickstart.c \
   -L"$bin" -Wl,-rpath,"$bin" -lcloudhsm_mfa -o "$work/quickstart-c"
if CLOUDHSM_MFA_CONFIG="$work/c-cluster/cloudhsm-cli.cfg" "$work/quickstart-c" "$work/c"; then
  passed=$((passed + 1)); echo "examples: quickstart.c ok"
else
  failed=$((failed + 1)); echo "examples: quickstart.c FAILED"
fi

start_cluster py-cluster
mkdir -p "$work/py"
if CLOUDHSM_MFA_CONFIG="$work/py-cluster/cloudhsm-cli.cfg" PYTHONPATH=bindings/python \
   CLOUDHSM_MFA_LIB="${CLOUDHSM_MFA_LIB:-$bin/libcloudhsm_mfa.so}" \
   python3 examples/quickstart.py "$work/py"; then
  passed=$((passed + 1)); echo "examples: quickstart.py ok"
else
  failed=$((failed + 1)); echo "examples: quickstart.py FAILED"
fi

sh_admin=admin-password-1
start_cluster sh-cluster --admin-password "$sh_admin"
mkdir -p "$work/sh"
# The README's PKCS#11 commands need alice, a crypto user, and an unsigned token file to sign.
sh_config="$work/sh-cluster/cloudhsm-cli.cfg"
if PATH="$bin:$PATH" CLOUDHSM_MFA_CONFIG="$sh_config" sh -c '
     set -e
     CLOUDHSM_ROLE=admin CLOUDHSM_PIN="admin:$0" cloudhsm-mfa user create \
         --username alice --role crypto-user --password alice-password-1 >/dev/null
     t=$(head -c 32 /dev/urandom | base64)
     printf "{\"version\":\"2.0\",\"tokens\":[{\"unsigned\":\"%s\",\"signed\":\"\"}]}" "$t" \
         > "$1/login.json"
     examples/pkcs11.sh "$1"' "$sh_admin" "$work/sh" >"$work/sh.out" 2>&1; then
  passed=$((passed + 1)); echo "examples: pkcs11.sh ok"
else
  failed=$((failed + 1)); echo "examples: pkcs11.sh FAILED"; cat "$work/sh.out"
fi

# The C++ example of the README's "C++" section, as written, in a directory holding mfa.key
# (a committed fixture key), registered as alice's MFA key through the CLI.
cpp_admin=admin-password-1
start_cluster cpp-cluster --admin-password "$cpp_admin"
cpp="$work/cpp"
mkdir -p "$cpp"
awk '/^### C\+\+$/ { section = 1; next }
     section && !code && /^#/ { exit }
     section && /^```cpp$/ { code = 1; next }
     code && /^```$/ { exit }
     code' README.md > "$cpp/app.cpp"
install -m 600 test-support/keys/rsa2048-a.pkcs8.pem "$cpp/mfa.key"
echo "README.md has no cpp block in its C++ section" >"$cpp.out"
if [ -s "$cpp/app.cpp" ] &&
   g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -Ibindings/cpp "$cpp/app.cpp" \
       -L"$bin" -Wl,-rpath,"$bin" -lcloudhsm_mfa -o "$cpp/app" 2>"$cpp.out" &&
   (cd "$cpp" && PATH="$bin:$PATH" CLOUDHSM_MFA_CONFIG="$work/cpp-cluster/cloudhsm-cli.cfg" sh -c '
      set -e
      CLOUDHSM_ROLE=admin CLOUDHSM_PIN="admin:$0" cloudhsm-mfa user create \
          --username alice --role crypto-user --password alice-password >/dev/null
      CLOUDHSM_ROLE=crypto-user CLOUDHSM_PIN=alice:alice-password cloudhsm-mfa \
          user change-mfa token-sign --username alice --role crypto-user \
          --change-password alice-password --sign-with mfa.key >/dev/null
      ./app' "$cpp_admin") >>"$cpp.out" 2>&1 &&
   grep -q '"alice"' "$cpp.out"; then
  passed=$((passed + 1)); echo "examples: README.md's C++ example ok"
else
  failed=$((failed + 1)); echo "examples: README.md's C++ example FAILED"; cat "$cpp.out"
fi

echo "examples: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
