//! The CLI's log (SPEC §10): from the `logging` section of the configuration a cluster
//! command uses, to a file or to stderr, never to stdout; the login it shows names the
//! user and the operations, never the password, a token or a signature.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

/// A copy of the cluster's configuration with `logging` as its `logging` section.
fn config_with(hsm: &Hsm, logging: Value) -> PathBuf {
    let mut config = read_json(&hsm.config);
    config["logging"] = logging;
    let path = hsm.path("logged.cfg");
    write_json(&path, &config);
    path
}

#[test]
fn the_log_of_an_mfa_login_names_the_user_and_the_operations_and_no_secret() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (key, _) = rsa_key(hsm.work.path(), "alice", 2048);
    hsm.register_alice(&key);
    let log = hsm.path("logs/cli.log");
    let config = config_with(
        &hsm,
        json!({"log_type": "file", "log_file": log, "log_level": "debug", "log_interval": "never"}),
    );
    let token = hsm.path("login.json");
    let mut cli = Driver::start(hsm.command_with(
        &config,
        &[
            "login",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "mfa-token-sign",
            "--token",
            path_str(&token),
        ],
    ));
    cli.wait_for("Enter password:", 1);
    cli.send(ALICE_PW);
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&token, &key, &token);
    cli.send("");
    let (code, stdout, stderr) = cli.finish();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert_eq!(
        documents(&stdout).len(),
        1,
        "stdout holds the result: {stdout}"
    );

    let text = std::fs::read_to_string(&log).unwrap();
    let has = |needles: &[&str]| {
        text.lines()
            .any(|line| needles.iter().all(|n| line.contains(n)))
    };
    for needles in [
        &[" INFO ", "session opened", "hsms=3", "connected=3"][..],
        &[
            " INFO ",
            "cluster request",
            "op=login ",
            "user=\"alice\"",
            "role=\"crypto-user\"",
            "hsms=3 ok=3 result=ok",
        ],
        &[
            "cluster request",
            "op=login_mfa ",
            "user=\"alice\"",
            "result=ok",
        ],
        &[" DEBUG ", "HSM answer", "op=login ", "result=challenge"],
        &[" DEBUG ", "HSM answer", "op=login_mfa ", "result=logged_in"],
        &[" INFO ", "logged in", "user=\"alice\"", "hsms=3 of=3"],
    ] {
        assert!(has(needles), "no line with {needles:?}:\n{text}");
    }
    let mut secrets = vec![ALICE_PW.to_string()];
    for entry in read_json(&token)["tokens"].as_array().unwrap() {
        for field in ["unsigned", "signed"] {
            let value = entry[field].as_str().unwrap();
            assert!(value.len() > 40, "{entry}");
            secrets.push(value.to_string());
        }
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the log shows {secret:?}:\n{text}"
        );
    }
    assert_hidden(&stdout, &stderr, &[ALICE_PW]);
}

#[test]
fn term_logs_go_to_stderr_and_stdout_keeps_only_the_result() {
    let hsm = Hsm::activated();
    let config = config_with(&hsm, json!({"log_type": "term", "log_level": "info"}));
    let r = hsm.run_cmd(hsm.command_with(&config, &["user", "list"]), "");
    succeeded(&r);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains(" INFO ") && l.contains("op=list_users")),
        "{}",
        r.stderr
    );
    assert!(!r.stdout.contains("cluster request"), "{}", r.stdout);
    // The configuration the emulator writes logs warnings only: a command that goes well
    // prints no log line.
    let quiet = hsm.run(&["user", "list"], "");
    succeeded(&quiet);
    assert!(
        !quiet.stderr.contains("cluster request"),
        "{}",
        quiet.stderr
    );
}

#[test]
fn a_bad_logging_section_is_a_configuration_error_naming_the_field() {
    let hsm = Hsm::activated();
    let config = config_with(&hsm, json!({"log_type": "term", "log_level": "loud"}));
    let message = check_failure(&hsm.run_cmd(hsm.command_with(&config, &["user", "list"]), ""));
    assert!(
        message.contains("logged.cfg")
            && message.contains(
                "logging.log_level: \"loud\" is not one of error, warn, info, debug, trace"
            ),
        "{message}"
    );
    let config = config_with(
        &hsm,
        json!({"log_type": "file", "log_file": "/dev/null/cli.log", "log_level": "info"}),
    );
    let message = check_failure(&hsm.run_cmd(hsm.command_with(&config, &["user", "list"]), ""));
    assert!(
        message.contains("logging.log_file: cannot open the log file /dev/null/cli.log"),
        "{message}"
    );
}
