//! The protocol between the client and an HSM node, shared with the emulator.
//!
//! A connection is TLS 1.3. Each message is a frame: a 4-byte big-endian length (at most
//! [`MAX_FRAME`]) followed by that many bytes of JSON. The client sends [`Request`]s, each
//! with an `id`; the node answers each with a [`Response`] carrying the same `id`. The first
//! request on a connection must be `hello`, with the client's protocol version and
//! [`FEATURES`]; the node answers with the version both speak and its own features. A
//! login binds to the connection that made it: closing the connection logs out.
//!
//! The operations are declared once, in `ops.rs`; `tests/golden/protocol.json` pins the
//! wire shape of every message.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

pub use crate::quorum::Service;
pub use crate::user::Role;

mod frame;
#[cfg(test)]
mod golden;
mod ops;

pub use frame::{read_frame, read_frame_after, write_frame, FrameError};

/// The protocol version this library speaks, stated in `hello` both ways.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest protocol version this library still speaks. A node answers `hello` with the
/// lower of the two sides' versions; each side refuses one below its oldest.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// The optional parts of the protocol this library speaks, announced in `hello` both ways.
/// A node sends a reply that belongs to a feature only to a client that announced it, and
/// either side reads an unknown reply or error code as "unknown", never as a broken
/// connection, so that clients and nodes of different versions keep working together.
pub const FEATURES: &[&str] = &[QUORUM, MFA];
/// The feature of MFA factors and preferences (SPEC §11): software tokens, SMS and email
/// codes, the login steps that ask for them, and the preference operations.
pub const MFA: &str = "mfa";
/// The feature of quorum authentication (SPEC §7): the `quorum_*` and `approved`
/// operations and their replies.
pub const QUORUM: &str = "quorum";
/// The largest frame body, in bytes.
pub const MAX_FRAME: usize = 1024 * 1024;

/// A password on the wire: zeroed when dropped, never shown by `Debug`.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A request with its id: `{"id": 7, "op": "login", "args": {...}}`.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub op: Op,
}

/// Reads a request without copying it into serde's intermediate buffers (which
/// `#[serde(flatten)]` would do, leaving copies of passwords that are never zeroed): the
/// `id` is picked out of the map as it streams by and every other entry goes straight to
/// the operation, whose `args` are read directly when `op` comes first, as this library
/// writes it.
impl<'de> Deserialize<'de> for Request {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RequestVisitor)
    }
}

struct RequestVisitor;

impl<'de> serde::de::Visitor<'de> for RequestVisitor {
    type Value = Request;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request object with id, op and args")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Request, A::Error> {
        let mut id = None;
        let op = Op::deserialize(WithoutId {
            map: &mut map,
            id: &mut id,
        })?;
        let id = id.ok_or_else(|| serde::de::Error::missing_field("id"))?;
        Ok(Request { id, op })
    }
}

/// The entries of a request map other than `id`, as a map of their own.
struct WithoutId<'a, A> {
    map: &'a mut A,
    id: &'a mut Option<u64>,
}

impl<'de, A: serde::de::MapAccess<'de>> serde::de::MapAccess<'de> for WithoutId<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        use serde::de::IntoDeserializer;
        loop {
            match self.map.next_key::<String>()? {
                None => return Ok(None),
                Some(key) if key == "id" => {
                    if self.id.is_some() {
                        return Err(serde::de::Error::duplicate_field("id"));
                    }
                    *self.id = Some(self.map.next_value()?);
                }
                Some(key) => return seed.deserialize(key.into_deserializer()).map(Some),
            }
        }
    }

    fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(seed)
    }
}

impl<'de, A: serde::de::MapAccess<'de>> serde::Deserializer<'de> for WithoutId<'_, A> {
    type Error = A::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_map(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

pub use ops::{Op, OPERATION_NAMES};

/// A response, with the id of its request (0 when the request could not be read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub id: u64,
    #[serde(flatten)]
    pub reply: Reply,
}

/// What a node answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// To `hello`: the version both sides speak and the features the node speaks.
    Hello {
        protocol: u32,
        hsm_id: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        features: Vec<String>,
    },
    /// The operation was done.
    Done,
    /// A login finished.
    LoggedIn { username: String, role: Role },
    /// A challenge to sign (SPEC §5, §6).
    Challenge { token: String, expires_in_secs: u64 },
    /// To `list_users`.
    Users { users: Vec<UserInfo> },
    /// The operation failed; nothing changed. A quorum refusal carries the counts.
    Error {
        code: ErrorCode,
        message: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        approvals: Option<ApprovalCounts>,
    },
    /// To `quorum_generate`: this node's record of the new token (base64) and how long
    /// the token lasts.
    QuorumToken {
        record: String,
        expires_in_secs: u64,
    },
    /// To `quorum_list`.
    QuorumTokens { tokens: Vec<QuorumTokenInfo> },
    /// To `quorum_values`.
    QuorumValues { user: u32, quorum: u32 },
    /// A login step: the code of `factor` is asked for; for SMS and email it was sent to
    /// `destination` (masked).
    MfaCode {
        factor: crate::mfa::Factor,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<String>,
    },
    /// A login step: the user picks one of `factors` (`login_mfa_select`).
    MfaSelect { factors: Vec<crate::mfa::Factor> },
    /// A user's MFA preferences: the enabled factors and the preferred one.
    MfaPreferences {
        enabled: Vec<crate::mfa::Factor>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        preferred: Option<crate::mfa::Factor>,
    },
    /// A reply of a newer protocol that this library does not know.
    #[serde(other)]
    Unknown,
}

