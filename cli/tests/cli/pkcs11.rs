//! Keys on PKCS#11 tokens from the command line (SPEC §12), on a real SoftHSM2 store per
//! test: `keygen` on the token, `tokens sign` and `tokens verify` with `pkcs11:` URIs, an
//! MFA registration and logins against a live cluster with the key on the token, the PIN
//! prompt on a terminal, and the error when no PIN can be had.

use std::ffi::OsStr;

use cloudhsm_mfa_test_support::softhsm::{SoftHsm, PIN};

use crate::common::*;
use crate::hsm::*;

/// A store with token `t` and a key pair `alice` made on it by `keygen`; returns the
/// store and the public key file `keygen` wrote.
fn token_with_generated_key(work: &std::path::Path) -> (SoftHsm, std::path::PathBuf) {
    let store = SoftHsm::new();
    store.init_token("t");
    let public = work.join("alice.pub");
    let data = ok([
        "keygen",
        "--private-key",
        &store.uri_with_pin("t", "alice"),
        "--public-key",
        path_str(&public),
    ]);
    assert_eq!(data["bits"], 2048);
    let shown = data["private_key"].as_str().unwrap();
    assert!(shown.starts_with("pkcs11:token=t;object=alice"), "{shown}");
    assert!(
        shown.contains("pin-value=***") && !shown.contains(PIN),
        "{shown}"
    );
    (store, public)
}

#[test]
fn keygen_makes_the_pair_on_the_token_and_refuses_a_second_with_the_label() {
    let work = tempdir();
    let (store, public) = token_with_generated_key(work.path());
    assert!(public.exists());
    let files: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    assert_eq!(files.len(), 1, "only the public key file is written");
    let again = work.path().join("again.pub");
    let message = fail([
        "keygen",
        "--private-key",
        &store.uri_with_pin("t", "alice"),
        "--public-key",
        path_str(&again),
    ]);
    assert!(message.contains("already holds a key"), "{message}");
    assert!(!again.exists());
    assert!(!message.contains(PIN), "{message}");
}

#[test]
fn tokens_sign_and_verify_with_keys_on_the_token_agree_with_openssl() {
    let work = tempdir();
    let (store, public) = token_with_generated_key(work.path());
    let uri = store.uri_with_pin("t", "alice");
    let (file, tokens) = mfa_file(work.path(), "login.json", 3);
    ok(sign_args(&file, std::path::Path::new(&uri)));
    let signed = read_json(&file);
    for (entry, token) in signed["tokens"].as_array().unwrap().iter().zip(&tokens) {
        let sig = unb64(entry["signed"].as_str().unwrap());
        assert!(openssl_verifies(work.path(), &public, token, &sig));
    }
    // --public-key takes the URI of the pair on the token too (no PIN needed).
    let public_uri = store.uri("t", "alice", "");
    let data = ok(verify_args(&file, std::path::Path::new(&public_uri)));
    assert_eq!(data["valid"], true);
    // A quorum approval signed on the token.
    let (approval, _) = approval_file(work.path(), "approval.json");
    ok(with(
        sign_args(&approval, std::path::Path::new(&uri)),
        &[OsStr::new("--username"), OsStr::new("alice")],
    ));
    let data = ok(with(
        verify_args(&approval, &public),
        &[OsStr::new("--username"), OsStr::new("alice")],
    ));
    assert_eq!(data["valid"], true);
}

#[test]
fn mfa_registration_and_login_with_the_key_on_the_token() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (store, public) = token_with_generated_key(hsm.work.path());
    let uri = store.uri_with_pin("t", "alice");
    let r = hsm.run_as(
        "crypto-user",
        "alice",
        ALICE_PW,
        &[
            "user",
            "change-mfa",
            "token-sign",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--change-password",
            ALICE_PW,
            "--sign-with",
            &uri,
        ],
        "",
    );
    assert_eq!(succeeded(&r), identity("alice", "crypto-user"));
    // --sign-with on the login.
    let login = |extra: &[&str]| {
        let mut args = vec![
            "login",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
            "mfa-token-sign",
        ];
        args.extend_from_slice(extra);
        args.iter().map(|s| s.to_string()).collect::<Vec<_>>()
    };
    let r = hsm.run(&login(&["--sign-with", &uri]), "");
    assert_eq!(succeeded(&r)["username"], "alice");
    // The manual flow: the CLI writes the tokens, `tokens sign` signs them on the token.
    let token = hsm.path("login.json");
    let mut drive = Driver::start(hsm.command(&login(&["--token", path_str(&token)])));
    drive.wait_for("Enter signed token file path", 1);
    ok(sign_args(&token, std::path::Path::new(&uri)));
    drive.send("");
    let (code, stdout, stderr) = drive.finish();
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("\"username\": \"alice\""), "{stdout}");
    // The registered key is the one on the token.
    assert!(public.exists());
    assert_hidden(&stdout, &stderr, &[PIN]);
}

