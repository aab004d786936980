//! The three token-file shapes (SPEC §2): MFA token files, registration token files and
//! quorum approval files. Parsing is strict and every error names the file, the field and
//! the entry; writing is atomic with mode 0600.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::crypto::{sha256, Token, TOKEN_LEN};
use crate::error::{Error, Origin, Result};
use crate::fs_atomic::{self, PRIVATE_MODE};
use crate::strict_json;
use crate::user;

/// The only `version` the format has.
pub const FORMAT_VERSION: &str = "2.0";
/// The largest token file read (1 MiB).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;
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

fn check_signature_len(origin: &Origin, field: &str, entry: usize, len: usize) -> Result<()> {
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
        if approval_data.is_empty() || approval_data.len() > MAX_REGISTRATION_DATA_LEN {
            return Err(Error::invalid_argument("approval_data", format!(
                "registration approval data is {} bytes; it must be 1 to {MAX_REGISTRATION_DATA_LEN}",
                approval_data.len()
            )));
        }
        let unsigned = sha256(&approval_data);
        Self::from_entries(vec![TokenEntry {
            approval_data: Some(approval_data),
            unsigned,
            signed: None,
        }])
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
            Error::token_file(&origin, "document", None, format!("not valid JSON: {why}"))
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

    /// Writes the file atomically (mode 0600, never through a symbolic link).
    pub fn write(&self, path: &Path) -> Result<()> {
        fs_atomic::write_atomic(path, self.to_json().as_bytes(), PRIVATE_MODE)
    }
}

/// Walks a parsed JSON document and builds the content, naming fields in errors.
struct Parser<'a> {
    origin: &'a Origin,
}

