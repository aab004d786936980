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
        .run(async |ses| {
            ses.login("admin", Role::UnactivatedAdmin, "anything1")
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ClusterState), "{err}");
    s.run(async |ses| ses.activate_cluster(ADMIN_PASSWORD).await)
        .unwrap();
    let err = s
        .run(async |ses| ses.activate_cluster(ADMIN_PASSWORD).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ClusterState), "{err}");
    assert_eq!(row(&user_list(&mut s), "admin")["role"], "admin");
    s.run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap();
}

#[test]
fn user_list_shows_every_user_in_the_cli_shape() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .run(async |ses| {
            ses.create_user("Alice_1", Role::CryptoUser, USER_PASSWORD)
                .await
        })
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
        .run(async |ses| {
            ses.create_user("bob", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    c.session()
        .run(async |ses| ses.login("BOB", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let err = c
        .session()
        .run(async |ses| ses.login("bob", Role::Admin, USER_PASSWORD).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::InvalidCredentials), "{err}");
    let err = c
        .admin()
        .run(async |ses| {
            ses.create_user("BoB", Role::CryptoUser, USER_PASSWORD)
                .await
        })
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
            .run(async |ses| ses.create_user(name, Role::CryptoUser, password).await)
            .unwrap_err();
        // The password rule is checked by the client before anything is sent; the user
        // name by every HSM.
        let refused_where = match &err {
            cloudhsm_mfa::Error::InvalidArgument {
                argument: "password",
                ..
            } => "client",
            _ if hsm_code(&err) == Some(ErrorCode::InvalidArgument) => "hsm",
            _ => "elsewhere",
        };
        let expected = if password == USER_PASSWORD {
            "hsm"
        } else {
            "client"
        };
        assert_eq!(refused_where, expected, "{err}");
        assert!(err.to_string().contains(want), "{err}");
    }
    let list = user_list(&mut admin);
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "{list}");
}

#[test]
fn only_admins_manage_users() {
    let c = TestCluster::start(2);
    c.admin()
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut alice = c.session();
    let err = alice
        .run(async |ses| {
            ses.create_user("eve", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::NotLoggedIn), "{err}");
    alice
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let err = alice
        .run(async |ses| {
            ses.create_user("eve", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    let err = alice
        .run(async |ses| ses.delete_user("admin", Role::Admin).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    // Any user may change its own password.
    alice
        .run(async |ses| {
            ses.change_password("alice", Role::CryptoUser, "new-password")
                .await
        })
        .unwrap();
    drop(alice);
    c.session()
        .run(async |ses| ses.login("alice", Role::CryptoUser, "new-password").await)
        .unwrap();
}

#[test]
fn a_logged_in_user_cannot_be_deleted_nor_have_its_password_changed_by_another() {
    let c = TestCluster::start(2);
    let mut admin = c.admin();
    admin
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut alice = c.session();
    alice
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let err = admin
        .run(async |ses| ses.delete_user("alice", Role::CryptoUser).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLoggedIn), "{err}");
    let err = admin
        .run(async |ses| {
            ses.change_password("alice", Role::CryptoUser, "other-password")
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLoggedIn), "{err}");
    alice.run(async |ses| ses.logout().await).unwrap();
    drop(alice);
    admin
        .run(async |ses| ses.delete_user("alice", Role::CryptoUser).await)
        .unwrap();
    let err = admin
        .run(async |ses| ses.delete_user("alice", Role::CryptoUser).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserNotFound), "{err}");
}

#[test]
fn closing_a_session_logs_it_out_on_every_hsm_before_it_returns() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    for _ in 0..10 {
        let mut alice = c.session();
        alice
            .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
            .unwrap();
        alice.close();
        admin
            .run(async |ses| {
                ses.change_password("alice", Role::CryptoUser, USER_PASSWORD)
                    .await
            })
            .unwrap();
    }
    admin
        .run(async |ses| ses.delete_user("alice", Role::CryptoUser).await)
        .unwrap();
}

#[test]
fn five_failed_logins_lock_the_user_and_a_new_password_unlocks_it() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    admin
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    for attempt in 1..=4 {
        let err = c
            .session()
            .run(async |ses| ses.login("alice", Role::CryptoUser, "wrong-password").await)
            .unwrap_err();
        assert_eq!(
            hsm_code(&err),
            Some(ErrorCode::InvalidCredentials),
            "attempt {attempt}"
        );
    }
    // A success before the fifth failure resets the count.
    c.session()
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    for _ in 1..=5 {
        let err = c
            .session()
            .run(async |ses| ses.login("alice", Role::CryptoUser, "wrong-password").await)
            .unwrap_err();
        assert!(matches!(err, Error::Hsm { .. }), "{err}");
    }
    assert_eq!(row(&user_list(&mut admin), "alice")["locked"], "true");
    let err = c
        .session()
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLocked), "{err}");
    admin
        .run(async |ses| {
            ses.change_password("alice", Role::CryptoUser, "fresh-password")
                .await
        })
        .unwrap();
    assert_eq!(row(&user_list(&mut admin), "alice")["locked"], "false");
    c.session()
        .run(async |ses| ses.login("alice", Role::CryptoUser, "fresh-password").await)
        .unwrap();
}

#[test]
fn logging_in_twice_and_logging_out_without_a_login_are_refused() {
    let c = TestCluster::start(2);
    let mut s = c.admin();
    let err = s
        .run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::AlreadyLoggedIn), "{err}");
    s.run(async |ses| ses.logout().await).unwrap();
    let err = s.run(async |ses| ses.logout().await).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::NotLoggedIn), "{err}");
}
