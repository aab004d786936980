//! Keys named on the command line: a PEM file or a `pkcs11:` URI (SPEC §12), opened by the
//! library. Like ssh, a private key file that its group or other users can read is used,
//! with a warning on stderr (the rule is the library's).

use std::path::Path;

use cloudhsm_mfa::crypto::private_key_mode_problem;
use cloudhsm_mfa::{KeySpec, PublicKey, SigningKey};

/// Warns on stderr when the private key file at `path` is open to group or others.
pub fn warn_if_exposed(path: &Path) {
    if let Some(problem) = private_key_mode_problem(path) {
        eprintln!("warning: {problem}");
    }
}

fn spec(name: &Path) -> Result<KeySpec, String> {
    KeySpec::from_path(name).map_err(|e| e.to_string())
}

/// Opens the private key `name` stands for, warning first when it is a file whose mode
/// is not private. A token's PIN comes from the URI, the environment or a prompt.
pub fn open_private(name: &Path) -> Result<SigningKey, String> {
    let spec = spec(name)?;
    if let KeySpec::File(path) = &spec {
        warn_if_exposed(path);
    }
    spec.open().map_err(|e| e.to_string())
}

/// Reads the public key `name` stands for: a PEM file, or the key pair on a token.
pub fn open_public(name: &Path) -> Result<PublicKey, String> {
    spec(name)?.open_public().map_err(|e| e.to_string())
}