impl Parser<'_> {
    fn err(
        &self,
        field: impl Into<String>,
        entry: Option<usize>,
        reason: impl Into<String>,
    ) -> Error {
        Error::token_file(self.origin, field, entry, reason)
    }

    fn content(&self, root: Value) -> Result<Content> {
        let Value::Object(mut obj) = root else {
            return Err(self.err("document", None, "must be a JSON object"));
        };
        let is_approval = !obj.contains_key("tokens")
            && (obj.contains_key("approval_data")
                || obj.contains_key("token")
                || obj.contains_key("signatures"));
        let allowed: &[&str] = if is_approval {
            &["version", "approval_data", "token", "signatures"]
        } else {
            &["version", "tokens"]
        };
        if let Some(unknown) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(self.err(
                unknown.clone(),
                None,
                format!(
                    "unknown field; this file may hold only {}",
                    quote_list(allowed)
                ),
            ));
        }
        match obj.remove("version") {
            None => {
                return Err(self.err(
                    "version",
                    None,
                    "missing; token files have \"version\": \"2.0\"",
                ))
            }
            Some(Value::String(v)) if v == FORMAT_VERSION => {}
            Some(other) => {
                return Err(self.err(
                    "version",
                    None,
                    format!("is {other}; only \"{FORMAT_VERSION}\" is supported"),
                ))
            }
        }
        if is_approval {
            self.approval(obj).map(Content::Approval)
        } else {
            self.tokens(obj).map(Content::Tokens)
        }
    }

    fn string<'v>(
        &self,
        value: Option<&'v Value>,
        field: &str,
        entry: Option<usize>,
    ) -> Result<&'v str> {
        match value {
            None => Err(self.err(field, entry, "missing")),
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.err(field, entry, "must be a string")),
        }
    }

    fn base64(&self, text: &str, field: &str, entry: Option<usize>) -> Result<Vec<u8>> {
        B64.decode(text).map_err(|e| {
            self.err(
                field,
                entry,
                format!("not valid base64 (standard alphabet, padded): {e}"),
            )
        })
    }

    fn token(&self, text: &str, field: &str, entry: Option<usize>) -> Result<Token> {
        let bytes = self.base64(text, field, entry)?;
        bytes.as_slice().try_into().map_err(|_| {
            self.err(
                field,
                entry,
                format!(
                    "decodes to {} bytes; a token is {TOKEN_LEN} bytes",
                    bytes.len()
                ),
            )
        })
    }

    fn tokens(&self, obj: Map<String, Value>) -> Result<Vec<TokenEntry>> {
        let list = match obj.get("tokens") {
            None => return Err(self.err("tokens", None, "missing")),
            Some(Value::Array(list)) => list,
            Some(_) => return Err(self.err("tokens", None, "must be an array")),
        };
        if list.is_empty() {
            return Err(self.err(
                "tokens",
                None,
                "is empty; a token file has at least one token",
            ));
        }
        let mut entries: Vec<TokenEntry> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let at = |name: &str| format!("tokens[{i}].{name}");
            let Value::Object(fields) = item else {
                return Err(self.err(format!("tokens[{i}]"), Some(i), "must be an object"));
            };
            let registration = i == 0 && fields.contains_key("approval_data")
                || i > 0 && entries[0].approval_data.is_some();
            let allowed: &[&str] = if registration {
                &["approval_data", "unsigned", "signed"]
            } else {
                &["unsigned", "signed"]
            };
            if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
                let why = if unknown == "approval_data" {
                    "present, but tokens[0] has none; a file is either an MFA token file or a registration token file".to_string()
                } else {
                    format!(
                        "unknown field; a token may hold only {}",
                        quote_list(allowed)
                    )
                };
                return Err(self.err(at(unknown), Some(i), why));
            }
            let approval_data = if registration {
                let field = at("approval_data");
                let text = match fields.get("approval_data") {
                    None if i > 0 => {
                        return Err(self.err(field, Some(i), "missing, but tokens[0] has one; a registration token file has approval_data in every token"))
                    }
                    v => self.string(v, &field, Some(i))?,
                };
                let data = self.base64(text, &field, Some(i))?;
                if data.is_empty() || data.len() > MAX_REGISTRATION_DATA_LEN {
                    return Err(self.err(field, Some(i), format!("decodes to {} bytes; approval data is 1 to {MAX_REGISTRATION_DATA_LEN} bytes", data.len())));
                }
                Some(data)
            } else {
                None
            };
            let field = at("unsigned");
            let unsigned = self.token(
                self.string(fields.get("unsigned"), &field, Some(i))?,
                &field,
                Some(i),
            )?;
            if let Some(data) = &approval_data {
                if sha256(data) != unsigned {
                    return Err(self.err(field, Some(i), "is not the SHA-256 of approval_data"));
                }
            }
            if let Some(j) = entries.iter().position(|e| e.unsigned == unsigned) {
                return Err(self.err(
                    field,
                    Some(i),
                    format!("same value as tokens[{j}].unsigned; tokens must be distinct"),
                ));
            }
            let field = at("signed");
            let signed_text = match fields.get("signed") {
                None => {
                    return Err(self.err(
                        field,
                        Some(i),
                        "missing; use \"signed\": \"\" for a token not signed yet",
                    ))
                }
                v => self.string(v, &field, Some(i))?,
            };
            let signed = if signed_text.is_empty() {
                None
            } else {
                let sig = self.base64(signed_text, &field, Some(i))?;
                check_signature_len(self.origin, &field, i, sig.len())?;
                Some(sig)
            };
            entries.push(TokenEntry {
                approval_data,
                unsigned,
                signed,
            });
        }
        Ok(entries)
    }

    fn approval(&self, obj: Map<String, Value>) -> Result<QuorumApproval> {
        let approval_data = self.base64(
            self.string(obj.get("approval_data"), "approval_data", None)?,
            "approval_data",
            None,
        )?;
        if approval_data.is_empty() {
            return Err(self.err("approval_data", None, "is empty"));
        }
        let token = self.token(self.string(obj.get("token"), "token", None)?, "token", None)?;
        if sha256(&approval_data) != token {
            return Err(self.err("token", None, "is not the SHA-256 of approval_data"));
        }
        let list = match obj.get("signatures") {
            None => {
                return Err(self.err(
                    "signatures",
                    None,
                    "missing; use \"signatures\": [] before anyone approved",
                ))
            }
            Some(Value::Array(list)) => list,
            Some(_) => return Err(self.err("signatures", None, "must be an array")),
        };
        let mut signatures: Vec<Approver> = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let at = |name: &str| format!("signatures[{i}].{name}");
            let Value::Object(fields) = item else {
                return Err(self.err(format!("signatures[{i}]"), Some(i), "must be an object"));
            };
            if let Some(unknown) = fields
                .keys()
                .find(|k| *k != "username" && *k != "signature")
            {
                return Err(self.err(
                    at(unknown),
                    Some(i),
                    "unknown field; an approval holds only \"username\" and \"signature\"",
                ));
            }
            let field = at("username");
            let name = self.string(fields.get("username"), &field, Some(i))?;
            let username =
                user::normalize_username(name).map_err(|why| self.err(&field, Some(i), why))?;
            if let Some(j) = signatures.iter().position(|s| s.username == username) {
                return Err(self.err(
                    field,
                    Some(i),
                    format!(
                        "\"{username}\" already approved in signatures[{j}]; one approval per user"
                    ),
                ));
            }
            let field = at("signature");
            let signature = self.base64(
                self.string(fields.get("signature"), &field, Some(i))?,
                &field,
                Some(i),
            )?;
            check_signature_len(self.origin, &field, i, signature.len())?;
            signatures.push(Approver {
                username,
                signature,
            });
        }
        Ok(QuorumApproval {
            approval_data,
            token,
            signatures,
        })
    }
}

fn quote_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(", ")
}
