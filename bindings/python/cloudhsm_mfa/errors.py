"""The exceptions of the package: one class per family of return codes, all derived from
:class:`CloudHsmMfaError`, each carrying the library's return code and the message of
``CHM_GetLastError`` (which names the file, field and entry of a bad token file).

The class is chosen by the return code alone. Where one code covers cases Python tells
apart, the call's own facts refine it, never the message: a ``CHMR_FILE_ERROR`` for an input
file that does not exist is a :class:`FileMissingError` (also a :class:`FileNotFoundError`),
and one from :meth:`Session.open` is a :class:`ConfigFileError` (also a
:class:`ConfigError`), since the files a session opens are its configuration's."""

from __future__ import annotations

import errno
import os
from ctypes import byref, c_char, c_size_t, c_uint32
from typing import Dict, Iterable, Optional, Type

from . import _ffi, _lib


class CloudHsmMfaError(Exception):
    """A call into libcloudhsm_mfa failed.

    Attributes:
        code: the ``CHMR_*`` return code (an int).
        code_name: its name, e.g. ``"CHMR_TOKEN_FILE_INVALID"``.
        message: the library's message for the failure (``CHM_GetLastError``), or the
            static text of the code when the library kept none.
    """

    def __init__(self, code: int, message: str) -> None:
        self.code: int = int(code)
        self.code_name: str = _lib.RETURN_CODE_NAMES.get(self.code, f"0x{self.code:08X}")
        self.message: str = message
        super().__init__(message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code_name}, message={self.message!r})"


class GeneralError(CloudHsmMfaError):
    """CHMR_GENERAL_ERROR or CHMR_HOST_MEMORY: an internal failure of the library."""


class CryptoError(CloudHsmMfaError):
    """CHMR_FUNCTION_FAILED: the cryptographic engine failed."""


class BadArgumentsError(CloudHsmMfaError, ValueError):
    """CHMR_ARGUMENTS_BAD: an argument the library cannot use (an index out of range, a
    token that is not 32 bytes, a bad user name, a call that does not fit the file's kind).
    Also a :class:`ValueError`."""


class DataTooLargeError(CloudHsmMfaError):
    """CHMR_DATA_LEN_RANGE: input larger than allowed (a token file over 1 MiB)."""


class InvalidHandleError(CloudHsmMfaError):
    """A handle that is closed, unknown or of the wrong kind."""


class KeyHandleInvalidError(InvalidHandleError):
    """CHMR_KEY_HANDLE_INVALID: the key is closed, or is not the kind of key needed (a
    public key where a private key signs, or the other way round)."""


class TokenFileHandleInvalidError(InvalidHandleError):
    """CHMR_OBJECT_HANDLE_INVALID: the token file is closed."""


class KeyFileError(CloudHsmMfaError):
    """CHMR_KEY_FILE_INVALID: not a usable PEM key (not a key, encrypted, wrong kind)."""


class UnsupportedKeySizeError(KeyFileError):
    """CHMR_KEY_SIZE_RANGE: an RSA key of a size other than 2048, 3072 or 4096 bits."""


class NotRsaKeyError(KeyFileError):
    """CHMR_KEY_TYPE_INCONSISTENT: a key of another algorithm (EC, Ed25519, ...)."""


class SignatureInvalidError(CloudHsmMfaError):
    """CHMR_SIGNATURE_INVALID: a signature does not verify with the public key."""


class SignatureLengthError(SignatureInvalidError):
    """CHMR_SIGNATURE_LEN_RANGE: a signature whose length does not match the key. A
    subclass of :class:`SignatureInvalidError`, since such a signature cannot verify."""


class NotSignedError(CloudHsmMfaError):
    """CHMR_TOKEN_NOT_SIGNED: a token entry, or an approver, has no signature."""


class FileError(CloudHsmMfaError, OSError):
    """CHMR_FILE_ERROR: a file cannot be read or written (missing, permissions, a symbolic
    link at the target). Also an :class:`OSError`; its ``errno`` and ``filename`` are
    ``None`` unless a subclass knows them (the library's message says what failed)."""


