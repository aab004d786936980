//! The node on its own: every rule of SPEC §4–§6, driven through `Node::handle` with a
//! clock the tests move by hand and seeded entropy.

mod factors;
mod guard;
mod login;
mod mfa;
mod quorum;
mod replay;
mod revoke;
mod saving;
mod users;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use cloudhsm_mfa::crypto::PrivateKey;
use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret, PROTOCOL_VERSION};

use super::{ConnId, Node, NodeSettings, NodeState, SeededEntropy};

pub const ADMIN_PW: &str = "admin-pw-1";
pub const TTL: Duration = Duration::from_secs(60);

pub fn settings() -> NodeSettings {
    NodeSettings {
        challenge_ttl: TTL,
        ..NodeSettings::low_cost()
    }
}

/// A node of an activated cluster, with `admin` / [`ADMIN_PW`], the test's clock and its
/// source of random bytes.
pub struct Fixture {
    pub node: Node,
    pub now: Instant,
    pub entropy: SeededEntropy,
}

impl Fixture {
    pub fn activated() -> Self {
        Self::activated_at(Instant::now(), 7)
    }

    /// An activated node whose clock starts at `now` and whose random bytes come from `seed`.
    pub fn activated_at(now: Instant, seed: u64) -> Self {
        let mut entropy = SeededEntropy::new(seed);
        let state =
            NodeState::activated(&Secret::new(ADMIN_PW), &settings(), &mut entropy).unwrap();
        Fixture {
            node: Node::new("hsm-7", settings(), state),
            now,
            entropy,
        }
    }

    pub fn unactivated() -> Self {
        Fixture {
            node: Node::new("hsm-7", settings(), NodeState::unactivated()),
            now: Instant::now(),
            entropy: SeededEntropy::new(7),
        }
    }

    pub fn run(&mut self, conn: ConnId, op: Op) -> (Reply, bool) {
        let out = self.outcome(conn, op);
        (out.reply, out.changed)
    }

    /// Runs `op` and returns the whole outcome, messages to send included.
    pub fn outcome(&mut self, conn: ConnId, op: Op) -> super::Outcome {
        self.node.handle(conn, op, self.now, &mut self.entropy)
    }

    /// Runs `op` and expects it to succeed.
    pub fn ok(&mut self, conn: ConnId, op: Op) -> Reply {
        let name = op.name();
        let (reply, _) = self.run(conn, op);
        assert!(
            !matches!(reply, Reply::Error { .. }),
            "{name} failed: {reply:?}"
        );
        reply
    }

    /// Runs `op`, expects a refusal with `code` that changed nothing, and returns the message.
    pub fn refused(&mut self, conn: ConnId, op: Op, code: ErrorCode) -> String {
        let before = self.node.state().clone();
        let (reply, changed) = self.run(conn, op);
        match reply {
            Reply::Error {
                code: c, message, ..
            } => {
                assert_eq!(c, code, "{message}");
                assert!(!changed, "a refusal must not ask for a save: {message}");
                assert_eq!(self.node.state(), &before, "a refusal changed the state");
                message
            }
            other => panic!("expected {code:?}, got {other:?}"),
        }
    }

    /// Runs `op` and expects an error with `code`, whatever it changed.
    pub fn error(&mut self, conn: ConnId, op: Op, code: ErrorCode) -> (String, bool) {
        match self.run(conn, op) {
            (
                Reply::Error {
                    code: c, message, ..
                },
                changed,
            ) => {
                assert_eq!(c, code, "{message}");
                (message, changed)
            }
            (other, _) => panic!("expected {code:?}, got {other:?}"),
        }
    }

    /// A connection that has said hello.
    pub fn greeted(&mut self) -> ConnId {
        let c = self.node.connect();
        self.ok(c, Op::hello());
        c
    }

    /// A connection logged in as `username` (a user without MFA).
    pub fn logged_in(&mut self, username: &str, role: Role, password: &str) -> ConnId {
        let c = self.greeted();
        let reply = self.ok(c, login(username, role, password));
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        c
    }

    pub fn admin(&mut self) -> ConnId {
        self.logged_in("admin", Role::Admin, ADMIN_PW)
    }

    pub fn create(&mut self, admin: ConnId, username: &str, role: Role, password: &str) {
        self.ok(admin, create(username, role, password));
    }

    pub fn user(&self, name: &str) -> &super::UserRecord {
        &self.node.state().users[name]
    }

