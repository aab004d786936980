//! SPEC §2: the three token-file shapes, the reading and writing rules of §2.4, and the
//! token-file operations (sign all, add an approval, verify). Every bad input checks the
//! error text (file, field, entry) and that nothing on disk changed.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use cloudhsm_mfa::crypto::{random_token, sha256};
use cloudhsm_mfa::{
    sign_file, Content, EntryStatus, Error, PrivateKey, PublicKey, TokenFile, TokenFileKind,
};

fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

fn key() -> PrivateKey {
    PrivateKey::generate(2048).unwrap()
}

/// Writes `text` to `name` in `dir` and returns the path.
fn put(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).unwrap();
    p
}

fn mfa_json(tokens: &[[u8; 32]]) -> String {
    let entries: Vec<String> = tokens
        .iter()
        .map(|t| format!(r#"{{"unsigned": "{}", "signed": ""}}"#, b64(t)))
        .collect();
    format!(
        r#"{{"version": "2.0", "tokens": [{}]}}"#,
        entries.join(", ")
    )
}

/// Loads `text` as a token file in a fresh directory and returns the error message, after
/// checking the file was not touched.
fn load_error(text: &[u8]) -> (Error, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.json");
    fs::write(&p, text).unwrap();
    let err = TokenFile::load(&p).unwrap_err();
    assert_eq!(
        fs::read(&p).unwrap(),
        text,
        "a failed read must not change the file"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with(&p.display().to_string()),
        "message names the file: {msg}"
    );
    (err, msg)
}

#[test]
fn mfa_token_file_round_trips_in_the_documented_shape() {
    let tokens = [
        random_token().unwrap(),
        random_token().unwrap(),
        random_token().unwrap(),
    ];
    let file = TokenFile::new_mfa(&tokens).unwrap();
    assert_eq!(file.kind(), TokenFileKind::Mfa);
    let json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    assert_eq!(json["version"], "2.0");
    assert_eq!(json["tokens"].as_array().unwrap().len(), 3);
    for (i, t) in tokens.iter().enumerate() {
        assert_eq!(json["tokens"][i]["unsigned"], b64(t));
        assert_eq!(json["tokens"][i]["signed"], "");
    }
    assert_eq!(TokenFile::parse(file.to_json().as_bytes()).unwrap(), file);
}

#[test]
fn pretty_printed_aws_examples_parse_with_any_whitespace() {
    let t1 = b64(&[7u8; 32]);
    let t2 = b64(&[9u8; 32]);
    let text = format!(
        "{{\r\n\t\"version\"  :  \"2.0\",\n  \"tokens\": [\n    {{\n      \"unsigned\": \"{t1}\",\n      \"signed\": \"\"\n    }},\n\n    {{ \"unsigned\":\"{t2}\",\"signed\":\"\" }}\n  ]\n}}\n\n"
    );
    let file = TokenFile::parse(text.as_bytes()).unwrap();
    assert_eq!(file.tokens().len(), 2);
    assert_eq!(file.tokens()[1].unsigned, [9u8; 32]);

    let data = vec![1u8; 240]; // 3 HSMs x 80 bytes, as in the AWS example
    let approval = format!(
        "{{\n  \"version\": \"2.0\",\n  \"approval_data\": \"{}\",\n  \"token\": \"{}\",\n  \"signatures\": []\n}}",
        b64(&data),
        b64(&sha256(&data))
    );
    let file = TokenFile::parse(approval.as_bytes()).unwrap();
    assert_eq!(file.kind(), TokenFileKind::QuorumApproval);
}

#[test]
fn a_utf8_byte_order_mark_is_accepted() {
    let mut text = "\u{feff}".as_bytes().to_vec();
    text.extend(mfa_json(&[[1u8; 32]]).as_bytes());
    assert!(TokenFile::parse(&text).is_ok());
}

#[test]
fn registration_token_is_sha256_of_approval_data() {
    let data = b"quorum registration approval data".to_vec();
    let file = TokenFile::new_registration(data.clone()).unwrap();
    assert_eq!(file.kind(), TokenFileKind::Registration);
    assert_eq!(file.tokens()[0].unsigned, sha256(&data));
    let again = TokenFile::parse(file.to_json().as_bytes()).unwrap();
    assert_eq!(again.tokens()[0].approval_data.as_deref(), Some(&data[..]));

    let too_long = vec![0u8; 246];
    assert!(TokenFile::new_registration(too_long.clone()).is_err());
    let text = format!(
        r#"{{"version":"2.0","tokens":[{{"approval_data":"{}","unsigned":"{}","signed":""}}]}}"#,
        b64(&too_long),
        b64(&sha256(&too_long))
    );
    let (_, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[0].approval_data: decodes to 246 bytes"),
        "{msg}"
    );
}

#[test]
fn registration_unsigned_must_match_its_approval_data() {
    let text = format!(
        r#"{{"version":"2.0","tokens":[{{"approval_data":"{}","unsigned":"{}","signed":""}}]}}"#,
        b64(b"data"),
        b64(&[0u8; 32])
    );
    let (_, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[0].unsigned: is not the SHA-256 of approval_data"),
        "{msg}"
    );
}

#[test]
fn a_file_mixing_mfa_and_registration_entries_is_refused() {
    let data = b"x".to_vec();
    let text = format!(
        r#"{{"version":"2.0","tokens":[{{"approval_data":"{}","unsigned":"{}","signed":""}},{{"unsigned":"{}","signed":""}}]}}"#,
        b64(&data),
        b64(&sha256(&data)),
        b64(&[3u8; 32])
    );
    let (err, msg) = load_error(text.as_bytes());
    assert!(msg.contains("tokens[1].approval_data: missing"), "{msg}");
    assert_eq!(err.entry(), Some(1));
}

#[test]
fn missing_version_is_an_error() {
    let (_, msg) = load_error(br#"{"tokens": []}"#);
    assert!(msg.contains("version: missing"), "{msg}");
}

#[test]
fn wrong_version_is_an_error() {
    let text = mfa_json(&[[1u8; 32]]).replace("2.0", "1.0");
    let (_, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("version: is \"1.0\"; only \"2.0\" is supported"),
        "{msg}"
    );
    let text = mfa_json(&[[1u8; 32]]).replace("\"2.0\"", "2.0");
    let (_, msg) = load_error(text.as_bytes());
    assert!(msg.contains("version: is 2.0;"), "{msg}");
}

#[test]
fn unknown_top_level_field_is_an_error() {
    let text = mfa_json(&[[1u8; 32]]).replacen('{', r#"{"comment": "x", "#, 1);
    let (_, msg) = load_error(text.as_bytes());
    assert!(msg.contains("comment: unknown field"), "{msg}");
}

#[test]
fn unknown_entry_field_names_the_entry() {
    let text =
        mfa_json(&[[1u8; 32], [2u8; 32]]).replacen(r#""signed": """#, r#""signed": "", "x": 1"#, 2);
    let text = text.replacen(r#""signed": "", "x": 1"#, r#""signed": """#, 1);
    let (err, msg) = load_error(text.as_bytes());
    assert!(msg.contains("tokens[1].x: unknown field"), "{msg}");
    assert_eq!(err.entry(), Some(1));
}

#[test]
fn duplicate_json_keys_are_an_error() {
    let t = b64(&[1u8; 32]);
    let text =
        format!(r#"{{"version":"2.0","tokens":[{{"unsigned":"{t}","signed":"","signed":""}}]}}"#);
    let (_, msg) = load_error(text.as_bytes());
    assert!(msg.contains("\"signed\" appears twice"), "{msg}");
}

#[test]
fn empty_tokens_array_is_an_error() {
    let (_, msg) = load_error(br#"{"version": "2.0", "tokens": []}"#);
    assert!(msg.contains("tokens: is empty"), "{msg}");
}

#[test]
fn unsigned_not_base64_names_field_and_entry() {
    let text = mfa_json(&[[1u8; 32], [2u8; 32]]).replace(&b64(&[2u8; 32]), "not*base64!");
    let (err, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[1].unsigned: not valid base64"),
        "{msg}"
    );
    assert_eq!(err.entry(), Some(1));
}

#[test]
fn unsigned_without_padding_is_not_standard_base64() {
    let t = b64(&[1u8; 32]);
    let text = mfa_json(&[[1u8; 32]]).replace(&t, t.trim_end_matches('='));
    let (_, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[0].unsigned: not valid base64"),
        "{msg}"
    );
}

#[test]
fn unsigned_of_wrong_length_is_an_error() {
    let text = mfa_json(&[[1u8; 32]]).replace(&b64(&[1u8; 32]), &b64(&[1u8; 31]));
    let (_, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[0].unsigned: decodes to 31 bytes; a token is 32 bytes"),
        "{msg}"
    );
}

#[test]
fn duplicate_unsigned_values_are_an_error() {
    let text = mfa_json(&[[1u8; 32], [2u8; 32], [1u8; 32]]);
    let (err, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[2].unsigned: same value as tokens[0].unsigned"),
        "{msg}"
    );
    assert_eq!(err.entry(), Some(2));
}

#[test]
fn signature_of_wrong_length_is_an_error() {
    let text = mfa_json(&[[1u8; 32], [2u8; 32]]);
    let text = text.replacen(
        r#""signed": """#,
        &format!(r#""signed": "{}""#, b64(&[0u8; 256])),
        1,
    );
    let text = text.replacen(
        r#""signed": """#,
        &format!(r#""signed": "{}""#, b64(&[0u8; 100])),
        1,
    );
    let (err, msg) = load_error(text.as_bytes());
    assert!(
        msg.contains("tokens[1].signed: signature is 100 bytes"),
        "{msg}"
    );
    assert_eq!(err.entry(), Some(1));
}

#[test]
fn signature_not_base64_is_an_error() {
    let text = mfa_json(&[[1u8; 32]]).replace(r#""signed": """#, r#""signed": "@@@""#);
    let (_, msg) = load_error(text.as_bytes());
    assert!(msg.contains("tokens[0].signed: not valid base64"), "{msg}");
}

#[test]
fn missing_signed_field_is_an_error() {
    let text = mfa_json(&[[1u8; 32]]).replace(r#", "signed": """#, "");
    let (_, msg) = load_error(text.as_bytes());
    assert!(msg.contains("tokens[0].signed: missing"), "{msg}");
}

#[test]
fn a_file_over_one_mebibyte_is_refused() {
    let mut text = mfa_json(&[[1u8; 32]]).into_bytes();
    text.extend(std::iter::repeat_n(b' ', 1024 * 1024));
    let (err, msg) = load_error(&text);
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert!(
        msg.contains("more than the limit of 1048576 bytes"),
        "{msg}"
    );
}

#[test]
fn not_json_is_an_error() {
    let (_, msg) = load_error(b"version: 2.0\ntokens: []\n");
    assert!(msg.contains("document: not valid JSON"), "{msg}");
    let (_, msg) = load_error(b"[1, 2]");
    assert!(msg.contains("document: must be a JSON object"), "{msg}");
}

#[test]
fn not_utf8_is_an_error() {
    let mut text = mfa_json(&[[1u8; 32]]).into_bytes();
    text[3] = 0xff;
    let (_, msg) = load_error(&text);
    assert!(
        msg.contains("document: not UTF-8 text (bad byte at offset 3)"),
        "{msg}"
    );
}

#[test]
fn entries_of_the_wrong_type_are_errors() {
    let (_, msg) = load_error(br#"{"version":"2.0","tokens":"x"}"#);
    assert!(msg.contains("tokens: must be an array"), "{msg}");
    let (_, msg) = load_error(br#"{"version":"2.0","tokens":[5]}"#);
    assert!(msg.contains("tokens[0]: must be an object"), "{msg}");
    let (_, msg) = load_error(br#"{"version":"2.0","tokens":[{"unsigned":7,"signed":""}]}"#);
    assert!(
        msg.contains("tokens[0].unsigned: must be a string"),
        "{msg}"
    );
}

#[test]
fn quorum_file_rules_name_field_and_entry() {
    let data = vec![5u8; 240];
    let good_sig = b64(&[0u8; 256]);
    let base = |sigs: &str, token: &str| {
        format!(
            r#"{{"version":"2.0","approval_data":"{}","token":"{token}","signatures":[{sigs}]}}"#,
            b64(&data)
        )
    };
    let token = b64(&sha256(&data));
    let (_, msg) = load_error(base("", &b64(&[0u8; 32])).as_bytes());
    assert!(
        msg.contains("token: is not the SHA-256 of approval_data"),
        "{msg}"
    );
    let sigs = format!(
        r#"{{"username":"alice","signature":"{good_sig}"}},{{"username":"ALICE","signature":"{good_sig}"}}"#
    );
    let (err, msg) = load_error(base(&sigs, &token).as_bytes());
    assert!(
        msg.contains("signatures[1].username: \"alice\" already approved in signatures[0]"),
        "{msg}"
    );
    assert_eq!(err.entry(), Some(1));
    let sigs = format!(r#"{{"username":"bad-name","signature":"{good_sig}"}}"#);
    let (_, msg) = load_error(base(&sigs, &token).as_bytes());
    assert!(
        msg.contains("signatures[0].username: user name has the character '-'"),
        "{msg}"
    );
    let sigs = r#"{"username":"bob","signature":"AAAA"}"#;
    let (_, msg) = load_error(base(sigs, &token).as_bytes());
    assert!(
        msg.contains("signatures[0].signature: signature is 3 bytes"),
        "{msg}"
    );
    let (_, msg) = load_error(
        base("", &token)
            .replace(r#","signatures":[]"#, "")
            .as_bytes(),
    );
    assert!(msg.contains("signatures: missing"), "{msg}");
}

#[test]
fn written_files_are_mode_0600_and_replace_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("token.json");
    fs::write(&p, "old").unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
    let file = TokenFile::new_mfa(&[random_token().unwrap()]).unwrap();
    file.write(&p).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::read_to_string(&p).unwrap(), file.to_json());
    let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

#[test]
fn writing_never_follows_a_symlink_at_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let victim = put(dir.path(), "victim", "precious");
    let link = dir.path().join("token.json");
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    let file = TokenFile::new_mfa(&[random_token().unwrap()]).unwrap();
    let err = file.write(&link).unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn writing_into_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("no/such/dir/token.json");
    let file = TokenFile::new_mfa(&[random_token().unwrap()]).unwrap();
    let err = file.write(&p).unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("cannot write {}", p.display())),
        "{err}"
    );
}

#[test]
fn sign_fills_every_entry_and_verify_reports_each() {
    let key = key();
    let public = key.public_key().unwrap();
    let mut file = TokenFile::new_mfa(&[random_token().unwrap(), random_token().unwrap()]).unwrap();
    assert_eq!(
        file.check(&public),
        vec![EntryStatus::Unsigned, EntryStatus::Unsigned]
    );
    let err = file.verify(&public, None).unwrap_err();
    assert!(
        err.to_string().contains("tokens[0].signed: not signed yet"),
        "{err}"
    );
    assert_eq!(file.sign(&key, None).unwrap(), 2);
    assert_eq!(
        file.check(&public),
        vec![EntryStatus::Valid, EntryStatus::Valid]
    );
    file.verify(&public, None).unwrap();

    let other = key_public_other();
    assert_eq!(
        file.check(&other),
        vec![EntryStatus::Invalid, EntryStatus::Invalid]
    );
    let err = file.verify(&other, None).unwrap_err();
    assert!(
        matches!(err, Error::SignatureInvalid { entry: Some(0), .. }),
        "{err:?}"
    );
}

fn key_public_other() -> PublicKey {
    key().public_key().unwrap()
}

#[test]
fn verify_names_the_entry_with_a_bad_signature() {
    let key = key();
    let mut file = TokenFile::new_mfa(&[[1u8; 32], [2u8; 32], [3u8; 32]]).unwrap();
    file.sign(&key, None).unwrap();
    let wrong = key.sign_token(&[9u8; 32]).unwrap();
    file.set_signature(2, wrong).unwrap();
    let err = file.verify(&key.public_key().unwrap(), None).unwrap_err();
    assert!(
        err.to_string()
            .contains("tokens[2].signed: signature does not verify"),
        "{err}"
    );
    assert_eq!(err.entry(), Some(2));
}

#[test]
fn a_signature_for_a_bigger_key_has_the_wrong_length() {
    let key = key();
    let mut file = TokenFile::new_mfa(&[[1u8; 32]]).unwrap();
    file.set_signature(0, vec![0u8; 384]).unwrap();
    let err = file.verify(&key.public_key().unwrap(), None).unwrap_err();
    assert!(
        err.to_string().contains("tokens[0].signed: signature is 384 bytes but the 2048-bit key makes 256-byte signatures"),
        "{err}"
    );
}

#[test]
fn reordered_entries_keep_their_signatures() {
    let key = key();
    let mut file = TokenFile::new_mfa(&[[1u8; 32], [2u8; 32]]).unwrap();
    file.sign(&key, None).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    json["tokens"].as_array_mut().unwrap().reverse();
    let reordered = TokenFile::parse(json.to_string().as_bytes()).unwrap();
    assert_eq!(reordered.tokens()[0].unsigned, [2u8; 32]);
    reordered.verify(&key.public_key().unwrap(), None).unwrap();
}

#[test]
fn approvals_are_added_replaced_and_verified_per_user() {
    let alice = key();
    let bob = key();
    let mut file = TokenFile::new_approval(vec![4u8; 240]).unwrap();
    file.sign(&alice, Some("Alice")).unwrap();
    file.sign(&bob, Some("bob")).unwrap();
    let a = file.approval().unwrap();
    assert_eq!(
        a.signatures
            .iter()
            .map(|s| s.username.as_str())
            .collect::<Vec<_>>(),
        ["alice", "bob"]
    );
    file.verify(&alice.public_key().unwrap(), Some("ALICE"))
        .unwrap();
    file.verify(&bob.public_key().unwrap(), Some("bob"))
        .unwrap();
    let err = file
        .verify(&bob.public_key().unwrap(), Some("alice"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("signatures[0].signature: signature does not verify"),
        "{err}"
    );

    // Alice approves again with Bob's key: her entry is replaced, not duplicated.
    file.sign(&bob, Some("alice")).unwrap();
    assert_eq!(file.approval().unwrap().signatures.len(), 2);
    file.verify(&bob.public_key().unwrap(), Some("alice"))
        .unwrap();

    assert_eq!(file.approver_index("BOB").unwrap(), Some(1));
    assert_eq!(file.approver_index("carol").unwrap(), None);
    assert!(file.approver_index("no good").is_err());
    let err = file
        .verify(&bob.public_key().unwrap(), Some("carol"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("signatures (user \"carol\"): not signed yet"),
        "{err}"
    );
    let round = TokenFile::parse(file.to_json().as_bytes()).unwrap();
    assert_eq!(round.approval(), file.approval());
}

#[test]
fn signing_needs_a_username_exactly_for_approval_files() {
    let key = key();
    let mut approval = TokenFile::new_approval(vec![1u8; 80]).unwrap();
    let before = approval.clone();
    assert!(approval
        .sign(&key, None)
        .unwrap_err()
        .to_string()
        .contains("needs the approver's user name"));
    assert!(approval.sign(&key, Some("no good")).is_err());
    assert_eq!(approval, before, "a failed sign changes nothing");
    let mut mfa = TokenFile::new_mfa(&[[1u8; 32]]).unwrap();
    assert!(mfa
        .sign(&key, Some("alice"))
        .unwrap_err()
        .to_string()
        .contains("only to sign a quorum approval file"));
    assert!(mfa.tokens()[0].signed.is_none());
}

#[test]
fn sign_file_signs_in_place_or_to_another_path() {
    let dir = tempfile::tempdir().unwrap();
    let key = key();
    let key_path = dir.path().join("key.pem");
    let pub_path = dir.path().join("key.pub");
    key.write_pair(&key_path, &pub_path).unwrap();
    let unsigned = TokenFile::new_mfa(&[[1u8; 32], [2u8; 32]]).unwrap();
    let token_path = dir.path().join("token.json");
    unsigned.write(&token_path).unwrap();

    let out = dir.path().join("signed.json");
    let done = sign_file(&token_path, &key_path, Some(&out), None).unwrap();
    assert_eq!((done.kind, done.signatures), (TokenFileKind::Mfa, 2));
    assert_eq!(
        TokenFile::load(&token_path).unwrap(),
        TokenFile::load(&token_path).unwrap()
    );
    assert!(
        TokenFile::load(&token_path).unwrap().tokens()[0]
            .signed
            .is_none(),
        "input untouched"
    );
    let public = PublicKey::load(&pub_path).unwrap();
    TokenFile::load(&out)
        .unwrap()
        .verify(&public, None)
        .unwrap();

    sign_file(&token_path, &key_path, None, None).unwrap();
    TokenFile::load(&token_path)
        .unwrap()
        .verify(&public, None)
        .unwrap();
}

#[test]
fn sign_file_writes_nothing_when_it_fails() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = put(dir.path(), "token.json", &mfa_json(&[[1u8; 32]]));
    let before = fs::read(&token_path).unwrap();
    let not_a_key = put(dir.path(), "key.pem", "hello");
    let err = sign_file(&token_path, &not_a_key, None, None).unwrap_err();
    assert!(
        err.to_string()
            .contains("key.pem: not an RSA key in PEM form"),
        "{err}"
    );
    assert_eq!(fs::read(&token_path).unwrap(), before);
    let out = dir.path().join("out.json");
    assert!(sign_file(&token_path, &not_a_key, Some(&out), None).is_err());
    assert!(!out.exists());
}

#[test]
fn content_exposes_the_approval_body() {
    let file = TokenFile::new_approval(vec![2u8; 160]).unwrap();
    match file.content() {
        Content::Approval(a) => assert_eq!(a.token, sha256(&[2u8; 160])),
        Content::Tokens(_) => panic!("expected an approval file"),
    }
}
