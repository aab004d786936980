//! MFA factors on one node (SPEC §11): preferences through the node, software tokens
//! (association, verification, codes at injected times, reuse), SMS and email codes (one
//! message, checked by any node with the cluster's key), selection, expiry and lockout.

use base64::Engine as _;
use cloudhsm_mfa::mfa::{totp, Factor, Setting};
use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret};

use super::*;

const PW: &str = "user-pw-123";
const NONCE: [u8; 16] = [9; 16];

fn nonce_b64(n: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(n)
}

fn set(username: &str, settings: &[(Factor, Option<bool>, Option<bool>)]) -> Op {
    Op::SetMfaPreference {
        username: username.into(),
        role: Role::CryptoUser,
        settings: settings
            .iter()
            .map(|&(f, enabled, preferred)| (f, Setting { enabled, preferred }))
            .collect(),
    }
}

fn login_with(username: &str, nonce: Option<&[u8]>, deliver_by: Option<&str>) -> Op {
    Op::Login {
        username: username.into(),
        role: Role::CryptoUser,
        password: Secret::new(PW),
        code_nonce: nonce.map(nonce_b64),
        deliver_by: deliver_by.map(str::to_string),
    }
}

fn code(factor: Factor, code: &str) -> Op {
    Op::LoginMfaCode {
        factor,
        code: Secret::new(code),
    }
}

/// A node with crypto user bob (password PW), logged in on its own connection.
fn with_bob() -> (Fixture, ConnId) {
    let mut f = Fixture::activated();
    let admin = f.admin();
    f.create(admin, "bob", Role::CryptoUser, PW);
    let bob = f.logged_in("bob", Role::CryptoUser, PW);
    (f, bob)
}

/// Associates and verifies a software token for the user logged in on `conn`; returns
/// the secret.
fn software_token(f: &mut Fixture, conn: ConnId) -> Vec<u8> {
    let secret = vec![7u8; totp::SECRET_LEN];
    f.ok(
        conn,
        Op::AssociateSoftwareToken {
            secret: Secret::new(totp::encode_secret(&secret)),
        },
    );
    let now = f.node.unix_secs(f.now);
    f.ok(
        conn,
        Op::VerifySoftwareToken {
            code: Secret::new(totp::code_at(&secret, now)),
            device_name: Some("phone".into()),
        },
    );
    secret
}

#[test]
fn a_software_token_is_enabled_only_once_verified_and_its_codes_are_single_use() {
    let (mut f, bob) = with_bob();
    let m = f.refused(
        bob,
        set("bob", &[(Factor::SoftwareToken, Some(true), Some(true))]),
        ErrorCode::FactorNotReady,
    );
    assert_eq!(m, "User has not verified software token mfa");
    let secret = vec![7u8; totp::SECRET_LEN];
    f.ok(
        bob,
        Op::AssociateSoftwareToken {
            secret: Secret::new(totp::encode_secret(&secret)),
        },
    );
    let m = f.refused(
        bob,
        Op::VerifySoftwareToken {
            code: Secret::new("000000"),
            device_name: None,
        },
        ErrorCode::CodeMismatch,
    );
    assert_eq!(m, "Code mismatch and fail enable Software Token MFA");
    let t = f.node.unix_secs(f.now);
    f.ok(
        bob,
        Op::VerifySoftwareToken {
            code: Secret::new(totp::code_at(&secret, t)),
            device_name: None,
        },
    );
    let reply = f.ok(
        bob,
        set("bob", &[(Factor::SoftwareToken, Some(true), Some(true))]),
    );
    assert_eq!(
        reply,
        Reply::MfaPreferences {
            enabled: vec![Factor::SoftwareToken],
            preferred: Some(Factor::SoftwareToken)
        }
    );
    f.ok(bob, Op::Logout);

    // The code that verified the token cannot log in.
    let c = f.greeted();
    assert_eq!(
        f.ok(c, login_with("bob", None, None)),
        Reply::MfaCode {
            factor: Factor::SoftwareToken,
            destination: None
        }
    );
    let m = f.refused_counting(c, code(Factor::SoftwareToken, &totp::code_at(&secret, t)));
    assert!(
        m.starts_with("Your software token has already been used once."),
        "{m}"
    );
    // The next step's code does, once.
    f.now += std::time::Duration::from_secs(totp::STEP_SECS);
    let next = totp::code_at(&secret, f.node.unix_secs(f.now));
    assert!(matches!(
        f.ok(c, code(Factor::SoftwareToken, &next)),
        Reply::LoggedIn { .. }
    ));
    f.ok(c, Op::Logout);
    f.ok(c, login_with("bob", None, None));
    let m = f.refused_counting(c, code(Factor::SoftwareToken, &next));
    assert!(m.contains("already been used once"), "{m}");
}

