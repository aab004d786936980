//! `user list`, `user create`, `user delete`, `user change-password` and
//! `cluster activate` (SPEC §4, §8).

use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

#[test]
fn user_list_shows_every_field_as_the_cloudhsm_cli_prints_it() {
    let hsm = Hsm::activated();
    let data = succeeded(&hsm.run(&["user", "list"], ""));
    assert_eq!(
        data,
        json!({"users": [{
            "username": "admin",
            "role": "admin",
            "locked": "false",
            "mfa": [],
            "quorum": [],
            "cluster-coverage": "full"
        }]})
    );
    hsm.create_alice();
    let data = succeeded(&hsm.run(&["user", "list"], ""));
    let users = data["users"].as_array().unwrap();
    assert_eq!(users.len(), 2);
    let alice = users.iter().find(|u| u["username"] == "alice").unwrap();
    let mut keys: Vec<&str> = alice
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cluster-coverage",
            "locked",
            "mfa",
            "quorum",
            "role",
            "username"
        ]
    );
    assert_eq!(alice["role"], "crypto-user");
    assert_eq!(alice["locked"], "false", "locked is a string");
}

#[test]
fn user_create_asks_for_the_password_twice_and_never_shows_it() {
    let hsm = Hsm::activated();
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "create",
            "--username",
            "Bob_1",
            "--role",
            "crypto-user",
        ],
        "bob-password-1\nbob-password-1\n",
    );
    assert_eq!(succeeded(&r), identity("bob_1", "crypto-user"));
    assert!(r.stderr.contains("Enter password:"), "{}", r.stderr);
    assert!(r.stderr.contains("Confirm password:"), "{}", r.stderr);
    assert_hidden(&r.stdout, &r.stderr, &["bob-password-1", ADMIN_PW]);
    let row = hsm.user_row("bob_1").expect("bob_1 is listed");
    assert_eq!(row["role"], "crypto-user");
    assert_eq!(row["cluster-coverage"], "full");
    let r = hsm.run(
        &[
            "login",
            "--username",
            "bob_1",
            "--role",
            "crypto-user",
            "--password",
            "bob-password-1",
        ],
        "",
    );
    succeeded(&r);
}

#[test]
fn user_create_password_mismatch_is_an_error_and_creates_nothing() {
    let hsm = Hsm::activated();
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "crypto-user",
        ],
        "bob-password-1\nbob-password-2\n",
    );
    let message = check_failure(&r);
    assert!(message.contains("passwords do not match"), "{message}");
    assert_hidden(&r.stdout, &r.stderr, &["bob-password-1", "bob-password-2"]);
    assert!(hsm.user_row("bob").is_none(), "nothing was created");
}

#[test]
fn user_create_by_a_crypto_user_is_refused_by_the_cluster() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let r = hsm.run_as(
        "crypto-user",
        "alice",
        ALICE_PW,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "crypto-user",
            "--password",
            "bob-password-1",
        ],
        "",
    );
    let message = check_failure(&r);
    assert!(message.contains("HSM hsm-"), "{message}");
    assert!(hsm.user_row("bob").is_none());
}

#[test]
fn user_delete_removes_the_user_from_every_hsm() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let data = hsm.admin_ok(&[
        "user",
        "delete",
        "--username",
        "alice",
        "--role",
        "crypto-user",
    ]);
    assert_eq!(data, identity("alice", "crypto-user"));
    assert!(hsm.user_row("alice").is_none());
    let message = check_failure(&hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "delete",
            "--username",
            "alice",
            "--role",
            "crypto-user",
        ],
        "",
    ));
    assert!(message.contains("alice"), "{message}");
}

#[test]
fn user_change_password_sets_the_new_password_and_the_old_one_is_refused() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "change-password",
            "--username",
            "alice",
            "--role",
            "crypto-user",
        ],
        "alice-new-pw-2\nalice-new-pw-2\n",
    );
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
    assert_hidden(&r.stdout, &r.stderr, &["alice-new-pw-2"]);
    let login = |pw: &str| {
        hsm.run(
            &[
                "login",
                "--username",
                "alice",
                "--role",
                "crypto-user",
                "--password",
                pw,
            ],
            "",
        )
    };
    check_failure(&login(ALICE_PW));
    succeeded(&login("alice-new-pw-2"));
}

#[test]
fn user_change_password_mismatch_keeps_the_old_password() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "change-password",
            "--username",
            "alice",
            "--role",
            "crypto-user",
        ],
        "alice-new-pw-2\nalice-new-pw-3\n",
    );
    assert!(check_failure(&r).contains("do not match"));
    let r = hsm.run(
        &[
            "login",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
        ],
        "",
    );
    succeeded(&r);
}

#[test]
fn cluster_activate_sets_the_first_admin_password_without_a_login() {
    let hsm = Hsm::unactivated();
    let row = hsm.user_row("admin").unwrap();
    assert_eq!(row["role"], "unactivated-admin");
    let r = hsm.run(&["cluster", "activate"], "first-admin-pw\nfirst-admin-pw\n");
    assert_eq!(succeeded(&r), Value::from("Cluster activation successful"));
    assert_hidden(&r.stdout, &r.stderr, &["first-admin-pw"]);
    assert_eq!(hsm.user_row("admin").unwrap()["role"], "admin");
    let r = hsm.run(
        &[
            "login",
            "--username",
            "admin",
            "--role",
            "admin",
            "--password",
            "first-admin-pw",
        ],
        "",
    );
    assert_eq!(succeeded(&r), identity("admin", "admin"));
    // A second activation is refused.
    let message =
        check_failure(&hsm.run(&["cluster", "activate", "--password", "other-admin-pw"], ""));
    assert!(message.contains("already activated"), "{message}");
}

#[test]
fn cluster_activate_password_mismatch_leaves_the_cluster_unactivated() {
    let hsm = Hsm::unactivated();
    let r = hsm.run(&["cluster", "activate"], "first-admin-pw\nfirst-admin-px\n");
    assert!(check_failure(&r).contains("do not match"));
    assert_eq!(hsm.user_row("admin").unwrap()["role"], "unactivated-admin");
}

#[test]
fn a_change_that_misses_an_hsm_says_how_many_failed_and_user_list_shows_it() {
    let hsm = Hsm::activated();
    hsm.cluster.stop_node(2).unwrap();
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "crypto-user",
            "--password",
            "bob-password-1",
        ],
        "",
    );
    let message = check_failure(&r);
    assert!(
        message.contains("User replicate failed on 1 of 3 connections"),
        "{message}"
    );
    hsm.cluster.start_node(2).unwrap();
    let bob = hsm.user_row("bob").expect("bob is on two HSMs");
    assert_eq!(bob["cluster-coverage"], "inconsistent", "{bob:#}");
}
