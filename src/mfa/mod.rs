//! MFA factors and preferences in Amazon Cognito's model (SPEC §11), as rules with no I/O:
//! the factors, [`preferences::apply`] for a `set-mfa-preference` request, [`next_step`]
//! for a login, and [`totp`] (RFC 6238). The emulator's nodes, the client and the CLI all
//! use them.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod preferences;
pub mod totp;

pub use preferences::{apply, Facts, Preferences, Refusal, Request, Setting};

/// A second factor a user may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Factor {
    /// A signature over a token with the user's registered key (SPEC §5, §6).
    TokenSign,
    /// A 6-digit TOTP code (RFC 6238) from an authenticator app.
    SoftwareToken,
    /// A 6-digit code sent by SMS to the user's `phone_number`.
    Sms,
    /// A 6-digit code sent by email to the user's `email`.
    Email,
}

impl Factor {
    /// Every factor, in the order of listings.
    pub const ALL: [Factor; 4] = [
        Factor::TokenSign,
        Factor::SoftwareToken,
        Factor::Sms,
        Factor::Email,
    ];

    /// The factor's name in the CLI and in `user list`: `token-sign`, `software-token`,
    /// `sms`, `email`.
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::TokenSign => "token-sign",
            Factor::SoftwareToken => "software-token",
            Factor::Sms => "sms",
            Factor::Email => "email",
        }
    }

    /// Parses a factor name as the CLI takes it.
    pub fn parse(s: &str) -> Option<Factor> {
        Factor::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The factor in Cognito's vocabulary (`UserMFASettingList`, `PreferredMfaSetting`):
    /// `SMS_MFA`, `SOFTWARE_TOKEN_MFA`, `EMAIL_OTP`, and ours, `TOKEN_SIGN_MFA`.
    pub fn cognito_name(self) -> &'static str {
        match self {
            Factor::TokenSign => "TOKEN_SIGN_MFA",
            Factor::SoftwareToken => "SOFTWARE_TOKEN_MFA",
            Factor::Sms => "SMS_MFA",
            Factor::Email => "EMAIL_OTP",
        }
    }

    /// The key of the factor's settings in a `set-user-mfa-preference` request, e.g.
    /// `SMSMfaSettings`.
    pub fn settings_key(self) -> &'static str {
        match self {
            Factor::TokenSign => "TokenSignMfaSettings",
            Factor::SoftwareToken => "SoftwareTokenMfaSettings",
            Factor::Sms => "SMSMfaSettings",
            Factor::Email => "EmailMfaSettings",
        }
    }

    /// Whether the factor's code is sent to the user (SMS, email).
    pub fn is_delivered(self) -> bool {
        matches!(self, Factor::Sms | Factor::Email)
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a login asks for once the password is right (SPEC §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No factor is enabled: the user is logged in.
    Done,
    /// The preferred factor, or the only enabled one.
    Ask(Factor),
    /// Several factors are enabled and none is preferred: the user picks one of these.
    Select(Vec<Factor>),
}

/// The step after the password for a user with `preferences`.
pub fn next_step(preferences: &Preferences) -> Step {
    if let Some(f) = preferences.preferred {
        return Step::Ask(f);
    }
    let enabled: Vec<Factor> = Factor::ALL
        .into_iter()
        .filter(|f| preferences.enabled.contains(f))
        .collect();
    match enabled.as_slice() {
        [] => Step::Done,
        [only] => Step::Ask(*only),
        _ => Step::Select(enabled),
    }
}

/// A phone number or email address as a login shows where a code went, without giving it
/// away: `+*******1234`, `a***@example.com`.
pub fn mask(destination: &str) -> String {
    match destination.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => {
            let chars: Vec<char> = destination.chars().collect();
            let keep = chars.len().min(4);
            let shown: String = chars[chars.len() - keep..].iter().collect();
            let lead = if destination.starts_with('+') {
                "+"
            } else {
                ""
            };
            format!(
                "{lead}{}{shown}",
                "*".repeat(chars.len().saturating_sub(keep + lead.len()))
            )
        }
    }
}

/// Checks a phone number: E.164, `+` and 8 to 15 digits.
pub fn check_phone_number(number: &str) -> Result<(), String> {
    let digits = number.strip_prefix('+').unwrap_or("");
    if digits.len() < 8 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "phone number {} is not in E.164 form: + and 8 to 15 digits, e.g. +14155550100",
            crate::quote::quote(number)
        ));
    }
    Ok(())
}

/// Checks an email address: one `@`, a non-empty local part, a domain with a dot, no
/// spaces or control characters, at most 254 characters.
pub fn check_email(address: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "email {} is not an address of the form name@example.com",
            crate::quote::quote(address)
        )
    };
    if address.len() > 254 || address.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err(bad());
    };
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefs(enabled: &[Factor], preferred: Option<Factor>) -> Preferences {
        Preferences {
            enabled: enabled.iter().copied().collect(),
            preferred,
        }
    }

    #[test]
    fn factors_have_the_cli_and_cognito_names() {
        for f in Factor::ALL {
            assert_eq!(Factor::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
        let names: Vec<_> = Factor::ALL.iter().map(|f| f.cognito_name()).collect();
        assert_eq!(
            names,
            [
                "TOKEN_SIGN_MFA",
                "SOFTWARE_TOKEN_MFA",
                "SMS_MFA",
                "EMAIL_OTP"
            ]
        );
        assert_eq!(Factor::Sms.settings_key(), "SMSMfaSettings");
        assert_eq!(Factor::parse("SMS"), None);
    }

    #[test]
    fn the_login_asks_for_the_preferred_or_the_only_factor_else_a_selection() {
        use Factor::*;
        assert_eq!(next_step(&prefs(&[], None)), Step::Done);
        assert_eq!(
            next_step(&prefs(&[Sms], None)),
            Step::Ask(Sms),
            "the only one, not preferred"
        );
        assert_eq!(
            next_step(&prefs(&[Sms, SoftwareToken], Some(Sms))),
            Step::Ask(Sms)
        );
        assert_eq!(
            next_step(&prefs(&[Email, Sms, SoftwareToken], None)),
            Step::Select(vec![SoftwareToken, Sms, Email])
        );
    }

    #[test]
    fn destinations_are_masked() {
        assert_eq!(mask("+14155550100"), "+*******0100");
        assert_eq!(mask("alice@example.com"), "a***@example.com");
    }

    #[test]
    fn phone_numbers_and_emails_are_checked() {
        assert!(check_phone_number("+14155550100").is_ok());
        for bad in [
            "14155550100",
            "+1415",
            "+1415555010012345",
            "+1415-555-0100",
            "",
        ] {
            assert!(
                check_phone_number(bad).unwrap_err().contains("E.164"),
                "{bad}"
            );
        }
        assert!(check_email("alice@example.com").is_ok());
        for bad in [
            "alice",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
    }
}
