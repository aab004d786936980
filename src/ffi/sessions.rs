//! Sessions with a cluster through handles: open, log in (password, MFA in two phases or
//! with a signing callback), manage users and MFA keys, list users.

use std::ffi::{c_char, c_void};
use std::path::Path;

use super::codes::FfiError;
use super::guard::{boundary, opt_str_arg, out_arg, str_arg, write_out, write_text};
use super::handles;
use super::types::*;
use crate::blocking::Session;
use crate::client::{self, SessionOptions, Signer};
use crate::config::Config;
use crate::crypto::{Token, TOKEN_LEN};
use crate::error::Error;
use crate::proto::Role;

pub(super) fn role_arg(role: u32) -> Result<Role, FfiError> {
    match role {
        CHM_ROLE_ADMIN => Ok(Role::Admin),
        CHM_ROLE_CRYPTO_USER => Ok(Role::CryptoUser),
        CHM_ROLE_UNACTIVATED_ADMIN => Ok(Role::UnactivatedAdmin),
        other => Err(FfiError::bad_argument(format!(
            "role {other} is not one of CHM_ROLE_ADMIN (1), CHM_ROLE_CRYPTO_USER (2), CHM_ROLE_UNACTIVATED_ADMIN (3)"
        ))),
    }
}

fn flags_arg(flags: u32) -> Result<bool, FfiError> {
    if flags & !CHMF_CHANGE_QUORUM != 0 {
        return Err(FfiError::bad_argument(format!(
            "flags {flags:#x} has bits other than CHMF_CHANGE_QUORUM"
        )));
    }
    Ok(flags & CHMF_CHANGE_QUORUM != 0)
}

/// Runs `f` on the session behind `h`, holding its lock (one call at a time per session).
pub(super) fn with_session<T>(
    h: CHM_SESSION_HANDLE,
    f: impl AsyncFnOnce(&mut client::Session) -> Result<T, Error>,
) -> Result<T, FfiError> {
    let session = handles::session(h)?;
    let mut guard = handles::lock_session(h, &session)?;
    guard.run(f).map_err(Into::into)
}

/// A C signing callback as a signer: called on the caller's thread, one token after the
/// other (a callback may ask a person or a device).
pub(super) struct CallbackSigner {
    callback:
        unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u8, usize, *mut usize) -> CHM_RV,
    /// The caller's pointer, only ever handed back to the caller's callback.
    user_data: usize,
    /// The session whose operation calls it.
    session: CHM_SESSION_HANDLE,
}

impl CallbackSigner {
    pub(super) fn new(
        callback: CHM_SIGN_CALLBACK,
        user_data: *mut c_void,
        session: CHM_SESSION_HANDLE,
    ) -> Result<Self, FfiError> {
        let callback = callback.ok_or_else(|| FfiError::bad_argument("callback is NULL"))?;
        Ok(CallbackSigner {
            callback,
            user_data: user_data as usize,
            session,
        })
    }
}

impl Signer for CallbackSigner {
    fn sign(&self, token: &Token) -> Result<Vec<u8>, Error> {
        let mut sig = vec![0u8; CHM_MAX_SIGNATURE_LEN];
        let mut written: usize = usize::MAX;
        // SAFETY: the callback is the caller's function; every pointer passed is valid for
        // the call (token: TOKEN_LEN bytes, sig: sig.len() bytes, written: one usize).
        let rv = handles::in_callback(self.session, || unsafe {
            (self.callback)(
                self.user_data as *mut c_void,
                token.as_ptr(),
                TOKEN_LEN,
                sig.as_mut_ptr(),
                sig.len(),
                &mut written,
            )
        });
        if rv != CHMR_OK {
            return Err(Error::Signer {
                reason: format!("the signing callback returned {rv:#x}"),
            });
        }
        if written == usize::MAX {
            return Err(Error::Signer {
                reason: "the signing callback did not set *sig_out_len".into(),
            });
        }
        if written == 0 || written > sig.len() {
            return Err(Error::Signer {
                reason: format!(
                    "the signing callback reported a signature of {written} bytes; 1 to {} fit",
                    sig.len()
                ),
            });
        }
        sig.truncate(written);
        Ok(sig)
    }

    fn concurrent(&self) -> bool {
        false
    }
}