    /// Registers `key` as the MFA key of `username` through `conn`.
    pub fn register_mfa(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        key: &PrivateKey,
        password: &str,
        change_quorum: bool,
    ) {
        let token = challenge(self.ok(conn, mfa_begin(username, role)));
        let signature = sign(key, &token);
        let (reply, changed) = self.run(
            conn,
            mfa_finish(
                username,
                role,
                &token,
                &signature,
                &pem(key),
                password,
                change_quorum,
            ),
        );
        assert_eq!(reply, Reply::Done);
        assert!(changed);
    }
}

/// Two RSA-2048 keys, made once.
pub fn keys() -> &'static [PrivateKey; 2] {
    static KEYS: OnceLock<[PrivateKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            PrivateKey::generate(2048).unwrap(),
            PrivateKey::generate(2048).unwrap(),
        ]
    })
}

pub fn pem(key: &PrivateKey) -> String {
    key.public_key().unwrap().to_pem().unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Signs a base64 token as the client would.
pub fn sign(key: &PrivateKey, token_b64: &str) -> String {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token_b64)
        .unwrap();
    b64(&key.sign_token(&bytes.try_into().unwrap()).unwrap())
}

/// The token of a `Challenge` reply.
pub fn challenge(reply: Reply) -> String {
    match reply {
        Reply::Challenge {
            token,
            expires_in_secs,
        } => {
            assert_eq!(expires_in_secs, TTL.as_secs());
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&token)
                .unwrap();
            assert_eq!(bytes.len(), 32);
            token
        }
        other => panic!("expected a challenge, got {other:?}"),
    }
}

pub fn login(username: &str, role: Role, password: &str) -> Op {
    Op::Login {
        username: username.into(),
        role,
        password: Secret::new(password),
        code_nonce: None,
        deliver_by: None,
    }
}

pub fn login_mfa(token: &str, signature: &str) -> Op {
    Op::LoginMfa {
        token: token.into(),
        signature: signature.into(),
    }
}

pub fn create(username: &str, role: Role, password: &str) -> Op {
    Op::CreateUser {
        username: username.into(),
        role,
        password: Secret::new(password),
    }
}

pub fn change_password(username: &str, role: Role, password: &str) -> Op {
    Op::ChangePassword {
        username: username.into(),
        role,
        password: Secret::new(password),
        deregister_mfa: false,
        deregister_quorum: false,
    }
}

pub fn mfa_begin(username: &str, role: Role) -> Op {
    Op::ChangeMfaBegin {
        username: username.into(),
        role,
    }
}

#[allow(clippy::too_many_arguments)]
pub fn mfa_finish(
    username: &str,
    role: Role,
    token: &str,
    signature: &str,
    public_key_pem: &str,
    password: &str,
    change_quorum: bool,
) -> Op {
    Op::ChangeMfaFinish {
        username: username.into(),
        role,
        token: token.into(),
        signature: signature.into(),
        public_key_pem: public_key_pem.into(),
        password: Secret::new(password),
        change_quorum,
    }
}

pub fn deregister(username: &str, role: Role, password: &str) -> Op {
    Op::DeregisterMfa {
        username: username.into(),
        role,
        password: Secret::new(password),
        change_quorum: true,
    }
}

#[test]
fn requests_before_hello_answer_protocol_version() {
    let mut f = Fixture::activated();
    let c = f.node.connect();
    for op in [
        Op::ListUsers,
        login("admin", Role::Admin, ADMIN_PW),
        Op::Logout,
    ] {
        let msg = f.refused(c, op, ErrorCode::ProtocolVersion);
        assert!(
            msg.contains("hello") && msg.contains(&PROTOCOL_VERSION.to_string()),
            "{msg}"
        );
    }
}

#[test]
fn hello_below_the_oldest_version_states_both_versions_and_greets_nothing() {
    let mut f = Fixture::activated();
    let c = f.node.connect();
    let hello = Op::Hello {
        protocol: 0,
        features: Vec::new(),
    };
    let msg = f.refused(c, hello, ErrorCode::ProtocolVersion);
    assert!(
        msg.contains("version 0") && msg.contains(&format!("{PROTOCOL_VERSION}")),
        "{msg}"
    );
    f.refused(c, Op::ListUsers, ErrorCode::ProtocolVersion);
}

