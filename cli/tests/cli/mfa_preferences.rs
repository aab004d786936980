//! MFA preferences and factors through the CLI against a live cluster (SPEC §11.4): the
//! seed's example (a user who prefers a software token, with SMS and email disabled),
//! get-mfa-preference in Cognito's vocabulary, the select and code prompts of interactive
//! mode with codes read from the outbox, CLOUDHSM_MFA_CODE in single-command mode, the
//! shorthand, JSON and skeleton forms, and the refusals.

use std::time::{SystemTime, UNIX_EPOCH};

use cloudhsm_mfa::mfa::totp;
use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ok(doc: Value) -> Value {
    ok_data(&doc)
}

/// The last code the outbox holds for `to`.
fn outbox_code(hsm: &Hsm, to: &str) -> String {
    let text = std::fs::read_to_string(hsm.cluster.dir().join("outbox.jsonl")).unwrap();
    text.lines()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|m| m["to"] == to)
        .unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string()
}

/// alice with a verified software token (verified with the previous step's code, so that
/// the current step's code can log in); returns her secret.
fn alice_with_a_software_token(cli: &mut Driver) -> Vec<u8> {
    ok(cli.command(&format!(
        "login --username admin --role admin --password {ADMIN_PW}"
    )));
    ok(cli.command(&format!(
        "user create --username alice --role crypto-user --password {ALICE_PW}"
    )));
    ok(cli.command("logout"));
    ok(cli.command(&format!(
        "login --username alice --role crypto-user --password {ALICE_PW}"
    )));
    let secret =
        ok(cli.command("user associate-software-token --username alice --role crypto-user"));
    let uri = secret["otpauth-uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/cloudhsm-mfa:alice@"),
        "{uri}"
    );
    let secret = totp::decode_secret(secret["secret-code"].as_str().unwrap()).unwrap();
    let refused = error_message(&cli.command(
        "user verify-software-token --username alice --role crypto-user --user-code 000000",
    ));
    assert_eq!(
        refused.split(": ").last().unwrap(),
        "Code mismatch and fail enable Software Token MFA"
    );
    let code = totp::code_at(&secret, now() - totp::STEP_SECS);
    assert_eq!(
        ok(cli.command(&format!(
            "user verify-software-token --username alice --role crypto-user --user-code {code} --friendly-device-name phone"
        ))),
        json!({"status": "SUCCESS"})
    );
    secret
}

#[test]
fn the_seed_example_prefers_a_software_token_and_the_login_asks_for_its_code() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    let secret = alice_with_a_software_token(&mut cli);
    let view = ok(cli.command(
        "user set-mfa-preference --username alice --role crypto-user \
         --software-token-mfa-settings Enabled=true,PreferredMfa=true \
         --sms-mfa-settings Enabled=false --email-mfa-settings Enabled=false",
    ));
    let expected = json!({"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"});
    assert_eq!(view, expected);
    assert_eq!(
        ok(cli.command("user get-mfa-preference --username alice")),
        expected
    );
    let list = ok(cli.command("user list"));
    let alice = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap();
    assert_eq!(
        alice["mfa"],
        json!([{"strategy": "software-token", "status": "enabled"}])
    );
    ok(cli.command("logout"));

    // The login asks for the code at the prompt.
    cli.send(&format!(
        "login --username alice --role crypto-user --password {ALICE_PW}"
    ));
    cli.wait_for("Enter MFA code:", 1);
    let doc = cli.command(&totp::code_at(&secret, now()));
    assert_eq!(ok(doc), identity("alice", "crypto-user"));
    cli.send("quit");
    let (_, _, stderr) = cli.finish();
    assert!(
        !stderr.contains(&totp::encode_secret(&secret)),
        "the secret is never on stderr"
    );
}