/// Opens a session with the cluster `cluster_id` (NULL: the only cluster of the
/// configuration) and connects to every HSM it can reach. HSMs that cannot be reached now
/// are tried again at each operation, so the session opens even when none answers; its
/// operations then answer `CHMR_HSM_UNREACHABLE`. The configuration is the path given to
/// `CHM_Initialize`, else `$CLOUDHSM_MFA_CONFIG`, else `/opt/cloudhsm/etc/cloudhsm-cli.cfg`.
/// With several clusters and NULL, answers `CHMR_CLUSTER_ID_REQUIRED`. Close it with
/// `CHM_CloseSession`.
///
/// # Safety
/// A non-NULL `cluster_id` must be a NUL-terminated string; `session` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_OpenSession(
    cluster_id: *const c_char,
    session: *mut CHM_SESSION_HANDLE,
) -> CHM_RV {
    boundary("CHM_OpenSession", || {
        let (config_path, runtime) = handles::session_context()?;
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let cluster_id = unsafe { opt_str_arg(cluster_id, "cluster_id") }?;
        out_arg(session, "session")?;
        let config = Config::load(config_path.as_deref())?;
        let target = config.select(cluster_id)?;
        let opened = Session::open(&runtime, &target, &SessionOptions::default())?;
        let h = handles::insert_session(opened)?;
        // SAFETY: checked non-NULL; the caller promises it is writable.
        unsafe { write_out(session, h, "session") }
    })
}

/// Closes a session: its login ends on every HSM (the call waits for their answers), then
/// its connections close.
#[no_mangle]
pub extern "C" fn CHM_CloseSession(session: CHM_SESSION_HANDLE) -> CHM_RV {
    boundary("CHM_CloseSession", || handles::close_session(session))
}

/// Logs in with a password on every HSM (role: `CHM_ROLE_*`). A user with MFA answers
/// `CHMR_MFA_REQUIRED`: use `CHM_LoginMfaBegin` or `CHM_LoginMfaWithSigner`.
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_Login(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
) -> CHM_RV {
    boundary("CHM_Login", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.login(username, role, password).await.map(|_| ())
        })
    })
}

/// First phase of a token-sign MFA login: checks the password on every HSM and writes
/// their challenges to `token_path` as an MFA token file (mode 0600) for the user to sign.
///
/// # Safety
/// `username`, `password` and `token_path` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginMfaBegin(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
    token_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_LoginMfaBegin", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password, token_path) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
                str_arg(token_path, "token_path")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.login_mfa_begin(username, role, password, Path::new(token_path))
                .await
                .map(|_| ())
        })
    })
}

/// Second phase: reads the signed token file (`signed_path`, or NULL for the file the
/// first phase wrote) and returns each signature to the HSM that issued its token.
///
/// # Safety
/// A non-NULL `signed_path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginMfaFinish(
    session: CHM_SESSION_HANDLE,
    signed_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_LoginMfaFinish", || {
        // SAFETY: the caller promises NULL or a NUL-terminated string.
        let signed_path = unsafe { opt_str_arg(signed_path, "signed_path") }?;
        with_session(session, async |s| {
            s.login_mfa_finish(signed_path.map(Path::new))
                .await
                .map(|_| ())
        })
    })
}

/// A token-sign MFA login in one call: `callback` is called once per token to sign it
/// (see `CHM_SIGN_CALLBACK`); a callback that does not return `CHMR_OK` stops the login.
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings; `callback` must be safe to
/// call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginMfaWithSigner(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
    callback: CHM_SIGN_CALLBACK,
    user_data: *mut c_void,
) -> CHM_RV {
    boundary("CHM_LoginMfaWithSigner", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        let role = role_arg(role)?;
        let signer = CallbackSigner::new(callback, user_data, session)?;
        with_session(session, async |s| {
            s.login_mfa_with(username, role, password, &signer)
                .await
                .map(|_| ())
        })
    })
}

/// Logs out on every HSM.
#[no_mangle]
pub extern "C" fn CHM_Logout(session: CHM_SESSION_HANDLE) -> CHM_RV {
    boundary("CHM_Logout", || {
        with_session(session, async |s| s.logout().await)
    })
}

/// First phase of registering or rotating a user's MFA key: each HSM issues a
/// registration challenge, written to `token_path`, to be signed with the NEW private key.
///
/// # Safety
/// `username` and `token_path` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_ChangeMfaBegin(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    token_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_ChangeMfaBegin", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, token_path) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(token_path, "token_path")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.change_mfa_begin(username, role, Path::new(token_path))
                .await
                .map(|_| ())
        })
    })
}

