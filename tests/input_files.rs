//! SPEC §2.4 and §9 for every file the library reads: token files, keys, certificates and
//! the configuration must be regular files (a FIFO or a device is refused at once, never
//! waited on), and errors quote at most a short piece of a bad input.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::{sign_file, PrivateKey, PublicKey, TokenFile};

/// Runs `f` on another thread and fails the test if it takes more than ten seconds (a
/// reader blocked on a FIFO would otherwise hang the suite).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not return within 10 s"))
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let status = Command::new("mkfifo").arg(&p).status().expect("run mkfifo");
    assert!(status.success(), "mkfifo {}", p.display());
    p
}

fn assert_refused_as(err: String, path: &Path, kind: &str) {
    assert!(
        err.contains(&path.display().to_string()) && err.contains(kind),
        "error should name {} and say it is {kind}: {err}",
        path.display()
    );
}

#[test]
fn a_fifo_as_token_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = fifo(dir.path(), "tokens.json");
    let q = p.clone();
    let err = within("TokenFile::load", move || {
        TokenFile::load(&q).unwrap_err().to_string()
    });
    assert_refused_as(err, &p, "a FIFO");
}

#[test]
fn a_fifo_as_private_or_public_key_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = fifo(dir.path(), "key.pem");
    let q = p.clone();
    let err = within("PrivateKey::load", move || {
        PrivateKey::load(&q).unwrap_err().to_string()
    });
    assert_refused_as(err, &p, "a FIFO");
    let q = p.clone();
    let err = within("PublicKey::load", move || {
        PublicKey::load(&q).unwrap_err().to_string()
    });
    assert_refused_as(err, &p, "a FIFO");
}

#[test]
fn a_fifo_as_configuration_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let p = fifo(dir.path(), "cloudhsm-cli.cfg");
    let q = p.clone();
    let err = within("Config::load", move || {
        Config::load(Some(&q)).unwrap_err().to_string()
    });
    assert_refused_as(err, &p, "a FIFO");
}

#[test]
fn sign_file_refuses_a_fifo_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let token = fifo(dir.path(), "tokens.json");
    let key = cloudhsm_mfa_test_support::keys::private_key_path(
        2048,
        0,
        cloudhsm_mfa_test_support::keys::Encoding::Pkcs8,
    );
    let out = dir.path().join("signed.json");
    let (t, o) = (token.clone(), out.clone());
    let err = within("sign_file", move || {
        sign_file(&t, &key, Some(&o), None).unwrap_err().to_string()
    });
    assert_refused_as(err, &token, "a FIFO");
    assert!(!out.exists());
}

#[test]
fn a_directory_and_a_character_device_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = TokenFile::load(dir.path()).unwrap_err().to_string();
    assert_refused_as(err, dir.path(), "a directory");
    let err = within("PrivateKey::load(/dev/zero)", || {
        PrivateKey::load(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string()
    });
    assert_refused_as(err, Path::new("/dev/zero"), "a character device");
}

const LONG: usize = 900_000;

fn assert_short_quote(err: &str, total: usize) {
    assert!(
        err.len() < 600,
        "the message quotes the whole input ({} bytes): {}…",
        err.len(),
        &err[..200]
    );
    assert!(
        err.contains(&format!("({total} characters)")),
        "the message says how long the input was: {err}"
    );
}

