//! Single-command mode: commands that need a login take it from `CLOUDHSM_ROLE` and
//! `CLOUDHSM_PIN=user:password` (SPEC §10); bad or missing variables are named, and
//! nothing is asked or sent.

use crate::common::*;
use crate::hsm::*;

const CREATE_BOB: [&str; 8] = [
    "user",
    "create",
    "--username",
    "bob",
    "--role",
    "crypto-user",
    "--password",
    "bob-password-1",
];

#[test]
fn a_command_that_needs_a_login_without_the_variables_names_them() {
    let hsm = Hsm::activated();
    let r = hsm.run(&CREATE_BOB, "");
    let message = check_failure(&r);
    assert!(message.contains("CLOUDHSM_ROLE"), "{message}");
    assert!(message.contains("CLOUDHSM_PIN"), "{message}");
    assert!(hsm.user_row("bob").is_none());
}

#[test]
fn a_missing_pin_is_named_and_nothing_is_asked() {
    let hsm = Hsm::activated();
    let mut cmd = hsm.command(&["user", "create", "--username", "bob", "--role", "admin"]);
    cmd.env("CLOUDHSM_ROLE", "admin");
    let mut cli = Driver::start(cmd);
    let (code, stdout, stderr) = {
        cli.send("bob-password-1");
        cli.finish()
    };
    assert_eq!(code, Some(1));
    let message = error_message(&documents(&stdout)[0]);
    assert!(message.starts_with("CLOUDHSM_PIN is not set"), "{message}");
    assert!(!stderr.contains("Enter password:"), "{stderr}");
}

#[test]
fn a_pin_without_a_colon_is_explained_without_showing_it() {
    let hsm = Hsm::activated();
    let mut cmd = hsm.command(&CREATE_BOB);
    cmd.env("CLOUDHSM_ROLE", "admin")
        .env("CLOUDHSM_PIN", "admin-pw-1-no-colon");
    let mut cli = Driver::start(cmd);
    cli.send("");
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(1));
    let message = error_message(&documents(&stdout)[0]);
    assert!(message.contains("user:password"), "{message}");
    assert_hidden(&stdout, &stderr, &["admin-pw-1-no-colon"]);
}

#[test]
fn an_unknown_role_is_named() {
    let hsm = Hsm::activated();
    let r = hsm.run_as("officer", "admin", ADMIN_PW, &CREATE_BOB, "");
    let message = check_failure(&r);
    assert!(message.contains("CLOUDHSM_ROLE"), "{message}");
    assert!(message.contains("\"officer\""), "{message}");
    assert!(message.contains("crypto-user"), "{message}");
}

#[test]
fn a_wrong_password_in_the_pin_fails_the_login_and_changes_nothing() {
    let hsm = Hsm::activated();
    let r = hsm.run_as("admin", "admin", "wrong-password-9", &CREATE_BOB, "");
    let message = check_failure(&r);
    assert!(
        message.starts_with("login with CLOUDHSM_ROLE and CLOUDHSM_PIN failed"),
        "{message}"
    );
    assert_hidden(
        &r.stdout,
        &r.stderr,
        &["wrong-password-9", "bob-password-1"],
    );
    assert!(hsm.user_row("bob").is_none());
}

#[test]
fn commands_without_a_login_ignore_the_variables() {
    let hsm = Hsm::activated();
    // `user list` needs no login: bad variables do not matter.
    let r = hsm.run_as("nobody", "x", "y", &["user", "list"], "");
    succeeded(&r);
}

#[test]
fn a_pin_user_with_mfa_is_told_to_use_interactive_mode() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let r = hsm.run_as("crypto-user", "alice", ALICE_PW, &["logout"], "");
    let message = check_failure(&r);
    assert!(message.contains("MFA"), "{message}");
    assert!(message.contains("interactive"), "{message}");
}
