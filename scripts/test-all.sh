#!/usr/bin/env bash
# Runs every test: Rust (unit and integration, against the real openssl and live emulator
# clusters), formatting and lints, the C tests (static, dynamic and AddressSanitizer
# builds), the C++ tests, the Python tests, `make install` and programs built against the
# installation, the Python package as a wheel in a fresh virtual environment, the README's
# examples, Miri over the C ABI's pointer helpers, a short run of every fuzz target and a
# 15-second soak. Sets up a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets --quiet -- -D warnings

echo "== build"
cargo build --release --workspace

echo "== Rust tests"
cargo nextest run --release --workspace --no-fail-fast

echo "== C and C++ tests"
make -C c-tests test

echo "== Python tests"
python3 -m pytest -q bindings/python/tests

echo "== make install: staged and real prefixes, pkg-config, CMake, C++, man pages, completions"
scripts/test-install.sh

echo "== The Python package: wheel, pip install into a fresh virtual environment, mypy --strict"
scripts/test-python-package.sh

echo "== README examples (C, Python, C++) against a local cluster"
examples/run.sh

echo "== Miri over the C ABI's pointer and buffer helpers"
cargo +nightly miri test -p cloudhsm-mfa --lib ffi::guard

echo "== Fuzz smoke runs (20 s per target)"
scripts/fuzz.sh 20

echo "== Soak: 15 s, 16 MFA sessions, a node SIGKILLed and restarted every 5 s"
cargo bench -p cloudhsm-mfa-emulator --bench soak -- 15 5
