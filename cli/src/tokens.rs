//! `tokens sign`, `tokens verify`, `tokens show`: token files (SPEC §2) signed, checked
//! and shown through the library.

use std::path::PathBuf;
use std::process::ExitCode;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Subcommand};
use cloudhsm_mfa::{sign_file, Content, EntryStatus, TokenFile};
use serde::Serialize;

use crate::output::{self, hex, path_text, Outcome};

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Sign every token of an MFA or registration token file, or add an approval to a
    /// quorum approval file
    Sign(SignArgs),
    /// Check the signatures of a token file against a public key
    Verify(VerifyArgs),
    /// Show the kind and the entries of a token file
    Show(ShowArgs),
}

pub fn run(cmd: TokensCommand) -> ExitCode {
    match cmd {
        TokensCommand::Sign(args) => output::emit(sign(args)),
        TokensCommand::Verify(args) => output::emit(verify(args)),
        TokensCommand::Show(args) => output::emit(show(args)),
    }
}

#[derive(Args)]
pub struct SignArgs {
    /// The token file to sign
    #[arg(long, value_name = "FILE")]
    token: PathBuf,
    /// The RSA private key (PEM, PKCS#8 or PKCS#1, unencrypted), or the pkcs11: URI of a
    /// key on a PKCS#11 token
    #[arg(long, value_name = "KEY")]
    private_key: PathBuf,
    /// Where to write the signed file [default: the token file itself]
    #[arg(long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// The approving user, to sign a quorum approval file
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
}

#[derive(Serialize)]
struct Signed {
    token_file: String,
    kind: &'static str,
    signatures: usize,
}

fn sign(args: SignArgs) -> Outcome<Signed> {
    crate::key_file::warn_if_exposed(&args.private_key);
    let done = sign_file(
        &args.token,
        &args.private_key,
        args.output.as_deref(),
        args.username.as_deref(),
    )
    .map_err(|e| e.to_string())?;
    Ok(Signed {
        token_file: path_text(&done.path),
        kind: done.kind.as_str(),
        signatures: done.signatures,
    })
}

#[derive(Args)]
pub struct VerifyArgs {
    /// The signed token file
    #[arg(long, value_name = "FILE")]
    token: PathBuf,
    /// The RSA public key (PEM, "BEGIN PUBLIC KEY" or "BEGIN RSA PUBLIC KEY"), or the
    /// pkcs11: URI of a key pair on a PKCS#11 token
    #[arg(long, value_name = "PUB")]
    public_key: PathBuf,
    /// The approver whose approval is checked, for a quorum approval file
    #[arg(long, value_name = "NAME")]
    username: Option<String>,
}

#[derive(Serialize)]
struct Verified {
    token_file: String,
    kind: &'static str,
    valid: bool,
    entries: Vec<VerifiedEntry>,
}

#[derive(Serialize)]
struct VerifiedEntry {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    status: &'static str,
}

fn verify(args: VerifyArgs) -> Outcome<Verified> {
    let file = TokenFile::load(&args.token).map_err(|e| e.to_string())?;
    let key = crate::key_file::open_public(&args.public_key)?;
    let statuses = file.check(&key);
    let approver = args.username.as_deref();
    if let Err(e) = file.verify(&key, approver) {
        return Err(match file.content() {
            Content::Tokens(_) => format!("{e} (entries: {})", summary(&statuses)),
            Content::Approval(_) => e.to_string(),
        });
    }
    let entries = match file.content() {
        Content::Tokens(_) => statuses
            .iter()
            .enumerate()
            .map(|(index, s)| VerifiedEntry {
                index,
                username: None,
                status: s.as_str(),
            })
            .collect(),
        // `verify` succeeded, so the approver is a valid user name present in the file.
        Content::Approval(a) => {
            let index = match approver {
                Some(name) => file.approver_index(name).map_err(|e| e.to_string())?,
                None => None,
            };
            index
                .map(|index| VerifiedEntry {
                    index,
                    username: Some(a.signatures[index].username.clone()),
                    status: statuses[index].as_str(),
                })
                .into_iter()
                .collect()
        }
    };
    Ok(Verified {
        token_file: path_text(&args.token),
        kind: file.kind().as_str(),
        valid: true,
        entries,
    })
}

