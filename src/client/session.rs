//! A session with a cluster: logins (password, token-sign MFA in two phases or with a
//! signer), user management and MFA registration, rotation and removal (SPEC §4–§6, §8).
//! Every request goes to all HSMs at once; see [`Cluster`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use super::cluster::{Cluster, NodeResult};
use super::signer::Signer;
use super::users::{merge, UserList};
use crate::config::ClusterTarget;
use crate::crypto::{PublicKey, Token};
use crate::error::{Error, Result};
use crate::proto::{Op, Reply, Role, Secret, UserInfo};
use crate::token_file::TokenFile;

/// The operation name in errors about user changes that reached only part of a cluster,
/// as the CloudHSM CLI words it.
const REPLICATE: &str = "User replicate";

/// Settings of a session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Bound on connecting to an HSM and on each request.
    pub timeout: Duration,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            timeout: Duration::from_secs(30),
        }
    }
}

/// Whether one HSM took part in a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HsmParticipation {
    pub hsm: String,
    pub took_part: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A finished login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoginReport {
    pub username: String,
    pub role: Role,
    /// Every HSM of the cluster, in configuration order.
    pub hsms: Vec<HsmParticipation>,
}

/// The tokens an operation's first phase wrote for the user to sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    pub token_path: PathBuf,
    pub tokens: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Login,
    Registration,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::Registration => "MFA registration",
        }
    }
}

/// Challenges issued by the first phase, waiting for signatures.
struct Pending {
    purpose: Purpose,
    username: String,
    role: Role,
    token_path: Option<PathBuf>,
    /// (HSM index, token) in configuration order.
    issued: Vec<(usize, Token)>,
    /// HSMs that logged in without MFA (a user whose MFA state differs between HSMs).
    done: Vec<usize>,
    /// HSMs that did not take part, with the reason.
    missed: Vec<(usize, String)>,
}

/// A signature for the token one HSM issued.
struct Signed {
    hsm: usize,
    token: Token,
    signature: Vec<u8>,
}

/// A session with one cluster. Dropping it closes the connections, which logs out.
pub struct Session {
    cluster: Cluster,
    user: Option<(String, Role)>,
    pending: Option<Pending>,
}

fn failure_reason(result: &NodeResult) -> Option<String> {
    match result {
        NodeResult::Unreachable(e) => Some(format!("unreachable: {e}")),
        NodeResult::Broken(e) => Some(format!("connection lost: {e}")),
        NodeResult::Answered(Reply::Error { message, .. }) => Some(message.clone()),
        _ => None,
    }
}

impl Session {
    /// Connects to every HSM of `target`. HSMs that cannot be reached now are tried again
    /// at each operation.
    pub async fn open(target: &ClusterTarget, options: &SessionOptions) -> Result<Self> {
        Ok(Session {
            cluster: Cluster::open(target, options.timeout).await?,
            user: None,
            pending: None,
        })
    }

    /// The number of HSMs in the cluster.
    pub fn hsm_count(&self) -> usize {
        self.cluster.len()
    }

    /// The logged-in user and role, if any.
    pub fn logged_in(&self) -> Option<(&str, Role)> {
        self.user.as_ref().map(|(u, r)| (u.as_str(), *r))
    }

    /// Logs in with a password. A user with MFA gets [`Error::MfaRequired`].
    pub async fn login(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<LoginReport> {
        let pending = self.issue(Purpose::Login, username, role, password).await?;
        if !pending.issued.is_empty() {
            self.undo_login(&pending.done).await;
            return Err(Error::MfaRequired {
                username: pending.username,
            });
        }
        Ok(self.logged_in_as(pending, &[]))
    }

    /// First phase of a token-sign MFA login: checks the password on every HSM and writes
    /// the challenges they return to `token_path` (SPEC §2.1) for the user to sign.
    pub async fn login_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        let pending = self.issue(Purpose::Login, username, role, password).await?;
        if pending.issued.is_empty() {
            self.undo_login(&pending.done).await;
            return Err(Error::MfaNotRegistered {
                username: pending.username,
            });
        }
        self.write_pending(pending, token_path).await
    }

    /// Second phase: reads the signed token file (`signed_path`, or the file the first
    /// phase wrote) and returns each signature to the HSM that issued the token.
    pub async fn login_mfa_finish(&mut self, signed_path: Option<&Path>) -> Result<LoginReport> {
        let signed = self.read_signed(Purpose::Login, signed_path)?;
        let pending = self.take_pending()?;
        self.redeem_login(pending, signed).await
    }

