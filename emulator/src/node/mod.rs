//! One HSM node as a pure state machine: a request, the current time and a source of
//! random bytes in; a reply, and whether the persistent state changed, out. No sockets, no
//! files, no clock or randomness reads, so a run can be replayed.
//!
//! A request goes [`Node::prepare`] → [`Work::run`] → [`Node::commit`]: the costly part
//! (Argon2id, signature checks) runs without the node, and the commit checks again that
//! what the work rested on still holds. [`Node::handle`] does all three.
//! The caller saves [`Node::state`] when an [`Outcome`] says it changed, before sending
//! the reply, and reports how the save went ([`Node::saved`], [`Node::save_failed`]).
//!
//! Rules (SPEC §4–§6): a connection starts with `hello`; logins and challenges belong to the
//! connection that made them; a challenge is bound to this node, one user, one purpose and
//! one connection, is used once and expires; a refused request changes nothing, except that
//! a failed login counts toward the user's lockout.

mod challenge;
mod entropy;
mod guard;
mod mfa;
mod password;
mod quorum;
mod session;
mod settings;
mod state;
mod users;
mod work;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use cloudhsm_mfa::proto::{ApprovalCounts, ErrorCode, Op, Reply, Role, PROTOCOL_VERSION};

use challenge::Challenge;
pub use entropy::{Entropy, NoEntropy, OsEntropy, SeededEntropy};
pub use guard::{MAX_FAILURES_PER_CONNECTION, MAX_TRACKED_NAMES, UNKNOWN_NAME_WINDOW};
pub use password::{check_rule as check_password_rule, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use settings::NodeSettings;
pub use state::{NodeState, UserRecord, FIRST_ADMIN, MAX_USERS, OLDEST_STATE_FORMAT, STATE_FORMAT};
use work::{Cx, Job};
pub use work::{Prepared, Work, Worked};

/// Identifies one client connection to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

impl ConnId {
    /// The connection's number on its node (from 1), for the log.
    pub fn number(self) -> u64 {
        self.0
    }
}

/// The answer to one request.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub reply: Reply,
    /// The persistent state changed: save it before sending the reply.
    pub changed: bool,
    /// Codes to send (SMS, email), after the state is saved and before the reply.
    pub messages: Vec<crate::delivery::Message>,
}

/// Who is logged in on a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Login {
    username: String,
    role: Role,
}

/// What a node knows about one open connection.
#[derive(Debug, Default)]
struct Connection {
    greeted: bool,
    /// The optional parts of the protocol the client announced in `hello`.
    features: Vec<String>,
    login: Option<Login>,
    /// At most one per purpose: a new challenge replaces the previous one.
    challenges: Vec<Challenge>,
    /// Failed logins on this connection (see [`guard`]).
    failed_logins: u32,
    /// The quorum tokens issued to this connection's login (see [`quorum`]).
    quorum_tokens: Vec<quorum::QuorumToken>,
    /// A login whose password was right, waiting for its second factor (see [`mfa`]).
    pending_login: Option<mfa::PendingLogin>,
}

