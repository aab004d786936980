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


SOFTHSM_MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)


class SoftHsmStore:
    """A private SoftHSM2 store (its own SOFTHSM2_CONF and token directory) with token
    ``py``, made with Debian's ``softhsm2-util`` as a user would."""

    pin = "py-user-pin-0000"

    def __init__(self, directory):
        self.module = next((m for m in SOFTHSM_MODULES if Path(m).exists()), None)
        if self.module is None:
            raise AssertionError("no SoftHSM2 module: install softhsm2 (scripts/setup.sh)")
        tokens = directory / "tokens"
        tokens.mkdir()
        self.conf = directory / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )
        self.util("--init-token", "--free", "--label", "py", "--pin", self.pin, "--so-pin", "5678")

    def util(self, *args):
        env = dict(os.environ, SOFTHSM2_CONF=str(self.conf))
        done = subprocess.run(["softhsm2-util", *map(str, args)], env=env, capture_output=True)
        if done.returncode != 0:
            raise AssertionError(f"softhsm2-util {args}: {done.stdout!r} {done.stderr!r}")

    def import_key(self, pem, label, key_id):
        self.util("--import", pem, "--token", "py", "--label", label, "--id", key_id, "--pin", self.pin)

    def uri(self, obj, query=""):
        return f"pkcs11:token=py;object={obj}?module-path={self.module}{query}"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory, rsa_pair):
    """The session's SoftHSM2 store, SOFTHSM2_CONF set to it for the library (which reads
    it when it first opens the module); the openssl key ``rsa_pair`` is on it as
    ``alice`` (CKA_ID 01)."""
    store = SoftHsmStore(tmp_path_factory.mktemp("softhsm"))
    store.import_key(rsa_pair[0], "alice", "01")
    previous = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(store.conf)
    yield store
    if previous is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = previous
