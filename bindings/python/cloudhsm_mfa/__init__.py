"""Python bindings (ctypes) for libcloudhsm_mfa: token-sign MFA token files, quorum
approval files and the RSA keys that sign them.

The shared library is taken from ``$CLOUDHSM_MFA_LIB`` if set, else from
``<repo>/target/release/libcloudhsm_mfa.so`` next to this package's checkout, else from
the system's library path. The library is initialised on first use; :func:`initialize`
and :func:`finalize` are there for callers that want to control it.

Example::

    import cloudhsm_mfa as chm

    with chm.TokenFile.load("token.json") as f, chm.PrivateKey.load("key.pem") as key:
        f.sign(key)
        f.write("token.json")

Failures raise :class:`CloudHsmMfaError` subclasses carrying the library's return code
(``.code``) and message (``.message``).
"""

from . import _lib
from ._lib import LIBRARY_PATH, RETURN_CODE_NAMES
from ._runtime import (
    LibraryInfo,
    finalize,
    function_list,
    info,
    initialize,
    version,
)
from .errors import (
    AlreadyInitializedError,
    BadArgumentsError,
    BufferTooSmallError,
    CloudHsmMfaError,
    CryptoError,
    DataTooLargeError,
    FileError,
    GeneralError,
    InvalidHandleError,
    KeyFileError,
    KeyHandleInvalidError,
    NotInitializedError,
    NotRsaKeyError,
    NotSignedError,
    SignatureInvalidError,
    SignatureLengthError,
    TokenFileError,
    TokenFileHandleInvalidError,
    UnsupportedKeySizeError,
    last_error,
    return_code_text,
)
from .keys import PrivateKey, PublicKey, generate_key_pair
from .token_file import EntryStatus, TokenFile, TokenFileKind, sign_token_file

# Every constant of include/cloudhsm_mfa.h (CHM_TOKEN_LEN, CHMR_*, CHM_ENTRY_*, ...), by
# the header's names; a test compares them with the header.
_CONSTANTS = {
    name: value
    for name, value in vars(_lib).items()
    if name.startswith(("CHM_", "CHMR_")) and isinstance(value, int)
}
globals().update(_CONSTANTS)

__version__ = "0.1.0"

__all__ = sorted(_CONSTANTS) + [
    "LIBRARY_PATH",
    "RETURN_CODE_NAMES",
    "AlreadyInitializedError",
    "BadArgumentsError",
    "BufferTooSmallError",
    "CloudHsmMfaError",
    "CryptoError",
    "DataTooLargeError",
    "EntryStatus",
    "FileError",
    "GeneralError",
    "InvalidHandleError",
    "KeyFileError",
    "KeyHandleInvalidError",
    "LibraryInfo",
    "NotInitializedError",
    "NotRsaKeyError",
    "NotSignedError",
    "PrivateKey",
    "PublicKey",
    "SignatureInvalidError",
    "SignatureLengthError",
    "TokenFile",
    "TokenFileError",
    "TokenFileHandleInvalidError",
    "TokenFileKind",
    "UnsupportedKeySizeError",
    "finalize",
    "function_list",
    "generate_key_pair",
    "info",
    "initialize",
    "last_error",
    "return_code_text",
    "sign_token_file",
    "version",
]
