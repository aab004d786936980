//! The one error type of the library. Every variant carries what a user needs to act:
//! the file, the field and entry of a token file, the key file and what is wrong with it.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::proto::ErrorCode;
use crate::quote;

/// Where a token file or key came from: a path on disk, or a caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Read from (or to be written to) this path.
    File(PathBuf),
    /// Parsed from memory handed over by the caller.
    Buffer,
    /// On a PKCS#11 token: the URI that names it, as shown (its `pin-value` hidden).
    Token(String),
}

impl Origin {
    pub fn file(path: &Path) -> Self {
        Origin::File(path.to_path_buf())
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File(p) => f.write_str(&quote::path(p)),
            Origin::Buffer => f.write_str("<buffer>"),
            Origin::Token(uri) => f.write_str(uri),
        }
    }
}

/// What is wrong with a key file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Not PEM, or PEM that holds no key.
    NotAKey(String),
    /// A password-protected private key; the library takes only unencrypted keys.
    Encrypted,
    /// An RSA key below 2048 bits.
    TooSmall { bits: usize },
    /// An RSA key of a size other than 2048, 3072 or 4096 bits.
    UnsupportedSize { bits: usize },
    /// A key of another algorithm (EC, Ed25519, ...).
    NotRsa(String),
    /// A public key where a private key is needed, or the other way round.
    WrongKind(String),
}

/// What went wrong with a key on a PKCS#11 token (SPEC §12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pkcs11Problem {
    /// The URI breaks RFC 7512 or names an attribute we do not know.
    Uri(String),
    /// The module cannot be found, loaded or initialised.
    Module(String),
    /// Not exactly one token or key matches the URI; the message says how many did.
    Match(String),
    /// No PIN was given and none could be asked for; the message names the ways to give one.
    PinRequired(String),
    /// The token refused the PIN (wrong, or locked); it is never tried again.
    PinIncorrect(String),
    /// A key with that label already exists on the token (key generation).
    Exists(String),
    /// The token or module failed an operation.
    Failed(String),
}

impl fmt::Display for Pkcs11Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkcs11Problem::Uri(why) => write!(f, "not a usable PKCS#11 URI: {why}"),
            Pkcs11Problem::Module(why)
            | Pkcs11Problem::Match(why)
            | Pkcs11Problem::PinRequired(why)
            | Pkcs11Problem::PinIncorrect(why)
            | Pkcs11Problem::Exists(why)
            | Pkcs11Problem::Failed(why) => f.write_str(why),
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::NotAKey(why) => write!(f, "not an RSA key in PEM form: {why}"),
            KeyProblem::Encrypted => f.write_str(
                "the private key is encrypted; decrypt it first \
                 (openssl pkey -in KEY -out PLAIN) and keep the result private",
            ),
            KeyProblem::TooSmall { bits } => write!(
                f,
                "RSA key of {bits} bits is too small; MFA and quorum keys are RSA 2048, 3072 or 4096 bits"
            ),
            KeyProblem::UnsupportedSize { bits } => write!(
                f,
                "RSA key of {bits} bits is not supported; MFA and quorum keys are RSA 2048, 3072 or 4096 bits"
            ),
            KeyProblem::NotRsa(kind) => write!(
                f,
                "{kind} key; MFA and quorum keys are RSA keys (openssl genrsa -out key.pem 2048)"
            ),
            KeyProblem::WrongKind(why) => f.write_str(why),
        }
    }
}

