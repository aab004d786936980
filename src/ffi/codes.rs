//! From library errors to return codes, and the static text of each code.

use std::ffi::CStr;

use super::types::*;
use crate::error::{Error, KeyProblem};
use crate::proto::ErrorCode;

/// A failure on its way out of the C ABI: the code returned and the message kept for
/// `CHM_GetLastError`.
#[derive(Debug)]
pub struct FfiError {
    pub rv: CHM_RV,
    pub message: String,
}

impl FfiError {
    pub fn new(rv: CHM_RV, message: impl Into<String>) -> Self {
        FfiError {
            rv,
            message: message.into(),
        }
    }

    pub fn bad_argument(message: impl Into<String>) -> Self {
        Self::new(CHMR_ARGUMENTS_BAD, message)
    }
}

/// The return code for each library error.
pub fn code_of(error: &Error) -> CHM_RV {
    match error {
        Error::Read { .. } | Error::Write { .. } => CHMR_FILE_ERROR,
        Error::TooLarge { .. } => CHMR_DATA_LEN_RANGE,
        Error::TokenFile { .. } => CHMR_TOKEN_FILE_INVALID,
        Error::Key { problem, .. } => match problem {
            KeyProblem::TooSmall { .. } | KeyProblem::UnsupportedSize { .. } => CHMR_KEY_SIZE_RANGE,
            KeyProblem::NotRsa(_) => CHMR_KEY_TYPE_INCONSISTENT,
            KeyProblem::NotAKey(_) | KeyProblem::Encrypted | KeyProblem::WrongKind(_) => {
                CHMR_KEY_FILE_INVALID
            }
        },
        Error::SignatureInvalid { .. } => CHMR_SIGNATURE_INVALID,
        Error::SignatureLength { .. } => CHMR_SIGNATURE_LEN_RANGE,
        Error::Unsigned { .. } => CHMR_TOKEN_NOT_SIGNED,
        Error::InvalidArgument { .. } => CHMR_ARGUMENTS_BAD,
        Error::Crypto { .. } => CHMR_FUNCTION_FAILED,
        Error::Config { .. } => CHMR_CONFIG_INVALID,
        Error::ClusterIdRequired { .. } => CHMR_CLUSTER_ID_REQUIRED,
        Error::UnknownCluster { .. } => CHMR_CLUSTER_UNKNOWN,
        Error::Connect { .. } | Error::NoHsmReachable { .. } => CHMR_HSM_UNREACHABLE,
        Error::Hsm { code, .. } => code_of_hsm(*code),
        Error::Protocol { .. } => CHMR_PROTOCOL_ERROR,
        Error::PartialFailure { .. } => CHMR_PARTIAL_FAILURE,
        Error::MfaRequired { .. } => CHMR_MFA_REQUIRED,
        Error::MfaNotRegistered { .. } => CHMR_MFA_NOT_REGISTERED,
        Error::TokenNotIssued { .. } | Error::TokenMissing { .. } => CHMR_TOKEN_NOT_ISSUED,
        Error::NothingPending { .. } => CHMR_OPERATION_NOT_INITIALIZED,
        Error::Signer { .. } => CHMR_FUNCTION_FAILED,
        Error::Runtime { .. } => CHMR_GENERAL_ERROR,
        // A variant added later without a code of its own.
        #[allow(unreachable_patterns)]
        _ => CHMR_GENERAL_ERROR,
    }
}

/// The return code for an HSM's refusal.
fn code_of_hsm(code: ErrorCode) -> CHM_RV {
    match code {
        ErrorCode::InvalidCredentials => CHMR_PIN_INCORRECT,
        ErrorCode::UserLocked => CHMR_PIN_LOCKED,
        ErrorCode::NotLoggedIn => CHMR_USER_NOT_LOGGED_IN,
        ErrorCode::AlreadyLoggedIn => CHMR_USER_ALREADY_LOGGED_IN,
        ErrorCode::SignatureInvalid => CHMR_SIGNATURE_INVALID,
        ErrorCode::ChallengeExpired => CHMR_CHALLENGE_EXPIRED,
        ErrorCode::ChallengeUnknown => CHMR_TOKEN_NOT_ISSUED,
        ErrorCode::MfaNotRegistered => CHMR_MFA_NOT_REGISTERED,
        ErrorCode::InvalidArgument => CHMR_ARGUMENTS_BAD,
        ErrorCode::UserNotFound => CHMR_USER_NOT_FOUND,
        ErrorCode::UserExists => CHMR_USER_EXISTS,
        ErrorCode::UserLoggedIn => CHMR_USER_LOGGED_IN,
        ErrorCode::PermissionDenied => CHMR_PERMISSION_DENIED,
        ErrorCode::ClusterState => CHMR_CLUSTER_STATE,
        ErrorCode::Limit => CHMR_HSM_REFUSED,
        ErrorCode::BadRequest | ErrorCode::UnknownOperation | ErrorCode::ProtocolVersion => {
            CHMR_PROTOCOL_ERROR
        }
        ErrorCode::Internal => CHMR_DEVICE_ERROR,
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        FfiError::new(code_of(&e), e.to_string())
    }
}

