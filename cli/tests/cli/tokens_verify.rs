//! `tokens verify`: each entry's status, and exit 1 with the entry named when not all
//! signatures are valid.

use std::ffi::OsStr;
use std::fs;

use serde_json::{json, Value};

use crate::common::*;

fn statuses(data: &Value) -> Vec<String> {
    data["entries"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, e)| {
            assert_eq!(e["index"], i);
            e["status"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn verify_a_signed_file_lists_every_entry_as_valid() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 3);
    ok(sign_args(&token, &key));
    let data = ok(verify_args(&token, &public));
    assert_eq!(data["valid"], true);
    assert_eq!(data["kind"], "mfa");
    assert_eq!(data["token_file"], path_str(&token));
    assert_eq!(statuses(&data), ["valid", "valid", "valid"]);
}

#[test]
fn verify_accepts_signatures_made_by_openssl() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let tokens: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(32)).collect();
    let entries: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"unsigned": b64(t), "signed": b64(&openssl_sign_token(dir.path(), &key, t))}))
        .collect();
    let token = dir.path().join("token.json");
    write_json(&token, &json!({"version": "2.0", "tokens": entries}));
    let data = ok(verify_args(&token, &public));
    assert_eq!(statuses(&data), ["valid", "valid", "valid"]);
}

#[test]
fn verify_with_another_key_fails_naming_the_first_entry() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (_, other) = rsa_key(dir.path(), "other", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 3);
    ok(sign_args(&token, &key));
    let message = fail(verify_args(&token, &other));
    assert!(message.contains(path_str(&token)), "{message}");
    assert!(message.contains("tokens[0].signed"), "{message}");
    assert!(message.contains("does not verify"), "{message}");
    assert!(
        message.contains("0 invalid, 1 invalid, 2 invalid"),
        "{message}"
    );
}

#[test]
fn verify_names_a_swapped_signature() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 3);
    ok(sign_args(&token, &key));
    let mut doc = read_json(&token);
    doc["tokens"][1]["signed"] = doc["tokens"][0]["signed"].clone();
    write_json(&token, &doc);
    let message = fail(verify_args(&token, &public));
    assert!(message.contains("tokens[1].signed"), "{message}");
    assert!(message.contains("0 valid, 1 invalid, 2 valid"), "{message}");
}

#[test]
fn verify_an_unsigned_file_says_not_signed() {
    let dir = tempdir();
    let (_, public) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 2);
    let message = fail(verify_args(&token, &public));
    assert!(
        message.contains("tokens[0].signed: not signed yet"),
        "{message}"
    );
    assert!(message.contains("0 unsigned, 1 unsigned"), "{message}");
}

#[test]
fn verify_reports_a_signature_of_the_wrong_length() {
    let dir = tempdir();
    let (big, _) = rsa_key(dir.path(), "big", 3072);
    let (_, public) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 2);
    ok(sign_args(&token, &big));
    let message = fail(verify_args(&token, &public));
    assert!(message.contains("tokens[0].signed"), "{message}");
    assert!(message.contains("384 bytes"), "{message}");
    assert!(
        message.contains("0 wrong-length, 1 wrong-length"),
        "{message}"
    );
}

#[test]
fn verify_a_quorum_approval_for_each_approver() {
    let dir = tempdir();
    let (alice, alice_pub) = rsa_key(dir.path(), "alice", 2048);
    let (bob, bob_pub) = rsa_key(dir.path(), "bob", 2048);
    let (token, _) = approval_file(dir.path(), "approval.json");
    let user = |name: &'static str| [OsStr::new("--username"), OsStr::new(name)];
    ok(with(sign_args(&token, &alice), &user("alice")));
    ok(with(sign_args(&token, &bob), &user("bob")));

    let data = ok(with(verify_args(&token, &alice_pub), &user("Alice")));
    assert_eq!(data["kind"], "quorum-approval");
    assert_eq!(data["valid"], true);
    assert_eq!(
        data["entries"],
        json!([{"index": 0, "username": "alice", "status": "valid"}])
    );
    let data = ok(with(verify_args(&token, &bob_pub), &user("bob")));
    assert_eq!(
        data["entries"],
        json!([{"index": 1, "username": "bob", "status": "valid"}])
    );

    let message = fail(with(verify_args(&token, &alice_pub), &user("bob")));
    assert!(message.contains("signatures[1].signature"), "{message}");
    assert!(message.contains("does not verify"), "{message}");
}

#[test]
fn verify_a_quorum_approval_for_a_user_who_did_not_approve() {
    let dir = tempdir();
    let (alice, alice_pub) = rsa_key(dir.path(), "alice", 2048);
    let (token, _) = approval_file(dir.path(), "approval.json");
    ok(with(
        sign_args(&token, &alice),
        &[OsStr::new("--username"), OsStr::new("alice")],
    ));
    let message = fail(with(
        verify_args(&token, &alice_pub),
        &[OsStr::new("--username"), OsStr::new("carol")],
    ));
    assert!(message.contains("carol"), "{message}");
    assert!(message.contains("not signed yet"), "{message}");
    let message = fail(verify_args(&token, &alice_pub));
    assert!(message.contains("user name"), "{message}");
}

#[test]
fn verify_with_a_private_key_or_a_missing_key_fails_clearly() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 1);
    ok(sign_args(&token, &key));
    let before = fs::read(&token).unwrap();
    let message = fail(verify_args(&token, &key));
    assert!(message.contains("private key"), "{message}");
    let missing = dir.path().join("missing.pub");
    let message = fail(verify_args(&token, &missing));
    assert!(message.contains(path_str(&missing)), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before, "verify never writes");
}
