//! A session with a cluster: the connections to its HSMs, who is logged in, the step that
//! waits for the user (signatures for issued challenges), and the approval set for the
//! next gated operation. The operations themselves live in [`super::flows`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::cluster::Cluster;
use super::exchange::{Challenges, Purpose};
use crate::config::ClusterTarget;
use crate::error::{Error, Result};
use crate::proto::{Approval, ApprovalSignature, Op, Role};
use crate::token_file::{QuorumApproval, TokenFile};

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

/// The step an operation waits at between its two calls.
pub(super) enum Pending {
    /// Challenges written to a token file, waiting for its signed copy.
    TokenSign(Challenges),
    /// A login whose password was right, waiting for a factor's code or a selection.
    Factor(FactorLogin),
}

/// A login at a code or selection step (SPEC §11.2).
#[derive(Debug, Clone)]
pub(super) struct FactorLogin {
    pub username: String,
    pub role: Role,
    /// The factors it may go on with.
    pub factors: Vec<crate::mfa::Factor>,
    /// The factor whose code is asked for, once known.
    pub asked: Option<crate::mfa::Factor>,
    /// The HSMs that took part.
    pub hsms: Vec<usize>,
    /// The HSM asked to send an SMS or email code, if any.
    pub deliverer: Option<usize>,
    /// The HSMs that did not, with the reason.
    pub missed: Vec<(usize, String)>,
}

/// A session with one cluster. Dropping it closes the connections, which logs out.
pub struct Session {
    pub(super) cluster: Cluster,
    pub(super) user: Option<(String, Role)>,
    pub(super) pending: Option<Pending>,
    approval: Option<QuorumApproval>,
}

impl Session {
    /// Connects to every HSM of `target`. HSMs that cannot be reached now are tried again
    /// at each operation.
    pub async fn open(target: &ClusterTarget, options: &SessionOptions) -> Result<Self> {
        Ok(Session {
            cluster: Cluster::open(target, options.timeout).await?,
            user: None,
            pending: None,
            approval: None,
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

    /// Sets the quorum approval (SPEC §2.3) that the session's next gated operation
    /// presents; it is used up by the operation that succeeds with it.
    pub fn set_approval(&mut self, approval: &TokenFile) -> Result<()> {
        let approval = approval.approval().ok_or_else(|| {
            Error::invalid_argument(
                "approval",
                format!(
                    "{} is a token file of kind {}, not a quorum approval file",
                    approval.origin(),
                    approval.kind().as_str()
                ),
            )
        })?;
        self.approval = Some(approval.clone());
        Ok(())
    }

    /// The approval set for the next gated operation, if any.
    pub fn approval(&self) -> Option<&QuorumApproval> {
        self.approval.as_ref()
    }

    /// Forgets the approval set for the next gated operation.
    pub fn clear_approval(&mut self) {
        self.approval = None;
    }

    /// `op` as the HSMs get it: wrapped with the approval when it is gated and one is set.
    pub(super) fn with_approval(&self, op: Op) -> Op {
        gate(self.approval_on_wire().as_ref(), op)
    }

    /// The approval as the protocol carries it, if one is set.
    pub(super) fn approval_on_wire(&self) -> Option<Approval> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        self.approval.as_ref().map(|a| Approval {
            approval_data: b64.encode(&a.approval_data),
            signatures: a
                .signatures
                .iter()
                .map(|s| ApprovalSignature {
                    username: s.username.clone(),
                    signature: b64.encode(&s.signature),
                })
                .collect(),
        })
    }

    /// After a gated operation: an approval is used up by the operation that succeeds
    /// with it; after a failure it stays for the next attempt.
    pub(super) fn approval_used<T>(&mut self, result: &Result<T>) {
        if result.is_ok() {
            self.approval = None;
        }
    }

    /// Keeps `challenges` as the step waiting for the user.
    pub(super) fn wait_for_signatures(&mut self, challenges: Challenges) {
        self.pending = Some(Pending::TokenSign(challenges));
    }

    /// The challenges of `purpose` that wait for signatures.
    pub(super) fn waiting(&self, purpose: Purpose) -> Result<&Challenges> {
        match &self.pending {
            Some(Pending::TokenSign(c)) if c.purpose == purpose => Ok(c),
            _ => Err(Error::NothingPending {
                operation: purpose.name().into(),
            }),
        }
    }

    /// Takes the step waiting for the user out of the session.
    pub(super) fn take_waiting(&mut self, purpose: Purpose) -> Result<Challenges> {
        self.waiting(purpose)?;
        match self.pending.take() {
            Some(Pending::TokenSign(c)) => Ok(c),
            _ => Err(Error::NothingPending {
                operation: purpose.name().into(),
            }),
        }
    }
}

/// `op` wrapped with `approval` when `op` is gated and there is one.
pub(super) fn gate(approval: Option<&Approval>, op: Op) -> Op {
    match approval {
        Some(approval) if op.gate().is_some() => Op::Approved {
            approval: approval.clone(),
            op: Box::new(op),
        },
        _ => op,
    }
}
