"""Token files (MFA, registration, quorum approval): load, parse, create, sign, verify,
write. Every rule of the format is checked by the library; this module only carries
values across."""

from __future__ import annotations

import enum
from ctypes import byref, c_size_t, c_uint8, c_uint32
from typing import Any, Iterable, List, Optional, Type, Union

from . import _lib
from ._runtime import Handle, ensure_initialized
from .errors import _check
from .keys import PrivateKey, PublicKey


class TokenFileKind(enum.IntEnum):
    """Which of the three shapes a token file has (``CHM_TOKEN_FILE_*``)."""

    MFA = _lib.CHM_TOKEN_FILE_MFA
    REGISTRATION = _lib.CHM_TOKEN_FILE_REGISTRATION
    QUORUM_APPROVAL = _lib.CHM_TOKEN_FILE_QUORUM_APPROVAL


class EntryStatus(enum.IntEnum):
    """The outcome of checking one entry against a public key (``CHM_ENTRY_*``)."""

    VALID = _lib.CHM_ENTRY_VALID
    UNSIGNED = _lib.CHM_ENTRY_UNSIGNED
    INVALID = _lib.CHM_ENTRY_INVALID
    WRONG_LENGTH = _lib.CHM_ENTRY_WRONG_LENGTH


def _created(function: str, *args: Any, path: Optional[_lib.PathArg] = None) -> TokenFile:
    ensure_initialized()
    handle = _lib.CHM_TOKEN_FILE_HANDLE(0)
    _check(getattr(_lib.lib, function)(*args, byref(handle)), path)
    return TokenFile._adopt(handle.value)


def _index(i: int) -> int:
    return _lib.in_uint(i, "index", _lib.SIZE_MAX)


def _key_handle(key: object, cls: Union[Type[PrivateKey], Type[PublicKey]]) -> int:
    if not isinstance(key, cls):
        raise TypeError(f"expected a {cls.__name__}, not {type(key).__name__}")
    return key.handle


