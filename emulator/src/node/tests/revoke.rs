//! What rests on a user's password or key ends when it changes, when the user is locked and
//! when it is deleted: its open challenges and its logins, on every connection of the node.

use cloudhsm_mfa::proto::{ErrorCode, Op, Role};

use super::*;

/// A fresh connection logged in as alice (with MFA).
fn alice(f: &mut Fixture) -> ConnId {
    let (c, token) = login_challenge(f);
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
    c
}

/// Answers the challenge `token` of `c` correctly and expects it to be gone.
fn expect_gone(f: &mut Fixture, c: ConnId, token: &str) {
    let msg = f.refused(
        c,
        login_mfa(token, &sign(&keys()[0], token)),
        ErrorCode::ChallengeUnknown,
    );
    assert!(msg.contains("already used"), "{msg}");
}

#[test]
fn a_password_set_by_an_admin_ends_the_users_open_challenges() {
    let (mut f, admin) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    let (other, other_token) = login_challenge(&mut f);
    f.ok(
        admin,
        change_password("alice", Role::CryptoUser, "password2"),
    );
    expect_gone(&mut f, c, &token);
    expect_gone(&mut f, other, &other_token);
    // The new password gives a new challenge that works.
    let c = f.greeted();
    let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password2")));
    f.ok(c, login_mfa(&token, &sign(&keys()[0], &token)));
}

#[test]
fn a_password_the_user_sets_itself_ends_its_other_logins_and_its_challenges() {
    let (mut f, admin) = with_mfa_user();
    let own = alice(&mut f);
    let elsewhere = alice(&mut f);
    let (c, token) = login_challenge(&mut f);
    f.ok(own, change_password("alice", Role::CryptoUser, "password2"));
    expect_gone(&mut f, c, &token);
    f.refused(elsewhere, Op::Logout, ErrorCode::NotLoggedIn);
    // The connection that made the change stays logged in; others' logins are untouched.
    f.ok(own, mfa_begin("alice", Role::CryptoUser));
    f.ok(admin, Op::Logout);
}

#[test]
fn a_new_mfa_key_or_its_removal_ends_the_users_open_challenges() {
    let (mut f, admin) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[1],
        "password1",
        false,
    );
    f.refused(
        c,
        login_mfa(&token, &sign(&keys()[1], &token)),
        ErrorCode::ChallengeUnknown,
    );
    let (c, token) = {
        let c = f.greeted();
        let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
        (c, token)
    };
    f.ok(admin, deregister("alice", Role::CryptoUser, "password1"));
    f.refused(
        c,
        login_mfa(&token, &sign(&keys()[1], &token)),
        ErrorCode::ChallengeUnknown,
    );
}

#[test]
fn a_lockout_ends_the_users_open_challenges_and_logins() {
    let (mut f, admin) = with_mfa_user();
    let logged_in = alice(&mut f);
    let (c, token) = login_challenge(&mut f);
    let guesser = f.greeted();
    for _ in 0..5 {
        f.error(
            guesser,
            login("alice", Role::CryptoUser, "wrong-pw"),
            ErrorCode::InvalidCredentials,
        );
    }
    assert!(f.user("alice").locked);
    f.refused(logged_in, Op::Logout, ErrorCode::NotLoggedIn);
    expect_gone(&mut f, c, &token);
    // Unlocking by a new password does not bring the old challenge back.
    f.ok(
        admin,
        change_password("alice", Role::CryptoUser, "password2"),
    );
    expect_gone(&mut f, c, &token);
}

#[test]
fn a_deletion_ends_the_users_open_challenges() {
    let (mut f, admin) = with_mfa_user();
    let (c, token) = login_challenge(&mut f);
    f.ok(
        admin,
        Op::DeleteUser {
            username: "alice".into(),
            role: Role::CryptoUser,
        },
    );
    // A new user of the same name, with the same key, does not inherit the challenge.
    f.create(admin, "alice", Role::CryptoUser, "password0");
    f.register_mfa(
        admin,
        "alice",
        Role::CryptoUser,
        &keys()[0],
        "password1",
        false,
    );
    expect_gone(&mut f, c, &token);
}
