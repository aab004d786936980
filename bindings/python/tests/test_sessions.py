"""Sessions against a live emulator cluster over TLS on loopback: password and token-sign
MFA logins (one call with a signer, two phases signed by hand with `openssl`), MFA
registration, rotation and deregistration, lockout, user management and listing, cluster
selection, unreachable HSMs, and how sessions close.

The library is initialised once per process, so the module's cluster is chosen with
``finalize()`` + ``initialize(config_path=...)``; tests that need another cluster or
configuration switch to it and back through the ``switch_config`` fixture.
"""

import itertools
import json
import os
import secrets
import signal
import socket
import stat
import subprocess
import threading
import time
from collections import namedtuple
from pathlib import Path

import pytest

import cloudhsm_mfa as chm

REPO = Path(__file__).resolve().parents[3]
# The commands of the release build: in target/ of the checkout, or $CARGO_TARGET_DIR.
RELEASE = REPO / os.environ.get("CARGO_TARGET_DIR", "target") / "release"
EMULATOR = RELEASE / "cloudhsm-emulator"
ADMIN_PASSWORD = "admin-pw-1"
CRYPTO_USER = "crypto-user"

User = namedtuple("User", "name password")


# ---------------------------------------------------------------------------------------
# The emulator, as a user's CI pipeline would run it
# ---------------------------------------------------------------------------------------


