"""Loading of libcloudhsm_mfa, the C prototypes of every function in
``include/cloudhsm_mfa.h``, the constants of the header, and the small helpers every
call goes through (argument conversion and the two-call output idiom).

Nothing here decides anything about token files or keys: that is the library's job.
"""

import ctypes
import ctypes.util
import operator
import os
import sys
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_char,
    c_char_p,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

# ---------------------------------------------------------------------------------------
# Constants, mirrored from include/cloudhsm_mfa.h (a test compares them with the header).
# ---------------------------------------------------------------------------------------

CHM_INVALID_HANDLE = 0
CHM_VERSION_MAJOR = 0
CHM_VERSION_MINOR = 1
CHM_VERSION_PATCH = 0
CHM_FUNCTION_LIST_VERSION = 3
CHM_TOKEN_LEN = 32
CHM_MAX_SIGNATURE_LEN = 512

CHM_TOKEN_FILE_MFA = 1
CHM_TOKEN_FILE_REGISTRATION = 2
CHM_TOKEN_FILE_QUORUM_APPROVAL = 3

CHM_ROLE_ADMIN = 1
CHM_ROLE_CRYPTO_USER = 2
CHM_ROLE_UNACTIVATED_ADMIN = 3

CHMF_CHANGE_QUORUM = 1

CHM_ENTRY_VALID = 0
CHM_ENTRY_UNSIGNED = 1
CHM_ENTRY_INVALID = 2
CHM_ENTRY_WRONG_LENGTH = 3

CHMR_OK = 0
CHMR_HOST_MEMORY = 2
CHMR_GENERAL_ERROR = 5
CHMR_FUNCTION_FAILED = 6
CHMR_ARGUMENTS_BAD = 7
CHMR_DATA_LEN_RANGE = 33
CHMR_DEVICE_ERROR = 48
CHMR_KEY_HANDLE_INVALID = 96
CHMR_KEY_SIZE_RANGE = 98
CHMR_KEY_TYPE_INCONSISTENT = 99
CHMR_OBJECT_HANDLE_INVALID = 130
CHMR_OPERATION_NOT_INITIALIZED = 145
CHMR_PIN_INCORRECT = 160
CHMR_PIN_LOCKED = 164
CHMR_SESSION_HANDLE_INVALID = 179
CHMR_SIGNATURE_INVALID = 192
CHMR_SIGNATURE_LEN_RANGE = 193
CHMR_USER_ALREADY_LOGGED_IN = 256
CHMR_USER_NOT_LOGGED_IN = 257
CHMR_BUFFER_TOO_SMALL = 336
CHMR_NOT_INITIALIZED = 400
CHMR_ALREADY_INITIALIZED = 401
CHMR_FILE_ERROR = 2147483649
CHMR_TOKEN_FILE_INVALID = 2147483650
CHMR_KEY_FILE_INVALID = 2147483651
CHMR_TOKEN_NOT_SIGNED = 2147483652
CHMR_CONFIG_INVALID = 2147483653
CHMR_CLUSTER_ID_REQUIRED = 2147483654
CHMR_CLUSTER_UNKNOWN = 2147483655
CHMR_HSM_UNREACHABLE = 2147483656
CHMR_PARTIAL_FAILURE = 2147483657
CHMR_MFA_NOT_REGISTERED = 2147483658
CHMR_MFA_REQUIRED = 2147483659
CHMR_CHALLENGE_EXPIRED = 2147483660
CHMR_TOKEN_NOT_ISSUED = 2147483661
CHMR_HSM_REFUSED = 2147483662
CHMR_USER_NOT_FOUND = 2147483663
CHMR_USER_EXISTS = 2147483664
CHMR_USER_LOGGED_IN = 2147483665
CHMR_PERMISSION_DENIED = 2147483666
CHMR_CLUSTER_STATE = 2147483667
CHMR_PROTOCOL_ERROR = 2147483668

#: Every return code by name, e.g. ``RETURN_CODE_NAMES[7] == "CHMR_ARGUMENTS_BAD"``.
RETURN_CODE_NAMES = {
    value: name for name, value in globals().items() if name.startswith("CHMR_")
}

# ---------------------------------------------------------------------------------------
# C types
# ---------------------------------------------------------------------------------------

