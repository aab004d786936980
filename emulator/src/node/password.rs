//! Argon2id password hashing (PHC strings with a random 16-byte salt).

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::NodeSettings;

/// The password rule lives in the library core, shared with the client and the CLI.
pub use cloudhsm_mfa::user::{
    check_password as check_rule, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS,
};

const SALT_LEN: usize = 16;

/// Hashes a password with Argon2id at the node's cost, as a PHC string.
pub fn hash(password: &str, settings: &NodeSettings) -> Result<String, String> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
        None,
    )
    .map_err(|e| format!("Argon2id cost is not usable: {e}"))?;
    let mut salt = [0u8; SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| "no randomness available".to_string())?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

/// Checks a password against a PHC string made by [`hash`]; the cost comes from the string.
pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_and_verify_only_the_right_password() {
        let s = NodeSettings::low_cost();
        let a = hash("password1", &s).unwrap();
        let b = hash("password1", &s).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("password1", &a));
        assert!(verify("password1", &b));
        assert!(!verify("password2", &a));
        assert!(!verify("password1", "not a hash"));
    }
}
