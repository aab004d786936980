//! The challenge exchange every token-sign step goes through, whatever its purpose: each
//! HSM issues a challenge, the challenges are signed (by the user through a token file, or
//! by a signer), and each signature goes back to the HSM that issued its token.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::cluster::Cluster;
use super::fanout::{NodeResult, Tally};
use crate::crypto::Token;
use crate::error::{Error, Result};
use crate::mfa::Factor;
use crate::proto::{Op, Reply, Role};
use crate::signer::{self, Signer};
use crate::token_file::TokenFile;

/// What a challenge is for (SPEC §5, §6). A challenge of one purpose never serves another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Login,
    MfaRegistration,
}

impl Purpose {
    /// The purpose in messages.
    pub fn name(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::MfaRegistration => "MFA registration",
        }
    }
}

/// A login step other than token-sign that an HSM answered (SPEC §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorStep {
    Code {
        factor: Factor,
        destination: Option<String>,
    },
    Select {
        factors: Vec<Factor>,
    },
}

impl FactorStep {
    /// Whether two HSMs asked for the same thing (the destination aside).
    pub fn same_kind(&self, other: &FactorStep) -> bool {
        match (self, other) {
            (FactorStep::Code { factor: a, .. }, FactorStep::Code { factor: b, .. }) => a == b,
            (FactorStep::Select { factors: a }, FactorStep::Select { factors: b }) => a == b,
            _ => false,
        }
    }
}

/// Challenges issued by the HSMs, waiting for signatures.
pub struct Challenges {
    pub purpose: Purpose,
    pub username: String,
    pub role: Role,
    /// Where the unsigned tokens were written, for the user to sign.
    pub token_path: Option<PathBuf>,
    /// (HSM index, token) in configuration order.
    pub issued: Vec<(usize, Token)>,
    /// HSMs that finished at once, with no challenge (a login on an HSM where the user
    /// has no MFA key: the user's MFA state differs between HSMs).
    pub done: Vec<usize>,
    /// HSMs that did not take part, with the reason.
    pub missed: Vec<(usize, String)>,
    /// HSMs that asked for another factor than token-sign (a login only).
    pub steps: Vec<(usize, FactorStep)>,
}

/// A signature for the token one HSM issued.
pub struct Signed {
    pub hsm: usize,
    pub token: Token,
    pub signature: Vec<u8>,
}

/// An HSM's answer to the first request of an exchange.
enum Issued {
    Token(Token),
    BadToken,
    Done,
    Step(FactorStep),
}

/// Sends `op` (the first request of an exchange for `purpose`) to every HSM and collects
/// the challenges. Any refusal ends the exchange: logins already made are undone.
pub async fn issue(
    cluster: &mut Cluster,
    purpose: Purpose,
    username: String,
    role: Role,
    op: Op,
) -> Result<Challenges> {
    cluster.connect_missing().await;
    let all: Vec<usize> = (0..cluster.len()).collect();
    issue_to(cluster, &all, purpose, username, role, op).await
}

/// [`issue`], sending `op` to the HSMs `hsms` only (the ones that took part in the
/// earlier steps of a login).
pub async fn issue_to(
    cluster: &mut Cluster,
    hsms: &[usize],
    purpose: Purpose,
    username: String,
    role: Role,
    op: Op,
) -> Result<Challenges> {
    let mut ops = vec![None; cluster.len()];
    for &i in hsms {
        ops[i] = Some(op.clone());
    }
    let results = cluster.fan_out(ops).await;
    let mut tally = Tally::new(cluster, results, |reply| match reply {
        Reply::Challenge { token, .. } => {
            Some(decode_token(&token).map_or(Issued::BadToken, Issued::Token))
        }
        Reply::LoggedIn { .. } if purpose == Purpose::Login => Some(Issued::Done),
        Reply::MfaCode {
            factor,
            destination,
        } if purpose == Purpose::Login => Some(Issued::Step(FactorStep::Code {
            factor,
            destination,
        })),
        Reply::MfaSelect { factors } if purpose == Purpose::Login => {
            Some(Issued::Step(FactorStep::Select { factors }))
        }
        _ => None,
    });
    let mut challenges = Challenges {
        purpose,
        username,
        role,
        token_path: None,
        issued: Vec::new(),
        done: Vec::new(),
        missed: std::mem::take(&mut tally.missed),
        steps: Vec::new(),
    };
    let mut bad_token = None;
    for (i, answer) in std::mem::take(&mut tally.accepted) {
        match answer {
            Issued::Token(t) => challenges.issued.push((i, t)),
            Issued::Done => challenges.done.push(i),
            Issued::Step(step) => challenges.steps.push((i, step)),
            Issued::BadToken => {
                bad_token.get_or_insert(Error::Protocol {
                    hsm: cluster.label(i),
                    reason: "the challenge is not 32 bytes of base64".into(),
                });
            }
        }
    }
    let refusal = tally.take_refusal().or(bad_token);
    if let Some(err) = refusal {
        undo_logins(cluster, &challenges.done).await;
        return Err(err);
    }
    if challenges.issued.is_empty() && challenges.done.is_empty() && challenges.steps.is_empty() {
        return Err(Error::NoHsmReachable {
            details: cluster.describe(&challenges.missed),
        });
    }
    Ok(challenges)
}

