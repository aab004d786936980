//! Quorum on one node (SPEC §7): values, quorum key registration with proof of possession,
//! tokens bound to a login, the gate and its counts, and the lockout guard.

use base64::Engine as _;
use cloudhsm_mfa::crypto::{sha256, PrivateKey};
use cloudhsm_mfa::proto::{
    Approval, ApprovalCounts, ApprovalSignature, DeleteScope, ErrorCode, Op, Reply, Role, Service,
};
use cloudhsm_mfa::quorum::Record;
use cloudhsm_mfa_test_support::keys;

use super::*;

const PW: &str = "approver-pw-1";

fn key(n: usize) -> PrivateKey {
    keys::private_key(2048, n)
}

fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// The record of a `QuorumToken` reply.
fn record(reply: Reply) -> Vec<u8> {
    match reply {
        Reply::QuorumToken {
            record,
            expires_in_secs,
        } => {
            assert_eq!(expires_in_secs, 600);
            unb64(&record)
        }
        other => panic!("expected a quorum token, got {other:?}"),
    }
}

fn generate(service: Service) -> Op {
    Op::QuorumGenerate { service }
}

/// An approval of `data` signed by each of `signers`.
fn approval(data: &[u8], signers: &[(&str, &PrivateKey)]) -> Approval {
    let token = sha256(data);
    Approval {
        approval_data: b64(data),
        signatures: signers
            .iter()
            .map(|(name, key)| ApprovalSignature {
                username: name.to_string(),
                signature: b64(&key.sign_token(&token).unwrap()),
            })
            .collect(),
    }
}

fn approved(approval: Approval, op: Op) -> Op {
    Op::Approved {
        approval,
        op: Box::new(op),
    }
}

fn set_value(service: Service, value: u32) -> Op {
    Op::QuorumSetValue { service, value }
}

fn delete(username: &str, role: Role) -> Op {
    Op::DeleteUser {
        username: username.into(),
        role,
    }
}

/// Registers `key` as the quorum key of the user logged in on `conn`.
fn register_quorum(f: &mut Fixture, conn: ConnId, key: &PrivateKey) {
    let data = record(f.ok(conn, generate(Service::Registration)));
    let signature = key.sign_token(&sha256(&data)).unwrap();
    let (reply, changed) = f.run(
        conn,
        Op::QuorumRegister {
            approval_data: b64(&data),
            signature: b64(&signature),
            public_key_pem: pem(key),
        },
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed);
}

/// A node with admins `admin`, `a2` and `a3`, each with a quorum key (keys 0, 1, 2), and
/// the `user` value at 2. Returns the node and admin's connection.
fn quorum_of_three() -> (Fixture, ConnId) {
    let mut f = Fixture::activated();
    let admin = f.admin();
    register_quorum(&mut f, admin, &key(0));
    for (i, name) in ["a2", "a3"].into_iter().enumerate() {
        f.create(admin, name, Role::Admin, PW);
        let c = f.logged_in(name, Role::Admin, PW);
        register_quorum(&mut f, c, &key(i + 1));
        f.ok(c, Op::Logout);
    }
    let (reply, changed) = f.run(admin, set_value(Service::User, 2));
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    (f, admin)
}

fn counts(reply: &Reply) -> Option<ApprovalCounts> {
    match reply {
        Reply::Error { approvals, .. } => *approvals,
        _ => None,
    }
}

#[test]
fn values_start_at_one_and_are_read_without_a_login() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    assert_eq!(
        f.ok(c, Op::QuorumValues),
        Reply::QuorumValues { user: 1, quorum: 1 }
    );
    assert_eq!(
        f.node.state().quorum,
        cloudhsm_mfa::quorum::Values::default()
    );
}