/// Why a pass of a request stops short of a reply.
enum Stop {
    /// Refused: the error code, the message for the user, and for a quorum refusal the
    /// counts.
    Refused {
        code: ErrorCode,
        message: String,
        approvals: Option<ApprovalCounts>,
    },
    /// The request needs this work first; nothing has changed.
    Work(Job),
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Stop {
    Stop::Refused {
        code,
        message: message.into(),
        approvals: None,
    }
}

type Step = Result<Reply, Stop>;

/// One HSM: its users, the open connections with their logins, and the open challenges.
pub struct Node {
    hsm_id: String,
    settings: NodeSettings,
    state: NodeState,
    conns: HashMap<ConnId, Connection>,
    next_conn: u64,
    /// A hash checked when the user does not exist, so that a wrong user name costs as much
    /// time as a wrong password.
    decoy_hash: String,
    /// The persistent state changed during the current pass.
    changed: bool,
    /// The state before the current pass changed it, until the caller says how the save went.
    undo: Option<NodeState>,
    /// Users whose failed-login count is higher in memory than in the store, because the
    /// save of a failure failed. They may not log in until a save succeeds.
    unsaved_failures: BTreeSet<String>,
    /// Failed logins for user names that do not exist (see [`guard`]).
    unknown_names: guard::UnknownNames,
    /// A moment of the node's clock and the time since the Unix epoch then, for the
    /// creation time that quorum records carry and for TOTP.
    wall_base: (Instant, std::time::Duration),
    /// The cluster's secret for SMS and email codes (see [`mfa`]).
    code_key: [u8; 32],
    /// Code nonces taken lately: (user, nonce, until).
    used_nonces: Vec<(String, Vec<u8>, Instant)>,
    /// Messages the current pass would send.
    outgoing: Vec<crate::delivery::Message>,
}

impl Node {
    /// A node with the given id, settings and persistent state.
    pub fn new(hsm_id: impl Into<String>, settings: NodeSettings, state: NodeState) -> Self {
        Node {
            hsm_id: hsm_id.into(),
            state,
            conns: HashMap::new(),
            next_conn: 1,
            decoy_hash: password::decoy(&settings),
            settings,
            changed: false,
            undo: None,
            unsaved_failures: BTreeSet::new(),
            unknown_names: guard::UnknownNames::default(),
            wall_base: (
                Instant::now(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default(),
            ),
            code_key: [0; 32],
            used_nonces: Vec::new(),
            outgoing: Vec::new(),
        }
    }

    /// The Unix time at `now` of the node's clock.
    pub(super) fn unix_secs(&self, now: Instant) -> u64 {
        // Whole seconds only at the end, so that two instants 30 s apart are always 30 s
        // apart in Unix time too (rounding each side would make it 29 now and then).
        let (base, since_epoch) = self.wall_base;
        match now.checked_duration_since(base) {
            Some(ahead) => (since_epoch + ahead).as_secs(),
            None => since_epoch
                .saturating_sub(base.duration_since(now))
                .as_secs(),
        }
    }

    /// Sets the cluster's secret for SMS and email codes, the same on every node.
    pub fn set_code_key(&mut self, key: [u8; 32]) {
        self.code_key = key;
    }

    /// The node's id, as `hello` reports it.
    pub fn hsm_id(&self) -> &str {
        &self.hsm_id
    }

    /// The persistent state, to be saved when an outcome says it changed.
    pub fn state(&self) -> &NodeState {
        &self.state
    }

    /// Registers a new connection.
    pub fn connect(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        self.conns.insert(id, Connection::default());
        id
    }

    /// Forgets a connection: its login and its challenges end.
    pub fn disconnect(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// Whom connection `conn` speaks for, for the log: its logged-in user, else the user of
    /// a login it has begun (waiting for a signature or a factor's code).
    pub fn user_of(&self, conn: ConnId) -> Option<(&str, Role)> {
        let c = self.conns.get(&conn)?;
        if let Some(login) = &c.login {
            return Some((login.username.as_str(), login.role));
        }
        if let Some(pending) = &c.pending_login {
            return Some((pending.username.as_str(), pending.role));
        }
        c.challenges
            .iter()
            .find(|ch| ch.purpose == challenge::Purpose::Login)
            .map(|ch| (ch.username.as_str(), ch.role))
    }

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Performs one request of connection `conn` at time `now`, doing its work in place:
    /// [`Node::prepare`], then [`Work::run`] and [`Node::commit`] until it is answered.
    pub fn handle(
        &mut self,
        conn: ConnId,
        op: Op,
        now: Instant,
        entropy: &mut dyn Entropy,
    ) -> Outcome {
        let mut step = self.prepare(conn, op, now, entropy);
        loop {
            match step {
                Prepared::Done(outcome) => return outcome,
                Prepared::Work(work) => step = self.commit(work.run(), now, entropy),
            }
        }
    }

    /// Starts request `op` of connection `conn` at time `now`: its answer, or the costly
    /// work it needs first (nothing has changed then).
    pub fn prepare(
        &mut self,
        conn: ConnId,
        op: Op,
        now: Instant,
        entropy: &mut dyn Entropy,
    ) -> Prepared {
        self.pass(conn, op, Vec::new(), now, entropy)
    }

    /// Goes on with a request once its work is done, at time `now`: the request runs again
    /// against the node as it is now, using the work only where its inputs still hold.
    /// Its answer, or more work.
    pub fn commit(&mut self, worked: Worked, now: Instant, entropy: &mut dyn Entropy) -> Prepared {
        self.pass(worked.conn, worked.op, worked.done, now, entropy)
    }

    /// A reply the client can read: one that belongs to a feature the client did not
    /// announce is never sent (the client would not know it).
    fn for_client(&self, conn: ConnId, reply: Reply) -> Reply {
        match reply.feature() {
            Some(feature)
                if !self
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.features.iter().any(|f| f == feature)) =>
            {
                Reply::Error {
                    code: ErrorCode::UnknownOperation,
                    message: format!(
                        "the answer needs the protocol feature {feature:?}, which this client did not announce"
                    ),
                    approvals: None,
                }
            }
            _ => reply,
        }
    }

    fn pass(
        &mut self,
        conn: ConnId,
        op: Op,
        done: Vec<(Job, work::Answer)>,
        now: Instant,
        entropy: &mut dyn Entropy,
    ) -> Prepared {
        self.changed = false;
        self.undo = None;
        self.outgoing.clear();
        let result = self.dispatch(conn, &op, &mut Cx::new(now, entropy, &done));
        if result.is_err() {
            // A refused request, or one that needs work first, sends nothing.
            self.outgoing.clear();
        }
        let reply = match result {
            Ok(reply) => reply,
            Err(Stop::Refused {
                code,
                message,
                approvals,
            }) => Reply::Error {
                code,
                message,
                approvals,
            },
            Err(Stop::Work(job)) => {
                // A pass that asks for work changes nothing; should one have, undo it.
                if let Some(before) = self.undo.take() {
                    self.state = before;
                }
                self.changed = false;
                return Prepared::Work(Work {
                    conn,
                    op,
                    done,
                    job,
                });
            }
        };
        Prepared::Done(Outcome {
            reply: self.for_client(conn, reply),
            changed: std::mem::take(&mut self.changed),
            messages: std::mem::take(&mut self.outgoing),
        })
    }

    /// The state of the last outcome was saved.
    pub fn saved(&mut self) {
        self.undo = None;
        self.unsaved_failures.clear();
    }

    /// Whether some failed logins are counted in memory but not in the store: the caller
    /// should save [`Node::state`] before the next request, and report it with
    /// [`Node::saved`].
    pub fn has_unsaved_failures(&self) -> bool {
        !self.unsaved_failures.is_empty()
    }

    /// The state of the last outcome could not be saved (`error` says why): the change is
    /// undone and the connection whose request made it is logged out, since its login may
    /// rest on the lost change. Failed logins are never undone: a higher count or a lock
    /// stays in memory, and that user may not log in until a save succeeds. Returns the
    /// reply to send instead of the outcome's.
    pub fn save_failed(&mut self, conn: ConnId, error: &str) -> Reply {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.login = None;
            c.challenges.clear();
            c.quorum_tokens.clear();
            c.pending_login = None;
        }
        let mut kept = Vec::new();
        if let Some(before) = self.undo.take() {
            let after = std::mem::replace(&mut self.state, before);
            for (name, user) in &mut self.state.users {
                let Some(a) = after.users.get(name) else {
                    continue;
                };
                if a.failed_logins > user.failed_logins || (a.locked && !user.locked) {
                    user.failed_logins = user.failed_logins.max(a.failed_logins);
                    user.locked |= a.locked;
                    self.unsaved_failures.insert(name.clone());
                    kept.push(name.clone());
                }
            }
        }
        let message = if kept.is_empty() {
            format!("the HSM could not save its state, so nothing changed: {error}")
        } else {
            format!(
                "the HSM could not save its state: {error}; the failed login of user {} still \
                 counts, and that user may not log in until the HSM can save again",
                kept.join(", ")
            )
        };
        Reply::Error {
            code: ErrorCode::Internal,
            message,
            approvals: None,
        }
    }