#[test]
fn several_factors_make_the_interactive_login_ask_which_and_sms_codes_come_by_the_outbox() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    alice_with_a_software_token(&mut cli);
    let refused = error_message(&cli.command(
        "user set-mfa-preference --username alice --role crypto-user --sms-mfa-settings Enabled=true",
    ));
    assert!(
        refused.contains("User does not have a phone_number set to turn on SMS MFA"),
        "{refused}"
    );
    ok(cli.command(
        "user update-attributes --username alice --role crypto-user --phone-number +14155550100",
    ));
    let view = ok(cli.command(
        r#"user set-mfa-preference --username alice --role crypto-user --software-token-mfa-settings '{"Enabled": true}' --sms-mfa-settings Enabled=TRUE"#,
    ));
    assert_eq!(
        view,
        json!({"UserMFASettingList": ["SOFTWARE_TOKEN_MFA", "SMS_MFA"]})
    );
    let refused = error_message(&cli.command(
        "user set-mfa-preference --username alice --role crypto-user \
         --sms-mfa-settings Enabled=true,PreferredMfa=true --software-token-mfa-settings Enabled=true,PreferredMfa=true",
    ));
    assert!(
        refused.contains("only one MFA factor may be preferred"),
        "{refused}"
    );
    ok(cli.command("logout"));

    cli.send(&format!(
        "login --username alice --role crypto-user --password {ALICE_PW}"
    ));
    cli.wait_for("Select MFA type (software-token, sms):", 1);
    cli.send("sms");
    cli.wait_for("Enter MFA code:", 1);
    let doc = cli.command(&outbox_code(&hsm, "+14155550100"));
    assert_eq!(ok(doc), identity("alice", "crypto-user"));
    cli.send("quit");
    cli.finish();
}

#[test]
fn single_command_mode_never_asks_and_takes_a_software_token_code_from_the_environment() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    let secret = alice_with_a_software_token(&mut cli);
    ok(cli.command(
        "user set-mfa-preference --username alice --role crypto-user --software-token-mfa-settings Enabled=true",
    ));
    cli.send("quit");
    cli.finish();
    let list = ["user", "get-mfa-preference", "--username", "alice"];
    let r = hsm.run_as("crypto-user", "alice", ALICE_PW, &list, "");
    let message = check_failure(&r);
    assert!(message.contains("CLOUDHSM_MFA_CODE"), "{message}");
    assert!(!r.stderr.contains("Enter MFA code"), "{}", r.stderr);
    let mut cmd = hsm.command(&list);
    cmd.env("CLOUDHSM_ROLE", "crypto-user")
        .env("CLOUDHSM_PIN", format!("alice:{ALICE_PW}"))
        .env("CLOUDHSM_MFA_CODE", totp::code_at(&secret, now()));
    let out = cmd.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        ok(doc),
        json!({"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]})
    );
    // A login with the code on the command line.
    let r = hsm.run(
        &[
            "login",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
            "--mfa-code",
            "000000",
        ],
        "",
    );
    assert!(check_failure(&r).contains("Invalid code received for user"));
}

#[test]
fn the_skeleton_is_raw_json_and_cli_input_json_is_a_request() {
    let hsm = Hsm::activated();
    let out = hsm
        .command(&["user", "set-mfa-preference", "--generate-cli-skeleton"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let skeleton: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        skeleton.get("error_code").is_none(),
        "no envelope: {skeleton}"
    );
    assert_eq!(
        skeleton["SMSMfaSettings"],
        json!({"Enabled": true, "PreferredMfa": true})
    );
    let out = hsm
        .command(&[
            "user",
            "set-mfa-preference",
            "--generate-cli-skeleton",
            "output",
        ])
        .output()
        .unwrap();
    let sample: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(sample.get("UserMFASettingList").is_some(), "{sample}");
    // --cli-input-json: the user and the settings; nothing to enable yet is refused.
    let input = r#"{"Username": "admin", "SMSMfaSettings": {"Enabled": true}}"#;
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "set-mfa-preference",
            "--role",
            "admin",
            "--cli-input-json",
            input,
        ],
        "",
    );
    assert!(check_failure(&r).contains("phone_number"), "{}", r.stdout);
    let r = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "set-mfa-preference",
            "--role",
            "admin",
            "--cli-input-json",
            r#"{"Sms": {}}"#,
        ],
        "",
    );
    assert!(
        check_failure(&r).contains("unknown key \"Sms\""),
        "{}",
        r.stdout
    );
}
