//! Bounds on password guessing: per connection, per unknown user name, and a real user
//! who still logs in meanwhile.

use cloudhsm_mfa::proto::{ErrorCode, Role};

use super::super::{Prepared, MAX_FAILURES_PER_CONNECTION, MAX_TRACKED_NAMES, UNKNOWN_NAME_WINDOW};
use super::*;

/// Whether `op` on `conn` is answered without any costly work.
fn answered_without_work(f: &mut Fixture, conn: ConnId, op: Op) -> bool {
    matches!(
        f.node.prepare(conn, op, f.now, &mut f.entropy),
        Prepared::Done(_)
    )
}

#[test]
fn a_connection_that_failed_too_many_logins_in_a_row_is_refused_further_logins_without_a_hash() {
    let mut f = Fixture::activated();
    let guesser = f.greeted();
    for n in 0..MAX_FAILURES_PER_CONNECTION {
        f.error(
            guesser,
            login(&format!("nobody{n}"), Role::CryptoUser, "password1"),
            ErrorCode::InvalidCredentials,
        );
    }
    // Even the right password of a real user: refused at once, and nothing counted.
    let right = login("admin", Role::Admin, ADMIN_PW);
    assert!(answered_without_work(&mut f, guesser, right.clone()));
    let msg = f.refused(guesser, right, ErrorCode::Limit);
    assert!(
        msg.contains(&format!("{MAX_FAILURES_PER_CONNECTION} failed logins"))
            && msg.contains("new connection"),
        "{msg}"
    );
    assert_eq!(f.user("admin").failed_logins, 0);
    // A new connection may log in.
    f.admin();
}

#[test]
fn a_successful_login_starts_the_connections_count_again() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    for _ in 0..2 {
        for n in 0..MAX_FAILURES_PER_CONNECTION - 1 {
            f.error(
                c,
                login(&format!("nobody{n}"), Role::CryptoUser, "password1"),
                ErrorCode::InvalidCredentials,
            );
        }
        assert!(matches!(
            f.ok(c, login("admin", Role::Admin, ADMIN_PW)),
            Reply::LoggedIn { .. }
        ));
        f.ok(c, Op::Logout);
    }
}

#[test]
fn an_unknown_user_name_is_refused_for_a_while_after_five_failures() {
    let mut f = Fixture::activated();
    for _ in 0..5 {
        let c = f.greeted();
        f.error(
            c,
            login("ghost", Role::CryptoUser, "password1"),
            ErrorCode::InvalidCredentials,
        );
    }
    let c = f.greeted();
    let op = login("Ghost", Role::CryptoUser, "password1");
    assert!(answered_without_work(&mut f, c, op.clone()));
    let msg = f.refused(c, op, ErrorCode::UserLocked);
    assert!(msg.contains("ghost") && msg.contains("seconds"), "{msg}");
    // Other unknown names are not refused by it.
    f.error(
        c,
        login("phantom", Role::CryptoUser, "password1"),
        ErrorCode::InvalidCredentials,
    );
    // On the node's clock, the refusal ends.
    f.now += UNKNOWN_NAME_WINDOW;
    let c = f.greeted();
    f.error(
        c,
        login("ghost", Role::CryptoUser, "password1"),
        ErrorCode::InvalidCredentials,
    );
}

#[test]
fn a_name_that_comes_to_exist_is_no_longer_refused_as_unknown() {
    let mut f = Fixture::activated();
    for _ in 0..5 {
        let c = f.greeted();
        f.error(
            c,
            login("ghost", Role::CryptoUser, "password1"),
            ErrorCode::InvalidCredentials,
        );
    }
    let admin = f.admin();
    f.create(admin, "ghost", Role::CryptoUser, "password1");
    f.logged_in("ghost", Role::CryptoUser, "password1");
}

#[test]
fn the_tracked_unknown_names_are_bounded_and_untracked_ones_are_then_refused() {
    let mut f = Fixture::activated();
    for n in 0..MAX_TRACKED_NAMES + 10 {
        f.node.unknown_names.record(&format!("name{n}"), f.now);
    }
    assert!(f.node.unknown_names.full(f.now));
    let c = f.greeted();
    let op = login("someone_new", Role::CryptoUser, "password1");
    assert!(answered_without_work(&mut f, c, op.clone()));
    let msg = f.refused(c, op, ErrorCode::Limit);
    assert!(msg.contains("does not know"), "{msg}");
    // Real users are not affected.
    f.admin();
    // Once the window has passed the names are forgotten.
    f.now += UNKNOWN_NAME_WINDOW;
    assert!(!f.node.unknown_names.full(f.now));
    f.error(
        c,
        login("someone_new", Role::CryptoUser, "password1"),
        ErrorCode::InvalidCredentials,
    );
}

#[test]
fn a_real_user_logs_in_on_another_connection_while_a_guesser_is_bounded() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let guesser = f.greeted();
    for n in 0..MAX_FAILURES_PER_CONNECTION + 3 {
        let (_, _) = f.run(
            guesser,
            login(&format!("guess{n}"), Role::CryptoUser, "password1"),
        );
    }
    f.refused(
        guesser,
        login("alice", Role::CryptoUser, "password1"),
        ErrorCode::Limit,
    );
    f.logged_in("alice", Role::CryptoUser, "password1");
}