#[test]
fn hello_from_a_newer_client_is_answered_with_this_nodes_version_and_features() {
    let mut f = Fixture::activated();
    let c = f.node.connect();
    let hello = Op::Hello {
        protocol: PROTOCOL_VERSION + 5,
        features: vec!["a-feature-of-the-future".into()],
    };
    match f.ok(c, hello) {
        Reply::Hello {
            protocol, features, ..
        } => {
            assert_eq!(protocol, PROTOCOL_VERSION);
            assert!(features
                .iter()
                .all(|x| cloudhsm_mfa::proto::FEATURES.contains(&x.as_str())));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.ok(c, Op::ListUsers), Reply::Users { .. }));
}

#[test]
fn hello_reports_the_node_id_and_may_be_repeated() {
    let mut f = Fixture::activated();
    let c = f.node.connect();
    for _ in 0..2 {
        assert_eq!(
            f.ok(c, Op::hello()),
            Reply::Hello {
                protocol: PROTOCOL_VERSION,
                hsm_id: "hsm-7".into(),
                features: cloudhsm_mfa::proto::FEATURES
                    .iter()
                    .map(|x| x.to_string())
                    .collect(),
            }
        );
    }
    assert!(matches!(f.ok(c, Op::ListUsers), Reply::Users { .. }));
}

#[test]
fn an_unknown_connection_is_an_internal_error() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    f.node.disconnect(c);
    f.refused(c, Op::ListUsers, ErrorCode::Internal);
}

#[test]
fn login_before_activation_says_to_activate_the_cluster() {
    let mut f = Fixture::unactivated();
    let c = f.greeted();
    let msg = f.refused(
        c,
        login("admin", Role::UnactivatedAdmin, "whatever1"),
        ErrorCode::ClusterState,
    );
    assert_eq!(msg, "cluster is not activated: run cluster activate");
}

#[test]
fn activation_turns_the_unactivated_admin_into_an_admin_with_that_password() {
    let mut f = Fixture::unactivated();
    let c = f.greeted();
    let (reply, changed) = f.run(
        c,
        Op::ActivateCluster {
            password: Secret::new("new-admin-pw"),
        },
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert!(f.node.state().activated);
    assert_eq!(f.user("admin").role, Role::Admin);
    f.logged_in("admin", Role::Admin, "new-admin-pw");
    let msg = f.refused(
        c,
        Op::ActivateCluster {
            password: Secret::new("other-pw-22"),
        },
        ErrorCode::ClusterState,
    );
    assert!(msg.contains("already activated"), "{msg}");
}

#[test]
fn activation_checks_the_password_rule() {
    let mut f = Fixture::unactivated();
    let c = f.greeted();
    let msg = f.refused(
        c,
        Op::ActivateCluster {
            password: Secret::new("short"),
        },
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("7 to 32"), "{msg}");
    assert!(!f.node.state().activated);
}

#[test]
fn list_users_needs_no_login_and_is_sorted_by_name() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "Zed", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::Admin, "password1");
    let c = f.greeted();
    let Reply::Users { users } = f.ok(c, Op::ListUsers) else {
        panic!("expected users");
    };
    let names: Vec<_> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["admin", "bob", "zed"]);
    assert_eq!(users[2].role, Role::CryptoUser);
    assert!(users.iter().all(|u| !u.locked && !u.mfa && !u.quorum));
}

#[test]
fn a_failed_save_puts_back_the_state_and_logs_the_connection_out() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let before = f.node.state().clone();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let reply = f.node.save_failed(admin, "disk full");
    let Reply::Error { code, message, .. } = reply else {
        panic!("expected an error, got {reply:?}");
    };
    assert_eq!(code, ErrorCode::Internal);
    assert_eq!(
        message,
        "the HSM could not save its state, so nothing changed: disk full"
    );
    assert_eq!(f.node.state(), &before);
    assert!(!f.node.has_unsaved_failures());
    f.refused(
        admin,
        create("bob", Role::CryptoUser, "password1"),
        ErrorCode::NotLoggedIn,
    );
}

/// A node with crypto-user `alice` (password `password1`) whose MFA key is `keys()[0]`,
/// and a logged-in admin connection.
pub(super) fn with_mfa_user() -> (Fixture, ConnId) {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password0");
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[0],
        "password1",
        false,
    );
    (f, admin)
}

/// A fresh connection with a login challenge for alice.
pub(super) fn login_challenge(f: &mut Fixture) -> (ConnId, String) {
    let c = f.greeted();
    let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
    (c, token)
}
