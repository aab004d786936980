"""The exceptions of the package: one class per family of return codes, all derived from
:class:`CloudHsmMfaError`, each carrying the library's return code and the message of
``CHM_GetLastError`` (which names the file, field and entry of a bad token file)."""

from ctypes import byref, c_char, c_size_t

from . import _lib


class CloudHsmMfaError(Exception):
    """A call into libcloudhsm_mfa failed.

    Attributes:
        code: the ``CHMR_*`` return code (an int).
        code_name: its name, e.g. ``"CHMR_TOKEN_FILE_INVALID"``.
        message: the library's message for the failure (``CHM_GetLastError``), or the
            static text of the code when the library kept none.
    """

    def __init__(self, code, message):
        self.code = int(code)
        self.code_name = _lib.RETURN_CODE_NAMES.get(self.code, f"0x{self.code:08X}")
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message

    def __repr__(self):
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


class FileError(CloudHsmMfaError):
    """CHMR_FILE_ERROR: a file cannot be read or written (missing, permissions, a symbolic
    link at the target)."""


class TokenFileError(CloudHsmMfaError):
    """CHMR_TOKEN_FILE_INVALID: a token file breaks the format; the message names the
    file, the field and the entry (e.g. ``tokens[1].unsigned``)."""


class NotInitializedError(CloudHsmMfaError):
    """CHMR_NOT_INITIALIZED: the library is not initialised (after :func:`finalize`)."""


class AlreadyInitializedError(CloudHsmMfaError):
    """CHMR_ALREADY_INITIALIZED: :func:`initialize` was already called."""


class BufferTooSmallError(CloudHsmMfaError):
    """CHMR_BUFFER_TOO_SMALL; the package sizes its buffers itself, so this is rare."""


_CLASSES = {
    _lib.CHMR_HOST_MEMORY: GeneralError,
    _lib.CHMR_GENERAL_ERROR: GeneralError,
    _lib.CHMR_FUNCTION_FAILED: CryptoError,
    _lib.CHMR_ARGUMENTS_BAD: BadArgumentsError,
    _lib.CHMR_DATA_LEN_RANGE: DataTooLargeError,
    _lib.CHMR_KEY_HANDLE_INVALID: KeyHandleInvalidError,
    _lib.CHMR_KEY_SIZE_RANGE: UnsupportedKeySizeError,
    _lib.CHMR_KEY_TYPE_INCONSISTENT: NotRsaKeyError,
    _lib.CHMR_OBJECT_HANDLE_INVALID: TokenFileHandleInvalidError,
    _lib.CHMR_SESSION_HANDLE_INVALID: InvalidHandleError,
    _lib.CHMR_SIGNATURE_INVALID: SignatureInvalidError,
    _lib.CHMR_SIGNATURE_LEN_RANGE: SignatureLengthError,
    _lib.CHMR_BUFFER_TOO_SMALL: BufferTooSmallError,
    _lib.CHMR_NOT_INITIALIZED: NotInitializedError,
    _lib.CHMR_ALREADY_INITIALIZED: AlreadyInitializedError,
    _lib.CHMR_FILE_ERROR: FileError,
    _lib.CHMR_TOKEN_FILE_INVALID: TokenFileError,
    _lib.CHMR_KEY_FILE_INVALID: KeyFileError,
    _lib.CHMR_TOKEN_NOT_SIGNED: NotSignedError,
}


def return_code_text(code):
    """The library's static text for a return code (``CHM_GetReturnCodeText``)."""
    return _lib.lib.CHM_GetReturnCodeText(code).decode("utf-8", errors="replace")


def last_error():
    """The message of this thread's last failure (``CHM_GetLastError``), "" if none."""
    size = c_size_t(0)
    if _lib.lib.CHM_GetLastError(None, byref(size)) != _lib.CHMR_OK:
        return ""
    for _ in range(4):
        buf = (c_char * size.value)()
        rv = _lib.lib.CHM_GetLastError(buf, byref(size))
        if rv == _lib.CHMR_OK:
            return buf.value.decode("utf-8", errors="replace")
        if rv != _lib.CHMR_BUFFER_TOO_SMALL:
            break
    return ""


def error_for(code):
    """The exception for a failed call's return code, with the library's message."""
    message = last_error() or return_code_text(code)
    return _CLASSES.get(code, CloudHsmMfaError)(code, message)


def _check(rv):
    """Raises the exception for ``rv`` unless it is ``CHMR_OK``."""
    if rv != _lib.CHMR_OK:
        raise error_for(rv)