CHM_RV = c_uint32
CHM_KEY_HANDLE = c_uint64
CHM_TOKEN_FILE_HANDLE = c_uint64
CHM_SESSION_HANDLE = c_uint64
#: CHM_RV (*)(void *user_data, const uint8_t *token, size_t token_len, uint8_t *sig,
#: size_t sig_len, size_t *sig_out_len)
CHM_SIGN_CALLBACK = CFUNCTYPE(
    c_uint32, c_void_p, POINTER(c_uint8), c_size_t, POINTER(c_uint8), c_size_t, POINTER(c_size_t)
)


class CHM_INITIALIZE_ARGS(Structure):
    _fields_ = [("config_path", c_char_p), ("flags", c_uint64)]


class CHM_VERSION(Structure):
    _fields_ = [("major", c_uint32), ("minor", c_uint32), ("patch", c_uint32)]


class CHM_INFO(Structure):
    _fields_ = [
        ("library_version", CHM_VERSION),
        ("function_list_version", c_uint32),
        ("description", c_char * 64),
    ]


class CHM_FUNCTION_LIST(Structure):
    pass  # fields set below, once the prototypes are known


# Every exported function: name -> (restype, argtypes), in the order of the header's
# CHM_FUNCTION_LIST (which is also the order of the declarations).
PROTOTYPES = {
    "CHM_Initialize": (CHM_RV, [POINTER(CHM_INITIALIZE_ARGS)]),
    "CHM_Finalize": (CHM_RV, []),
    "CHM_GetInfo": (CHM_RV, [POINTER(CHM_INFO)]),
    "CHM_GetFunctionList": (CHM_RV, [POINTER(POINTER(CHM_FUNCTION_LIST))]),
    "CHM_GetLastError": (CHM_RV, [POINTER(c_char), POINTER(c_size_t)]),
    "CHM_GetReturnCodeText": (c_char_p, [CHM_RV]),
    "CHM_PrivateKeyLoad": (CHM_RV, [c_char_p, POINTER(CHM_KEY_HANDLE)]),
    "CHM_PrivateKeyFromPem": (CHM_RV, [POINTER(c_uint8), c_size_t, POINTER(CHM_KEY_HANDLE)]),
    "CHM_PublicKeyLoad": (CHM_RV, [c_char_p, POINTER(CHM_KEY_HANDLE)]),
    "CHM_PublicKeyFromPem": (CHM_RV, [POINTER(c_uint8), c_size_t, POINTER(CHM_KEY_HANDLE)]),
    "CHM_PublicKeyFromPrivate": (CHM_RV, [CHM_KEY_HANDLE, POINTER(CHM_KEY_HANDLE)]),
    "CHM_KeyGetBits": (CHM_RV, [CHM_KEY_HANDLE, POINTER(c_uint32)]),
    "CHM_KeyClose": (CHM_RV, [CHM_KEY_HANDLE]),
    "CHM_GenerateKeyPair": (CHM_RV, [c_uint32, c_char_p, c_char_p]),
    "CHM_SignToken": (
        CHM_RV,
        [CHM_KEY_HANDLE, POINTER(c_uint8), c_size_t, POINTER(c_uint8), POINTER(c_size_t)],
    ),
    "CHM_VerifyToken": (
        CHM_RV,
        [CHM_KEY_HANDLE, POINTER(c_uint8), c_size_t, POINTER(c_uint8), c_size_t],
    ),
    "CHM_TokenFileLoad": (CHM_RV, [c_char_p, POINTER(CHM_TOKEN_FILE_HANDLE)]),
    "CHM_TokenFileParse": (
        CHM_RV,
        [POINTER(c_uint8), c_size_t, POINTER(CHM_TOKEN_FILE_HANDLE)],
    ),
    "CHM_TokenFileCreateMfa": (
        CHM_RV,
        [POINTER(c_uint8), c_size_t, POINTER(CHM_TOKEN_FILE_HANDLE)],
    ),
    "CHM_TokenFileCreateRegistration": (
        CHM_RV,
        [POINTER(c_uint8), c_size_t, POINTER(CHM_TOKEN_FILE_HANDLE)],
    ),
    "CHM_TokenFileCreateApproval": (
        CHM_RV,
        [POINTER(c_uint8), c_size_t, POINTER(CHM_TOKEN_FILE_HANDLE)],
    ),
    "CHM_TokenFileGetKind": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, POINTER(c_uint32)]),
    "CHM_TokenFileGetEntryCount": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, POINTER(c_size_t)]),
    "CHM_TokenFileGetToken": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, c_size_t, POINTER(c_uint8)]),
    "CHM_TokenFileGetApprovalToken": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, POINTER(c_uint8)]),
    "CHM_TokenFileGetSignature": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, c_size_t, POINTER(c_uint8), POINTER(c_size_t)],
    ),
    "CHM_TokenFileGetApprovalData": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, c_size_t, POINTER(c_uint8), POINTER(c_size_t)],
    ),
    "CHM_TokenFileGetApprover": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, c_size_t, POINTER(c_char), POINTER(c_size_t)],
    ),
    "CHM_TokenFileSign": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, CHM_KEY_HANDLE, c_char_p]),
    "CHM_TokenFileSetSignature": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, c_size_t, POINTER(c_uint8), c_size_t],
    ),
    "CHM_TokenFileAddApproval": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, c_char_p, POINTER(c_uint8), c_size_t],
    ),
    "CHM_TokenFileVerify": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, CHM_KEY_HANDLE, c_char_p]),
    "CHM_TokenFileCheckEntry": (
        CHM_RV,
        [CHM_TOKEN_FILE_HANDLE, CHM_KEY_HANDLE, c_size_t, POINTER(c_uint32)],
    ),
    "CHM_TokenFileWrite": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, c_char_p]),
    "CHM_TokenFileToJson": (CHM_RV, [CHM_TOKEN_FILE_HANDLE, POINTER(c_char), POINTER(c_size_t)]),
    "CHM_TokenFileClose": (CHM_RV, [CHM_TOKEN_FILE_HANDLE]),
    "CHM_SignTokenFile": (CHM_RV, [c_char_p, c_char_p, c_char_p, c_char_p]),
    "CHM_PublicKeyToPem": (CHM_RV, [CHM_KEY_HANDLE, POINTER(c_char), POINTER(c_size_t)]),
    "CHM_OpenSession": (CHM_RV, [c_char_p, POINTER(CHM_SESSION_HANDLE)]),
    "CHM_CloseSession": (CHM_RV, [CHM_SESSION_HANDLE]),
    "CHM_Login": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p]),
    "CHM_LoginMfaBegin": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p, c_char_p]),
    "CHM_LoginMfaFinish": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p]),
    "CHM_LoginMfaWithSigner": (
        CHM_RV,
        [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p, CHM_SIGN_CALLBACK, c_void_p],
    ),
    "CHM_Logout": (CHM_RV, [CHM_SESSION_HANDLE]),
    "CHM_ChangeMfaBegin": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p]),
    "CHM_ChangeMfaFinish": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_char_p, c_char_p, c_uint32]),
    "CHM_ChangeMfaWithSigner": (
        CHM_RV,
        [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p, c_char_p, c_uint32, CHM_SIGN_CALLBACK, c_void_p],
    ),
    "CHM_DeregisterMfa": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p, c_uint32]),
    "CHM_CreateUser": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p]),
    "CHM_DeleteUser": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32]),
    "CHM_ChangePassword": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p, c_uint32, c_char_p]),
    "CHM_ListUsers": (CHM_RV, [CHM_SESSION_HANDLE, POINTER(c_char), POINTER(c_size_t)]),
    "CHM_ActivateCluster": (CHM_RV, [CHM_SESSION_HANDLE, c_char_p]),
}