/// Every code with its static text, in one table.
const TEXTS: &[(CHM_RV, &CStr)] = &[
    (CHMR_OK, c"OK"),
    (CHMR_HOST_MEMORY, c"out of memory"),
    (CHMR_GENERAL_ERROR, c"internal error"),
    (CHMR_FUNCTION_FAILED, c"cryptographic operation failed"),
    (CHMR_ARGUMENTS_BAD, c"bad arguments"),
    (CHMR_DATA_LEN_RANGE, c"input is larger than allowed"),
    (CHMR_KEY_HANDLE_INVALID, c"invalid key handle"),
    (
        CHMR_KEY_SIZE_RANGE,
        c"RSA key size is not 2048, 3072 or 4096 bits",
    ),
    (CHMR_KEY_TYPE_INCONSISTENT, c"key is not an RSA key"),
    (CHMR_OBJECT_HANDLE_INVALID, c"invalid token file handle"),
    (CHMR_SIGNATURE_INVALID, c"signature does not verify"),
    (
        CHMR_SIGNATURE_LEN_RANGE,
        c"signature length does not match the key",
    ),
    (CHMR_BUFFER_TOO_SMALL, c"buffer too small"),
    (CHMR_NOT_INITIALIZED, c"library not initialized"),
    (CHMR_ALREADY_INITIALIZED, c"library already initialized"),
    (CHMR_FILE_ERROR, c"file cannot be read or written"),
    (CHMR_TOKEN_FILE_INVALID, c"token file is not valid"),
    (CHMR_KEY_FILE_INVALID, c"key file is not a usable PEM key"),
    (CHMR_TOKEN_NOT_SIGNED, c"token is not signed"),
    (CHMR_DEVICE_ERROR, c"HSM failed internally"),
    (CHMR_OPERATION_NOT_INITIALIZED, c"operation was not begun"),
    (CHMR_PIN_INCORRECT, c"wrong user name, role or password"),
    (CHMR_PIN_LOCKED, c"user is locked"),
    (CHMR_SESSION_HANDLE_INVALID, c"invalid session handle"),
    (CHMR_USER_ALREADY_LOGGED_IN, c"already logged in"),
    (CHMR_USER_NOT_LOGGED_IN, c"not logged in"),
    (CHMR_CONFIG_INVALID, c"cluster configuration is not valid"),
    (
        CHMR_CLUSTER_ID_REQUIRED,
        c"several clusters configured: a cluster id is required",
    ),
    (CHMR_CLUSTER_UNKNOWN, c"no cluster has that cluster id"),
    (CHMR_HSM_UNREACHABLE, c"HSM unreachable"),
    (
        CHMR_PARTIAL_FAILURE,
        c"operation failed on some HSMs of the cluster",
    ),
    (
        CHMR_MFA_NOT_REGISTERED,
        c"MFA is not registered for the user",
    ),
    (
        CHMR_MFA_REQUIRED,
        c"the user has MFA: an MFA login is required",
    ),
    (CHMR_CHALLENGE_EXPIRED, c"challenge expired"),
    (
        CHMR_TOKEN_NOT_ISSUED,
        c"token was not issued by this cluster for this operation",
    ),
    (CHMR_HSM_REFUSED, c"HSM refused the operation"),
    (CHMR_USER_NOT_FOUND, c"no such user"),
    (CHMR_USER_EXISTS, c"user exists"),
    (CHMR_USER_LOGGED_IN, c"user is logged in"),
    (CHMR_PERMISSION_DENIED, c"permission denied"),
    (
        CHMR_CLUSTER_STATE,
        c"cluster is not in the right state (activation)",
    ),
    (CHMR_PROTOCOL_ERROR, c"HSM protocol error"),
];

/// The static text of a code; "unknown return code" for a value the library never returns.
pub fn text_of(rv: CHM_RV) -> &'static CStr {
    TEXTS
        .iter()
        .find(|(code, _)| *code == rv)
        .map_or(c"unknown return code", |(_, text)| text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_distinct_text() {
        for (i, (code, _)) in TEXTS.iter().enumerate() {
            assert!(
                TEXTS[..i].iter().all(|(c, _)| c != code),
                "code {code:#x} listed twice"
            );
        }
        assert_eq!(
            text_of(0x1234_5678).to_str().unwrap(),
            "unknown return code"
        );
    }
}
