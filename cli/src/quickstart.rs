//! `quickstart`: the whole token-sign flow in a fresh temporary directory, told step by
//! step on stderr: a key pair, an MFA token file of three random tokens, the file signed by
//! the library, and every signature checked by the real `openssl pkeyutl -verify`.
//! stdout keeps the one JSON envelope with the summary.

use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, ExitCode};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::Args;
use cloudhsm_mfa::crypto::random_token;
use cloudhsm_mfa::{sign_file, PrivateKey, PublicKey, TokenFile};
use serde::Serialize;

use crate::output::{self, path_text, Outcome};

/// As many tokens as a three-HSM cluster issues at login.
const TOKENS: usize = 3;
const BITS: usize = 2048;
const STEPS: usize = 7;
const PRIVATE_KEY: &str = "mfa-private.pem";
const PUBLIC_KEY: &str = "mfa-public.pem";

#[derive(Args)]
pub struct QuickstartArgs {
    /// Keep the temporary directory and its files instead of removing it at the end
    #[arg(long)]
    keep: bool,
}

#[derive(Serialize)]
struct Summary {
    directory: String,
    kept: bool,
    openssl: String,
    private_key: String,
    public_key: String,
    token_file: String,
    signed_token_file: String,
    kind: &'static str,
    tokens: usize,
    signatures: usize,
    verified_by_openssl: usize,
}

/// Numbered steps on stderr.
struct Steps {
    done: usize,
}

impl Steps {
    fn next(&mut self, title: &str) {
        self.done += 1;
        eprintln!("\n[{}/{STEPS}] {title}", self.done);
    }

    fn say(&self, line: impl AsRef<str>) {
        eprintln!("      {}", line.as_ref());
    }
}

pub fn run(args: QuickstartArgs) -> ExitCode {
    output::emit(walk_through(args))
}

fn walk_through(args: QuickstartArgs) -> Outcome<Summary> {
    let mut steps = Steps { done: 0 };
    eprintln!("cloudhsm-mfa quickstart: token-sign MFA from key pair to checked signatures");

    steps.next("Looking for OpenSSL, which checks the signatures at the end");
    let openssl = openssl_version()?;
    steps.say(format!("found: {openssl}"));

    steps.next("Creating a temporary working directory");
    let temp = tempfile::Builder::new()
        .prefix("cloudhsm-mfa-quickstart-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    // With --keep the directory is released at once, so it stays even if a step fails;
    // otherwise `_guard` removes it when this function returns, whatever the outcome.
    let (dir, _guard) = if args.keep {
        (temp.keep(), None)
    } else {
        (temp.path().to_path_buf(), Some(temp))
    };
    steps.say(dir.display().to_string());

    steps.next(&format!("Generating an RSA-{BITS} key pair"));
    let private_key = dir.join(PRIVATE_KEY);
    let public_key = dir.join(PUBLIC_KEY);
    let key = PrivateKey::generate(BITS).map_err(|e| e.to_string())?;
    key.write_pair(&private_key, &public_key)
        .map_err(|e| e.to_string())?;
    steps.say(format!(
        "private key: {} (mode 0600)",
        private_key.display()
    ));
    steps.say(format!("public key:  {}", public_key.display()));
    steps.say("This public key is what an HSM keeps when you register MFA.");

    steps.next(&format!(
        "Writing an MFA token file of {TOKENS} random 32-byte tokens, as a login writes it"
    ));
    let token_file = dir.join("token.json");
    let tokens = (0..TOKENS)
        .map(|_| random_token())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    TokenFile::new_mfa(&tokens)
        .and_then(|f| f.write(&token_file))
        .map_err(|e| e.to_string())?;
    steps.say(token_file.display().to_string());
    for (i, t) in tokens.iter().enumerate() {
        steps.say(format!("tokens[{i}].unsigned = {}", B64.encode(t)));
    }

    steps.next("Signing every token with the private key (one call, no manual steps)");
    let signed_file = dir.join("token-signed.json");
    let signed = sign_file(&token_file, &private_key, Some(&signed_file), None)
        .map_err(|e| e.to_string())?;
    steps.say(format!(
        "{} signatures written to {}",
        signed.signatures,
        signed.path.display()
    ));
    steps.say(format!(
        "the same as: cloudhsm-mfa tokens sign --token {} --private-key {} --output {}",
        token_file.display(),
        private_key.display(),
        signed_file.display()
    ));

    steps.next("Checking every signature with openssl pkeyutl -verify");
    steps.say(format!("in {}:", dir.display()));
    let file = TokenFile::load(&signed_file).map_err(|e| e.to_string())?;
    let mut verified = 0;
    for (i, entry) in file.tokens().iter().enumerate() {
        let signature = entry.signed.as_deref().ok_or_else(|| {
            format!(
                "{}: tokens[{i}].signed is empty after signing",
                signed_file.display()
            )
        })?;
        let token_bin = format!("token-{i}.bin");
        let sig_bin = format!("signature-{i}.bin");
        write_file(&dir.join(&token_bin), &entry.unsigned)?;
        write_file(&dir.join(&sig_bin), signature)?;
        let args = [
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            PUBLIC_KEY,
            "-pkeyopt",
            "digest:sha256",
            "-in",
            &token_bin,
            "-sigfile",
            &sig_bin,
        ];
        steps.say(format!("tokens[{i}]: openssl {}", args.join(" ")));
        let said = openssl_verify(&dir, &args)
            .map_err(|why| format!("openssl did not verify tokens[{i}].signed: {why}"))?;
        steps.say(format!("           {said}"));
        verified += 1;
    }
    // The library's own check agrees with OpenSSL's.
    let public = PublicKey::load(&public_key).map_err(|e| e.to_string())?;
    file.verify(&public, None).map_err(|e| e.to_string())?;
    steps.say(format!(
        "{verified} of {} signatures verified by OpenSSL and by the library",
        file.tokens().len()
    ));

    steps.next(if args.keep {
        "Keeping the working directory"
    } else {
        "Removing the working directory (pass --keep to keep it)"
    });
    steps.say(dir.display().to_string());
    eprintln!();

    Ok(Summary {
        directory: path_text(&dir),
        kept: args.keep,
        openssl,
        private_key: path_text(&private_key),
        public_key: path_text(&public_key),
        token_file: path_text(&token_file),
        signed_token_file: path_text(&signed.path),
        kind: signed.kind.as_str(),
        tokens: tokens.len(),
        signatures: signed.signatures,
        verified_by_openssl: verified,
    })
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn openssl_command() -> Command {
    Command::new("openssl")
}

fn not_found() -> String {
    "the openssl command was not found on PATH; the quickstart checks every signature with \
     OpenSSL: install it (for example apt-get install openssl) and run the quickstart again"
        .into()
}

/// `openssl version`, or a clear error when the command is missing.
fn openssl_version() -> Result<String, String> {
    let out = openssl_command()
        .arg("version")
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found(),
            _ => format!("cannot run openssl: {e}"),
        })?;
    if !out.status.success() {
        return Err(format!(
            "openssl version failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `openssl ARGS` (a `pkeyutl -verify`) in `dir` and returns what it said on success.
fn openssl_verify(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = openssl_command()
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(|e| match e.kind() {
            ErrorKind::NotFound => not_found(),
            _ => format!("cannot run openssl: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && stdout.contains("Signature Verified Successfully") {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{stdout} ({}) {}", out.status, stderr.trim())
            .trim()
            .to_string())
    }
}