CHM_FUNCTION_LIST._fields_ = [("version", c_uint32)] + [
    (name, CFUNCTYPE(restype, *argtypes)) for name, (restype, argtypes) in PROTOTYPES.items()
]

# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

#: The environment variable that names the shared library to load.
LIBRARY_ENV = "CLOUDHSM_MFA_LIB"


def _file_name():
    if sys.platform == "darwin":
        return "libcloudhsm_mfa.dylib"
    if sys.platform == "win32":
        return "cloudhsm_mfa.dll"
    return "libcloudhsm_mfa.so"


def _repo_build(package_file=__file__):
    """``<repo>/target/release/<library>``, for a package inside ``<repo>/bindings/python``."""
    repo = Path(package_file).resolve().parents[3]
    return repo / "target" / "release" / _file_name()


def _load():
    """Opens the shared library: ``$CLOUDHSM_MFA_LIB`` if set (and nothing else then),
    else the repository's release build, else whatever the system linker finds."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as e:
            raise ImportError(
                f"cannot load libcloudhsm_mfa from {LIBRARY_ENV}={explicit}: {e}"
            ) from e
    tried = []
    build = _repo_build()
    if build.is_file():
        try:
            return ctypes.CDLL(str(build)), str(build)
        except OSError as e:
            tried.append(f"{build} ({e})")
    else:
        tried.append(f"{build} (no such file)")
    found = ctypes.util.find_library("cloudhsm_mfa")
    if found:
        try:
            return ctypes.CDLL(found), found
        except OSError as e:
            tried.append(f"{found} from find_library('cloudhsm_mfa') ({e})")
    else:
        tried.append("find_library('cloudhsm_mfa') (not found)")
    raise ImportError(
        "cannot find libcloudhsm_mfa; tried "
        + "; ".join(tried)
        + f". Build it with `cargo build --release` or set {LIBRARY_ENV} to its path."
    )


lib, LIBRARY_PATH = _load()

for _name, (_restype, _argtypes) in PROTOTYPES.items():
    try:
        _fn = getattr(lib, _name)
    except AttributeError as e:
        raise ImportError(f"{LIBRARY_PATH} does not export {_name}; is it out of date?") from e
    _fn.restype = _restype
    _fn.argtypes = _argtypes
del _name, _restype, _argtypes, _fn

# ---------------------------------------------------------------------------------------
# Library state seen from Python
# ---------------------------------------------------------------------------------------

_state_lock = threading.Lock()
#: Whether this package believes the library is initialised.
initialized = False
#: Grows with every initialisation; objects remember the one they were made in, so that a
#: handle from before a CHM_Finalize is not closed again.
generation = 0


def mark_initialized():
    global initialized, generation
    initialized = True
    generation += 1


def mark_finalized():
    global initialized
    initialized = False


# ---------------------------------------------------------------------------------------
# Argument conversion
# ---------------------------------------------------------------------------------------


def in_bytes(data):
    """A bytes-like object as ``(uint8_t *, size_t)`` arguments. The array is a copy,
    kept alive by the caller for the duration of the call."""
    if isinstance(data, str):
        raise TypeError("expected bytes, got str")
    raw = bytes(data)
    return (c_uint8 * len(raw)).from_buffer_copy(raw), len(raw)


def in_str(value, what):
    """A ``str`` (or ``None``) as a NUL-terminated UTF-8 string argument."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value.encode("utf-8")


