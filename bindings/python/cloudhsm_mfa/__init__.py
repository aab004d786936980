"""Python bindings (ctypes) for libcloudhsm_mfa: sessions with an HSM cluster (password
and token-sign MFA logins, MFA key registration, user management), token-sign MFA token
files, quorum approval files and the RSA keys that sign them.

The shared library is taken from ``$CLOUDHSM_MFA_LIB`` if set, else from the package
itself (an installed wheel carries it), else from ``<repo>/target/release/`` next to this
package's checkout, else from the system's library path. The library is initialised on first use; :func:`initialize`
and :func:`finalize` are there for callers that want to control it, e.g.
``initialize(config_path="cloudhsm-cli.cfg")`` to choose the cluster configuration
(without it: ``$CLOUDHSM_MFA_CONFIG``, else ``/opt/cloudhsm/etc/cloudhsm-cli.cfg``).

Example::

    import cloudhsm_mfa as chm

    with chm.TokenFile.load("token.json") as f, chm.PrivateKey.load("key.pem") as key:
        f.sign(key)
        f.write("token.json")

    with chm.Session.open() as s, chm.PrivateKey.load("mfa.pem") as key:
        s.login_mfa("alice", "crypto-user", password, key)

Failures raise :class:`CloudHsmMfaError` subclasses carrying the library's return code
(``.code``) and message (``.message``).
"""

from . import _ffi
from ._ffi import *  # noqa: F401,F403 -- every constant of the header (CHM_*, CHMR_*)
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
    Pkcs11Error,
    Pkcs11NoMatchError,
    Pkcs11PinIncorrectError,
    Pkcs11PinRequiredError,
    Pkcs11KeyExistsError,
    SelectionRequiredError,
    MfaPreferenceInvalidError,
    FactorNotReadyError,
    CodeMismatchError,
    CodeExpiredError,
    AlreadyInitializedError,
    BadArgumentsError,
    BufferTooSmallError,
    ChallengeExpiredError,
    CloudHsmMfaError,
    ClusterIdRequiredError,
    ClusterStateError,
    ClusterUnknownError,
    ConfigError,
    ConfigFileError,
    ConfigFileMissingError,
    CryptoError,
    DataTooLargeError,
    FileError,
    FileMissingError,
    GeneralError,
    HsmDeviceError,
    HsmRefusedError,
    HsmUnreachableError,
    InvalidHandleError,
    KeyFileError,
    KeyHandleInvalidError,
    MfaNotRegisteredError,
    MfaRequiredError,
    NotInitializedError,
    NotRsaKeyError,
    NotSignedError,
    OperationActiveError,
    OperationNotBegunError,
    PartialFailureError,
    PermissionDeniedError,
    PinIncorrectError,
    ProtocolError,
    QuorumApprovalRequiredError,
    QuorumError,
    QuorumTokenInvalidError,
    QuorumTooFewError,
    SessionHandleInvalidError,
    SignatureInvalidError,
    SignatureLengthError,
    TokenFileError,
    TokenFileHandleInvalidError,
    TokenNotIssuedError,
    UnsupportedKeySizeError,
    UserAlreadyLoggedInError,
    UserExistsError,
    UserLockedError,
    UserLoggedInError,
    UserNotFoundError,
    UserNotLoggedInError,
    last_error,
    return_code_text,
)
from .keys import PrivateKey, PublicKey, generate_key_pair
from .session import Factor, LoginStep, MfaPreferences, Role, Service, Session, SignFunction, Signer
from .token_file import EntryStatus, TokenFile, TokenFileKind, sign_token_file

__version__ = "0.1.0"

# Every constant of include/cloudhsm_mfa.h (CHM_TOKEN_LEN, CHMR_*, CHM_ENTRY_*, ...), by
# the header's names, from _ffi.py; a test compares them with the header.
__all__ = [
    "Pkcs11Error",
    "Pkcs11NoMatchError",
    "Pkcs11PinIncorrectError",
    "Pkcs11PinRequiredError",
    "Pkcs11KeyExistsError",
    "SelectionRequiredError",
    "MfaPreferenceInvalidError",
    "FactorNotReadyError",
    "CodeMismatchError",
    "CodeExpiredError",
    "AlreadyInitializedError",
    "BadArgumentsError",
    "BufferTooSmallError",
    "ChallengeExpiredError",
    "CloudHsmMfaError",
    "ClusterIdRequiredError",
    "ClusterStateError",
    "ClusterUnknownError",
    "ConfigError",
    "ConfigFileError",
    "ConfigFileMissingError",
    "CryptoError",
    "DataTooLargeError",
    "EntryStatus",
    "Factor",
    "FileError",
    "FileMissingError",
    "GeneralError",
    "HsmDeviceError",
    "HsmRefusedError",
    "HsmUnreachableError",
    "InvalidHandleError",
    "KeyFileError",
    "KeyHandleInvalidError",
    "LIBRARY_PATH",
    "LoginStep",
    "LibraryInfo",
    "MfaNotRegisteredError",
    "MfaPreferences",
    "MfaRequiredError",
    "NotInitializedError",
    "NotRsaKeyError",
    "NotSignedError",
    "OperationActiveError",
    "OperationNotBegunError",
    "PartialFailureError",
    "PermissionDeniedError",
    "PinIncorrectError",
    "PrivateKey",
    "ProtocolError",
    "QuorumApprovalRequiredError",
    "QuorumError",
    "QuorumTokenInvalidError",
    "QuorumTooFewError",
    "PublicKey",
    "RETURN_CODE_NAMES",
    "Role",
    "Service",
    "Session",
    "SessionHandleInvalidError",
    "SignFunction",
    "Signer",
    "SignatureInvalidError",
    "SignatureLengthError",
    "TokenFile",
    "TokenFileError",
    "TokenFileHandleInvalidError",
    "TokenFileKind",
    "TokenNotIssuedError",
    "UnsupportedKeySizeError",
    "UserAlreadyLoggedInError",
    "UserExistsError",
    "UserLockedError",
    "UserLoggedInError",
    "UserNotFoundError",
    "UserNotLoggedInError",
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
__all__ += _ffi.__all__
