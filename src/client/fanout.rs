//! The answers of a cluster's HSMs to one request, sorted once: [`Tally`] turns each HSM's
//! [`NodeResult`] into an accepted answer, a refusal or a miss, and judges the whole.

use super::cluster::Cluster;
use super::user_list::UnreachableHsm;
use crate::error::{Error, Result};
use crate::proto::Reply;

/// What one HSM made of one request.
#[derive(Debug)]
pub enum NodeResult {
    /// No request was meant for this HSM.
    Skipped,
    /// There is no connection to this HSM (the reason is the connection error).
    Unreachable(String),
    /// The connection broke during the request.
    Broken(String),
    /// The HSM answered.
    Answered(Reply),
}

/// The answers to one request, by HSM index (configuration order).
pub struct Tally<T> {
    /// HSMs whose answer was accepted, with what it said.
    pub accepted: Vec<(usize, T)>,
    /// HSMs that refused (or answered what the protocol does not allow): the error, and
    /// the HSM's own words for a summary.
    pub refused: Vec<(usize, Error, String)>,
    /// HSMs that could not be asked or did not answer, with the reason.
    pub missed: Vec<(usize, String)>,
}

impl<T> Tally<T> {
    /// Sorts `results`: `accept` turns an answer that is not an error into `T`, or says
    /// (None) that the protocol does not allow it here.
    pub fn new(
        cluster: &Cluster,
        results: Vec<NodeResult>,
        mut accept: impl FnMut(Reply) -> Option<T>,
    ) -> Self {
        let mut tally = Tally {
            accepted: Vec::new(),
            refused: Vec::new(),
            missed: Vec::new(),
        };
        for (i, result) in results.into_iter().enumerate() {
            match result {
                NodeResult::Skipped => {}
                NodeResult::Unreachable(e) => tally.missed.push((i, format!("unreachable: {e}"))),
                NodeResult::Broken(e) => tally.missed.push((i, format!("connection lost: {e}"))),
                NodeResult::Answered(Reply::Error {
                    code,
                    message,
                    approvals,
                }) => {
                    let error = cluster.refusal(i, code, &message, approvals);
                    tally.refused.push((i, error, message));
                }
                NodeResult::Answered(reply) => {
                    let unexpected = cluster.unexpected(i, &reply);
                    match accept(reply) {
                        Some(t) => tally.accepted.push((i, t)),
                        None => {
                            let why = unexpected.to_string();
                            tally.refused.push((i, unexpected, why));
                        }
                    }
                }
            }
        }
        tally
    }

    /// The HSMs whose answer was accepted.
    pub fn accepted_hsms(&self) -> Vec<usize> {
        self.accepted.iter().map(|(i, _)| *i).collect()
    }

    /// Judges a question asked of every HSM (a listing): the answers of those that
    /// answered, and the others named with the reason, in configuration order; an error
    /// only when no HSM answered.
    pub fn answers(mut self, cluster: &Cluster) -> Result<(Vec<T>, Vec<UnreachableHsm>)> {
        if self.accepted.is_empty() {
            return Err(self
                .take_refusal()
                .unwrap_or_else(|| Error::NoHsmReachable {
                    details: cluster.describe(&self.missed),
                }));
        }
        let mut silent: Vec<(usize, String)> = self.missed;
        silent.extend(
            self.refused
                .into_iter()
                .map(|(i, _, why)| (i, format!("refused: {why}"))),
        );
        silent.sort_by_key(|(i, _)| *i);
        let unreachable = silent
            .into_iter()
            .map(|(i, reason)| UnreachableHsm {
                hsm: cluster.label(i),
                reason,
            })
            .collect();
        Ok((
            self.accepted.into_iter().map(|(_, t)| t).collect(),
            unreachable,
        ))
    }

    /// The first refusal, taken out of the tally.
    pub fn take_refusal(&mut self) -> Option<Error> {
        (!self.refused.is_empty()).then(|| self.refused.remove(0).1)
    }

    /// The first refusal, else the first miss as a connection error.
    pub fn take_failure(&mut self, cluster: &Cluster) -> Option<Error> {
        self.take_refusal().or_else(|| {
            self.missed.first().map(|(i, why)| Error::Connect {
                hsm: cluster.label(*i),
                reason: why.clone(),
            })
        })
    }

    /// Judges a change sent to the cluster (SPEC §9): every HSM accepted → Ok; none → the
    /// first refusal (or that none was reachable); some → [`Error::PartialFailure`] with
    /// the counts, as `operation` (the CloudHSM CLI's words, e.g. "User replicate"). HSMs
    /// in `earlier` had already dropped out of the operation; missed HSMs count as
    /// failures when `misses_fail`.
    pub fn settle(
        mut self,
        cluster: &Cluster,
        operation: &str,
        earlier: &[(usize, String)],
        misses_fail: bool,
    ) -> Result<()> {
        let mut failed: Vec<(usize, String)> = earlier.to_vec();
        failed.extend(self.refused.iter().map(|(i, _, why)| (*i, why.clone())));
        if misses_fail {
            failed.extend(self.missed.iter().cloned());
        }
        let accepted = self.accepted.len();
        if failed.is_empty() {
            if accepted == 0 && self.refused.is_empty() {
                return Err(Error::NoHsmReachable {
                    details: "no HSM answered".into(),
                });
            }
            return Ok(());
        }
        if accepted == 0 {
            return Err(self
                .take_refusal()
                .unwrap_or_else(|| Error::NoHsmReachable {
                    details: cluster.describe(&failed),
                }));
        }
        Err(Error::PartialFailure {
            operation: operation.to_string(),
            failed: failed.len(),
            total: failed.len() + accepted,
            details: cluster.describe(&failed),
        })
    }
}
