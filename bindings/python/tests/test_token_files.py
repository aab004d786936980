"""Token files through the package: MFA files signed and checked with OpenSSL, the AWS
example shape, registration and quorum approval files, bad files that name the field and
entry and leave the file on disk unchanged, and handle lifetimes."""

import base64
import gc
import hashlib
import json
import os
import stat
from ctypes import byref, c_uint32

import pytest

import cloudhsm_mfa as chm


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


def mfa_json(tokens, signed=None):
    signed = signed or [b""] * len(tokens)
    return json.dumps(
        {"version": "2.0", "tokens": [{"unsigned": b64(t), "signed": b64(s)} for t, s in zip(tokens, signed)]}
    )


def test_mfa_file_signed_by_the_package_verifies_with_openssl(rsa_pair, tmp_path, random_tokens, openssl):
    key_path, pub_path = rsa_pair
    tokens = random_tokens(3)
    unsigned = tmp_path / "token.json"
    unsigned.write_text(mfa_json(tokens))
    signed_path = tmp_path / "signed.json"

    with chm.TokenFile.load(unsigned) as f, chm.PrivateKey.load(key_path) as key:
        assert f.kind is chm.TokenFileKind.MFA
        assert len(f) == 3 and f.tokens == tokens
        assert [f.signature(i) for i in range(3)] == [None] * 3
        f.sign(key)
        f.write(signed_path)

    written = json.loads(signed_path.read_text())
    assert [base64.b64decode(e["unsigned"]) for e in written["tokens"]] == tokens
    for i, entry in enumerate(written["tokens"]):
        (tmp_path / "token.bin").write_bytes(base64.b64decode(entry["unsigned"]))
        (tmp_path / "sig.bin").write_bytes(base64.b64decode(entry["signed"]))
        out = openssl(
            "pkeyutl", "-verify", "-pubin", "-inkey", pub_path, "-pkeyopt", "digest:sha256",
            "-in", tmp_path / "token.bin", "-sigfile", tmp_path / "sig.bin",
        )
        assert b"Signature Verified Successfully" in out, f"entry {i}"
        theirs = openssl(
            "pkeyutl", "-sign", "-inkey", key_path, "-pkeyopt", "digest:sha256",
            "-in", tmp_path / "token.bin",
        )
        assert base64.b64decode(entry["signed"]) == theirs, f"entry {i} differs from OpenSSL's"

    with chm.TokenFile.load(signed_path) as f, chm.PublicKey.load(pub_path) as pub:
        f.verify(pub)
        assert f.check(pub) == [chm.EntryStatus.VALID] * 3


def test_sign_token_file_in_place_or_to_another_path(rsa_pair, tmp_path, random_tokens):
    key_path, pub_path = rsa_pair
    original = tmp_path / "token.json"
    original.write_text(mfa_json(random_tokens(2)))
    before = original.read_bytes()

    out = tmp_path / "out.json"
    assert chm.sign_token_file(original, key_path, output_path=out) == out
    assert original.read_bytes() == before
    assert chm.sign_token_file(original, key_path) == original
    assert original.read_bytes() != before
    assert original.read_bytes() == out.read_bytes()
    with chm.TokenFile.load(original) as f, chm.PublicKey.load(pub_path) as pub:
        f.verify(pub)


def test_pretty_printed_aws_example_shape_parses(random_tokens, rsa_pair):
    tokens = random_tokens(3)
    aws = (
        "{\n"
        '  "version": "2.0",\n'
        '  "tokens": [\n'
        + ",\n".join(f'    {{\n      "unsigned": "{b64(t)}",\n      "signed": ""\n    }}' for t in tokens)
        + "\n  ]\n}\n"
    )
    odd = aws.replace("\n", "\r\n").replace("  ", "\t").replace('": ', '"  :   ')
    for text in (aws, odd, aws.encode("utf-8")):
        with chm.TokenFile.parse(text) as f:
            assert f.kind is chm.TokenFileKind.MFA
            assert f.tokens == tokens
            assert f.signature(2) is None
    with chm.TokenFile.parse(aws) as f, chm.PrivateKey.load(rsa_pair[0]) as key:
        # What the library writes is that same pretty-printed shape, with signatures filled.
        unsigned_json = f.to_json()
        assert unsigned_json == aws
        f.sign(key)
        signed = json.loads(f.to_json())
    assert [len(base64.b64decode(e["signed"])) for e in signed["tokens"]] == [256] * 3


