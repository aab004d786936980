"""Quorum (SPEC §7) from Python against a live 3-HSM emulator cluster: three admins
register quorum keys (one registration file signed by hand with `openssl pkeyutl`, two with
a PrivateKey as signer), the user service's value goes to 2, a user creation is refused
without an approval and with one (the counts on the exception), accepted with two, and the
same approval is refused a second time; the lockout guard keeps the service from being
stranded. The module has a cluster of its own: quorum values would gate other tests."""

import base64
import json
import secrets

import pytest

import cloudhsm_mfa as chm
from test_sessions import ADMIN_PASSWORD, Emulator, reinitialize

PW = "approver-pw-1"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    emulator = Emulator(tmp_path_factory.mktemp("quorum") / "hsm").start()
    reinitialize(emulator.config)
    yield emulator
    chm.finalize()
    assert emulator.stop() == 0, emulator.log()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Three key pairs from `openssl genrsa`: (private PEM path, public PEM path)."""
    from conftest import _rsa_pair

    directory = tmp_path_factory.mktemp("quorum-keys")
    return [_rsa_pair(directory, f"q{i}") for i in range(3)]


def sign_registration_with_openssl(path, key, openssl, workdir):
    """Signs every entry of a registration file the way the AWS guide shows."""
    doc = json.loads(path.read_text())
    for i, entry in enumerate(doc["tokens"]):
        token = workdir / f"reg-{i}.bin"
        token.write_bytes(base64.b64decode(entry["unsigned"]))
        signature = openssl("pkeyutl", "-sign", "-inkey", key, "-pkeyopt", "digest:sha256", "-in", token)
        entry["signed"] = base64.b64encode(signature).decode()
    path.write_text(json.dumps(doc, indent=2))


def test_the_ceremony(cluster, keys, openssl, tmp_path):
    (k0, p0), (k1, p1), (k2, p2) = keys
    private = [chm.PrivateKey.load(k) for k in (k0, k1, k2)]
    with chm.Session.open() as admin:
        admin.login("admin", "admin", ADMIN_PASSWORD)
        registration = tmp_path / "reg.json"
        admin.generate_quorum_token("registration", registration)
        sign_registration_with_openssl(registration, k0, openssl, tmp_path)
        with pytest.raises(chm.SignatureInvalidError):
            admin.register_quorum_key(p1, signed_path=registration)
        admin.register_quorum_key(p0, signed_path=registration)
        for name, public, key in (("q1", p1, private[1]), ("q2", p2, private[2])):
            admin.create_user(name, "admin", PW)
            with chm.Session.open() as s:
                s.login(name, "admin", PW)
                s.register_quorum_key(public, signer=key)
        assert all(u["quorum"] == [{"strategy": "token-sign", "status": "enabled"}]
                   for u in admin.list_users()["users"])

        assert admin.quorum_value("user") == 1
        admin.set_quorum_value(chm.Service.USER, 2)
        assert admin.quorum_value("user") == 2
        with pytest.raises(chm.QuorumApprovalRequiredError) as refused:
            admin.create_user("bob", "crypto-user", PW)
        assert (refused.value.present, refused.value.required) == (0, 2)
        assert "Quorum Failed: the user service needs 2 approvals" in refused.value.message

        approval_path = tmp_path / "approval.json"
        admin.generate_quorum_token("user", approval_path)
        [token] = admin.list_quorum_tokens()["tokens"]
        assert token["username"] == "admin" and token["approvals-required"] == 2
        assert token["cluster-coverage"] == "full"
        with chm.TokenFile.load(approval_path) as approval:
            approval.sign(private[1], approver="q1")
            admin.set_approval(approval)
            with pytest.raises(chm.QuorumTooFewError) as too_few:
                admin.create_user("bob", "crypto-user", PW)
            assert (too_few.value.present, too_few.value.required) == (1, 2)
            assert isinstance(too_few.value, chm.QuorumError)
            approval.sign(private[2], approver="q2")
            admin.set_approval(approval)
            admin.create_user("bob", "crypto-user", PW)
            admin.set_approval(approval)
            with pytest.raises(chm.QuorumTokenInvalidError, match="already used") as used:
                admin.delete_user("bob", "crypto-user")
            assert used.value.present is None and used.value.required is None
        admin.clear_approval()

        # The lockout guard: with 3 keys and a value of 2, one key may go, a second not.
        admin.generate_quorum_token("user", approval_path)
        with chm.TokenFile.load(approval_path) as approval:
            approval.sign(private[0], approver="admin")
            approval.sign(private[1], approver="q1")
            admin.set_approval(approval)
            admin.change_password("q2", "admin", "q2-new-pw-" + secrets.token_hex(4),
                                  deregister_quorum=True)
        admin.generate_quorum_token("user", approval_path)
        with chm.TokenFile.load(approval_path) as approval:
            approval.sign(private[0], approver="admin")
            approval.sign(private[1], approver="q1")
            admin.set_approval(approval)
            with pytest.raises(chm.PermissionDeniedError, match="would leave 1 admins"):
                admin.delete_user("q1", "admin")
        admin.delete_quorum_tokens("all")
        assert admin.list_quorum_tokens() == {"tokens": []}


def test_arguments_are_checked_before_anything_is_sent(cluster):
    with chm.Session.open() as s:
        with pytest.raises(ValueError, match="is not one of 'user', 'quorum', 'registration'"):
            s.generate_quorum_token("users", "x.json")
        with pytest.raises(TypeError, match="TokenFile"):
            s.set_approval(b"{}")
        with pytest.raises(ValueError, match="either signed_path or signer"):
            s.register_quorum_key("pub.pem")
        with pytest.raises(ValueError, match="scope"):
            s.delete_quorum_tokens("everyone")
        with pytest.raises(TypeError, match="int"):
            s.set_quorum_value("user", "2")
