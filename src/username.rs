//! User names (SPEC §4): 1 to 31 letters, digits and underscores, case-insensitive and
//! shown in lower case.

/// The longest user name.
pub const MAX_LEN: usize = 31;

/// Checks a user name and returns it in lower case, or says what is wrong with it.
pub fn normalize(name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("user name is empty".into());
    }
    if name.chars().count() > MAX_LEN {
        return Err(format!(
            "user name is {} characters; at most {MAX_LEN} are allowed",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_insensitive_and_shown_in_lower_case() {
        assert_eq!(normalize("Alice_01").unwrap(), "alice_01");
    }

    #[test]
    fn bad_usernames_say_why() {
        assert!(normalize("").unwrap_err().contains("empty"));
        assert!(normalize(&"a".repeat(32))
            .unwrap_err()
            .contains("32 characters"));
        assert!(normalize(&"a".repeat(31)).is_ok());
        assert!(normalize("bob-smith").unwrap_err().contains("'-'"));
        assert!(normalize("bøb").is_err());
    }
}
