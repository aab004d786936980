//! `set-user-mfa-preference` (SPEC §11.1): which factors are enabled and which one is
//! preferred, and [`apply`], which accepts or refuses a whole request as one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use super::Factor;

/// A user's MFA state: the enabled factors and at most one preferred among them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    pub enabled: BTreeSet<Factor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred: Option<Factor>,
}

impl Preferences {
    /// Says what is wrong with stored preferences, if anything.
    pub fn check(&self) -> Result<(), String> {
        match self.preferred {
            Some(f) if !self.enabled.contains(&f) => {
                Err(format!("the preferred factor {f} is not enabled"))
            }
            _ => Ok(()),
        }
    }
}

/// The settings of one factor in a request; a field left out is `None` and stays as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    #[serde(rename = "Enabled", default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(
        rename = "PreferredMfa",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub preferred: Option<bool>,
}

/// A `set-mfa-preference` request: settings for the factors it changes only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub settings: BTreeMap<Factor, Setting>,
}

/// What the user has, on which enabling a factor depends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// A token-sign key is registered.
    pub token_sign_key: bool,
    /// A software token is associated and verified.
    pub software_token_verified: bool,
    pub phone_number: bool,
    pub email: bool,
}

/// Why a request was refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request itself breaks a rule (Cognito's `InvalidParameterException`).
    InvalidParameter(String),
    /// The software token was not associated and verified.
    SoftwareTokenNotVerified,
    /// SMS needs a phone number.
    NoPhoneNumber,
    /// Email needs an address.
    NoEmail,
    /// Token-sign needs a registered key.
    NoTokenSignKey,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::InvalidParameter(why) => f.write_str(why),
            Refusal::SoftwareTokenNotVerified => {
                f.write_str("User has not verified software token mfa")
            }
            Refusal::NoPhoneNumber => {
                f.write_str("User does not have a phone_number set to turn on SMS MFA")
            }
            Refusal::NoEmail => f.write_str("User does not have an email set to turn on EMAIL MFA"),
            Refusal::NoTokenSignKey => f.write_str(
                "User does not have a token-sign key registered to turn on TOKEN_SIGN MFA: \
                 register one with user change-mfa token-sign",
            ),
        }
    }
}

/// The preferences after `request`, or why it is refused (then nothing changes): at most
/// one factor preferred, never preferred and disabled, preferred with `Enabled` left out
/// only when already enabled, and enabling only what the user can use (`facts`). A factor
/// left out stays as it is; `Enabled=true` without `PreferredMfa` keeps the preference;
/// `PreferredMfa=true` moves it (the former preferred factor stays enabled);
/// `Enabled=true,PreferredMfa=false` on the preferred factor clears it; `Enabled=false`
/// disables the factor and clears its preference.
pub fn apply(
    current: &Preferences,
    request: &Request,
    facts: &Facts,
) -> Result<Preferences, Refusal> {
    let preferred: Vec<Factor> = request
        .settings
        .iter()
        .filter(|(_, s)| s.preferred == Some(true))
        .map(|(f, _)| *f)
        .collect();
    if preferred.len() > 1 {
        let names: Vec<&str> = preferred.iter().map(|f| f.cognito_name()).collect();
        return Err(Refusal::InvalidParameter(format!(
            "only one MFA factor may be preferred; the request prefers {}",
            names.join(" and ")
        )));
    }
    let mut next = current.clone();
    for (&factor, setting) in &request.settings {
        match (setting.enabled, setting.preferred) {
            (Some(false), Some(true)) => {
                return Err(Refusal::InvalidParameter(format!(
                    "{} cannot be preferred while it is disabled (PreferredMfa=true with \
                     Enabled=false)",
                    factor.cognito_name()
                )))
            }
            (None, Some(true)) if !current.enabled.contains(&factor) => {
                return Err(Refusal::InvalidParameter(format!(
                    "{} is not enabled: set Enabled=true to prefer it",
                    factor.cognito_name()
                )))
            }
            _ => {}
        }
        match setting.enabled {
            Some(true) => {
                enable_check(factor, facts)?;
                next.enabled.insert(factor);
            }
            Some(false) => {
                next.enabled.remove(&factor);
                if next.preferred == Some(factor) {
                    next.preferred = None;
                }
            }
            None => {}
        }
        match setting.preferred {
            Some(true) => next.preferred = Some(factor),
            Some(false) if next.preferred == Some(factor) => next.preferred = None,
            _ => {}
        }
    }
    debug_assert!(next.check().is_ok());
    Ok(next)
}

