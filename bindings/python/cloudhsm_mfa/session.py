"""Sessions with an HSM cluster (SPEC §4–§10): password and token-sign MFA logins, MFA
key registration, rotation and removal, user management, the user list, and quorum
(SPEC §7): tokens, approvals, quorum values and quorum keys.

Every check happens in the library and on the HSMs; this module converts arguments,
adapts Python signers to the library's signing callback, and raises the package's
exceptions.
"""

from __future__ import annotations

import enum
import json
import threading
from ctypes import byref, c_size_t, c_uint32, create_string_buffer, memmove, string_at
from typing import Any, Callable, Dict, List, Mapping, Optional, Type, TypedDict, TypeVar, Union

from . import _lib
from ._runtime import Handle, config_location, ensure_initialized
from .errors import _check, error_for
from .keys import PrivateKey, PublicKey
from .token_file import TokenFile

#: Signs one 32-byte token and returns the signature (see :class:`Session`).
SignFunction = Callable[[bytes], bytes]
#: What signs tokens for a session: a :class:`PrivateKey` or a :data:`SignFunction`.
Signer = Union[PrivateKey, SignFunction]


class Role(enum.IntEnum):
    """A user's role (``CHM_ROLE_*``). Session methods take these or their names as the
    CloudHSM CLI spells them: ``"admin"``, ``"crypto-user"``, ``"unactivated-admin"``."""

    ADMIN = _lib.CHM_ROLE_ADMIN
    CRYPTO_USER = _lib.CHM_ROLE_CRYPTO_USER
    UNACTIVATED_ADMIN = _lib.CHM_ROLE_UNACTIVATED_ADMIN

    @property
    def label(self) -> str:
        """The role's name in the CLI and in ``list_users``, e.g. ``"crypto-user"``."""
        return self.name.lower().replace("_", "-")

    @classmethod
    def parse(cls, role: RoleArg) -> Role:
        """A :class:`Role` from a role name (case-sensitive, as on the HSM), a
        :class:`Role` or its number. Anything else raises :class:`ValueError` (or
        :class:`TypeError` for a value of another type)."""
        return _parse_member(cls, role, "role", "CHM_ROLE_*", "crypto-user")


#: A role: a :class:`Role`, its name (``"crypto-user"``) or its ``CHM_ROLE_*`` number.
RoleArg = Union["Role", str, int]
#: A quorum service: a :class:`Service`, its name (``"user"``) or its number.
ServiceArg = Union["Service", str, int]
#: An MFA factor: a :class:`Factor`, its name (``"software-token"``) or its number.
FactorArg = Union["Factor", str, int]

_E = TypeVar("_E", "Role", "Service", "Factor")


def _parse_member(cls: Type[_E], value: object, what: str, constants: str, example: str) -> _E:
    """The member of ``cls`` that ``value`` names (by its ``label``) or numbers, or the
    error that says why there is none."""
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        for member in cls:
            if member.label == value:
                return member
        names = ", ".join(repr(m.label) for m in cls)
        raise ValueError(f"{what} {value!r} is not one of {names} ({what}s are case-sensitive)")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return cls(value)
        except ValueError:
            raise ValueError(
                f"{what} {value} is not one of the {constants} values "
                f"{', '.join(str(int(m)) for m in cls)}"
            ) from None
    raise TypeError(f"{what} must be a {what} name such as {example!r}, not {type(value).__name__}")


class Service(enum.IntEnum):
    """A quorum service (``CHM_SERVICE_*``). Methods take these or their names as the
    CloudHSM CLI spells them: ``"user"``, ``"quorum"``, ``"registration"``."""

    USER = _lib.CHM_SERVICE_USER
    QUORUM = _lib.CHM_SERVICE_QUORUM
    REGISTRATION = _lib.CHM_SERVICE_REGISTRATION

    @property
    def label(self) -> str:
        """The service's name in the CLI, e.g. ``"registration"``."""
        return self.name.lower()

    @classmethod
    def parse(cls, service: ServiceArg) -> Service:
        """A :class:`Service` from its name or value; anything else raises
        :class:`ValueError` (or :class:`TypeError` for a value of another type)."""
        return _parse_member(cls, service, "service", "CHM_SERVICE_*", "user")


