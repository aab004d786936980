//! `keygen`: a new RSA key pair for token-sign MFA and quorum approvals, made and written
//! by the library (private key mode 0600, public key 0644), or made on a PKCS#11 token
//! when the private key is a `pkcs11:` URI (SPEC §12).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use cloudhsm_mfa::KeySpec;
use serde::Serialize;

use crate::output::{self, path_text, Outcome};

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PEM, PKCS#8), or the pkcs11: URI of a token to make
    /// the pair on (its object= is the new key's label; no private key file is written)
    #[arg(long, value_name = "OUT")]
    private_key: PathBuf,
    /// Where to write the public key (PEM, SubjectPublicKeyInfo)
    #[arg(long, value_name = "OUT")]
    public_key: PathBuf,
    /// The RSA modulus size: 2048, 3072 or 4096
    #[arg(long, value_name = "BITS", default_value_t = 2048)]
    bits: usize,
    /// Replace key files that already exist (never a key on a token)
    #[arg(long)]
    force: bool,
}

#[derive(Serialize)]
struct Generated {
    private_key: String,
    public_key: String,
    bits: usize,
}

pub fn run(args: KeygenArgs) -> ExitCode {
    output::emit(generate(args))
}

fn generate(args: KeygenArgs) -> Outcome<Generated> {
    let spec = KeySpec::from_path(&args.private_key).map_err(|e| e.to_string())?;
    if !args.force {
        let private_file = match &spec {
            KeySpec::File(path) => Some(path),
            KeySpec::Pkcs11(_) => None,
        };
        for path in private_file.into_iter().chain([&args.public_key]) {
            if path.symlink_metadata().is_ok() {
                return Err(format!(
                    "{} already exists; choose another path or pass --force to replace it",
                    path.display()
                ));
            }
        }
    }
    let key = spec
        .generate_pair(args.bits, &args.public_key)
        .map_err(|e| e.to_string())?;
    Ok(Generated {
        private_key: match &spec {
            KeySpec::File(path) => path_text(path),
            KeySpec::Pkcs11(_) => key_name(&key),
        },
        public_key: path_text(&args.public_key),
        bits: key.bits(),
    })
}

/// How a key on a token is shown: its URI, with any `pin-value` hidden.
fn key_name(key: &cloudhsm_mfa::SigningKey) -> String {
    match key {
        cloudhsm_mfa::SigningKey::Token(k) => k.uri().to_string(),
        cloudhsm_mfa::SigningKey::File(_) => String::new(),
    }
}
