//! MFA registration, MFA login and the binding of challenges.

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};

use super::*;

/// An RSA-1024 public key (too small for MFA).
const RSA_1024_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC3oUvnrWD/UKQiFVrbrbAet0w6
x7L6JIc+rQWIVZ8pygJaSd/BYLPuaDa3YvbqyzaNsNn/d4LReyDmh01VOYE+5Inc
rRgwWDrgDOiTSCAB4goQNANLtBXgY6+GoTcunRtoTYVd0H0Q4oh4eTk0JfdNYz8k
oJ0ouob7ogAvBMERAQIDAQAB
-----END PUBLIC KEY-----
";

#[test]
fn registration_stores_the_new_key_and_password() {
    let (f, _) = with_mfa_user();
    let alice = f.user("alice");
    assert_eq!(
        alice.mfa_public_key.as_deref(),
        Some(pem(&keys()[0]).as_str())
    );
    assert!(alice.quorum_public_key.is_none());
    let mut f = f;
    let c = f.greeted();
    let Reply::Users { users } = f.ok(c, Op::ListUsers) else {
        panic!()
    };
    let a = users.iter().find(|u| u.username == "alice").unwrap();
    assert!(a.mfa && !a.quorum);
    // The password given at registration is the one that now works.
    f.error(
        c,
        login("alice", Role::CryptoUser, "password0"),
        ErrorCode::InvalidCredentials,
    );
}

#[test]
fn a_user_registers_its_own_mfa_key() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password0");
    let alice = f.logged_in("alice", Role::CryptoUser, "password0");
    f.register_mfa(
        alice,
        "alice",
        Role::CryptoUser,
        &keys()[1],
        "password1",
        true,
    );
    assert_eq!(
        f.user("alice").mfa_public_key,
        f.user("alice").quorum_public_key
    );
}

#[test]
fn mfa_login_answers_a_challenge_then_logs_in_with_the_signature() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    // The password alone does not log in.
    f.refused(c, Op::Logout, ErrorCode::NotLoggedIn);
    let (reply, _) = f.run(c, login_mfa(&token, &sign(&keys()[0], &token)));
    assert_eq!(
        reply,
        Reply::LoggedIn {
            username: "alice".into(),
            role: Role::CryptoUser
        }
    );
    f.ok(c, Op::Logout);
}

#[test]
fn a_login_challenge_is_used_once() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let sig = sign(&keys()[0], &token);
    f.ok(c, login_mfa(&token, &sig));
    f.ok(c, Op::Logout);
    let msg = f.refused(c, login_mfa(&token, &sig), ErrorCode::ChallengeUnknown);
    assert_eq!(
        msg,
        "token was not issued to this connection for login, or was already used"
    );
}

#[test]
fn a_challenge_belongs_to_the_connection_that_asked_for_it() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let sig = sign(&keys()[0], &token);
    let other = f.greeted();
    f.refused(other, login_mfa(&token, &sig), ErrorCode::ChallengeUnknown);
    // The other connection's attempt did not spend it.
    f.ok(c, login_mfa(&token, &sig));
}

#[test]
fn a_closed_connection_takes_its_challenges_with_it() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    f.node.disconnect(c);
    let d = f.greeted();
    f.refused(
        d,
        login_mfa(&token, &sign(&keys()[0], &token)),
        ErrorCode::ChallengeUnknown,
    );
}

#[test]
fn a_challenge_is_bound_to_its_purpose() {
    let (mut f, admin) = with_mfa_user();
    // A registration token does not log in.
    let reg = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    let c = f.greeted();
    f.refused(
        c,
        login_mfa(&reg, &sign(&keys()[0], &reg)),
        ErrorCode::ChallengeUnknown,
    );
    // A login token does not register a key, even on the same connection.
    let (c, token) = login_challenge(&mut f);
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
    let msg = f.refused(
        c,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sign(&keys()[1], &token),
            &pem(&keys()[1]),
            "password2",
            false,
        ),
        ErrorCode::ChallengeUnknown,
    );
    assert!(msg.contains("mfa-registration of user alice"), "{msg}");
}

#[test]
fn a_registration_challenge_is_bound_to_its_user() {
    let (mut f, admin) = with_mfa_user();
    f.create(admin, "bob", Role::CryptoUser, "password0");
    let token = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    let key = &keys()[1];
    f.refused(
        admin,
        mfa_finish(
            "bob",
            Role::CryptoUser,
            &token,
            &sign(key, &token),
            &pem(key),
            "password2",
            false,
        ),
        ErrorCode::ChallengeUnknown,
    );
    // Still usable for alice.
    f.ok(
        admin,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sign(key, &token),
            &pem(key),
            "password2",
            false,
        ),
    );
    assert_eq!(f.user("alice").mfa_public_key, Some(pem(key)));
}

