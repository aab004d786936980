//! Private key files named on the command line: like ssh, a key that its group or other
//! users can read is used, with a warning on stderr (the rule is the library's).

use std::path::Path;

use cloudhsm_mfa::crypto::private_key_mode_problem;
use cloudhsm_mfa::PrivateKey;

/// Warns on stderr when the private key file at `path` is open to group or others.
pub fn warn_if_exposed(path: &Path) {
    if let Some(problem) = private_key_mode_problem(path) {
        eprintln!("warning: {problem}");
    }
}

/// Loads a private key file, warning first when its mode is not private.
pub fn load_private(path: &Path) -> Result<PrivateKey, String> {
    warn_if_exposed(path);
    PrivateKey::load(path).map_err(|e| e.to_string())
}
