//! MFA factors and preferences (SPEC §11) through session handles: preferences set with
//! integer settings and read as factor masks, software tokens, the phone and email
//! attributes, and a login that reports its next step and takes the answer.

use std::ffi::{c_char, c_void};
use std::path::Path;

use super::codes::FfiError;
use super::guard::{boundary, opt_str_arg, out_arg, str_arg, write_out, write_text};
use super::handles;
use super::sessions::{role_arg, with_session, CallbackSigner};
use super::types::*;
use crate::client::LoginStep;
use crate::mfa::{Factor, Preferences, Request, Setting};

fn factor_bit(f: Factor) -> u32 {
    match f {
        Factor::TokenSign => CHM_FACTOR_TOKEN_SIGN,
        Factor::SoftwareToken => CHM_FACTOR_SOFTWARE_TOKEN,
        Factor::Sms => CHM_FACTOR_SMS,
        Factor::Email => CHM_FACTOR_EMAIL,
    }
}

fn mask(factors: impl IntoIterator<Item = Factor>) -> u32 {
    factors.into_iter().map(factor_bit).fold(0, |a, b| a | b)
}

fn factor_arg(value: u32) -> Result<Factor, FfiError> {
    Factor::ALL
        .into_iter()
        .find(|f| factor_bit(*f) == value)
        .ok_or_else(|| {
            FfiError::bad_argument(format!(
                "factor {value:#x} is not one of CHM_FACTOR_TOKEN_SIGN, CHM_FACTOR_SOFTWARE_TOKEN, \
                 CHM_FACTOR_SMS, CHM_FACTOR_EMAIL"
            ))
        })
}

fn flag(value: u32, what: &str) -> Result<Option<bool>, FfiError> {
    match value {
        CHM_SETTING_UNSET => Ok(None),
        CHM_SETTING_FALSE => Ok(Some(false)),
        CHM_SETTING_TRUE => Ok(Some(true)),
        other => Err(FfiError::bad_argument(format!(
            "{what} is {other}, not CHM_SETTING_UNSET (0), CHM_SETTING_FALSE (1) or CHM_SETTING_TRUE (2)"
        ))),
    }
}

fn request_of(s: &CHM_MFA_SETTINGS) -> Result<Request, FfiError> {
    let mut request = Request::default();
    for (factor, setting, name) in [
        (Factor::TokenSign, s.token_sign, "token_sign"),
        (Factor::SoftwareToken, s.software_token, "software_token"),
        (Factor::Sms, s.sms, "sms"),
        (Factor::Email, s.email, "email"),
    ] {
        let setting = Setting {
            enabled: flag(setting.enabled, &format!("settings.{name}.enabled"))?,
            preferred: flag(setting.preferred, &format!("settings.{name}.preferred"))?,
        };
        if setting != Setting::default() {
            request.settings.insert(factor, setting);
        }
    }
    Ok(request)
}

/// Writes `p` as masks to `enabled` and `preferred` (each may be NULL).
///
/// # Safety
/// Each non-NULL pointer must be valid for a write.
unsafe fn write_preferences(
    p: &Preferences,
    enabled: *mut u32,
    preferred: *mut u32,
) -> Result<(), FfiError> {
    if !enabled.is_null() {
        // SAFETY: forwarded from the caller.
        unsafe { write_out(enabled, mask(p.enabled.iter().copied()), "enabled")? };
    }
    if !preferred.is_null() {
        // SAFETY: forwarded from the caller.
        unsafe { write_out(preferred, p.preferred.map_or(0, factor_bit), "preferred")? };
    }
    Ok(())
}

/// Sets `username`'s MFA preferences on every HSM (the user itself, or an admin), as
/// Cognito's `SetUserMFAPreference`: each factor's `enabled` and `preferred` are
/// `CHM_SETTING_UNSET` (left as they are), `CHM_SETTING_FALSE` or `CHM_SETTING_TRUE`. The
/// whole request is accepted or refused (`CHMR_MFA_PREFERENCE_INVALID`,
/// `CHMR_FACTOR_NOT_READY`). On success `*enabled` (a mask of `CHM_FACTOR_*`) and
/// `*preferred` (a `CHM_FACTOR_*` or 0) hold the result; either may be NULL.
///
/// # Safety
/// `username` must be a NUL-terminated string, `settings` valid for a read; `enabled` and
/// `preferred` NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn CHM_SetMfaPreference(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    settings: *const CHM_MFA_SETTINGS,
    enabled: *mut u32,
    preferred: *mut u32,
) -> CHM_RV {
    boundary("CHM_SetMfaPreference", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let username = unsafe { str_arg(username, "username") }?;
        let role = role_arg(role)?;
        if settings.is_null() {
            return Err(FfiError::bad_argument("settings is NULL"));
        }
        // SAFETY: non-NULL, and the caller promises it is readable.
        let request = request_of(unsafe { &*settings })?;
        let p = with_session(session, async |s| {
            s.set_mfa_preference(username, role, &request).await
        })?;
        // SAFETY: forwarded from the caller.
        unsafe { write_preferences(&p, enabled, preferred) }
    })
}

