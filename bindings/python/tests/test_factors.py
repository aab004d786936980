"""MFA factors (SPEC §11) from Python against a live 3-HSM cluster of its own: the seed's
example (a user who prefers a software token, with SMS and email disabled), a software
token associated and verified with codes computed here by Python's own hmac (RFC 6238), an
SMS code read from the cluster's outbox after a selection step, and the refusals as
exceptions."""

import base64
import hashlib
import hmac
import json
import struct
import time

import pytest

import cloudhsm_mfa as chm
from test_sessions import ADMIN_PASSWORD, Emulator, reinitialize

PW = "factor-pw-123"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    emulator = Emulator(tmp_path_factory.mktemp("factors") / "hsm").start()
    reinitialize(emulator.config)
    yield emulator
    chm.finalize()
    assert emulator.stop() == 0, emulator.log()


def totp(secret_b32, t):
    """RFC 6238 with HMAC-SHA-1, 6 digits, 30 s, written here independently of the library."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(t) // 30), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000)


def last_code(cluster, to):
    lines = (cluster.dir / "outbox.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if json.loads(line)["to"] == to][-1]["code"]


def test_the_seed_example_and_the_login_steps(cluster):
    with chm.Session.open() as admin:
        admin.login("admin", "admin", ADMIN_PASSWORD)
        admin.create_user("dora", "crypto-user", PW)
    with chm.Session.open() as s:
        s.login("dora", "crypto-user", PW)
        with pytest.raises(chm.FactorNotReadyError, match="not verified software token"):
            s.set_mfa_preference("dora", "crypto-user", {"software-token": {"Enabled": True}})
        token = s.associate_software_token("dora@cluster-local")
        assert token["otpauth-uri"].startswith("otpauth://totp/cloudhsm-mfa:dora@cluster-local?")
        with pytest.raises(chm.CodeMismatchError, match="Code mismatch"):
            s.verify_software_token("000000")
        s.verify_software_token(totp(token["secret-code"], time.time() - 30), device_name="phone")
        prefs = s.set_mfa_preference("dora", "crypto-user", {
            chm.Factor.SOFTWARE_TOKEN: {"Enabled": True, "PreferredMfa": True},
            "sms": {"Enabled": False},
            "email": {"Enabled": False},
        })
        assert prefs == {"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"],
                         "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"}
        assert s.get_mfa_preference("dora") == prefs
        s.logout()

        step = s.login_start("dora", "crypto-user", PW)
        assert (step.kind, step.factor, step.destination) == ("code", chm.Factor.SOFTWARE_TOKEN, None)
        s.login_code(totp(token["secret-code"], time.time()))

        # SMS too, none preferred: the login asks which.
        s.update_attributes("dora", "crypto-user", phone_number="+14155550123")
        s.set_mfa_preference("dora", "crypto-user", {
            "software-token": {"Enabled": True, "PreferredMfa": False}, "sms": {"Enabled": True}})
        with pytest.raises(chm.MfaPreferenceInvalidError, match="only one MFA factor"):
            s.set_mfa_preference("dora", "crypto-user", {
                "sms": {"Enabled": True, "PreferredMfa": True},
                "software-token": {"Enabled": True, "PreferredMfa": True}})
        s.logout()
        step = s.login_start("dora", "crypto-user", PW)
        assert step.kind == "select"
        assert step.factors == [chm.Factor.SOFTWARE_TOKEN, chm.Factor.SMS]
        with pytest.raises(chm.SelectionRequiredError):
            s.login_code("123456")
        step = s.login_select("sms")
        assert (step.kind, step.factor, step.destination) == ("code", chm.Factor.SMS, "+*******0123")
        with pytest.raises(chm.CodeMismatchError):
            s.login_code("000000")
        s.login_code(last_code(cluster, "+14155550123"))
        [dora] = [u for u in s.list_users()["users"] if u["username"] == "dora"]
        assert [m["strategy"] for m in dora["mfa"]] == ["software-token", "sms"]


def test_arguments_are_checked_before_anything_is_sent(cluster):
    with chm.Session.open() as s:
        with pytest.raises(ValueError, match="is not one of 'token-sign', 'software-token'"):
            s.set_mfa_preference("x", "crypto-user", {"voice": {"Enabled": True}})
        with pytest.raises(TypeError, match="True, False or None"):
            s.set_mfa_preference("x", "crypto-user", {"sms": {"Enabled": "yes"}})
        with pytest.raises(ValueError, match="unknown keys"):
            s.set_mfa_preference("x", "crypto-user", {"sms": {"enabled": True}})
        assert chm.Factor.parse("software-token") is chm.Factor.SOFTWARE_TOKEN