class FileMissingError(FileError, FileNotFoundError):
    """CHMR_FILE_ERROR for an input file that does not exist: also a
    :class:`FileNotFoundError`, with ``errno`` ``ENOENT`` and ``filename`` the path given.

    The library has no return code of its own for a missing file (``CHMR_FILE_ERROR``
    covers every file that cannot be read or written), so the package checks, after the
    failure, whether an input path of the call exists."""

    def __init__(self, code: int, message: str, filename: "_lib.PathArg") -> None:
        super().__init__(code, message)
        self.errno = errno.ENOENT
        self.strerror = os.strerror(errno.ENOENT)
        self.filename = filename


class TokenFileError(CloudHsmMfaError):
    """CHMR_TOKEN_FILE_INVALID: a token file breaks the format; the message names the
    file, the field and the entry (e.g. ``tokens[1].unsigned``)."""


class NotInitializedError(CloudHsmMfaError):
    """CHMR_NOT_INITIALIZED: the library is not initialised (after :func:`finalize`)."""


class AlreadyInitializedError(CloudHsmMfaError):
    """CHMR_ALREADY_INITIALIZED: :func:`initialize` was already called."""


class BufferTooSmallError(CloudHsmMfaError):
    """CHMR_BUFFER_TOO_SMALL; the package sizes its buffers itself, so this is rare."""


# -- sessions with a cluster ---------------------------------------------------------------


class SessionHandleInvalidError(InvalidHandleError):
    """CHMR_SESSION_HANDLE_INVALID: the session is closed (or was opened before
    :func:`finalize`)."""


class OperationActiveError(CloudHsmMfaError):
    """CHMR_OPERATION_ACTIVE: a signing callback called back into the session whose
    operation called it (or into a session another call is using, or ``finalize``);
    refused instead of waiting forever."""


class OperationNotBegunError(CloudHsmMfaError):
    """CHMR_OPERATION_NOT_INITIALIZED: a second phase (``login_mfa_finish``,
    ``change_mfa_finish``) without its first phase on this session."""


class ConfigError(CloudHsmMfaError):
    """The cluster configuration is missing or cannot be used: CHMR_CONFIG_INVALID (a
    configuration the library read and refused), or a :class:`ConfigFileError` (one it
    could not read)."""


class ConfigFileError(ConfigError, FileError):
    """CHMR_FILE_ERROR from :meth:`Session.open`: a file of the configuration (the
    configuration file itself, or a certificate or key it names) cannot be read. Both a
    :class:`ConfigError` and a :class:`FileError`."""


class ConfigFileMissingError(ConfigFileError, FileMissingError):
    """:class:`ConfigFileError` when the configuration file does not exist (at the path
    given to :func:`initialize`, else ``$CLOUDHSM_MFA_CONFIG``, else
    ``/opt/cloudhsm/etc/cloudhsm-cli.cfg``): also a :class:`FileNotFoundError`."""


class ClusterIdRequiredError(CloudHsmMfaError):
    """CHMR_CLUSTER_ID_REQUIRED: the configuration lists several clusters and no
    ``cluster_id`` was given."""


class ClusterUnknownError(CloudHsmMfaError):
    """CHMR_CLUSTER_UNKNOWN: no cluster of the configuration has that ``cluster_id``."""


class HsmUnreachableError(CloudHsmMfaError):
    """CHMR_HSM_UNREACHABLE: no HSM of the cluster (or not the one needed) answers."""


class PartialFailureError(CloudHsmMfaError):
    """CHMR_PARTIAL_FAILURE: the change was applied to some HSMs of the cluster but not
    all; the message says how many failed, and ``list_users`` shows the user as
    inconsistent."""


class PinIncorrectError(CloudHsmMfaError):
    """CHMR_PIN_INCORRECT: wrong user name, role or password (one message for all three,
    as the HSM gives no hint which). Each one counts as a failed login."""


class UserLockedError(CloudHsmMfaError):
    """CHMR_PIN_LOCKED: the user is locked after too many failed logins, until an admin
    sets a new password."""


