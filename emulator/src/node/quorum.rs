//! Quorum on a node (SPEC §7): quorum tokens and their records, the gate in front of the
//! operations a quorum service controls, quorum values and quorum key registration. The
//! rules themselves (record layout, value ranges, the counting of approvals, the lockout
//! guard) are the library's `cloudhsm_mfa::quorum`.
//!
//! A token lives in memory with the login that generated it: logout, a lost connection, or
//! anything that ends the login ends it. There is one open token per user per service; a
//! new one replaces the old. A token is used up by the operation that succeeds with it.

use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cloudhsm_mfa::proto::{
    Approval, ApprovalCounts, DeleteScope, ErrorCode, Op, QuorumTokenInfo, Reply, Role, Service,
};
use cloudhsm_mfa::quorum::{self, record, Approver, Record, Tally, RECORD_LEN};

use super::{decode_base64, public_key_arg, refuse, ConnId, Cx, Login, Node, Step, Stop};

/// An open quorum token of one login.
#[derive(Debug, Clone)]
pub(super) struct QuorumToken {
    /// This node's record, as it sent it.
    pub record: [u8; RECORD_LEN],
    pub service: Service,
    pub username: String,
    pub expires: Instant,
}

fn invalid(message: impl Into<String>) -> Stop {
    refuse(ErrorCode::QuorumTokenInvalid, message)
}

fn counted_refusal(code: ErrorCode, message: String, present: usize, required: u32) -> Stop {
    Stop::Refused {
        code,
        message,
        approvals: Some(ApprovalCounts {
            present: present as u32,
            required,
        }),
    }
}

impl Node {
    /// A gated operation sent without an approval: refused when the logged-in user is an
    /// admin and the service's value is above 1.
    pub(super) fn refuse_without_approval(
        &self,
        conn: ConnId,
        service: Service,
    ) -> Result<(), Stop> {
        let required = self.state.quorum.get(service);
        let admin = self
            .conn(conn)?
            .login
            .as_ref()
            .is_some_and(|l| l.role == Role::Admin);
        if admin && required > 1 {
            return Err(counted_refusal(
                ErrorCode::QuorumApprovalRequired,
                quorum::approval_required(service, required),
                0,
                required,
            ));
        }
        Ok(())
    }