class Emulator:
    """A cluster made by `cloudhsm-emulator init` and served by `cloudhsm-emulator run`."""

    def __init__(self, directory, nodes=3, admin_password=ADMIN_PASSWORD, init_args=()):
        self.dir = Path(directory)
        self.config = self.dir / "cloudhsm-cli.cfg"
        self.process = None
        args = [
            EMULATOR, "init", "--dir", self.dir, "--nodes", nodes,
            "--argon2-memory-kib", 64, "--argon2-iterations", 1, *init_args,
        ]
        if admin_password is not None:
            args += ["--admin-password", admin_password]
        done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
        assert done.returncode == 0, f"cloudhsm-emulator init failed: {done.stderr}"
        servers = json.loads(self.config.read_text())["clusters"][0]["cluster"]["servers"]
        self.addresses = [(s["hostname"], s["port"]) for s in servers]

    def start(self, *run_args):
        """Runs the nodes and waits until the ones served accept connections."""
        assert self.process is None
        refused = {int(run_args[i + 1]) for i, a in enumerate(run_args) if a == "--refuse-node"}
        self._log = open(self.dir / "emulator.log", "ab")
        self.process = subprocess.Popen(
            [str(EMULATOR), "run", "--dir", str(self.dir), *map(str, run_args)],
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        deadline = time.monotonic() + 10
        for i, address in enumerate(self.addresses):
            if i in refused:
                continue
            while True:
                assert self.process.poll() is None, f"the emulator exited: {self.log()}"
                try:
                    socket.create_connection(address, timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"node {i} never listened: {self.log()}"
                    time.sleep(0.02)
        return self

    def stop(self):
        """Stops the emulator with SIGTERM and returns its exit status."""
        process, self.process = self.process, None
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError("the emulator did not stop within 10 s of SIGTERM") from None
        finally:
            self._log.close()
        return status

    def log(self):
        return (self.dir / "emulator.log").read_text(errors="replace")


def reinitialize(config_path=None):
    """Starts the library afresh, reading the cluster configuration from ``config_path``."""
    try:
        chm.finalize()
    except chm.NotInitializedError:
        pass
    chm.initialize(config_path=config_path)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The module's cluster: 3 nodes, activated, and the library initialised with its
    configuration file."""
    emulator = Emulator(tmp_path_factory.mktemp("cluster") / "hsm").start()
    reinitialize(emulator.config)
    yield emulator
    chm.finalize()  # later modules initialise the library again with the defaults
    assert emulator.stop() == 0, emulator.log()


@pytest.fixture
def switch_config(cluster):
    """``switch_config(path)`` re-initialises the library with another configuration file;
    the module's cluster is back after the test."""
    yield reinitialize
    reinitialize(cluster.config)


@pytest.fixture
def extra_cluster(tmp_path):
    """``extra_cluster(**options)`` makes another cluster (not started); every one still
    running after the test is stopped, and must exit with 0."""
    made = []

    def make(**options):
        emulator = Emulator(tmp_path / f"hsm{len(made)}", **options)
        made.append(emulator)
        return emulator

    yield make
    for emulator in made:
        if emulator.process is not None:
            assert emulator.stop() == 0, emulator.log()


@pytest.fixture
def admin(cluster):
    """A session logged in as the cluster's admin."""
    with chm.Session.open() as session:
        session.login("admin", "admin", ADMIN_PASSWORD)
        yield session


_user_numbers = itertools.count(1)


def make_user(admin_session, role=CRYPTO_USER):
    user = User(f"pyuser_{next(_user_numbers)}", "pw-" + secrets.token_hex(8))
    admin_session.create_user(user.name, role, user.password)
    return user


@pytest.fixture
def user(admin):
    """A new crypto user, without MFA."""
    return make_user(admin)


def user_entry(session, name):
    [entry] = [u for u in session.list_users()["users"] if u["username"] == name]
    return entry


def assert_logged_in(admin_session, session, user):
    """The cluster sees ``user`` logged in on ``session``: it cannot be deleted, and the
    session can log out."""
    with pytest.raises(chm.UserLoggedInError):
        admin_session.delete_user(user.name, CRYPTO_USER)
    session.logout()


def assert_not_logged_in(session):
    with pytest.raises(chm.UserNotLoggedInError) as e:
        session.logout()
    assert "needs a login" in e.value.message


# ---------------------------------------------------------------------------------------
# Signers
# ---------------------------------------------------------------------------------------


class OpensslSigner:
    """A signer that runs `openssl pkeyutl -sign -pkeyopt digest:sha256` on each token, as
    a user's own tooling would; it records the tokens and the threads it ran on."""

    def __init__(self, openssl, key_path):
        self.openssl = openssl
        self.key_path = key_path
        self.tokens = []
        self.threads = set()

    def __call__(self, token):
        assert isinstance(token, bytes)
        self.tokens.append(token)
        self.threads.add(threading.get_ident())
        return self.openssl(
            "pkeyutl", "-sign", "-inkey", self.key_path, "-pkeyopt", "digest:sha256", input=token
        )


@pytest.fixture
def openssl_signer(openssl):
    return lambda key_path: OpensslSigner(openssl, key_path)


def sign_by_hand(unsigned_path, key_path, signed_path, workdir, reverse=False):
    """Signs an MFA token file the way the AWS CloudHSM guide does it: for each token,
    `base64 -d` the unsigned value, `openssl pkeyutl -sign ... -pkeyopt digest:sha256`,
    `base64 -w0` the signature, and put it in the JSON as "signed"."""
    doc = json.loads(Path(unsigned_path).read_text())
    for i, entry in enumerate(doc["tokens"]):
        (workdir / f"token{i}.b64").write_text(entry["unsigned"])
        with open(workdir / f"token{i}.bin", "wb") as out:
            subprocess.run(["base64", "-d", str(workdir / f"token{i}.b64")], stdout=out, check=True)
        subprocess.run(
            ["openssl", "pkeyutl", "-sign", "-in", str(workdir / f"token{i}.bin"),
             "-out", str(workdir / f"token{i}.sig.bin"), "-inkey", str(key_path),
             "-pkeyopt", "digest:sha256"],
            check=True, capture_output=True,
        )
        entry["signed"] = subprocess.run(
            ["base64", "-w0", str(workdir / f"token{i}.sig.bin")],
            check=True, capture_output=True, text=True,
        ).stdout
    if reverse:
        doc["tokens"].reverse()  # matching is by the unsigned value, not the position
    Path(signed_path).write_text(json.dumps(doc, indent=2) + "\n")


class SignerFailure(Exception):
    pass


# ---------------------------------------------------------------------------------------
# Logins and user management
# ---------------------------------------------------------------------------------------


def test_admin_logs_in_and_creates_a_crypto_user(admin):
    admin.create_user("PyUser_Mixed", CRYPTO_USER, "mixed-pw-1")
    entry = user_entry(admin, "pyuser_mixed")  # shown in lower case
    assert entry == {
        "username": "pyuser_mixed", "role": "crypto-user", "locked": "false",
        "mfa": [], "quorum": [], "cluster-coverage": "full",
    }
    with pytest.raises(chm.UserExistsError) as e:
        admin.create_user("pyuser_mixed", CRYPTO_USER, "mixed-pw-2")
    assert "pyuser_mixed already exists" in e.value.message
    with pytest.raises(chm.UserAlreadyLoggedInError):
        admin.login("admin", "admin", ADMIN_PASSWORD)

    with chm.Session.open() as session:
        session.login("PYUSER_MIXED", chm.Role.CRYPTO_USER, "mixed-pw-1")
        with pytest.raises(chm.PermissionDeniedError) as e:
            session.create_user("pyuser_other", CRYPTO_USER, "other-pw-1")
        assert "only an admin may create users" in e.value.message
        session.change_password("pyuser_mixed", CRYPTO_USER, "mixed-pw-3")  # its own
        with pytest.raises(chm.PermissionDeniedError):
            session.change_password("admin", "admin", "mixed-pw-3")
        assert_logged_in(admin, session, User("pyuser_mixed", None))

    with chm.Session.open() as session:
        with pytest.raises(chm.PinIncorrectError):
            session.login("pyuser_mixed", CRYPTO_USER, "mixed-pw-1")
        session.login("pyuser_mixed", CRYPTO_USER, "mixed-pw-3")
        session.logout()
    admin.delete_user("pyuser_mixed", CRYPTO_USER)
    assert all(u["username"] != "pyuser_mixed" for u in admin.list_users()["users"])
    with pytest.raises(chm.UserNotFoundError) as e:
        admin.delete_user("pyuser_mixed", CRYPTO_USER)
    assert "no user pyuser_mixed" in e.value.message


def test_list_users_needs_no_login_and_has_the_shape_of_user_list(cluster, admin):
    make_user(admin)
    with chm.Session.open() as session:
        listing = session.list_users()
    assert list(listing) == ["users"]
    users = listing["users"]
    assert {"username": "admin", "role": "admin", "locked": "false", "mfa": [], "quorum": [],
            "cluster-coverage": "full"} in users
    assert len(users) >= 2
    for entry in users:
        assert set(entry) == {"username", "role", "locked", "mfa", "quorum", "cluster-coverage"}
        assert entry["username"] == entry["username"].lower()
        assert entry["role"] in ("admin", "crypto-user", "unactivated-admin")
        assert entry["locked"] in ("true", "false")
        assert isinstance(entry["mfa"], list) and isinstance(entry["quorum"], list)
        assert entry["cluster-coverage"] == "full"


def test_wrong_password_then_five_failures_lock_the_user(admin, user):
    with chm.Session.open() as session:
        with pytest.raises(chm.PinIncorrectError) as e:
            session.login(user.name, "admin", user.password)  # wrong role: same answer
        assert e.value.code == chm.CHMR_PIN_INCORRECT
        assert e.value.message.endswith("invalid user name, role or password")
        for _ in range(4):
            with pytest.raises(chm.PinIncorrectError):
                session.login(user.name, CRYPTO_USER, "wrong-pw-1")
        assert user_entry(session, user.name)["locked"] == "true"
        with pytest.raises(chm.UserLockedError) as e:
            session.login(user.name, CRYPTO_USER, user.password)
        assert e.value.code == chm.CHMR_PIN_LOCKED
        assert f"user {user.name} is locked after 5 failed logins" in e.value.message
        assert user.password not in e.value.message

        admin.change_password(user.name, CRYPTO_USER, "unlocked-pw-1")  # an admin unlocks
        assert user_entry(session, user.name)["locked"] == "false"
        session.login(user.name, CRYPTO_USER, "unlocked-pw-1")


# ---------------------------------------------------------------------------------------
# Token-sign MFA
# ---------------------------------------------------------------------------------------


def test_mfa_registration_with_openssl_signer_then_login_in_one_call(admin, user, rsa_pair, openssl_signer):
    key, pub = rsa_pair
    with chm.Session.open() as session:
        session.login(user.name, CRYPTO_USER, user.password)
        registration = openssl_signer(key)
        session.change_mfa(user.name, CRYPTO_USER, pub, "mfa-pw-1", registration)
        session.logout()
    assert len(registration.tokens) == 3  # one challenge per HSM
    assert len(set(registration.tokens)) == 3
    assert all(len(t) == 32 for t in registration.tokens)
    assert user_entry(admin, user.name)["mfa"] == [{"strategy": "token-sign", "status": "enabled"}]

    with chm.Session.open() as session:
        with pytest.raises(chm.MfaRequiredError) as e:
            session.login(user.name, CRYPTO_USER, "mfa-pw-1")
        assert e.value.code == chm.CHMR_MFA_REQUIRED
        assert f"user {user.name} has MFA registered" in e.value.message
        login = openssl_signer(key)
        session.login_mfa(user.name, CRYPTO_USER, "mfa-pw-1", login)
        assert len(set(login.tokens)) == 3
        assert not set(login.tokens) & set(registration.tokens)  # fresh challenges
        assert_logged_in(admin, session, user)


def test_mfa_registration_and_login_with_a_private_key(admin, user, rsa_pair, rsa_pair2):
    with chm.PrivateKey.load(rsa_pair2[0]) as key, chm.PrivateKey.load(rsa_pair[0]) as other:
        with chm.Session.open() as session:
            session.login(user.name, CRYPTO_USER, user.password)
            session.change_mfa(user.name, CRYPTO_USER, rsa_pair2[1], "mfa-pw-2", key)
            session.logout()

            with pytest.raises(chm.SignatureInvalidError) as e:
                session.login_mfa(user.name, CRYPTO_USER, "mfa-pw-2", other)
            assert "does not verify with the MFA key registered for user" in e.value.message
            assert "failed login 1 of 5" in e.value.message
            assert_not_logged_in(session)

            session.login_mfa(user.name, CRYPTO_USER, "mfa-pw-2", key)
            assert_logged_in(admin, session, user)


def test_two_phase_mfa_login_signed_by_hand_with_openssl(admin, user, rsa_pair, tmp_path):
    key, pub = rsa_pair
    with chm.Session.open() as session:
        session.login(user.name, CRYPTO_USER, user.password)
        with chm.PrivateKey.load(key) as private:
            session.change_mfa(user.name, CRYPTO_USER, pub, "mfa-pw-3", private)
        session.logout()

        with pytest.raises(chm.OperationNotBegunError) as e:
            session.login_mfa_finish()
        assert "run its first phase first" in e.value.message

        # Signed into another file, with the entries in another order.
        token = tmp_path / "token.json"
        session.login_mfa_begin(user.name, CRYPTO_USER, "mfa-pw-3", token)
        assert stat.S_IMODE(token.stat().st_mode) == 0o600
        doc = json.loads(token.read_text())
        assert list(doc) == ["version", "tokens"] and doc["version"] == "2.0"
        assert len(doc["tokens"]) == 3
        assert all(e == {"unsigned": e["unsigned"], "signed": ""} for e in doc["tokens"])
        first_round = tmp_path / "signed.json"
        sign_by_hand(token, key, first_round, tmp_path, reverse=True)
        session.login_mfa_finish(first_round)
        assert_logged_in(admin, session, user)

        # Signed in place ("press enter if same as the unsigned token file").
        session.login_mfa_begin(user.name, CRYPTO_USER, "mfa-pw-3", token)
        sign_by_hand(token, key, token, tmp_path)
        session.login_mfa_finish()
        assert_logged_in(admin, session, user)

        # A signed file that was already used is refused: its tokens were not issued
        # for this login.
        session.login_mfa_begin(user.name, CRYPTO_USER, "mfa-pw-3", token)
        with pytest.raises(chm.TokenNotIssuedError) as e:
            session.login_mfa_finish(first_round)
        assert e.value.code == chm.CHMR_TOKEN_NOT_ISSUED
        assert_not_logged_in(session)


def test_rotation_refuses_the_old_key_and_accepts_the_new(admin, user, rsa_pair, rsa_pair2, tmp_path):
    (old_key, old_pub), (new_key, new_pub) = rsa_pair, rsa_pair2
    with chm.Session.open() as session, chm.PrivateKey.load(old_key) as old, \
            chm.PrivateKey.load(new_key) as new:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, old_pub, "rotate-pw-1", old)

        # Proof of possession: signing with the old key for the new public key fails,
        # and changes nothing.
        with pytest.raises(chm.SignatureInvalidError):
            session.change_mfa(user.name, CRYPTO_USER, new_pub, "rotate-pw-2", old)

        # Rotation in two phases, signed by hand with the new key.
        token = tmp_path / "registration.json"
        session.change_mfa_begin(user.name, CRYPTO_USER, token)
        assert len(json.loads(token.read_text())["tokens"]) == 3
        sign_by_hand(token, new_key, tmp_path / "registration-signed.json", tmp_path)
        session.change_mfa_finish(new_pub, "rotate-pw-2", signed_path=tmp_path / "registration-signed.json")
        session.logout()

        with pytest.raises(chm.SignatureInvalidError) as e:
            session.login_mfa(user.name, CRYPTO_USER, "rotate-pw-2", old)
        assert e.value.code == chm.CHMR_SIGNATURE_INVALID
        session.login_mfa(user.name, CRYPTO_USER, "rotate-pw-2", new)
        assert_logged_in(admin, session, user)
    assert user_entry(admin, user.name)["mfa"] == [{"strategy": "token-sign", "status": "enabled"}]


def test_deregistration_brings_back_the_password_login(admin, user, rsa_pair):
    with chm.Session.open() as session, chm.PrivateKey.load(rsa_pair[0]) as key:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "dereg-pw-1", key)
        session.logout()
        with pytest.raises(chm.MfaRequiredError):
            session.login(user.name, CRYPTO_USER, "dereg-pw-1")

        admin.deregister_mfa(user.name, CRYPTO_USER, "dereg-pw-2")
        assert user_entry(admin, user.name)["mfa"] == []
        with pytest.raises(chm.PinIncorrectError):
            session.login(user.name, CRYPTO_USER, "dereg-pw-1")  # the password changed too
        session.login(user.name, CRYPTO_USER, "dereg-pw-2")
        assert_logged_in(admin, session, user)