    /// A token-sign MFA login in one call: `signer` signs each token (SPEC §3).
    pub async fn login_mfa_with_signer<F>(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        signer: F,
    ) -> Result<LoginReport>
    where
        F: Fn(&Token) -> Result<Vec<u8>> + Sync,
    {
        self.login_mfa_with(username, role, password, &signer).await
    }

    /// As [`Session::login_mfa_with_signer`], with any [`Signer`] (a [`crate::PrivateKey`],
    /// or one that signs one token at a time).
    pub async fn login_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        signer: &dyn Signer,
    ) -> Result<LoginReport> {
        let pending = self.issue(Purpose::Login, username, role, password).await?;
        if pending.issued.is_empty() {
            self.undo_login(&pending.done).await;
            return Err(Error::MfaNotRegistered {
                username: pending.username,
            });
        }
        let signed = match sign_all(&pending.issued, signer) {
            Ok(signed) => signed,
            Err(e) => {
                self.undo_login(&pending.done).await;
                return Err(e);
            }
        };
        self.redeem_login(pending, signed).await
    }

    /// Ends the login, if any, waiting for every HSM's answer, so that the user counts as
    /// logged out everywhere when this returns. (Dropping the session closes its
    /// connections, which also logs out, but the HSMs notice that a moment later.)
    pub async fn close(&mut self) {
        if self.user.is_some() {
            let _ = self.logout().await;
        }
    }

    /// Logs out on every HSM.
    pub async fn logout(&mut self) -> Result<()> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::Logout).await;
        self.user = None;
        self.pending = None;
        self.settle("Logout", results, &[], false)
    }

    /// Every user of the cluster (no login needed).
    pub async fn list_users(&mut self) -> Result<UserList> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::ListUsers).await;
        let mut lists: Vec<Vec<UserInfo>> = Vec::new();
        let mut first_error = None;
        let mut unreachable = Vec::new();
        for (i, r) in results.into_iter().enumerate() {
            match r {
                NodeResult::Answered(Reply::Users { users }) => lists.push(users),
                NodeResult::Answered(Reply::Error { code, message }) => {
                    first_error.get_or_insert_with(|| self.cluster.refusal(i, code, &message));
                }
                NodeResult::Answered(other) => return Err(self.cluster.unexpected(i, &other)),
                other => unreachable.push(format!(
                    "{}: {}",
                    self.cluster.label(i),
                    failure_reason(&other).unwrap_or_default()
                )),
            }
        }
        if lists.is_empty() {
            return Err(first_error.unwrap_or(Error::NoHsmReachable {
                details: unreachable.join("; "),
            }));
        }
        Ok(merge(&lists))
    }

    /// Creates a user on every HSM (admin only).
    pub async fn create_user(&mut self, username: &str, role: Role, password: &str) -> Result<()> {
        let op = Op::CreateUser {
            username: username.to_string(),
            role,
            password: Secret::new(password),
        };
        self.mutate(op).await
    }

    /// Deletes a user on every HSM (admin only).
    pub async fn delete_user(&mut self, username: &str, role: Role) -> Result<()> {
        let op = Op::DeleteUser {
            username: username.to_string(),
            role,
        };
        self.mutate(op).await
    }

    /// Sets a user's password on every HSM.
    pub async fn change_password(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<()> {
        let op = Op::ChangePassword {
            username: username.to_string(),
            role,
            password: Secret::new(password),
        };
        self.mutate(op).await
    }

    /// Activates a new cluster: the first admin gets `password`.
    pub async fn activate_cluster(&mut self, password: &str) -> Result<()> {
        let op = Op::ActivateCluster {
            password: Secret::new(password),
        };
        self.mutate(op).await
    }

    /// First phase of registering or rotating an MFA key (SPEC §6): each HSM issues a
    /// registration challenge; they are written to `token_path` to be signed with the NEW
    /// private key.
    pub async fn change_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        let pending = self
            .issue(Purpose::Registration, username, role, "")
            .await?;
        self.write_pending(pending, token_path).await
    }

    /// Second phase: each HSM checks the signature over its challenge with `public_key`
    /// (proof of possession) and stores it as the user's MFA key (and quorum key with
    /// `change_quorum`), and sets `password`.
    pub async fn change_mfa_finish(
        &mut self,
        signed_path: Option<&Path>,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        let signed = self.read_signed(Purpose::Registration, signed_path)?;
        let pending = self.take_pending()?;
        self.redeem_registration(pending, signed, public_key, password, change_quorum)
            .await
    }

    /// Registration or rotation in one call: `signer` signs each challenge with the
    /// private key of `public_key`.
    pub async fn change_mfa_with_signer<F>(
        &mut self,
        username: &str,
        role: Role,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
        signer: F,
    ) -> Result<()>
    where
        F: Fn(&Token) -> Result<Vec<u8>> + Sync,
    {
        self.change_mfa_with(username, role, public_key, password, change_quorum, &signer)
            .await
    }

    /// As [`Session::change_mfa_with_signer`], with any [`Signer`].
    pub async fn change_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
        signer: &dyn Signer,
    ) -> Result<()> {
        let pending = self
            .issue(Purpose::Registration, username, role, "")
            .await?;
        let signed = sign_all(&pending.issued, signer)?;
        self.redeem_registration(pending, signed, public_key, password, change_quorum)
            .await
    }

    /// Removes a user's MFA key (and quorum key) on every HSM and sets `password`.
    pub async fn deregister_mfa(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        let op = Op::DeregisterMfa {
            username: username.to_string(),
            role,
            password: Secret::new(password),
            change_quorum,
        };
        self.mutate(op).await
    }

    // ---- the machinery -------------------------------------------------------------

    /// Sends the first request of a login or registration to every HSM and sorts the
    /// answers. Any refusal ends the operation (logins already made are undone).
    async fn issue(
        &mut self,
        purpose: Purpose,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<Pending> {
        self.pending = None;
        let username = crate::username::normalize(username).map_err(Error::InvalidArgument)?;
        let op = match purpose {
            Purpose::Login => Op::Login {
                username: username.clone(),
                role,
                password: Secret::new(password),
            },
            Purpose::Registration => Op::ChangeMfaBegin {
                username: username.clone(),
                role,
            },
        };
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(op).await;
        let mut pending = Pending {
            purpose,
            username,
            role,
            token_path: None,
            issued: Vec::new(),
            done: Vec::new(),
            missed: Vec::new(),
        };
        let mut refusal: Option<Error> = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                NodeResult::Answered(Reply::Challenge { token, .. }) => {
                    match decode_token(&token) {
                        Some(t) => pending.issued.push((i, t)),
                        None => {
                            refusal.get_or_insert(Error::Protocol {
                                hsm: self.cluster.label(i),
                                reason: "the challenge is not 32 bytes of base64".into(),
                            });
                        }
                    }
                }
                NodeResult::Answered(Reply::LoggedIn { .. }) if purpose == Purpose::Login => {
                    pending.done.push(i)
                }
                NodeResult::Answered(Reply::Error { code, message }) => {
                    refusal.get_or_insert_with(|| self.cluster.refusal(i, code, &message));
                }
                NodeResult::Answered(other) => {
                    refusal.get_or_insert_with(|| self.cluster.unexpected(i, &other));
                }
                other => pending
                    .missed
                    .push((i, failure_reason(&other).unwrap_or_default())),
            }
        }
        if let Some(err) = refusal {
            self.undo_login(&pending.done).await;
            return Err(err);
        }
        if pending.issued.is_empty() && pending.done.is_empty() {
            return Err(Error::NoHsmReachable {
                details: self.describe(&pending.missed),
            });
        }
        Ok(pending)
    }

    async fn write_pending(
        &mut self,
        mut pending: Pending,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        let tokens: Vec<Token> = pending.issued.iter().map(|(_, t)| *t).collect();
        if let Err(e) = TokenFile::new_mfa(&tokens).and_then(|f| f.write(token_path)) {
            self.undo_login(&pending.done).await;
            return Err(e);
        }
        pending.token_path = Some(token_path.to_path_buf());
        let issued = IssuedTokens {
            token_path: token_path.to_path_buf(),
            tokens: tokens.len(),
        };
        self.pending = Some(pending);
        Ok(issued)
    }

    /// Reads a signed file and pairs each signature with the HSM that issued its token.
    /// The pending operation stays, so the user can correct the file and try again.
    fn read_signed(&self, purpose: Purpose, signed_path: Option<&Path>) -> Result<Vec<Signed>> {
        let pending = match &self.pending {
            Some(p) if p.purpose == purpose => p,
            _ => {
                return Err(Error::Session(format!(
                    "no {} is waiting for a signed token file; run its first phase first",
                    purpose.name()
                )))
            }
        };
        let path = match (signed_path, &pending.token_path) {
            (Some(p), _) => p.to_path_buf(),
            (None, Some(p)) => p.clone(),
            (None, None) => return Err(Error::Session("no token file was written".into())),
        };
        let file = TokenFile::load(&path)?;
        let origin = file.origin().clone();
        let mut signed: Vec<Signed> = Vec::with_capacity(file.tokens().len());
        for (e, entry) in file.tokens().iter().enumerate() {
            let Some(&(hsm, token)) = pending.issued.iter().find(|(_, t)| *t == entry.unsigned)
            else {
                return Err(Error::TokenNotIssued {
                    origin,
                    field: format!("tokens[{e}].unsigned"),
                    entry: Some(e),
                    purpose: purpose.name().into(),
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
        if let Some((hsm, _)) = pending
            .issued
            .iter()
            .find(|(h, _)| !signed.iter().any(|s| s.hsm == *h))
        {
            return Err(Error::TokenMissing {
                origin,
                hsm: self.cluster.label(*hsm),
            });
        }
        Ok(signed)
    }

    fn take_pending(&mut self) -> Result<Pending> {
        self.pending
            .take()
            .ok_or_else(|| Error::Session("no operation is waiting for signatures".into()))
    }

    fn send_signatures(
        &self,
        signed: &[Signed],
        op: impl Fn(String, String) -> Op,
    ) -> Vec<Option<Op>> {
        let mut ops = vec![None; self.cluster.len()];
        for s in signed {
            ops[s.hsm] = Some(op(B64.encode(s.token), B64.encode(&s.signature)));
        }
        ops
    }

    async fn redeem_login(&mut self, pending: Pending, signed: Vec<Signed>) -> Result<LoginReport> {
        let ops = self.send_signatures(&signed, |token, signature| Op::LoginMfa {
            token,
            signature,
        });
        let results = self.cluster.fan_out(ops).await;
        let mut accepted = pending.done.clone();
        let mut failure: Option<Error> = None;
        for (i, r) in results.into_iter().enumerate() {
            match r {
                NodeResult::Skipped => {}
                NodeResult::Answered(Reply::LoggedIn { .. }) => accepted.push(i),
                NodeResult::Answered(Reply::Error { code, message }) => {
                    failure.get_or_insert_with(|| self.cluster.refusal(i, code, &message));
                }
                NodeResult::Answered(other) => {
                    failure.get_or_insert_with(|| self.cluster.unexpected(i, &other));
                }
                other => {
                    failure.get_or_insert_with(|| Error::Connect {
                        hsm: self.cluster.label(i),
                        reason: failure_reason(&other).unwrap_or_default(),
                    });
                }
            }
        }
        if let Some(err) = failure {
            self.undo_login(&accepted).await;
            return Err(err);
        }
        Ok(self.logged_in_as(pending, &accepted))
    }

    async fn redeem_registration(
        &mut self,
        pending: Pending,
        signed: Vec<Signed>,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        let pem = public_key.to_pem()?;
        let (username, role) = (pending.username.clone(), pending.role);
        let ops = self.send_signatures(&signed, |token, signature| Op::ChangeMfaFinish {
            username: username.clone(),
            role,
            token,
            signature,
            public_key_pem: pem.clone(),
            password: Secret::new(password),
            change_quorum,
        });
        let results = self.cluster.fan_out(ops).await;
        self.settle(REPLICATE, results, &pending.missed, true)
    }

    /// Sends a user change to every HSM; HSMs that cannot be reached count as failures.
    async fn mutate(&mut self, op: Op) -> Result<()> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(op).await;
        self.settle(REPLICATE, results, &[], true)
    }

    /// Judges the answers to an operation: all accepted → Ok; none accepted → the first
    /// refusal; some → [`Error::PartialFailure`] with the counts.
    fn settle(
        &self,
        operation: &str,
        results: Vec<NodeResult>,
        missed: &[(usize, String)],
        unreachable_fails: bool,
    ) -> Result<()> {
        let mut accepted = 0usize;
        let mut failed: Vec<(usize, String)> = missed.to_vec();
        let mut first_refusal: Option<Error> = None;
        for (i, r) in results.into_iter().enumerate() {
            match &r {
                NodeResult::Skipped => {}
                NodeResult::Answered(Reply::Error { code, message }) => {
                    first_refusal.get_or_insert_with(|| self.cluster.refusal(i, *code, message));
                    failed.push((i, message.clone()));
                }
                NodeResult::Answered(Reply::Done) => accepted += 1,
                NodeResult::Answered(other) => return Err(self.cluster.unexpected(i, other)),
                _ if unreachable_fails => failed.push((i, failure_reason(&r).unwrap_or_default())),
                _ => {}
            }
        }
        if failed.is_empty() {
            if accepted == 0 && first_refusal.is_none() {
                return Err(Error::NoHsmReachable {
                    details: "no HSM answered".into(),
                });
            }
            return Ok(());
        }
        if accepted == 0 {
            return Err(first_refusal.unwrap_or_else(|| Error::NoHsmReachable {
                details: self.describe(&failed),
            }));
        }
        Err(Error::PartialFailure {
            operation: operation.to_string(),
            failed: failed.len(),
            total: failed.len() + accepted,
            details: self.describe(&failed),
        })
    }

    fn describe(&self, failures: &[(usize, String)]) -> String {
        failures
            .iter()
            .map(|(i, why)| format!("{}: {why}", self.cluster.label(*i)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Logs out the HSMs where a login succeeded, after the login failed elsewhere.
    async fn undo_login(&mut self, hsms: &[usize]) {
        if hsms.is_empty() {
            return;
        }
        let mut ops = vec![None; self.cluster.len()];
        for &i in hsms {
            ops[i] = Some(Op::Logout);
        }
        let _ = self.cluster.fan_out(ops).await;
    }

    fn logged_in_as(&mut self, pending: Pending, accepted: &[usize]) -> LoginReport {
        let hsms = (0..self.cluster.len())
            .map(|i| {
                let reason = pending
                    .missed
                    .iter()
                    .find(|(h, _)| *h == i)
                    .map(|(_, why)| why.clone());
                HsmParticipation {
                    hsm: self.cluster.label(i),
                    took_part: accepted.contains(&i) || pending.done.contains(&i),
                    reason,
                }
            })
            .collect();
        self.user = Some((pending.username.clone(), pending.role));
        LoginReport {
            username: pending.username,
            role: pending.role,
            hsms,
        }
    }
}

/// Signs every issued token with `signer`: spread over the machine's cores when the signer
/// allows it (an RSA signature takes a fraction of a millisecond, and a cluster may issue
/// 16 tokens), else one after the other on this thread. After one failure no further token
/// is signed: a signer may ask a person or a device.
fn sign_all(issued: &[(usize, Token)], signer: &dyn Signer) -> Result<Vec<Signed>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stopped = AtomicBool::new(false);
    // A part ends with its first failure (`Some`), or with `None` when it stopped because
    // another part failed.
    let sign_part = |part: &[(usize, Token)]| -> std::result::Result<Vec<Signed>, Option<Error>> {
        let mut signed = Vec::with_capacity(part.len());
        for &(hsm, token) in part {
            if stopped.load(Ordering::SeqCst) {
                return Err(None);
            }
            match signer.sign(&token) {
                Ok(signature) => signed.push(Signed {
                    hsm,
                    token,
                    signature,
                }),
                Err(e) => {
                    stopped.store(true, Ordering::SeqCst);
                    return Err(Some(e));
                }
            }
        }
        Ok(signed)
    };
    let workers = if signer.concurrent() {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(issued.len())
    } else {
        1
    };
    let results: Vec<_> = if workers <= 1 {
        vec![sign_part(issued)]
    } else {
        let per_worker = issued.len().div_ceil(workers);
        std::thread::scope(|scope| {
            let parts: Vec<_> = issued
                .chunks(per_worker)
                .map(|part| scope.spawn(move || sign_part(part)))
                .collect();
            parts
                .into_iter()
                .map(|p| {
                    p.join()
                        .unwrap_or_else(|_| Err(Some(Error::Signer("the signer panicked".into()))))
                })
                .collect()
        })
    };
    let mut signed = Vec::with_capacity(issued.len());
    for result in results {
        match result {
            Ok(part) => signed.extend(part),
            Err(Some(e)) => return Err(e),
            Err(None) => {}
        }
    }
    if signed.len() != issued.len() {
        return Err(Error::Signer("signing stopped after a failure".into()));
    }
    Ok(signed)
}

fn decode_token(text: &str) -> Option<Token> {
    B64.decode(text).ok()?.try_into().ok()
}
