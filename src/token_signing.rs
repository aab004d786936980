//! Signing and verifying whole token files: fill every `signed` of an MFA or registration
//! file, add or replace one approver of a quorum approval file, and check a signed file
//! against a public key entry by entry. In-memory changes are all-or-nothing, and the
//! file-level calls write atomically, so a failure never leaves a half-signed file.

use std::path::{Path, PathBuf};

use crate::crypto::{PublicKey, Token};
use crate::error::{Error, Result};
use crate::signer::{sign_many, KeySpec, Signer};
use crate::token_file::{Approver, Content, TokenFile, TokenFileKind, SIGNATURE_LENS};
use crate::user;

/// The outcome of checking one token entry, or one approver, against a public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryStatus {
    /// The signature verifies.
    Valid,
    /// No signature yet.
    Unsigned,
    /// A signature of the key's length that does not verify.
    Invalid,
    /// A signature whose length does not match the key.
    WrongLength,
}

impl EntryStatus {
    /// The status's name in JSON output: `valid`, `unsigned`, `invalid`, `wrong-length`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Valid => "valid",
            EntryStatus::Unsigned => "unsigned",
            EntryStatus::Invalid => "invalid",
            EntryStatus::WrongLength => "wrong-length",
        }
    }
}

impl TokenFile {
    /// Signs the file with `signer` (a [`crate::PrivateKey`], or any [`Signer`]).
    ///
    /// An MFA or registration file gets every entry's `signed` filled (a signature already
    /// there is replaced); `approver` must be `None`. A quorum approval file gets the
    /// approval of `approver` added, or replaced when that user already approved.
    /// Returns the number of signatures made.
    pub fn sign(&mut self, signer: &dyn Signer, approver: Option<&str>) -> Result<usize> {
        let kind = self.kind();
        match (self.content_mut(), approver) {
            (Content::Tokens(entries), None) => {
                let tokens: Vec<Token> = entries.iter().map(|e| e.unsigned).collect();
                let signatures = sign_many(&tokens, signer)?;
                for (e, s) in entries.iter_mut().zip(signatures) {
                    e.signed = Some(s);
                }
                Ok(entries.len())
            }
            (Content::Tokens(_), Some(_)) => Err(Error::invalid_argument(
                "approver",
                format!(
                    "a user name is given only to sign a quorum approval file; this is {}",
                    kind_name(kind)
                ),
            )),
            (Content::Approval(a), Some(name)) => {
                let signature = signer.sign(&a.token)?;
                upsert_approver(&mut a.signatures, name, signature)?;
                Ok(1)
            }
            (Content::Approval(_), None) => Err(Error::invalid_argument(
                "approver",
                "signing a quorum approval file needs the approver's user name",
            )),
        }
    }

    /// Sets the signature of token entry `index` of an MFA or registration file.
    pub fn set_signature(&mut self, index: usize, signature: Vec<u8>) -> Result<()> {
        check_len(signature.len())?;
        let kind = self.kind();
        match self.content_mut() {
            Content::Tokens(entries) => {
                let count = entries.len();
                let entry = entries.get_mut(index).ok_or_else(|| {
                    Error::invalid_argument(
                        "index",
                        format!("token index {index} is out of range; the file has {count} tokens"),
                    )
                })?;
                entry.signed = Some(signature);
                Ok(())
            }
            Content::Approval(_) => Err(Error::invalid_argument(
                "index",
                format!(
                    "{} has no token entries; add an approval instead",
                    kind_name(kind)
                ),
            )),
        }
    }

    /// Adds (or replaces) `approver`'s signature in a quorum approval file.
    pub fn add_approval(&mut self, approver: &str, signature: Vec<u8>) -> Result<()> {
        check_len(signature.len())?;
        let kind = self.kind();
        match self.content_mut() {
            Content::Approval(a) => upsert_approver(&mut a.signatures, approver, signature),
            Content::Tokens(_) => Err(Error::invalid_argument(
                "approver",
                format!(
                    "{} takes no approvals; sign its tokens instead",
                    kind_name(kind)
                ),
            )),
        }
    }

    /// Checks each token entry (MFA, registration) or each approver (quorum approval)
    /// against `key`, in file order.
    pub fn check(&self, key: &PublicKey) -> Vec<EntryStatus> {
        let status = |token: &Token, sig: Option<&[u8]>| signature_status(key, token, sig);
        match self.content() {
            Content::Tokens(entries) => entries
                .iter()
                .map(|e| status(&e.unsigned, e.signed.as_deref()))
                .collect(),
            Content::Approval(a) => a
                .signatures
                .iter()
                .map(|s| status(&a.token, Some(&s.signature)))
                .collect(),
        }
    }