def test_change_quorum_sets_the_quorum_key_with_the_mfa_key(admin, user, rsa_pair, tmp_path):
    enabled = [{"strategy": "token-sign", "status": "enabled"}]
    key_path, pub = rsa_pair
    with chm.PrivateKey.load(key_path) as key:
        admin.change_mfa(user.name, CRYPTO_USER, pub, "quorum-pw-1", key, change_quorum=True)
        entry = user_entry(admin, user.name)
        assert (entry["mfa"], entry["quorum"]) == (enabled, enabled)

        # MFA and quorum share one key: a rotation without it removes the quorum key.
        admin.change_mfa(user.name, CRYPTO_USER, pub, "quorum-pw-1", key)
        entry = user_entry(admin, user.name)
        assert (entry["mfa"], entry["quorum"]) == (enabled, [])

        token = tmp_path / "registration.json"
        admin.change_mfa_begin(user.name, CRYPTO_USER, token)
        sign_by_hand(token, key_path, token, tmp_path)
        admin.change_mfa_finish(pub, "quorum-pw-2", change_quorum=True)
        entry = user_entry(admin, user.name)
        assert (entry["mfa"], entry["quorum"]) == (enabled, enabled)

    admin.deregister_mfa(user.name, CRYPTO_USER, "quorum-pw-3", change_quorum=True)
    entry = user_entry(admin, user.name)
    assert (entry["mfa"], entry["quorum"]) == ([], [])
    with chm.Session.open() as session:
        session.login(user.name, CRYPTO_USER, "quorum-pw-3")
        session.logout()