/// Whether `factor` may be turned on, given what the user has.
fn enable_check(factor: Factor, facts: &Facts) -> Result<(), Refusal> {
    let ready = match factor {
        Factor::TokenSign => facts.token_sign_key,
        Factor::SoftwareToken => facts.software_token_verified,
        Factor::Sms => facts.phone_number,
        Factor::Email => facts.email,
    };
    if ready {
        return Ok(());
    }
    Err(match factor {
        Factor::TokenSign => Refusal::NoTokenSignKey,
        Factor::SoftwareToken => Refusal::SoftwareTokenNotVerified,
        Factor::Sms => Refusal::NoPhoneNumber,
        Factor::Email => Refusal::NoEmail,
    })
}

#[cfg(test)]
mod tests {
    use super::Factor::*;
    use super::*;

    const ALL_FACTS: Facts = Facts {
        token_sign_key: true,
        software_token_verified: true,
        phone_number: true,
        email: true,
    };

    fn prefs(enabled: &[Factor], preferred: Option<Factor>) -> Preferences {
        Preferences {
            enabled: enabled.iter().copied().collect(),
            preferred,
        }
    }

    fn req(settings: &[(Factor, Option<bool>, Option<bool>)]) -> Request {
        Request {
            settings: settings
                .iter()
                .map(|&(f, enabled, preferred)| (f, Setting { enabled, preferred }))
                .collect(),
        }
    }

    fn ok(current: &Preferences, r: &Request) -> Preferences {
        apply(current, r, &ALL_FACTS).unwrap()
    }

    #[test]
    fn enabling_with_a_preference_prefers() {
        let p = ok(&prefs(&[], None), &req(&[(Sms, Some(true), Some(true))]));
        assert_eq!(p, prefs(&[Sms], Some(Sms)));
    }

    #[test]
    fn enabling_without_preferred_keeps_the_preference() {
        let start = prefs(&[Sms], Some(Sms));
        let p = ok(&start, &req(&[(Email, Some(true), None)]));
        assert_eq!(p, prefs(&[Sms, Email], Some(Sms)));
        // Enabled=true again on the preferred factor, PreferredMfa left out: still preferred.
        let p = ok(&start, &req(&[(Sms, Some(true), None)]));
        assert_eq!(p, start);
    }

    #[test]
    fn preferring_another_factor_moves_the_preference_and_keeps_the_former_enabled() {
        let p = ok(
            &prefs(&[Sms, SoftwareToken], Some(Sms)),
            &req(&[(SoftwareToken, Some(true), Some(true))]),
        );
        assert_eq!(p, prefs(&[Sms, SoftwareToken], Some(SoftwareToken)));
    }

    #[test]
    fn preferred_false_on_the_preferred_factor_clears_the_preference() {
        let p = ok(
            &prefs(&[Sms], Some(Sms)),
            &req(&[(Sms, Some(true), Some(false))]),
        );
        assert_eq!(p, prefs(&[Sms], None));
        // On another factor it changes nothing about the preference.
        let p = ok(
            &prefs(&[Sms, Email], Some(Sms)),
            &req(&[(Email, Some(true), Some(false))]),
        );
        assert_eq!(p, prefs(&[Sms, Email], Some(Sms)));
    }

    #[test]
    fn disabling_clears_the_factors_preference() {
        let p = ok(
            &prefs(&[Sms, Email], Some(Sms)),
            &req(&[(Sms, Some(false), None)]),
        );
        assert_eq!(p, prefs(&[Email], None));
        let p = ok(
            &prefs(&[Sms, Email], Some(Sms)),
            &req(&[(Sms, Some(false), Some(false))]),
        );
        assert_eq!(p, prefs(&[Email], None));
    }

