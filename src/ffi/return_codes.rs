//! The return codes, declared once: each code's name, value, static text and Python
//! exception class, and the numbers retired from use.
//!
//! The `return_codes!` invocation below is the only list of codes. The Rust compiler turns
//! it into the `CHMR_*` constants, `RETURN_CODES` and `RETIRED_CODES`; build.rs reads the
//! same text to give cbindgen the constants (it does not expand macros) and to write the
//! code table of `bindings/python/cloudhsm_mfa/_ffi.py`. tests/header.rs checks that the
//! header, `_ffi.py` and `bindings/python/cloudhsm_mfa/errors.py` agree with `RETURN_CODES`.
//!
//! To add a code, add an entry `/// doc` + `NAME = value, "text", PythonClass;` (the class
//! defined in errors.py; `None` only for `CHMR_OK`), then run `CHM_UPDATE_HEADER=1 cargo
//! build` and commit the header and `_ffi.py`. A code is never removed nor renumbered: to
//! retire one, move it to `retired` with the reason; its number is never given again.

use std::ffi::CStr;

use super::types::CHM_RV;

/// A return code of the C ABI.
#[derive(Debug, Clone, Copy)]
pub struct ReturnCode {
    /// The name in the header, e.g. `"CHMR_ARGUMENTS_BAD"`.
    pub name: &'static str,
    pub value: CHM_RV,
    /// The static text of `CHM_GetReturnCodeText`.
    pub text: &'static CStr,
    /// The exception class the Python package raises for it (`None` for `CHMR_OK`).
    pub python_class: Option<&'static str>,
}

/// A code no longer returned, whose number stays reserved.
#[derive(Debug, Clone, Copy)]
pub struct RetiredCode {
    pub name: &'static str,
    pub value: CHM_RV,
    /// Why, and since which version, it is no longer used.
    pub reason: &'static str,
}

