"""Test set-up: the package is imported from this checkout (no installation needed), and
real keys are made with the real `openssl` command."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
REPO = PYTHON_DIR.parents[1]
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))


def run_openssl(*args, input=None):
    """Runs `openssl` with `args`; returns its stdout (bytes). Fails the test on error."""
    done = subprocess.run(
        ["openssl", *map(str, args)], input=input, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"openssl {' '.join(map(str, args))} failed: {done.stderr.decode(errors='replace')}"
        )
    return done.stdout


def openssl_exit_code(*args):
    """Runs `openssl` with `args` and returns its exit code (for checks that may fail)."""
    return subprocess.run(["openssl", *map(str, args)], capture_output=True).returncode


@pytest.fixture(scope="session")
def keydir(tmp_path_factory):
    return tmp_path_factory.mktemp("keys")


def _rsa_pair(keydir, name, *extra):
    key = keydir / f"{name}.pem"
    pub = keydir / f"{name}.pub.pem"
    run_openssl("genrsa", *extra, "-out", key, "2048")
    run_openssl("pkey", "-in", key, "-pubout", "-out", pub)
    return key, pub


@pytest.fixture(scope="session")
def rsa_pair(keydir):
    """A 2048-bit RSA key pair from `openssl genrsa` (PKCS#8 PEM) and its public key."""
    return _rsa_pair(keydir, "alice")


@pytest.fixture(scope="session")
def rsa_pair2(keydir):
    """A second, unrelated RSA key pair, in the traditional PKCS#1 form."""
    return _rsa_pair(keydir, "bob", "-traditional")


@pytest.fixture
def chm():
    import cloudhsm_mfa

    return cloudhsm_mfa


@pytest.fixture
def openssl():
    """`openssl(*args)` runs the real openssl command and returns its stdout."""
    return run_openssl


@pytest.fixture
def openssl_ok():
    """`openssl_ok(*args)` runs openssl and says whether it exited with 0."""
    return lambda *args: openssl_exit_code(*args) == 0


@pytest.fixture
def random_tokens():
    def make(n):
        return [os.urandom(32) for _ in range(n)]

    return make
