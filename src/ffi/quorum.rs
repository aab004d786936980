//! Quorum (SPEC §7) through session handles: approval and registration files, the list of
//! open tokens, quorum values, quorum keys, the approval set for the next gated operation,
//! the password change that deregisters, and the counts of the last quorum refusal.

use std::ffi::{c_char, c_void};
use std::path::Path;

use super::codes::FfiError;
use super::guard::{boundary, last_approvals, non_null, out_arg, str_arg, write_out, write_text};
use super::handles;
use super::sessions::{role_arg, with_session, CallbackSigner};
use super::types::*;
use crate::client::Agreed;
use crate::proto::{DeleteScope, Service};

fn service_arg(service: u32) -> Result<Service, FfiError> {
    match service {
        CHM_SERVICE_USER => Ok(Service::User),
        CHM_SERVICE_QUORUM => Ok(Service::Quorum),
        CHM_SERVICE_REGISTRATION => Ok(Service::Registration),
        other => Err(FfiError::bad_argument(format!(
            "service {other} is not one of CHM_SERVICE_USER (1), CHM_SERVICE_QUORUM (2), \
             CHM_SERVICE_REGISTRATION (3)"
        ))),
    }
}

/// Sets the quorum approval file `approval` (a token file handle of kind
/// `CHM_TOKEN_FILE_QUORUM_APPROVAL`) for the session's next gated operation (creating,
/// deleting a user, changing a password or an MFA key, setting a quorum value). It is
/// used up by the operation that succeeds with it; after a failure it stays set.
#[no_mangle]
pub extern "C" fn CHM_SetApproval(
    session: CHM_SESSION_HANDLE,
    approval: CHM_TOKEN_FILE_HANDLE,
) -> CHM_RV {
    boundary("CHM_SetApproval", || {
        let file = handles::token_file(approval)?;
        let file = handles::lock(&file).clone();
        with_session(session, async |s| s.set_approval(&file))
    })
}

/// Forgets the approval set for the session's next gated operation, if any.
#[no_mangle]
pub extern "C" fn CHM_ClearApproval(session: CHM_SESSION_HANDLE) -> CHM_RV {
    boundary("CHM_ClearApproval", || {
        with_session(session, async |s| {
            s.clear_approval();
            Ok(())
        })
    })
}

/// Writes a quorum token of the logged-in user for `service` to `token_path`: an approval
/// file for `CHM_SERVICE_USER` and `CHM_SERVICE_QUORUM` (admins), a registration file for
/// `CHM_SERVICE_REGISTRATION`. The token lasts as long as the session's login, at most the
/// HSMs' token lifetime (600 s by default).
///
/// # Safety
/// `token_path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_QuorumGenerate(
    session: CHM_SESSION_HANDLE,
    service: u32,
    token_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_QuorumGenerate", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let path = unsafe { str_arg(token_path, "token_path") }?;
        let service = service_arg(service)?;
        with_session(session, async |s| {
            s.generate_quorum_token(service, Path::new(path))
                .await
                .map(drop)
        })
    })
}

/// Copies the open quorum tokens of the cluster as the JSON of `quorum token-sign list`
/// (`{"tokens": [...]}`), NUL-terminated, with the two-call idiom. Each call asks the
/// cluster again: call again on `CHMR_BUFFER_TOO_SMALL`.
///
/// # Safety
/// `len` must be valid for reads and writes; a non-NULL `buf` writable for `*len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_QuorumListTokens(
    session: CHM_SESSION_HANDLE,
    buf: *mut c_char,
    len: *mut usize,
) -> CHM_RV {
    boundary("CHM_QuorumListTokens", || {
        out_arg(len, "len")?;
        let list = with_session(session, async |s| s.list_quorum_tokens().await)?;
        let json = serde_json::to_string(&list)
            .map_err(|e| FfiError::new(CHMR_GENERAL_ERROR, e.to_string()))?;
        // SAFETY: forwarded from the caller.
        unsafe { write_text(&json, buf, len, "quorum token list") }
    })
}

/// Sets `*value` to the quorum value of `service` (`CHM_SERVICE_USER` or
/// `CHM_SERVICE_QUORUM`) that every HSM that answered agrees on; `CHMR_PARTIAL_FAILURE`
/// when they disagree. No login is needed.
///
/// # Safety
/// `value` must be valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_QuorumGetValue(
    session: CHM_SESSION_HANDLE,
    service: u32,
    value: *mut u32,
) -> CHM_RV {
    boundary("CHM_QuorumGetValue", || {
        out_arg(value, "value")?;
        let service = service_arg(service)?;
        if !service.is_gate() {
            return Err(FfiError::bad_argument(
                "the registration service has no quorum value; ask for CHM_SERVICE_USER or \
                 CHM_SERVICE_QUORUM",
            ));
        }
        let values = with_session(session, async |s| s.quorum_values().await)?;
        let agreed = if service == Service::User {
            values.user
        } else {
            values.quorum
        };
        match agreed {
            // SAFETY: the caller promises `value` is writable.
            Agreed::Value(v) => unsafe { write_out(value, v, "value") },
            Agreed::Inconsistent => Err(FfiError::new(
                CHMR_PARTIAL_FAILURE,
                format!("the HSMs do not agree on the quorum value of the {service} service"),
            )),
        }
    })
}

