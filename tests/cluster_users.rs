//! SPEC §4 and §8 against a live cluster: activation, user management, who may change
//! whom, password rules, lockout, and `user list`.

mod common;

use cloudhsm_mfa::proto::{ErrorCode, Role};
use cloudhsm_mfa::Error;
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};
use common::*;

#[test]
fn a_new_cluster_is_activated_then_the_admin_logs_in() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        nodes: 2,
        settings: NodeSettings::low_cost(),
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start(&dir.path().join("c"), &options).unwrap();
    let rt = cloudhsm_mfa::blocking::Runtime::new().unwrap();
    let target = cloudhsm_mfa::config::Config::load(Some(&cluster.config_path()))
        .unwrap()
        .select(None)
        .unwrap();
    let mut s = cloudhsm_mfa::blocking::Session::open(&rt, &target, &Default::default()).unwrap();
    let list = user_list(&mut s);
    assert_eq!(row(&list, "admin")["role"], "unactivated-admin");
    let err = s
        .login("admin", Role::UnactivatedAdmin, "anything1")
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ClusterState), "{err}");
    s.activate_cluster(ADMIN_PASSWORD).unwrap();
    let err = s.activate_cluster(ADMIN_PASSWORD).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ClusterState), "{err}");
    assert_eq!(row(&user_list(&mut s), "admin")["role"], "admin");
    s.login("admin", Role::Admin, ADMIN_PASSWORD).unwrap();
}

#[test]
fn user_list_shows_every_user_in_the_cli_shape() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .create_user("Alice_1", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let list = user_list(&mut c.session());
    assert_eq!(
        *row(&list, "alice_1"),
        serde_json::json!({"username": "alice_1", "role": "crypto-user", "locked": "false",
            "mfa": [], "quorum": [], "cluster-coverage": "full"})
    );
    assert_eq!(row(&list, "admin")["role"], "admin");
}

#[test]
fn usernames_are_case_insensitive_and_roles_are_not() {
    let c = TestCluster::start(2);
    c.admin()
        .create_user("bob", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    c.session()
        .login("BOB", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let err = c
        .session()
        .login("bob", Role::Admin, USER_PASSWORD)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::InvalidCredentials), "{err}");
    let err = c
        .admin()
        .create_user("BoB", Role::CryptoUser, USER_PASSWORD)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserExists), "{err}");
}

#[test]
fn bad_usernames_and_passwords_are_refused_and_nothing_is_created() {
    let c = TestCluster::start(2);
    let mut admin = c.admin();
    for (name, password, want) in [
        ("bad-name", USER_PASSWORD, "only letters, digits"),
        (&"x".repeat(32) as &str, USER_PASSWORD, "at most 31"),
        ("carol", "short", "7"),
        ("carol", &"p".repeat(33) as &str, "32"),
    ] {
        let err = admin
            .create_user(name, Role::CryptoUser, password)
            .unwrap_err();
        assert_eq!(hsm_code(&err), Some(ErrorCode::InvalidArgument), "{err}");
        assert!(err.to_string().contains(want), "{err}");
    }
    let list = user_list(&mut admin);
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn only_admins_manage_users() {
    let c = TestCluster::start(2);
    c.admin()
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut alice = c.session();
    let err = alice
        .create_user("eve", Role::CryptoUser, USER_PASSWORD)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::NotLoggedIn), "{err}");
    alice
        .login("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let err = alice
        .create_user("eve", Role::CryptoUser, USER_PASSWORD)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    let err = alice.delete_user("admin", Role::Admin).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    // Any user may change its own password.
    alice
        .change_password("alice", Role::CryptoUser, "new-password")
        .unwrap();
    drop(alice);
    c.session()
        .login("alice", Role::CryptoUser, "new-password")
        .unwrap();
}

#[test]
fn a_logged_in_user_cannot_be_deleted_nor_have_its_password_changed_by_another() {
    let c = TestCluster::start(2);
    let mut admin = c.admin();
    admin
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut alice = c.session();
    alice
        .login("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let err = admin.delete_user("alice", Role::CryptoUser).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLoggedIn), "{err}");
    let err = admin
        .change_password("alice", Role::CryptoUser, "other-password")
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLoggedIn), "{err}");
    alice.logout().unwrap();
    drop(alice);
    admin.delete_user("alice", Role::CryptoUser).unwrap();
    let err = admin.delete_user("alice", Role::CryptoUser).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserNotFound), "{err}");
}

#[test]
fn closing_a_session_logs_it_out_on_every_hsm_before_it_returns() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    for _ in 0..10 {
        let mut alice = c.session();
        alice
            .login("alice", Role::CryptoUser, USER_PASSWORD)
            .unwrap();
        alice.close();
        admin
            .change_password("alice", Role::CryptoUser, USER_PASSWORD)
            .unwrap();
    }
    admin.delete_user("alice", Role::CryptoUser).unwrap();
}

#[test]
fn five_failed_logins_lock_the_user_and_a_new_password_unlocks_it() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    for attempt in 1..=4 {
        let err = c
            .session()
            .login("alice", Role::CryptoUser, "wrong-password")
            .unwrap_err();
        assert_eq!(
            hsm_code(&err),
            Some(ErrorCode::InvalidCredentials),
            "attempt {attempt}"
        );
    }
    // A success before the fifth failure resets the count.
    c.session()
        .login("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    for _ in 1..=5 {
        let err = c
            .session()
            .login("alice", Role::CryptoUser, "wrong-password")
            .unwrap_err();
        assert!(matches!(err, Error::Hsm { .. }), "{err}");
    }
    assert_eq!(row(&user_list(&mut admin), "alice")["locked"], "true");
    let err = c
        .session()
        .login("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLocked), "{err}");
    admin
        .change_password("alice", Role::CryptoUser, "fresh-password")
        .unwrap();
    assert_eq!(row(&user_list(&mut admin), "alice")["locked"], "false");
    c.session()
        .login("alice", Role::CryptoUser, "fresh-password")
        .unwrap();
}

#[test]
fn logging_in_twice_and_logging_out_without_a_login_are_refused() {
    let c = TestCluster::start(2);
    let mut s = c.admin();
    let err = s.login("admin", Role::Admin, ADMIN_PASSWORD).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::AlreadyLoggedIn), "{err}");
    s.logout().unwrap();
    let err = s.logout().unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::NotLoggedIn), "{err}");
}
