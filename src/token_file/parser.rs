//! The strict reading of a token file's JSON (SPEC §2.4): every rule, and errors that name
//! the field and the entry.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    check_signature_len, quote_list, too_many, Approver, Content, QuorumApproval, TokenEntry,
    FORMAT_VERSION, MAX_REGISTRATION_DATA_LEN, MAX_TOKENS,
};
use crate::crypto::{sha256, Token, TOKEN_LEN};
use crate::error::{Error, Origin, Result};
use crate::quote::{quote, shorten};
use crate::user;

/// Walks a parsed JSON document and builds the content, naming fields in errors.
pub(super) struct Parser<'a> {
    pub(super) origin: &'a Origin,
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

    pub(super) fn content(&self, root: Value) -> Result<Content> {
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
                shorten(unknown),
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
                let shown = match &other {
                    Value::String(s) => quote(s),
                    v => shorten(&v.to_string()).into_owned(),
                };
                return Err(self.err(
                    "version",
                    None,
                    format!("is {shown}; only \"{FORMAT_VERSION}\" is supported"),
                ));
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
        if list.len() > MAX_TOKENS {
            return Err(self.err("tokens", None, too_many(list.len())));
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
                return Err(self.err(at(&shorten(unknown)), Some(i), why));
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
                    at(&shorten(unknown)),
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