/// "0 valid, 1 invalid, 2 unsigned"
fn summary(statuses: &[EntryStatus]) -> String {
    statuses
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{i} {}", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Args)]
pub struct ShowArgs {
    /// The token file to show
    #[arg(value_name = "FILE")]
    token: PathBuf,
}

#[derive(Serialize)]
struct Shown {
    token_file: String,
    kind: &'static str,
    #[serde(flatten)]
    body: ShownBody,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ShownBody {
    Tokens {
        signed: usize,
        unsigned: usize,
        tokens: Vec<ShownToken>,
    },
    Approval {
        approval_data: String,
        approval_data_bytes: usize,
        token: String,
        token_hex: String,
        /// The HSMs' records, when `approval_data` is in this library's layout.
        #[serde(skip_serializing_if = "Option::is_none")]
        records: Option<Vec<ShownRecord>>,
        signatures: Vec<ShownApprover>,
    },
}

/// One HSM's approval record (SPEC §7), decoded.
#[derive(Serialize)]
struct ShownRecord {
    hsm_id: String,
    service: &'static str,
    username: String,
    created: u32,
    token_id: String,
}

impl From<cloudhsm_mfa::quorum::Record> for ShownRecord {
    fn from(r: cloudhsm_mfa::quorum::Record) -> Self {
        ShownRecord {
            hsm_id: r.hsm_id,
            service: r.service.as_str(),
            username: r.username,
            created: r.created,
            token_id: format!("{:016x}", r.token_id),
        }
    }
}

/// The records of `approval_data`, if it is in this library's layout.
fn records(approval_data: &[u8]) -> Option<Vec<ShownRecord>> {
    cloudhsm_mfa::quorum::record::split(approval_data)
        .ok()
        .map(|rs| rs.into_iter().map(ShownRecord::from).collect())
}

#[derive(Serialize)]
struct ShownToken {
    index: usize,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_data: Option<String>,
    /// The HSM's record, for a registration token in this library's layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<ShownRecord>,
    unsigned: String,
    unsigned_hex: String,
    signed: String,
    signature_bytes: usize,
}

#[derive(Serialize)]
struct ShownApprover {
    index: usize,
    username: String,
    signature: String,
    signature_bytes: usize,
}

fn show(args: ShowArgs) -> Outcome<Shown> {
    let file = TokenFile::load(&args.token).map_err(|e| e.to_string())?;
    let body = match file.content() {
        Content::Tokens(entries) => {
            let tokens: Vec<ShownToken> = entries
                .iter()
                .enumerate()
                .map(|(index, e)| ShownToken {
                    index,
                    state: if e.signed.is_some() {
                        "signed"
                    } else {
                        "unsigned"
                    },
                    approval_data: e.approval_data.as_deref().map(|d| B64.encode(d)),
                    record: e
                        .approval_data
                        .as_deref()
                        .and_then(|d| cloudhsm_mfa::quorum::Record::decode(d).ok())
                        .map(ShownRecord::from),
                    unsigned: B64.encode(e.unsigned),
                    unsigned_hex: hex(&e.unsigned),
                    signed: e
                        .signed
                        .as_deref()
                        .map(|s| B64.encode(s))
                        .unwrap_or_default(),
                    signature_bytes: e.signed.as_deref().map_or(0, <[u8]>::len),
                })
                .collect();
            let signed = entries.iter().filter(|e| e.signed.is_some()).count();
            ShownBody::Tokens {
                signed,
                unsigned: entries.len() - signed,
                tokens,
            }
        }
        Content::Approval(a) => ShownBody::Approval {
            approval_data: B64.encode(&a.approval_data),
            approval_data_bytes: a.approval_data.len(),
            token: B64.encode(a.token),
            token_hex: hex(&a.token),
            records: records(&a.approval_data),
            signatures: a
                .signatures
                .iter()
                .enumerate()
                .map(|(index, s)| ShownApprover {
                    index,
                    username: s.username.clone(),
                    signature: B64.encode(&s.signature),
                    signature_bytes: s.signature.len(),
                })
                .collect(),
        },
    };
    Ok(Shown {
        token_file: path_text(&args.token),
        kind: file.kind().as_str(),
        body,
    })
}
