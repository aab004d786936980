//! The real `openssl` command: keys it makes, and token files signed the way the AWS guide
//! shows.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs openssl; panics with its stderr on failure.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openssl genrsa` into `path`, and the public key beside it; returns (private, public).
pub fn openssl_key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    openssl(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (key, public)
}

/// Signs `token` as the SPEC says users do, with
/// `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin`.
pub fn pkeyutl_sign(key: &Path, token: &[u8]) -> Vec<u8> {
    let work = tempfile::tempdir().unwrap();
    let (input, output) = (work.path().join("token.bin"), work.path().join("token.sig"));
    std::fs::write(&input, token).unwrap();
    pkeyutl_sign_file(key, &input, &output);
    std::fs::read(output).unwrap()
}

/// `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in INPUT -out OUTPUT`.
fn pkeyutl_sign_file(key: &Path, input: &Path, output: &Path) {
    openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        key.to_str().unwrap(),
        "-pkeyopt",
        "digest:sha256",
        "-in",
        input.to_str().unwrap(),
        "-out",
        output.to_str().unwrap(),
    ]);
}

/// Signs an MFA token file the way the AWS guide shows, with real commands: for each token
/// `echo $unsigned | base64 -d > token.bin`, `openssl pkeyutl -sign -inkey KEY -pkeyopt
/// digest:sha256`, `base64 -w0`, then puts the signatures into the JSON (here with
/// serde_json, standing in for the user's editor) and writes it to `out`.
pub fn sign_like_the_aws_guide(token_file: &Path, key: &Path, out: &Path) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(token_file).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("token.bin");
    let sig = work.path().join("token.sig");
    for entry in json["tokens"].as_array_mut().unwrap() {
        let unsigned = entry["unsigned"].as_str().unwrap().to_string();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("echo {unsigned} | base64 -d > {}", bin.display()))
            .status()
            .unwrap();
        assert!(status.success());
        pkeyutl_sign_file(key, &bin, &sig);
        let b64 = Command::new("base64")
            .arg("-w0")
            .arg(&sig)
            .output()
            .unwrap();
        assert!(b64.status.success());
        entry["signed"] = serde_json::Value::String(String::from_utf8(b64.stdout).unwrap());
    }
    std::fs::write(out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}