_SCOPES = {"user": _lib.CHM_QUORUM_SCOPE_USER, "all": _lib.CHM_QUORUM_SCOPE_ALL}


class Factor(enum.IntFlag):
    """An MFA factor (``CHM_FACTOR_*``; SPEC §11). Methods take these or their names as
    the CLI spells them: ``"token-sign"``, ``"software-token"``, ``"sms"``, ``"email"``."""

    TOKEN_SIGN = _lib.CHM_FACTOR_TOKEN_SIGN
    SOFTWARE_TOKEN = _lib.CHM_FACTOR_SOFTWARE_TOKEN
    SMS = _lib.CHM_FACTOR_SMS
    EMAIL = _lib.CHM_FACTOR_EMAIL

    @property
    def label(self) -> str:
        """The factor's name in the CLI and in ``list_users``, e.g. ``"software-token"``."""
        return (self.name or "").lower().replace("_", "-")

    @classmethod
    def parse(cls, factor: FactorArg) -> Factor:
        """A :class:`Factor` from its name or value; anything else raises
        :class:`ValueError` (or :class:`TypeError`)."""
        return _parse_member(cls, factor, "factor", "CHM_FACTOR_*", "sms")

    @classmethod
    def of_mask(cls, mask: int) -> List[Factor]:
        """The factors of a ``CHM_FACTOR_*`` mask, in the order of listings."""
        return [f for f in (cls.TOKEN_SIGN, cls.SOFTWARE_TOKEN, cls.SMS, cls.EMAIL) if mask & f]


class LoginStep:
    """Where a login stands (SPEC §11.2): ``kind`` is ``"done"``, ``"token-sign"``,
    ``"code"`` (``factor`` says which, ``destination`` where an SMS or email code went) or
    ``"select"`` (``factors`` lists the choices)."""

    _KINDS = {
        _lib.CHM_STEP_DONE: "done",
        _lib.CHM_STEP_TOKEN_SIGN: "token-sign",
        _lib.CHM_STEP_CODE: "code",
        _lib.CHM_STEP_SELECT: "select",
    }

    kind: str
    factor: Optional[Factor]
    factors: List[Factor]
    destination: Optional[str]

    def __init__(self, raw: Any) -> None:
        self.kind = self._KINDS[raw.kind]
        self.factor = Factor(raw.factor) if raw.factor else None
        self.factors = Factor.of_mask(raw.factors)
        self.destination = raw.destination.decode("utf-8", errors="replace") or None

    def __repr__(self) -> str:
        return (f"LoginStep(kind={self.kind!r}, factor={self.factor!r}, factors={self.factors!r}, "
                f"destination={self.destination!r})")


#: The settings of one factor: ``{"Enabled": bool, "PreferredMfa": bool}``, keys optional.
FactorSettings = Mapping[str, Optional[bool]]
#: The settings of a request, by factor (names or :class:`Factor` values); a mapping's key
#: type is invariant, so each kind of key is a type of its own.
MfaSettings = Union[
    Mapping[str, FactorSettings], Mapping["Factor", FactorSettings], Mapping[FactorArg, FactorSettings]
]


class MfaPreferences(TypedDict, total=False):
    """MFA preferences as ``get-mfa-preference`` prints them (Cognito's vocabulary:
    ``SMS_MFA``, ``SOFTWARE_TOKEN_MFA``, ``EMAIL_OTP``, ``TOKEN_SIGN_MFA``); each key is
    left out when empty."""

    UserMFASettingList: List[str]
    PreferredMfaSetting: str


def _setting(value: object, what: str) -> int:
    if value is None:
        return _lib.CHM_SETTING_UNSET
    if not isinstance(value, bool):
        raise TypeError(f"{what} must be True, False or None, not {type(value).__name__}")
    return _lib.CHM_SETTING_TRUE if value else _lib.CHM_SETTING_FALSE


