//! The connections of a session to every HSM of a cluster, and the fan-out that sends a
//! request to all of them at once. Connections stay open between operations; a broken or
//! refused connection is tried again at the next operation.
//! Every request of a session goes out through [`Cluster::fan_out`], which logs it (see
//! `request_log`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;

use super::connection::Connection;
use super::fanout::NodeResult;
use super::request_log::{Request, RequestLog};
use crate::config::{ClusterTarget, Server};
use crate::error::{Error, Result};
use crate::proto::{ApprovalCounts, ErrorCode, Op, Reply};
use crate::quote::shorten;

struct Slot {
    server: Server,
    conn: Option<Connection>,
    hsm_id: Option<String>,
    last_error: String,
}

impl Slot {
    /// How the HSM is named in messages: its id and address, e.g. `hsm-2 (127.0.0.1:2224)`.
    fn label(&self) -> String {
        match &self.hsm_id {
            Some(id) => format!(
                "{} ({}:{})",
                shorten(id),
                shorten(&self.server.hostname),
                self.server.port
            ),
            None => format!("{}:{}", shorten(&self.server.hostname), self.server.port),
        }
    }
}

/// The connections to a cluster's HSMs, in configuration order.
pub struct Cluster {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    slots: Vec<Slot>,
    log: RequestLog,
}

impl Cluster {
    /// Prepares the connections (TLS configuration from the cluster CA) and opens them.
    pub async fn open(target: &ClusterTarget, timeout: Duration) -> Result<Self> {
        let tls = super::tls::client_config(
            &target.ca_file,
            target.client_cert.as_deref(),
            target.client_key.as_deref(),
        )?;
        let mut cluster = Cluster {
            tls,
            timeout,
            slots: target
                .servers
                .iter()
                .map(|s| Slot {
                    server: s.clone(),
                    conn: None,
                    hsm_id: None,
                    last_error: "not connected yet".into(),
                })
                .collect(),
            log: RequestLog::default(),
        };
        cluster.connect_missing().await;
        let connected = (0..cluster.len())
            .filter(|&i| cluster.is_connected(i))
            .count();
        tracing::info!(hsms = cluster.len(), connected, "session opened");
        Ok(cluster)
    }

    /// The number of HSMs in the cluster.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether HSM `i` has an open connection now.
    pub fn is_connected(&self, i: usize) -> bool {
        self.slots[i].conn.is_some()
    }

    /// The id HSM `i` gave in `hello`, once it has answered.
    pub fn hsm_id(&self, i: usize) -> Option<&str> {
        self.slots[i].hsm_id.as_deref()
    }

    /// How an HSM is named in messages: its id and address, e.g. `hsm-2 (127.0.0.1:2224)`.
    pub fn label(&self, i: usize) -> String {
        self.slots[i].label()
    }

    /// Opens, at once, every connection that is not open.
    pub async fn connect_missing(&mut self) {
        let tls = &self.tls;
        let timeout = self.timeout;
        join_all(
            self.slots
                .iter_mut()
                .filter(|s| s.conn.is_none())
                .map(|slot| async move {
                    match Connection::open(&slot.server, tls.clone(), timeout).await {
                        Ok(conn) => {
                            slot.hsm_id = Some(conn.hsm_id().to_string());
                            slot.conn = Some(conn);
                            tracing::debug!(hsm = slot.label().as_str(), "connected");
                        }
                        Err(e) => {
                            tracing::warn!(
                                hsm = slot.label().as_str(),
                                reason = e.as_str(),
                                "cannot connect to the HSM"
                            );
                            slot.last_error = e;
                        }
                    }
                }),
        )
        .await;
    }

    /// Sends `ops[i]` to HSM `i`, all at once, and waits for every answer; logs the
    /// request (see the module's documentation).
    pub async fn fan_out(&mut self, ops: Vec<Option<Op>>) -> Vec<NodeResult> {
        let request = ops.iter().flatten().next().map(Request::of);
        let results = self.send_all(ops).await;
        if let Some(request) = request {
            let slots = &self.slots;
            self.log.record(request, &results, |i| slots[i].label());
        }
        results
    }

    async fn send_all(&mut self, ops: Vec<Option<Op>>) -> Vec<NodeResult> {
        join_all(self.slots.iter_mut().zip(ops).map(|(slot, op)| async move {
            let Some(op) = op else {
                return NodeResult::Skipped;
            };
            let Some(conn) = slot.conn.as_mut() else {
                return NodeResult::Unreachable(slot.last_error.clone());
            };
            match conn.call(op).await {
                Ok(reply) => NodeResult::Answered(reply),
                Err(e) => {
                    slot.conn = None;
                    slot.last_error = e.clone();
                    NodeResult::Broken(e)
                }
            }
        }))
        .await
    }

    /// Sends the same request to every HSM.
    pub async fn broadcast(&mut self, op: Op) -> Vec<NodeResult> {
        let ops = vec![Some(op); self.slots.len()];
        self.fan_out(ops).await
    }

    /// The error for HSM `i`'s refusal.
    pub fn refusal(
        &self,
        i: usize,
        code: ErrorCode,
        message: &str,
        approvals: Option<ApprovalCounts>,
    ) -> Error {
        match approvals {
            Some(counts) => Error::Quorum {
                hsm: self.label(i),
                code,
                message: message.to_string(),
                present: counts.present,
                required: counts.required,
            },
            None => Error::Hsm {
                hsm: self.label(i),
                code,
                message: message.to_string(),
            },
        }
    }

    /// Names each HSM of `failures` with its reason, for messages.
    pub fn describe(&self, failures: &[(usize, String)]) -> String {
        failures
            .iter()
            .map(|(i, why)| format!("{}: {why}", self.label(*i)))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The error for an answer the protocol does not allow.
    pub fn unexpected(&self, i: usize, reply: &Reply) -> Error {
        Error::Protocol {
            hsm: self.label(i),
            reason: format!("unexpected answer {reply:?}"),
        }
    }
}
