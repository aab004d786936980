//! Password login, lockout, logout.

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};

use super::*;

#[test]
fn a_user_without_mfa_logs_in_with_the_password_alone() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "Alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    let (reply, changed) = f.run(c, login("ALICE", Role::CryptoUser, "password1"));
    assert_eq!(
        reply,
        Reply::LoggedIn {
            username: "alice".into(),
            role: Role::CryptoUser
        }
    );
    assert!(!changed, "nothing persistent changes on a clean login");
}

#[test]
fn wrong_user_role_or_password_give_the_same_answer() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    let (wrong_user, changed) = f.error(
        c,
        login("nobody", Role::CryptoUser, "password1"),
        ErrorCode::InvalidCredentials,
    );
    assert!(!changed, "there is no user whose count could grow");
    let (wrong_role, _) = f.error(
        c,
        login("alice", Role::Admin, "password1"),
        ErrorCode::InvalidCredentials,
    );
    let (wrong_pw, _) = f.error(
        c,
        login("alice", Role::CryptoUser, "password2"),
        ErrorCode::InvalidCredentials,
    );
    assert_eq!(wrong_user, wrong_role);
    assert_eq!(wrong_role, wrong_pw);
    assert!(!wrong_pw.contains("alice"));
    assert_eq!(
        f.user("alice").failed_logins,
        2,
        "wrong role and wrong password both count"
    );
}

#[test]
fn a_malformed_user_name_states_the_rule() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    let msg = f.refused(
        c,
        login("bob-smith", Role::CryptoUser, "password1"),
        ErrorCode::InvalidArgument,
    );
    assert!(msg.contains("'-'"), "{msg}");
}

#[test]
fn five_failed_logins_lock_the_user_even_against_the_right_password() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    for n in 1..=5 {
        let (_, changed) = f.error(
            c,
            login("alice", Role::CryptoUser, "wrong-pw"),
            ErrorCode::InvalidCredentials,
        );
        assert!(changed, "the failure count is persistent");
        assert_eq!(f.user("alice").failed_logins, n);
        assert_eq!(f.user("alice").locked, n == 5);
    }
    let msg = f.refused(
        c,
        login("alice", Role::CryptoUser, "password1"),
        ErrorCode::UserLocked,
    );
    assert!(msg.contains("alice") && msg.contains("admin"), "{msg}");
    let Reply::Users { users } = f.ok(c, Op::ListUsers) else {
        panic!()
    };
    assert!(users.iter().any(|u| u.username == "alice" && u.locked));
}

#[test]
fn a_successful_login_restarts_the_failure_count() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    for _ in 0..4 {
        f.error(
            c,
            login("alice", Role::CryptoUser, "wrong-pw"),
            ErrorCode::InvalidCredentials,
        );
    }
    let (reply, changed) = f.run(c, login("alice", Role::CryptoUser, "password1"));
    assert!(matches!(reply, Reply::LoggedIn { .. }));
    assert!(changed, "the reset count must be saved");
    assert_eq!(f.user("alice").failed_logins, 0);
    let d = f.greeted();
    f.error(
        d,
        login("alice", Role::CryptoUser, "wrong-pw"),
        ErrorCode::InvalidCredentials,
    );
    assert!(!f.user("alice").locked);
}

#[test]
fn an_admin_unlocks_a_user_by_setting_a_new_password() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let c = f.greeted();
    for _ in 0..5 {
        f.error(
            c,
            login("alice", Role::CryptoUser, "wrong-pw"),
            ErrorCode::InvalidCredentials,
        );
    }
    assert!(f.user("alice").locked);
    let (reply, changed) = f.run(
        admin,
        change_password("alice", Role::CryptoUser, "password2"),
    );
    assert_eq!(reply, Reply::Done);
    assert!(changed);
    assert!(!f.user("alice").locked);
    assert_eq!(f.user("alice").failed_logins, 0);
    f.logged_in("alice", Role::CryptoUser, "password2");
}

#[test]
fn a_logged_in_connection_cannot_log_in_again() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    let msg = f.refused(
        admin,
        login("admin", Role::Admin, ADMIN_PW),
        ErrorCode::AlreadyLoggedIn,
    );
    assert!(msg.contains("log out"), "{msg}");
    f.refused(
        admin,
        login_mfa(&b64(&[0; 32]), "AAAA"),
        ErrorCode::AlreadyLoggedIn,
    );
}

#[test]
fn logout_needs_a_login_and_ends_it() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    f.refused(c, Op::Logout, ErrorCode::NotLoggedIn);
    let admin = f.admin();
    assert_eq!(f.ok(admin, Op::Logout), Reply::Done);
    f.refused(
        admin,
        create("bob", Role::CryptoUser, "password1"),
        ErrorCode::NotLoggedIn,
    );
    f.refused(admin, Op::Logout, ErrorCode::NotLoggedIn);
    // The connection may log in again.
    assert!(matches!(
        f.ok(admin, login("admin", Role::Admin, ADMIN_PW)),
        Reply::LoggedIn { .. }
    ));
}

#[test]
fn closing_a_connection_ends_its_login() {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "alice", Role::CryptoUser, "password1");
    let alice = f.logged_in("alice", Role::CryptoUser, "password1");
    f.refused(
        admin,
        Op::DeleteUser {
            username: "alice".into(),
            role: Role::CryptoUser,
        },
        ErrorCode::UserLoggedIn,
    );
    f.node.disconnect(alice);
    assert_eq!(
        f.ok(
            admin,
            Op::DeleteUser {
                username: "alice".into(),
                role: Role::CryptoUser
            }
        ),
        Reply::Done
    );
}

#[test]
fn unactivated_admin_role_is_gone_after_activation() {
    let mut f = Fixture::activated();
    let c = f.greeted();
    f.error(
        c,
        login("admin", Role::UnactivatedAdmin, ADMIN_PW),
        ErrorCode::InvalidCredentials,
    );
}