def test_quorum_approval_two_approvers_verified_then_one_replaced(rsa_pair, rsa_pair2, tmp_path, openssl):
    (alice_key, alice_pub), (bob_key, bob_pub) = rsa_pair, rsa_pair2
    data = os.urandom(3 * 80)  # one 80-byte record per HSM
    (tmp_path / "data.bin").write_bytes(data)
    # Bob signs outside the package, as SPEC §3 says OpenSSL does it.
    bob_sig = openssl("dgst", "-sha256", "-sign", bob_key, tmp_path / "data.bin")

    with chm.TokenFile.create_approval(data) as f, chm.PrivateKey.load(alice_key) as alice, \
            chm.PublicKey.load(alice_pub) as apub, chm.PublicKey.load(bob_pub) as bpub:
        assert f.kind is chm.TokenFileKind.QUORUM_APPROVAL
        assert f.token == hashlib.sha256(data).digest() and f.tokens == [f.token]
        assert f.approval_data() == data
        assert len(f) == 0 and f.approvers == []

        f.sign(alice, approver="Alice")
        f.add_approval("bob", bob_sig)
        assert f.approvers == ["alice", "bob"]
        assert f.signature(1) == bob_sig
        f.verify(apub, approver="alice")
        f.verify(bpub, approver="BOB")
        with pytest.raises(chm.SignatureInvalidError) as e:
            f.verify(apub, approver="bob")
        assert e.value.message == "<buffer>: signatures[1].signature: signature does not verify with the public key"
        with pytest.raises(chm.NotSignedError) as e:
            f.verify(apub, approver="carol")
        assert e.value.message == '<buffer>: signatures (user "carol"): not signed yet'

        # Alice's approval is replaced by one made with Bob's key: same place, new value.
        f.add_approval("ALICE", bob_sig)
        assert f.approvers == ["alice", "bob"] and len(f) == 2
        with pytest.raises(chm.SignatureInvalidError) as e:
            f.verify(apub, approver="alice")
        assert "signatures[0].signature" in e.value.message
        f.verify(bpub, approver="alice")
        assert f.check(apub) == [chm.EntryStatus.INVALID] * 2
        assert f.check(bpub) == [chm.EntryStatus.VALID] * 2

        f.write(tmp_path / "approval.json")
        text = f.to_json()
    with chm.TokenFile.load(tmp_path / "approval.json") as again:
        assert again.to_json() == text
        assert again.approvers == ["alice", "bob"]


def test_registration_file_round_trip(rsa_pair):
    data = os.urandom(200)
    with chm.TokenFile.create_registration(data) as f, chm.PrivateKey.load(rsa_pair[0]) as key, \
            chm.PublicKey.load(rsa_pair[1]) as pub:
        assert f.kind is chm.TokenFileKind.REGISTRATION
        assert f.tokens == [hashlib.sha256(data).digest()]
        assert f.approval_data(0) == data
        f.sign(key)
        f.verify(pub)
        with chm.TokenFile.parse(f.to_json()) as g:
            assert g.kind is chm.TokenFileKind.REGISTRATION
            assert g.approval_data(0) == data and g.signature(0) == f.signature(0)
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.TokenFile.create_registration(os.urandom(246))
    assert e.value.message == "registration approval data is 246 bytes; it must be 1 to 245"


