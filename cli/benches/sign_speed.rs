//! How fast tokens are signed, against references measured in the same run.
//!
//! (a) RSA-2048 token signatures per second through the library (`PrivateKey::sign_token`)
//!     against the sign/s of `openssl speed -seconds 3 rsa2048`. Target: ours/openssl >= 0.8.
//! (b) Signing a three-token MFA file with the `cloudhsm-mfa tokens sign` binary against
//!     the manual pipeline of the AWS guide run with real commands (`base64 -d`,
//!     `openssl pkeyutl -sign`, `base64 -w0`, python3 to read and write the JSON), both as
//!     the median wall time of whole runs. Target: manual/ours >= 5.
//!
//! Run with `cargo bench -p cloudhsm-mfa-cli`. It prints numbers and ratios; it never fails
//! on timing, only when a tool is missing or a signed file does not verify.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use cloudhsm_mfa::crypto::random_token;
use cloudhsm_mfa::{PrivateKey, PublicKey, TokenFile};

const BIN: &str = env!("CARGO_BIN_EXE_cloudhsm-mfa");
const SIGN_SECONDS: u64 = 3;
const OURS_RUNS: usize = 31;
const MANUAL_RUNS: usize = 15;
const SIGN_TARGET: f64 = 0.8;
const FILE_TARGET: f64 = 5.0;

