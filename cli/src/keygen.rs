//! `keygen`: a new RSA key pair for token-sign MFA and quorum approvals, made and written
//! by the library (private key mode 0600, public key 0644).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use cloudhsm_mfa::PrivateKey;
use serde::Serialize;

use crate::output::{self, path_text, Outcome};

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the private key (PEM, PKCS#8)
    #[arg(long, value_name = "OUT")]
    private_key: PathBuf,
    /// Where to write the public key (PEM, SubjectPublicKeyInfo)
    #[arg(long, value_name = "OUT")]
    public_key: PathBuf,
    /// The RSA modulus size: 2048, 3072 or 4096
    #[arg(long, value_name = "BITS", default_value_t = 2048)]
    bits: usize,
    /// Replace key files that already exist
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
    if !args.force {
        for path in [&args.private_key, &args.public_key] {
            if path.symlink_metadata().is_ok() {
                return Err(format!(
                    "{} already exists; choose another path or pass --force to replace it",
                    path.display()
                ));
            }
        }
    }
    let key = PrivateKey::generate(args.bits).map_err(|e| e.to_string())?;
    key.write_pair(&args.private_key, &args.public_key)
        .map_err(|e| e.to_string())?;
    Ok(Generated {
        private_key: path_text(&args.private_key),
        public_key: path_text(&args.public_key),
        bits: key.bits(),
    })
}
