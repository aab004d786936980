#!/usr/bin/env bash
# Installs what a fresh Debian machine with Rust and Python lacks for the build and the
# tests. Idempotent: tools already present are left alone.
set -euo pipefail

need_apt=()
command -v gcc >/dev/null || need_apt+=(gcc)
command -v g++ >/dev/null || need_apt+=(g++)
command -v make >/dev/null || need_apt+=(make)
command -v nm >/dev/null || need_apt+=(binutils)
command -v pkg-config >/dev/null || need_apt+=(pkg-config)
command -v cmake >/dev/null || need_apt+=(cmake)
command -v man >/dev/null || need_apt+=(man-db)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v softhsm2-util >/dev/null || need_apt+=(softhsm2)
command -v valgrind >/dev/null || need_apt+=(valgrind)
command -v script >/dev/null || need_apt+=(bsdutils)
command -v python3 >/dev/null || need_apt+=(python3 python3-pip)
# The Python package test makes a fresh virtual environment (Debian splits venv out).
python3 -c 'import ensurepip, venv' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi

# pytest runs the Python tests; aiosmtpd is the real SMTP server the email-code test talks to;
# mypy checks the package's type hints (scripts/test-python-package.sh).
for module in pytest aiosmtpd mypy; do
  if ! python3 -c "import $module" 2>/dev/null; then
    echo "setup: installing $module with pip"
    python3 -m pip install --quiet --disable-pip-version-check "$module" \
      || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$module"
  fi
done

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest
fi

# Fuzzing and Miri run on the nightly toolchain.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "setup: installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
for component in miri rust-src; do
  if ! rustup +nightly component list --installed 2>/dev/null | grep -q "^$component"; then
    echo "setup: adding $component to the nightly toolchain"
    rustup component add "$component" --toolchain nightly
  fi
done
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi
