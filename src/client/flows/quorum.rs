//! Quorum (SPEC §7): quorum tokens (approval and registration files), the list of open
//! tokens, quorum values, and quorum key registration. The approval a gated operation
//! presents is set on the session ([`Session::set_approval`]) and sent by the operation
//! itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use crate::client::fanout::Tally;
use crate::client::session::Session;
use crate::client::user_list::{Agreed, UnreachableHsm};
use crate::crypto::{PublicKey, Token};
use crate::error::{Error, Result};
use crate::proto::{DeleteScope, Op, QuorumTokenInfo, Reply, Service};
use crate::quorum::record::{self, Record};
use crate::signer::{self, Signer};
use crate::token_file::TokenFile;

/// What `quorum token-sign generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedToken {
    pub path: PathBuf,
    pub service: Service,
    /// The HSMs whose record the file holds (every HSM of the cluster).
    pub hsms: usize,
}

/// One open quorum token across the cluster, as `quorum token-sign list` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumTokenRow {
    pub username: String,
    pub service: Service,
    #[serde(rename = "approvals-required")]
    pub approvals_required: Agreed<u32>,
    #[serde(rename = "number-of-approvals")]
    pub number_of_approvals: u32,
    /// The least time left on any HSM.
    #[serde(rename = "token-timeout-seconds")]
    pub token_timeout_seconds: u64,
    /// `"full"` when every HSM of the cluster holds the token, `"inconsistent"` otherwise.
    #[serde(rename = "cluster-coverage")]
    pub cluster_coverage: String,
}

/// The data of `quorum token-sign list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumTokenList {
    pub tokens: Vec<QuorumTokenRow>,
    #[serde(rename = "unreachable-hsms", skip_serializing_if = "Vec::is_empty")]
    pub unreachable_hsms: Vec<UnreachableHsm>,
}

/// The data of `quorum token-sign list-quorum-values`: each service's value, or
/// `"inconsistent"` where the HSMs differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuorumValueList {
    pub user: Agreed<u32>,
    pub quorum: Agreed<u32>,
    #[serde(rename = "unreachable-hsms", skip_serializing_if = "Vec::is_empty")]
    pub unreachable_hsms: Vec<UnreachableHsm>,
}

impl Session {
    /// Asks every HSM for a quorum token of the logged-in user for `service` and writes
    /// them to `path`: an approval file (SPEC §2.3) for `user` and `quorum`, whose
    /// `approval_data` is the HSMs' records in configuration order, or a registration file
    /// (SPEC §2.2) with one entry per HSM for `registration`. Every HSM must take part.
    pub async fn generate_quorum_token(
        &mut self,
        service: Service,
        path: &Path,
    ) -> Result<GeneratedToken> {
        let records = self.quorum_records(service).await?;
        let hsms = records.len();
        let file = if service == Service::Registration {
            TokenFile::new_registrations(records)?
        } else {
            TokenFile::new_approval(records.concat())?
        };
        file.write(path)?;
        Ok(GeneratedToken {
            path: path.to_path_buf(),
            service,
            hsms,
        })
    }