def _bad_files():
    t = [os.urandom(32) for _ in range(3)]
    ok = [{"unsigned": b64(x), "signed": ""} for x in t]

    def doc(tokens=None, **top):
        d = {"version": "2.0", "tokens": ok if tokens is None else tokens}
        d.update(top)
        return json.dumps(d)

    return [
        ("missing_unsigned", doc([ok[0], {"signed": ""}]), "tokens[1].unsigned: missing"),
        ("bad_base64", doc([ok[0], ok[1], {"unsigned": "!!!", "signed": ""}]),
         "tokens[2].unsigned: not valid base64"),
        ("short_token", doc([{"unsigned": b64(os.urandom(31)), "signed": ""}]),
         "tokens[0].unsigned: decodes to 31 bytes; a token is 32 bytes"),
        ("duplicate", doc([ok[0], ok[0]]),
         "tokens[1].unsigned: same value as tokens[0].unsigned; tokens must be distinct"),
        ("signature_length", doc([ok[0], {"unsigned": b64(t[1]), "signed": b64(os.urandom(100))}]),
         "tokens[1].signed: signature is 100 bytes"),
        ("missing_signed", doc([ok[0], {"unsigned": b64(t[1])}]), "tokens[1].signed: missing"),
        ("unknown_field", doc(extra=1), "extra: unknown field"),
        ("version", doc(version="1.0"), 'version: is "1.0"; only "2.0" is supported'),
        ("empty", doc([]), "tokens: is empty"),
        ("not_json", '{"version": "2.0", "tokens": [', "document: not valid JSON"),
    ]


@pytest.mark.parametrize("text,expected", [c[1:] for c in _bad_files()], ids=[c[0] for c in _bad_files()])
def test_bad_token_file_names_field_and_entry_and_stays_unchanged(tmp_path, rsa_pair, text, expected):
    path = tmp_path / "token.json"
    path.write_text(text)
    before = path.read_bytes()
    with pytest.raises(chm.TokenFileError) as e:
        chm.TokenFile.load(path)
    assert e.value.code == chm.CHMR_TOKEN_FILE_INVALID
    assert e.value.message.startswith(f"{path}: {expected}"), e.value.message
    with pytest.raises(chm.TokenFileError) as e:
        chm.sign_token_file(path, rsa_pair[0])
    assert expected in e.value.message
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token.json"]


def test_failed_signing_writes_nothing(tmp_path, rsa_pair, random_tokens, openssl):
    path = tmp_path / "token.json"
    path.write_text(mfa_json(random_tokens(2)))
    before = path.read_bytes()
    encrypted = tmp_path / "enc.pem"
    openssl("genrsa", "-aes256", "-passout", "pass:x", "-out", encrypted, "2048")
    with pytest.raises(chm.KeyFileError) as e:
        chm.sign_token_file(path, encrypted)
    assert "encrypted" in e.value.message
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.sign_token_file(path, rsa_pair[0], output_path=tmp_path / "out.json", approver="alice")
    assert e.value.message == (
        "a user name is given only to sign a quorum approval file; this is an MFA token file"
    )
    assert path.read_bytes() == before
    assert not (tmp_path / "out.json").exists()

    approval = tmp_path / "approval.json"
    with chm.TokenFile.create_approval(os.urandom(80)) as f:
        f.write(approval)
    approval_before = approval.read_bytes()
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.sign_token_file(approval, rsa_pair[0])
    assert e.value.message == "signing a quorum approval file needs the approver's user name"
    assert approval.read_bytes() == approval_before


