//! The C types and constants of the ABI: return codes, handles, flags, structures.

use std::os::raw::c_char;

/// The `CHMR_*` return codes and their table, declared once in return_codes.rs.
pub use super::return_codes::*;

/// A return value: `CHMR_OK` (0) or one of the `CHMR_*` codes.
pub type CHM_RV = u32;
/// A handle to a parsed token file; 0 is never a valid handle.
pub type CHM_TOKEN_FILE_HANDLE = u64;
/// A handle to a loaded private or public key; 0 is never a valid handle.
pub type CHM_KEY_HANDLE = u64;

/// A handle to a session with a cluster; 0 is never a valid handle.
pub type CHM_SESSION_HANDLE = u64;

/// The value no handle ever has.
pub const CHM_INVALID_HANDLE: u64 = 0;

/// Library version, major part; equal to the version in Cargo.toml.
pub const CHM_VERSION_MAJOR: u32 = 0;
/// Library version, minor part.
pub const CHM_VERSION_MINOR: u32 = 1;
/// Library version, patch part.
pub const CHM_VERSION_PATCH: u32 = 0;
/// The version of `CHM_FUNCTION_LIST`; it grows when functions are appended.
pub const CHM_FUNCTION_LIST_VERSION: u32 = 6;

/// Length in bytes of a token (a challenge to sign): 32.
pub const CHM_TOKEN_LEN: usize = 32;
/// Length of the largest signature the library makes or takes (RSA-4096): 512 bytes.
pub const CHM_MAX_SIGNATURE_LEN: usize = 512;

/// Token file kind: an MFA token file (`tokens` of `unsigned`/`signed`).
pub const CHM_TOKEN_FILE_MFA: u32 = 1;
/// Token file kind: a registration token file (`tokens` with `approval_data`).
pub const CHM_TOKEN_FILE_REGISTRATION: u32 = 2;
/// Token file kind: a quorum approval file (`approval_data`, `token`, `signatures`).
pub const CHM_TOKEN_FILE_QUORUM_APPROVAL: u32 = 3;

/// Role: an admin (manages users).
pub const CHM_ROLE_ADMIN: u32 = 1;
/// Role: a crypto user (manages and uses keys).
pub const CHM_ROLE_CRYPTO_USER: u32 = 2;
/// Role: the first admin of a cluster that is not activated yet.
pub const CHM_ROLE_UNACTIVATED_ADMIN: u32 = 3;

/// Flag of the MFA change functions: set (or remove) the quorum key with the MFA key.
pub const CHMF_CHANGE_QUORUM: u32 = 0x1;
/// Flag of `CHM_ChangePasswordEx`: also remove the MFA key (and with it the quorum key).
pub const CHMF_DEREGISTER_MFA: u32 = 0x2;
/// Flag of `CHM_ChangePasswordEx`: also remove the quorum key.
pub const CHMF_DEREGISTER_QUORUM: u32 = 0x4;

/// Quorum service: user management (create, delete, change password, change MFA).
pub const CHM_SERVICE_USER: u32 = 1;
/// Quorum service: setting quorum values.
pub const CHM_SERVICE_QUORUM: u32 = 2;
/// Quorum service: quorum key registration (tokens only, no quorum value).
pub const CHM_SERVICE_REGISTRATION: u32 = 3;

/// Scope of `CHM_QuorumDeleteTokens`: the logged-in user's tokens.
pub const CHM_QUORUM_SCOPE_USER: u32 = 1;
/// Scope of `CHM_QuorumDeleteTokens`: every user's tokens (admins).
pub const CHM_QUORUM_SCOPE_ALL: u32 = 2;

/// Entry status: the signature verifies with the key.
pub const CHM_ENTRY_VALID: u32 = 0;
/// Entry status: the entry has no signature yet.
pub const CHM_ENTRY_UNSIGNED: u32 = 1;
/// Entry status: a signature that does not verify with the key.
pub const CHM_ENTRY_INVALID: u32 = 2;
/// Entry status: a signature whose length does not match the key.
pub const CHM_ENTRY_WRONG_LENGTH: u32 = 3;

/// A signing callback: signs the `token_len` (32) bytes at `token` and writes the
/// signature (RSASSA-PKCS1-v1_5 over the token as a SHA-256 digest, as
/// `openssl pkeyutl -sign -pkeyopt digest:sha256` makes) to `sig`, which has room for
/// `sig_len` bytes (`CHM_MAX_SIGNATURE_LEN`), and its length to `*sig_out_len`. Returns
/// `CHMR_OK`, or any other code to stop the operation: the operation then answers
/// `CHMR_FUNCTION_FAILED`, with the callback's code in the last error, and the callback is
/// not called again. Called on the thread of the call that uses it, once per token and one
/// token at a time; from inside it any function may be called except on the session whose
/// operation called it and `CHM_Finalize`, which answer `CHMR_OPERATION_ACTIVE`.
/// `user_data` is passed through; the pointers are valid only during the call.
pub type CHM_SIGN_CALLBACK = Option<
    unsafe extern "C" fn(
        user_data: *mut std::ffi::c_void,
        token: *const u8,
        token_len: usize,
        sig: *mut u8,
        sig_len: usize,
        sig_out_len: *mut usize,
    ) -> CHM_RV,
