//! `user change-mfa token-sign`: register with a token file signed by openssl, rotate,
//! deregister, `--sign-with` (SPEC §6).

use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

fn change_mfa(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        "alice",
        "--role",
        "crypto-user",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn mfa_of(hsm: &Hsm, user: &str) -> Value {
    hsm.user_row(user).expect("the user exists")["mfa"].clone()
}

fn enabled() -> Value {
    json!([{"strategy": "token-sign", "status": "enabled"}])
}

fn login_with_key(hsm: &Hsm, key: &std::path::Path) -> Run {
    hsm.run(
        &[
            "login",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
            "mfa-token-sign",
            "--sign-with",
            path_str(key),
        ],
        "",
    )
}

/// The documented manual flow: alice logs in with her password (CLOUDHSM_PIN), the CLI
/// writes the registration tokens, openssl signs them with the new private key, the CLI
/// asks for the signed file and the public key; then an MFA login signed by openssl works.
#[test]
fn register_with_openssl_as_the_aws_guide_shows_then_log_in_with_mfa() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, public) = rsa_key(hsm.work.path(), "alice", 2048);
    let token = hsm.path("register.json");
    let signed = hsm.path("register-signed.json");
    let mut cmd = hsm.command(&change_mfa(&["--token", path_str(&token)]));
    cmd.env("CLOUDHSM_ROLE", "crypto-user")
        .env("CLOUDHSM_PIN", format!("alice:{ALICE_PW}"));
    let mut cli = Driver::start(cmd);
    cli.wait_for("Enter password:", 1);
    cli.send(ALICE_PW);
    cli.wait_for("Confirm password:", 1);
    cli.send(ALICE_PW);
    cli.wait_for(SIGNED_PROMPT, 1);
    assert_eq!(read_json(&token)["tokens"].as_array().unwrap().len(), 3);
    openssl_sign_file(&token, &key, &signed);
    cli.send(path_str(&signed));
    cli.wait_for(PUBLIC_KEY_PROMPT, 1);
    cli.send(path_str(&public));
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        ok_data(&documents(&stdout)[0]),
        identity("alice", "crypto-user")
    );
    assert_hidden(&stdout, &stderr, &[ALICE_PW]);
    assert_eq!(mfa_of(&hsm, "alice"), enabled());

    // The MFA login, signed by openssl too.
    let login = hsm.path("login.json");
    let mut cli = Driver::start(hsm.command(&[
        "login",
        "--username",
        "alice",
        "--role",
        "crypto-user",
        "--password",
        ALICE_PW,
        "mfa-token-sign",
        "--token",
        path_str(&login),
    ]));
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&login, &key, &login);
    cli.send("");
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
}

#[test]
fn registration_signed_with_another_key_than_the_public_key_changes_nothing() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    let (_, other_public) = rsa_key(hsm.work.path(), "other", 2048);
    let token = hsm.path("register.json");
    let mut cmd = hsm.command(&change_mfa(&[
        "--change-password",
        ALICE_PW,
        "--token",
        path_str(&token),
    ]));
    cmd.env("CLOUDHSM_ROLE", "crypto-user")
        .env("CLOUDHSM_PIN", format!("alice:{ALICE_PW}"));
    let mut cli = Driver::start(cmd);
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&token, &key, &token);
    cli.send("");
    cli.wait_for(PUBLIC_KEY_PROMPT, 1);
    cli.send(path_str(&other_public));
    let (code, stdout, _) = cli.finish();
    assert_eq!(code, Some(1));
    let message = error_message(&documents(&stdout)[0]);
    assert!(message.contains("HSM hsm-"), "{message}");
    assert_eq!(mfa_of(&hsm, "alice"), json!([]));
}

#[test]
fn an_empty_public_key_answer_is_an_error() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    let token = hsm.path("register.json");
    let mut cmd = hsm.command(&change_mfa(&[
        "--change-password",
        ALICE_PW,
        "--token",
        path_str(&token),
    ]));
    cmd.env("CLOUDHSM_ROLE", "crypto-user")
        .env("CLOUDHSM_PIN", format!("alice:{ALICE_PW}"));
    let mut cli = Driver::start(cmd);
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&token, &key, &token);
    cli.send("");
    cli.wait_for(PUBLIC_KEY_PROMPT, 1);
    cli.send("");
    let (code, stdout, _) = cli.finish();
    assert_eq!(code, Some(1));
    let message = error_message(&documents(&stdout)[0]);
    assert!(message.contains("public key"), "{message}");
    assert_eq!(mfa_of(&hsm, "alice"), json!([]));
}

#[test]
fn sign_with_registers_without_prompts() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    let r = hsm.run_as(
        "crypto-user",
        "alice",
        ALICE_PW,
        &change_mfa(&["--change-password", ALICE_PW, "--sign-with", path_str(&key)]),
        "",
    );
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
    assert!(!r.stderr.contains("Enter"), "no prompt: {}", r.stderr);
    assert_eq!(mfa_of(&hsm, "alice"), enabled());
    assert_eq!(succeeded(&login_with_key(&hsm, &key))["username"], "alice");
}

#[test]
fn rotation_by_an_admin_replaces_the_key_and_the_old_key_is_refused() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (old, _) = rsa_key(hsm.work.path(), "old", 2048);
    let (new, _) = rsa_key(hsm.work.path(), "new", 2048);
    hsm.register_alice(&old);
    hsm.admin_ok(&change_mfa(&[
        "--change-password",
        ALICE_PW,
        "--sign-with",
        path_str(&new),
    ]));
    let message = check_failure(&login_with_key(&hsm, &old));
    assert!(message.contains("does not verify"), "{message}");
    assert_eq!(succeeded(&login_with_key(&hsm, &new))["username"], "alice");
    assert_eq!(mfa_of(&hsm, "alice"), enabled());
}

#[test]
fn deregister_removes_the_key_and_the_password_alone_logs_in_again() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    hsm.admin_ok(&change_mfa(&[
        "--change-password",
        ALICE_PW,
        "--deregister",
    ]));
    assert_eq!(mfa_of(&hsm, "alice"), json!([]));
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
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
    let message = check_failure(&login_with_key(&hsm, &key));
    assert!(message.contains("MFA is not registered"), "{message}");
}

#[test]
fn deregister_with_a_token_file_or_a_key_is_an_argument_error() {
    let hsm = Hsm::activated();
    let message = check_failure(&hsm.run(&change_mfa(&["--deregister", "--token", "t.json"]), ""));
    assert!(message.contains("--deregister"), "{message}");
    let message =
        check_failure(&hsm.run(&change_mfa(&["--deregister", "--sign-with", "k.pem"]), ""));
    assert!(message.contains("--deregister"), "{message}");
    let message = check_failure(&hsm.run(&change_mfa(&[]), ""));
    assert!(message.contains("--token"), "{message}");
}

#[test]
fn change_mfa_password_confirmation_mismatch_changes_nothing() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    let r = hsm.run_as(
        "crypto-user",
        "alice",
        ALICE_PW,
        &change_mfa(&["--sign-with", path_str(&key)]),
        "first-pw-1\nsecond-pw-2\n",
    );
    let message = check_failure(&r);
    assert!(message.contains("do not match"), "{message}");
    assert_hidden(&r.stdout, &r.stderr, &["first-pw-1", "second-pw-2"]);
    assert_eq!(mfa_of(&hsm, "alice"), json!([]));
}