    /// `approved`: counts the approval for `op`'s service, performs `op` when there are
    /// enough, and uses up the token when it succeeds. An approval for a service whose
    /// value is 1, or presented by a user who is not an admin, is not needed: `op` is
    /// performed as if sent alone and the token stays.
    pub(super) fn approved(
        &mut self,
        conn: ConnId,
        approval: &Approval,
        op: &Op,
        cx: &mut Cx<'_>,
    ) -> Step {
        let Some(service) = op.gate() else {
            return Err(refuse(
                ErrorCode::InvalidArgument,
                format!(
                    "{} is not gated by a quorum service; send it without an approval",
                    op.name()
                ),
            ));
        };
        let login = self.require_login(conn)?;
        let required = self.state.quorum.get(service);
        if required <= 1 || login.role != Role::Admin {
            return self.perform(conn, op, cx);
        }
        let data = decode_base64("approval_data", &approval.approval_data)?;
        let record = self.own_record(&data)?;
        let token = self.open_token(conn, &login, &record, service, cx.now)?;
        let tally = self.count_approvals(approval, &data, cx)?;
        if tally.counted.len() < required as usize {
            let mut message = quorum::too_few(tally.counted.len(), required);
            if !tally.rejected.is_empty() {
                message.push_str(&format!("; not counted: {}", tally.rejections()));
            }
            return Err(counted_refusal(
                ErrorCode::QuorumTooFew,
                message,
                tally.counted.len(),
                required,
            ));
        }
        let reply = self.perform(conn, op, cx)?;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.quorum_tokens.retain(|t| t.record != token.record);
        }
        Ok(reply)
    }

    /// This node's record in an approval's `approval_data`.
    fn own_record(&self, data: &[u8]) -> Result<[u8; RECORD_LEN], Stop> {
        let records = record::split(data).map_err(|e| invalid(format!("approval_data: {e}")))?;
        let at = records
            .iter()
            .position(|r| r.hsm_id == self.hsm_id)
            .ok_or_else(|| {
                invalid(format!(
                    "the approval has no record of HSM {}: it was generated for another cluster",
                    self.hsm_id
                ))
            })?;
        let mut own = [0u8; RECORD_LEN];
        own.copy_from_slice(&data[at * RECORD_LEN..(at + 1) * RECORD_LEN]);
        Ok(own)
    }

    /// The open token whose record is `record`, if it belongs to `login` on `conn` and to
    /// `service`, and has not expired; else a refusal that says which of these fails.
    fn open_token(
        &mut self,
        conn: ConnId,
        login: &Login,
        record: &[u8; RECORD_LEN],
        service: Service,
        now: Instant,
    ) -> Result<QuorumToken, Stop> {
        let same = |t: &QuorumToken| {
            aws_lc_rs::constant_time::verify_slices_are_equal(&t.record, record).is_ok()
        };
        let Some(token) = self
            .conn(conn)?
            .quorum_tokens
            .iter()
            .find(|t| same(t))
            .cloned()
        else {
            let elsewhere = self
                .conns
                .iter()
                .any(|(id, c)| *id != conn && c.quorum_tokens.iter().any(same));
            return Err(invalid(if elsewhere {
                "the quorum token was issued on another login session: generate a token in \
                 this session (quorum token-sign generate)"
                    .to_string()
            } else {
                "the quorum token was already used, was replaced by a newer token, or was never \
                 issued by this HSM: generate a new one (quorum token-sign generate)"
                    .to_string()
            }));
        };
        if token.username != login.username {
            return Err(invalid(format!(
                "the quorum token is user {}'s, not the logged-in user {}'s",
                token.username, login.username
            )));
        }
        if token.service != service {
            return Err(invalid(format!(
                "the quorum token is for the {} service, and this operation needs one for the \
                 {service} service",
                token.service
            )));
        }
        if now >= token.expires {
            if let Some(c) = self.conns.get_mut(&conn) {
                c.quorum_tokens.retain(|t| !same(t));
            }
            return Err(invalid(format!(
                "the quorum token expired after {} seconds: generate a new one",
                self.settings.quorum_token_ttl.as_secs()
            )));
        }
        Ok(token)
    }

    /// Counts the approvals: distinct admins whose signature over SHA-256 of `data`
    /// verifies with their quorum key.
    fn count_approvals(
        &self,
        approval: &Approval,
        data: &[u8],
        cx: &mut Cx<'_>,
    ) -> Result<Tally, Stop> {
        let mut signatures = Vec::with_capacity(approval.signatures.len());
        for s in &approval.signatures {
            let bytes = decode_base64(
                &format!("the signature of approver {}", s.username),
                &s.signature,
            )?;
            signatures.push((s.username.as_str(), bytes));
        }
        let plan =
            quorum::plan(
                signatures.iter().map(|(n, b)| (*n, b.as_slice())),
                |name| match self.state.users.get(name) {
                    Some(u) if u.role == Role::Admin => {
                        Approver::Admin(u.quorum_public_key.as_deref())
                    }
                    _ => Approver::NotAnAdmin,
                },
            );
        let checks: Vec<(String, Vec<u8>)> = plan
            .checks
            .iter()
            .map(|c| (c.key_pem.clone(), c.signature.clone()))
            .collect();
        let verified = cx.signatures(&record::token_of(data), &checks)?;
        Ok(Tally::count(plan, &verified))
    }

    /// `quorum_generate`: a new token of the logged-in user for `service`, replacing the
    /// user's open token for it. `user` and `quorum` tokens are for admins.
    pub(super) fn quorum_generate(
        &mut self,
        conn: ConnId,
        service: Service,
        cx: &mut Cx<'_>,
    ) -> Step {
        let login = self.require_login(conn)?;
        if service.is_gate() && login.role != Role::Admin {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!(
                    "only an admin may generate a token for the {service} service; {} is a {}",
                    login.username, login.role
                ),
            ));
        }
        let record = Record {
            service,
            created: u32::try_from(self.unix_secs(cx.now)).unwrap_or(u32::MAX),
            token_id: u64::from_be_bytes(cx.random()?),
            random: cx.random()?,
            hsm_id: self.hsm_id.clone(),
            username: login.username.clone(),
        }
        .encode()
        .map_err(|e| refuse(ErrorCode::Internal, e))?;
        let ttl = self.settings.quorum_token_ttl;
        for c in self.conns.values_mut() {
            c.quorum_tokens
                .retain(|t| !(t.username == login.username && t.service == service));
        }
        self.conn_mut(conn)?.quorum_tokens.push(QuorumToken {
            record,
            service,
            username: login.username,
            expires: cx.now + ttl,
        });
        Ok(Reply::QuorumToken {
            record: B64.encode(record),
            expires_in_secs: ttl.as_secs(),
        })
    }

    /// `quorum_list`: every open token of the node, by user and service.
    pub(super) fn quorum_list(&mut self, conn: ConnId, now: Instant) -> Step {
        self.require_login(conn)?;
        for c in self.conns.values_mut() {
            c.quorum_tokens.retain(|t| now < t.expires);
        }
        let mut tokens: Vec<QuorumTokenInfo> = self
            .conns
            .values()
            .flat_map(|c| &c.quorum_tokens)
            .map(|t| QuorumTokenInfo {
                username: t.username.clone(),
                service: t.service,
                approvals_required: self.state.quorum.get(t.service),
                approvals: 0,
                // Rounded up: a token generated now lasts its whole lifetime.
                expires_in_secs: t.expires.duration_since(now).as_millis().div_ceil(1000) as u64,
            })
            .collect();
        tokens.sort_by(|a, b| (&a.username, a.service).cmp(&(&b.username, b.service)));
        Ok(Reply::QuorumTokens { tokens })
    }

    /// `quorum_set_value` (admins; gated by the `quorum` service).
    pub(super) fn quorum_set_value(&mut self, conn: ConnId, service: Service, value: u32) -> Step {
        self.require_admin(conn, "set quorum values")?;
        quorum::check_new_value(service, value, self.state.approvers(None))
            .map_err(|e| refuse(ErrorCode::InvalidArgument, e))?;
        if self.state.quorum.get(service) != value {
            self.begin_change();
            self.state.quorum.set(service, value);
        }
        Ok(Reply::Done)
    }

    /// `quorum_delete`: the logged-in user's tokens, or every user's (admins).
    pub(super) fn quorum_delete(&mut self, conn: ConnId, scope: DeleteScope) -> Step {
        let login = match scope {
            DeleteScope::User => self.require_login(conn)?,
            DeleteScope::All => self.require_admin(conn, "delete every user's quorum tokens")?,
        };
        for c in self.conns.values_mut() {
            c.quorum_tokens
                .retain(|t| scope == DeleteScope::User && t.username != login.username);
        }
        Ok(Reply::Done)
    }

    /// `quorum_register`: the logged-in user's quorum key, from a signature over this
    /// node's registration record that proves possession of the key.
    pub(super) fn quorum_register(
        &mut self,
        conn: ConnId,
        approval_data: &str,
        signature: &str,
        public_key_pem: &str,
        cx: &mut Cx<'_>,
    ) -> Step {
        let login = self.require_login(conn)?;
        let data = decode_base64("approval_data", approval_data)?;
        let record: [u8; RECORD_LEN] = data.as_slice().try_into().map_err(|_| {
            invalid(format!(
                "approval_data is {} bytes; a registration record is {RECORD_LEN}",
                data.len()
            ))
        })?;
        Record::decode(&record).map_err(|e| invalid(format!("approval_data: {e}")))?;
        self.open_token(conn, &login, &record, Service::Registration, cx.now)?;
        let pem = public_key_arg(public_key_pem)?;
        let signature = decode_base64("signature", signature)?;
        match cx.signature(&pem, &record::token_of(&record), &signature)? {
            Ok(true) => {}
            Ok(false) => {
                return Err(refuse(
                    ErrorCode::SignatureInvalid,
                    format!(
                        "the signature does not verify with the public key given for user {}: \
                         sign the registration token with the private key of that public key",
                        login.username
                    ),
                ))
            }
            Err(e) => return Err(refuse(ErrorCode::Internal, e)),
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.quorum_tokens.retain(|t| t.record != record);
        }
        self.begin_change();
        if let Some(user) = self.state.users.get_mut(&login.username) {
            user.quorum_public_key = Some(pem);
        }
        Ok(Reply::Done)
    }

    /// The lockout guard (SPEC §7): refuses a change that takes the quorum key of user
    /// `name` (`what` says how) when fewer admins holding one would be left than a
    /// service's value.
    pub(super) fn guard_quorum_key(&self, name: &str, what: &str) -> Result<(), Stop> {
        let holds = self
            .state
            .users
            .get(name)
            .is_some_and(|u| u.role == Role::Admin && u.quorum_public_key.is_some());
        if !holds {
            return Ok(());
        }
        self.state
            .quorum
            .guard(self.state.approvers(Some(name)), what)
            .map_err(|e| refuse(ErrorCode::PermissionDenied, e))
    }
}
