//! Costly work a request needs (Argon2id, RSA signature checks), done away from the node.
//!
//! A request is performed in passes. Each pass runs the operation from the start against
//! the node as it is now, with the answers of the work done so far; when it needs one more
//! piece of work it stops, changing nothing, and hands out a [`Work`] (owned data). The
//! caller runs the work without holding the node, then commits: the operation runs again,
//! checks everything anew (the user may be gone, its hash or key may have changed, the
//! challenge may have expired) and either finishes or asks for more work. An answer is
//! used only when the inputs it was computed from are still the ones in the node.

use std::time::Instant;

use cloudhsm_mfa::crypto::{PublicKey, Token};
use cloudhsm_mfa::proto::{ErrorCode, Op, Secret};

use super::entropy::Entropy;
use super::password::{self, SALT_LEN};
use super::{refuse, ConnId, NodeSettings, Outcome, Stop};

/// One costly computation, with everything it needs.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Job {
    /// Check `password` against the PHC string `phc` (a user's, or the decoy).
    Verify { password: Secret, phc: String },
    /// Check a token signature against a public key (PEM).
    Signature {
        pem: String,
        token: Token,
        signature: Vec<u8>,
    },
    /// Check several signatures of one token, each with its own key (PEM): the approvals
    /// of a quorum token.
    Signatures {
        token: Token,
        checks: Vec<(String, Vec<u8>)>,
    },
    /// Hash `password` at the given cost with `salt`.
    Hash {
        password: Secret,
        cost: [u32; 3],
        salt: [u8; SALT_LEN],
    },
}

/// The result of a [`Job`].
#[derive(Clone)]
pub(super) enum Answer {
    Verified(bool),
    /// Whether the signature verifies; an error when the key cannot be read.
    Signature(Result<bool, String>),
    /// Whether each signature verifies (an unusable key verifies nothing).
    Signatures(Vec<bool>),
    Hashed(Result<String, String>),
}

/// The most parsed keys kept by [`parsed_key`].
const KEY_CACHE: usize = 2048;

/// The public key of `pem`, parsed once: a node checks the same few keys (its users' MFA
/// and quorum keys) again and again, and parsing costs about as much as verifying.
fn parsed_key(pem: &str) -> Result<std::sync::Arc<PublicKey>, String> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};
    static CACHE: Mutex<Option<HashMap<String, Arc<PublicKey>>>> = Mutex::new(None);
    if let Some(key) = CACHE
        .lock()
        .ok()
        .and_then(|c| c.as_ref().and_then(|m| m.get(pem).cloned()))
    {
        return Ok(key);
    }
    let key = Arc::new(PublicKey::from_pem(pem.as_bytes()).map_err(|e| e.to_string())?);
    if let Ok(mut cache) = CACHE.lock() {
        let map = cache.get_or_insert_with(HashMap::new);
        if map.len() >= KEY_CACHE {
            map.clear();
        }
        map.insert(pem.to_string(), key.clone());
    }
    Ok(key)
}

/// Whether `signature` is a signature of `token` by the key `pem`.
fn verify_with_pem(pem: &str, token: &Token, signature: &[u8]) -> Result<bool, String> {
    parsed_key(pem)
        .map(|key| signature.len() == key.signature_len() && key.verify_token(token, signature))
}

impl Job {
    fn run(&self) -> Answer {
        match self {
            Job::Verify { password, phc } => {
                Answer::Verified(password::verify(password.expose(), phc))
            }
            Job::Signature {
                pem,
                token,
                signature,
            } => Answer::Signature(verify_with_pem(pem, token, signature)),
            Job::Signatures { token, checks } => Answer::Signatures(
                checks
                    .iter()
                    .map(|(pem, signature)| verify_with_pem(pem, token, signature) == Ok(true))
                    .collect(),
            ),
            Job::Hash {
                password,
                cost: [m, t, p],
                salt,
            } => {
                let settings = NodeSettings {
                    argon2_memory_kib: *m,
                    argon2_iterations: *t,
                    argon2_lanes: *p,
                    ..NodeSettings::default()
                };
                Answer::Hashed(password::hash(password.expose(), &settings, salt))
            }
        }
    }
}

fn cost(settings: &NodeSettings) -> [u32; 3] {
    [
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
    ]
}