def in_path(value, what="path"):
    """A ``str``/``os.PathLike`` (or ``None``) as a NUL-terminated path argument."""
    if value is None:
        return None
    raw = os.fsencode(value)
    if b"\0" in raw:
        raise ValueError(f"{what} contains a NUL character")
    return raw


def two_call(check, fn, *args, text=False):
    """Calls ``fn(*args, buf, len)`` with the two-call idiom and returns the output as
    ``bytes`` (or, with ``text``, as ``str`` without its terminating NUL). ``check``
    turns a return code into an exception."""
    size = c_size_t(0)
    check(fn(*args, None, byref(size)))
    if size.value == 0:
        return "" if text else b""
    while True:
        buf = (c_char if text else c_uint8) * size.value
        out = buf()
        rv = fn(*args, out, byref(size))
        if rv == CHMR_BUFFER_TOO_SMALL:
            continue  # the output grew between the calls; size holds the new need
        check(rv)
        raw = bytes(out)[: size.value]
        if text:
            if raw.endswith(b"\0"):
                raw = raw[:-1]
            return raw.decode("utf-8", errors="replace")
        return raw


def in_uint(value, what, maximum):
    """An int argument for an unsigned C parameter; ctypes would silently wrap a negative
    or too large value, so those are refused here."""
    value = operator.index(value)
    if value < 0 or value > maximum:
        raise ValueError(f"{what} is {value}; it must be 0 to {maximum}")
    return value


UINT32_MAX = 0xFFFFFFFF
SIZE_MAX = ctypes.c_size_t(-1).value