def test_mfa_login_of_a_user_without_mfa_is_mfa_not_registered(user):
    calls = []
    with chm.Session.open() as session:
        with pytest.raises(chm.MfaNotRegisteredError) as e:
            session.login_mfa(user.name, CRYPTO_USER, user.password, calls.append)
        assert e.value.code == chm.CHMR_MFA_NOT_REGISTERED
        assert f"MFA is not registered for user {user.name}" in e.value.message
        assert calls == []
        assert_not_logged_in(session)


def test_a_signer_that_raises_surfaces_and_the_user_is_not_logged_in(admin, user, rsa_pair):
    with chm.Session.open() as session, chm.PrivateKey.load(rsa_pair[0]) as key:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "raise-pw-1", key)
        session.logout()

        tokens = []
        raised = SignerFailure("the hardware token is unplugged")

        def failing(token):
            tokens.append(token)
            if len(tokens) == 2:
                raise raised
            return key.sign_token(token)

        with pytest.raises(SignerFailure) as e:
            session.login_mfa(user.name, CRYPTO_USER, "raise-pw-1", failing)
        assert e.value is raised
        assert len(tokens) == 2  # not called again after it failed
        cause = e.value.__cause__
        assert isinstance(cause, chm.CryptoError)
        assert cause.code == chm.CHMR_FUNCTION_FAILED
        assert "the signing callback returned 0x6" in cause.message
        assert_not_logged_in(session)

        # A registration whose signer is interrupted changes nothing.
        def interrupted(token):
            raise KeyboardInterrupt

        session.login_mfa(user.name, CRYPTO_USER, "raise-pw-1", key)
        with pytest.raises(KeyboardInterrupt):
            session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "raise-pw-2", interrupted)
        session.logout()

        session.login_mfa(user.name, CRYPTO_USER, "raise-pw-1", key)
        assert_logged_in(admin, session, user)