#[test]
fn a_challenge_expires_after_its_lifetime_and_is_then_gone() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let sig = sign(&keys()[0], &token);
    f.now += TTL;
    let msg = f.refused(c, login_mfa(&token, &sig), ErrorCode::ChallengeExpired);
    assert!(
        msg.contains("expired") && msg.contains("60 seconds"),
        "{msg}"
    );
    f.refused(c, login_mfa(&token, &sig), ErrorCode::ChallengeUnknown);
    // Just inside the lifetime it works.
    let (c, token) = login_challenge(&mut f);
    f.now += TTL - Duration::from_millis(1);
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
}

#[test]
fn a_registration_challenge_expires_too() {
    let (mut f, admin) = with_mfa_user();
    let token = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    f.now += TTL + Duration::from_secs(1);
    let key = &keys()[1];
    f.refused(
        admin,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sign(key, &token),
            &pem(key),
            "password2",
            false,
        ),
        ErrorCode::ChallengeExpired,
    );
}

#[test]
fn a_new_login_challenge_replaces_the_previous_one_of_the_connection() {
    let (mut f, _) = with_mfa_user();
    let (c, first) = login_challenge(&mut f);
    let second = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
    assert_ne!(first, second);
    f.refused(
        c,
        login_mfa(&first, &sign(&keys()[0], &first)),
        ErrorCode::ChallengeUnknown,
    );
    f.ok(c, login_mfa(&second, &sign(&keys()[0], &second)));
}

#[test]
fn a_bad_mfa_signature_counts_as_a_failed_login_and_locks_at_five() {
    let (mut f, _) = with_mfa_user();
    for n in 1..=5u32 {
        let (c, token) = login_challenge(&mut f);
        // Signed with the wrong key.
        let (msg, changed) = f.error(
            c,
            login_mfa(&token, &sign(&keys()[1], &token)),
            ErrorCode::SignatureInvalid,
        );
        assert!(changed);
        assert!(msg.contains(&format!("failed login {n} of 5")), "{msg}");
        assert_eq!(f.user("alice").locked, n == 5, "{msg}");
        if n == 5 {
            assert!(msg.contains("locked"), "{msg}");
        }
        // The challenge is spent even though the signature failed.
        f.error(
            c,
            login_mfa(&token, &sign(&keys()[0], &token)),
            ErrorCode::ChallengeUnknown,
        );
    }
    let c = f.greeted();
    f.refused(
        c,
        login("alice", Role::CryptoUser, "password1"),
        ErrorCode::UserLocked,
    );
}

#[test]
fn a_signature_of_the_wrong_length_is_invalid() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let (msg, _) = f.error(
        c,
        login_mfa(&token, &b64(&[7u8; 255])),
        ErrorCode::SignatureInvalid,
    );
    assert!(msg.contains("failed login 1 of 5"), "{msg}");
    assert_eq!(f.user("alice").failed_logins, 1);
    let (c, token) = login_challenge(&mut f);
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
    assert_eq!(
        f.user("alice").failed_logins,
        0,
        "a good MFA login resets the count"
    );
}

#[test]
fn a_signature_that_is_not_base64_is_an_invalid_argument() {
    let (mut f, _) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let msg = f.refused(
        c,
        login_mfa(&token, "not*base64"),
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("signature"), "{msg}");
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
}

#[test]
fn removing_a_users_mfa_ends_its_open_login_challenges() {
    let (mut f, admin) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    f.ok(admin, deregister("alice", Role::CryptoUser, "password2"));
    let (msg, _) = f.error(
        c,
        login_mfa(&token, &sign(&keys()[0], &token)),
        ErrorCode::ChallengeUnknown,
    );
    assert!(msg.contains("already used"), "{msg}");
}

#[test]
fn a_deleted_user_cannot_finish_an_mfa_login() {
    let (mut f, admin) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    f.ok(
        admin,
        Op::DeleteUser {
            username: "alice".into(),
            role: Role::CryptoUser,
        },
    );
    f.error(
        c,
        login_mfa(&token, &sign(&keys()[0], &token)),
        ErrorCode::ChallengeUnknown,
    );
}

#[test]
fn registration_needs_proof_of_possession_of_the_new_key() {
    let (mut f, admin) = with_mfa_user();
    let token = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    let before = f.node.state().clone();
    // Signed with the old key, claiming the new one.
    let (msg, changed) = f.error(
        admin,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sign(&keys()[0], &token),
            &pem(&keys()[1]),
            "password2",
            false,
        ),
        ErrorCode::SignatureInvalid,
    );
    assert!(msg.contains("new private key"), "{msg}");
    assert!(
        !changed,
        "a failed proof of possession is not a failed login"
    );
    assert_eq!(f.node.state(), &before);
}