/// Second phase: each HSM verifies its signature with the public key in
/// `public_key_path` (PEM) and stores it as the user's MFA key; `new_password` becomes the
/// user's password. `flags`: `CHMF_CHANGE_QUORUM` to set the quorum key too (without it a
/// quorum key is removed, since MFA and quorum share one key pair).
///
/// # Safety
/// A non-NULL `signed_path` must be a NUL-terminated string; `public_key_path` and
/// `new_password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_ChangeMfaFinish(
    session: CHM_SESSION_HANDLE,
    signed_path: *const c_char,
    public_key_path: *const c_char,
    new_password: *const c_char,
    flags: u32,
) -> CHM_RV {
    boundary("CHM_ChangeMfaFinish", || {
        // SAFETY: the caller promises NUL-terminated strings (or NULL where allowed).
        let (signed_path, public_key_path, new_password) = unsafe {
            (
                opt_str_arg(signed_path, "signed_path")?,
                str_arg(public_key_path, "public_key_path")?,
                str_arg(new_password, "new_password")?,
            )
        };
        let change_quorum = flags_arg(flags)?;
        handles::session(session)?;
        let public_key = crate::signer::KeySpec::parse(public_key_path)?.open_public()?;
        with_session(session, async |s| {
            s.change_mfa_finish(
                signed_path.map(Path::new),
                &public_key,
                new_password,
                change_quorum,
            )
            .await
        })
    })
}

/// Registration or rotation in one call: `callback` signs each challenge with the private
/// key of `public_key_path`.
///
/// # Safety
/// `username`, `public_key_path` and `new_password` must be NUL-terminated strings;
/// `callback` must be safe to call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn CHM_ChangeMfaWithSigner(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    public_key_path: *const c_char,
    new_password: *const c_char,
    flags: u32,
    callback: CHM_SIGN_CALLBACK,
    user_data: *mut c_void,
) -> CHM_RV {
    boundary("CHM_ChangeMfaWithSigner", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, public_key_path, new_password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(public_key_path, "public_key_path")?,
                str_arg(new_password, "new_password")?,
            )
        };
        let role = role_arg(role)?;
        let change_quorum = flags_arg(flags)?;
        let signer = CallbackSigner::new(callback, user_data, session)?;
        handles::session(session)?;
        let public_key = crate::signer::KeySpec::parse(public_key_path)?.open_public()?;
        with_session(session, async |s| {
            s.change_mfa_with(
                username,
                role,
                &public_key,
                new_password,
                change_quorum,
                &signer,
            )
            .await
        })
    })
}

/// Removes a user's MFA key (and quorum key) on every HSM; `new_password` becomes the
/// user's password. `flags`: 0 or `CHMF_CHANGE_QUORUM`.
///
/// # Safety
/// `username` and `new_password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_DeregisterMfa(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    new_password: *const c_char,
    flags: u32,
) -> CHM_RV {
    boundary("CHM_DeregisterMfa", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, new_password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(new_password, "new_password")?,
            )
        };
        let role = role_arg(role)?;
        let change_quorum = flags_arg(flags)?;
        with_session(session, async |s| {
            s.deregister_mfa(username, role, new_password, change_quorum)
                .await
        })
    })
}

/// Creates a user on every HSM (the session must be logged in as an admin).
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_CreateUser(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
) -> CHM_RV {
    boundary("CHM_CreateUser", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.create_user(username, role, password).await
        })
    })
}

/// Deletes a user on every HSM (admin; not a user who is logged in).
///
/// # Safety
/// `username` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_DeleteUser(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
) -> CHM_RV {
    boundary("CHM_DeleteUser", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let username = unsafe { str_arg(username, "username") }?;
        let role = role_arg(role)?;
        with_session(session, async |s| s.delete_user(username, role).await)
    })
}

/// Sets a user's password on every HSM (the user itself, or an admin).
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_ChangePassword(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
) -> CHM_RV {
    boundary("CHM_ChangePassword", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.change_password(username, role, password).await
        })
    })
}

/// Copies the users of the cluster as the JSON of `user list` (`{"users": [...]}`, plus
/// `"unreachable-hsms": [{"hsm", "reason"}, ...]` when some HSM gave no list),
/// NUL-terminated, with the two-call idiom. Each call asks the cluster again, so the size
/// may change between the two calls: call again on `CHMR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_ListUsers(
    session: CHM_SESSION_HANDLE,
    buf: *mut c_char,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_ListUsers", || {
        out_arg(len, "len")?;
        let list = with_session(session, async |s| s.list_users().await)?;
        let json = serde_json::to_string(&list)
            .map_err(|e| FfiError::new(CHMR_GENERAL_ERROR, e.to_string()))?;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&json, buf, len, "user list") }
    })
}

/// Activates a new cluster: the first admin (`unactivated-admin`) becomes `admin` with
/// `password`. No login is needed.
///
/// # Safety
/// `password` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_ActivateCluster(
    session: CHM_SESSION_HANDLE,
    password: *const c_char,
) -> CHM_RV {
    boundary("CHM_ActivateCluster", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let password = unsafe { str_arg(password, "password") }?;
        with_session(session, async |s| s.activate_cluster(password).await)
    })
}