class UserAlreadyLoggedInError(CloudHsmMfaError):
    """CHMR_USER_ALREADY_LOGGED_IN: the session is logged in already; log out first."""


class UserNotLoggedInError(CloudHsmMfaError):
    """CHMR_USER_NOT_LOGGED_IN: the operation needs a logged-in session."""


class MfaRequiredError(CloudHsmMfaError):
    """CHMR_MFA_REQUIRED: the user has token-sign MFA, so a password login is not enough;
    use ``login_mfa`` or ``login_mfa_begin``/``login_mfa_finish``."""


class MfaNotRegisteredError(CloudHsmMfaError):
    """CHMR_MFA_NOT_REGISTERED: an MFA login for a user who has no MFA key."""


class ChallengeExpiredError(CloudHsmMfaError):
    """CHMR_CHALLENGE_EXPIRED: the tokens were signed too late; start again."""


class TokenNotIssuedError(CloudHsmMfaError):
    """CHMR_TOKEN_NOT_ISSUED: a signed token that the cluster did not issue for this
    operation and connection, or that was used already."""


class HsmRefusedError(CloudHsmMfaError):
    """CHMR_HSM_REFUSED: an HSM refused the operation for another reason (a limit)."""


class HsmDeviceError(CloudHsmMfaError):
    """CHMR_DEVICE_ERROR: an HSM failed internally."""


class ProtocolError(CloudHsmMfaError):
    """CHMR_PROTOCOL_ERROR: an HSM answered something the library does not understand."""


class UserNotFoundError(CloudHsmMfaError):
    """CHMR_USER_NOT_FOUND: no user of that name and role."""


class UserExistsError(CloudHsmMfaError):
    """CHMR_USER_EXISTS: a user of that name exists already."""


class UserLoggedInError(CloudHsmMfaError):
    """CHMR_USER_LOGGED_IN: the user is logged in, so it cannot be deleted, nor have its
    password changed by another user."""


class PermissionDeniedError(CloudHsmMfaError):
    """CHMR_PERMISSION_DENIED: the logged-in user may not do this (a crypto user managing
    users, a user changing another user's MFA)."""


class ClusterStateError(CloudHsmMfaError):
    """CHMR_CLUSTER_STATE: the cluster is not activated yet, or is activated already."""


class QuorumError(CloudHsmMfaError):
    """A gated operation was refused for its quorum approval (SPEC §7).

    Attributes:
        present: the valid approvals the HSM counted (0 without an approval), or None.
        required: the approvals the service's quorum value requires, or None.
    """

    present: Optional[int] = None
    required: Optional[int] = None


class QuorumApprovalRequiredError(QuorumError):
    """CHMR_QUORUM_APPROVAL_REQUIRED: the operation needs a quorum approval
    (``Session.set_approval``); ``required`` says how many approvals."""


class QuorumTooFewError(QuorumError):
    """CHMR_QUORUM_TOO_FEW: the approval has too few valid approvals; ``present`` and
    ``required`` give the counts, the message names each approval not counted."""


class QuorumTokenInvalidError(QuorumError):
    """CHMR_QUORUM_TOKEN_INVALID: the approval's token was not issued to this login for
    this service, was used, or expired (the message says which)."""


class MfaPreferenceInvalidError(CloudHsmMfaError, ValueError):
    """CHMR_MFA_PREFERENCE_INVALID: an MFA preference request breaks a rule (two preferred
    factors, preferred and disabled); nothing changed. Also a :class:`ValueError`."""


class FactorNotReadyError(CloudHsmMfaError):
    """CHMR_FACTOR_NOT_READY: a factor cannot be used yet (a software token not verified,
    no phone number or email, no token-sign key)."""


class CodeMismatchError(CloudHsmMfaError):
    """CHMR_CODE_MISMATCH: a TOTP, SMS or email code is wrong or was used already."""


class CodeExpiredError(CloudHsmMfaError):
    """CHMR_CODE_EXPIRED: an SMS or email code expired; log in again for a new one."""


class SelectionRequiredError(CloudHsmMfaError):
    """CHMR_MFA_SELECTION_REQUIRED: the login waits for a choice among several factors."""