    /// Every HSM's record of a new token for `service`, in configuration order.
    async fn quorum_records(&mut self, service: Service) -> Result<Vec<Vec<u8>>> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::QuorumGenerate { service }).await;
        let mut tally = Tally::new(&self.cluster, results, |r| match r {
            Reply::QuorumToken { record, .. } => B64.decode(record).ok(),
            _ => None,
        });
        if let Some(e) = tally.take_failure(&self.cluster) {
            return Err(e);
        }
        Ok(tally.accepted.into_iter().map(|(_, r)| r).collect())
    }

    /// Every open quorum token of the cluster (logged in).
    pub async fn list_quorum_tokens(&mut self) -> Result<QuorumTokenList> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::QuorumList).await;
        let (lists, unreachable) = Tally::new(&self.cluster, results, |r| match r {
            Reply::QuorumTokens { tokens } => Some(tokens),
            _ => None,
        })
        .answers(&self.cluster)?;
        let hsms = self.cluster.len();
        let mut by_token: BTreeMap<(String, Service), Vec<QuorumTokenInfo>> = BTreeMap::new();
        for t in lists.into_iter().flatten() {
            by_token
                .entry((t.username.clone(), t.service))
                .or_default()
                .push(t);
        }
        let tokens = by_token
            .into_iter()
            .map(|((username, service), seen)| {
                let required = seen[0].approvals_required;
                let agreed = seen.iter().all(|t| t.approvals_required == required);
                QuorumTokenRow {
                    username,
                    service,
                    approvals_required: if agreed {
                        Agreed::Value(required)
                    } else {
                        Agreed::Inconsistent
                    },
                    number_of_approvals: seen.iter().map(|t| t.approvals).max().unwrap_or(0),
                    token_timeout_seconds: seen
                        .iter()
                        .map(|t| t.expires_in_secs)
                        .min()
                        .unwrap_or(0),
                    cluster_coverage: if seen.len() == hsms && agreed {
                        "full"
                    } else {
                        "inconsistent"
                    }
                    .into(),
                }
            })
            .collect();
        Ok(QuorumTokenList {
            tokens,
            unreachable_hsms: unreachable,
        })
    }

    /// Each service's quorum value (no login needed).
    pub async fn quorum_values(&mut self) -> Result<QuorumValueList> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::QuorumValues).await;
        let (values, unreachable) = Tally::new(&self.cluster, results, |r| match r {
            Reply::QuorumValues { user, quorum } => Some((user, quorum)),
            _ => None,
        })
        .answers(&self.cluster)?;
        let agree = |pick: fn(&(u32, u32)) -> u32| {
            let first = pick(&values[0]);
            if values.iter().all(|v| pick(v) == first) {
                Agreed::Value(first)
            } else {
                Agreed::Inconsistent
            }
        };
        Ok(QuorumValueList {
            user: agree(|v| v.0),
            quorum: agree(|v| v.1),
            unreachable_hsms: unreachable,
        })
    }

    /// Sets the quorum value of `service` on every HSM (admins; gated by the `quorum`
    /// service: set the approval first when its value is above 1).
    pub async fn set_quorum_value(&mut self, service: Service, value: u32) -> Result<()> {
        crate::quorum::check_new_value(service, value, usize::MAX)
            .map_err(|e| Error::invalid_argument("value", e))?;
        self.mutate_as(Op::QuorumSetValue { service, value }, "Set quorum value")
            .await
    }

    /// Ends the logged-in user's quorum tokens, or every user's (`All`, admins).
    pub async fn delete_quorum_tokens(&mut self, scope: DeleteScope) -> Result<()> {
        self.mutate_as(Op::QuorumDelete { scope }, "Quorum token deletion")
            .await
    }

    /// Registers `public_key` as the logged-in user's quorum key from the signed
    /// registration file at `signed_path` (SPEC §7): each HSM checks the signature over its
    /// own record with that key (proof of possession).
    pub async fn register_quorum_key(
        &mut self,
        public_key: &PublicKey,
        signed_path: &Path,
    ) -> Result<()> {
        let file = TokenFile::load(signed_path)?;
        let origin = file.origin().clone();
        if file.kind() != crate::token_file::TokenFileKind::Registration {
            return Err(Error::invalid_argument(
                "signed_token",
                format!(
                    "{origin} is a token file of kind {}, not a registration file: generate one \
                     with quorum token-sign generate --service registration",
                    file.kind().as_str()
                ),
            ));
        }
        let mut signed = Vec::with_capacity(file.tokens().len());
        for (e, entry) in file.tokens().iter().enumerate() {
            let data = entry.approval_data.clone().unwrap_or_default();
            let record = Record::decode(&data).map_err(|why| {
                Error::token_file(&origin, format!("tokens[{e}].approval_data"), Some(e), why)
            })?;
            let Some(signature) = entry.signed.clone() else {
                return Err(Error::Unsigned {
                    origin,
                    field: format!("tokens[{e}].signed"),
                    entry: Some(e),
                });
            };
            signed.push((record.hsm_id, data, signature));
        }
        self.redeem_quorum_registration(public_key, signed).await
    }

    /// Registration in one call: a registration token from every HSM, signed by `signer`
    /// (the private key of `public_key`), then registered.
    pub async fn register_quorum_key_with(
        &mut self,
        public_key: &PublicKey,
        signer: &dyn Signer,
    ) -> Result<()> {
        let records = self.quorum_records(Service::Registration).await?;
        let tokens: Vec<Token> = records.iter().map(|r| record::token_of(r)).collect();
        let signatures = signer::off_worker(|| signer::sign_many(&tokens, signer))?;
        let mut signed = Vec::with_capacity(records.len());
        for (data, signature) in records.into_iter().zip(signatures) {
            let hsm = Record::decode(&data)
                .map_err(|why| Error::Protocol {
                    hsm: "an HSM".into(),
                    reason: format!("its registration record does not read: {why}"),
                })?
                .hsm_id;
            signed.push((hsm, data, signature));
        }
        self.redeem_quorum_registration(public_key, signed).await
    }

    /// Sends each HSM the signature over its own record: `signed` holds (HSM id, record,
    /// signature).
    async fn redeem_quorum_registration(
        &mut self,
        public_key: &PublicKey,
        signed: Vec<(String, Vec<u8>, Vec<u8>)>,
    ) -> Result<()> {
        let pem = public_key.to_pem()?;
        self.cluster.connect_missing().await;
        let mut ops = Vec::with_capacity(self.cluster.len());
        let mut missing = Vec::new();
        for i in 0..self.cluster.len() {
            let own = self
                .cluster
                .hsm_id(i)
                .and_then(|id| signed.iter().find(|(hsm, _, _)| hsm == id));
            match own {
                Some((_, data, signature)) => ops.push(Some(Op::QuorumRegister {
                    approval_data: B64.encode(data),
                    signature: B64.encode(signature),
                    public_key_pem: pem.clone(),
                })),
                None => {
                    missing.push((i, "the registration file has no token of this HSM".into()));
                    ops.push(None);
                }
            }
        }
        let results = self.cluster.fan_out(ops).await;
        Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::Done).then_some(())
        })
        .settle(&self.cluster, "Quorum key registration", &missing, true)
    }
}
