//! `login` with a password and with `mfa-token-sign`, and `logout` (SPEC §5), in
//! single-command mode against a live cluster.

use serde_json::Value;

use crate::common::*;
use crate::hsm::*;

fn alice_login(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["login", "--username", "alice", "--role", "crypto-user"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn password_login_answers_the_user_in_lower_case_and_its_role() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let r = hsm.run(
        &[
            "login",
            "--username",
            "ALICE",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
        ],
        "",
    );
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
}

#[test]
fn login_without_password_prompts_for_it_and_never_shows_it() {
    let hsm = Hsm::activated();
    let r = hsm.run(
        &["login", "--username", "admin", "--role", "admin"],
        &format!("{ADMIN_PW}\n"),
    );
    assert_eq!(succeeded(&r), identity("admin", "admin"));
    assert!(r.stderr.contains("Enter password:"), "{}", r.stderr);
    assert!(
        !r.stdout.contains("Enter password:"),
        "prompts stay off stdout"
    );
    assert_hidden(&r.stdout, &r.stderr, &[ADMIN_PW]);
}

#[test]
fn wrong_password_is_refused_without_showing_it() {
    let hsm = Hsm::activated();
    let r = hsm.run(
        &["login", "--username", "admin", "--role", "admin"],
        "not-the-password\n",
    );
    let message = check_failure(&r);
    assert!(message.contains("HSM hsm-"), "{message}");
    assert_hidden(&r.stdout, &r.stderr, &["not-the-password"]);
}

#[test]
fn mfa_token_sign_for_a_user_without_mfa_says_mfa_is_not_registered() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let token = hsm.path("login.json");
    let r = hsm.run(
        &alice_login(&[
            "--password",
            ALICE_PW,
            "mfa-token-sign",
            "--token",
            path_str(&token),
        ]),
        "",
    );
    let message = check_failure(&r);
    assert!(
        message.contains("MFA is not registered for user alice"),
        "{message}"
    );
    assert!(!token.exists(), "no token file is written");
    assert!(!r.stderr.contains(SIGNED_PROMPT), "nothing is asked");
}

#[test]
fn password_login_of_a_user_with_mfa_says_mfa_is_required() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let r = hsm.run(&alice_login(&["--password", ALICE_PW]), "");
    let message = check_failure(&r);
    assert!(
        message.contains("user alice has MFA registered"),
        "{message}"
    );
    assert!(message.contains("mfa-token-sign"), "{message}");
}

/// The manual flow of the AWS guide: the CLI writes the token file, the user signs each
/// token with openssl into another file and gives its path at the prompt.
#[test]
fn mfa_login_with_an_openssl_signed_file_at_another_path() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let token = hsm.path("login.json");
    let signed = hsm.path("login-signed.json");
    let mut cli = Driver::start(hsm.command(&alice_login(&[
        "mfa-token-sign",
        "--token",
        path_str(&token),
    ])));
    cli.wait_for("Enter password:", 1);
    cli.send(ALICE_PW);
    cli.wait_for(SIGNED_PROMPT, 1);
    let written = read_json(&token);
    let entries = written["tokens"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "one token per HSM: {written:#}");
    assert!(entries.iter().all(|e| e["signed"] == ""));
    openssl_sign_file(&token, &key, &signed);
    cli.send(path_str(&signed));
    let (code, stdout, stderr) = cli.finish();
    let doc: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["error_code"], 0, "{stdout}\n{stderr}");
    assert_eq!(doc["data"], identity("alice", "crypto-user"));
    assert_eq!(code, Some(0));
    assert_hidden(&stdout, &stderr, &[ALICE_PW]);
}

#[test]
fn mfa_login_with_an_empty_answer_reads_the_token_file_signed_in_place() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let token = hsm.path("login.json");
    let mut cli = Driver::start(hsm.command(&alice_login(&[
        "--password",
        ALICE_PW,
        "mfa-token-sign",
        "--token",
        path_str(&token),
    ])));
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&token, &key, &token);
    cli.send("");
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        documents(&stdout)[0]["data"],
        identity("alice", "crypto-user")
    );
}

#[test]
fn mfa_login_with_tokens_signed_by_another_key_is_refused() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    let (other, _) = rsa_key(hsm.work.path(), "other", 2048);
    hsm.register_alice(&key);
    let token = hsm.path("login.json");
    let mut cli = Driver::start(hsm.command(&alice_login(&[
        "--password",
        ALICE_PW,
        "mfa-token-sign",
        "--token",
        path_str(&token),
    ])));
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&token, &other, &token);
    cli.send("");
    let (code, stdout, _) = cli.finish();
    assert_eq!(code, Some(1));
    let message = error_message(&documents(&stdout)[0]);
    assert!(message.contains("does not verify"), "{message}");
}

#[test]
fn mfa_login_with_sign_with_needs_no_prompt_and_no_token_file() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let r = hsm.run(
        &alice_login(&[
            "--password",
            ALICE_PW,
            "mfa-token-sign",
            "--sign-with",
            path_str(&key),
        ]),
        "",
    );
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
    assert!(!r.stderr.contains(SIGNED_PROMPT), "{}", r.stderr);
}

#[test]
fn mfa_token_sign_needs_a_token_file_or_a_key() {
    let hsm = Hsm::activated();
    let r = hsm.run(
        &alice_login(&["--password", ALICE_PW, "mfa-token-sign"]),
        "",
    );
    let message = check_failure(&r);
    assert!(message.contains("--token"), "{message}");
}

#[test]
fn logout_in_single_command_mode_logs_in_from_the_environment_first() {
    let hsm = Hsm::activated();
    let r = hsm.run_as("admin", "admin", ADMIN_PW, &["logout"], "");
    assert_eq!(succeeded(&r), Value::from("Logout successful"));
    let message = check_failure(&hsm.run(&["logout"], ""));
    assert!(message.contains("CLOUDHSM_ROLE"), "{message}");
}