>;

/// A version number.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CHM_VERSION {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

/// What `CHM_GetInfo` reports.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CHM_INFO {
    /// The library's version (as `CHM_VERSION_MAJOR` ... in the header it was built with).
    pub library_version: CHM_VERSION,
    /// The version of the function list the library provides.
    pub function_list_version: u32,
    /// A NUL-terminated description of the library.
    pub description: [c_char; 64],
}

/// MFA factor (`CHM_GetMfaPreference`'s masks, `CHM_LOGIN_STEP`): token-sign.
pub const CHM_FACTOR_TOKEN_SIGN: u32 = 0x1;
/// MFA factor: a software token (TOTP).
pub const CHM_FACTOR_SOFTWARE_TOKEN: u32 = 0x2;
/// MFA factor: a code by SMS.
pub const CHM_FACTOR_SMS: u32 = 0x4;
/// MFA factor: a code by email.
pub const CHM_FACTOR_EMAIL: u32 = 0x8;

/// A setting of `CHM_MFA_SETTING` left out: it stays as it is.
pub const CHM_SETTING_UNSET: u32 = 0;
/// A setting of `CHM_MFA_SETTING`: false.
pub const CHM_SETTING_FALSE: u32 = 1;
/// A setting of `CHM_MFA_SETTING`: true.
pub const CHM_SETTING_TRUE: u32 = 2;

/// The settings of one factor in `CHM_SetMfaPreference` (Cognito's `Enabled` and
/// `PreferredMfa`): each `CHM_SETTING_UNSET`, `CHM_SETTING_FALSE` or `CHM_SETTING_TRUE`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CHM_MFA_SETTING {
    pub enabled: u32,
    pub preferred: u32,
}

/// The settings of every factor in `CHM_SetMfaPreference`; zeroed, it changes nothing.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CHM_MFA_SETTINGS {
    pub token_sign: CHM_MFA_SETTING,
    pub software_token: CHM_MFA_SETTING,
    pub sms: CHM_MFA_SETTING,
    pub email: CHM_MFA_SETTING,
}

/// Login step: logged in.
pub const CHM_STEP_DONE: u32 = 0;
/// Login step: token-sign challenges wait (`CHM_LoginMfaFinish` with the token file given,
/// or `CHM_LoginSignWith`).
pub const CHM_STEP_TOKEN_SIGN: u32 = 1;
/// Login step: the code of `factor` is asked for (`CHM_LoginCode`); for SMS and email it
/// was sent to `destination`.
pub const CHM_STEP_CODE: u32 = 2;
/// Login step: select one of the factors in `factors` (`CHM_LoginSelect`).
pub const CHM_STEP_SELECT: u32 = 3;

/// Where a login stands after `CHM_LoginStart` or `CHM_LoginSelect`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CHM_LOGIN_STEP {
    /// `CHM_STEP_DONE`, `CHM_STEP_TOKEN_SIGN`, `CHM_STEP_CODE` or `CHM_STEP_SELECT`.
    pub kind: u32,
    /// For `CHM_STEP_CODE`: the `CHM_FACTOR_*` whose code is asked for.
    pub factor: u32,
    /// For `CHM_STEP_SELECT`: the `CHM_FACTOR_*` bits to choose from.
    pub factors: u32,
    /// For an SMS or email code: where it went, masked, NUL-terminated; "" otherwise.
    pub destination: [c_char; 64],
}

/// Arguments of `CHM_Initialize`. Pass NULL for all defaults.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CHM_INITIALIZE_ARGS {
    /// Path of the cluster configuration file, or NULL to use the environment variable
    /// `CLOUDHSM_MFA_CONFIG`, else `/opt/cloudhsm/etc/cloudhsm-cli.cfg`. Copied.
    pub config_path: *const c_char,
    /// Reserved; must be 0.
    pub flags: u64,
}

// The layouts of the header's structures, fixed at compile time (tests/header.rs compares
// them with the C compiler's; c-tests/test_general.c checks the same in C).
const _: () = assert!(size_of::<CHM_VERSION>() == 12 && align_of::<CHM_VERSION>() == 4);
const _: () = assert!(size_of::<CHM_INFO>() == 80 && align_of::<CHM_INFO>() == 4);
const _: () = assert!(std::mem::offset_of!(CHM_INFO, function_list_version) == 12);
const _: () = assert!(std::mem::offset_of!(CHM_INFO, description) == 16);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<CHM_INITIALIZE_ARGS>() == 16);
const _: () = assert!(std::mem::offset_of!(CHM_INITIALIZE_ARGS, config_path) == 0);