    fn dispatch(&mut self, conn: ConnId, op: &Op, cx: &mut Cx<'_>) -> Step {
        let greeted = self.conn(conn)?.greeted;
        match op {
            Op::Hello { protocol, features } => self.hello(conn, *protocol, features),
            _ if !greeted => Err(refuse(
                ErrorCode::ProtocolVersion,
                format!(
                    "the first request on a connection must be hello; this HSM speaks \
                     protocol version {PROTOCOL_VERSION}"
                ),
            )),
            Op::Approved { approval, op } => self.approved(conn, approval, op, cx),
            _ => {
                if let Some(service) = op.gate() {
                    self.refuse_without_approval(conn, service)?;
                }
                self.perform(conn, op, cx)
            }
        }
    }

    /// Performs an operation whose quorum gate (if any) has been passed.
    fn perform(&mut self, conn: ConnId, op: &Op, cx: &mut Cx<'_>) -> Step {
        match op {
            Op::Hello { .. } | Op::Approved { .. } => Err(refuse(
                ErrorCode::InvalidArgument,
                format!("{} cannot be approved", op.name()),
            )),
            Op::Login {
                username,
                role,
                password,
                code_nonce,
                deliver_by,
            } => {
                let deliver = deliver_by.as_deref() == Some(self.hsm_id.as_str());
                self.login(
                    conn,
                    username,
                    *role,
                    password,
                    code_nonce.as_deref(),
                    deliver,
                    cx,
                )
            }
            Op::LoginMfaSelect {
                factor,
                code_nonce,
                deliver_by,
            } => {
                let deliver = deliver_by.as_deref() == Some(self.hsm_id.as_str());
                self.login_mfa_select(conn, *factor, code_nonce.as_deref(), deliver, cx)
            }
            Op::LoginMfaCode { factor, code } => {
                self.login_mfa_code(conn, *factor, code.expose(), cx)
            }
            Op::SetMfaPreference {
                username,
                role,
                settings,
            } => self.set_mfa_preference(
                conn,
                username,
                *role,
                &cloudhsm_mfa::mfa::Request {
                    settings: settings.clone(),
                },
            ),
            Op::GetMfaPreference { username, role } => {
                self.get_mfa_preference(conn, username, *role)
            }
            Op::AssociateSoftwareToken { secret } => {
                self.associate_software_token(conn, secret.expose())
            }
            Op::VerifySoftwareToken { code, device_name } => {
                self.verify_software_token(conn, code.expose(), device_name.as_deref(), cx)
            }
            Op::UpdateAttributes {
                username,
                role,
                phone_number,
                email,
            } => self.update_attributes(
                conn,
                username,
                *role,
                phone_number.as_deref(),
                email.as_deref(),
            ),
            Op::LoginMfa { token, signature } => self.login_mfa(conn, token, signature, cx),
            Op::Logout => self.logout(conn),
            Op::ListUsers => Ok(Reply::Users {
                users: self.state.user_infos(),
            }),
            Op::CreateUser {
                username,
                role,
                password,
            } => self.create_user(conn, username, *role, password, cx),
            Op::DeleteUser { username, role } => self.delete_user(conn, username, *role),
            Op::ChangePassword {
                username,
                role,
                password,
                deregister_mfa,
                deregister_quorum,
            } => self.change_password(
                conn,
                users::PasswordChange {
                    username,
                    role: *role,
                    password,
                    deregister_mfa: *deregister_mfa,
                    deregister_quorum: *deregister_quorum,
                },
                cx,
            ),
            Op::ChangeMfaBegin { username, role } => {
                self.change_mfa_begin(conn, username, *role, cx)
            }
            Op::ChangeMfaFinish {
                username,
                role,
                token,
                signature,
                public_key_pem,
                password,
                change_quorum,
            } => self.change_mfa_finish(
                conn,
                users::MfaFinish {
                    username,
                    role: *role,
                    token,
                    signature,
                    public_key_pem,
                    password,
                    change_quorum: *change_quorum,
                },
                cx,
            ),
            Op::DeregisterMfa {
                username,
                role,
                password,
                change_quorum: _,
            } => self.deregister_mfa(conn, username, *role, password, cx),
            Op::ActivateCluster { password } => self.activate(password, cx),
            Op::QuorumGenerate { service } => self.quorum_generate(conn, *service, cx),
            Op::QuorumList => self.quorum_list(conn, cx.now),
            Op::QuorumValues => Ok(Reply::QuorumValues {
                user: self.state.quorum.user,
                quorum: self.state.quorum.quorum,
            }),
            Op::QuorumSetValue { service, value } => self.quorum_set_value(conn, *service, *value),
            Op::QuorumDelete { scope } => self.quorum_delete(conn, *scope),
            Op::QuorumRegister {
                approval_data,
                signature,
                public_key_pem,
            } => self.quorum_register(conn, approval_data, signature, public_key_pem, cx),
        }
    }

