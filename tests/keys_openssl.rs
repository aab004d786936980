//! SPEC §3 against the real `openssl` command: keys as `openssl genrsa` writes them, our
//! signatures byte-identical to `openssl pkeyutl -sign -pkeyopt digest:sha256`, accepted by
//! `openssl pkeyutl -verify`, and quorum signatures equal to `openssl dgst -sha256 -sign`.
//! Bad key files each give a clear error.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa::crypto::{random_token, sha256};
use cloudhsm_mfa::{Error, KeyProblem, PrivateKey, PublicKey, TokenFile};
use cloudhsm_mfa_test_support::openssl::openssl;

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `openssl genrsa` of `bits` into `dir/name`; `traditional` writes PKCS#1.
fn genrsa(dir: &Path, name: &str, bits: u32, traditional: bool) -> PathBuf {
    let p = dir.join(name);
    let bits = bits.to_string();
    let mut args = vec!["genrsa", "-out", path_str(&p)];
    if traditional {
        args.push("-traditional");
    }
    args.push(&bits);
    openssl(&args);
    p
}

fn pubout(dir: &Path, key: &Path, name: &str, pkcs1: bool) -> PathBuf {
    let p = dir.join(name);
    let flag = if pkcs1 {
        "-RSAPublicKey_out"
    } else {
        "-pubout"
    };
    openssl(&["rsa", "-in", path_str(key), flag, "-out", path_str(&p)]);
    p
}

fn openssl_sign(dir: &Path, key: &Path, token: &[u8; 32]) -> Vec<u8> {
    let t = dir.join("token.bin");
    let s = dir.join("sig.bin");
    fs::write(&t, token).unwrap();
    openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        path_str(key),
        "-pkeyopt",
        "digest:sha256",
        "-in",
        path_str(&t),
        "-out",
        path_str(&s),
    ]);
    fs::read(&s).unwrap()
}

fn openssl_verifies(dir: &Path, public: &Path, token: &[u8; 32], sig: &[u8]) -> bool {
    let t = dir.join("vtoken.bin");
    let s = dir.join("vsig.bin");
    fs::write(&t, token).unwrap();
    fs::write(&s, sig).unwrap();
    Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            path_str(public),
            "-pkeyopt",
            "digest:sha256",
            "-in",
            path_str(&t),
            "-sigfile",
            path_str(&s),
        ])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn signatures_are_byte_identical_to_openssl_for_fresh_keys_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (bits, traditional)) in [(2048, false), (2048, true), (3072, false), (4096, true)]
        .into_iter()
        .enumerate()
    {
        let key_path = genrsa(dir.path(), &format!("k{i}.pem"), bits, traditional);
        let key = PrivateKey::load(&key_path).unwrap();
        assert_eq!(key.bits(), bits as usize);
        let pub_path = pubout(dir.path(), &key_path, &format!("k{i}.pub"), i % 2 == 1);
        let public = PublicKey::load(&pub_path).unwrap();
        assert_eq!(public, key.public_key().unwrap());
        for _ in 0..3 {
            let token = random_token().unwrap();
            let ours = key.sign_token(&token).unwrap();
            assert_eq!(
                ours,
                openssl_sign(dir.path(), &key_path, &token),
                "{bits}-bit key"
            );
            assert!(openssl_verifies(dir.path(), &pub_path, &token, &ours));
            assert!(public.verify_token(&token, &ours));
        }
    }
}

#[test]
fn openssl_rejects_a_tampered_signature_and_so_do_we() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = genrsa(dir.path(), "k.pem", 2048, false);
    let pub_path = pubout(dir.path(), &key_path, "k.pub", false);
    let key = PrivateKey::load(&key_path).unwrap();
    let token = random_token().unwrap();
    let mut sig = key.sign_token(&token).unwrap();
    sig[100] ^= 0x01;
    assert!(!openssl_verifies(dir.path(), &pub_path, &token, &sig));
    assert!(!PublicKey::load(&pub_path)
        .unwrap()
        .verify_token(&token, &sig));
}

#[test]
fn a_signed_mfa_file_verifies_with_openssl_entry_by_entry() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = genrsa(dir.path(), "k.pem", 2048, false);
    let pub_path = pubout(dir.path(), &key_path, "k.pub", false);
    let token_path = dir.path().join("token.json");
    TokenFile::new_mfa(&[
        random_token().unwrap(),
        random_token().unwrap(),
        random_token().unwrap(),
    ])
    .unwrap()
    .write(&token_path)
    .unwrap();
    cloudhsm_mfa::sign_file(&token_path, &key_path, None, None).unwrap();
    let signed = TokenFile::load(&token_path).unwrap();
    for e in signed.tokens() {
        assert!(openssl_verifies(
            dir.path(),
            &pub_path,
            &e.unsigned,
            e.signed.as_ref().unwrap()
        ));
    }
}

#[test]
fn quorum_signature_equals_openssl_dgst_sign_of_approval_data() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = genrsa(dir.path(), "k.pem", 2048, false);
    let data: Vec<u8> = (0..240u32).map(|i| (i * 7 + 3) as u8).collect();
    let data_path = dir.path().join("approval_data.bin");
    fs::write(&data_path, &data).unwrap();
    let expected = openssl(&[
        "dgst",
        "-sha256",
        "-sign",
        path_str(&key_path),
        path_str(&data_path),
    ]);
    let mut file = TokenFile::new_approval(data.clone()).unwrap();
    assert_eq!(file.approval().unwrap().token, sha256(&data));
    file.sign(&PrivateKey::load(&key_path).unwrap(), Some("admin"))
        .unwrap();
    assert_eq!(file.approval().unwrap().signatures[0].signature, expected);
}