/// On a terminal the PIN is asked for, without echo; it is never shown.
#[test]
fn on_a_terminal_the_pin_is_asked_for_without_echo() {
    let work = tempdir();
    let (store, _) = token_with_generated_key(work.path());
    let (file, _) = mfa_file(work.path(), "login.json", 2);
    let command_line = format!(
        "'{BIN}' tokens sign --token '{}' --private-key '{}'",
        path_str(&file),
        store.uri("t", "alice", "")
    );
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &command_line, "/dev/null"])
        .env_remove("CLOUDHSM_MFA_PKCS11_PIN");
    let mut tty = Driver::start(cmd);
    tty.wait_for_stdout("Enter PIN for PKCS#11 token t:", 1);
    // Echo is turned off just after the prompt is shown: leave it a moment.
    std::thread::sleep(std::time::Duration::from_millis(500));
    tty.send(PIN);
    let (code, screen, _) = tty.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("\"signatures\": 2"), "{screen}");
    assert_hidden(&screen, "", &[PIN]);
}

/// With no PIN anywhere and no terminal, the error names the ways to give one.
#[test]
fn without_a_pin_or_a_terminal_the_error_says_how_to_give_one() {
    let work = tempdir();
    let (store, _) = token_with_generated_key(work.path());
    let (file, _) = mfa_file(work.path(), "login.json", 1);
    let r = run_with(
        sign_args(&file, std::path::Path::new(&store.uri("t", "alice", ""))),
        |c| {
            c.env_remove("CLOUDHSM_MFA_PKCS11_PIN")
                .stdin(std::process::Stdio::null());
        },
    );
    let message = check_failure(&r);
    for way in [
        "pin-source=file:",
        "pin-value",
        "CLOUDHSM_MFA_PKCS11_PIN",
        "terminal",
    ] {
        assert!(message.contains(way), "{way}: {message}");
    }
    // Through the environment it works.
    let r = run_with(
        sign_args(&file, std::path::Path::new(&store.uri("t", "alice", ""))),
        |c| {
            c.env("CLOUDHSM_MFA_PKCS11_PIN", PIN)
                .stdin(std::process::Stdio::null());
        },
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
}

/// The manual registration: the CLI writes the tokens, `tokens sign` signs them on the
/// token, and the answer to "Enter public key PEM file path:" is the URI of the key pair.
#[test]
fn manual_registration_takes_the_public_key_from_the_token() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (store, _) = token_with_generated_key(hsm.work.path());
    let token = hsm.path("register.json");
    let mut cmd = hsm.command(&[
        "user",
        "change-mfa",
        "token-sign",
        "--username",
        "alice",
        "--role",
        "crypto-user",
        "--change-password",
        ALICE_PW,
        "--token",
        path_str(&token),
    ]);
    cmd.env("CLOUDHSM_ROLE", "crypto-user")
        .env("CLOUDHSM_PIN", format!("alice:{ALICE_PW}"));
    let mut cli = Driver::start(cmd);
    cli.wait_for(SIGNED_PROMPT, 1);
    ok(sign_args(
        &token,
        std::path::Path::new(&store.uri_with_pin("t", "alice")),
    ));
    cli.send("");
    cli.wait_for(PUBLIC_KEY_PROMPT, 1);
    cli.send(&store.uri("t", "alice", ""));
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let mfa = &hsm.user_row("alice").unwrap()["mfa"];
    assert_eq!(mfa[0]["status"], "enabled", "{mfa}");
    let r = hsm.run(
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
            &store.uri_with_pin("t", "alice"),
        ],
        "",
    );
    assert_eq!(succeeded(&r)["username"], "alice");
}
