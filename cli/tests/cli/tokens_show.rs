//! `tokens show`: the kind and the decoded entries of a token file.

use std::ffi::OsStr;
use std::fs;

use serde_json::json;

use crate::common::*;

#[test]
fn show_an_unsigned_mfa_file() {
    let dir = tempdir();
    let (token, tokens) = mfa_file(dir.path(), "token.json", 3);
    let data = ok(["tokens", "show", path_str(&token)]);
    assert_eq!(data["token_file"], path_str(&token));
    assert_eq!(data["kind"], "mfa");
    assert_eq!(data["signed"], 0);
    assert_eq!(data["unsigned"], 3);
    let file = read_json(&token);
    let shown = data["tokens"].as_array().unwrap();
    assert_eq!(shown.len(), 3);
    for (i, (entry, t)) in shown.iter().zip(&tokens).enumerate() {
        assert_eq!(entry["index"], i);
        assert_eq!(entry["state"], "unsigned");
        assert_eq!(entry["unsigned"], file["tokens"][i]["unsigned"]);
        assert_eq!(entry["unsigned_hex"], hex(t));
        assert_eq!(entry["signed"], "");
        assert_eq!(entry["signature_bytes"], 0);
        assert!(entry.get("approval_data").is_none());
    }
}

#[test]
fn show_a_partly_signed_file() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, tokens) = mfa_file(dir.path(), "token.json", 2);
    let signature = openssl_sign_token(dir.path(), &key, &tokens[1]);
    let mut doc = read_json(&token);
    doc["tokens"][1]["signed"] = json!(b64(&signature));
    write_json(&token, &doc);
    let data = ok(["tokens", "show", path_str(&token)]);
    assert_eq!(
        (data["signed"].clone(), data["unsigned"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(data["tokens"][0]["state"], "unsigned");
    assert_eq!(data["tokens"][1]["state"], "signed");
    assert_eq!(data["tokens"][1]["signed"], b64(&signature));
    assert_eq!(data["tokens"][1]["signature_bytes"], 256);
}

#[test]
fn show_a_registration_file() {
    let dir = tempdir();
    let approval = random_bytes(100);
    let unsigned = sha256(dir.path(), &approval);
    let token = dir.path().join("reg.json");
    write_json(
        &token,
        &json!({"version": "2.0", "tokens": [
            {"approval_data": b64(&approval), "unsigned": b64(&unsigned), "signed": ""}]}),
    );
    let data = ok(["tokens", "show", path_str(&token)]);
    assert_eq!(data["kind"], "registration");
    assert_eq!(data["tokens"][0]["approval_data"], b64(&approval));
    assert_eq!(data["tokens"][0]["unsigned_hex"], hex(&unsigned));
}

#[test]
fn show_a_quorum_approval_file() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, data_bytes) = approval_file(dir.path(), "approval.json");
    ok(with(
        sign_args(&token, &key),
        &[OsStr::new("--username"), OsStr::new("Admin_1")],
    ));
    let file = read_json(&token);
    let data = ok(["tokens", "show", path_str(&token)]);
    assert_eq!(data["kind"], "quorum-approval");
    assert_eq!(data["approval_data"], b64(&data_bytes));
    assert_eq!(data["approval_data_bytes"], 240);
    assert_eq!(data["token"], file["token"]);
    assert_eq!(data["token_hex"], hex(&sha256(dir.path(), &data_bytes)));
    assert_eq!(
        data["signatures"],
        json!([{"index": 0, "username": "admin_1",
                "signature": file["signatures"][0]["signature"], "signature_bytes": 256}])
    );
}

#[test]
fn show_a_bad_file_names_the_path_and_the_field() {
    let dir = tempdir();
    let token = dir.path().join("bad.json");
    write_json(
        &token,
        &json!({"version": "2.0", "tokens": [
            {"unsigned": b64(&random_bytes(32)), "signed": ""},
            {"unsigned": b64(&random_bytes(32)), "signed": ""},
            {"unsigned": "not base64!", "signed": ""}]}),
    );
    let before = fs::read(&token).unwrap();
    let message = fail(["tokens", "show", path_str(&token)]);
    assert!(message.contains(path_str(&token)), "{message}");
    assert!(message.contains("tokens[2].unsigned"), "{message}");
    assert!(message.contains("base64"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}