impl Reply {
    /// The feature (of [`FEATURES`]) a client must have announced to be sent this reply;
    /// `None` for the replies of the base protocol.
    pub fn feature(&self) -> Option<&'static str> {
        match self {
            Reply::Hello { .. }
            | Reply::Done
            | Reply::LoggedIn { .. }
            | Reply::Challenge { .. }
            | Reply::Users { .. }
            | Reply::Error { .. }
            | Reply::Unknown => None,
            Reply::QuorumToken { .. } | Reply::QuorumTokens { .. } | Reply::QuorumValues { .. } => {
                Some(QUORUM)
            }
            Reply::MfaCode { .. } | Reply::MfaSelect { .. } | Reply::MfaPreferences { .. } => {
                Some(MFA)
            }
        }
    }

    /// The reply's name, as on the wire (`"challenge"`, `"logged_in"`, ...), for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Reply::Hello { .. } => "hello",
            Reply::Done => "done",
            Reply::LoggedIn { .. } => "logged_in",
            Reply::Challenge { .. } => "challenge",
            Reply::Users { .. } => "users",
            Reply::Error { .. } => "error",
            Reply::QuorumToken { .. } => "quorum_token",
            Reply::QuorumTokens { .. } => "quorum_tokens",
            Reply::QuorumValues { .. } => "quorum_values",
            Reply::MfaCode { .. } => "mfa_code",
            Reply::MfaSelect { .. } => "mfa_select",
            Reply::MfaPreferences { .. } => "mfa_preferences",
            Reply::Unknown => "unknown",
        }
    }

    /// What the reply says in a log: its name, or for an error its code
    /// (`"invalid_credentials"`). Never a token, a secret or a message.
    pub fn outcome(&self) -> &'static str {
        match self {
            Reply::Error { code, .. } => code.as_str(),
            other => other.name(),
        }
    }

    /// An error reply without quorum counts.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Reply {
        Reply::Error {
            code,
            message: message.into(),
            approvals: None,
        }
    }
}

/// The approvals a quorum refusal counted, and how many the service needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalCounts {
    pub present: u32,
    pub required: u32,
}

/// A quorum approval as a gated operation presents it (SPEC §2.3), base64 as in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    pub approval_data: String,
    pub signatures: Vec<ApprovalSignature>,
}

/// One approver's signature over the approval's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalSignature {
    pub username: String,
    pub signature: String,
}

/// Whose quorum tokens `quorum_delete` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteScope {
    /// The logged-in user's.
    User,
    /// Every user's (admins only).
    All,
}

/// One open quorum token, as a node lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumTokenInfo {
    pub username: String,
    pub service: Service,
    /// The service's quorum value now.
    pub approvals_required: u32,
    /// 0 until the token is used (approvals are gathered offline).
    pub approvals: u32,
    pub expires_in_secs: u64,
}

/// One user as a node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
    pub locked: bool,
    pub mfa: bool,
    pub quorum: bool,
    /// The enabled MFA factors (SPEC §11); absent from nodes before the `mfa` feature,
    /// where `mfa` alone says whether token-sign is on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub factors: Vec<crate::mfa::Factor>,
}

