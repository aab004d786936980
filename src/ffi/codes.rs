//! From library errors to return codes, and the static text of each code.

use std::ffi::CStr;

use super::types::*;
use crate::error::{Error, KeyProblem, Pkcs11Problem};
use crate::proto::ErrorCode;

/// A failure on its way out of the C ABI: the code returned and the message kept for
/// `CHM_GetLastError`.
#[derive(Debug)]
pub struct FfiError {
    pub rv: CHM_RV,
    pub message: String,
    /// For a quorum refusal: the approvals counted and required
    /// (`CHM_GetLastErrorApprovals`).
    pub approvals: Option<(u32, u32)>,
}

impl FfiError {
    pub fn new(rv: CHM_RV, message: impl Into<String>) -> Self {
        FfiError {
            rv,
            message: message.into(),
            approvals: None,
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
        Error::Hsm { code, .. } | Error::Quorum { code, .. } => code_of_hsm(*code),
        Error::Protocol { .. } => CHMR_PROTOCOL_ERROR,
        Error::PartialFailure { .. } => CHMR_PARTIAL_FAILURE,
        Error::MfaRequired { .. } | Error::FactorRequired { .. } => CHMR_MFA_REQUIRED,
        Error::SelectionRequired { .. } => CHMR_MFA_SELECTION_REQUIRED,
        Error::MfaNotRegistered { .. } => CHMR_MFA_NOT_REGISTERED,
        Error::TokenNotIssued { .. } | Error::TokenMissing { .. } => CHMR_TOKEN_NOT_ISSUED,
        Error::NothingPending { .. } => CHMR_OPERATION_NOT_INITIALIZED,
        Error::Signer { .. } => CHMR_FUNCTION_FAILED,
        Error::Pkcs11 { problem, .. } => match problem {
            Pkcs11Problem::Uri(_) => CHMR_ARGUMENTS_BAD,
            Pkcs11Problem::Match(_) => CHMR_PKCS11_NO_MATCH,
            Pkcs11Problem::PinRequired(_) => CHMR_PKCS11_PIN_REQUIRED,
            Pkcs11Problem::PinIncorrect(_) => CHMR_PKCS11_PIN_INCORRECT,
            Pkcs11Problem::Exists(_) => CHMR_PKCS11_KEY_EXISTS,
            _ => CHMR_PKCS11_FAILED,
        },
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
        ErrorCode::Limit | ErrorCode::Unknown => CHMR_HSM_REFUSED,
        ErrorCode::BadRequest | ErrorCode::UnknownOperation | ErrorCode::ProtocolVersion => {
            CHMR_PROTOCOL_ERROR
        }
        ErrorCode::Internal => CHMR_DEVICE_ERROR,
        ErrorCode::QuorumApprovalRequired => CHMR_QUORUM_APPROVAL_REQUIRED,
        ErrorCode::QuorumTooFew => CHMR_QUORUM_TOO_FEW,
        ErrorCode::QuorumTokenInvalid => CHMR_QUORUM_TOKEN_INVALID,
        ErrorCode::MfaPreferenceInvalid => CHMR_MFA_PREFERENCE_INVALID,
        ErrorCode::FactorNotReady => CHMR_FACTOR_NOT_READY,
        ErrorCode::CodeMismatch => CHMR_CODE_MISMATCH,
        ErrorCode::CodeExpired => CHMR_CODE_EXPIRED,
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let approvals = match &e {
            Error::Quorum {
                present, required, ..
            } => Some((*present, *required)),
            _ => None,
        };
        FfiError {
            approvals,
            ..FfiError::new(code_of(&e), e.to_string())
        }
    }
}

/// The static text of a code (from `RETURN_CODES`); "unknown return code" for a value the
/// library never returns.
pub fn text_of(rv: CHM_RV) -> &'static CStr {
    RETURN_CODES
        .iter()
        .find(|code| code.value == rv)
        .map_or(c"unknown return code", |code| code.text)
}

/// The name of a code (`"CHMR_OK"`), for the trace line of each call; "unknown" for a
/// value the library never returns.
pub fn name_of(rv: CHM_RV) -> &'static str {
    RETURN_CODES
        .iter()
        .find(|code| code.value == rv)
        .map_or("unknown", |code| code.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_text_and_other_values_the_fallback() {
        for code in RETURN_CODES {
            assert_eq!(text_of(code.value), code.text, "{}", code.name);
            assert_eq!(name_of(code.value), code.name);
        }
        for retired in RETIRED_CODES {
            assert_eq!(text_of(retired.value), c"unknown return code");
        }
        assert_eq!(
            text_of(0x1234_5678).to_str().unwrap(),
            "unknown return code"
        );
    }
}
