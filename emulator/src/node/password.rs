//! Password rules and Argon2id hashing (PHC strings with a random 16-byte salt).

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

use super::NodeSettings;

/// The shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 7;
/// The longest password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 32;
const SALT_LEN: usize = 16;

/// Checks the length rule (SPEC §4): 7 to 32 characters.
pub fn check_rule(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "the password has {n} characters; a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        ))
    }
}

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
    fn passwords_of_7_to_32_characters_are_accepted() {
        assert!(check_rule("1234567").is_ok());
        assert!(check_rule(&"x".repeat(32)).is_ok());
        // Characters, not bytes.
        assert!(check_rule(&"é".repeat(32)).is_ok());
        let short = check_rule("123456").unwrap_err();
        assert!(
            short.contains("6 characters") && short.contains("7 to 32"),
            "{short}"
        );
        assert!(check_rule(&"x".repeat(33)).unwrap_err().contains("33"));
    }

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