@pytest.mark.parametrize(
    "returned,error,text",
    [
        ("c2lnbmF0dXJl", TypeError, "the signer returned str; it must return the signature as bytes"),
        (None, TypeError, "the signer returned NoneType"),
        (b"\x01" * 513, ValueError, "a signature of 513 bytes; at most 512 bytes fit"),
        (b"", ValueError, "the signer returned an empty signature"),
    ],
    ids=["str", "none", "too_long", "empty"],
)
def test_a_signer_returning_no_usable_signature_stops_the_login(admin, user, rsa_pair, returned, error, text):
    with chm.Session.open() as session, chm.PrivateKey.load(rsa_pair[0]) as key:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "bad-sig-pw-1", key)
        session.logout()
        with pytest.raises(error) as e:
            session.login_mfa(user.name, CRYPTO_USER, "bad-sig-pw-1", lambda token: returned)
        assert text in str(e.value)
        assert isinstance(e.value.__cause__, chm.CryptoError)
        assert_not_logged_in(session)
    assert user_entry(admin, user.name)["locked"] == "false"


def test_signer_calls_never_overlap_and_come_from_the_calling_thread(admin, user, rsa_pair, openssl_signer):
    active, overlaps, threads = [0], [], set()
    signer = openssl_signer(rsa_pair[0])

    def slow(token):
        threads.add(threading.get_ident())
        active[0] += 1
        overlaps.append(active[0])
        time.sleep(0.05)
        try:
            return signer(token)
        finally:
            active[0] -= 1

    with chm.Session.open() as session:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "threads-pw-1", slow)
        session.logout()
        session.login_mfa(user.name, CRYPTO_USER, "threads-pw-1", slow)
        assert_logged_in(admin, session, user)
    assert overlaps == [1] * 6
    assert len(signer.tokens) == 6
    assert threads == {threading.get_ident()}


