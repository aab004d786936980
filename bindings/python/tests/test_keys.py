"""Keys: loading what `openssl` writes, signatures byte-identical to OpenSSL's, generated
key pairs OpenSSL accepts, and the right exception for every unusable key."""

import os
import stat

import pytest

import cloudhsm_mfa as chm


def test_openssl_keys_load_in_pkcs8_and_pkcs1_forms(rsa_pair, rsa_pair2):
    (key8, pub8), (key1, pub1) = rsa_pair, rsa_pair2
    assert key8.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert key1.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    for key, pub in ((key8, pub8), (key1, pub1)):
        with chm.PrivateKey.load(key) as k, chm.PublicKey.load(pub) as p:
            assert k.bits == p.bits == 2048
        with chm.PrivateKey.from_pem(key.read_bytes()) as k, chm.PublicKey.from_pem(
            pub.read_text()
        ) as p:
            token = os.urandom(32)
            p.verify_token(token, k.sign_token(token))


def test_signatures_are_byte_identical_to_openssl_and_verify_there(rsa_pair, tmp_path, openssl, openssl_ok):
    key_path, pub_path = rsa_pair
    with chm.PrivateKey.load(key_path) as key:
        for i in range(3):
            token = os.urandom(32)
            (tmp_path / "token.bin").write_bytes(token)
            ours = key.sign_token(token)
            theirs = openssl(
                "pkeyutl", "-sign", "-inkey", key_path, "-pkeyopt", "digest:sha256",
                "-in", tmp_path / "token.bin",
            )
            assert len(ours) == 256
            assert ours == theirs, f"signature {i} differs from OpenSSL's"
            (tmp_path / "sig.bin").write_bytes(ours)
            assert openssl_ok(
                "pkeyutl", "-verify", "-pubin", "-inkey", pub_path, "-pkeyopt", "digest:sha256",
                "-in", tmp_path / "token.bin", "-sigfile", tmp_path / "sig.bin",
            )
            # The check can fail: a changed token does not verify with OpenSSL either.
            (tmp_path / "token.bin").write_bytes(bytes([token[0] ^ 1]) + token[1:])
            assert not openssl_ok(
                "pkeyutl", "-verify", "-pubin", "-inkey", pub_path, "-pkeyopt", "digest:sha256",
                "-in", tmp_path / "token.bin", "-sigfile", tmp_path / "sig.bin",
            )


def test_generated_key_pair_is_usable_by_openssl(tmp_path, openssl, openssl_ok):
    priv, pub = tmp_path / "mfa.pem", tmp_path / "mfa.pub.pem"
    chm.generate_key_pair(priv, pub)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert stat.S_IMODE(pub.stat().st_mode) == 0o644
    assert priv.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert openssl_ok("rsa", "-in", priv, "-check", "-noout")
    assert openssl("pkey", "-in", priv, "-pubout") == pub.read_bytes()

    token = os.urandom(32)
    (tmp_path / "token.bin").write_bytes(token)
    with chm.PrivateKey.load(priv) as key:
        assert key.bits == 2048
        (tmp_path / "sig.bin").write_bytes(key.sign_token(token))
    assert openssl_ok(
        "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-pkeyopt", "digest:sha256",
        "-in", tmp_path / "token.bin", "-sigfile", tmp_path / "sig.bin",
    )


def test_generate_key_pair_refuses_small_keys_and_writes_nothing(tmp_path):
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub", bits=1024)
    assert e.value.code == chm.CHMR_ARGUMENTS_BAD
    assert "1024" in e.value.message
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="bits is -1"):
        chm.generate_key_pair(tmp_path / "k.pem", tmp_path / "k.pub", bits=-1)


def test_public_key_from_private_key_matches_the_public_key_file(rsa_pair, rsa_pair2):
    token = os.urandom(32)
    with chm.PrivateKey.load(rsa_pair[0]) as key, key.public_key() as derived, \
            chm.PublicKey.load(rsa_pair[1]) as loaded, chm.PublicKey.load(rsa_pair2[1]) as other:
        sig = key.sign_token(token)
        derived.verify_token(token, sig)
        loaded.verify_token(token, sig)
        with pytest.raises(chm.SignatureInvalidError) as e:
            other.verify_token(token, sig)
        assert e.value.code == chm.CHMR_SIGNATURE_INVALID


def test_verify_token_raises_for_tampered_and_wrong_length_signatures(rsa_pair):
    token = os.urandom(32)
    with chm.PrivateKey.load(rsa_pair[0]) as key, chm.PublicKey.load(rsa_pair[1]) as pub:
        sig = key.sign_token(token)
        assert pub.verify_token(token, sig) is None
        tampered = sig[:-1] + bytes([sig[-1] ^ 0x01])
        with pytest.raises(chm.SignatureInvalidError) as e:
            pub.verify_token(token, tampered)
        assert type(e.value) is chm.SignatureInvalidError
        assert e.value.message == "signature does not verify with the public key"
        with pytest.raises(chm.SignatureLengthError) as e:
            pub.verify_token(token, sig[:255])
        assert e.value.code == chm.CHMR_SIGNATURE_LEN_RANGE
        assert e.value.message == "signature is 255 bytes; the 2048-bit key makes 256-byte signatures"


def test_sign_token_needs_exactly_32_bytes(rsa_pair):
    with chm.PrivateKey.load(rsa_pair[0]) as key:
        for bad in (b"", os.urandom(31), os.urandom(33)):
            with pytest.raises(chm.BadArgumentsError) as e:
                key.sign_token(bad)
            assert e.value.message == f"token is {len(bad)} bytes; a token is 32 bytes"
            assert isinstance(e.value, ValueError)