impl Fixture {
    /// Runs `op`, expects a wrong-code refusal that counted as a failed login.
    fn refused_counting(&mut self, conn: ConnId, op: Op) -> String {
        let (message, changed) = self.error(conn, op, ErrorCode::CodeMismatch);
        assert!(changed, "a wrong code counts toward the lockout: {message}");
        message
    }
}

#[test]
fn a_wrong_code_counts_toward_the_lockout() {
    let (mut f, bob) = with_bob();
    software_token(&mut f, bob);
    f.ok(
        bob,
        set("bob", &[(Factor::SoftwareToken, Some(true), None)]),
    );
    f.ok(bob, Op::Logout);
    let c = f.greeted();
    for i in 1..=5 {
        f.ok(c, login_with("bob", None, None));
        let m = f.refused_counting(c, code(Factor::SoftwareToken, "000000"));
        assert!(m.contains(&format!("failed login {i} of 5")), "{m}");
    }
    assert!(f.user("bob").locked);
}

#[test]
fn an_sms_code_is_sent_once_and_any_node_of_the_cluster_checks_it() {
    let (mut f, bob) = with_bob();
    let m = f.refused(
        bob,
        set("bob", &[(Factor::Sms, Some(true), None)]),
        ErrorCode::FactorNotReady,
    );
    assert_eq!(
        m,
        "User does not have a phone_number set to turn on SMS MFA"
    );
    f.ok(
        bob,
        Op::UpdateAttributes {
            username: "bob".into(),
            role: Role::CryptoUser,
            phone_number: Some("+14155550100".into()),
            email: None,
        },
    );
    f.ok(bob, set("bob", &[(Factor::Sms, Some(true), None)]));
    f.ok(bob, Op::Logout);

    // This node delivers: one message, to the user's number.
    let c = f.greeted();
    let out = f.outcome(c, login_with("bob", Some(&NONCE), Some("hsm-7")));
    assert_eq!(
        out.reply,
        Reply::MfaCode {
            factor: Factor::Sms,
            destination: Some("+*******0100".into())
        }
    );
    assert_eq!(out.messages.len(), 1);
    assert_eq!(
        (out.messages[0].channel, out.messages[0].to.as_str()),
        (Factor::Sms, "+14155550100")
    );
    let sent = out.messages[0].code.to_string();
    assert_eq!(sent.len(), 6);
    // Another node, asked not to deliver, sends nothing and expects the same code.
    let unix = f.node.unix_secs(f.now);
    assert_eq!(
        sent,
        crate::node::mfa::code_for_tests(&[0; 32], Factor::Sms, "bob", &NONCE, unix)
    );
    f.refused_counting(c, code(Factor::Sms, "000000"));
    assert!(matches!(
        f.ok(c, code(Factor::Sms, &sent)),
        Reply::LoggedIn { .. }
    ));

    // A nonce is taken once.
    f.ok(c, Op::Logout);
    let m = f.refused(
        c,
        login_with("bob", Some(&NONCE), Some("hsm-7")),
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("code_nonce was used already"), "{m}");
    let out = f.outcome(c, login_with("bob", Some(&[8; 16]), Some("hsm-1")));
    assert!(out.messages.is_empty(), "another node delivers this one");
    // The code expires after 3 minutes.
    f.now += std::time::Duration::from_secs(180);
    let later = crate::node::mfa::code_for_tests(&[0; 32], Factor::Sms, "bob", &[8; 16], unix);
    let (m, _) = f.error(c, code(Factor::Sms, &later), ErrorCode::CodeExpired);
    assert!(m.contains("expired after 180 seconds"), "{m}");
}

