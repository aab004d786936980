"""Loading of libcloudhsm_mfa with the C prototypes of every function in
``include/cloudhsm_mfa.h`` (declared in the generated ``_ffi.py``, with the header's
constants and structures), and the small helpers every call goes through (argument
conversion and the two-call output idiom).

Nothing here decides anything about token files or keys: that is the library's job.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import operator
import os
import sys
import threading
from ctypes import byref, c_char, c_size_t, c_uint8
from pathlib import Path
from typing import Any, Callable, List, Literal, Optional, SupportsIndex, Tuple, Union, overload

# ---------------------------------------------------------------------------------------
# The header's constants (CHM_*, CHMR_*), C types, structures and the prototypes of every
# function, from the generated _ffi.py (a test checks it is up to date with the header).
# ---------------------------------------------------------------------------------------

from ._ffi import *  # noqa: E402,F401,F403
from ._ffi import CHM_FUNCTION_LIST as CHM_FUNCTION_LIST
from ._ffi import CHM_INFO as CHM_INFO
from ._ffi import CHM_INITIALIZE_ARGS as CHM_INITIALIZE_ARGS
from ._ffi import CHM_KEY_HANDLE as CHM_KEY_HANDLE
from ._ffi import CHM_LOGIN_STEP as CHM_LOGIN_STEP
from ._ffi import CHM_MFA_SETTINGS as CHM_MFA_SETTINGS
from ._ffi import CHM_SESSION_HANDLE as CHM_SESSION_HANDLE
from ._ffi import CHM_SIGN_CALLBACK as CHM_SIGN_CALLBACK
from ._ffi import CHM_TOKEN_FILE_HANDLE as CHM_TOKEN_FILE_HANDLE
from ._ffi import CHM_VERSION as CHM_VERSION
from ._ffi import PROTOTYPES as PROTOTYPES
from ._ffi import RETURN_CODE_NAMES as RETURN_CODE_NAMES

#: A path argument: what :func:`os.fsencode` takes.
PathArg = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
#: A bytes-like argument.
BytesArg = Union[bytes, bytearray, memoryview]

# ---------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------

#: The environment variable that names the shared library to load.
LIBRARY_ENV = "CLOUDHSM_MFA_LIB"


def _file_name() -> str:
    if sys.platform == "darwin":
        return "libcloudhsm_mfa.dylib"
    if sys.platform == "win32":
        return "cloudhsm_mfa.dll"
    return "libcloudhsm_mfa.so"


def _packaged(package_file: str = __file__) -> Path:
    """The library inside the package, where the wheel puts it (see hatch_build.py)."""
    return Path(package_file).resolve().parent / _file_name()


def _repo_build(package_file: str = __file__) -> Path:
    """``<repo>/target/release/<library>``, for a package inside ``<repo>/bindings/python``."""
    repo = Path(package_file).resolve().parents[3]
    return repo / "target" / "release" / _file_name()


def _load() -> Tuple[ctypes.CDLL, str]:
    """Opens the shared library: ``$CLOUDHSM_MFA_LIB`` if set (and nothing else then),
    else the library inside the package (an installed wheel), else the repository's
    release build (a checkout), else the system's (``find_library``, which finds
    ``libcloudhsm_mfa.so.0`` through the loader's cache)."""
    explicit = os.environ.get(LIBRARY_ENV)
    if explicit:
        try:
            return ctypes.CDLL(explicit), explicit
        except OSError as e:
            raise ImportError(
                f"cannot load libcloudhsm_mfa from {LIBRARY_ENV}={explicit}: {e}"
            ) from e
    tried: List[str] = []
    for candidate in (_packaged(), _repo_build()):
        if candidate.is_file():
            try:
                return ctypes.CDLL(str(candidate)), str(candidate)
            except OSError as e:
                tried.append(f"{candidate} ({e})")
        else:
            tried.append(f"{candidate} (no such file)")
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
        + f". Install the package with pip (its wheel carries the library), build it with "
        f"`cargo build --release`, or set {LIBRARY_ENV} to its path."
    )


lib: ctypes.CDLL
#: The path of the library that was loaded.
LIBRARY_PATH: str
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
#: The configuration path given to the last initialisation by this package, if any.
config_path: Optional[PathArg] = None


def mark_initialized(path: Optional[PathArg] = None) -> None:
    global initialized, generation, config_path
    initialized = True
    generation += 1
    config_path = path


def mark_finalized() -> None:
    global initialized
    initialized = False


# ---------------------------------------------------------------------------------------
# Argument conversion
# ---------------------------------------------------------------------------------------


BYTES_LIKE = (bytes, bytearray, memoryview)


def as_bytes(data: object, what: str) -> bytes:
    """The bytes of a byte argument. Only bytes-like objects (``bytes``, ``bytearray``,
    ``memoryview``) are taken: anything else, an ``int`` above all (``bytes(32)`` would be
    32 zero bytes), raises :class:`TypeError` naming the argument ``what``."""
    if not isinstance(data, BYTES_LIKE):
        raise TypeError(
            f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}"
        )
    return bytes(data)


def in_bytes(data: object, what: str) -> Tuple[Any, int]:
    """A bytes-like object (see :func:`as_bytes`) as ``(uint8_t *, size_t)`` arguments.
    The array is a copy, kept alive by the caller for the duration of the call."""
    raw = as_bytes(data, what)
    return (c_uint8 * len(raw)).from_buffer_copy(raw), len(raw)


def in_str(value: Optional[str], what: str) -> Optional[bytes]:
    """A ``str`` (or ``None``) as a NUL-terminated UTF-8 string argument."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    if "\0" in value:
        raise ValueError(f"{what} contains a NUL character")
    return value.encode("utf-8")


def in_path(value: Optional[PathArg], what: str = "path") -> Optional[bytes]:
    """A ``str``/``os.PathLike`` (or ``None``) as a NUL-terminated path argument."""
    if value is None:
        return None
    raw = os.fsencode(value)
    if b"\0" in raw:
        raise ValueError(f"{what} contains a NUL character")
    return raw


@overload
def two_call(
    check: Callable[[int], None], fn: Any, *args: Any, text: Literal[False] = False
) -> bytes: ...
@overload
def two_call(check: Callable[[int], None], fn: Any, *args: Any, text: Literal[True]) -> str: ...
def two_call(check: Callable[[int], None], fn: Any, *args: Any, text: bool = False) -> Union[bytes, str]:
    """Calls ``fn(*args, buf, len)`` with the two-call idiom and returns the output as
    ``bytes`` (or, with ``text``, as ``str`` without its terminating NUL). ``check``
    turns a return code into an exception."""
    size = c_size_t(0)
    check(fn(*args, None, byref(size)))
    if size.value == 0:
        return "" if text else b""
    while True:
        out: Any = ((c_char if text else c_uint8) * size.value)()
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


def in_uint(value: SupportsIndex, what: str, maximum: int) -> int:
    """An int argument for an unsigned C parameter; ctypes would silently wrap a negative
    or too large value, so those are refused here."""
    value = operator.index(value)
    if value < 0 or value > maximum:
        raise ValueError(f"{what} is {value}; it must be 0 to {maximum}")
    return value


UINT32_MAX = 0xFFFFFFFF
SIZE_MAX = ctypes.c_size_t(-1).value