/// The text as a C string, checked at compile time.
const fn c_text(text_with_nul: &'static str) -> &'static CStr {
    match CStr::from_bytes_with_nul(text_with_nul.as_bytes()) {
        Ok(text) => text,
        Err(_) => panic!("a return code text contains a NUL character"),
    }
}

/// The table's syntax. Each code: doc comment, `NAME = value, "text", PythonClass;`.
/// Each retired code: `NAME = value, "reason";`. build.rs parses the same syntax (one
/// entry per `;`, `///` doc lines, `//` comments), so keep to it.
macro_rules! return_codes {
    (@class None) => { None };
    (@class $class:ident) => { Some(stringify!($class)) };
    (
        codes {
            $( $(#[$doc:meta])* $name:ident = $value:literal, $text:literal, $class:ident; )*
        }
        retired {
            $( $(#[$rdoc:meta])* $rname:ident = $rvalue:literal, $reason:literal; )*
        }
    ) => {
        $( $(#[$doc])* pub const $name: CHM_RV = $value; )*

        /// Every return code, in the order of the table (and of the header).
        pub static RETURN_CODES: &[ReturnCode] = &[
            $( ReturnCode {
                name: stringify!($name),
                value: $name,
                text: c_text(concat!($text, "\0")),
                python_class: return_codes!(@class $class),
            }, )*
        ];

        /// Every retired code; no code may take one of these numbers.
        pub static RETIRED_CODES: &[RetiredCode] = &[
            $( RetiredCode { name: stringify!($rname), value: $rvalue, reason: $reason }, )*
        ];
    };
}

return_codes! {
    codes {
        /// Return code: success.
        CHMR_OK = 0x00000000, "OK", None;
        /// Return code: memory could not be allocated.
        CHMR_HOST_MEMORY = 0x00000002, "out of memory", GeneralError;
        /// Return code: an unexpected internal failure (a panic inside the library ends here).
        CHMR_GENERAL_ERROR = 0x00000005, "internal error", GeneralError;
        /// Return code: the operation failed in the cryptographic engine.
        CHMR_FUNCTION_FAILED = 0x00000006, "cryptographic operation failed", CryptoError;
        /// Return code: an argument is NULL, out of range or not valid UTF-8.
        CHMR_ARGUMENTS_BAD = 0x00000007, "bad arguments", BadArgumentsError;
        /// Return code: input data is longer than allowed (a file over its size limit).
        CHMR_DATA_LEN_RANGE = 0x00000021, "input is larger than allowed", DataTooLargeError;
        /// Return code: an HSM failed internally.
        CHMR_DEVICE_ERROR = 0x00000030, "HSM failed internally", HsmDeviceError;
        /// Return code: the key handle is unknown, closed, or of the wrong kind of key.
        CHMR_KEY_HANDLE_INVALID = 0x00000060, "invalid key handle", KeyHandleInvalidError;
        /// Return code: the RSA key's size is not 2048, 3072 or 4096 bits.
        CHMR_KEY_SIZE_RANGE = 0x00000062, "RSA key size is not 2048, 3072 or 4096 bits",
            UnsupportedKeySizeError;
        /// Return code: the key is not an RSA key (EC, Ed25519, ...).
        CHMR_KEY_TYPE_INCONSISTENT = 0x00000063, "key is not an RSA key", NotRsaKeyError;
        /// Return code: a signing callback called into the session whose operation called
        /// it (or into a session another call is using, or `CHM_Finalize`): refused instead
        /// of waiting forever.
        CHMR_OPERATION_ACTIVE = 0x00000090, "another operation is active on this session",
            OperationActiveError;
        /// Return code: a finishing call without the call that begins the operation.
        CHMR_OPERATION_NOT_INITIALIZED = 0x00000091, "operation was not begun",
            OperationNotBegunError;
        /// Return code: wrong user name, role or password.
        CHMR_PIN_INCORRECT = 0x000000A0, "wrong user name, role or password", PinIncorrectError;
        /// Return code: the user is locked after too many failed logins.
        CHMR_PIN_LOCKED = 0x000000A4, "user is locked", UserLockedError;
        /// Return code: the session handle is unknown or closed.
        CHMR_SESSION_HANDLE_INVALID = 0x000000B3, "invalid session handle",
            SessionHandleInvalidError;
        /// Return code: the token file handle is unknown or closed.
        CHMR_OBJECT_HANDLE_INVALID = 0x00000082, "invalid token file handle",
            TokenFileHandleInvalidError;
        /// Return code: a signature does not verify.
        CHMR_SIGNATURE_INVALID = 0x000000C0, "signature does not verify", SignatureInvalidError;
        /// Return code: a signature's length does not match the key.
        CHMR_SIGNATURE_LEN_RANGE = 0x000000C1, "signature length does not match the key",
            SignatureLengthError;
        /// Return code: the session is already logged in.
        CHMR_USER_ALREADY_LOGGED_IN = 0x00000100, "already logged in", UserAlreadyLoggedInError;
        /// Return code: the operation needs a login.
        CHMR_USER_NOT_LOGGED_IN = 0x00000101, "not logged in", UserNotLoggedInError;
        /// Return code: the output buffer is too small; `*len` holds the size needed.
        CHMR_BUFFER_TOO_SMALL = 0x00000150, "buffer too small", BufferTooSmallError;
        /// Return code: `CHM_Initialize` has not been called.
        CHMR_NOT_INITIALIZED = 0x00000190, "library not initialized", NotInitializedError;
        /// Return code: `CHM_Initialize` was already called.
        CHMR_ALREADY_INITIALIZED = 0x00000191, "library already initialized",
            AlreadyInitializedError;
        /// Return code: a file could not be read or written (missing, permissions, symbolic link).
        CHMR_FILE_ERROR = 0x80000001, "file cannot be read or written", FileError;
        /// Return code: a token file breaks the format; the last error names file, field and entry.
        CHMR_TOKEN_FILE_INVALID = 0x80000002, "token file is not valid", TokenFileError;
        /// Return code: a key file is not a usable PEM key (not a key, encrypted, wrong kind).
        CHMR_KEY_FILE_INVALID = 0x80000003, "key file is not a usable PEM key", KeyFileError;
        /// Return code: a token entry or approval has no signature.
        CHMR_TOKEN_NOT_SIGNED = 0x80000004, "token is not signed", NotSignedError;
        /// Return code: the cluster configuration file cannot be used.
        CHMR_CONFIG_INVALID = 0x80000005, "cluster configuration is not valid", ConfigError;
        /// Return code: the configuration lists several clusters and none was chosen.
        CHMR_CLUSTER_ID_REQUIRED = 0x80000006,
            "several clusters configured: a cluster id is required", ClusterIdRequiredError;
        /// Return code: no cluster has the chosen cluster id.
        CHMR_CLUSTER_UNKNOWN = 0x80000007, "no cluster has that cluster id", ClusterUnknownError;
        /// Return code: no HSM (or not the needed one) could be reached.
        CHMR_HSM_UNREACHABLE = 0x80000008, "HSM unreachable", HsmUnreachableError;
        /// Return code: the operation was applied to some HSMs of the cluster but not all.
        CHMR_PARTIAL_FAILURE = 0x80000009, "operation failed on some HSMs of the cluster",
            PartialFailureError;
        /// Return code: the user has no MFA key registered.
        CHMR_MFA_NOT_REGISTERED = 0x8000000A, "MFA is not registered for the user",
            MfaNotRegisteredError;
        /// Return code: the user has MFA; a password-only login is not enough.
        CHMR_MFA_REQUIRED = 0x8000000B, "the user has MFA: an MFA login is required",
            MfaRequiredError;
        /// Return code: the challenge (token) expired; start again.
        CHMR_CHALLENGE_EXPIRED = 0x8000000C, "challenge expired", ChallengeExpiredError;
        /// Return code: a token was not issued by this cluster for this operation, or was used.
        CHMR_TOKEN_NOT_ISSUED = 0x8000000D,
            "token was not issued by this cluster for this operation", TokenNotIssuedError;
        /// Return code: an HSM refused the operation for another reason (see the last error).
        CHMR_HSM_REFUSED = 0x8000000E, "HSM refused the operation", HsmRefusedError;
        /// Return code: no such user.
        CHMR_USER_NOT_FOUND = 0x8000000F, "no such user", UserNotFoundError;
        /// Return code: a user of that name exists.
        CHMR_USER_EXISTS = 0x80000010, "user exists", UserExistsError;
        /// Return code: the user is logged in, so cannot be deleted or changed by another user.
        CHMR_USER_LOGGED_IN = 0x80000011, "user is logged in", UserLoggedInError;
        /// Return code: the logged-in user may not do this.
        CHMR_PERMISSION_DENIED = 0x80000012, "permission denied", PermissionDeniedError;
        /// Return code: the cluster is not activated (or already is).
        CHMR_CLUSTER_STATE = 0x80000013, "cluster is not in the right state (activation)",
            ClusterStateError;
        /// Return code: an HSM broke the protocol.
        CHMR_PROTOCOL_ERROR = 0x80000014, "HSM protocol error", ProtocolError;
        /// Return code: a gated operation needs a quorum approval (SPEC §7): set one with
        /// `CHM_SetApproval`. `CHM_GetLastErrorApprovals` gives the number required.
        CHMR_QUORUM_APPROVAL_REQUIRED = 0x80000015, "a quorum approval is required",
            QuorumApprovalRequiredError;
        /// Return code: the approval has too few valid approvals; `CHM_GetLastErrorApprovals`
        /// gives the counts.
        CHMR_QUORUM_TOO_FEW = 0x80000016, "too few quorum approvals", QuorumTooFewError;
        /// Return code: the approval's token was not issued to this login for this service,
        /// was used, or expired.
        CHMR_QUORUM_TOKEN_INVALID = 0x80000017, "quorum token is not valid here",
            QuorumTokenInvalidError;
        /// Return code: an MFA preference request breaks a rule (two preferred factors,
        /// preferred and disabled, ...); nothing changed.
        CHMR_MFA_PREFERENCE_INVALID = 0x80000018, "MFA preference request is not valid",
            MfaPreferenceInvalidError;
        /// Return code: an MFA factor is not ready: a software token not verified, no phone
        /// number or email, no token-sign key.
        CHMR_FACTOR_NOT_READY = 0x80000019, "MFA factor is not verified or not set up",
            FactorNotReadyError;
        /// Return code: a TOTP, SMS or email code is wrong or was used already.
        CHMR_CODE_MISMATCH = 0x8000001A, "MFA code mismatch", CodeMismatchError;
        /// Return code: an SMS or email code expired.
        CHMR_CODE_EXPIRED = 0x8000001B, "MFA code expired", CodeExpiredError;
        /// Return code: the login waits for the user to select one of several factors.
        CHMR_MFA_SELECTION_REQUIRED = 0x8000001C, "MFA factor selection required",
            SelectionRequiredError;
        /// Return code: a PKCS#11 module cannot be loaded or initialised, or a token failed
        /// an operation (SPEC §12).
        CHMR_PKCS11_FAILED = 0x8000001D, "PKCS#11 module or token failed", Pkcs11Error;
        /// Return code: a `pkcs11:` URI matches no token or key, or several; the message
        /// says how many.
        CHMR_PKCS11_NO_MATCH = 0x8000001E, "pkcs11: URI does not match exactly one token and key",
            Pkcs11NoMatchError;
        /// Return code: a PKCS#11 token refused the PIN (wrong or locked); it was not tried
        /// again.
        CHMR_PKCS11_PIN_INCORRECT = 0x8000001F, "PKCS#11 token refused the PIN",
            Pkcs11PinIncorrectError;
        /// Return code: a PKCS#11 token needs a PIN and none was given (no PIN argument,
        /// pin-source, pin-value or environment variable, and no terminal to ask on).
        CHMR_PKCS11_PIN_REQUIRED = 0x80000020, "PKCS#11 token PIN required", Pkcs11PinRequiredError;
        /// Return code: key generation on a PKCS#11 token found a key with that label or id.
        CHMR_PKCS11_KEY_EXISTS = 0x80000021, "a key with that label exists on the PKCS#11 token",
            Pkcs11KeyExistsError;
    }
    retired {
        // None yet. An entry: `CHMR_NAME = 0x8000XXXX, "why, since which version";`
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_value_and_name_is_unique_and_never_a_retired_one() {
        let all = RETURN_CODES
            .iter()
            .map(|c| (c.name, c.value))
            .chain(RETIRED_CODES.iter().map(|c| (c.name, c.value)));
        let mut names = std::collections::BTreeSet::new();
        let mut values = std::collections::BTreeSet::new();
        for (name, value) in all {
            assert!(names.insert(name), "{name} is listed twice");
            assert!(values.insert(value), "{value:#x} ({name}) is listed twice");
        }
    }

    #[test]
    fn every_code_has_a_distinct_nonempty_text() {
        let mut texts = std::collections::BTreeSet::new();
        for code in RETURN_CODES {
            let text = code.text.to_str().unwrap();
            assert!(!text.is_empty(), "{} has no text", code.name);
            assert!(texts.insert(text), "{} shares its text", code.name);
        }
    }

    #[test]
    fn every_failure_code_has_a_python_class() {
        for code in RETURN_CODES {
            assert_eq!(
                code.python_class.is_none(),
                code.value == CHMR_OK,
                "{}: only CHMR_OK has no Python class",
                code.name
            );
        }
    }
}