def test_encrypted_key_raises_key_file_error(tmp_path, openssl):
    path = tmp_path / "enc.pem"
    openssl("genrsa", "-aes256", "-passout", "pass:x", "-out", path, "2048")
    with pytest.raises(chm.KeyFileError) as e:
        chm.PrivateKey.load(path)
    assert type(e.value) is chm.KeyFileError
    assert e.value.code == chm.CHMR_KEY_FILE_INVALID
    assert e.value.message.startswith(f"{path}: the private key is encrypted; decrypt it first")


def test_1024_bit_key_raises_unsupported_key_size(tmp_path, openssl):
    path = tmp_path / "small.pem"
    openssl("genrsa", "-out", path, "1024")
    with pytest.raises(chm.UnsupportedKeySizeError) as e:
        chm.PrivateKey.load(path)
    assert e.value.code == chm.CHMR_KEY_SIZE_RANGE
    assert e.value.message == (
        f"{path}: RSA key of 1024 bits is too small; MFA and quorum keys are RSA 2048, 3072 or 4096 bits"
    )
    pub = tmp_path / "small.pub"
    openssl("pkey", "-in", path, "-pubout", "-out", pub)
    with pytest.raises(chm.UnsupportedKeySizeError):
        chm.PublicKey.load(pub)


@pytest.mark.parametrize(
    "make",
    [
        ("ecparam", "-genkey", "-noout", "-name", "prime256v1"),
        ("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"),
    ],
    ids=["sec1", "pkcs8"],
)
def test_ec_key_raises_not_rsa(tmp_path, openssl, make):
    path = tmp_path / "ec.pem"
    openssl(*make, "-out", path)
    with pytest.raises(chm.NotRsaKeyError) as e:
        chm.PrivateKey.load(path)
    assert e.value.code == chm.CHMR_KEY_TYPE_INCONSISTENT
    assert e.value.message.startswith(f"{path}: an EC key; MFA and quorum keys are RSA keys")
    assert isinstance(e.value, chm.KeyFileError)


def test_ec_key_with_parameters_block_raises_not_rsa(tmp_path, openssl):
    path = tmp_path / "ec.pem"
    openssl("ecparam", "-genkey", "-name", "prime256v1", "-out", path)
    with pytest.raises(chm.KeyFileError) as e:
        chm.PrivateKey.load(path)
    assert e.value.code == chm.CHMR_KEY_TYPE_INCONSISTENT, e.value.message


def test_wrong_kind_of_key_and_missing_files(rsa_pair, tmp_path):
    key, pub = rsa_pair
    with pytest.raises(chm.KeyFileError) as e:
        chm.PrivateKey.load(pub)
    assert e.value.message == f"{pub}: this is a public key; a private key is needed here"
    with pytest.raises(chm.KeyFileError) as e:
        chm.PublicKey.load(key)
    assert e.value.message.startswith(f"{key}: this is a private key")
    with pytest.raises(chm.KeyFileError) as e:
        chm.PrivateKey.from_pem(b"not a key")
    assert e.value.message == '<buffer>: not an RSA key in PEM form: no "-----BEGIN" line found'
    missing = tmp_path / "missing.pem"
    with pytest.raises(chm.FileError) as e:
        chm.PrivateKey.load(missing)
    assert e.value.code == chm.CHMR_FILE_ERROR
    assert e.value.message.startswith(f"cannot read {missing}: No such file or directory")


def test_closed_key_raises_invalid_key_handle(rsa_pair):
    key = chm.PrivateKey.load(rsa_pair[0])
    pub = key.public_key()
    key.close()
    key.close()  # closing twice is harmless
    assert key.closed
    with pytest.raises(chm.KeyHandleInvalidError) as e:
        key.sign_token(os.urandom(32))
    assert e.value.code == chm.CHMR_KEY_HANDLE_INVALID
    assert e.value.message == f"{key.handle} is not an open private key handle"
    with pytest.raises(chm.InvalidHandleError):
        key.public_key()
    # The public key made from it lives on its own.
    assert pub.bits == 2048
    with pub:
        pass
    with pytest.raises(chm.KeyHandleInvalidError):
        pub.bits


def test_public_pem_equals_what_openssl_derives(rsa_pair, openssl):
    key_path, pub_path = rsa_pair
    expected = openssl("pkey", "-in", key_path, "-pubout").decode()
    with chm.PrivateKey.load(key_path) as key, chm.PublicKey.load(pub_path) as pub:
        assert key.public_pem() == expected
        assert pub.public_pem() == expected


def test_byte_arguments_take_bytes_like_objects_only(rsa_pair):
    token = os.urandom(32)
    with chm.PrivateKey.load(rsa_pair[0]) as key, chm.PublicKey.load(rsa_pair[1]) as public:
        for good in (token, bytearray(token), memoryview(token)):
            public.verify_token(good, key.sign_token(good))
        signature = key.sign_token(token)
        for bad in (32, 32.0, [0] * 32, None, "x" * 32):
            with pytest.raises(TypeError, match=r"^token must be bytes, bytearray or memoryview"):
                key.sign_token(bad)
            with pytest.raises(TypeError, match=r"^token must be bytes"):
                public.verify_token(bad, signature)
        with pytest.raises(TypeError, match=r"^signature must be bytes, bytearray or memoryview, not int"):
            public.verify_token(token, 256)
        with pytest.raises(TypeError, match=r"^pem must be bytes"):
            chm.PrivateKey.from_pem(2048)