    /// Verifies the file with `key`: every token entry of an MFA or registration file
    /// (`approver` = `None`), or the approval of `approver` in a quorum approval file.
    /// The error names the first entry that fails.
    pub fn verify(&self, key: &PublicKey, approver: Option<&str>) -> Result<()> {
        let origin = self.origin().clone();
        let statuses = self.check(key);
        let (index, prefix) = match (self.content(), approver) {
            (Content::Tokens(_), None) => {
                match statuses.iter().position(|s| *s != EntryStatus::Valid) {
                    None => return Ok(()),
                    Some(i) => (i, "tokens"),
                }
            }
            (Content::Approval(_), Some(name)) => {
                let Some(i) = self.approver_index(name)? else {
                    let name = user::normalize_username(name)
                        .map_err(|e| Error::invalid_argument("username", e))?;
                    return Err(Error::Unsigned {
                        origin,
                        field: format!("signatures (user \"{name}\")"),
                        entry: None,
                    });
                };
                if statuses[i] == EntryStatus::Valid {
                    return Ok(());
                }
                (i, "signatures")
            }
            (Content::Tokens(_), Some(_)) => {
                return Err(Error::invalid_argument(
                    "approver",
                    format!(
                        "a user name is given only to verify a quorum approval file; this is {}",
                        kind_name(self.kind())
                    ),
                ))
            }
            (Content::Approval(_), None) => {
                return Err(Error::invalid_argument(
                    "approver",
                    "verifying a quorum approval file needs the approver's user name",
                ))
            }
        };
        let sig_field = if prefix == "tokens" {
            "signed"
        } else {
            "signature"
        };
        let field = format!("{prefix}[{index}].{sig_field}");
        let entry = Some(index);
        Err(match statuses[index] {
            EntryStatus::Unsigned => Error::Unsigned {
                origin,
                field,
                entry,
            },
            EntryStatus::WrongLength => Error::SignatureLength {
                origin,
                field,
                entry,
                len: self.signature_at(index).map_or(0, <[u8]>::len),
                expected: key.signature_len(),
                bits: key.bits(),
            },
            _ => Error::SignatureInvalid {
                origin,
                field,
                entry,
            },
        })
    }

    /// The index of `approver`'s approval in a quorum approval file (the name is matched
    /// case-insensitively); `None` when that user has not approved or the file holds no
    /// approvals.
    pub fn approver_index(&self, approver: &str) -> Result<Option<usize>> {
        let name = user::normalize_username(approver)
            .map_err(|e| Error::invalid_argument("username", e))?;
        Ok(self
            .approval()
            .and_then(|a| a.signatures.iter().position(|s| s.username == name)))
    }

    fn signature_at(&self, index: usize) -> Option<&[u8]> {
        match self.content() {
            Content::Tokens(e) => e.get(index)?.signed.as_deref(),
            Content::Approval(a) => Some(&a.signatures.get(index)?.signature),
        }
    }
}

/// Checks one signature (`None`: not signed yet) over `token` against `key`.
pub fn signature_status(key: &PublicKey, token: &Token, signature: Option<&[u8]>) -> EntryStatus {
    match signature {
        None => EntryStatus::Unsigned,
        Some(s) if s.len() != key.signature_len() => EntryStatus::WrongLength,
        Some(s) if key.verify_token(token, s) => EntryStatus::Valid,
        Some(_) => EntryStatus::Invalid,
    }
}

fn kind_name(kind: TokenFileKind) -> &'static str {
    match kind {
        TokenFileKind::Mfa => "an MFA token file",
        TokenFileKind::Registration => "a registration token file",
        TokenFileKind::QuorumApproval => "a quorum approval file",
    }
}

fn check_len(len: usize) -> Result<()> {
    if SIGNATURE_LENS.contains(&len) {
        Ok(())
    } else {
        Err(Error::invalid_argument(
            "approver",
            format!(
            "signature is {len} bytes; RSA 2048, 3072 and 4096 signatures are 256, 384 or 512 bytes"
        ),
        ))
    }
}

fn upsert_approver(list: &mut Vec<Approver>, name: &str, signature: Vec<u8>) -> Result<()> {
    let username =
        user::normalize_username(name).map_err(|e| Error::invalid_argument("username", e))?;
    match list.iter_mut().find(|a| a.username == username) {
        Some(existing) => existing.signature = signature,
        None => list.push(Approver {
            username,
            signature,
        }),
    }
    Ok(())
}

/// What [`sign_file`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFile {
    /// Where the signed file was written.
    pub path: PathBuf,
    /// Which shape it has.
    pub kind: TokenFileKind,
    /// How many signatures were made.
    pub signatures: usize,
}

/// Signs the token file at `token_path` with the private key `key_path` names (a PEM file,
/// or a `pkcs11:` URI: [`KeySpec`]) and writes the
/// result to `output` (or back to `token_path`), atomically. `approver` is the approving
/// user for a quorum approval file. On any failure nothing is written.
pub fn sign_file(
    token_path: &Path,
    key_path: &Path,
    output: Option<&Path>,
    approver: Option<&str>,
) -> Result<SignedFile> {
    let mut file = TokenFile::load(token_path)?;
    let signer = KeySpec::from_path(key_path)?.open()?;
    let signatures = file.sign(&signer, approver)?;
    let path = output.unwrap_or(token_path).to_path_buf();
    file.write(&path)?;
    Ok(SignedFile {
        path,
        kind: file.kind(),
        signatures,
    })
}