/// Why a node refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame or message could not be read.
    BadRequest,
    /// The operation name is not known.
    UnknownOperation,
    /// `hello` is missing or states another protocol version.
    ProtocolVersion,
    /// An argument breaks a rule (user name, password length, key size, ...).
    InvalidArgument,
    /// The operation needs a login on this connection.
    NotLoggedIn,
    /// This connection is already logged in.
    AlreadyLoggedIn,
    /// The logged-in user may not do this.
    PermissionDenied,
    /// Wrong user name, role or password (or a failed MFA signature).
    InvalidCredentials,
    /// The user is locked after too many failed logins.
    UserLocked,
    /// No such user.
    UserNotFound,
    /// A user of that name exists.
    UserExists,
    /// The user is logged in, so cannot be deleted or have its password changed by
    /// another user.
    UserLoggedIn,
    /// The user has no MFA key.
    MfaNotRegistered,
    /// The challenge expired.
    ChallengeExpired,
    /// This node did not issue the token to this connection for this purpose, or it was
    /// already used.
    ChallengeUnknown,
    /// The signature does not verify with the key.
    SignatureInvalid,
    /// The cluster is not activated yet (or already activated, for `activate_cluster`).
    ClusterState,
    /// The node holds its maximum number of users.
    Limit,
    /// The node failed internally (for example, storage).
    Internal,
    /// A gated operation came without a quorum approval (SPEC §7).
    QuorumApprovalRequired,
    /// The approval has fewer valid approvals than the service's quorum value.
    QuorumTooFew,
    /// The approval's token is not one this node issued to this login for this service,
    /// was used, or expired (the message says which).
    QuorumTokenInvalid,
    /// An MFA preference request breaks a rule (two preferred factors, preferred and
    /// disabled, ...); nothing changed.
    MfaPreferenceInvalid,
    /// A factor cannot be used yet: a software token not verified, no phone number or
    /// email, no token-sign key.
    FactorNotReady,
    /// A TOTP, SMS or email code is wrong or was used already.
    CodeMismatch,
    /// An SMS or email code expired.
    CodeExpired,
    /// A code of a newer protocol that this library does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code's name, as on the wire (`"invalid_credentials"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::UnknownOperation => "unknown_operation",
            ErrorCode::ProtocolVersion => "protocol_version",
            ErrorCode::NotLoggedIn => "not_logged_in",
            ErrorCode::AlreadyLoggedIn => "already_logged_in",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::InvalidCredentials => "invalid_credentials",
            ErrorCode::UserLocked => "user_locked",
            ErrorCode::UserNotFound => "user_not_found",
            ErrorCode::UserExists => "user_exists",
            ErrorCode::UserLoggedIn => "user_logged_in",
            ErrorCode::MfaNotRegistered => "mfa_not_registered",
            ErrorCode::ChallengeExpired => "challenge_expired",
            ErrorCode::ChallengeUnknown => "challenge_unknown",
            ErrorCode::SignatureInvalid => "signature_invalid",
            ErrorCode::ClusterState => "cluster_state",
            ErrorCode::Limit => "limit",
            ErrorCode::Internal => "internal",
            ErrorCode::QuorumApprovalRequired => "quorum_approval_required",
            ErrorCode::QuorumTooFew => "quorum_too_few",
            ErrorCode::QuorumTokenInvalid => "quorum_token_invalid",
            ErrorCode::MfaPreferenceInvalid => "mfa_preference_invalid",
            ErrorCode::FactorNotReady => "factor_not_ready",
            ErrorCode::CodeMismatch => "code_mismatch",
            ErrorCode::CodeExpired => "code_expired",
            ErrorCode::Unknown => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_documented_json_shape() {
        let r = Request {
            id: 7,
            op: Op::Login {
                username: "alice".into(),
                role: Role::CryptoUser,
                password: Secret::new("pw"),
                code_nonce: None,
                deliver_by: None,
            },
        };
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["op"], "login");
        assert_eq!(v["args"]["role"], "crypto-user");
        let back: Request = serde_json::from_value(v).unwrap();
        assert_eq!(back.op.name(), "login");
        let logout: serde_json::Value = serde_json::to_value(Request {
            id: 1,
            op: Op::Logout,
        })
        .unwrap();
        assert_eq!(logout["op"], "logout");
    }

    #[test]
    fn requests_read_back_whatever_the_order_of_their_fields() {
        let text = r#"{"op":"change_password","args":{"username":"bob","role":"admin","password":"pw-123456"},"id":9}"#;
        let r: Request = serde_json::from_str(text).unwrap();
        assert_eq!(r.id, 9);
        assert!(matches!(r.op, Op::ChangePassword { ref username, .. } if username == "bob"));
        let text = r#"{"args":{"protocol":1},"id":3,"op":"hello"}"#;
        assert!(matches!(
            serde_json::from_str::<Request>(text).unwrap().op,
            Op::Hello { protocol: 1, .. }
        ));
        assert!(serde_json::from_str::<Request>(r#"{"op":"logout"}"#)
            .unwrap_err()
            .to_string()
            .contains("missing field `id`"));
        assert!(serde_json::from_str::<Request>(r#"{"id":1,"id":2,"op":"logout"}"#).is_err());
        assert!(serde_json::from_str::<Request>(r#"{"id":1,"op":"format_disk"}"#).is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let op = Op::ActivateCluster {
            password: Secret::new("hunter22"),
        };
        assert!(!format!("{op:?}").contains("hunter22"));
    }

    #[test]
    fn code_and_reply_names_are_the_wire_names() {
        for code in golden::ERROR_CODES.into_iter().chain([ErrorCode::Unknown]) {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
        let replies = [
            Reply::Done,
            Reply::LoggedIn {
                username: "a".into(),
                role: Role::Admin,
            },
            Reply::Challenge {
                token: String::new(),
                expires_in_secs: 1,
            },
            Reply::Users { users: vec![] },
            Reply::QuorumValues { user: 1, quorum: 1 },
            Reply::MfaSelect { factors: vec![] },
        ];
        for reply in replies {
            assert_eq!(serde_json::to_value(&reply).unwrap()["reply"], reply.name());
        }
        let refusal = Reply::error(ErrorCode::UserLocked, "locked");
        assert_eq!(refusal.outcome(), "user_locked");
    }
}