#[test]
fn registration_refuses_unusable_public_keys_with_the_reason() {
    let (mut f, admin) = with_mfa_user();
    let token = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    let sig = sign(&keys()[1], &token);
    let ec = rcgen::KeyPair::generate().unwrap().public_key_pem();
    for (pem_text, expected) in [
        (RSA_1024_PEM, "1024 bits is too small"),
        (ec.as_str(), "an EC key"),
        ("hello", "not an RSA key"),
    ] {
        let msg = f.refused(
            admin,
            mfa_finish(
                "alice",
                Role::CryptoUser,
                &token,
                &sig,
                pem_text,
                "password2",
                false,
            ),
            ErrorCode::InvalidArgument,
        );
        assert!(
            msg.starts_with("public_key_pem: ") && msg.contains(expected),
            "{msg}"
        );
    }
    // Argument errors do not spend the challenge.
    f.ok(
        admin,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sig,
            &pem(&keys()[1]),
            "password2",
            false,
        ),
    );
}

#[test]
fn registration_checks_the_password_rule() {
    let (mut f, admin) = with_mfa_user();
    let token = challenge(f.ok(admin, mfa_begin("alice", Role::CryptoUser)));
    let key = &keys()[1];
    f.refused(
        admin,
        mfa_finish(
            "alice",
            Role::CryptoUser,
            &token,
            &sign(key, &token),
            &pem(key),
            "short",
            false,
        ),
        ErrorCode::InvalidArgument,
    );
}

#[test]
fn rotation_without_change_quorum_removes_the_quorum_key() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password0");
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[0],
        "password1",
        true,
    );
    assert_eq!(f.user("alice").quorum_public_key, Some(pem(&keys()[0])));
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[1],
        "password1",
        true,
    );
    assert_eq!(f.user("alice").quorum_public_key, Some(pem(&keys()[1])));
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[0],
        "password1",
        false,
    );
    assert_eq!(f.user("alice").mfa_public_key, Some(pem(&keys()[0])));
    assert!(f.user("alice").quorum_public_key.is_none());
}

#[test]
fn registration_unlocks_a_locked_user() {
    let (mut f, admin) = with_mfa_user();
    let c = f.greeted();
    for _ in 0..5 {
        f.error(
            c,
            login("alice", Role::CryptoUser, "wrong-pw"),
            ErrorCode::InvalidCredentials,
        );
    }
    assert!(f.user("alice").locked);
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[1],
        "password2",
        false,
    );
    assert!(!f.user("alice").locked);
}

#[test]
fn only_the_user_or_an_admin_changes_mfa() {
    let (mut f, admin) = with_mfa_user();
    f.create(admin, "bob", Role::CryptoUser, "password0");
    let bob = f.logged_in("bob", Role::CryptoUser, "password0");
    let anon = f.greeted();
    f.refused(
        anon,
        mfa_begin("alice", Role::CryptoUser),
        ErrorCode::NotLoggedIn,
    );
    let msg = f.refused(
        bob,
        mfa_begin("alice", Role::CryptoUser),
        ErrorCode::PermissionDenied,
    );
    assert!(msg.contains("only an admin"), "{msg}");
    f.refused(
        bob,
        deregister("alice", Role::CryptoUser, "password2"),
        ErrorCode::PermissionDenied,
    );
    f.refused(
        admin,
        mfa_begin("alice", Role::Admin),
        ErrorCode::UserNotFound,
    );
    f.refused(
        admin,
        mfa_begin("bob", Role::CryptoUser),
        ErrorCode::UserLoggedIn,
    );
    f.refused(
        admin,
        deregister("bob", Role::CryptoUser, "password2"),
        ErrorCode::UserLoggedIn,
    );
}

#[test]
fn deregistration_removes_mfa_and_quorum_and_sets_the_password() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password0");
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[0],
        "password1",
        true,
    );
    let (reply, changed) = f.run(admin, deregister("alice", Role::CryptoUser, "password2"));
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert!(f.user("alice").mfa_public_key.is_none());
    assert!(f.user("alice").quorum_public_key.is_none());
    // Password login again, with the new password.
    let alice = f.logged_in("alice", Role::CryptoUser, "password2");
    f.ok(alice, Op::Logout);
    let msg = f.refused(
        admin,
        deregister("alice", Role::CryptoUser, "password3"),
        ErrorCode::MfaNotRegistered,
    );
    assert!(msg.contains("alice"), "{msg}");
}
