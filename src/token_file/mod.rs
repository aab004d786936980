//! The three token-file shapes (SPEC §2): MFA token files, registration token files and
//! quorum approval files. Parsing is strict and every error names the file, the field and
//! the entry; writing is atomic with mode 0600.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use crate::crypto::{sha256, Token};
use crate::error::{Error, Origin, Result};
use crate::fs_atomic::{self, PRIVATE_MODE};
use crate::quote::clip_quoted;
use crate::strict_json;

mod parser;
use parser::Parser;

/// The only `version` the format has.
pub const FORMAT_VERSION: &str = "2.0";
/// The largest token file read (1 MiB).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
/// The most entries a token file holds: one per HSM, and a cluster has a few dozen at most.
pub const MAX_TOKENS: usize = 64;
/// The largest `approval_data` of a registration token.
pub const MAX_REGISTRATION_DATA_LEN: usize = 245;
/// The lengths of RSA-2048, 3072 and 4096 signatures.
pub const SIGNATURE_LENS: [usize; 3] = [256, 384, 512];

/// Which of the three shapes a file has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFileKind {
    /// §2.1: `tokens` of `{unsigned, signed}`, for login and MFA registration.
    Mfa,
    /// §2.2: `tokens` of `{approval_data, unsigned, signed}`, for quorum key registration.
    Registration,
    /// §2.3: `approval_data`, `token` and the approvers' `signatures`.
    QuorumApproval,
}

impl TokenFileKind {
    /// The kind's name in JSON output: `mfa`, `registration`, `quorum-approval`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenFileKind::Mfa => "mfa",
            TokenFileKind::Registration => "registration",
            TokenFileKind::QuorumApproval => "quorum-approval",
        }
    }
}

/// One token of an MFA or registration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenEntry {
    /// The data whose SHA-256 is `unsigned`; present in registration files only.
    pub approval_data: Option<Vec<u8>>,
    /// The 32 bytes to sign.
    pub unsigned: Token,
    /// The signature, once the user has signed.
    pub signed: Option<Vec<u8>>,
}

/// One approver's signature in a quorum approval file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approver {
    /// The approver's user name, in lower case.
    pub username: String,
    /// The approver's signature over the file's `token`.
    pub signature: Vec<u8>,
}

/// The body of a quorum approval file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumApproval {
    /// One record per HSM, concatenated.
    pub approval_data: Vec<u8>,
    /// SHA-256 of `approval_data`; what approvers sign.
    pub token: Token,
    /// The approvals gathered so far, in the order they were added.
    pub signatures: Vec<Approver>,
}

/// What a token file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// An MFA or a registration file (the entries say which).
    Tokens(Vec<TokenEntry>),
    /// A quorum approval file.
    Approval(QuorumApproval),
}

/// A parsed and validated token file, with where it came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenFile {
    origin: Origin,
    content: Content,
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub(crate) fn check_signature_len(
    origin: &Origin,
    field: &str,
    entry: usize,
    len: usize,
) -> Result<()> {
    if SIGNATURE_LENS.contains(&len) {
        Ok(())
    } else {
        Err(Error::token_file(
            origin,
            field,
            Some(entry),
            format!("signature is {len} bytes; RSA 2048, 3072 and 4096 signatures are 256, 384 or 512 bytes"),
        ))
    }
}

impl TokenFile {
    /// A new MFA token file with one unsigned entry per token, in the order given.
    pub fn new_mfa(tokens: &[Token]) -> Result<Self> {
        let entries = tokens
            .iter()
            .map(|t| TokenEntry {
                approval_data: None,
                unsigned: *t,
                signed: None,
            })
            .collect();
        Self::from_entries(entries)
    }

    /// A new registration token file for one piece of approval data (at most 245 bytes).
    pub fn new_registration(approval_data: Vec<u8>) -> Result<Self> {
        Self::new_registrations(vec![approval_data])
    }

    /// A new registration token file with one entry per piece of approval data (one per
    /// HSM, each at most 245 bytes), in the order given.
    pub fn new_registrations(approval_data: Vec<Vec<u8>>) -> Result<Self> {
        let mut entries = Vec::with_capacity(approval_data.len());
        for data in approval_data {
            if data.is_empty() || data.len() > MAX_REGISTRATION_DATA_LEN {
                return Err(Error::invalid_argument("approval_data", format!(
                    "registration approval data is {} bytes; it must be 1 to {MAX_REGISTRATION_DATA_LEN}",
                    data.len()
                )));
            }
            entries.push(TokenEntry {
                unsigned: sha256(&data),
                approval_data: Some(data),
                signed: None,
            });
        }
        Self::from_entries(entries)
    }

    /// A new quorum approval file with no signatures yet.
    pub fn new_approval(approval_data: Vec<u8>) -> Result<Self> {
        if approval_data.is_empty() {
            return Err(Error::invalid_argument(
                "approval_data",
                "approval data is empty",
            ));
        }
        let token = sha256(&approval_data);
        Ok(TokenFile {
            origin: Origin::Buffer,
            content: Content::Approval(QuorumApproval {
                approval_data,
                token,
                signatures: Vec::new(),
            }),
        })
    }

