//! Replays, and requests in three steps: prepare, work away from the node, commit.

use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};

use super::*;
use crate::node::Prepared;

/// A run through logins, user changes, MFA registration and login, a lockout and an
/// expired challenge; the replies in order.
fn script(f: &mut Fixture) -> Vec<Reply> {
    let key = &keys()[0];
    let mut replies = Vec::new();
    let admin = f.admin();
    let mut run = |f: &mut Fixture, conn, op| {
        let (reply, _) = f.run(conn, op);
        replies.push(reply.clone());
        reply
    };
    run(f, admin, create("alice", Role::CryptoUser, "password1"));
    run(f, admin, create("bob", Role::CryptoUser, "password2"));
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    f.register_mfa(alice, "alice", Role::CryptoUser, key, "password3", true);
    run(f, alice, Op::Logout);
    let c = f.greeted();
    let token = challenge(run(f, c, login("alice", Role::CryptoUser, "password3")));
    f.now += Duration::from_secs(5);
    run(f, c, login_mfa(&token, &sign(key, &token)));
    let late = f.greeted();
    let token = challenge(run(f, late, login("alice", Role::CryptoUser, "password3")));
    f.now += TTL + Duration::from_secs(1);
    run(f, late, login_mfa(&token, &sign(key, &token)));
    let b = f.greeted();
    for _ in 0..6 {
        run(f, b, login("bob", Role::CryptoUser, "wrong-pw"));
    }
    run(
        f,
        admin,
        change_password("bob", Role::CryptoUser, "password4"),
    );
    run(f, b, login("bob", Role::CryptoUser, "password4"));
    run(f, b, Op::ListUsers);
    replies
}

#[test]
fn two_nodes_with_the_same_entropy_and_times_give_identical_replies_and_states() {
    let start = Instant::now();
    let mut one = Fixture::activated_at(start, 42);
    let mut two = Fixture::activated_at(start, 42);
    assert_eq!(one.node.state(), two.node.state(), "the same admin hash");
    let a = script(&mut one);
    let b = script(&mut two);
    assert_eq!(a, b);
    assert_eq!(one.node.state(), two.node.state());
    // The run is not trivial: challenges were issued, one expired, bob was locked.
    assert!(a.iter().any(|r| matches!(r, Reply::Challenge { .. })));
    assert!(a.iter().any(|r| matches!(
        r,
        Reply::Error {
            code: ErrorCode::ChallengeExpired,
            ..
        }
    )));
    assert!(a.iter().any(|r| matches!(
        r,
        Reply::Error {
            code: ErrorCode::UserLocked,
            ..
        }
    )));
    assert!(a.iter().any(|r| matches!(r, Reply::LoggedIn { .. })));

    // Other random bytes: other tokens and salts, the same answers otherwise.
    let mut other = Fixture::activated_at(start, 43);
    let c = script(&mut other);
    assert_ne!(a, c, "challenge tokens differ");
    assert_ne!(
        one.user("alice").password_hash,
        other.user("alice").password_hash
    );
    let codes = |r: &[Reply]| -> Vec<_> {
        r.iter()
            .map(|r| match r {
                Reply::Error { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    };
    assert_eq!(codes(&a), codes(&c));
}

/// Prepares `op` and expects work.
fn work_of(f: &mut Fixture, conn: ConnId, op: Op) -> crate::node::Work {
    match f.node.prepare(conn, op, f.now, &mut f.entropy) {
        Prepared::Work(w) => w,
        Prepared::Done(o) => panic!("expected work, got {:?}", o.reply),
    }
}

/// Commits `worked`, doing any further work at once, and returns the outcome.
fn commit(f: &mut Fixture, worked: crate::node::Worked) -> (Reply, bool, usize) {
    let mut rounds = 0;
    let mut step = f.node.commit(worked, f.now, &mut f.entropy);
    loop {
        match step {
            Prepared::Done(o) => return (o.reply, o.changed, rounds),
            Prepared::Work(w) => {
                rounds += 1;
                step = f.node.commit(w.run(), f.now, &mut f.entropy);
            }
        }
    }
}

#[test]
fn password_checks_are_work_done_away_from_the_node_and_change_nothing_until_committed() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::CryptoUser, "password2");
    let (a, b, c) = (f.greeted(), f.greeted(), f.greeted());
    // Three logins in flight on one node at once, an unknown user's among them: it costs a
    // password check too.
    let wa = work_of(&mut f, a, login("alice", Role::CryptoUser, "password1"));
    let wb = work_of(&mut f, b, login("bob", Role::CryptoUser, "wrong-pw"));
    let wc = work_of(&mut f, c, login("nobody", Role::CryptoUser, "password1"));
    assert_eq!(
        f.user("bob").failed_logins,
        0,
        "nothing counted before commit"
    );
    let (da, db, dc) = (wa.run(), wb.run(), wc.run());
    assert_eq!(
        commit(&mut f, db),
        (
            Reply::error(
                ErrorCode::InvalidCredentials,
                "invalid user name, role or password"
            ),
            true,
            0
        )
    );
    assert_eq!(f.user("bob").failed_logins, 1);
    let (reply, changed, _) = commit(&mut f, da);
    assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    assert!(!changed);
    let (reply, changed, _) = commit(&mut f, dc);
    assert!(matches!(
        reply,
        Reply::Error {
            code: ErrorCode::InvalidCredentials,
            ..
        }
    ));
    assert!(!changed);
}

#[test]
fn a_commit_answers_as_if_the_request_arrived_then() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    f.create(admin, "bob", Role::CryptoUser, "password2");
    let c = f.greeted();

    // The password changes while the old one is checked: the old one no longer logs in.
    let w = work_of(&mut f, c, login("alice", Role::CryptoUser, "password1")).run();
    f.ok(
        admin,
        change_password("alice", Role::CryptoUser, "password9"),
    );
    let (reply, _, rounds) = commit(&mut f, w);
    assert!(
        matches!(
            reply,
            Reply::Error {
                code: ErrorCode::InvalidCredentials,
                ..
            }
        ),
        "{reply:?}"
    );
    assert_eq!(rounds, 1, "checked again against the new hash");
    assert_eq!(f.user("alice").failed_logins, 1);

    // The user is deleted while its password is checked.
    let w = work_of(&mut f, c, login("bob", Role::CryptoUser, "password2")).run();
    f.ok(
        admin,
        Op::DeleteUser {
            username: "bob".into(),
            role: Role::CryptoUser,
        },
    );
    let (reply, changed, _) = commit(&mut f, w);
    assert!(
        matches!(
            reply,
            Reply::Error {
                code: ErrorCode::InvalidCredentials,
                ..
            }
        ),
        "{reply:?}"
    );
    assert!(!changed);

    // The user is locked by other connections meanwhile.
    let w = work_of(&mut f, c, login("alice", Role::CryptoUser, "password9")).run();
    let other = f.greeted();
    for _ in 0..5 {
        f.run(other, login("alice", Role::CryptoUser, "wrong-pw"));
    }
    let (reply, _, _) = commit(&mut f, w);
    assert!(
        matches!(
            reply,
            Reply::Error {
                code: ErrorCode::UserLocked,
                ..
            }
        ),
        "{reply:?}"
    );
}