#[test]
fn a_value_needs_that_many_admins_with_a_quorum_key() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let m = f.refused(
        admin,
        set_value(Service::User, 2),
        ErrorCode::InvalidArgument,
    );
    assert!(
        m.contains("at least 2 admins") && m.contains("0 have one"),
        "{m}"
    );
    register_quorum(&mut f, admin, &key(0));
    let m = f.refused(
        admin,
        set_value(Service::User, 2),
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("1 have one"), "{m}");
    let m = f.refused(
        admin,
        set_value(Service::User, 9),
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("1 to 8"), "{m}");
    let m = f.refused(
        admin,
        set_value(Service::Registration, 1),
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("no quorum value"), "{m}");
    f.create(admin, "bob", Role::CryptoUser, PW);
    let bob = f.logged_in("bob", Role::CryptoUser, PW);
    f.refused(
        bob,
        set_value(Service::User, 1),
        ErrorCode::PermissionDenied,
    );
}

#[test]
fn registration_proves_possession_and_uses_its_token_up() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let data = record(f.ok(admin, generate(Service::Registration)));
    let r = Record::decode(&data).unwrap();
    assert_eq!(
        (r.service, r.hsm_id.as_str(), r.username.as_str()),
        (Service::Registration, "hsm-7", "admin")
    );
    let register = |signer: &PrivateKey, public: &PrivateKey| Op::QuorumRegister {
        approval_data: b64(&data),
        signature: b64(&signer.sign_token(&sha256(&data)).unwrap()),
        public_key_pem: pem(public),
    };
    // Signed with another key than the one registered: no proof of possession.
    let m = f.refused(
        admin,
        register(&key(1), &key(0)),
        ErrorCode::SignatureInvalid,
    );
    assert!(m.contains("does not verify"), "{m}");
    assert_eq!(f.ok(admin, register(&key(0), &key(0))), Reply::Done);
    assert_eq!(
        f.user("admin").quorum_public_key.as_deref(),
        Some(pem(&key(0)).as_str())
    );
    let m = f.refused(
        admin,
        register(&key(0), &key(0)),
        ErrorCode::QuorumTokenInvalid,
    );
    assert!(m.contains("already used"), "{m}");
    // A registration token is no approval token, and the other way round.
    let user_token = record(f.ok(admin, generate(Service::User)));
    let m = f.refused(
        admin,
        Op::QuorumRegister {
            approval_data: b64(&user_token),
            signature: b64(&key(0).sign_token(&sha256(&user_token)).unwrap()),
            public_key_pem: pem(&key(0)),
        },
        ErrorCode::QuorumTokenInvalid,
    );
    assert!(m.contains("user service"), "{m}");
}

#[test]
fn a_gated_operation_needs_enough_distinct_valid_approvals() {
    let (mut f, admin) = quorum_of_three();
    let m = f.refused(
        admin,
        create("bob", Role::CryptoUser, PW),
        ErrorCode::QuorumApprovalRequired,
    );
    assert_eq!(
        m,
        "Quorum Failed: the user service needs 2 approvals; pass --approval FILE"
    );
    let (reply, _) = f.run(admin, create("bob", Role::CryptoUser, PW));
    assert_eq!(
        counts(&reply),
        Some(ApprovalCounts {
            present: 0,
            required: 2
        })
    );

    let data = record(f.ok(admin, generate(Service::User)));
    let (k0, k1, k2) = (key(0), key(1), key(2));
    // One approval, the same admin twice, and one signed with the wrong key.
    let one = approval(&data, &[("admin", &k0)]);
    let (reply, _) = f.run(admin, approved(one, create("bob", Role::CryptoUser, PW)));
    assert_eq!(
        counts(&reply),
        Some(ApprovalCounts {
            present: 1,
            required: 2
        })
    );
    let twice = approval(&data, &[("admin", &k0), ("ADMIN", &k0)]);
    let m = f.refused(
        admin,
        approved(twice, create("bob", Role::CryptoUser, PW)),
        ErrorCode::QuorumTooFew,
    );
    assert!(
        m.starts_with("Too few quorum approvals: currently 1 approvals, but 2 approvals required")
            && m.contains("admin (signed more than once)"),
        "{m}"
    );
    let forged = approval(&data, &[("admin", &k0), ("a2", &k2)]);
    let m = f.refused(
        admin,
        approved(forged, create("bob", Role::CryptoUser, PW)),
        ErrorCode::QuorumTooFew,
    );
    assert!(
        m.contains("a2 (the signature does not verify with the quorum key)"),
        "{m}"
    );

    let two = approval(&data, &[("a2", &k1), ("a3", &k2)]);
    let (reply, changed) = f.run(
        admin,
        approved(two.clone(), create("bob", Role::CryptoUser, PW)),
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed && f.node.state().users.contains_key("bob"));
    // Used up by the operation that succeeded with it.
    let m = f.refused(
        admin,
        approved(two, delete("bob", Role::CryptoUser)),
        ErrorCode::QuorumTokenInvalid,
    );
    assert!(m.contains("already used"), "{m}");
}

