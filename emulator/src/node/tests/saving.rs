//! Changes that cannot be saved: undone and not acknowledged, except failed logins, which
//! stay counted and keep the user out until a save succeeds (fail closed).

use cloudhsm_mfa::proto::{ErrorCode, Reply, Role};

use super::*;

/// Runs `op` against a store that cannot save: an outcome that changed the state is
/// reported as a failed save, as the server does.
fn run_unsaved(f: &mut Fixture, conn: ConnId, op: cloudhsm_mfa::proto::Op) -> Reply {
    let out = f.node.handle(conn, op, f.now, &mut f.entropy);
    if out.changed {
        f.node.save_failed(conn, "disk gone")
    } else {
        out.reply
    }
}

fn internal(reply: Reply) -> String {
    match reply {
        Reply::Error {
            code: ErrorCode::Internal,
            message,
            ..
        } => message,
        other => panic!("expected an internal error, got {other:?}"),
    }
}

#[test]
fn ten_wrong_passwords_with_a_failing_store_keep_the_right_one_out() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    let first = internal(run_unsaved(
        &mut f,
        c,
        login("alice", Role::CryptoUser, "bad-pw-1"),
    ));
    assert!(
        first.contains("could not save its state: disk gone")
            && first.contains("failed login of user alice still counts"),
        "{first}"
    );
    assert_eq!(
        f.user("alice").failed_logins,
        1,
        "the count is kept in memory"
    );
    assert!(f.node.has_unsaved_failures());
    for _ in 1..10 {
        let msg = internal(run_unsaved(
            &mut f,
            c,
            login("alice", Role::CryptoUser, "bad-pw-1"),
        ));
        assert!(msg.contains("cannot save its state"), "{msg}");
    }
    let msg = internal(run_unsaved(
        &mut f,
        c,
        login("alice", Role::CryptoUser, "password1"),
    ));
    assert!(
        msg.contains("cannot save its state, so user alice may not log in"),
        "{msg}"
    );
    // Another connection fares no better.
    let other = f.greeted();
    internal(run_unsaved(
        &mut f,
        other,
        login("ALICE", Role::CryptoUser, "password1"),
    ));
    assert!(f.user("alice").failed_logins >= 1);

    // Once a save succeeds, the count is on disk and the user may log in again.
    f.node.saved();
    assert!(!f.node.has_unsaved_failures());
    let (reply, changed) = f.run(other, login("alice", Role::CryptoUser, "password1"));
    assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    assert!(changed, "the successful login restarts the count");
}

#[test]
fn a_lockout_that_cannot_be_saved_stays_in_memory() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    for _ in 0..4 {
        f.run(c, login("alice", Role::CryptoUser, "bad-pw-1"));
    }
    internal(run_unsaved(
        &mut f,
        c,
        login("alice", Role::CryptoUser, "bad-pw-1"),
    ));
    assert!(f.user("alice").locked);
    assert_eq!(f.user("alice").failed_logins, 5);
    f.node.saved();
    f.refused(
        c,
        login("alice", Role::CryptoUser, "password1"),
        ErrorCode::UserLocked,
    );
}

#[test]
fn a_login_whose_reset_of_the_count_cannot_be_saved_is_not_acknowledged() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    f.run(c, login("alice", Role::CryptoUser, "bad-pw-1"));
    let msg = internal(run_unsaved(
        &mut f,
        c,
        login("alice", Role::CryptoUser, "password1"),
    ));
    assert!(msg.contains("nothing changed"), "{msg}");
    assert_eq!(f.user("alice").failed_logins, 1, "the failure still counts");
    assert!(
        !f.node.has_unsaved_failures(),
        "nothing is ahead of the store"
    );
    // Not logged in: the connection may try again.
    let (reply, _) = f.run(c, login("alice", Role::CryptoUser, "password1"));
    assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
}

#[test]
fn a_bad_mfa_signature_that_cannot_be_saved_still_counts() {
    let key = &keys()[0];
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    f.register_mfa(alice, "alice", Role::CryptoUser, key, "password1", false);
    f.ok(alice, cloudhsm_mfa::proto::Op::Logout);
    let c = f.greeted();
    let token = challenge(f.ok(c, login("alice", Role::CryptoUser, "password1")));
    let wrong = sign(&keys()[1], &token);
    internal(run_unsaved(&mut f, c, login_mfa(&token, &wrong)));
    assert_eq!(f.user("alice").failed_logins, 1);
    internal(run_unsaved(
        &mut f,
        c,
        login("alice", Role::CryptoUser, "password1"),
    ));
}