def test_a_signer_that_calls_back_into_its_session_gets_operation_active(admin, user, rsa_pair):
    seen = {}
    with chm.PrivateKey.load(rsa_pair[0]) as key, chm.Session.open() as session:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "reenter-pw-1", key)
        session.logout()

        def reentering(token):
            if not seen:
                for name, call in [
                    ("list_users", session.list_users),
                    ("logout", session.logout),
                    ("close", session.close),
                    ("finalize", chm.finalize),
                ]:
                    with pytest.raises(chm.OperationActiveError) as e:
                        call()
                    seen[name] = e.value.message
                # Another session opens, works and closes from inside the callback.
                with chm.Session.open() as other:
                    seen["other"] = other.list_users()
            return key.sign_token(token)

        session.login_mfa(user.name, CRYPTO_USER, "reenter-pw-1", reentering)
        assert_logged_in(admin, session, user)
    assert sorted(seen) == ["close", "finalize", "list_users", "logout", "other"]
    assert "signing callback" in seen["logout"]
    assert any(u["username"] == user.name for u in seen["other"]["users"])


def test_bad_signers_and_unknown_roles_are_refused_before_any_call(user, rsa_pair):
    session = chm.Session.open()
    session.close()
    # The library's last error is set by a real failure; the checks below make no call.
    with pytest.raises(chm.SessionHandleInvalidError):
        session.logout()
    before = chm.last_error()
    for role in ("Admin", "crypto_user", "CU", ""):
        with pytest.raises(ValueError) as e:
            session.login(user.name, role, user.password)
        assert str(e.value) == (
            f"role {role!r} is not one of 'admin', 'crypto-user', 'unactivated-admin' "
            "(roles are case-sensitive)"
        )
    with pytest.raises(ValueError, match="role 7 is not one of the CHM_ROLE_"):
        session.create_user("pyuser_x", 7, "password-1")
    with pytest.raises(TypeError):
        session.delete_user("pyuser_x", None)
    with chm.PrivateKey.load(rsa_pair[0]) as key, key.public_key() as pub:
        with pytest.raises(TypeError, match="a PublicKey cannot sign"):
            session.login_mfa(user.name, CRYPTO_USER, user.password, pub)
    with pytest.raises(TypeError, match="signer must be a PrivateKey or a callable"):
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "password-1", b"not a signer")
    assert chm.last_error() == before
    assert chm.Role.parse("unactivated-admin") is chm.Role.UNACTIVATED_ADMIN
    assert [r.label for r in chm.Role] == ["admin", "crypto-user", "unactivated-admin"]
    assert [int(r) for r in chm.Role] == [chm.CHM_ROLE_ADMIN, chm.CHM_ROLE_CRYPTO_USER,
                                          chm.CHM_ROLE_UNACTIVATED_ADMIN]