def test_entry_statuses_and_verify_errors(rsa_pair, rsa_pair2, random_tokens):
    with chm.TokenFile.create_mfa(random_tokens(3)) as f, chm.PrivateKey.load(rsa_pair[0]) as key, \
            chm.PublicKey.load(rsa_pair[1]) as pub, chm.PublicKey.load(rsa_pair2[1]) as other:
        assert f.check(pub) == [chm.EntryStatus.UNSIGNED] * 3
        with pytest.raises(chm.NotSignedError) as e:
            f.verify(pub)
        assert e.value.message == "<buffer>: tokens[0].signed: not signed yet"

        f.sign(key)
        good = f.signature(1)
        f.set_signature(1, good[:-1] + bytes([good[-1] ^ 0xFF]))
        f.set_signature(2, os.urandom(384))
        assert f.check(pub) == [chm.EntryStatus.VALID, chm.EntryStatus.INVALID, chm.EntryStatus.WRONG_LENGTH]
        assert f.check(other)[0] is chm.EntryStatus.INVALID
        with pytest.raises(chm.SignatureInvalidError) as e:
            f.verify(pub)
        assert e.value.message == "<buffer>: tokens[1].signed: signature does not verify with the public key"
        f.set_signature(1, good)
        with pytest.raises(chm.SignatureLengthError) as e:
            f.verify(pub)
        assert e.value.message == (
            "<buffer>: tokens[2].signed: signature is 384 bytes but the 2048-bit key makes 256-byte signatures"
        )

        before = f.to_json()
        with pytest.raises(chm.BadArgumentsError) as e:
            f.set_signature(0, os.urandom(100))
        assert e.value.message.startswith("signature is 100 bytes")
        with pytest.raises(chm.BadArgumentsError) as e:
            f.set_signature(5, good)
        assert e.value.message == "token index 5 is out of range; the file has 3 tokens"
        with pytest.raises(chm.BadArgumentsError) as e:
            f.signature(3)
        assert e.value.message == "token index 3 is out of range; the file has 3"
        assert f.to_json() == before


def test_create_mfa_refuses_duplicate_empty_and_short_tokens(random_tokens):
    t = random_tokens(1)[0]
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.TokenFile.create_mfa([t, os.urandom(32), t])
    assert e.value.message == "token 2 is the same as an earlier one; tokens must be distinct"
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.TokenFile.create_mfa([])
    assert e.value.message == "a token file needs at least one token"
    with pytest.raises(ValueError, match=r"tokens\[1\] is 31 bytes"):
        chm.TokenFile.create_mfa([t, t[:31]])


def test_calls_that_do_not_fit_the_kind_of_file(rsa_pair, random_tokens):
    with chm.TokenFile.create_mfa(random_tokens(2)) as f, chm.PrivateKey.load(rsa_pair[0]) as key:
        with pytest.raises(chm.BadArgumentsError) as e:
            f.approvers
        assert e.value.message == "not a quorum approval file"
        with pytest.raises(chm.BadArgumentsError) as e:
            f.approval_data(0)
        assert e.value.message == "an MFA token file has no approval data"
        with pytest.raises(chm.BadArgumentsError) as e:
            f.token
        assert e.value.message == "not a quorum approval file; use CHM_TokenFileGetToken"
        with pytest.raises(chm.BadArgumentsError) as e:
            f.add_approval("alice", key.sign_token(os.urandom(32)))
        assert e.value.message == "an MFA token file takes no approvals; sign its tokens instead"
    with chm.TokenFile.create_approval(b"x" * 80) as f, chm.PrivateKey.load(rsa_pair[0]) as key:
        with pytest.raises(chm.BadArgumentsError) as e:
            f.sign(key, approver="bob-smith")
        assert "only letters, digits and '_' are allowed" in e.value.message
        with pytest.raises(ValueError, match="NUL"):
            f.sign(key, approver="alice\0bob")
        assert len(f) == 0


def test_write_is_private_and_refuses_a_symlink(tmp_path, random_tokens):
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    link = tmp_path / "token.json"
    link.symlink_to(target)
    with chm.TokenFile.create_mfa(random_tokens(1)) as f:
        with pytest.raises(chm.FileError) as e:
            f.write(link)
        assert e.value.code == chm.CHMR_FILE_ERROR
        assert e.value.message.startswith(f"cannot write {link}")
        assert link.is_symlink() and target.read_text() == "keep me"
        plain = tmp_path / "plain.json"
        f.write(plain)
        assert stat.S_IMODE(plain.stat().st_mode) == 0o600
        assert plain.read_text() == f.to_json()