#[test]
fn a_challenge_that_expires_or_is_used_during_the_signature_check_is_refused() {
    let key = &keys()[0];
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    f.register_mfa(alice, "alice", Role::CryptoUser, key, "password1", false);
    f.ok(alice, Op::Logout);

    let c = f.greeted();
    let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
    let w = work_of(&mut f, c, login_mfa(&token, &sign(key, &token))).run();
    f.now += TTL;
    let (reply, changed, _) = commit(&mut f, w);
    assert!(
        matches!(
            reply,
            Reply::Error {
                code: ErrorCode::ChallengeExpired,
                ..
            }
        ),
        "{reply:?}"
    );
    assert!(!changed);

    let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
    let signature = sign(key, &token);
    let w = work_of(&mut f, c, login_mfa(&token, &signature)).run();
    f.ok(c, login_mfa(&token, &signature));
    f.ok(c, Op::Logout);
    let (reply, _, _) = commit(&mut f, w);
    assert!(
        matches!(
            reply,
            Reply::Error {
                code: ErrorCode::ChallengeUnknown,
                ..
            }
        ),
        "{reply:?}"
    );
}

#[test]
fn mfa_registration_checks_the_signature_then_hashes_then_commits() {
    let key = &keys()[1];
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    let token = challenge(f.ok(alice, mfa_begin("alice", Role::CryptoUser)));
    let op = mfa_finish(
        "alice",
        Role::CryptoUser,
        &token,
        &sign(key, &token),
        &pem(key),
        "password2",
        false,
    );
    let w = work_of(&mut f, alice, op).run();
    assert!(f.user("alice").mfa_public_key.is_none());
    let (reply, changed, rounds) = commit(&mut f, w);
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert_eq!(rounds, 1, "a second round hashes the new password");
    assert!(f.user("alice").mfa_public_key.is_some());
}