/// Reads `username`'s MFA preferences (the user itself, or an admin): `*enabled` a mask of
/// `CHM_FACTOR_*`, `*preferred` a `CHM_FACTOR_*` or 0. `role` 0 means the user's role,
/// whatever it is.
///
/// # Safety
/// `username` must be a NUL-terminated string; `enabled` and `preferred` valid for writes.
#[no_mangle]
pub unsafe extern "C" fn CHM_GetMfaPreference(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    enabled: *mut u32,
    preferred: *mut u32,
) -> CHM_RV {
    boundary("CHM_GetMfaPreference", || {
        out_arg(enabled, "enabled")?;
        out_arg(preferred, "preferred")?;
        // SAFETY: the caller promises a NUL-terminated string.
        let username = unsafe { str_arg(username, "username") }?;
        let role = if role == 0 {
            None
        } else {
            Some(role_arg(role)?)
        };
        let p = with_session(session, async |s| {
            s.get_mfa_preference(username, role).await
        })?;
        // SAFETY: forwarded from the caller.
        unsafe { write_preferences(&p, enabled, preferred) }
    })
}

/// Associates a new software token with the logged-in user: a fresh secret, stored on
/// every HSM unverified, copied once as base32 to `secret` and as an `otpauth://` URI
/// (naming `account`, e.g. `alice@cluster-1`) to `uri`, both NUL-terminated with the
/// two-call idiom. A size query (a NULL buffer, or one too short) asks the HSMs nothing:
/// only the call that fills both buffers makes a secret.
///
/// # Safety
/// `account` must be a NUL-terminated string; `secret_len` and `uri_len` valid for reads
/// and writes; non-NULL buffers writable for `*secret_len` and `*uri_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn CHM_AssociateSoftwareToken(
    session: CHM_SESSION_HANDLE,
    account: *const c_char,
    secret: *mut c_char,
    secret_len: *mut usize,
    uri: *mut c_char,
    uri_len: *mut usize,
) -> CHM_RV {
    boundary("CHM_AssociateSoftwareToken", || {
        out_arg(secret_len, "secret_len")?;
        out_arg(uri_len, "uri_len")?;
        // SAFETY: the caller promises a NUL-terminated string.
        let account = unsafe { str_arg(account, "account") }?;
        handles::session(session)?;
        // The sizes do not depend on the secret: a size query asks nothing.
        let sample = [0u8; crate::mfa::totp::SECRET_LEN];
        let secret_size = crate::mfa::totp::encode_secret(&sample).len() + 1;
        let uri_size = crate::mfa::totp::uri(&sample, account).len() + 1;
        // SAFETY: both checked non-NULL above; the caller promises they are readable.
        let (have_secret, have_uri) = unsafe { (*secret_len, *uri_len) };
        if secret.is_null() || uri.is_null() || have_secret < secret_size || have_uri < uri_size {
            // SAFETY: forwarded from the caller.
            unsafe {
                write_out(secret_len, secret_size, "secret_len")?;
                write_out(uri_len, uri_size, "uri_len")?;
            }
            return if secret.is_null() && uri.is_null() {
                Ok(())
            } else {
                Err(FfiError::new(
                    CHMR_BUFFER_TOO_SMALL,
                    format!("the secret needs {secret_size} bytes and the URI {uri_size}"),
                ))
            };
        }
        let token = with_session(session, async |s| s.associate_software_token(account).await)?;
        // SAFETY: forwarded from the caller; both buffers were checked large enough.
        unsafe {
            write_text(&token.secret_code, secret, secret_len, "secret")?;
            write_text(&token.otpauth_uri, uri, uri_len, "uri")
        }
    })
}

/// Verifies the logged-in user's associated software token with `code` from the app
/// (`CHMR_CODE_MISMATCH` when wrong); `device_name` may be NULL.
///
/// # Safety
/// `code` must be a NUL-terminated string; `device_name` NULL or one.
#[no_mangle]
pub unsafe extern "C" fn CHM_VerifySoftwareToken(
    session: CHM_SESSION_HANDLE,
    code: *const c_char,
    device_name: *const c_char,
) -> CHM_RV {
    boundary("CHM_VerifySoftwareToken", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (code, device_name) = unsafe {
            (
                str_arg(code, "code")?,
                opt_str_arg(device_name, "device_name")?,
            )
        };
        with_session(session, async |s| {
            s.verify_software_token(code, device_name).await
        })
    })
}

/// Sets `username`'s phone number (E.164) and/or email on every HSM; either may be NULL.
///
/// # Safety
/// `username` must be a NUL-terminated string; `phone_number` and `email` NULL or ones.
#[no_mangle]
pub unsafe extern "C" fn CHM_UpdateAttributes(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    phone_number: *const c_char,
    email: *const c_char,
) -> CHM_RV {
    boundary("CHM_UpdateAttributes", || {
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, phone, email) = unsafe {
            (
                str_arg(username, "username")?,
                opt_str_arg(phone_number, "phone_number")?,
                opt_str_arg(email, "email")?,
            )
        };
        let role = role_arg(role)?;
        with_session(session, async |s| {
            s.update_attributes(username, role, phone, email).await
        })
    })
}

