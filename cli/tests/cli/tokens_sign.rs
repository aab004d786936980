//! `tokens sign`: every kind of token file, signatures identical to OpenSSL's, and files
//! left untouched when signing fails.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use crate::common::*;

#[test]
fn sign_mfa_file_to_output_reports_kind_and_count() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, tokens) = mfa_file(dir.path(), "token.json", 3);
    let before = fs::read(&token).unwrap();
    let out = dir.path().join("signed.json");
    let data = ok(with(
        sign_args(&token, &key),
        &[OsStr::new("--output"), out.as_os_str()],
    ));
    assert_eq!(
        data,
        json!({"token_file": path_str(&out), "kind": "mfa", "signatures": 3})
    );
    assert_eq!(
        fs::read(&token).unwrap(),
        before,
        "the input file is left as it was"
    );
    let signed = read_json(&out);
    assert_eq!(signed["version"], "2.0");
    let entries = signed["tokens"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    for (entry, t) in entries.iter().zip(&tokens) {
        assert_eq!(unb64(entry["unsigned"].as_str().unwrap()), *t);
        assert_eq!(unb64(entry["signed"].as_str().unwrap()).len(), 256);
    }
    let mode = fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn signatures_verify_with_openssl_and_are_byte_identical_to_openssl_pkeyutl_sign() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let (token, tokens) = mfa_file(dir.path(), "token.json", 3);
    ok(sign_args(&token, &key));
    let signed = read_json(&token);
    for (i, (entry, t)) in signed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&tokens)
        .enumerate()
    {
        let ours = unb64(entry["signed"].as_str().unwrap());
        assert!(
            openssl_verifies(dir.path(), &public, t, &ours),
            "tokens[{i}]"
        );
        assert_eq!(ours, openssl_sign_token(dir.path(), &key, t), "tokens[{i}]");
    }
}

#[test]
fn sign_in_place_without_output() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let (token, tokens) = mfa_file(dir.path(), "token.json", 2);
    let data = ok(sign_args(&token, &key));
    assert_eq!(data["token_file"], path_str(&token));
    assert_eq!(data["signatures"], 2);
    let signed = read_json(&token);
    for (entry, t) in signed["tokens"].as_array().unwrap().iter().zip(&tokens) {
        let sig = unb64(entry["signed"].as_str().unwrap());
        assert!(openssl_verifies(dir.path(), &public, t, &sig));
    }
    // Only the token file and the keys are in the directory: no temporary file is left.
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.ends_with(".bin"))
        .collect();
    names.sort();
    assert_eq!(names, ["key.pem", "key.pub", "token.json"]);
}

#[test]
fn sign_with_a_pkcs1_private_key() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let pkcs1 = dir.path().join("key-pkcs1.pem");
    openssl([
        OsStr::new("rsa"),
        OsStr::new("-in"),
        key.as_os_str(),
        OsStr::new("-traditional"),
        OsStr::new("-out"),
        pkcs1.as_os_str(),
    ]);
    assert!(fs::read_to_string(&pkcs1)
        .unwrap()
        .starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let (token, tokens) = mfa_file(dir.path(), "token.json", 1);
    ok(sign_args(&token, &pkcs1));
    let sig = unb64(read_json(&token)["tokens"][0]["signed"].as_str().unwrap());
    assert!(openssl_verifies(dir.path(), &public, &tokens[0], &sig));
}

#[test]
fn sign_registration_file_signs_the_hash_of_its_approval_data() {
    let dir = tempdir();
    let (key, public) = rsa_key(dir.path(), "key", 2048);
    let data = random_bytes(200);
    let unsigned = sha256(dir.path(), &data);
    let token = dir.path().join("registration.json");
    write_json(
        &token,
        &json!({"version": "2.0", "tokens": [
            {"approval_data": b64(&data), "unsigned": b64(&unsigned), "signed": ""}]}),
    );
    let out = ok(sign_args(&token, &key));
    assert_eq!(out["kind"], "registration");
    assert_eq!(out["signatures"], 1);
    let entry = &read_json(&token)["tokens"][0];
    assert_eq!(unb64(entry["approval_data"].as_str().unwrap()), data);
    let sig = unb64(entry["signed"].as_str().unwrap());
    assert!(openssl_verifies(dir.path(), &public, &unsigned, &sig));
    assert_eq!(sig, openssl_sign_token(dir.path(), &key, &unsigned));
}

#[test]
fn sign_quorum_approval_equals_openssl_dgst_sign_of_the_approval_data() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "alice", 2048);
    let (token, data) = approval_file(dir.path(), "approval.json");
    let out = ok(with(
        sign_args(&token, &key),
        &[OsStr::new("--username"), OsStr::new("Alice")],
    ));
    assert_eq!(
        out,
        json!({"token_file": path_str(&token), "kind": "quorum-approval", "signatures": 1})
    );
    let signed = read_json(&token);
    let approvals = signed["signatures"].as_array().unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0]["username"], "alice");
    let data_file = dir.path().join("approval_data.bin");
    fs::write(&data_file, &data).unwrap();
    let expected = openssl([
        OsStr::new("dgst"),
        OsStr::new("-sha256"),
        OsStr::new("-sign"),
        key.as_os_str(),
        data_file.as_os_str(),
    ])
    .stdout;
    assert_eq!(unb64(approvals[0]["signature"].as_str().unwrap()), expected);
}