#[test]
fn several_factors_without_a_preferred_one_make_the_login_ask_which() {
    let (mut f, bob) = with_bob();
    software_token(&mut f, bob);
    f.ok(
        bob,
        Op::UpdateAttributes {
            username: "bob".into(),
            role: Role::CryptoUser,
            phone_number: None,
            email: Some("bob@example.com".into()),
        },
    );
    f.ok(
        bob,
        set(
            "bob",
            &[
                (Factor::SoftwareToken, Some(true), None),
                (Factor::Email, Some(true), None),
            ],
        ),
    );
    f.ok(bob, Op::Logout);
    let c = f.greeted();
    assert_eq!(
        f.ok(c, login_with("bob", Some(&NONCE), Some("hsm-7"))),
        Reply::MfaSelect {
            factors: vec![Factor::SoftwareToken, Factor::Email]
        }
    );
    let m = f.refused(
        c,
        Op::LoginMfaSelect {
            factor: Factor::Sms,
            code_nonce: None,
            deliver_by: None,
        },
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("software-token, email"), "{m}");
    let out = f.outcome(
        c,
        Op::LoginMfaSelect {
            factor: Factor::Email,
            code_nonce: Some(nonce_b64(&[5; 16])),
            deliver_by: Some("hsm-7".into()),
        },
    );
    assert_eq!(
        out.reply,
        Reply::MfaCode {
            factor: Factor::Email,
            destination: Some("b***@example.com".into())
        }
    );
    assert_eq!(out.messages.len(), 1);
    // The code of another factor than the one chosen is no answer.
    f.refused(
        c,
        code(Factor::SoftwareToken, "123456"),
        ErrorCode::InvalidArgument,
    );
    let sent = out.messages[0].code.to_string();
    assert!(matches!(
        f.ok(c, code(Factor::Email, &sent)),
        Reply::LoggedIn { .. }
    ));
}

#[test]
fn token_sign_is_enabled_by_registering_and_can_be_disabled_keeping_the_key() {
    let (mut f, bob) = with_bob();
    let keys = super::keys();
    f.register_mfa(bob, "bob", Role::CryptoUser, &keys[0], PW, false);
    assert_eq!(
        f.ok(
            bob,
            Op::GetMfaPreference {
                username: "bob".into(),
                role: Some(Role::CryptoUser)
            }
        ),
        Reply::MfaPreferences {
            enabled: vec![Factor::TokenSign],
            preferred: None
        }
    );
    // The only factor is asked for, though not preferred: a challenge, as before.
    let c = f.greeted();
    assert!(matches!(
        f.ok(c, login_with("bob", None, None)),
        Reply::Challenge { .. }
    ));
    f.ok(bob, set("bob", &[(Factor::TokenSign, Some(false), None)]));
    assert!(
        f.user("bob").mfa_public_key.is_some(),
        "disabling keeps the key"
    );
    let c = f.greeted();
    assert!(matches!(
        f.ok(c, login_with("bob", None, None)),
        Reply::LoggedIn { .. }
    ));
    // Another user may not change bob's preferences; an admin may.
    let admin = f.admin();
    f.create(admin, "carol", Role::CryptoUser, PW);
    let carol = f.logged_in("carol", Role::CryptoUser, PW);
    f.refused(
        carol,
        set("bob", &[(Factor::TokenSign, Some(true), None)]),
        ErrorCode::PermissionDenied,
    );
    f.ok(admin, set("bob", &[(Factor::TokenSign, Some(true), None)]));
    assert!(f.user("bob").mfa.enabled.contains(&Factor::TokenSign));
}