    fn from_entries(entries: Vec<TokenEntry>) -> Result<Self> {
        if entries.is_empty() {
            return Err(Error::invalid_argument(
                "tokens",
                "a token file needs at least one token",
            ));
        }
        if entries.len() > MAX_TOKENS {
            return Err(Error::invalid_argument("tokens", too_many(entries.len())));
        }
        for (i, e) in entries.iter().enumerate() {
            if entries[..i].iter().any(|p| p.unsigned == e.unsigned) {
                return Err(Error::invalid_argument(
                    "tokens",
                    format!("token {i} is the same as an earlier one; tokens must be distinct"),
                ));
            }
        }
        Ok(TokenFile {
            origin: Origin::Buffer,
            content: Content::Tokens(entries),
        })
    }

    /// Reads and validates a token file (at most 1 MiB).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = fs_atomic::read_limited(path, MAX_FILE_SIZE)?;
        Self::parse_with_origin(&bytes, Origin::file(path))
    }

    /// Parses and validates a token file held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        Self::parse_with_origin(bytes, Origin::Buffer)
    }

    /// Parses `bytes`, naming `origin` in errors.
    pub fn parse_with_origin(bytes: &[u8], origin: Origin) -> Result<Self> {
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(Error::TooLarge {
                origin,
                size: bytes.len() as u64,
                limit: MAX_FILE_SIZE,
            });
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            Error::token_file(
                &origin,
                "document",
                None,
                format!("not UTF-8 text (bad byte at offset {})", e.valid_up_to()),
            )
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let root = strict_json::parse(text).map_err(|why| {
            Error::token_file(
                &origin,
                "document",
                None,
                format!("not valid JSON: {}", clip_quoted(&why)),
            )
        })?;
        let content = Parser { origin: &origin }.content(root)?;
        Ok(TokenFile { origin, content })
    }

    /// Where the file came from.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Which of the three shapes this is.
    pub fn kind(&self) -> TokenFileKind {
        match &self.content {
            Content::Tokens(entries) if entries[0].approval_data.is_some() => {
                TokenFileKind::Registration
            }
            Content::Tokens(_) => TokenFileKind::Mfa,
            Content::Approval(_) => TokenFileKind::QuorumApproval,
        }
    }

    /// The file's content.
    pub fn content(&self) -> &Content {
        &self.content
    }

    pub(crate) fn content_mut(&mut self) -> &mut Content {
        &mut self.content
    }

    /// The entries of an MFA or registration file; empty for an approval file.
    pub fn tokens(&self) -> &[TokenEntry] {
        match &self.content {
            Content::Tokens(e) => e,
            Content::Approval(_) => &[],
        }
    }

    /// The body of a quorum approval file.
    pub fn approval(&self) -> Option<&QuorumApproval> {
        match &self.content {
            Content::Approval(a) => Some(a),
            Content::Tokens(_) => None,
        }
    }

    /// The JSON text of the file, pretty-printed as the AWS documentation shows it.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct EntryOut<'a> {
            #[serde(skip_serializing_if = "Option::is_none")]
            approval_data: Option<String>,
            unsigned: String,
            signed: &'a str,
        }
        #[derive(Serialize)]
        struct TokensOut<'a> {
            version: &'a str,
            tokens: Vec<EntryOut<'a>>,
        }
        #[derive(Serialize)]
        struct ApproverOut<'a> {
            username: &'a str,
            signature: String,
        }
        #[derive(Serialize)]
        struct ApprovalOut<'a> {
            version: &'a str,
            approval_data: String,
            token: String,
            signatures: Vec<ApproverOut<'a>>,
        }
        let signed: Vec<String>;
        let json = match &self.content {
            Content::Tokens(entries) => {
                signed = entries
                    .iter()
                    .map(|e| e.signed.as_deref().map(b64).unwrap_or_default())
                    .collect();
                serde_json::to_string_pretty(&TokensOut {
                    version: FORMAT_VERSION,
                    tokens: entries
                        .iter()
                        .zip(&signed)
                        .map(|(e, s)| EntryOut {
                            approval_data: e.approval_data.as_deref().map(b64),
                            unsigned: b64(&e.unsigned),
                            signed: s,
                        })
                        .collect(),
                })
            }
            Content::Approval(a) => serde_json::to_string_pretty(&ApprovalOut {
                version: FORMAT_VERSION,
                approval_data: b64(&a.approval_data),
                token: b64(&a.token),
                signatures: a
                    .signatures
                    .iter()
                    .map(|s| ApproverOut {
                        username: &s.username,
                        signature: b64(&s.signature),
                    })
                    .collect(),
            }),
        };
        // Serialising plain strings into JSON cannot fail.
        let mut text = json.unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the file atomically (mode 0600, never through a symbolic link). A file that
    /// readers would refuse (more than [`MAX_FILE_SIZE`] bytes) is not written at all.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = self.to_json();
        if json.len() as u64 > MAX_FILE_SIZE {
            return Err(Error::Write {
                path: path.to_path_buf(),
                reason: format!(
                    "the file would be {} bytes, more than the {MAX_FILE_SIZE} bytes a token file may have; nothing was written",
                    json.len()
                ),
            });
        }
        fs_atomic::write_atomic(path, json.as_bytes(), PRIVATE_MODE)
    }
}

pub(crate) fn too_many(count: usize) -> String {
    format!(
        "has {count} entries; a token file holds at most {MAX_TOKENS} (one per HSM of a cluster)"
    )
}

pub(crate) fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