/// Sets the quorum value (1 to 8) of `service` on every HSM (admins; gated by the quorum
/// service: set an approval first when its value is above 1).
#[no_mangle]
pub extern "C" fn CHM_QuorumSetValue(
    session: CHM_SESSION_HANDLE,
    service: u32,
    value: u32,
) -> CHM_RV {
    boundary("CHM_QuorumSetValue", || {
        let service = service_arg(service)?;
        with_session(session, async |s| s.set_quorum_value(service, value).await)
    })
}

/// Ends quorum tokens: the logged-in user's (`CHM_QUORUM_SCOPE_USER`) or every user's
/// (`CHM_QUORUM_SCOPE_ALL`, admins).
#[no_mangle]
pub extern "C" fn CHM_QuorumDeleteTokens(session: CHM_SESSION_HANDLE, scope: u32) -> CHM_RV {
    boundary("CHM_QuorumDeleteTokens", || {
        let scope = match scope {
            CHM_QUORUM_SCOPE_USER => DeleteScope::User,
            CHM_QUORUM_SCOPE_ALL => DeleteScope::All,
            other => {
                return Err(FfiError::bad_argument(format!(
                    "scope {other} is not CHM_QUORUM_SCOPE_USER (1) or CHM_QUORUM_SCOPE_ALL (2)"
                )))
            }
        };
        with_session(session, async |s| s.delete_quorum_tokens(scope).await)
    })
}

/// Registers the public key in `public_key_path` (PEM) as the logged-in user's quorum
/// key, from the registration file `signed_path` (from `CHM_QuorumGenerate` with
/// `CHM_SERVICE_REGISTRATION`, signed with the matching private key).
///
/// # Safety
/// `public_key_path` and `signed_path` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_RegisterQuorumKey(
    session: CHM_SESSION_HANDLE,
    public_key_path: *const c_char,
    signed_path: *const c_char,
) -> CHM_RV {
    boundary("CHM_RegisterQuorumKey", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (public_key_path, signed_path) = unsafe {
            (
                str_arg(public_key_path, "public_key_path")?,
                str_arg(signed_path, "signed_path")?,
            )
        };
        let public_key = crate::signer::KeySpec::parse(public_key_path)?.open_public()?;
        with_session(session, async |s| {
            s.register_quorum_key(&public_key, Path::new(signed_path))
                .await
        })
    })
}

/// Registers the public key in `public_key_path` as the logged-in user's quorum key in one
/// call: each HSM's registration token is signed by `callback` (as for
/// `CHM_LoginMfaWithSigner`) with the matching private key.
///
/// # Safety
/// `public_key_path` must be a NUL-terminated string; `callback` must be safe to call with
/// `user_data`.
#[no_mangle]
pub unsafe extern "C" fn CHM_RegisterQuorumKeyWithSigner(
    session: CHM_SESSION_HANDLE,
    public_key_path: *const c_char,
    callback: CHM_SIGN_CALLBACK,
    user_data: *mut c_void,
) -> CHM_RV {
    boundary("CHM_RegisterQuorumKeyWithSigner", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let public_key_path = unsafe { str_arg(public_key_path, "public_key_path") }?;
        let signer = CallbackSigner::new(callback, user_data, session)?;
        handles::session(session)?;
        let public_key = crate::signer::KeySpec::parse(public_key_path)?.open_public()?;
        with_session(session, async |s| {
            s.register_quorum_key_with(&public_key, &signer).await
        })
    })
}

/// Sets a user's password on every HSM, as `CHM_ChangePassword`, and with `flags`
/// `CHMF_DEREGISTER_MFA` removes its MFA key (and with it its quorum key), with
/// `CHMF_DEREGISTER_QUORUM` its quorum key.
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn CHM_ChangePasswordEx(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
    flags: u32,
) -> CHM_RV {
    boundary("CHM_ChangePasswordEx", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
            )
        };
        let role = role_arg(role)?;
        if flags & !(CHMF_DEREGISTER_MFA | CHMF_DEREGISTER_QUORUM) != 0 {
            return Err(FfiError::bad_argument(format!(
                "flags {flags:#x} has bits other than CHMF_DEREGISTER_MFA and CHMF_DEREGISTER_QUORUM"
            )));
        }
        let (mfa, quorum) = (
            flags & CHMF_DEREGISTER_MFA != 0,
            flags & CHMF_DEREGISTER_QUORUM != 0,
        );
        with_session(session, async |s| {
            s.change_password_deregistering(username, role, password, mfa, quorum)
                .await
        })
    })
}

/// The counts of this thread's last failure when it was a quorum refusal
/// (`CHMR_QUORUM_APPROVAL_REQUIRED`, `CHMR_QUORUM_TOO_FEW`): the valid approvals an HSM
/// counted and the approvals its service requires. Both are 0 when the last failure was
/// not one (a real refusal requires at least 2). Works before `CHM_Initialize`, and does
/// not change the last error.
///
/// # Safety
/// `present` and `required` must be valid for writes.
#[no_mangle]
pub unsafe extern "C" fn CHM_GetLastErrorApprovals(
    present: *mut u32,
    required: *mut u32,
) -> CHM_RV {
    let (p, r) = last_approvals().unwrap_or((0, 0));
    // Not through `boundary`: a failure of this call must not replace what it reads.
    let result = std::panic::catch_unwind(|| {
        non_null(present, "present")?;
        non_null(required, "required")?;
        // SAFETY: both were checked non-NULL; the caller promises they are writable.
        unsafe {
            write_out(present, p, "present")?;
            write_out(required, r, "required")
        }
    });
    match result {
        Ok(Ok(())) => CHMR_OK,
        Ok(Err(e)) => e.rv,
        Err(_) => CHMR_GENERAL_ERROR,
    }
}