# ---------------------------------------------------------------------------------------
# Sessions, clusters and configuration
# ---------------------------------------------------------------------------------------


def test_context_manager_closes_the_session_and_ends_its_login(admin, user):
    with chm.Session.open() as session:
        assert not session.closed
        session.login(user.name, CRYPTO_USER, user.password)
        with pytest.raises(chm.UserLoggedInError):
            admin.delete_user(user.name, CRYPTO_USER)
    assert session.closed
    with pytest.raises(chm.SessionHandleInvalidError) as e:
        session.list_users()
    assert isinstance(e.value, chm.InvalidHandleError)
    assert e.value.code == chm.CHMR_SESSION_HANDLE_INVALID
    assert e.value.message == f"{session.handle} is not an open session handle"
    session.close()  # closing twice is harmless
    assert repr(session) == f"<Session handle={session.handle} closed>"

    # Closing the connections ended the login. CHM_CloseSession returns once the
    # connections are closed, before every HSM has noticed, so the admin may still find
    # the user logged in for a moment: setting the same password is retried until every
    # HSM accepts it, then the user can be deleted.
    deadline = time.monotonic() + 5
    while True:
        try:
            admin.change_password(user.name, CRYPTO_USER, user.password)
            break
        except (chm.UserLoggedInError, chm.PartialFailureError) as e:
            assert "is logged in" in e.message
            assert time.monotonic() < deadline, "the login outlived its closed session"
            time.sleep(0.02)
    admin.delete_user(user.name, CRYPTO_USER)

    with pytest.raises(RuntimeError):
        with chm.Session.open() as other:
            raise RuntimeError("leaves the block")
    with pytest.raises(chm.SessionHandleInvalidError):
        other.login("admin", "admin", ADMIN_PASSWORD)


def test_unknown_cluster_id_is_cluster_unknown(cluster):
    with pytest.raises(chm.ClusterUnknownError) as e:
        chm.Session.open("cluster-elsewhere")
    assert e.value.code == chm.CHMR_CLUSTER_UNKNOWN
    assert "cluster-elsewhere" in e.value.message
    with chm.Session.open("cluster-local") as session:
        session.login("admin", "admin", ADMIN_PASSWORD)


def two_cluster_config(cluster, path):
    config = json.loads(cluster.config.read_text())
    spare = json.loads(json.dumps(config["clusters"][0]))
    spare["cluster"]["cluster_id"] = "cluster-spare"
    config["clusters"].append(spare)
    path.write_text(json.dumps(config, indent=2))
    return path


def test_several_clusters_and_none_chosen_is_cluster_id_required(cluster, switch_config, tmp_path):
    switch_config(two_cluster_config(cluster, tmp_path / "two.cfg"))
    with pytest.raises(chm.ClusterIdRequiredError) as e:
        chm.Session.open()
    assert e.value.code == chm.CHMR_CLUSTER_ID_REQUIRED
    assert "cluster-local" in e.value.message and "cluster-spare" in e.value.message
    for cluster_id in ("cluster-local", "cluster-spare"):
        with chm.Session.open(cluster_id) as session:
            assert session.cluster_id == cluster_id
            session.login("admin", "admin", ADMIN_PASSWORD)
    with pytest.raises(chm.ClusterUnknownError):
        chm.Session.open("cluster-elsewhere")