impl Challenges {
    /// Writes the issued tokens to `path` (SPEC §2.1) for the user to sign.
    pub fn write(&mut self, path: &Path) -> Result<usize> {
        let tokens: Vec<Token> = self.issued.iter().map(|(_, t)| *t).collect();
        TokenFile::new_mfa(&tokens)?.write(path)?;
        self.token_path = Some(path.to_path_buf());
        Ok(tokens.len())
    }

    /// Signs every issued token with `signer`, off the async workers (a signer may block).
    pub fn sign(&self, signer: &dyn Signer) -> Result<Vec<Signed>> {
        let tokens: Vec<Token> = self.issued.iter().map(|(_, t)| *t).collect();
        let signatures = signer::off_worker(|| signer::sign_many(&tokens, signer))?;
        Ok(self
            .issued
            .iter()
            .zip(signatures)
            .map(|(&(hsm, token), signature)| Signed {
                hsm,
                token,
                signature,
            })
            .collect())
    }

    /// Reads a signed token file (`signed_path`, or the file [`Challenges::write`] wrote)
    /// and pairs each signature with the HSM that issued its token, matching by token
    /// (SPEC §2.1). On error the challenges stay, so the user can mend the file.
    pub fn read_signed(
        &self,
        cluster: &Cluster,
        signed_path: Option<&Path>,
    ) -> Result<Vec<Signed>> {
        let path = match (signed_path, &self.token_path) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) => p.clone(),
            (None, None) => {
                return Err(Error::NothingPending {
                    operation: self.purpose.name().into(),
                })
            }
        };
        let file = TokenFile::load(&path)?;
        let origin = file.origin().clone();
        let mut signed: Vec<Signed> = Vec::with_capacity(file.tokens().len());
        for (e, entry) in file.tokens().iter().enumerate() {
            let Some(&(hsm, token)) = self.issued.iter().find(|(_, t)| *t == entry.unsigned) else {
                return Err(Error::TokenNotIssued {
                    origin,
                    field: format!("tokens[{e}].unsigned"),
                    entry: Some(e),
                    purpose: self.purpose.name().into(),
                });
            };
            let Some(signature) = entry.signed.clone() else {
                return Err(Error::Unsigned {
                    origin,
                    field: format!("tokens[{e}].signed"),
                    entry: Some(e),
                });
            };
            signed.push(Signed {
                hsm,
                token,
                signature,
            });
        }
        if let Some((hsm, _)) = self
            .issued
            .iter()
            .find(|(h, _)| !signed.iter().any(|s| s.hsm == *h))
        {
            return Err(Error::TokenMissing {
                origin,
                hsm: cluster.label(*hsm),
            });
        }
        Ok(signed)
    }
}

/// Returns each signature to the HSM that issued its token, as the request `op` makes of
/// (token, signature) in base64.
pub async fn redeem(
    cluster: &mut Cluster,
    signed: &[Signed],
    op: impl Fn(String, String) -> Op,
) -> Vec<NodeResult> {
    let mut ops = vec![None; cluster.len()];
    for s in signed {
        ops[s.hsm] = Some(op(B64.encode(s.token), B64.encode(&s.signature)));
    }
    cluster.fan_out(ops).await
}

/// Logs out the HSMs where a login succeeded, after the login failed elsewhere.
pub async fn undo_logins(cluster: &mut Cluster, hsms: &[usize]) {
    if hsms.is_empty() {
        return;
    }
    let mut ops = vec![None; cluster.len()];
    for &i in hsms {
        ops[i] = Some(Op::Logout);
    }
    let _ = cluster.fan_out(ops).await;
}

fn decode_token(text: &str) -> Option<Token> {
    B64.decode(text).ok()?.try_into().ok()
}
