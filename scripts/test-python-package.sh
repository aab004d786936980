#!/usr/bin/env bash
# Tests the Python package as users get it:
#   - `pip wheel bindings/python` makes a platform wheel (py3-none-<platform>) that
#     carries the library (stripped) and the py.typed marker;
#   - `pip install bindings/python` into a fresh virtual environment; from another
#     directory, with no CLOUDHSM_MFA_LIB nor PYTHONPATH, the package loads the library it
#     carries and bindings/python/tests/installed_program.py makes real calls with it;
#   - `mypy --strict` passes on that program against the installed package, fails on an
#     ill-typed one, and passes on the package's own sources;
#   - the source tree is left as it was (no build/, no *.egg-info).
# pip fetches the build backend (hatchling) from PyPI; cargo reuses the repository's
# target/ (or $CARGO_TARGET_DIR), so a library already built in release is not rebuilt.
# Needs python3 with venv, and mypy (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset CLOUDHSM_MFA_LIB PYTHONPATH

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "test-python-package: ok: $1"; }
fail() { failed=$((failed + 1)); echo "test-python-package: FAILED: $1" >&2; }
check() {
  local what=$1; shift
  if "$@" >"$work/out" 2>&1; then ok "$what"; else fail "$what"; sed 's/^/    /' "$work/out" >&2; fi
}

tree_state() { git status --porcelain --ignored --untracked-files=all -- bindings/python | sort; }
tree_state >"$work/tree-before"

pip_quiet=(--quiet --disable-pip-version-check --no-input)

echo "== test-python-package: pip wheel bindings/python"
start=$SECONDS
python3 -m pip wheel "${pip_quiet[@]}" --no-deps -w "$work/wheels" bindings/python
echo "test-python-package: pip wheel took $((SECONDS - start)) s"
wheel=$(ls "$work"/wheels/cloudhsm_mfa-*.whl)
platform=$(python3 -c 'import sysconfig; print(sysconfig.get_platform().replace("-", "_").replace(".", "_"))')
check "the wheel is tagged py3-none-$platform: $(basename "$wheel")" \
  test "$(basename "$wheel")" = "cloudhsm_mfa-$(sed -n 's/^version = "\(.*\)"/\1/p' bindings/python/pyproject.toml)-py3-none-$platform.whl"
check "the wheel carries the library (with its SONAME, stripped), py.typed and the modules" \
  python3 - "$wheel" <<'EOF'
import subprocess, sys, tempfile, zipfile, pathlib
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
for want in ["cloudhsm_mfa/libcloudhsm_mfa.so", "cloudhsm_mfa/py.typed", "cloudhsm_mfa/__init__.py",
             "cloudhsm_mfa/_ffi.py", "cloudhsm_mfa/keys.py"]:
    assert want in names, f"{want} is not in the wheel: {sorted(names)}"
with tempfile.TemporaryDirectory() as d:
    lib = zipfile.ZipFile(sys.argv[1]).extract("cloudhsm_mfa/libcloudhsm_mfa.so", d)
    dynamic = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True, check=True).stdout
    assert "[libcloudhsm_mfa.so.0]" in dynamic, dynamic
    sections = subprocess.run(["readelf", "-S", "-W", lib], capture_output=True, text=True, check=True).stdout
    assert "] .debug_line" not in sections and "] .symtab" not in sections, sections
    symbols = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
    assert " T CHM_Initialize" in symbols, "CHM_Initialize is not exported"
EOF

echo "== test-python-package: pip install bindings/python into a fresh virtual environment"
python3 -m venv "$work/venv"
start=$SECONDS
"$work/venv/bin/python" -m pip install "${pip_quiet[@]}" bindings/python
echo "test-python-package: pip install took $((SECONDS - start)) s"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')

mkdir -p "$work/elsewhere/run"
cp bindings/python/tests/installed_program.py "$work/elsewhere/"
check "from another directory, with no environment variable, it loads the library it carries" \
  bash -c "cd '$work/elsewhere' && env -u CLOUDHSM_MFA_LIB -u PYTHONPATH '$work/venv/bin/python' -c \
    'import cloudhsm_mfa as c; print(c.LIBRARY_PATH); print(c.version())' >'$work/import.txt' &&
    test \"\$(cat '$work/import.txt')\" = \"$site/cloudhsm_mfa/libcloudhsm_mfa.so
\$(sed -n 's/^version = \"\(.*\)\"/\1/p' '$root/bindings/python/pyproject.toml')\" || { cat '$work/import.txt'; exit 1; }"
check "a program makes real calls with the installed package (keys, token files, errors)" \
  bash -c "cd '$work/elsewhere' && '$work/venv/bin/python' installed_program.py run |
    grep -qx 'installed_program: ok $site/cloudhsm_mfa/libcloudhsm_mfa.so'"

echo "== test-python-package: mypy --strict"
check "mypy --strict passes on the program, against the installed package" \
  bash -c "cd '$work/elsewhere' && python3 -m mypy --strict --no-incremental \
    --python-executable '$work/venv/bin/python' installed_program.py"
cat >"$work/elsewhere/ill_typed.py" <<'EOF'
import cloudhsm_mfa as chm

key: chm.PrivateKey = chm.PrivateKey.load(42)
signature: str = key.sign_token(b"\0" * 32)
chm.Session.open().login("alice", "crypto-user", password=7)
EOF
check "mypy --strict finds the three errors of an ill-typed program" \
  bash -c "cd '$work/elsewhere' && ! python3 -m mypy --strict --no-incremental \
    --python-executable '$work/venv/bin/python' ill_typed.py >'$work/mypy.txt';
    cat '$work/mypy.txt'; grep -q 'Found 3 errors' '$work/mypy.txt' &&
    grep -q 'ill_typed.py:3: error: Argument 1 to \"load\" of \"PrivateKey\"' '$work/mypy.txt' &&
    grep -q 'ill_typed.py:4: error: Incompatible types in assignment' '$work/mypy.txt' &&
    grep -q 'ill_typed.py:5: error: Argument \"password\" to \"login\" of \"Session\"' '$work/mypy.txt'"
check "mypy --strict passes on the package's sources" \
  bash -c "cd bindings/python && python3 -m mypy --strict --cache-dir=/dev/null cloudhsm_mfa"

tree_state >"$work/tree-after"
check "pip left the source tree as it was (git status --porcelain --ignored)" \
  diff -u "$work/tree-before" "$work/tree-after"
check "no build/ nor *.egg-info in bindings/python" \
  bash -c "test -z \"\$(find bindings/python -maxdepth 2 \( -name build -o -name '*.egg-info' \))\""

echo "test-python-package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
