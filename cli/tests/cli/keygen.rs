//! `keygen`: key pairs that OpenSSL reads, of the sizes asked for, never replacing a key
//! by accident.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::common::*;

fn keygen(private: &Path, public: &Path, more: &[&str]) -> Vec<String> {
    let mut args = vec![
        "keygen".to_string(),
        "--private-key".into(),
        path_str(private).into(),
        "--public-key".into(),
        path_str(public).into(),
    ];
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn openssl_bits(private: &Path) -> String {
    let out = openssl([
        OsStr::new("pkey"),
        OsStr::new("-in"),
        private.as_os_str(),
        OsStr::new("-noout"),
        OsStr::new("-text"),
    ]);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn keygen_writes_a_pair_that_openssl_reads_and_signs_with() {
    let dir = tempdir();
    let private = dir.path().join("mfa.pem");
    let public = dir.path().join("mfa.pub");
    let data = ok(keygen(&private, &public, &[]));
    assert_eq!(
        data,
        json!({"private_key": path_str(&private), "public_key": path_str(&public), "bits": 2048})
    );
    assert_eq!(openssl_bits(&private), "Private-Key: (2048 bit, 2 primes)");
    let derived = openssl([
        OsStr::new("pkey"),
        OsStr::new("-in"),
        private.as_os_str(),
        OsStr::new("-pubout"),
    ])
    .stdout;
    assert_eq!(
        derived,
        fs::read(&public).unwrap(),
        "the public key matches the private key"
    );
    assert_eq!(
        fs::metadata(&private).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&public).unwrap().permissions().mode() & 0o777,
        0o644
    );

    let (token, tokens) = mfa_file(dir.path(), "token.json", 2);
    ok(sign_args(&token, &private));
    let doc = read_json(&token);
    for (i, t) in tokens.iter().enumerate() {
        let sig = unb64(doc["tokens"][i]["signed"].as_str().unwrap());
        assert!(openssl_verifies(dir.path(), &public, t, &sig));
        assert_eq!(sig, openssl_sign_token(dir.path(), &private, t));
    }
}

#[test]
fn keygen_makes_3072_bit_keys() {
    let dir = tempdir();
    let private = dir.path().join("k.pem");
    let public = dir.path().join("k.pub");
    let data = ok(keygen(&private, &public, &["--bits", "3072"]));
    assert_eq!(data["bits"], 3072);
    assert_eq!(openssl_bits(&private), "Private-Key: (3072 bit, 2 primes)");
}

#[test]
fn keygen_refuses_unsupported_sizes_and_writes_nothing() {
    let dir = tempdir();
    let private = dir.path().join("k.pem");
    let public = dir.path().join("k.pub");
    let message = fail(keygen(&private, &public, &["--bits", "1024"]));
    assert!(message.contains("1024"), "{message}");
    assert!(message.contains("2048, 3072 or 4096"), "{message}");
    assert!(!private.exists() && !public.exists());
}

#[test]
fn keygen_does_not_replace_an_existing_key_without_force() {
    let dir = tempdir();
    let private = dir.path().join("k.pem");
    let public = dir.path().join("k.pub");
    ok(keygen(&private, &public, &[]));
    let (old_private, old_public) = (fs::read(&private).unwrap(), fs::read(&public).unwrap());
    let message = fail(keygen(&private, &public, &[]));
    assert!(message.contains(path_str(&private)), "{message}");
    assert!(message.contains("--force"), "{message}");
    assert_eq!(fs::read(&private).unwrap(), old_private);
    assert_eq!(fs::read(&public).unwrap(), old_public);

    ok(keygen(&private, &public, &["--force"]));
    assert_ne!(fs::read(&private).unwrap(), old_private);
    assert_ne!(fs::read(&public).unwrap(), old_public);
}

#[test]
fn keygen_refuses_the_same_path_for_both_keys() {
    let dir = tempdir();
    let path = dir.path().join("k.pem");
    let message = fail(keygen(&path, &path, &[]));
    assert!(message.contains("differ"), "{message}");
    assert!(!path.exists());
}
