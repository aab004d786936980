//! Helpers: running the binary, making keys and token files with OpenSSL (never with the
//! library under test), and reading what was written.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_cloudhsm-mfa");

/// One run of the binary.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub json: Value,
}

pub fn run_with<I, S>(args: I, configure: impl FnOnce(&mut Command)) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    configure(&mut cmd);
    finish(cmd)
}

/// Runs the binary under `timeout 20`, so a command that blocks (on a FIFO, say) fails
/// the test instead of hanging the suite.
pub fn run_within_20s<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new("timeout");
    cmd.arg("20").arg(BIN).args(args);
    let out = cmd.output().expect("run timeout cloudhsm-mfa");
    assert_ne!(
        out.status.code(),
        Some(124),
        "the command did not end within 20 s"
    );
    to_run(out)
}

fn finish(mut cmd: Command) -> Run {
    let out = cmd.output().expect("run cloudhsm-mfa");
    to_run(out)
}

fn to_run(out: Output) -> Run {
    let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    Run {
        code: out.status.code(),
        stdout,
        stderr,
        json,
    }
}

pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with(args, |_| {})
}

/// Runs a command that must succeed; returns its `data`.
pub fn ok<I, S>(args: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let r = run(args);
    assert_eq!(
        r.json["error_code"], 0,
        "expected success: {}\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.code, Some(0), "exit status of a success: {}", r.stdout);
    r.json["data"].clone()
}

/// Runs a command that must fail; returns the message in `data`.
pub fn fail<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let r = run(args);
    check_failure(&r)
}

pub fn check_failure(r: &Run) -> String {
    assert_eq!(r.json["error_code"], 1, "expected failure: {}", r.stdout);
    assert_eq!(r.code, Some(1), "exit status of a failure: {}", r.stdout);
    let obj = r.json.as_object().expect("envelope is an object");
    assert_eq!(
        obj.len(),
        2,
        "envelope has error_code and data only: {}",
        r.stdout
    );
    r.json["data"]
        .as_str()
        .unwrap_or_else(|| panic!("data of a failure is a message: {}", r.stdout))
        .to_string()
}

/// Runs `openssl ARGS`, which must succeed; returns its output.
pub fn openssl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args
        .into_iter()
        .map(|a| a.as_ref().to_os_string())
        .collect();
    let out = Command::new("openssl")
        .args(&args)
        .output()
        .expect("the openssl command is needed by these tests");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temporary directory")
}

/// An RSA key pair (PKCS#8 private key, mode 0600, and SPKI public key) in `dir`: a
/// committed fixture key made by OpenSSL, a distinct one for each name a test uses.
pub fn rsa_key(dir: &Path, name: &str, bits: u32) -> (PathBuf, PathBuf) {
    cloudhsm_mfa_test_support::keys::pair_in(dir, name, bits)
}

/// An EC P-256 private key made by OpenSSL.
pub fn ec_key(dir: &Path) -> PathBuf {
    let path = dir.join("ec.pem");
    openssl([
        OsStr::new("genpkey"),
        OsStr::new("-algorithm"),
        OsStr::new("EC"),
        OsStr::new("-pkeyopt"),
        OsStr::new("ec_paramgen_curve:P-256"),
        OsStr::new("-out"),
        path.as_os_str(),
    ]);
    path
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let out = openssl(["rand", &n.to_string()]);
    assert_eq!(out.stdout.len(), n);
    out.stdout
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text)
        .unwrap_or_else(|e| panic!("bad base64 {text:?}: {e}"))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 by `openssl dgst`.
pub fn sha256(dir: &Path, data: &[u8]) -> Vec<u8> {
    let input = dir.join("sha256-input.bin");
    fs::write(&input, data).unwrap();
    openssl([
        OsStr::new("dgst"),
        OsStr::new("-sha256"),
        OsStr::new("-binary"),
        input.as_os_str(),
    ])
    .stdout
}

pub fn write_json(path: &Path, value: &Value) {
    fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

/// An unsigned MFA token file of `n` random tokens, written by hand as an HSM client would.
pub fn mfa_file(dir: &Path, name: &str, n: usize) -> (PathBuf, Vec<Vec<u8>>) {
    let tokens: Vec<Vec<u8>> = (0..n).map(|_| random_bytes(32)).collect();
    let path = dir.join(name);
    let entries: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"unsigned": b64(t), "signed": ""}))
        .collect();
    write_json(&path, &json!({"version": "2.0", "tokens": entries}));
    (path, tokens)
}

/// A quorum approval file with no signatures yet; returns it with its approval data.
pub fn approval_file(dir: &Path, name: &str) -> (PathBuf, Vec<u8>) {
    let data = random_bytes(3 * 80);
    let token = sha256(dir, &data);
    let path = dir.join(name);
    write_json(
        &path,
        &json!({"version": "2.0", "approval_data": b64(&data), "token": b64(&token), "signatures": []}),
    );
    (path, data)
}

/// `openssl pkeyutl -sign -pkeyopt digest:sha256` over a 32-byte token.
pub fn openssl_sign_token(dir: &Path, key: &Path, token: &[u8]) -> Vec<u8> {
    let input = dir.join("openssl-token.bin");
    let output = dir.join("openssl-signature.bin");
    fs::write(&input, token).unwrap();
    openssl([
        OsStr::new("pkeyutl"),
        OsStr::new("-sign"),
        OsStr::new("-inkey"),
        key.as_os_str(),
        OsStr::new("-pkeyopt"),
        OsStr::new("digest:sha256"),
        OsStr::new("-in"),
        input.as_os_str(),
        OsStr::new("-out"),
        output.as_os_str(),
    ]);
    fs::read(output).unwrap()
}

/// Whether `openssl pkeyutl -verify` accepts `signature` over `token` with `public`.
pub fn openssl_verifies(dir: &Path, public: &Path, token: &[u8], signature: &[u8]) -> bool {
    let input = dir.join("verify-token.bin");
    let sig = dir.join("verify-signature.bin");
    fs::write(&input, token).unwrap();
    fs::write(&sig, signature).unwrap();
    let out = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(public)
        .args(["-pkeyopt", "digest:sha256", "-in"])
        .arg(&input)
        .arg("-sigfile")
        .arg(&sig)
        .output()
        .expect("run openssl");
    out.status.success()
        && String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully")
}

/// The arguments of `tokens sign`.
pub fn sign_args<'a>(token: &'a Path, key: &'a Path) -> Vec<&'a OsStr> {
    vec![
        OsStr::new("tokens"),
        OsStr::new("sign"),
        OsStr::new("--token"),
        token.as_os_str(),
        OsStr::new("--private-key"),
        key.as_os_str(),
    ]
}

/// The arguments of `tokens verify`.
pub fn verify_args<'a>(token: &'a Path, public: &'a Path) -> Vec<&'a OsStr> {
    vec![
        OsStr::new("tokens"),
        OsStr::new("verify"),
        OsStr::new("--token"),
        token.as_os_str(),
        OsStr::new("--public-key"),
        public.as_os_str(),
    ]
}

pub fn with<'a>(mut args: Vec<&'a OsStr>, more: &[&'a OsStr]) -> Vec<&'a OsStr> {
    args.extend_from_slice(more);
    args
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}
