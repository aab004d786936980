"""Initialise / finalise, version information, and the base class of every object that
owns a library handle."""

from __future__ import annotations

import os
from ctypes import POINTER, byref, pointer
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Optional, Tuple, Type, TypeVar

from . import _lib
from .errors import AlreadyInitializedError, _check

#: The environment variable and the default path of the cluster configuration (SPEC §10).
CONFIG_ENV = "CLOUDHSM_MFA_CONFIG"
DEFAULT_CONFIG_PATH = "/opt/cloudhsm/etc/cloudhsm-cli.cfg"


class LibraryInfo(NamedTuple):
    """What ``CHM_GetInfo`` reports: ``version`` as a ``(major, minor, patch)`` tuple, the
    version of the function list, and the library's description."""

    version: Tuple[int, int, int]
    function_list_version: int
    description: str


def initialize(config_path: Optional[_lib.PathArg] = None) -> None:
    """Initialises the library (``CHM_Initialize``), optionally with the path of the cluster
    configuration file (``cloudhsm-cli.cfg``, SPEC §10), passed in ``CHM_INITIALIZE_ARGS``.

    The configuration is read by each :meth:`Session.open`: from ``config_path`` if given
    here, else from ``$CLOUDHSM_MFA_CONFIG``, else ``/opt/cloudhsm/etc/cloudhsm-cli.cfg``.

    Calling it is optional: the first call that needs the library initialises it with the
    defaults. Raises :class:`AlreadyInitializedError` when the library is initialised
    already (also by that automatic initialisation); call :func:`finalize` first to
    change the configuration path.
    """
    args = None
    if config_path is not None:
        args = pointer(
            _lib.CHM_INITIALIZE_ARGS(config_path=_lib.in_path(config_path, "config_path"), flags=0)
        )
    with _lib._state_lock:
        _check(_lib.lib.CHM_Initialize(args))
        _lib.mark_initialized(config_path)


def config_location() -> _lib.PathArg:
    """The configuration path a session reads, as the library finds it: the path given to
    :func:`initialize`, else ``$CLOUDHSM_MFA_CONFIG``, else
    ``/opt/cloudhsm/etc/cloudhsm-cli.cfg``."""
    if _lib.config_path is not None:
        return _lib.config_path
    return os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH


def finalize() -> None:
    """Ends the library (``CHM_Finalize``): every handle is closed, and objects still
    holding one raise on use. The next call that needs the library initialises it again."""
    with _lib._state_lock:
        _check(_lib.lib.CHM_Finalize())
        _lib.mark_finalized()


def ensure_initialized() -> None:
    """Initialises the library with the defaults unless it is initialised already (by
    this package, or by other code in the process, which ``CHMR_ALREADY_INITIALIZED``
    reveals)."""
    if _lib.initialized:
        return
    with _lib._state_lock:
        if _lib.initialized:
            return
        try:
            _check(_lib.lib.CHM_Initialize(None))
        except AlreadyInitializedError:
            pass
        _lib.mark_initialized()


def info() -> LibraryInfo:
    """The library's :class:`LibraryInfo` (``CHM_GetInfo``)."""
    ensure_initialized()
    raw = _lib.CHM_INFO()
    _check(_lib.lib.CHM_GetInfo(byref(raw)))
    v = raw.library_version
    return LibraryInfo(
        (v.major, v.minor, v.patch),
        raw.function_list_version,
        raw.description.decode("utf-8", errors="replace"),
    )


def version() -> str:
    """The library's version as a string, e.g. ``"0.1.0"``."""
    return "%d.%d.%d" % info().version


def function_list() -> Any:
    """The library's ``CHM_FUNCTION_LIST`` (a ctypes structure of function pointers; its
    ``version`` field is ``CHM_FUNCTION_LIST_VERSION``). Works before initialisation."""
    table = POINTER(_lib.CHM_FUNCTION_LIST)()
    _check(_lib.lib.CHM_GetFunctionList(byref(table)))
    return table.contents


_H = TypeVar("_H", bound="Handle")


class Handle:
    """An object that owns one library handle. It is closed by :meth:`close`, by leaving a
    ``with`` block, or, as a last resort, when the object is garbage-collected.

    After :meth:`close` the object keeps its (never reused) handle value, so any further
    use reaches the library, which answers with its invalid-handle code.
    """

    #: The name of the CHM_* function that closes this kind of handle.
    _close_function: ClassVar[str] = ""
    _handle: int
    _generation: int
    _closed: bool

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        raise TypeError(
            f"{type(self).__name__} objects are made by its class methods (load, ...)"
        )

    @classmethod
    def _adopt(cls: Type[_H], handle: int) -> _H:
        obj = cls.__new__(cls)
        obj._handle = int(handle)
        obj._generation = _lib.generation
        obj._closed = False
        return obj

    @property
    def handle(self) -> int:
        """The library handle (an int), for use with the C API directly."""
        return self._handle

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Closes the handle. Closing twice is harmless; a handle the library already
        dropped (after :func:`finalize`) is not closed again."""
        if self._closed:
            return
        if _lib.initialized and self._generation == _lib.generation:
            # A refused close (from a signing callback of this very session) leaves the
            # handle open, to be closed later.
            _check(getattr(_lib.lib, self._close_function)(self._handle))
        self._closed = True

    def __enter__(self: _H) -> _H:
        return self

    def __exit__(
        self,
        _type: Optional[Type[BaseException]],
        _value: Optional[BaseException],
        _traceback: Optional[TracebackType],
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # Last resort only; never raise, not even while the interpreter shuts down.
        try:
            if getattr(self, "_handle", 0) and not self._closed:
                self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} handle={self._handle} {state}>"