class Pkcs11Error(CloudHsmMfaError):
    """A PKCS#11 module cannot be loaded or initialised, or a token failed an operation."""


class Pkcs11NoMatchError(Pkcs11Error):
    """A ``pkcs11:`` URI matches no token or key, or several; the message says how many."""


class Pkcs11PinIncorrectError(Pkcs11Error):
    """The PKCS#11 token refused the PIN (wrong or locked); it was not tried again."""


class Pkcs11PinRequiredError(Pkcs11Error):
    """The token needs a PIN and none was given: pass ``pin=``, put ``pin-source`` or
    ``pin-value`` in the URI, or set ``CLOUDHSM_MFA_PKCS11_PIN``."""


class Pkcs11KeyExistsError(Pkcs11Error):
    """Key generation found a key with that label or id on the token."""


#: The exception class of each failure code, as _ffi.py (generated from the table of return
#: codes) names them.
_CLASSES: Dict[int, Type[CloudHsmMfaError]] = {
    code: globals()[name] for code, name in _ffi.RETURN_CODE_CLASSES.items()
}


def return_code_text(code: int) -> str:
    """The library's static text for a return code (``CHM_GetReturnCodeText``)."""
    text: bytes = _lib.lib.CHM_GetReturnCodeText(code)
    return text.decode("utf-8", errors="replace")


def last_error() -> str:
    """The message of this thread's last failure (``CHM_GetLastError``), "" if none."""
    size = c_size_t(0)
    if _lib.lib.CHM_GetLastError(None, byref(size)) != _lib.CHMR_OK:
        return ""
    for _ in range(4):
        buf = (c_char * size.value)()
        rv = _lib.lib.CHM_GetLastError(buf, byref(size))
        if rv == _lib.CHMR_OK:
            return bytes(buf.value).decode("utf-8", errors="replace")
        if rv != _lib.CHMR_BUFFER_TOO_SMALL:
            break
    return ""


def _does_not_exist(path: "_lib.PathArg") -> bool:
    """Whether ``path`` names nothing (``ENOENT``; a dangling symbolic link too), as
    opposed to a path that cannot be looked at (``EACCES``, ``ENOTDIR``, ...)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    return False


def _missing(paths: Iterable[Optional["_lib.PathArg"]]) -> Optional["_lib.PathArg"]:
    """The first of ``paths`` that does not exist, if any."""
    for path in paths:
        if path is not None and _does_not_exist(path):
            return path
    return None


def error_for(
    code: int,
    inputs: Iterable[Optional["_lib.PathArg"]] = (),
    config: Optional["_lib.PathArg"] = None,
) -> CloudHsmMfaError:
    """The exception for a failed call's return code, with the library's message (and for
    a quorum refusal, the counts of ``CHM_GetLastErrorApprovals``). ``inputs`` are the
    files the call reads, for a missing one's :class:`FileMissingError`; ``config`` is the
    configuration path of a call that opens a session (:class:`ConfigFileError`)."""
    message = last_error() or return_code_text(code)
    if code == _lib.CHMR_FILE_ERROR:
        if config is not None:
            if _does_not_exist(config):
                return ConfigFileMissingError(code, message, config)
            return ConfigFileError(code, message)
        missing = _missing(inputs)
        if missing is not None:
            return FileMissingError(code, message, missing)
    error = _CLASSES.get(code, CloudHsmMfaError)(code, message)
    if isinstance(error, QuorumError):
        present, required = c_uint32(0), c_uint32(0)
        if _lib.lib.CHM_GetLastErrorApprovals(byref(present), byref(required)) == _lib.CHMR_OK:
            if required.value:
                error.present, error.required = present.value, required.value
    return error


def _check(rv: int, *inputs: Optional["_lib.PathArg"]) -> None:
    """Raises the exception for ``rv`` unless it is ``CHMR_OK``; ``inputs`` are the paths
    of the files the call reads (see :func:`error_for`)."""
    if rv != _lib.CHMR_OK:
        raise error_for(rv, inputs)