    #[test]
    fn a_factor_left_out_stays_and_an_empty_request_is_a_no_op() {
        let start = prefs(&[Sms, Email], Some(Email));
        assert_eq!(ok(&start, &Request::default()), start);
        assert_eq!(ok(&start, &req(&[(SoftwareToken, None, None)])), start);
    }

    #[test]
    fn two_preferred_factors_are_refused_and_change_nothing() {
        let r = req(&[
            (Sms, Some(true), Some(true)),
            (Email, Some(true), Some(true)),
        ]);
        match apply(&prefs(&[], None), &r, &ALL_FACTS) {
            Err(Refusal::InvalidParameter(m)) => {
                assert!(m.contains("SMS_MFA and EMAIL_OTP"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn preferred_but_disabled_is_refused() {
        let r = req(&[(Sms, Some(false), Some(true))]);
        let e = apply(&prefs(&[Sms], None), &r, &ALL_FACTS).unwrap_err();
        assert!(
            matches!(e, Refusal::InvalidParameter(ref m) if m.contains("SMS_MFA cannot be preferred")),
            "{e}"
        );
    }

    #[test]
    fn preferred_with_enabled_left_out_needs_an_enabled_factor() {
        let r = req(&[(Sms, None, Some(true))]);
        assert!(matches!(
            apply(&prefs(&[], None), &r, &ALL_FACTS),
            Err(Refusal::InvalidParameter(ref m)) if m.contains("SMS_MFA is not enabled")
        ));
        assert_eq!(
            ok(&prefs(&[Sms, Email], Some(Email)), &r),
            prefs(&[Sms, Email], Some(Sms))
        );
    }

    #[test]
    fn enabling_needs_what_the_factor_uses() {
        let none = Facts::default();
        for (factor, refusal, text) in [
            (
                SoftwareToken,
                Refusal::SoftwareTokenNotVerified,
                "User has not verified software token mfa",
            ),
            (
                Sms,
                Refusal::NoPhoneNumber,
                "User does not have a phone_number set to turn on SMS MFA",
            ),
            (
                Email,
                Refusal::NoEmail,
                "User does not have an email set to turn on EMAIL MFA",
            ),
            (
                TokenSign,
                Refusal::NoTokenSignKey,
                "register one with user change-mfa token-sign",
            ),
        ] {
            let e = apply(
                &prefs(&[], None),
                &req(&[(factor, Some(true), None)]),
                &none,
            )
            .unwrap_err();
            assert_eq!(e, refusal);
            assert!(e.to_string().contains(text), "{e}");
            // Disabling never needs it.
            assert_eq!(
                apply(
                    &prefs(&[factor], Some(factor)),
                    &req(&[(factor, Some(false), None)]),
                    &none
                ),
                Ok(prefs(&[], None))
            );
        }
    }

    #[test]
    fn a_refusal_anywhere_refuses_the_whole_request() {
        let facts = Facts {
            phone_number: true,
            ..Facts::default()
        };
        let r = req(&[(Sms, Some(true), Some(true)), (Email, Some(true), None)]);
        assert_eq!(apply(&prefs(&[], None), &r, &facts), Err(Refusal::NoEmail));
    }

    #[test]
    fn stored_preferences_are_checked() {
        assert!(prefs(&[Sms], Some(Sms)).check().is_ok());
        assert!(prefs(&[Sms], Some(Email))
            .check()
            .unwrap_err()
            .contains("email is not enabled"));
    }

    #[test]
    fn settings_use_the_aws_cli_json_names() {
        let s: Setting = serde_json::from_str(r#"{"Enabled": true}"#).unwrap();
        assert_eq!(
            s,
            Setting {
                enabled: Some(true),
                preferred: None
            }
        );
        assert!(serde_json::from_str::<Setting>(r#"{"enabled": true}"#).is_err());
        assert_eq!(
            serde_json::to_string(&Setting {
                enabled: Some(false),
                preferred: Some(false)
            })
            .unwrap(),
            r#"{"Enabled":false,"PreferredMfa":false}"#
        );
    }
}