#[test]
fn two_preferred_factors_are_refused_and_change_nothing() {
    let (mut f, bob) = with_bob();
    f.ok(
        bob,
        Op::UpdateAttributes {
            username: "bob".into(),
            role: Role::CryptoUser,
            phone_number: Some("+14155550100".into()),
            email: Some("bob@example.com".into()),
        },
    );
    let m = f.refused(
        bob,
        set(
            "bob",
            &[
                (Factor::Sms, Some(true), Some(true)),
                (Factor::Email, Some(true), Some(true)),
            ],
        ),
        ErrorCode::MfaPreferenceInvalid,
    );
    assert!(m.contains("SMS_MFA and EMAIL_OTP"), "{m}");
    let m = f.refused(
        bob,
        Op::UpdateAttributes {
            username: "bob".into(),
            role: Role::CryptoUser,
            phone_number: Some("555-0100".into()),
            email: None,
        },
        ErrorCode::InvalidArgument,
    );
    assert!(m.contains("E.164"), "{m}");
}

#[test]
fn a_new_association_keeps_the_old_secret_working_until_it_is_verified() {
    let (mut f, bob) = with_bob();
    let old = software_token(&mut f, bob);
    f.ok(
        bob,
        set("bob", &[(Factor::SoftwareToken, Some(true), Some(true))]),
    );
    let new = vec![3u8; totp::SECRET_LEN];
    f.ok(
        bob,
        Op::AssociateSoftwareToken {
            secret: Secret::new(totp::encode_secret(&new)),
        },
    );
    f.ok(bob, Op::Logout);
    // Still the old secret's codes until the new one is verified.
    f.now += std::time::Duration::from_secs(totp::STEP_SECS);
    let c = f.greeted();
    f.ok(c, login_with("bob", None, None));
    let t = f.node.unix_secs(f.now);
    f.refused_counting(c, code(Factor::SoftwareToken, &totp::code_at(&new, t)));
    assert!(matches!(
        f.ok(c, code(Factor::SoftwareToken, &totp::code_at(&old, t))),
        Reply::LoggedIn { .. }
    ));
    // Verified, the new secret replaces the old.
    f.now += std::time::Duration::from_secs(totp::STEP_SECS);
    let t = f.node.unix_secs(f.now);
    f.ok(
        c,
        Op::VerifySoftwareToken {
            code: Secret::new(totp::code_at(&new, t)),
            device_name: None,
        },
    );
    f.ok(c, Op::Logout);
    f.now += std::time::Duration::from_secs(totp::STEP_SECS);
    let t = f.node.unix_secs(f.now);
    f.ok(c, login_with("bob", None, None));
    f.refused_counting(c, code(Factor::SoftwareToken, &totp::code_at(&old, t)));
    assert!(matches!(
        f.ok(c, code(Factor::SoftwareToken, &totp::code_at(&new, t))),
        Reply::LoggedIn { .. }
    ));
}

/// The node's Unix clock keeps the distance between two instants, whichever side of the
/// node's start they are on: a TOTP step later is always the next step.
#[test]
fn instants_thirty_seconds_apart_are_thirty_unix_seconds_apart() {
    let f = Fixture::unactivated();
    let base = f.node.wall_base.0;
    for offset in [0, 1, 250, 500, 999, 1500] {
        let ms = std::time::Duration::from_millis(offset);
        for at in [base.checked_sub(ms).unwrap(), base + ms] {
            let later = at + std::time::Duration::from_secs(totp::STEP_SECS);
            assert_eq!(
                f.node.unix_secs(later) - f.node.unix_secs(at),
                totp::STEP_SECS,
                "{offset} ms"
            );
        }
    }
}