#[test]
fn second_approver_is_appended_and_a_repeat_replaces() {
    let dir = tempdir();
    let (alice, _) = rsa_key(dir.path(), "alice", 2048);
    let (bob, _) = rsa_key(dir.path(), "bob", 2048);
    let (token, _) = approval_file(dir.path(), "approval.json");
    let user = |name: &'static str| [OsStr::new("--username"), OsStr::new(name)];
    ok(with(sign_args(&token, &alice), &user("alice")));
    ok(with(sign_args(&token, &bob), &user("bob")));
    ok(with(sign_args(&token, &bob), &user("BOB")));
    let names: Vec<_> = read_json(&token)["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["alice", "bob"]);
}

#[test]
fn bad_token_file_names_the_path_and_the_entry_and_changes_nothing() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let token = dir.path().join("token.json");
    write_json(
        &token,
        &json!({"version": "2.0", "tokens": [
            {"unsigned": b64(&random_bytes(32)), "signed": ""},
            {"unsigned": b64(&random_bytes(31)), "signed": ""}]}),
    );
    let before = fs::read(&token).unwrap();
    let out = dir.path().join("out.json");
    let message = fail(with(
        sign_args(&token, &key),
        &[OsStr::new("--output"), out.as_os_str()],
    ));
    assert!(message.contains(path_str(&token)), "{message}");
    assert!(message.contains("tokens[1].unsigned"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
    assert!(!out.exists());
}

#[test]
fn unknown_field_names_the_path_and_the_field() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let token = dir.path().join("token.json");
    write_json(
        &token,
        &json!({"version": "2.0", "tokens": [
            {"unsigned": b64(&random_bytes(32)), "signed": "", "extra": 1}]}),
    );
    let before = fs::read(&token).unwrap();
    let message = fail(sign_args(&token, &key));
    assert!(message.contains(path_str(&token)), "{message}");
    assert!(message.contains("tokens[0]"), "{message}");
    assert!(message.contains("extra"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn missing_key_file_is_named_and_changes_nothing() {
    let dir = tempdir();
    let (token, _) = mfa_file(dir.path(), "token.json", 2);
    let before = fs::read(&token).unwrap();
    let key = dir.path().join("no-such-key.pem");
    let message = fail(sign_args(&token, &key));
    assert!(message.contains(path_str(&key)), "{message}");
    assert!(message.contains("cannot read"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn ec_key_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let key = ec_key(dir.path());
    let (token, _) = mfa_file(dir.path(), "token.json", 3);
    let before = fs::read(&token).unwrap();
    let message = fail(sign_args(&token, &key));
    assert!(message.contains(path_str(&key)), "{message}");
    assert!(message.contains("EC key"), "{message}");
    assert!(message.contains("RSA"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn public_key_given_as_private_key_is_refused() {
    let dir = tempdir();
    let (_, public) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 1);
    let before = fs::read(&token).unwrap();
    let message = fail(sign_args(&token, &public));
    assert!(message.contains("public key"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn username_on_an_mfa_file_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 3);
    let before = fs::read(&token).unwrap();
    let message = fail(with(
        sign_args(&token, &key),
        &[OsStr::new("--username"), OsStr::new("alice")],
    ));
    assert!(message.contains("user name"), "{message}");
    assert!(message.contains("MFA token file"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn quorum_file_without_username_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = approval_file(dir.path(), "approval.json");
    let before = fs::read(&token).unwrap();
    let message = fail(sign_args(&token, &key));
    assert!(message.contains("user name"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn bad_username_for_a_quorum_file_is_refused_and_changes_nothing() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = approval_file(dir.path(), "approval.json");
    let before = fs::read(&token).unwrap();
    let message = fail(with(
        sign_args(&token, &key),
        &[OsStr::new("--username"), OsStr::new("bob-smith")],
    ));
    assert!(message.contains("'-'"), "{message}");
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn a_fifo_as_token_file_or_key_is_refused_at_once_and_changes_nothing() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 2);
    let before = fs::read(&token).unwrap();
    let pipe = dir.path().join("pipe");
    assert!(std::process::Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .unwrap()
        .success());
    for args in [sign_args(&pipe, &key), sign_args(&token, &pipe)] {
        let message = check_failure(&run_within_20s(args));
        assert!(
            message.contains(path_str(&pipe)) && message.contains("FIFO"),
            "{message}"
        );
    }
    assert_eq!(fs::read(&token).unwrap(), before);
}

#[test]
fn a_private_key_readable_by_others_is_used_with_a_warning() {
    let dir = tempdir();
    let (key, _) = rsa_key(dir.path(), "key", 2048);
    let (token, _) = mfa_file(dir.path(), "token.json", 1);
    let r = run(sign_args(&token, &key));
    assert_eq!(r.json["error_code"], 0, "{}", r.stdout);
    assert!(
        !r.stderr.contains("warning"),
        "a 0600 key gives no warning: {}",
        r.stderr
    );
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    let (token, _) = mfa_file(dir.path(), "token.json", 1);
    let r = run(sign_args(&token, &key));
    assert_eq!(r.json["error_code"], 0, "{}", r.stdout);
    assert!(
        r.stderr.contains(&format!(
            "warning: {} is readable by group or others (mode 0644); keep private keys at mode 0600",
            path_str(&key)
        )),
        "{}",
        r.stderr
    );
}
