//! The C types and constants of the ABI: return codes, handles, flags, structures.

use std::os::raw::c_char;

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
pub const CHM_FUNCTION_LIST_VERSION: u32 = 3;

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

/// Entry status: the signature verifies with the key.
pub const CHM_ENTRY_VALID: u32 = 0;
/// Entry status: the entry has no signature yet.
pub const CHM_ENTRY_UNSIGNED: u32 = 1;
/// Entry status: a signature that does not verify with the key.
pub const CHM_ENTRY_INVALID: u32 = 2;
/// Entry status: a signature whose length does not match the key.
pub const CHM_ENTRY_WRONG_LENGTH: u32 = 3;

/// Return code: success.
pub const CHMR_OK: CHM_RV = 0x00000000;
/// Return code: memory could not be allocated.
pub const CHMR_HOST_MEMORY: CHM_RV = 0x00000002;
/// Return code: an unexpected internal failure (a panic inside the library ends here).
pub const CHMR_GENERAL_ERROR: CHM_RV = 0x00000005;
/// Return code: the operation failed in the cryptographic engine.
pub const CHMR_FUNCTION_FAILED: CHM_RV = 0x00000006;
/// Return code: an argument is NULL, out of range or not valid UTF-8.
pub const CHMR_ARGUMENTS_BAD: CHM_RV = 0x00000007;
/// Return code: input data is longer than allowed (a file over its size limit).
pub const CHMR_DATA_LEN_RANGE: CHM_RV = 0x00000021;
/// Return code: an HSM failed internally.
pub const CHMR_DEVICE_ERROR: CHM_RV = 0x00000030;
/// Return code: the key handle is unknown, closed, or of the wrong kind of key.
pub const CHMR_KEY_HANDLE_INVALID: CHM_RV = 0x00000060;
/// Return code: the RSA key's size is not 2048, 3072 or 4096 bits.
pub const CHMR_KEY_SIZE_RANGE: CHM_RV = 0x00000062;
/// Return code: the key is not an RSA key (EC, Ed25519, ...).
pub const CHMR_KEY_TYPE_INCONSISTENT: CHM_RV = 0x00000063;
/// Return code: a finishing call without the call that begins the operation.
pub const CHMR_OPERATION_NOT_INITIALIZED: CHM_RV = 0x00000091;
/// Return code: wrong user name, role or password.
pub const CHMR_PIN_INCORRECT: CHM_RV = 0x000000A0;
/// Return code: the user is locked after too many failed logins.
pub const CHMR_PIN_LOCKED: CHM_RV = 0x000000A4;
/// Return code: the session handle is unknown or closed.
pub const CHMR_SESSION_HANDLE_INVALID: CHM_RV = 0x000000B3;
/// Return code: the token file handle is unknown or closed.
pub const CHMR_OBJECT_HANDLE_INVALID: CHM_RV = 0x00000082;
/// Return code: a signature does not verify.
pub const CHMR_SIGNATURE_INVALID: CHM_RV = 0x000000C0;
/// Return code: a signature's length does not match the key.
pub const CHMR_SIGNATURE_LEN_RANGE: CHM_RV = 0x000000C1;
/// Return code: the session is already logged in.
pub const CHMR_USER_ALREADY_LOGGED_IN: CHM_RV = 0x00000100;
/// Return code: the operation needs a login.
pub const CHMR_USER_NOT_LOGGED_IN: CHM_RV = 0x00000101;
/// Return code: the output buffer is too small; `*len` holds the size needed.
pub const CHMR_BUFFER_TOO_SMALL: CHM_RV = 0x00000150;
/// Return code: `CHM_Initialize` has not been called.
pub const CHMR_NOT_INITIALIZED: CHM_RV = 0x00000190;
/// Return code: `CHM_Initialize` was already called.
pub const CHMR_ALREADY_INITIALIZED: CHM_RV = 0x00000191;
/// Return code: a file could not be read or written (missing, permissions, symbolic link).
pub const CHMR_FILE_ERROR: CHM_RV = 0x80000001;
/// Return code: a token file breaks the format; the last error names file, field and entry.
pub const CHMR_TOKEN_FILE_INVALID: CHM_RV = 0x80000002;
/// Return code: a key file is not a usable PEM key (not a key, encrypted, wrong kind).
pub const CHMR_KEY_FILE_INVALID: CHM_RV = 0x80000003;
/// Return code: a token entry or approval has no signature.
pub const CHMR_TOKEN_NOT_SIGNED: CHM_RV = 0x80000004;

/// Return code: the cluster configuration file cannot be used.
pub const CHMR_CONFIG_INVALID: CHM_RV = 0x80000005;
/// Return code: the configuration lists several clusters and none was chosen.
pub const CHMR_CLUSTER_ID_REQUIRED: CHM_RV = 0x80000006;
/// Return code: no cluster has the chosen cluster id.
pub const CHMR_CLUSTER_UNKNOWN: CHM_RV = 0x80000007;
/// Return code: no HSM (or not the needed one) could be reached.
pub const CHMR_HSM_UNREACHABLE: CHM_RV = 0x80000008;
/// Return code: the operation was applied to some HSMs of the cluster but not all.
pub const CHMR_PARTIAL_FAILURE: CHM_RV = 0x80000009;
/// Return code: the user has no MFA key registered.
pub const CHMR_MFA_NOT_REGISTERED: CHM_RV = 0x8000000A;
/// Return code: the user has MFA; a password-only login is not enough.
pub const CHMR_MFA_REQUIRED: CHM_RV = 0x8000000B;
/// Return code: the challenge (token) expired; start again.
pub const CHMR_CHALLENGE_EXPIRED: CHM_RV = 0x8000000C;
/// Return code: a token was not issued by this cluster for this operation, or was used.
pub const CHMR_TOKEN_NOT_ISSUED: CHM_RV = 0x8000000D;
/// Return code: an HSM refused the operation for another reason (see the last error).
pub const CHMR_HSM_REFUSED: CHM_RV = 0x8000000E;
/// Return code: no such user.
pub const CHMR_USER_NOT_FOUND: CHM_RV = 0x8000000F;
/// Return code: a user of that name exists.
pub const CHMR_USER_EXISTS: CHM_RV = 0x80000010;
/// Return code: the user is logged in, so cannot be deleted or changed by another user.
pub const CHMR_USER_LOGGED_IN: CHM_RV = 0x80000011;
/// Return code: the logged-in user may not do this.
pub const CHMR_PERMISSION_DENIED: CHM_RV = 0x80000012;
/// Return code: the cluster is not activated (or already is).
pub const CHMR_CLUSTER_STATE: CHM_RV = 0x80000013;
/// Return code: an HSM broke the protocol.
pub const CHMR_PROTOCOL_ERROR: CHM_RV = 0x80000014;

/// A signing callback: signs the `token_len` (32) bytes at `token` and writes the
/// signature (RSASSA-PKCS1-v1_5 over the token as a SHA-256 digest, as
/// `openssl pkeyutl -sign -pkeyopt digest:sha256` makes) to `sig`, which has room for
/// `sig_len` bytes (`CHM_MAX_SIGNATURE_LEN`), and its length to `*sig_out_len`. Returns
/// `CHMR_OK`, or any other code to stop the operation: the operation then answers
/// `CHMR_FUNCTION_FAILED`, with the callback's code in the last error, and the callback is
/// not called again. Called once per token, one after the other, on the calling thread;
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