class TokenFile(Handle):
    """A parsed, validated token file held by the library (SPEC §2).

    ``len(f)`` is the number of entries: the tokens of an MFA or registration file, the
    approvals gathered in a quorum approval file. Use it as a context manager
    (``with TokenFile.load(p) as f:``) or call :meth:`close`.

    A file that breaks the format raises :class:`TokenFileError`, whose message names the
    file, the field and the entry, e.g. ``tokens[1].unsigned``.
    """

    _close_function = "CHM_TokenFileClose"

    # -- making one ----------------------------------------------------------------------

    @classmethod
    def load(cls, path: _lib.PathArg) -> TokenFile:
        """Reads and validates a token file (at most 1 MiB) from ``path``."""
        return _created("CHM_TokenFileLoad", _lib.in_path(path), path=path)

    @classmethod
    def parse(cls, data: Union[str, _lib.BytesArg]) -> TokenFile:
        """Parses and validates a token file's JSON text (``bytes`` or ``str``)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        buf, length = _lib.in_bytes(data, "data")
        return _created("CHM_TokenFileParse", buf, length)

    @classmethod
    def create_mfa(cls, tokens: Iterable[_lib.BytesArg]) -> TokenFile:
        """A new MFA token file with one unsigned entry per 32-byte token, in order.
        Tokens must be distinct (else :class:`BadArgumentsError`)."""
        values = [_lib.as_bytes(t, f"tokens[{i}]") for i, t in enumerate(tokens)]
        for i, t in enumerate(values):
            if len(t) != _lib.CHM_TOKEN_LEN:
                raise ValueError(
                    f"tokens[{i}] is {len(t)} bytes; a token is {_lib.CHM_TOKEN_LEN} bytes"
                )
        buf, _ = _lib.in_bytes(b"".join(values), "tokens")
        return _created("CHM_TokenFileCreateMfa", buf, len(values))

    @classmethod
    def create_registration(cls, approval_data: _lib.BytesArg) -> TokenFile:
        """A new registration token file for 1 to 245 bytes of approval data; its one
        token is the SHA-256 of the data."""
        buf, length = _lib.in_bytes(approval_data, "approval_data")
        return _created("CHM_TokenFileCreateRegistration", buf, length)

    @classmethod
    def create_approval(cls, approval_data: _lib.BytesArg) -> TokenFile:
        """A new quorum approval file for the approval data, with no approvals yet; its
        token is the SHA-256 of the data."""
        buf, length = _lib.in_bytes(approval_data, "approval_data")
        return _created("CHM_TokenFileCreateApproval", buf, length)

    # -- reading -------------------------------------------------------------------------

    @property
    def kind(self) -> TokenFileKind:
        """The file's :class:`TokenFileKind`."""
        kind = c_uint32(0)
        _check(_lib.lib.CHM_TokenFileGetKind(self._handle, byref(kind)))
        return TokenFileKind(kind.value)

    def __len__(self) -> int:
        count = c_size_t(0)
        _check(_lib.lib.CHM_TokenFileGetEntryCount(self._handle, byref(count)))
        return count.value

    def token_at(self, index: int) -> bytes:
        """The 32-byte ``unsigned`` token of entry ``index`` of an MFA or registration file."""
        out = (c_uint8 * _lib.CHM_TOKEN_LEN)()
        _check(_lib.lib.CHM_TokenFileGetToken(self._handle, _index(index), out))
        return bytes(out)

    @property
    def token(self) -> bytes:
        """The 32-byte ``token`` of a quorum approval file (what approvers sign); other
        kinds raise :class:`BadArgumentsError`."""
        out = (c_uint8 * _lib.CHM_TOKEN_LEN)()
        _check(_lib.lib.CHM_TokenFileGetApprovalToken(self._handle, out))
        return bytes(out)

    @property
    def tokens(self) -> List[bytes]:
        """The 32-byte values that signatures cover, as a list of ``bytes``: each entry's
        ``unsigned`` token of an MFA or registration file, or the single ``token`` of a
        quorum approval file."""
        if self.kind == TokenFileKind.QUORUM_APPROVAL:
            return [self.token]
        return [self.token_at(i) for i in range(len(self))]

    def signature(self, index: int) -> Optional[bytes]:
        """The signature of entry ``index`` (a token's ``signed`` value, or an approval's
        ``signature``), or ``None`` for a token not signed yet."""
        sig = _lib.two_call(_check, _lib.lib.CHM_TokenFileGetSignature, self._handle, _index(index))
        return sig or None

    def approval_data(self, index: int = 0) -> bytes:
        """The ``approval_data`` of token ``index`` of a registration file, or (index 0)
        of a quorum approval file. An MFA token file has none (:class:`BadArgumentsError`)."""
        return _lib.two_call(
            _check, _lib.lib.CHM_TokenFileGetApprovalData, self._handle, _index(index)
        )

    def approver(self, index: int) -> str:
        """The user name (lower case) of approval ``index`` of a quorum approval file."""
        return _lib.two_call(
            _check, _lib.lib.CHM_TokenFileGetApprover, self._handle, _index(index), text=True
        )

    @property
    def approvers(self) -> List[str]:
        """The user names of a quorum approval file's approvals, in order. Other kinds
        raise :class:`BadArgumentsError`."""
        if self.kind != TokenFileKind.QUORUM_APPROVAL:
            # Let the library say why (it refuses approvers of other kinds).
            self.approver(0)
        return [self.approver(i) for i in range(len(self))]

    def to_json(self) -> str:
        """The file as pretty-printed JSON text, as it would be written."""
        return _lib.two_call(_check, _lib.lib.CHM_TokenFileToJson, self._handle, text=True)

    # -- signing and verifying -----------------------------------------------------------

    def sign(self, key: PrivateKey, approver: Optional[str] = None) -> None:
        """Signs the file in memory with a :class:`PrivateKey`: every token of an MFA or
        registration file (no ``approver``), or adds/replaces the approval of
        ``approver`` in a quorum approval file. On failure the file is unchanged."""
        _check(
            _lib.lib.CHM_TokenFileSign(
                self._handle, _key_handle(key, PrivateKey), _lib.in_str(approver, "approver")
            )
        )

    def set_signature(self, index: int, signature: _lib.BytesArg) -> None:
        """Sets the ``signed`` value of token ``index`` of an MFA or registration file
        (256, 384 or 512 bytes)."""
        sig, length = _lib.in_bytes(signature, "signature")
        _check(_lib.lib.CHM_TokenFileSetSignature(self._handle, _index(index), sig, length))

    def add_approval(self, approver: str, signature: _lib.BytesArg) -> None:
        """Adds ``approver``'s signature over :attr:`token` to a quorum approval file,
        replacing an earlier one by the same user."""
        sig, length = _lib.in_bytes(signature, "signature")
        _check(
            _lib.lib.CHM_TokenFileAddApproval(
                self._handle, _lib.in_str(approver, "approver"), sig, length
            )
        )

    def verify(self, public_key: PublicKey, approver: Optional[str] = None) -> None:
        """Verifies every token of an MFA or registration file (no ``approver``), or the
        approval of ``approver`` in a quorum approval file, with a :class:`PublicKey`.

        Returns ``None`` when everything verifies; otherwise raises
        :class:`NotSignedError`, :class:`SignatureInvalidError` or
        :class:`SignatureLengthError`, whose message names the first failing entry."""
        _check(
            _lib.lib.CHM_TokenFileVerify(
                self._handle, _key_handle(public_key, PublicKey), _lib.in_str(approver, "approver")
            )
        )

    def check_entry(self, public_key: PublicKey, index: int) -> EntryStatus:
        """The :class:`EntryStatus` of entry ``index`` against a :class:`PublicKey`."""
        status = c_uint32(0)
        _check(
            _lib.lib.CHM_TokenFileCheckEntry(
                self._handle, _key_handle(public_key, PublicKey), _index(index), byref(status)
            )
        )
        return EntryStatus(status.value)

    def check(self, public_key: PublicKey) -> List[EntryStatus]:
        """The :class:`EntryStatus` of every entry, in file order; never raises for a bad
        signature."""
        return [self.check_entry(public_key, i) for i in range(len(self))]

    # -- writing -------------------------------------------------------------------------

    def write(self, path: _lib.PathArg) -> None:
        """Writes the file to ``path`` atomically with mode 0600; a symbolic link at
        ``path`` is refused (:class:`FileError`). On failure ``path`` is unchanged."""
        _check(_lib.lib.CHM_TokenFileWrite(self._handle, _lib.in_path(path)))


def sign_token_file(
    token_path: _lib.PathArg,
    key_path: _lib.PathArg,
    output_path: Optional[_lib.PathArg] = None,
    approver: Optional[str] = None,
) -> _lib.PathArg:
    """In one call: reads the token file at ``token_path``, signs it with the private key
    file at ``key_path`` (``approver`` for a quorum approval file) and writes it atomically
    to ``output_path``, or back to ``token_path``. On any failure nothing is written.
    Returns the path written."""
    ensure_initialized()
    _check(
        _lib.lib.CHM_SignTokenFile(
            _lib.in_path(token_path, "token_path"),
            _lib.in_path(key_path, "key_path"),
            _lib.in_path(output_path, "output_path"),
            _lib.in_str(approver, "approver"),
        ),
        token_path,
        key_path,
    )
    return output_path if output_path is not None else token_path
