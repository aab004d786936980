"""Loading of libcloudhsm_mfa with the C prototypes of every function in
``include/cloudhsm_mfa.h`` (declared in the generated ``_ffi.py``, with the header's
constants and structures), and the small helpers every call goes through (argument
conversion and the two-call output idiom).

Nothing here decides anything about token files or keys: that is the library's job.
"""

import ctypes
import ctypes.util
import operator
import os
import sys
import threading
from ctypes import byref, c_char, c_size_t, c_uint8
from pathlib import Path

# ---------------------------------------------------------------------------------------
# The header's constants (CHM_*, CHMR_*), C types, structures and the prototypes of every
# function, from the generated _ffi.py (a test checks it is up to date with the header).
# ---------------------------------------------------------------------------------------

from ._ffi import *  # noqa: E402,F401,F403
from ._ffi import PROTOTYPES, RETURN_CODE_NAMES  # noqa: E402,F401

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


BYTES_LIKE = (bytes, bytearray, memoryview)


def as_bytes(data, what):
    """The bytes of a byte argument. Only bytes-like objects (``bytes``, ``bytearray``,
    ``memoryview``) are taken: anything else, an ``int`` above all (``bytes(32)`` would be
    32 zero bytes), raises :class:`TypeError` naming the argument ``what``."""
    if not isinstance(data, BYTES_LIKE):
        raise TypeError(
            f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}"
        )
    return bytes(data)


def in_bytes(data, what):
    """A bytes-like object (see :func:`as_bytes`) as ``(uint8_t *, size_t)`` arguments.
    The array is a copy, kept alive by the caller for the duration of the call."""
    raw = as_bytes(data, what)
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