#[test]
fn generated_key_pair_is_usable_by_openssl_and_private_key_is_0600() {
    let dir = tempfile::tempdir().unwrap();
    let private_path = dir.path().join("mfa.key");
    let public_path = dir.path().join("mfa.pub");
    PrivateKey::generate(2048)
        .unwrap()
        .write_pair(&private_path, &public_path)
        .unwrap();
    assert_eq!(
        fs::metadata(&private_path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(&public_path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let text = String::from_utf8(openssl(&[
        "rsa",
        "-in",
        path_str(&private_path),
        "-check",
        "-noout",
    ]))
    .unwrap();
    assert!(text.contains("RSA key ok"), "{text}");
    let token = random_token().unwrap();
    let sig = openssl_sign(dir.path(), &private_path, &token);
    assert!(PublicKey::load(&public_path)
        .unwrap()
        .verify_token(&token, &sig));
}

fn key_error(path: &Path) -> (KeyProblem, String) {
    let err = PrivateKey::load(path).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&path.display().to_string()),
        "names the file: {msg}"
    );
    match err {
        Error::Key { problem, .. } => (problem, msg),
        other => panic!("expected a key error, got {other:?}"),
    }
}

#[test]
fn a_file_that_is_not_a_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notakey.pem");
    fs::write(&p, "just some text\n").unwrap();
    let (problem, msg) = key_error(&p);
    assert!(matches!(problem, KeyProblem::NotAKey(_)), "{msg}");
    assert!(msg.contains("no \"-----BEGIN\" line found"), "{msg}");
    fs::write(
        &p,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let (_, msg) = key_error(&p);
    assert!(msg.contains("CERTIFICATE\" holds no private key"), "{msg}");
    fs::write(&p, [0xffu8, 0xfe, 0x00]).unwrap();
    let (_, msg) = key_error(&p);
    assert!(msg.contains("not text"), "{msg}");
}

#[test]
fn an_encrypted_key_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let pkcs8 = dir.path().join("enc8.pem");
    openssl(&[
        "genrsa",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        path_str(&pkcs8),
        "2048",
    ]);
    let (problem, msg) = key_error(&pkcs8);
    assert_eq!(problem, KeyProblem::Encrypted);
    assert!(msg.contains("the private key is encrypted"), "{msg}");
    let trad = dir.path().join("enc1.pem");
    openssl(&[
        "genrsa",
        "-traditional",
        "-aes256",
        "-passout",
        "pass:secret",
        "-out",
        path_str(&trad),
        "2048",
    ]);
    assert_eq!(key_error(&trad).0, KeyProblem::Encrypted);
}

#[test]
fn a_key_under_2048_bits_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let small = genrsa(dir.path(), "small.pem", 1024, false);
    let (problem, msg) = key_error(&small);
    assert_eq!(problem, KeyProblem::TooSmall { bits: 1024 });
    assert!(msg.contains("RSA key of 1024 bits is too small"), "{msg}");
    let small_pub = pubout(dir.path(), &small, "small.pub", false);
    assert!(PublicKey::load(&small_pub)
        .unwrap_err()
        .to_string()
        .contains("1024 bits is too small"));
    let odd = genrsa(dir.path(), "odd.pem", 2560, true);
    assert_eq!(
        key_error(&odd).0,
        KeyProblem::UnsupportedSize { bits: 2560 }
    );
}

#[test]
fn an_ec_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sec1 = dir.path().join("ec.pem");
    openssl(&[
        "ecparam",
        "-genkey",
        "-name",
        "prime256v1",
        "-noout",
        "-out",
        path_str(&sec1),
    ]);
    let (problem, msg) = key_error(&sec1);
    assert!(matches!(problem, KeyProblem::NotRsa(_)), "{msg}");
    assert!(
        msg.contains("an EC key; MFA and quorum keys are RSA keys"),
        "{msg}"
    );
    let pkcs8 = dir.path().join("ec8.pem");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        path_str(&sec1),
        "-out",
        path_str(&pkcs8),
    ]);
    assert!(key_error(&pkcs8).1.contains("an EC key"));
    let ec_pub = dir.path().join("ec.pub");
    openssl(&[
        "ec",
        "-in",
        path_str(&sec1),
        "-pubout",
        "-out",
        path_str(&ec_pub),
    ]);
    assert!(PublicKey::load(&ec_pub)
        .unwrap_err()
        .to_string()
        .contains("an EC key"));
}

#[test]
fn public_and_private_keys_are_not_confused() {
    let dir = tempfile::tempdir().unwrap();
    let key = genrsa(dir.path(), "k.pem", 2048, false);
    let public = pubout(dir.path(), &key, "k.pub", false);
    let (problem, _) = key_error(&public);
    assert!(matches!(problem, KeyProblem::WrongKind(_)));
    let msg = PublicKey::load(&key).unwrap_err().to_string();
    assert!(
        msg.contains("this is a private key; give the public key here"),
        "{msg}"
    );
}

#[test]
fn a_missing_key_file_names_the_path() {
    let err = PrivateKey::load(Path::new("/nonexistent/key.pem")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/key.pem"),
        "{err}"
    );
}
