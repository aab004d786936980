"""RSA keys: load from PEM, sign and verify single 32-byte tokens, generate key pairs."""

from __future__ import annotations

from ctypes import byref, c_uint32, create_string_buffer, memset
from typing import Optional, Type, TypeVar, Union

from . import _lib
from ._runtime import Handle, ensure_initialized
from .errors import _check


class _Key(Handle):
    _close_function = "CHM_KeyClose"

    @property
    def bits(self) -> int:
        """The modulus size in bits (2048, 3072 or 4096)."""
        bits = c_uint32(0)
        _check(_lib.lib.CHM_KeyGetBits(self._handle, byref(bits)))
        return bits.value

    def public_pem(self) -> str:
        """The public key (of a private key: its public half) as PEM text."""
        return _lib.two_call(_check, _lib.lib.CHM_PublicKeyToPem, self._handle, text=True)


_K = TypeVar("_K", bound=_Key)


def _load(cls: Type[_K], function: str, path: _lib.PathArg) -> _K:
    ensure_initialized()
    handle = _lib.CHM_KEY_HANDLE(0)
    _check(getattr(_lib.lib, function)(_lib.in_path(path), byref(handle)), path)
    return cls._adopt(handle.value)


def _from_pem(cls: Type[_K], function: str, pem: Union[str, _lib.BytesArg]) -> _K:
    ensure_initialized()
    if isinstance(pem, str):
        pem = pem.encode("utf-8")
    data, length = _lib.in_bytes(pem, "pem")
    handle = _lib.CHM_KEY_HANDLE(0)
    _check(getattr(_lib.lib, function)(data, length, byref(handle)))
    return cls._adopt(handle.value)


class PrivateKey(_Key):
    """An unencrypted RSA private key (2048, 3072 or 4096 bits) held by the library.

    Loading raises :class:`KeyFileError` for a file that is not a usable key (encrypted,
    not PEM, a public key), :class:`UnsupportedKeySizeError` for a key of another size,
    :class:`NotRsaKeyError` for an EC or Ed25519 key and :class:`FileError` for a file
    that cannot be read.
    """

    @classmethod
    def load(cls, path: _lib.PathArg, pin: Optional[Union[str, bytes]] = None) -> PrivateKey:
        """Loads a PEM file (PKCS#8 "BEGIN PRIVATE KEY" or PKCS#1 "BEGIN RSA PRIVATE KEY"),
        or opens a key on a PKCS#11 token from its ``pkcs11:`` URI (RFC 7512), e.g.
        ``pkcs11:token=mfa;object=alice?module-path=/usr/lib/softhsm/libsofthsm2.so``.

        ``pin`` (``str`` or ``bytes``) is the token's PIN; without it the PIN comes from the
        URI's ``pin-source`` or ``pin-value``, ``$CLOUDHSM_MFA_PKCS11_PIN`` or, on a terminal,
        a prompt. A key file ignores it. A wrong PIN raises
        :class:`Pkcs11PinIncorrectError` and is not tried again; no PIN at all,
        :class:`Pkcs11PinRequiredError`; a URI that matches no key or several,
        :class:`Pkcs11NoMatchError`.
        """
        if pin is None:
            return _load(cls, "CHM_PrivateKeyLoad", path)
        ensure_initialized()
        raw = pin.encode("utf-8") if isinstance(pin, str) else pin
        if not isinstance(raw, bytes):
            raise TypeError(f"pin must be a str or bytes, not {type(pin).__name__}")
        if b"\0" in raw:
            raise ValueError("pin contains a NUL character")
        # The library keeps its own copy; this buffer is zeroed once the call returns.
        buffer = create_string_buffer(raw)
        handle = _lib.CHM_KEY_HANDLE(0)
        try:
            _check(_lib.lib.CHM_PrivateKeyOpen(_lib.in_path(path), buffer, byref(handle)), path)
        finally:
            memset(buffer, 0, len(buffer))
        return cls._adopt(handle.value)

    @classmethod
    def from_pem(cls, pem: Union[str, _lib.BytesArg]) -> PrivateKey:
        """As :meth:`load`, from PEM text (``bytes`` or ``str``) in memory."""
        return _from_pem(cls, "CHM_PrivateKeyFromPem", pem)

    def public_key(self) -> PublicKey:
        """A new :class:`PublicKey` for the public half of this key."""
        handle = _lib.CHM_KEY_HANDLE(0)
        _check(_lib.lib.CHM_PublicKeyFromPrivate(self._handle, byref(handle)))
        return PublicKey._adopt(handle.value)

    def sign_token(self, token: _lib.BytesArg) -> bytes:
        """Signs a 32-byte token as a ready-made SHA-256 digest (RSASSA-PKCS1-v1_5), as
        ``openssl pkeyutl -sign -pkeyopt digest:sha256`` does, and returns the signature
        (as long as the modulus). A token of another length raises
        :class:`BadArgumentsError`."""
        data, length = _lib.in_bytes(token, "token")
        return _lib.two_call(_check, _lib.lib.CHM_SignToken, self._handle, data, length)


class PublicKey(_Key):
    """An RSA public key held by the library."""

    @classmethod
    def load(cls, path: _lib.PathArg) -> PublicKey:
        """Loads a PEM file (SubjectPublicKeyInfo "BEGIN PUBLIC KEY" or PKCS#1
        "BEGIN RSA PUBLIC KEY"), or reads the public key of a key pair on a PKCS#11 token
        from its ``pkcs11:`` URI."""
        return _load(cls, "CHM_PublicKeyLoad", path)

    @classmethod
    def from_pem(cls, pem: Union[str, _lib.BytesArg]) -> PublicKey:
        """As :meth:`load`, from PEM text (``bytes`` or ``str``) in memory."""
        return _from_pem(cls, "CHM_PublicKeyFromPem", pem)

    def verify_token(self, token: _lib.BytesArg, signature: _lib.BytesArg) -> None:
        """Verifies a signature over a 32-byte token. Returns ``None`` when it verifies and
        raises otherwise: :class:`SignatureInvalidError` when it does not verify,
        :class:`SignatureLengthError` (a subclass) when its length does not match the key.
        """
        tok, tok_len = _lib.in_bytes(token, "token")
        sig, sig_len = _lib.in_bytes(signature, "signature")
        _check(_lib.lib.CHM_VerifyToken(self._handle, tok, tok_len, sig, sig_len))


def generate_key_pair(private_path: _lib.PathArg, public_path: _lib.PathArg, bits: int = 2048) -> None:
    """Generates an RSA key pair of ``bits`` (2048, 3072 or 4096) and writes the private key
    as PKCS#8 PEM to ``private_path`` (mode 0600) and the public key as
    SubjectPublicKeyInfo PEM to ``public_path`` (mode 0644), each atomically. With a
    ``pkcs11:`` URI as ``private_path`` the pair is made on that PKCS#11 token instead,
    labelled with the URI's ``object`` (:class:`Pkcs11KeyExistsError` when a key with that
    label is there), and only the public key file is written."""
    ensure_initialized()
    _check(
        _lib.lib.CHM_GenerateKeyPair(
            _lib.in_uint(bits, "bits", _lib.UINT32_MAX),
            _lib.in_path(private_path, "private_path"), _lib.in_path(public_path, "public_path")
        )
    )
