//! MFA factors against a live 3-HSM cluster (SPEC §11): preferences set and read in
//! Cognito's vocabulary, a software token associated, verified and used to log in (with a
//! reused code refused), SMS and email codes read from the outbox (one message per login
//! for 3 HSMs), the select step, and token-sign through the same login steps.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use cloudhsm_mfa::client::{LoginStep, MfaPreferenceView};
use cloudhsm_mfa::mfa::{totp, Factor, Request, Setting};
use cloudhsm_mfa::proto::{ErrorCode, Role};
use common::*;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn request(settings: &[(Factor, Option<bool>, Option<bool>)]) -> Request {
    Request {
        settings: settings
            .iter()
            .map(|&(f, enabled, preferred)| (f, Setting { enabled, preferred }))
            .collect(),
    }
}

/// The codes in the cluster's outbox for `to`, oldest first.
fn outbox_codes(c: &TestCluster, to: &str) -> Vec<String> {
    let path = c.cluster.dir().join("outbox.jsonl");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|m| m["to"] == to)
        .map(|m| m["code"].as_str().unwrap().to_string())
        .collect()
}

/// Crypto user `name`, logged in on a session of its own.
fn user(c: &TestCluster, name: &str) -> cloudhsm_mfa::blocking::Session {
    c.admin()
        .run(async |s| s.create_user(name, Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let mut s = c.session();
    s.run(async |s| s.login(name, Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    s
}

#[test]
fn a_software_token_preferred_then_a_login_with_its_code() {
    let c = TestCluster::start(3);
    let mut alice = user(&c, "alice");
    let e = alice
        .run(async |s| {
            s.set_mfa_preference(
                "alice",
                Role::CryptoUser,
                &request(&[(Factor::SoftwareToken, Some(true), Some(true))]),
            )
            .await
        })
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("User has not verified software token mfa"),
        "{e}"
    );
    let token = alice
        .run(async |s| s.associate_software_token("alice@cluster-local").await)
        .unwrap();
    assert!(token
        .otpauth_uri
        .starts_with("otpauth://totp/cloudhsm-mfa:alice@cluster-local?secret="));
    let secret = totp::decode_secret(&token.secret_code).unwrap();
    let verify_code = totp::code_at(&secret, now());
    alice
        .run(async |s| s.verify_software_token(&verify_code, Some("phone")).await)
        .unwrap();
    let prefs = alice
        .run(async |s| {
            s.set_mfa_preference(
                "alice",
                Role::CryptoUser,
                &request(&[(Factor::SoftwareToken, Some(true), Some(true))]),
            )
            .await
        })
        .unwrap();
    assert_eq!(
        serde_json::to_value(MfaPreferenceView::new(&prefs)).unwrap(),
        serde_json::json!({"UserMFASettingList": ["SOFTWARE_TOKEN_MFA"], "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"})
    );
    let list = user_list(&mut alice);
    assert_eq!(
        row(&list, "alice")["mfa"],
        serde_json::json!([{"strategy": "software-token", "status": "enabled"}])
    );
    alice.run(async |s| s.logout().await).unwrap();

    // The old password login is refused; the new steps ask for the code.
    let e = alice
        .run(async |s| s.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert!(matches!(e, cloudhsm_mfa::Error::MfaRequired { .. }), "{e}");
    let step = alice
        .run(async |s| {
            s.login_start("alice", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Code {
            factor: Factor::SoftwareToken,
            destination: None
        }
    );
    // The code that verified the token was used already.
    let e = alice
        .run(async |s| s.login_code(&verify_code).await)
        .unwrap_err();
    assert_eq!(hsm_code(&e), Some(ErrorCode::CodeMismatch), "{e}");
    c.advance(std::time::Duration::from_secs(totp::STEP_SECS));
    let next = totp::code_at(&secret, now() + totp::STEP_SECS);
    let report = alice.run(async |s| s.login_code(&next).await).unwrap();
    assert!(report.hsms.iter().all(|h| h.took_part));
}

/// Crypto user `name` with SMS enabled (not preferred) to `phone`, logged out on a
/// session of its own.
fn sms_user(c: &TestCluster, name: &str, phone: &str) -> cloudhsm_mfa::blocking::Session {
    let mut s = user(c, name);
    s.run(async |s| {
        s.update_attributes(name, Role::CryptoUser, Some(phone), None)
            .await
    })
    .unwrap();
    s.run(async |s| {
        s.set_mfa_preference(
            name,
            Role::CryptoUser,
            &request(&[(Factor::Sms, Some(true), None)]),
        )
        .await
    })
    .unwrap();
    s.run(async |s| s.logout().await).unwrap();
    s
}

#[test]
fn an_sms_login_sends_one_message_for_three_hsms() {
    let c = TestCluster::start(3);
    let mut bob = sms_user(&c, "bob", "+14155550100");
    let step = bob
        .run(async |s| {
            s.login_start("bob", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Code {
            factor: Factor::Sms,
            destination: Some("+*******0100".into())
        },
        "the only enabled factor is asked for, though not preferred"
    );
    let codes = outbox_codes(&c, "+14155550100");
    assert_eq!(codes.len(), 1, "one message for the whole cluster");
    bob.run(async |s| s.login_code(&codes[0]).await).unwrap();
    assert_eq!(
        bob.logged_in().map(|(u, _)| u.to_string()),
        Some("bob".into())
    );
}

#[test]
fn several_factors_make_the_login_ask_which_and_token_sign_goes_through_the_same_steps() {
    let c = TestCluster::start(3);
    let key = keys::private_key(2048, 0);
    c.mfa_user("carol", &key);
    let mut carol = c.session();
    // token-sign alone: the token-sign step, signed by the key.
    let step = carol
        .run(async |s| {
            s.login_start("carol", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert_eq!(step, LoginStep::TokenSign(None));
    carol.run(async |s| s.login_sign_with(&key).await).unwrap();
    carol
        .run(async |s| {
            s.update_attributes("carol", Role::CryptoUser, None, Some("carol@example.com"))
                .await
        })
        .unwrap();
    carol
        .run(async |s| {
            s.set_mfa_preference(
                "carol",
                Role::CryptoUser,
                &request(&[(Factor::Email, Some(true), None)]),
            )
            .await
        })
        .unwrap();
    carol.run(async |s| s.logout().await).unwrap();
    let step = carol
        .run(async |s| {
            s.login_start("carol", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Select {
            factors: vec![Factor::TokenSign, Factor::Email]
        }
    );
    let e = carol
        .run(async |s| s.login_select(Factor::Sms, None).await)
        .unwrap_err();
    assert!(e.to_string().contains("token-sign, email"), "{e}");
    let step = carol
        .run(async |s| s.login_select(Factor::Email, None).await)
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Code {
            factor: Factor::Email,
            destination: Some("c***@example.com".into())
        }
    );
    let codes = outbox_codes(&c, "carol@example.com");
    assert_eq!(codes.len(), 1);
    carol.run(async |s| s.login_code(&codes[0]).await).unwrap();
    // And the token-sign choice, through a token file.
    carol.run(async |s| s.logout().await).unwrap();
    carol
        .run(async |s| {
            s.login_start("carol", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    let file = c.path("login.json");
    let step = carol
        .run(async |s| s.login_select(Factor::TokenSign, Some(&file)).await)
        .unwrap();
    assert!(
        matches!(step, LoginStep::TokenSign(Some(ref t)) if t.tokens == 3),
        "{step:?}"
    );
    cloudhsm_mfa::sign_file(
        &file,
        &keys::private_key_path(2048, 0, keys::Encoding::Pkcs8),
        None,
        None,
    )
    .unwrap();
    carol.run(async |s| s.login_mfa_finish(None).await).unwrap();
    let prefs = carol
        .run(async |s| s.get_mfa_preference("carol", Some(Role::CryptoUser)).await)
        .unwrap();
    assert_eq!(
        serde_json::to_value(MfaPreferenceView::new(&prefs)).unwrap(),
        serde_json::json!({"UserMFASettingList": ["TOKEN_SIGN_MFA", "EMAIL_OTP"]})
    );
}

#[test]
fn the_code_is_sent_by_the_first_hsm_that_is_up_when_the_first_is_down() {
    let c = TestCluster::start(3);
    let mut gus = sms_user(&c, "gus", "+14155550155");
    // The session knows hsm-1, which goes down.
    c.cluster.stop_node(0).unwrap();
    let step = gus
        .run(async |s| {
            s.login_start("gus", Role::CryptoUser, USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert!(
        matches!(
            step,
            LoginStep::Code {
                factor: Factor::Sms,
                ..
            }
        ),
        "{step:?}"
    );
    let codes = outbox_codes(&c, "+14155550155");
    assert_eq!(codes.len(), 1, "hsm-2 sent the one message");
    let report = gus.run(async |s| s.login_code(&codes[0]).await).unwrap();
    let took_part: Vec<bool> = report.hsms.iter().map(|h| h.took_part).collect();
    assert_eq!(took_part, [false, true, true]);
}
