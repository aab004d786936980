"""Keys on PKCS#11 tokens (SPEC section 12) through ``PrivateKey.load("pkcs11:...",
pin=...)``, on a real SoftHSM2 store: signatures identical to openssl's, the PIN from the
argument, the URI and the environment, a wrong PIN, URIs that match nothing, the public key
read from the token and a key pair made on it."""

import pytest

import cloudhsm_mfa as chm


def openssl_signature(openssl, key, token, tmp_path):
    (tmp_path / "t.bin").write_bytes(token)
    openssl("pkeyutl", "-sign", "-inkey", key, "-pkeyopt", "digest:sha256",
            "-in", tmp_path / "t.bin", "-out", tmp_path / "t.sig")
    return (tmp_path / "t.sig").read_bytes()


def test_a_key_on_the_token_signs_as_openssl_does(softhsm, rsa_pair, openssl, random_tokens, tmp_path):
    with chm.PrivateKey.load(softhsm.uri("alice"), pin=softhsm.pin) as key:
        assert key.bits == 2048
        assert key.public_pem() == chm.PublicKey.load(rsa_pair[1]).public_pem()
        for token in random_tokens(3):
            assert key.sign_token(token) == openssl_signature(openssl, rsa_pair[0], token, tmp_path)


def test_the_pin_may_come_from_the_uri_or_the_environment(softhsm, monkeypatch, random_tokens):
    token = random_tokens(1)[0]
    public = chm.PublicKey.load(softhsm.uri("alice"))
    with chm.PrivateKey.load(softhsm.uri("alice", f"&pin-value={softhsm.pin}")) as key:
        public.verify_token(token, key.sign_token(token))
    monkeypatch.setenv("CLOUDHSM_MFA_PKCS11_PIN", softhsm.pin)
    with chm.PrivateKey.load(softhsm.uri("alice")) as key:
        public.verify_token(token, key.sign_token(token))
    # The pin= argument comes first: a wrong PIN in the environment is not used.
    monkeypatch.setenv("CLOUDHSM_MFA_PKCS11_PIN", "not-the-pin")
    with chm.PrivateKey.load(softhsm.uri("alice"), pin=softhsm.pin.encode()) as key:
        public.verify_token(token, key.sign_token(token))


def test_a_wrong_pin_or_a_uri_of_nothing_raises_and_shows_no_pin(softhsm):
    with pytest.raises(chm.Pkcs11PinIncorrectError) as e:
        chm.PrivateKey.load(softhsm.uri("alice"), pin="wrong-py-pin")
    assert "refused the PIN" in e.value.message
    assert "wrong-py-pin" not in e.value.message
    assert isinstance(e.value, chm.Pkcs11Error)
    with pytest.raises(chm.Pkcs11NoMatchError) as e:
        chm.PrivateKey.load(softhsm.uri("nobody"), pin=softhsm.pin)
    assert "0 private keys" in e.value.message
    with pytest.raises(chm.BadArgumentsError) as e:
        chm.PrivateKey.load(softhsm.uri("alice", "&colour=blue&pin-value=secret-pv"))
    assert "unknown attribute" in e.value.message
    assert "secret-pv" not in e.value.message
    with pytest.raises(TypeError):
        chm.PrivateKey.load(softhsm.uri("alice"), pin=1234)


def test_a_key_pair_made_on_the_token(softhsm, tmp_path, random_tokens):
    uri = softhsm.uri("made-in-python", f"&pin-value={softhsm.pin}")
    chm.generate_key_pair(uri, tmp_path / "made.pub", bits=3072)
    public = chm.PublicKey.load(tmp_path / "made.pub")
    assert public.bits == 3072
    with chm.PrivateKey.load(uri) as key:
        token = random_tokens(1)[0]
        public.verify_token(token, key.sign_token(token))
    with pytest.raises(chm.Pkcs11KeyExistsError):
        chm.generate_key_pair(uri, tmp_path / "again.pub")
    assert not (tmp_path / "again.pub").exists()