/// The manual steps of the AWS guide for each token, with python3 (on every Debian machine
/// that has Python) reading the unsigned tokens and writing the signed file.
/// Arguments: token file, private key, output file, scratch directory.
const MANUAL_PIPELINE: &str = r#"
set -euo pipefail
token_file=$1; key=$2; out=$3; work=$4
signatures=()
for unsigned in $(python3 -c '
import json, sys
for t in json.load(open(sys.argv[1]))["tokens"]:
    print(t["unsigned"])
' "$token_file"); do
    echo "$unsigned" | base64 -d > "$work/t.bin"
    openssl pkeyutl -sign -inkey "$key" -pkeyopt digest:sha256 -in "$work/t.bin" -out "$work/s.bin"
    signatures+=("$(base64 -w0 "$work/s.bin")")
done
python3 -c '
import json, sys
src, dst, sigs = sys.argv[1], sys.argv[2], sys.argv[3:]
doc = json.load(open(src))
for entry, sig in zip(doc["tokens"], sigs):
    entry["signed"] = sig
with open(dst, "w") as f:
    json.dump(doc, f, indent=4)
' "$token_file" "$out" "${signatures[@]}"
"#;

fn require(tool: &str, arg: &str) {
    match Command::new(tool).arg(arg).output() {
        Ok(out) if out.status.success() => {}
        _ => panic!("the benchmark needs `{tool}` on PATH"),
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Library signatures per second over `SIGN_SECONDS`, one thread.
fn library_signs_per_second() -> f64 {
    let key = PrivateKey::generate(2048).expect("generate an RSA-2048 key");
    let tokens: Vec<_> = (0..64)
        .map(|_| random_token().expect("random token"))
        .collect();
    for t in &tokens {
        black_box(key.sign_token(t).expect("sign"));
    }
    let budget = Duration::from_secs(SIGN_SECONDS);
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < budget {
        for t in &tokens[..16] {
            black_box(key.sign_token(black_box(t)).expect("sign"));
        }
        count += 16;
    }
    count as f64 / start.elapsed().as_secs_f64()
}

/// The sign/s column of `openssl speed -seconds N rsa2048`.
fn openssl_signs_per_second() -> f64 {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", &SIGN_SECONDS.to_string(), "rsa2048"])
        .output()
        .expect("run openssl speed");
    assert!(out.status.success(), "openssl speed failed");
    let text = String::from_utf8_lossy(&out.stdout);
    // "rsa 2048 bits 0.000248s 0.000016s   4026.0  61513.0"
    let line = text
        .lines()
        .find(|l| {
            l.trim_start().starts_with("rsa 2048 bits")
                || l.trim_start().starts_with("rsa  2048 bits")
        })
        .unwrap_or_else(|| panic!("no rsa 2048 line in openssl speed output:\n{text}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    fields[fields.len() - 2]
        .parse()
        .unwrap_or_else(|_| panic!("cannot read sign/s from {line:?}"))
}

fn run_ours(token: &Path, key: &Path, out: &Path) -> Duration {
    let start = Instant::now();
    let result = Command::new(BIN)
        .args(["tokens", "sign", "--token"])
        .arg(token)
        .arg("--private-key")
        .arg(key)
        .arg("--output")
        .arg(out)
        .output()
        .expect("run cloudhsm-mfa");
    let elapsed = start.elapsed();
    assert!(
        result.status.success(),
        "cloudhsm-mfa tokens sign failed: {}",
        String::from_utf8_lossy(&result.stdout)
    );
    elapsed
}

/// `tokens show` on the same file: starting the process and reading the file, no signing.
fn run_show(token: &Path) -> Duration {
    let start = Instant::now();
    let result = Command::new(BIN)
        .args(["tokens", "show"])
        .arg(token)
        .output()
        .expect("run cloudhsm-mfa");
    let elapsed = start.elapsed();
    assert!(result.status.success(), "cloudhsm-mfa tokens show failed");
    elapsed
}

fn run_manual(token: &Path, key: &Path, out: &Path, work: &Path) -> Duration {
    let start = Instant::now();
    let result = Command::new("bash")
        .arg("-c")
        .arg(MANUAL_PIPELINE)
        .arg("manual-pipeline")
        .arg(token)
        .arg(key)
        .arg(out)
        .arg(work)
        .output()
        .expect("run bash");
    let elapsed = start.elapsed();
    assert!(
        result.status.success(),
        "the manual pipeline failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    elapsed
}

fn signatures(path: &Path, public: &PublicKey) -> Vec<Vec<u8>> {
    let file = TokenFile::load(path).expect("load a signed file");
    file.verify(public, None).expect("every signature verifies");
    file.tokens()
        .iter()
        .map(|e| e.signed.clone().unwrap_or_default())
        .collect()
}

fn main() {
    for (tool, arg) in [
        ("openssl", "version"),
        ("python3", "--version"),
        ("bash", "--version"),
        ("base64", "--version"),
    ] {
        require(tool, arg);
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let d = dir.path();

    eprintln!("(a) {SIGN_SECONDS} s of library signatures, then openssl speed -seconds {SIGN_SECONDS} rsa2048 ...");
    let ours_rate = library_signs_per_second();
    let openssl_rate = openssl_signs_per_second();
    let sign_ratio = ours_rate / openssl_rate;

    eprintln!("(b) signing a three-token MFA file: {OURS_RUNS} runs of cloudhsm-mfa, {MANUAL_RUNS} of the manual pipeline ...");
    let key = d.join("key.pem");
    let public_path = d.join("key.pub");
    let status = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .output()
        .expect("openssl genrsa");
    assert!(status.status.success(), "openssl genrsa failed");
    let status = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public_path)
        .output()
        .expect("openssl pkey");
    assert!(status.status.success(), "openssl pkey -pubout failed");
    let public = PublicKey::load(&public_path).expect("load the public key");
    let tokens: Vec<_> = (0..3)
        .map(|_| random_token().expect("random token"))
        .collect();
    let token = d.join("token.json");
    TokenFile::new_mfa(&tokens)
        .and_then(|f| f.write(&token))
        .expect("write the token file");
    let ours_out = d.join("signed-ours.json");
    let manual_out = d.join("signed-manual.json");

    // One warm-up run of each fills the page cache for both.
    run_ours(&token, &key, &ours_out);
    run_manual(&token, &key, &manual_out, d);
    let ours = median(
        (0..OURS_RUNS)
            .map(|_| run_ours(&token, &key, &ours_out))
            .collect(),
    );
    let manual = median(
        (0..MANUAL_RUNS)
            .map(|_| run_manual(&token, &key, &manual_out, d))
            .collect(),
    );
    let file_ratio = manual.as_secs_f64() / ours.as_secs_f64();
    let floor = median((0..OURS_RUNS).map(|_| run_show(&token)).collect());

    // Both ways made the same, valid, signatures.
    let a = signatures(&ours_out, &public);
    let b = signatures(&manual_out, &public);
    assert_eq!(
        a, b,
        "cloudhsm-mfa and the manual pipeline made different signatures"
    );

    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let rows = [
        [
            "measurement".to_string(),
            "ours".into(),
            "reference".into(),
            "ratio".into(),
            "target".into(),
            "".into(),
        ],
        [
            "(a) RSA-2048 token signatures/s".into(),
            format!("{ours_rate:.0} sign/s"),
            format!("{openssl_rate:.0} sign/s"),
            format!("ours/openssl = {sign_ratio:.2}"),
            format!(">= {SIGN_TARGET:.1}"),
            verdict(sign_ratio >= SIGN_TARGET).into(),
        ],
        [
            "(b) sign a 3-token MFA file (median)".into(),
            ms(ours),
            ms(manual),
            format!("manual/ours = {file_ratio:.1}x"),
            format!(">= {FILE_TARGET:.0}x"),
            verdict(file_ratio >= FILE_TARGET).into(),
        ],
    ];
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    println!();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("  {}", cells.join("  ").trim_end());
        if i == 0 {
            println!(
                "  {}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    println!();
    println!("  (a) ours: PrivateKey::sign_token for {SIGN_SECONDS} s, one thread; reference: openssl speed -seconds {SIGN_SECONDS} rsa2048");
    println!("  (b) ours: {BIN} tokens sign, median of {OURS_RUNS} runs;");
    println!("      reference: bash -c with base64 -d | openssl pkeyutl -sign | base64 -w0 per token and python3 for the JSON, median of {MANUAL_RUNS} runs");
    println!("      both wrote byte-identical signatures that verify with the public key");
    println!(
        "  for scale: cloudhsm-mfa tokens show on the same file (process start, no signing) takes {} (median of {OURS_RUNS})",
        ms(floor)
    );
}