    fn conn(&self, conn: ConnId) -> Result<&Connection, Stop> {
        self.conns.get(&conn).ok_or_else(|| {
            refuse(
                ErrorCode::Internal,
                "the connection is not known to the HSM",
            )
        })
    }

    fn conn_mut(&mut self, conn: ConnId) -> Result<&mut Connection, Stop> {
        self.conns.get_mut(&conn).ok_or_else(|| {
            refuse(
                ErrorCode::Internal,
                "the connection is not known to the HSM",
            )
        })
    }

    /// The login of `conn`, or NotLoggedIn.
    fn require_login(&self, conn: ConnId) -> Result<Login, Stop> {
        self.conn(conn)?.login.clone().ok_or_else(|| {
            refuse(
                ErrorCode::NotLoggedIn,
                "this operation needs a login: log in first",
            )
        })
    }

    /// Whether `username` is logged in on any connection of this node.
    fn logged_in_anywhere(&self, username: &str) -> bool {
        self.conns
            .values()
            .any(|c| c.login.as_ref().is_some_and(|l| l.username == username))
    }

    /// Called before the persistent state changes: keeps what it was, to undo the change
    /// when it cannot be saved, and marks the pass as changing it.
    fn begin_change(&mut self) {
        if self.undo.is_none() {
            self.undo = Some(self.state.clone());
        }
        self.changed = true;
    }
}

/// Normalises a user name, refusing a malformed one with the rule it breaks.
fn normalize(username: &str) -> Result<String, Stop> {
    cloudhsm_mfa::user::normalize_username(username)
        .map_err(|e| refuse(ErrorCode::InvalidArgument, e))
}

/// Checks the password rule, refusing with the rule.
fn check_password(password: &str) -> Result<(), Stop> {
    password::check_rule(password).map_err(|e| refuse(ErrorCode::InvalidArgument, e))
}

/// Reads a public key argument (`public_key_pem`), refusing an unusable one with what is
/// wrong; returns the key as canonical SubjectPublicKeyInfo PEM.
fn public_key_arg(pem: &str) -> Result<String, Stop> {
    let key = cloudhsm_mfa::crypto::PublicKey::from_pem(pem.as_bytes()).map_err(|e| {
        let why = match e {
            cloudhsm_mfa::Error::Key { problem, .. } => problem.to_string(),
            other => other.to_string(),
        };
        refuse(ErrorCode::InvalidArgument, format!("public_key_pem: {why}"))
    })?;
    key.to_pem()
        .map_err(|e| refuse(ErrorCode::Internal, e.to_string()))
}

/// Decodes a standard-base64 argument.
fn decode_base64(what: &str, value: &str) -> Result<Vec<u8>, Stop> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| {
            refuse(
                ErrorCode::InvalidArgument,
                format!("{what} is not standard base64: {e}"),
            )
        })
}