/// A request waiting for one piece of costly work. Owns its data: run it anywhere, without
/// the node, then give the result to [`super::Node::commit`].
pub struct Work {
    pub(super) conn: ConnId,
    pub(super) op: Op,
    pub(super) done: Vec<(Job, Answer)>,
    pub(super) job: Job,
}

impl Work {
    /// Does the work: slow (tens of milliseconds at the default Argon2id cost) and pure.
    pub fn run(self) -> Worked {
        let answer = self.job.run();
        let mut done = self.done;
        done.push((self.job, answer));
        Worked {
            conn: self.conn,
            op: self.op,
            done,
        }
    }

    /// The connection whose request this is.
    pub fn conn(&self) -> ConnId {
        self.conn
    }
}

/// Work done, ready for [`super::Node::commit`].
pub struct Worked {
    pub(super) conn: ConnId,
    pub(super) op: Op,
    pub(super) done: Vec<(Job, Answer)>,
}

/// What a pass of a request ends with.
pub enum Prepared {
    /// The answer. When it says the state changed, save [`super::Node::state`], then call
    /// [`super::Node::saved`] or [`super::Node::save_failed`], before sending the reply.
    Done(Outcome),
    /// The request needs this work before it can be answered.
    Work(Work),
}

/// What one pass of an operation sees besides the node: the time, a source of random
/// bytes, and the answers of the work done so far.
pub(super) struct Cx<'a> {
    pub now: Instant,
    entropy: &'a mut dyn Entropy,
    done: &'a [(Job, Answer)],
}

impl<'a> Cx<'a> {
    pub fn new(now: Instant, entropy: &'a mut dyn Entropy, done: &'a [(Job, Answer)]) -> Self {
        Cx { now, entropy, done }
    }

    /// `N` random bytes.
    pub fn random<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut bytes = [0u8; N];
        self.entropy
            .fill(&mut bytes)
            .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))?;
        Ok(bytes)
    }

    /// Whether `password` matches `phc`.
    pub fn verify(&self, password: &Secret, phc: &str) -> Result<bool, Stop> {
        let job = Job::Verify {
            password: password.clone(),
            phc: phc.to_string(),
        };
        match self.answer(&job) {
            Some(Answer::Verified(ok)) => Ok(*ok),
            _ => Err(Stop::Work(job)),
        }
    }

    /// Whether `signature` is a signature of `token` by the key `pem`.
    pub fn signature(
        &self,
        pem: &str,
        token: &Token,
        signature: &[u8],
    ) -> Result<Result<bool, String>, Stop> {
        let job = Job::Signature {
            pem: pem.to_string(),
            token: *token,
            signature: signature.to_vec(),
        };
        match self.answer(&job) {
            Some(Answer::Signature(r)) => Ok(r.clone()),
            _ => Err(Stop::Work(job)),
        }
    }

    /// Whether each of `checks` (a key and a signature) verifies over `token`.
    pub fn signatures(
        &self,
        token: &Token,
        checks: &[(String, Vec<u8>)],
    ) -> Result<Vec<bool>, Stop> {
        if checks.is_empty() {
            return Ok(Vec::new());
        }
        let job = Job::Signatures {
            token: *token,
            checks: checks.to_vec(),
        };
        match self.answer(&job) {
            Some(Answer::Signatures(r)) => Ok(r.clone()),
            _ => Err(Stop::Work(job)),
        }
    }

    /// A new hash of `password` at the cost of `settings`, with a fresh salt.
    pub fn hash(&mut self, password: &Secret, settings: &NodeSettings) -> Result<String, Stop> {
        let cost = cost(settings);
        let found = self
            .done
            .iter()
            .find_map(|(job, answer)| match (job, answer) {
                (
                    Job::Hash {
                        password: p,
                        cost: c,
                        ..
                    },
                    Answer::Hashed(h),
                ) if p == password && *c == cost => Some(h.clone()),
                _ => None,
            });
        match found {
            Some(h) => h.map_err(|e| refuse(ErrorCode::Internal, e)),
            None => Err(Stop::Work(Job::Hash {
                password: password.clone(),
                cost,
                salt: self.random()?,
            })),
        }
    }

    fn answer(&self, job: &Job) -> Option<&Answer> {
        self.done.iter().find(|(j, _)| j == job).map(|(_, a)| a)
    }
}
