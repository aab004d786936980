//! One HSM node as a pure state machine: a request and the current time in, a reply out.
//! No sockets, no files, no clock reads; the caller saves [`Node::state`] when an
//! [`Outcome`] says it changed, before sending the reply.
//!
//! Rules (SPEC §4–§6): a connection starts with `hello`; logins and challenges belong to the
//! connection that made them; a challenge is bound to this node, one user, one purpose and
//! one connection, is used once and expires; a refused request changes nothing, except that
//! a failed login counts toward the user's lockout.

mod challenge;
mod password;
mod session;
mod settings;
mod state;
mod users;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Instant;

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, PROTOCOL_VERSION};

use challenge::Challenge;
pub use password::{check_rule as check_password_rule, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use settings::NodeSettings;
pub use state::{NodeState, UserRecord, FIRST_ADMIN, MAX_USERS, STATE_FORMAT};

/// Identifies one client connection to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub reply: Reply,
    /// The persistent state changed: save it before sending the reply.
    pub changed: bool,
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
    login: Option<Login>,
    /// At most one per purpose: a new challenge replaces the previous one.
    challenges: Vec<Challenge>,
}

/// A refused request: the error code and the message for the user.
#[derive(Debug)]
struct Refusal {
    code: ErrorCode,
    message: String,
}

fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

type Step = Result<Reply, Refusal>;

/// One HSM: its users, the open connections with their logins, and the open challenges.
pub struct Node {
    hsm_id: String,
    settings: NodeSettings,
    state: NodeState,
    conns: HashMap<ConnId, Connection>,
    next_conn: u64,
    /// A hash checked when the user does not exist, so that a wrong user name costs as much
    /// time as a wrong password.
    decoy_hash: Option<String>,
    changed: bool,
}

impl Node {
    /// A node with the given id, settings and persistent state.
    pub fn new(hsm_id: impl Into<String>, settings: NodeSettings, state: NodeState) -> Self {
        Node {
            hsm_id: hsm_id.into(),
            settings,
            state,
            conns: HashMap::new(),
            next_conn: 1,
            decoy_hash: None,
            changed: false,
        }
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

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Puts back a previous state after the new one could not be saved; the connection
    /// whose request changed it is logged out, since its login may rest on the lost change.
    pub fn restore(&mut self, state: NodeState, conn: ConnId) {
        self.state = state;
        if let Some(c) = self.conns.get_mut(&conn) {
            c.login = None;
            c.challenges.clear();
        }
    }

    /// Performs one request of connection `conn` at time `now`.
    pub fn handle(&mut self, conn: ConnId, op: Op, now: Instant) -> Outcome {
        self.changed = false;
        let reply = match self.dispatch(conn, op, now) {
            Ok(reply) => reply,
            Err(r) => Reply::Error {
                code: r.code,
                message: r.message,
            },
        };
        Outcome {
            reply,
            changed: std::mem::take(&mut self.changed),
        }
    }

    fn dispatch(&mut self, conn: ConnId, op: Op, now: Instant) -> Step {
        let greeted = self.conn(conn)?.greeted;
        match op {
            Op::Hello { protocol } => self.hello(conn, protocol),
            _ if !greeted => Err(refuse(
                ErrorCode::ProtocolVersion,
                format!(
                    "the first request on a connection must be hello; this HSM speaks \
                     protocol version {PROTOCOL_VERSION}"
                ),
            )),
            Op::Login {
                username,
                role,
                password,
            } => self.login(conn, &username, role, &password, now),
            Op::LoginMfa { token, signature } => self.login_mfa(conn, &token, &signature, now),
            Op::Logout => self.logout(conn),
            Op::ListUsers => Ok(Reply::Users {
                users: self.state.user_infos(),
            }),
            Op::CreateUser {
                username,
                role,
                password,
            } => self.create_user(conn, &username, role, &password),
            Op::DeleteUser { username, role } => self.delete_user(conn, &username, role),
            Op::ChangePassword {
                username,
                role,
                password,
            } => self.change_password(conn, &username, role, &password),
            Op::ChangeMfaBegin { username, role } => {
                self.change_mfa_begin(conn, &username, role, now)
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
                    username: &username,
                    role,
                    token: &token,
                    signature: &signature,
                    public_key_pem: &public_key_pem,
                    password: &password,
                    change_quorum,
                },
                now,
            ),
            Op::DeregisterMfa {
                username,
                role,
                password,
                change_quorum: _,
            } => self.deregister_mfa(conn, &username, role, &password),
            Op::ActivateCluster { password } => self.activate(&password),
        }
    }

    fn conn(&self, conn: ConnId) -> Result<&Connection, Refusal> {
        self.conns.get(&conn).ok_or_else(|| {
            refuse(
                ErrorCode::Internal,
                "the connection is not known to the HSM",
            )
        })
    }

    fn conn_mut(&mut self, conn: ConnId) -> Result<&mut Connection, Refusal> {
        self.conns.get_mut(&conn).ok_or_else(|| {
            refuse(
                ErrorCode::Internal,
                "the connection is not known to the HSM",
            )
        })
    }

    /// The login of `conn`, or NotLoggedIn.
    fn require_login(&self, conn: ConnId) -> Result<Login, Refusal> {
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

    /// Hashes a new password at the node's cost.
    fn hash_password(&self, password: &str) -> Result<String, Refusal> {
        password::hash(password, &self.settings).map_err(|e| refuse(ErrorCode::Internal, e))
    }

    fn mark_changed(&mut self) {
        self.changed = true;
    }
}

/// Normalises a user name, refusing a malformed one with the rule it breaks.
fn normalize(username: &str) -> Result<String, Refusal> {
    cloudhsm_mfa::user::normalize_username(username)
        .map_err(|e| refuse(ErrorCode::InvalidArgument, e))
}

/// Checks the password rule, refusing with the rule.
fn check_password(password: &str) -> Result<(), Refusal> {
    password::check_rule(password).map_err(|e| refuse(ErrorCode::InvalidArgument, e))
}

/// Decodes a standard-base64 argument.
fn decode_base64(what: &str, value: &str) -> Result<Vec<u8>, Refusal> {
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