def _settings(settings: MfaSettings) -> Any:
    """A ``CHM_MFA_SETTINGS`` from ``{factor: {"Enabled": bool, "PreferredMfa": bool}}``."""
    raw = _lib.CHM_MFA_SETTINGS()
    fields = {
        Factor.TOKEN_SIGN: raw.token_sign,
        Factor.SOFTWARE_TOKEN: raw.software_token,
        Factor.SMS: raw.sms,
        Factor.EMAIL: raw.email,
    }
    for name, setting in settings.items():
        factor = Factor.parse(name)
        if not isinstance(setting, Mapping):
            raise TypeError(f"the settings of {factor.label} must be a dict with Enabled and PreferredMfa")
        unknown = set(setting) - {"Enabled", "PreferredMfa"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} in the settings of {factor.label}")
        target = fields[factor]
        target.enabled = _setting(setting.get("Enabled"), f"{factor.label} Enabled")
        target.preferred = _setting(setting.get("PreferredMfa"), f"{factor.label} PreferredMfa")
    return raw


def _preferences(enabled: c_uint32, preferred: c_uint32) -> MfaPreferences:
    """The preferences as ``get-mfa-preference`` prints them, in Cognito's vocabulary."""
    names = {Factor.TOKEN_SIGN: "TOKEN_SIGN_MFA", Factor.SOFTWARE_TOKEN: "SOFTWARE_TOKEN_MFA",
             Factor.SMS: "SMS_MFA", Factor.EMAIL: "EMAIL_OTP"}
    out: MfaPreferences = {}
    listed = [names[f] for f in Factor.of_mask(enabled.value)]
    if listed:
        out["UserMFASettingList"] = listed
    if preferred.value:
        out["PreferredMfaSetting"] = names[Factor(preferred.value)]
    return out


def _flags(change_quorum: bool) -> int:
    return _lib.CHMF_CHANGE_QUORUM if change_quorum else 0


def _signature_bytes(signature: object, room: int) -> bytes:
    """The signer's return value as bytes that fit the library's buffer, or an exception
    saying why not."""
    if not isinstance(signature, _lib.BYTES_LIKE):
        raise TypeError(
            f"the signer returned {type(signature).__name__}; it must return the signature as bytes"
        )
    data = bytes(signature)
    if not data:
        raise ValueError("the signer returned an empty signature")
    if len(data) > room:
        raise ValueError(
            f"the signer returned a signature of {len(data)} bytes; at most {room} bytes fit"
        )
    return data


class _SignerCallback:
    """One Python signer as a ``CHM_SIGN_CALLBACK`` for the duration of one library call.

    It is called on the thread of the call that uses it, once per token and one token at
    a time; from inside it any method may be called except on the session whose
    operation called it and :func:`finalize`, which raise :class:`OperationActiveError`.
    Whatever goes
    wrong in Python (the signer raises, or returns something that is not a signature)
    is kept in :attr:`error` and answered with ``CHMR_FUNCTION_FAILED``, which stops the
    operation; the caller re-raises it once the library call has returned. After a
    failure the signer is not called again.
    """

    _sign: SignFunction
    error: Optional[BaseException]
    c_callback: Any

    def __init__(self, signer: object) -> None:
        if isinstance(signer, PrivateKey):
            self._sign = signer.sign_token  # signs in the library
        elif isinstance(signer, PublicKey):
            raise TypeError("a PublicKey cannot sign; pass the PrivateKey")
        elif callable(signer):
            self._sign = signer
        else:
            raise TypeError(
                "signer must be a PrivateKey or a callable taking the 32-byte token and "
                f"returning the signature, not {type(signer).__name__}"
            )
        self.error = None
        self._lock = threading.Lock()
        # The ctypes object must outlive the call: the caller keeps this object alive.
        self.c_callback = _lib.CHM_SIGN_CALLBACK(self._call)

    def _call(
        self, _user_data: Any, token: Any, token_len: int, sig: Any, sig_len: int, sig_out_len: Any
    ) -> int:
        # No exception may leave this function: ctypes would print it and answer 0, which
        # is CHMR_OK.
        try:
            with self._lock:
                if self.error is not None:
                    return _lib.CHMR_FUNCTION_FAILED
                try:
                    data = _signature_bytes(self._sign(string_at(token, token_len)), sig_len)
                    memmove(sig, data, len(data))
                    sig_out_len[0] = len(data)
                except BaseException as e:  # re-raised by the caller, after the call
                    self.error = e
                    return _lib.CHMR_FUNCTION_FAILED
            return _lib.CHMR_OK
        except BaseException:  # a failure of the lock itself
            return _lib.CHMR_FUNCTION_FAILED

    def finish(self, rv: int, *inputs: Optional[_lib.PathArg]) -> None:
        """After the library call: re-raises the signer's exception (with the library's
        error as its cause, unless it has a cause of its own), else raises for ``rv``
        unless it is ``CHMR_OK`` (``inputs``: the files the call reads, see ``_check``)."""
        error, self.error = self.error, None
        self.c_callback = None
        if error is None:
            _check(rv, *inputs)
            return
        if rv == _lib.CHMR_OK or error.__cause__ is not None:
            raise error
        raise error from error_for(rv)