/// The errors of the library. New variants may be added: match with a `_` arm.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", quote::path(path))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written; the target is unchanged.
    #[error("cannot write {}: {reason}", quote::path(path))]
    Write { path: PathBuf, reason: String },
    /// An input file is larger than the limit for its kind.
    #[error("{origin}: file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        origin: Origin,
        size: u64,
        limit: u64,
    },
    /// A token file breaks a rule of the format. `field` is a JSON path such as
    /// `tokens[1].unsigned`; `entry` the index of the token or signature concerned.
    #[error("{origin}: {field}: {reason}")]
    TokenFile {
        origin: Origin,
        field: String,
        entry: Option<usize>,
        reason: String,
    },
    /// A key file is not usable.
    #[error("{origin}: {problem}")]
    Key { origin: Origin, problem: KeyProblem },
    /// A signature does not verify with the given public key.
    #[error("{origin}: {field}: signature does not verify with the public key")]
    SignatureInvalid {
        origin: Origin,
        field: String,
        entry: Option<usize>,
    },
    /// A signature has the wrong length for the key.
    #[error("{origin}: {field}: signature is {len} bytes but the {bits}-bit key makes {expected}-byte signatures")]
    SignatureLength {
        origin: Origin,
        field: String,
        entry: Option<usize>,
        len: usize,
        expected: usize,
        bits: usize,
    },
    /// A token entry (or an approver) has no signature yet.
    #[error("{origin}: {field}: not signed yet")]
    Unsigned {
        origin: Origin,
        field: String,
        entry: Option<usize>,
    },
    /// The cluster configuration cannot be used.
    #[error("{}: {reason}", quote::path(path))]
    Config { path: PathBuf, reason: String },
    /// Several clusters are configured and none was chosen.
    #[error(
        "{}: the configuration lists {count} clusters ({ids}); pass --cluster-id to choose one",
        quote::path(path)
    )]
    ClusterIdRequired {
        path: PathBuf,
        count: usize,
        ids: String,
    },
    /// The chosen cluster id is not in the configuration.
    #[error(
        "{}: no cluster has cluster_id {}; the configuration lists: {ids}",
        quote::path(path),
        quote::quote(wanted)
    )]
    UnknownCluster {
        path: PathBuf,
        wanted: String,
        ids: String,
    },
    /// An HSM could not be reached or the connection broke.
    #[error("cannot reach HSM {hsm}: {reason}")]
    Connect { hsm: String, reason: String },
    /// No HSM of the cluster answered.
    #[error("no HSM of the cluster is reachable: {details}")]
    NoHsmReachable { details: String },
    /// An HSM refused the operation.
    #[error("HSM {hsm}: {message}")]
    Hsm {
        hsm: String,
        code: ErrorCode,
        message: String,
    },
    /// An HSM refused a gated operation for its quorum approval (SPEC §7): none was
    /// given, or it counted `present` valid approvals of the `required`.
    #[error("HSM {hsm}: {message}")]
    Quorum {
        hsm: String,
        code: ErrorCode,
        message: String,
        present: u32,
        required: u32,
    },
    /// An HSM answered something the protocol does not allow here.
    #[error("HSM {hsm}: protocol error: {reason}")]
    Protocol { hsm: String, reason: String },
    /// An operation was applied to some HSMs but not all; `user list` shows the difference.
    #[error("{operation} failed on {failed} of {total} connections: {details}")]
    PartialFailure {
        operation: String,
        failed: usize,
        total: usize,
        details: String,
    },
    /// A password login was asked for a user who has MFA.
    #[error("user {username} has MFA registered: log in with mfa-token-sign")]
    MfaRequired { username: String },
    /// A password or token-sign login of a user whose login asks for another factor.
    #[error("the login of user {username} asks for {asks}: log in with --mfa-type and --mfa-code (the library: Session::login_start)")]
    FactorRequired { username: String, asks: String },
    /// A code was given while the login waits for a choice among factors.
    #[error("the login waits for a choice of MFA type ({factors}) before a code")]
    SelectionRequired { factors: String },
    /// An MFA login or deregistration for a user without an MFA key.
    #[error("MFA is not registered for user {username}: log in with the password alone, or register MFA with user change-mfa token-sign")]
    MfaNotRegistered { username: String },
    /// A signed token file holds a token this login (or registration) was not issued.
    #[error("{origin}: {field}: this token was not issued by the cluster for this {purpose}; sign the token file that the same command wrote")]
    TokenNotIssued {
        origin: Origin,
        field: String,
        entry: Option<usize>,
        purpose: String,
    },
    /// A key on a PKCS#11 token cannot be used. `uri` is the URI as shown (its `pin-value`
    /// hidden).
    #[error("{uri}: {problem}")]
    Pkcs11 { uri: String, problem: Pkcs11Problem },
    /// A signed token file lacks the token an HSM issued.
    #[error("{origin}: tokens: no entry for the token that HSM {hsm} issued; sign the token file that the same command wrote")]
    TokenMissing { origin: Origin, hsm: String },
    /// A signer (a key, a callback or closure given by the caller) failed.
    #[error("the signer failed: {reason}")]
    Signer { reason: String },
    /// A second phase was called with no first phase waiting for it in this session.
    #[error("no {operation} is waiting for a signed token file; run its first phase first")]
    NothingPending { operation: String },
    /// The I/O runtime that drives the sessions could not start.
    #[error("cannot start the I/O runtime: {reason}")]
    Runtime { reason: String },
    /// A caller passed an argument that cannot be used; `argument` names it.
    #[error("{reason}")]
    InvalidArgument {
        argument: &'static str,
        reason: String,
    },
    /// The cryptographic engine failed (should not happen with valid keys).
    #[error("cryptographic operation failed: {operation}")]
    Crypto { operation: String },
}

impl Error {
    pub(crate) fn token_file(
        origin: &Origin,
        field: impl Into<String>,
        entry: Option<usize>,
        reason: impl Into<String>,
    ) -> Self {
        Error::TokenFile {
            origin: origin.clone(),
            field: field.into(),
            entry,
            reason: reason.into(),
        }
    }

    /// An argument that cannot be used: `argument` names it, `reason` says why.
    pub fn invalid_argument(argument: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument {
            argument,
            reason: reason.into(),
        }
    }

    pub(crate) fn crypto(operation: impl Into<String>) -> Self {
        Error::Crypto {
            operation: operation.into(),
        }
    }

    pub(crate) fn pkcs11(uri: &str, problem: Pkcs11Problem) -> Self {
        Error::Pkcs11 {
            uri: uri.to_string(),
            problem,
        }
    }

    pub(crate) fn key(origin: &Origin, problem: KeyProblem) -> Self {
        Error::Key {
            origin: origin.clone(),
            problem,
        }
    }

    /// The index of the token entry or approver the error is about, if any.
    pub fn entry(&self) -> Option<usize> {
        match self {
            Error::TokenFile { entry, .. }
            | Error::SignatureInvalid { entry, .. }
            | Error::SignatureLength { entry, .. }
            | Error::Unsigned { entry, .. }
            | Error::TokenNotIssued { entry, .. } => *entry,
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