def test_oversized_token_file_raises_data_too_large(tmp_path, random_tokens):
    path = tmp_path / "big.json"
    path.write_text(mfa_json(random_tokens(1))[:-1] + " " * (1024 * 1024) + "}")
    with pytest.raises(chm.DataTooLargeError) as e:
        chm.TokenFile.load(path)
    assert e.value.code == chm.CHMR_DATA_LEN_RANGE
    assert "more than the limit of 1048576 bytes" in e.value.message


def test_closed_token_file_raises_invalid_handle(rsa_pair, random_tokens, tmp_path):
    f = chm.TokenFile.create_mfa(random_tokens(2))
    f.close()
    f.close()
    expected = f"{f.handle} is not an open token file handle"
    with chm.PrivateKey.load(rsa_pair[0]) as key:
        for use in (lambda: f.kind, lambda: len(f), f.to_json, lambda: f.sign(key),
                    lambda: f.write(tmp_path / "x.json")):
            with pytest.raises(chm.TokenFileHandleInvalidError) as e:
                use()
            assert e.value.code == chm.CHMR_OBJECT_HANDLE_INVALID
            assert e.value.message == expected
    assert not (tmp_path / "x.json").exists()


def test_context_managers_close_handles_even_on_error(tmp_path, rsa_pair, random_tokens):
    path = tmp_path / "token.json"
    path.write_text(mfa_json(random_tokens(3)))
    with chm.TokenFile.load(path) as f, chm.PrivateKey.load(rsa_pair[0]) as key:
        assert len(f) == 3 and key.bits == 2048
    assert f.closed and key.closed
    with pytest.raises(chm.InvalidHandleError):
        len(f)
    with pytest.raises(chm.KeyHandleInvalidError):
        key.bits

    with pytest.raises(RuntimeError):
        with chm.TokenFile.load(path) as g:
            raise RuntimeError("inside the block")
    with pytest.raises(chm.TokenFileHandleInvalidError):
        g.kind


def test_garbage_collection_frees_the_handle(random_tokens):
    from cloudhsm_mfa import _lib

    f = chm.TokenFile.create_mfa(random_tokens(1))
    handle = f.handle
    kind = c_uint32(0)
    assert _lib.lib.CHM_TokenFileGetKind(handle, byref(kind)) == chm.CHMR_OK
    del f
    gc.collect()
    assert _lib.lib.CHM_TokenFileGetKind(handle, byref(kind)) == chm.CHMR_OBJECT_HANDLE_INVALID
    with pytest.raises(TypeError):
        chm.TokenFile()


def test_byte_arguments_take_bytes_like_objects_only(random_tokens):
    [token] = random_tokens(1)
    with pytest.raises(TypeError, match=r"^tokens\[1\] must be bytes, bytearray or memoryview, not int"):
        chm.TokenFile.create_mfa([token, 32])
    for create in (chm.TokenFile.create_registration, chm.TokenFile.create_approval):
        with pytest.raises(TypeError, match=r"^approval_data must be bytes.*not int"):
            create(16)
    with pytest.raises(TypeError, match=r"^data must be bytes"):
        chm.TokenFile.parse(7)
    f = chm.TokenFile.create_mfa([token])
    with pytest.raises(TypeError, match=r"^signature must be bytes, bytearray or memoryview, not int"):
        f.set_signature(0, 256)
    assert f.signature(0) is None, "nothing was stored"
    f.set_signature(0, memoryview(bytes(256)))
    approval = chm.TokenFile.create_approval(bytearray(b"a" * 80))
    with pytest.raises(TypeError, match=r"^signature must be bytes"):
        approval.add_approval("alice", 256)
    assert len(approval) == 0
