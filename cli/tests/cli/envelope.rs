//! SPEC §9: one JSON document on stdout, `error_code` 0 or 1, exit status to match;
//! clap's argument errors in the same envelope; `--help` and `--version` as usual.

use crate::common::*;

#[test]
fn success_envelope_is_pretty_printed_with_error_code_first() {
    let dir = tempdir();
    let (file, _) = mfa_file(dir.path(), "t.json", 1);
    let r = run(["tokens", "show", path_str(&file)]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout
            .starts_with("{\n  \"error_code\": 0,\n  \"data\": {\n    \""),
        "two-space pretty printing, error_code before data:\n{}",
        r.stdout
    );
    assert!(r.stdout.ends_with("}\n"));
    assert_eq!(r.json.as_object().unwrap().len(), 2);
}

#[test]
fn failure_envelope_is_pretty_printed_with_the_message_as_data() {
    let dir = tempdir();
    let missing = dir.path().join("missing.json");
    let r = run(["tokens", "show", path_str(&missing)]);
    let message = check_failure(&r);
    assert!(
        r.stdout
            .starts_with("{\n  \"error_code\": 1,\n  \"data\": \""),
        "{}",
        r.stdout
    );
    assert!(message.contains(path_str(&missing)), "{message}");
}

#[test]
fn missing_required_arguments_answer_an_error_envelope() {
    let message = fail(["tokens", "sign"]);
    assert!(message.contains("--token"), "{message}");
    assert!(message.contains("--private-key"), "{message}");
    assert!(!message.starts_with("error:"), "{message}");
}

#[test]
fn unknown_option_answers_an_error_envelope() {
    let message = fail(["tokens", "show", "x.json", "--frobnicate"]);
    assert!(message.contains("--frobnicate"), "{message}");
}

#[test]
fn missing_command_answers_an_error_envelope() {
    let message = fail(["tokens"]);
    assert!(message.contains("sign, verify, show"), "{message}");
    // A word that is no command may be a secret: it is not repeated.
    let message = fail(["no-such-command"]);
    assert!(!message.contains("no-such-command"), "{message}");
    assert!(message.contains("not shown"), "{message}");
}

#[test]
fn bad_option_value_answers_an_error_envelope() {
    let dir = tempdir();
    let key = dir.path().join("k.pem");
    let public = dir.path().join("k.pub");
    let message = fail([
        "keygen",
        "--private-key",
        path_str(&key),
        "--public-key",
        path_str(&public),
        "--bits",
        "lots",
    ]);
    assert!(message.contains("lots"), "{message}");
    assert!(!key.exists() && !public.exists());
}

fn plain(args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(BIN).args(args).output().unwrap();
    (out.status.code(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn help_prints_usage_and_succeeds() {
    for args in [
        &["--help"][..],
        &["tokens", "--help"],
        &["tokens", "sign", "--help"],
        &["help", "keygen"],
    ] {
        let (code, stdout) = plain(args);
        assert_eq!(code, Some(0), "{args:?}");
        assert!(stdout.contains("Usage: cloudhsm-mfa"), "{args:?}: {stdout}");
        assert!(serde_json::from_str::<serde_json::Value>(&stdout).is_err());
    }
    let (_, stdout) = plain(&["tokens", "sign", "--help"]);
    for option in ["--token", "--private-key", "--output", "--username"] {
        assert!(stdout.contains(option), "{stdout}");
    }
}

#[test]
fn version_prints_the_crate_version_and_succeeds() {
    let (code, stdout) = plain(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.trim(),
        format!("cloudhsm-mfa {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_stray_password_in_single_command_mode_is_never_repeated() {
    for args in [
        &[
            "login",
            "--username",
            "admin",
            "--role",
            "admin",
            "S3cret-stray",
        ][..],
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "S3cret-stray",
        ][..],
        &[
            "--config",
            "c.cfg",
            "user",
            "change-password",
            "S3cret-stray",
        ][..],
    ] {
        let r = run(args);
        let message = check_failure(&r);
        assert!(message.contains("position"), "{message}");
        assert!(
            !r.stdout.contains("S3cret") && !r.stderr.contains("S3cret"),
            "{}{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn a_long_unknown_word_is_quoted_short() {
    let long = format!("--{}", "x".repeat(100_000));
    let message = fail(["tokens", "show", "x.json", long.as_str()]);
    assert!(message.len() < 1000, "{}", message.len());
    assert!(message.contains("(100002 characters)"), "{message}");
}