fn step_out(step: &LoginStep) -> CHM_LOGIN_STEP {
    let mut out = CHM_LOGIN_STEP {
        kind: CHM_STEP_DONE,
        factor: 0,
        factors: 0,
        destination: [0; 64],
    };
    match step {
        LoginStep::Done(_) => {}
        LoginStep::TokenSign(_) => {
            out.kind = CHM_STEP_TOKEN_SIGN;
            out.factor = CHM_FACTOR_TOKEN_SIGN;
        }
        LoginStep::Code {
            factor,
            destination,
        } => {
            out.kind = CHM_STEP_CODE;
            out.factor = factor_bit(*factor);
            if let Some(d) = destination {
                for (slot, b) in out.destination.iter_mut().zip(d.bytes().take(63)) {
                    *slot = b as c_char;
                }
            }
        }
        LoginStep::Select { factors } => {
            out.kind = CHM_STEP_SELECT;
            out.factors = mask(factors.iter().copied());
        }
    }
    out
}

/// Starts a login with a password and reports its next step in `*step`: done, token-sign
/// (the challenges written to `token_path` when it is not NULL; finish with
/// `CHM_LoginMfaFinish` or `CHM_LoginSignWith`), a code (`CHM_LoginCode`), or a selection
/// (`CHM_LoginSelect`). For SMS and email steps one message is sent.
///
/// # Safety
/// `username` and `password` must be NUL-terminated strings, `token_path` NULL or one;
/// `step` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginStart(
    session: CHM_SESSION_HANDLE,
    username: *const c_char,
    role: u32,
    password: *const c_char,
    token_path: *const c_char,
    step: *mut CHM_LOGIN_STEP,
) -> CHM_RV {
    boundary("CHM_LoginStart", || {
        out_arg(step, "step")?;
        // SAFETY: the caller promises NUL-terminated strings.
        let (username, password, token_path) = unsafe {
            (
                str_arg(username, "username")?,
                str_arg(password, "password")?,
                opt_str_arg(token_path, "token_path")?,
            )
        };
        let role = role_arg(role)?;
        let next = with_session(session, async |s| {
            s.login_start(username, role, password, token_path.map(Path::new))
                .await
        })?;
        // SAFETY: the caller promises `step` is writable.
        unsafe { write_out(step, step_out(&next), "step") }
    })
}

/// Answers a selection step with `factor` (a `CHM_FACTOR_*` of the step's `factors`) and
/// reports the next step, as `CHM_LoginStart`.
///
/// # Safety
/// `token_path` NULL or a NUL-terminated string; `step` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginSelect(
    session: CHM_SESSION_HANDLE,
    factor: u32,
    token_path: *const c_char,
    step: *mut CHM_LOGIN_STEP,
) -> CHM_RV {
    boundary("CHM_LoginSelect", || {
        out_arg(step, "step")?;
        // SAFETY: the caller promises a NUL-terminated string or NULL.
        let token_path = unsafe { opt_str_arg(token_path, "token_path") }?;
        let factor = factor_arg(factor)?;
        let next = with_session(session, async |s| {
            s.login_select(factor, token_path.map(Path::new)).await
        })?;
        // SAFETY: the caller promises `step` is writable.
        unsafe { write_out(step, step_out(&next), "step") }
    })
}

/// Answers a code step with `code` and finishes the login (`CHMR_CODE_MISMATCH`,
/// `CHMR_CODE_EXPIRED`; `CHMR_MFA_SELECTION_REQUIRED` when the login waits for a
/// selection instead).
///
/// # Safety
/// `code` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginCode(session: CHM_SESSION_HANDLE, code: *const c_char) -> CHM_RV {
    boundary("CHM_LoginCode", || {
        // SAFETY: the caller promises a NUL-terminated string.
        let code = unsafe { str_arg(code, "code") }?;
        with_session(session, async |s| s.login_code(code).await.map(drop))
    })
}

/// Answers a token-sign step: `callback` signs each HSM's challenge (as for
/// `CHM_LoginMfaWithSigner`) and the login finishes.
///
/// # Safety
/// `callback` must be safe to call with `user_data`.
#[no_mangle]
pub unsafe extern "C" fn CHM_LoginSignWith(
    session: CHM_SESSION_HANDLE,
    callback: CHM_SIGN_CALLBACK,
    user_data: *mut c_void,
) -> CHM_RV {
    boundary("CHM_LoginSignWith", || {
        let signer = CallbackSigner::new(callback, user_data, session)?;
        handles::session(session)?;
        with_session(session, async |s| {
            s.login_sign_with(&signer).await.map(drop)
        })
    })
}