#[test]
fn a_failed_operation_leaves_its_token_usable() {
    let (mut f, admin) = quorum_of_three();
    let data = record(f.ok(admin, generate(Service::User)));
    let two = approval(&data, &[("admin", &key(0)), ("a2", &key(1))]);
    f.refused(
        admin,
        approved(two.clone(), delete("nobody", Role::CryptoUser)),
        ErrorCode::UserNotFound,
    );
    f.create_approved(admin, two);
}

impl Fixture {
    fn create_approved(&mut self, admin: ConnId, approval: Approval) {
        let (reply, _) = self.run(
            admin,
            approved(approval, create("carol", Role::CryptoUser, PW)),
        );
        assert_eq!(reply, Reply::Done);
    }
}

#[test]
fn a_token_belongs_to_its_login_its_service_and_its_lifetime() {
    let (mut f, admin) = quorum_of_three();
    // The refusal of a creation approved by two admins on the token of `data`.
    let refused = |f: &mut Fixture, data: &[u8]| {
        let signers = [("admin", &key(0)), ("a2", &key(1))];
        let op = approved(
            approval(data, &signers),
            create("bob", Role::CryptoUser, PW),
        );
        f.refused(admin, op, ErrorCode::QuorumTokenInvalid)
    };
    // Another login of the same user.
    let other = f.admin();
    let data = record(f.ok(other, generate(Service::User)));
    let m = refused(&mut f, &data);
    assert!(m.contains("another login session"), "{m}");
    // Gone with the logout.
    f.ok(other, Op::Logout);
    let m = refused(&mut f, &data);
    assert!(m.contains("already used, was replaced"), "{m}");
    // Replaced by a newer token of the same service.
    let first = record(f.ok(admin, generate(Service::User)));
    let second = record(f.ok(admin, generate(Service::User)));
    refused(&mut f, &first);
    // Another service's token.
    let q = record(f.ok(admin, generate(Service::Quorum)));
    let m = refused(&mut f, &q);
    assert!(
        m.contains("quorum service") && m.contains("user service"),
        "{m}"
    );
    // Expired.
    f.now += std::time::Duration::from_secs(600);
    let m = refused(&mut f, &second);
    assert!(m.contains("expired after 600 seconds"), "{m}");
    // A record of another HSM.
    let mut foreign = Record::decode(&second).unwrap();
    foreign.hsm_id = "hsm-99".into();
    let m = refused(&mut f, &foreign.encode().unwrap());
    assert!(m.contains("no record of HSM hsm-7"), "{m}");
}

#[test]
fn tokens_are_listed_and_deleted_by_scope() {
    let (mut f, admin) = quorum_of_three();
    let a2 = f.logged_in("a2", Role::Admin, PW);
    f.ok(admin, generate(Service::User));
    f.ok(a2, generate(Service::Quorum));
    f.ok(a2, generate(Service::Registration));
    let Reply::QuorumTokens { tokens } = f.ok(admin, Op::QuorumList) else {
        panic!()
    };
    let listed: Vec<(&str, Service, u32)> = tokens
        .iter()
        .map(|t| (t.username.as_str(), t.service, t.approvals_required))
        .collect();
    assert_eq!(
        listed,
        [
            ("a2", Service::Quorum, 1),
            ("a2", Service::Registration, 1),
            ("admin", Service::User, 2)
        ]
    );
    assert!(tokens
        .iter()
        .all(|t| t.approvals == 0 && t.expires_in_secs == 600));
    f.ok(
        a2,
        Op::QuorumDelete {
            scope: DeleteScope::User,
        },
    );
    let Reply::QuorumTokens { tokens } = f.ok(admin, Op::QuorumList) else {
        panic!()
    };
    assert_eq!(tokens.len(), 1);
    f.ok(a2, generate(Service::Quorum));
    f.ok(
        admin,
        Op::QuorumDelete {
            scope: DeleteScope::All,
        },
    );
    let Reply::QuorumTokens { tokens } = f.ok(admin, Op::QuorumList) else {
        panic!()
    };
    assert!(tokens.is_empty());
    f.create_crypto_user_and_refuse_all_scope(admin);
}