def test_config_path_given_at_initialize_wins_over_the_environment(
    cluster, switch_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("CLOUDHSM_MFA_CONFIG", str(two_cluster_config(cluster, tmp_path / "two.cfg")))
    switch_config(cluster.config)
    with chm.Session.open() as session:
        session.login("admin", "admin", ADMIN_PASSWORD)

    switch_config()  # no path: the environment's file
    with pytest.raises(chm.ClusterIdRequiredError):
        chm.Session.open()

    switch_config(tmp_path / "missing.cfg")
    with pytest.raises(chm.FileError) as e:
        chm.Session.open()
    assert e.value.message.startswith(f"cannot read {tmp_path / 'missing.cfg'}")

    (tmp_path / "empty.cfg").write_text('{"clusters": []}')
    switch_config(tmp_path / "empty.cfg")
    with pytest.raises(chm.ConfigError) as e:
        chm.Session.open()
    assert e.value.code == chm.CHMR_CONFIG_INVALID
    assert str(tmp_path / "empty.cfg") in e.value.message


def test_partial_failure_then_stopped_emulator_is_hsm_unreachable(extra_cluster, switch_config):
    emulator = extra_cluster().start("--refuse-node", 2)
    switch_config(emulator.config)
    with chm.Session.open() as session:
        session.login("admin", "admin", ADMIN_PASSWORD)  # every reachable HSM accepts
        with pytest.raises(chm.PartialFailureError) as e:
            session.create_user("pyuser_partial", CRYPTO_USER, "partial-pw-1")
        assert e.value.code == chm.CHMR_PARTIAL_FAILURE
        assert "1 of 3" in e.value.message

        assert emulator.stop() == 0, emulator.log()
        with pytest.raises(chm.HsmUnreachableError) as e:
            session.list_users()
        assert e.value.code == chm.CHMR_HSM_UNREACHABLE
        assert "no HSM of the cluster is reachable" in e.value.message
    with chm.Session.open() as session:  # opens: HSMs are tried again at each operation
        with pytest.raises(chm.HsmUnreachableError):
            session.login("admin", "admin", ADMIN_PASSWORD)

    emulator.start()  # every node, with the users each saved
    with chm.Session.open() as session:
        entry = user_entry(session, "pyuser_partial")
    assert entry["cluster-coverage"] == "inconsistent"


def test_activation_and_an_expired_challenge(extra_cluster, switch_config, rsa_pair, tmp_path):
    emulator = extra_cluster(admin_password=None, init_args=("--challenge-ttl-secs", 1)).start()
    switch_config(emulator.config)
    with chm.Session.open() as session:
        assert session.list_users()["users"] == [{
            "username": "admin", "role": "unactivated-admin", "locked": "false", "mfa": [],
            "quorum": [], "cluster-coverage": "full",
        }]
        with pytest.raises(chm.ClusterStateError) as e:
            session.login("admin", "admin", ADMIN_PASSWORD)
        assert "not activated" in e.value.message
        session.activate_cluster(ADMIN_PASSWORD)
        with pytest.raises(chm.ClusterStateError) as e:
            session.activate_cluster(ADMIN_PASSWORD)
        assert "already activated" in e.value.message
        assert user_entry(session, "admin")["role"] == "admin"
        session.login("admin", "admin", ADMIN_PASSWORD)
        user = make_user(session)

    with chm.Session.open() as session, chm.PrivateKey.load(rsa_pair[0]) as key:
        session.login(user.name, CRYPTO_USER, user.password)
        session.change_mfa(user.name, CRYPTO_USER, rsa_pair[1], "expiry-pw-1", key)
        session.logout()
        token = tmp_path / "token.json"
        session.login_mfa_begin(user.name, CRYPTO_USER, "expiry-pw-1", token)
        sign_by_hand(token, rsa_pair[0], token, tmp_path)
        time.sleep(1.5)  # the cluster's challenges live 1 s
        with pytest.raises(chm.ChallengeExpiredError) as e:
            session.login_mfa_finish()
        assert e.value.code == chm.CHMR_CHALLENGE_EXPIRED
        assert_not_logged_in(session)


def test_mfa_registration_and_login_with_a_key_on_a_pkcs11_token(admin, user, softhsm):
    with chm.PrivateKey.load(softhsm.uri("alice"), pin=softhsm.pin) as key:
        with chm.Session.open() as session:
            session.login(user.name, CRYPTO_USER, user.password)
            session.change_mfa(user.name, CRYPTO_USER, softhsm.uri("alice"), "mfa-pw-t", key)
            session.logout()
            session.login_mfa(user.name, CRYPTO_USER, "mfa-pw-t", key)
            assert_logged_in(admin, session, user)