#[test]
fn a_long_version_is_quoted_short() {
    let text = format!(r#"{{"version": "{}", "tokens": []}}"#, "a".repeat(LONG));
    let err = TokenFile::parse(text.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("version: is \"aaaa"), "{err}");
    assert_short_quote(&err, LONG);
}

#[test]
fn a_long_unknown_field_name_is_quoted_short() {
    let name = "f".repeat(LONG / 3);
    for text in [
        format!(r#"{{"version": "2.0", "{name}": 1, "tokens": []}}"#),
        format!(r#"{{"version": "2.0", "tokens": [{{"{name}": ""}}]}}"#),
        format!(r#"{{"{name}": 1, "{name}": 2}}"#),
    ] {
        let err = TokenFile::parse(text.as_bytes()).unwrap_err().to_string();
        assert_short_quote(&err, LONG / 3);
    }
}

#[test]
fn long_configuration_values_are_quoted_short() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c.cfg");
    let long = "h".repeat(LONG / 3);
    let cases = [
        format!(
            r#"{{"clusters": [{{"cluster": {{"hsm_ca_file": "c", "servers": [{{"hostname": "h", "port": "{long}"}}]}}}}]}}"#
        ),
        format!(r#"{{"clusters": "{long}"}}"#),
        format!(
            r#"{{"clusters": [{{"cluster": {{"cluster_id": "{long}", "hsm_ca_file": "c", "servers": [{{"hostname": "h"}}]}}}}, {{"cluster": {{"cluster_id": "{long}", "hsm_ca_file": "c", "servers": [{{"hostname": "h"}}]}}}}]}}"#
        ),
    ];
    for text in cases {
        std::fs::write(&p, text).unwrap();
        let err = Config::load(Some(&p)).unwrap_err().to_string();
        assert_short_quote(&err, LONG / 3);
    }
    std::fs::write(
        &p,
        format!(r#"{{"clusters": [{{"cluster": {{"cluster_id": "{long}", "hsm_ca_file": "c", "servers": [{{"hostname": "h"}}]}}}}]}}"#),
    )
    .unwrap();
    let config = Config::load(Some(&p)).unwrap();
    let err = config
        .select(Some(&"w".repeat(LONG / 3)))
        .unwrap_err()
        .to_string();
    assert!(err.matches("(300000 characters)").count() == 2, "{err}");
    assert!(err.len() < 600, "{}", err.len());
}

#[test]
fn a_long_pem_label_is_quoted_short() {
    let label = "K".repeat(5000);
    let pem = format!("-----BEGIN {label}-----\nAAAA\n-----END {label}-----\n");
    let err = PrivateKey::from_pem(pem.as_bytes())
        .unwrap_err()
        .to_string();
    assert_short_quote(&err, 5000);
    let err = PublicKey::from_pem(pem.as_bytes()).unwrap_err().to_string();
    assert_short_quote(&err, 5000);
}

fn mfa_text(n: usize) -> String {
    let entries: Vec<String> = (0..n)
        .map(|_| {
            format!(
                r#"{{"unsigned": "{}", "signed": ""}}"#,
                b64(&cloudhsm_mfa::crypto::random_token().unwrap())
            )
        })
        .collect();
    format!(
        r#"{{"version": "2.0", "tokens": [{}]}}"#,
        entries.join(", ")
    )
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn a_token_file_holds_at_most_64_entries() {
    assert_eq!(cloudhsm_mfa::token_file::MAX_TOKENS, 64);
    TokenFile::parse(mfa_text(64).as_bytes()).unwrap();
    let err = TokenFile::parse(mfa_text(3000).as_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tokens: has 3000 entries") && err.contains("at most 64"),
        "{err}"
    );
    let tokens: Vec<_> = (0..65)
        .map(|_| cloudhsm_mfa::crypto::random_token().unwrap())
        .collect();
    let err = TokenFile::new_mfa(&tokens).unwrap_err().to_string();
    assert!(err.contains("has 65 entries"), "{err}");
}

#[test]
fn signing_never_writes_a_file_larger_than_readers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let limit = cloudhsm_mfa::token_file::MAX_FILE_SIZE as usize;
    // An approval file just under the limit; one more approval takes it over.
    let data = vec![7u8; 786_200];
    let text = TokenFile::new_approval(data).unwrap().to_json();
    assert!(
        text.len() < limit && text.len() + 400 > limit,
        "{}",
        text.len()
    );
    let token = dir.path().join("approval.json");
    std::fs::write(&token, &text).unwrap();
    let key = cloudhsm_mfa_test_support::keys::private_key_path(
        2048,
        0,
        cloudhsm_mfa_test_support::keys::Encoding::Pkcs8,
    );
    let out = dir.path().join("signed.json");
    for target in [Some(out.as_path()), None] {
        let err = sign_file(&token, &key, target, Some("alice"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("would be") && err.contains("nothing was written"),
            "{err}"
        );
    }
    assert!(!out.exists());
    assert_eq!(std::fs::read_to_string(&token).unwrap(), text);
}