impl Fixture {
    fn create_crypto_user_and_refuse_all_scope(&mut self, admin: ConnId) {
        let data = record(self.ok(admin, generate(Service::User)));
        self.create_approved(
            admin,
            approval(&data, &[("admin", &key(0)), ("a3", &key(2))]),
        );
        let carol = self.logged_in("carol", Role::CryptoUser, PW);
        self.refused(
            carol,
            Op::QuorumDelete {
                scope: DeleteScope::All,
            },
            ErrorCode::PermissionDenied,
        );
        self.refused(carol, generate(Service::User), ErrorCode::PermissionDenied);
        self.ok(carol, generate(Service::Registration));
    }
}

#[test]
fn setting_a_value_is_gated_by_the_quorum_service() {
    let (mut f, admin) = quorum_of_three();
    f.ok(admin, set_value(Service::Quorum, 2));
    let m = f.refused(
        admin,
        set_value(Service::User, 1),
        ErrorCode::QuorumApprovalRequired,
    );
    assert!(m.contains("the quorum service needs 2"), "{m}");
    let data = record(f.ok(admin, generate(Service::Quorum)));
    let (reply, changed) = f.run(
        admin,
        approved(
            approval(&data, &[("a2", &key(1)), ("a3", &key(2))]),
            set_value(Service::User, 1),
        ),
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert_eq!(f.node.state().quorum.user, 1);
}

#[test]
fn the_lockout_guard_refuses_what_would_strand_a_service() {
    let (mut f, admin) = quorum_of_three();
    // With 3 keys and a value of 2, one admin's key may go; not a second one.
    let data = record(f.ok(admin, generate(Service::User)));
    let signers = [("admin", &key(0)), ("a2", &key(1))];
    f.ok(
        admin,
        approved(approval(&data, &signers), delete("a3", Role::Admin)),
    );
    let data = record(f.ok(admin, generate(Service::User)));
    let m = f.refused(
        admin,
        approved(approval(&data, &signers), delete("a2", Role::Admin)),
        ErrorCode::PermissionDenied,
    );
    assert!(
        m.contains("deleting admin a2 would leave 1 admins with a quorum key")
            && m.contains("user service"),
        "{m}"
    );
    // Nor through a password change that takes the key away, nor by deregistering it.
    let a2 = f.logged_in("a2", Role::Admin, PW);
    let own = Op::ChangePassword {
        username: "a2".into(),
        role: Role::Admin,
        password: Secret::new("new-pw-123"),
        deregister_mfa: false,
        deregister_quorum: true,
    };
    let data = record(f.ok(a2, generate(Service::User)));
    let m = f.refused(
        a2,
        approved(approval(&data, &signers), own),
        ErrorCode::PermissionDenied,
    );
    assert!(m.contains("removing the quorum key of admin a2"), "{m}");
    assert!(f.user("a2").quorum_public_key.is_some());
}

#[test]
fn a_crypto_users_own_password_change_is_not_gated() {
    let (mut f, admin) = quorum_of_three();
    let data = record(f.ok(admin, generate(Service::User)));
    f.create_approved(
        admin,
        approval(&data, &[("admin", &key(0)), ("a2", &key(1))]),
    );
    let carol = f.logged_in("carol", Role::CryptoUser, PW);
    f.ok(
        carol,
        change_password("carol", Role::CryptoUser, "carol-new-pw"),
    );
}

#[test]
fn quorum_values_are_saved_with_the_state() {
    let (f, _) = quorum_of_three();
    let json = serde_json::to_value(f.node.state()).unwrap();
    assert_eq!(json["quorum"], serde_json::json!({"user": 2, "quorum": 1}));
    assert_eq!(json["format"], super::super::STATE_FORMAT);
}