class Session(Handle):
    """A session with one cluster of the configuration (``CHM_OpenSession``): one
    connection to each of its HSMs, and at most one login.

    Open it with :meth:`open`, preferably as a context manager; :meth:`close` (or leaving
    the ``with`` block) closes the connections, which ends the login on every HSM. A
    closed session raises :class:`SessionHandleInvalidError`.

    Roles are role names (``"admin"``, ``"crypto-user"``, ``"unactivated-admin"``) or
    :class:`Role` values; an unknown role raises :class:`ValueError` before anything is
    sent. Paths are ``str`` or ``os.PathLike``.

    A signer (for :meth:`login_mfa` and :meth:`change_mfa`) is a :class:`PrivateKey`,
    which signs in the library, or a callable that takes a 32-byte token (``bytes``) and
    returns its signature (``bytes``): RSASSA-PKCS1-v1_5 over the token as a ready-made
    SHA-256 digest, as ``openssl pkeyutl -sign -pkeyopt digest:sha256`` makes it. It is
    called on the thread of the call that uses it, once per token and one token at a time;
    from inside it any method may be called except on the session whose operation called
    it and :func:`finalize`, which raise :class:`OperationActiveError`. If it raises,
    or returns something that is not such a signature, the operation stops and that
    exception is raised from the method, with the library's error as its ``__cause__``
    (unless the signer's exception has a cause of its own).
    """

    _close_function = "CHM_CloseSession"
    #: The ``cluster_id`` the session was opened with (``None``: the only cluster).
    cluster_id: Optional[str]

    @classmethod
    def open(cls, cluster_id: Optional[str] = None) -> Session:
        """Opens a session with the cluster ``cluster_id`` of the configuration (see
        :func:`initialize`); with ``None``, the configuration's only cluster.

        Raises :class:`ClusterIdRequiredError` when the configuration lists several
        clusters and none is chosen, :class:`ClusterUnknownError` for an id no cluster
        has, :class:`ConfigError` for a missing or unusable configuration. HSMs that do
        not answer do not stop it: operations then raise :class:`HsmUnreachableError`.
        A configuration file that cannot be read raises :class:`ConfigFileError` (both a
        :class:`ConfigError` and a :class:`FileError`), and :class:`ConfigFileMissingError`
        (also a :class:`FileNotFoundError`) when it does not exist.
        """
        cluster = _lib.in_str(cluster_id, "cluster_id")
        ensure_initialized()
        handle = _lib.CHM_SESSION_HANDLE(0)
        rv = _lib.lib.CHM_OpenSession(cluster, byref(handle))
        if rv != _lib.CHMR_OK:
            raise error_for(rv, config=config_location())
        session = cls._adopt(handle.value)
        session.cluster_id = cluster_id
        return session

    # -- logging in and out --------------------------------------------------------------

    def login(self, username: str, role: RoleArg, password: str) -> None:
        """Logs in with a password on every HSM. Raises :class:`PinIncorrectError` for a
        wrong user name, role or password, :class:`UserLockedError` for a locked user,
        :class:`MfaRequiredError` for a user with MFA."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(password, "password"),
        )
        _check(_lib.lib.CHM_Login(self._handle, *args))

    def login_mfa_begin(self, username: str, role: RoleArg, password: str, token_path: _lib.PathArg) -> None:
        """First phase of a token-sign MFA login: checks the password on every HSM and
        writes their challenges to ``token_path`` as an MFA token file (mode 0600), to be
        signed with the user's MFA key and passed to :meth:`login_mfa_finish`."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(password, "password"),
            _lib.in_path(token_path, "token_path"),
        )
        _check(_lib.lib.CHM_LoginMfaBegin(self._handle, *args))

    def login_mfa_finish(self, signed_path: Optional[_lib.PathArg] = None) -> None:
        """Second phase: reads the signed token file (``signed_path``, or the file the
        first phase wrote) and returns each signature to the HSM that issued its token.
        Raises :class:`SignatureInvalidError` when an HSM refuses a signature,
        :class:`TokenNotIssuedError` for tokens this login was not given,
        :class:`ChallengeExpiredError` when they expired, :class:`OperationNotBegunError`
        without a first phase."""
        _check(
            _lib.lib.CHM_LoginMfaFinish(self._handle, _lib.in_path(signed_path, "signed_path")),
            signed_path,
        )

    def login_mfa(self, username: str, role: RoleArg, password: str, signer: Signer) -> None:
        """A token-sign MFA login in one call: ``signer`` (a :class:`PrivateKey` or a
        callable, see the class) signs each HSM's challenge. Raises
        :class:`MfaNotRegisteredError` for a user without MFA."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(password, "password"),
        )
        callback = _SignerCallback(signer)
        rv = _lib.lib.CHM_LoginMfaWithSigner(self._handle, *args, callback.c_callback, None)
        callback.finish(rv)

    def logout(self) -> None:
        """Logs out on every HSM; the session stays open."""
        _check(_lib.lib.CHM_Logout(self._handle))

    # -- MFA keys --------------------------------------------------------------------------

    def change_mfa_begin(self, username: str, role: RoleArg, token_path: _lib.PathArg) -> None:
        """First phase of registering or rotating a user's MFA key: each HSM issues a
        registration challenge, written to ``token_path``, to be signed with the NEW
        private key and passed to :meth:`change_mfa_finish`."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_path(token_path, "token_path"),
        )
        _check(_lib.lib.CHM_ChangeMfaBegin(self._handle, *args))

    def change_mfa_finish(
        self,
        public_key_path: _lib.PathArg,
        new_password: str,
        signed_path: Optional[_lib.PathArg] = None,
        change_quorum: bool = False,
    ) -> None:
        """Second phase: each HSM checks its signature (``signed_path``, or the file the
        first phase wrote) with the public key in ``public_key_path`` (PEM) and stores it
        as the user's MFA key; ``new_password`` becomes the user's password. With
        ``change_quorum`` the key becomes the quorum key too; without it a quorum key is
        removed (MFA and quorum share one key pair)."""
        args = (
            _lib.in_path(signed_path, "signed_path"),
            _lib.in_path(public_key_path, "public_key_path"),
            _lib.in_str(new_password, "new_password"),
            _flags(change_quorum),
        )
        _check(_lib.lib.CHM_ChangeMfaFinish(self._handle, *args), public_key_path, signed_path)

    def change_mfa(
        self,
        username: str,
        role: RoleArg,
        public_key_path: _lib.PathArg,
        new_password: str,
        signer: Signer,
        change_quorum: bool = False,
    ) -> None:
        """Registration or rotation in one call: ``signer`` (a :class:`PrivateKey` or a
        callable, see the class) signs each challenge with the private key whose public
        half is in ``public_key_path``. See :meth:`change_mfa_finish`."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_path(public_key_path, "public_key_path"),
            _lib.in_str(new_password, "new_password"),
            _flags(change_quorum),
        )
        callback = _SignerCallback(signer)
        rv = _lib.lib.CHM_ChangeMfaWithSigner(self._handle, *args, callback.c_callback, None)
        callback.finish(rv, public_key_path)

    def deregister_mfa(self, username: str, role: RoleArg, new_password: str, change_quorum: bool = False) -> None:
        """Removes a user's MFA key (and quorum key) on every HSM; ``new_password``
        becomes the user's password, so a password login works again."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(new_password, "new_password"),
            _flags(change_quorum),
        )
        _check(_lib.lib.CHM_DeregisterMfa(self._handle, *args))

    # -- users -------------------------------------------------------------------------------

    def create_user(self, username: str, role: RoleArg, password: str) -> None:
        """Creates a user on every HSM (the session must be logged in as an admin).
        Raises :class:`UserExistsError`, :class:`PermissionDeniedError`,
        :class:`PartialFailureError` when some HSMs failed."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(password, "password"),
        )
        _check(_lib.lib.CHM_CreateUser(self._handle, *args))

    def delete_user(self, username: str, role: RoleArg) -> None:
        """Deletes a user on every HSM (admin). Raises :class:`UserNotFoundError`, and
        :class:`UserLoggedInError` for a user who is logged in."""
        args = (_lib.in_str(username, "username"), Role.parse(role))
        _check(_lib.lib.CHM_DeleteUser(self._handle, *args))

    def change_password(
        self,
        username: str,
        role: RoleArg,
        password: str,
        deregister_mfa: bool = False,
        deregister_quorum: bool = False,
    ) -> None:
        """Sets a user's password on every HSM (the user itself, or an admin; an admin
        unlocks a locked user this way). With ``deregister_mfa`` the MFA key (and with it
        the quorum key) is removed too, with ``deregister_quorum`` the quorum key."""
        args = (
            _lib.in_str(username, "username"),
            Role.parse(role),
            _lib.in_str(password, "password"),
        )
        flags = (_lib.CHMF_DEREGISTER_MFA if deregister_mfa else 0) | (
            _lib.CHMF_DEREGISTER_QUORUM if deregister_quorum else 0
        )
        if flags:
            _check(_lib.lib.CHM_ChangePasswordEx(self._handle, *args, flags))
        else:
            _check(_lib.lib.CHM_ChangePassword(self._handle, *args))

    def list_users(self) -> Dict[str, Any]:
        """The cluster's users as ``user list`` shows them (no login needed): a dict
        ``{"users": [{"username", "role", "locked", "mfa", "quorum",
        "cluster-coverage"}, ...]}``, with ``locked`` as the strings ``"true"`` /
        ``"false"``. When an HSM gives no list, every coverage is ``"inconsistent"`` and
        ``"unreachable-hsms"`` (a list of ``{"hsm", "reason"}``) names it; the key is absent
        when every HSM answered."""
        text = _lib.two_call(_check, _lib.lib.CHM_ListUsers, self._handle, text=True)
        users: Dict[str, Any] = json.loads(text)
        return users

    def activate_cluster(self, password: str) -> None:
        """Activates a new cluster: its ``unactivated-admin`` becomes ``admin`` with
        ``password``. No login needed; raises :class:`ClusterStateError` on a cluster
        that is activated already."""
        _check(_lib.lib.CHM_ActivateCluster(self._handle, _lib.in_str(password, "password")))

    # -- quorum --------------------------------------------------------------------------------

    def set_approval(self, approval: TokenFile) -> None:
        """Sets the quorum approval file (a :class:`TokenFile` of kind quorum-approval)
        for the session's next gated operation (:meth:`create_user`, :meth:`delete_user`,
        :meth:`change_password`, the MFA changes, :meth:`set_quorum_value`). It is used up
        by the operation that succeeds with it; after a failure it stays set."""
        if not isinstance(approval, TokenFile):
            raise TypeError(f"approval must be a TokenFile, not {type(approval).__name__}")
        _check(_lib.lib.CHM_SetApproval(self._handle, approval._handle))

    def clear_approval(self) -> None:
        """Forgets the approval set for the next gated operation, if any."""
        _check(_lib.lib.CHM_ClearApproval(self._handle))

    def generate_quorum_token(self, service: ServiceArg, token_path: _lib.PathArg) -> None:
        """Writes a quorum token of the logged-in user to ``token_path``: an approval file
        for ``"user"`` and ``"quorum"`` (admins), whose approvers sign it offline
        (:meth:`TokenFile.sign` with ``approver``), or a registration file for
        ``"registration"``, to sign with the new quorum key and pass to
        :meth:`register_quorum_key`. The token lasts as long as this login, at most the
        HSMs' token lifetime (600 s by default)."""
        path = _lib.in_path(token_path, "token_path")
        _check(_lib.lib.CHM_QuorumGenerate(self._handle, Service.parse(service), path))

    def list_quorum_tokens(self) -> Dict[str, Any]:
        """The cluster's open quorum tokens as ``quorum token-sign list`` shows them: a dict
        ``{"tokens": [{"username", "service", "approvals-required", "number-of-approvals",
        "token-timeout-seconds", "cluster-coverage"}, ...]}``."""
        text = _lib.two_call(_check, _lib.lib.CHM_QuorumListTokens, self._handle, text=True)
        tokens: Dict[str, Any] = json.loads(text)
        return tokens

    def quorum_value(self, service: ServiceArg) -> int:
        """The quorum value of ``"user"`` or ``"quorum"`` (no login needed); raises
        :class:`PartialFailureError` when the HSMs disagree."""
        value = c_uint32(0)
        _check(_lib.lib.CHM_QuorumGetValue(self._handle, Service.parse(service), byref(value)))
        return value.value

    def set_quorum_value(self, service: ServiceArg, value: int) -> None:
        """Sets the quorum value (1 to 8) of ``"user"`` or ``"quorum"`` on every HSM
        (admins; gated by the quorum service)."""
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"value must be an int, not {type(value).__name__}")
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"value {value} is not a quorum value; a value is 1 to 8")
        _check(_lib.lib.CHM_QuorumSetValue(self._handle, Service.parse(service), value))

    def delete_quorum_tokens(self, scope: str = "user") -> None:
        """Ends the logged-in user's quorum tokens (``"user"``) or every user's (``"all"``,
        admins)."""
        if scope not in _SCOPES:
            raise ValueError(f"scope {scope!r} is not 'user' or 'all'")
        _check(_lib.lib.CHM_QuorumDeleteTokens(self._handle, _SCOPES[scope]))

    def register_quorum_key(
        self,
        public_key_path: _lib.PathArg,
        signed_path: Optional[_lib.PathArg] = None,
        signer: Optional[Signer] = None,
    ) -> None:
        """Registers the public key in ``public_key_path`` (PEM) as the logged-in user's
        quorum key: from the signed registration file ``signed_path`` (see
        :meth:`generate_quorum_token`), or in one call with ``signer`` (a
        :class:`PrivateKey` or a callable, see the class) signing each HSM's registration
        token with the matching private key. Exactly one of the two is given."""
        if (signed_path is None) == (signer is None):
            raise ValueError("give either signed_path or signer")
        public = _lib.in_path(public_key_path, "public_key_path")
        if signer is None:
            signed = _lib.in_path(signed_path, "signed_path")
            _check(_lib.lib.CHM_RegisterQuorumKey(self._handle, public, signed), public_key_path, signed_path)
            return
        callback = _SignerCallback(signer)
        rv = _lib.lib.CHM_RegisterQuorumKeyWithSigner(self._handle, public, callback.c_callback, None)
        callback.finish(rv, public_key_path)

    # -- MFA factors ---------------------------------------------------------------------

    def set_mfa_preference(
        self, username: str, role: RoleArg, settings: MfaSettings
    ) -> MfaPreferences:
        """Sets ``username``'s MFA preferences on every HSM (the user itself, or an admin),
        as Cognito's ``SetUserMFAPreference``: ``settings`` maps factors to
        ``{"Enabled": bool, "PreferredMfa": bool}`` (a key or factor left out stays as it
        is). Returns the result as :meth:`get_mfa_preference` does. Raises
        :class:`MfaPreferenceInvalidError` or :class:`FactorNotReadyError`; nothing
        changes then."""
        args = (_lib.in_str(username, "username"), Role.parse(role))
        raw = _settings(settings)
        enabled, preferred = c_uint32(0), c_uint32(0)
        _check(_lib.lib.CHM_SetMfaPreference(self._handle, *args, byref(raw), byref(enabled), byref(preferred)))
        return _preferences(enabled, preferred)

    def get_mfa_preference(self, username: str, role: Optional[RoleArg] = None) -> MfaPreferences:
        """``username``'s MFA preferences: ``{"UserMFASettingList": [...],
        "PreferredMfaSetting": ...}`` in Cognito's vocabulary, each key left out when
        empty."""
        role_value = 0 if role is None else Role.parse(role)
        enabled, preferred = c_uint32(0), c_uint32(0)
        _check(_lib.lib.CHM_GetMfaPreference(
            self._handle, _lib.in_str(username, "username"), role_value, byref(enabled), byref(preferred)))
        return _preferences(enabled, preferred)

    def associate_software_token(self, account: str) -> Dict[str, str]:
        """A new software token for the logged-in user: ``{"secret-code": BASE32,
        "otpauth-uri": URI}`` (the URI names ``account``, e.g. ``"alice@cluster-1"``),
        stored unverified on every HSM until :meth:`verify_software_token`."""
        account_arg = _lib.in_str(account, "account")
        secret_len, uri_len = c_size_t(0), c_size_t(0)
        _check(_lib.lib.CHM_AssociateSoftwareToken(
            self._handle, account_arg, None, byref(secret_len), None, byref(uri_len)))
        secret = create_string_buffer(secret_len.value)
        uri = create_string_buffer(uri_len.value)
        _check(_lib.lib.CHM_AssociateSoftwareToken(
            self._handle, account_arg, secret, byref(secret_len), uri, byref(uri_len)))
        return {"secret-code": secret.value.decode(), "otpauth-uri": uri.value.decode()}

    def verify_software_token(self, code: str, device_name: Optional[str] = None) -> None:
        """Verifies the associated software token with a code from the app; raises
        :class:`CodeMismatchError` when it is wrong."""
        _check(_lib.lib.CHM_VerifySoftwareToken(
            self._handle, _lib.in_str(code, "code"), _lib.in_str(device_name, "device_name")))

    def update_attributes(
        self, username: str, role: RoleArg, phone_number: Optional[str] = None, email: Optional[str] = None
    ) -> None:
        """Sets ``username``'s phone number (E.164) and/or email on every HSM."""
        _check(_lib.lib.CHM_UpdateAttributes(
            self._handle, _lib.in_str(username, "username"), Role.parse(role),
            _lib.in_str(phone_number, "phone_number"), _lib.in_str(email, "email")))

    def login_start(
        self, username: str, role: RoleArg, password: str, token_path: Optional[_lib.PathArg] = None
    ) -> LoginStep:
        """Starts a login with a password and returns its next :class:`LoginStep`: done,
        token-sign (the challenges written to ``token_path`` when given; finish with
        :meth:`login_mfa_finish` or :meth:`login_sign_with`), a code (:meth:`login_code`)
        or a selection (:meth:`login_select`)."""
        step = _lib.CHM_LOGIN_STEP()
        _check(_lib.lib.CHM_LoginStart(
            self._handle, _lib.in_str(username, "username"), Role.parse(role),
            _lib.in_str(password, "password"), _lib.in_path(token_path, "token_path"), byref(step)))
        return LoginStep(step)

    def login_select(self, factor: FactorArg, token_path: Optional[_lib.PathArg] = None) -> LoginStep:
        """Answers a selection step with ``factor``; returns the next :class:`LoginStep`."""
        step = _lib.CHM_LOGIN_STEP()
        _check(_lib.lib.CHM_LoginSelect(
            self._handle, Factor.parse(factor), _lib.in_path(token_path, "token_path"), byref(step)))
        return LoginStep(step)

    def login_code(self, code: str) -> None:
        """Answers a code step and finishes the login; raises :class:`CodeMismatchError`,
        :class:`CodeExpiredError`, or :class:`SelectionRequiredError` when the login waits
        for a selection."""
        _check(_lib.lib.CHM_LoginCode(self._handle, _lib.in_str(code, "code")))

    def login_sign_with(self, signer: Signer) -> None:
        """Answers a token-sign step: ``signer`` (see the class) signs each challenge."""
        callback = _SignerCallback(signer)
        rv = _lib.lib.CHM_LoginSignWith(self._handle, callback.c_callback, None)
        callback.finish(rv)
