//! Users (SPEC §4): the roles, the user-name rule (1 to 31 letters, digits and underscores,
//! case-insensitive and shown in lower case) and the password rule (7 to 32 characters).
//! The client, the emulator's nodes and the CLI all check them here.

use std::fmt;

use serde::{Deserialize, Serialize};

/// User roles (SPEC §4). Case-sensitive on the wire: `admin`, `crypto-user`,
/// `unactivated-admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "crypto-user")]
    CryptoUser,
    #[serde(rename = "unactivated-admin")]
    UnactivatedAdmin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::CryptoUser => "crypto-user",
            Role::UnactivatedAdmin => "unactivated-admin",
        }
    }

    /// Parses a role as users type it (case-sensitive).
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "crypto-user" => Some(Role::CryptoUser),
            "unactivated-admin" => Some(Role::UnactivatedAdmin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest user name.
pub const MAX_USERNAME_LEN: usize = 31;

/// Checks a user name and returns it in lower case, or says what is wrong with it.
pub fn normalize_username(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("user name is empty".into());
    }
    if name.chars().count() > MAX_USERNAME_LEN {
        return Err(format!(
            "user name is {} characters; at most {MAX_USERNAME_LEN} are allowed",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(format!(
            "user name has the character {bad:?}; only letters, digits and '_' are allowed"
        ));
    }
    Ok(name.to_ascii_lowercase())
}

/// The shortest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 7;
/// The longest password, in characters.
pub const MAX_PASSWORD_CHARS: usize = 32;

/// Checks the password rule: 7 to 32 characters. The message gives the count, never the
/// password.
pub fn check_password(password: &str) -> Result<(), String> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "the password has {n} characters; a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive_and_shown_in_lower_case() {
        assert_eq!(normalize_username("Alice_01").unwrap(), "alice_01");
    }

    #[test]
    fn roles_read_back_as_typed_and_case_sensitively() {
        for role in [Role::Admin, Role::CryptoUser, Role::UnactivatedAdmin] {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(Role::parse("Admin"), None);
    }

    #[test]
    fn passwords_have_7_to_32_characters_counted_as_characters() {
        assert!(check_password("1234567").is_ok());
        assert!(check_password(&"x".repeat(32)).is_ok());
        assert!(check_password(&"é".repeat(32)).is_ok());
        let short = check_password("123456").unwrap_err();
        assert!(short.contains("6 characters") && !short.contains("123456"));
        assert!(check_password(&"x".repeat(33)).unwrap_err().contains("33"));
    }

    #[test]
    fn bad_usernames_say_why() {
        assert!(normalize_username("").unwrap_err().contains("empty"));
        assert!(normalize_username(&"a".repeat(32))
            .unwrap_err()
            .contains("32 characters"));
        assert!(normalize_username(&"a".repeat(31)).is_ok());
        assert!(normalize_username("bob-smith").unwrap_err().contains("'-'"));
        assert!(normalize_username("bøb").is_err());
    }
}
