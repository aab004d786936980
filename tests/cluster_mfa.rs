//! SPEC §5 and §6 against a live emulator cluster over TLS: token-sign MFA login (the
//! documented manual flow with openssl, and with a signer), registration, rotation and
//! deregistration, and the ways a login must fail.

mod common;

use std::fs;
use std::time::Duration;

use cloudhsm_mfa::proto::{ErrorCode, Role};
use cloudhsm_mfa::{Error, PrivateKey, PublicKey, TokenFile};
use cloudhsm_mfa_emulator::NodeSettings;
use common::*;

#[test]
fn the_documented_flow_with_openssl_registers_and_logs_in() {
    let c = TestCluster::start(3);
    let (key, public) = openssl_key_pair(c.dir.path(), "mfa");
    c.admin()
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();

    // Registration: alice logs in with her password, asks for registration tokens, signs
    // them by hand with openssl and hands back the signed file and her public key.
    let mut s = c.session();
    s.run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let reg = c.path("register.json");
    let issued = s
        .run(async |ses| ses.change_mfa_begin("alice", Role::CryptoUser, &reg).await)
        .unwrap();
    assert_eq!(issued.tokens, 3, "one token per HSM");
    sign_like_the_aws_guide(&reg, &key, &reg);
    s.run(async |ses| {
        ses.change_mfa_finish(
            None,
            &PublicKey::load(&public).unwrap(),
            USER_PASSWORD,
            false,
        )
        .await
    })
    .unwrap();
    let list = user_list(&mut s);
    assert_eq!(
        row(&list, "alice")["mfa"],
        serde_json::json!([{"strategy": "token-sign", "status": "enabled"}])
    );
    assert_eq!(row(&list, "alice")["cluster-coverage"], "full");
    drop(s);

    // Login: the token file is written with mode 0600; the signed file goes elsewhere.
    let mut s = c.session();
    let token = c.path("login.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&token).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let unsigned = TokenFile::load(&token).unwrap();
    assert_eq!(unsigned.tokens().len(), 3);
    assert!(unsigned.tokens().iter().all(|t| t.signed.is_none()));
    let signed = c.path("signed.json");
    sign_like_the_aws_guide(&token, &key, &signed);
    let report = s
        .run(async |ses| ses.login_mfa_finish(Some(&signed)).await)
        .unwrap();
    assert_eq!(
        (report.username.as_str(), report.role),
        ("alice", Role::CryptoUser)
    );
    assert!(report.hsms.iter().all(|h| h.took_part));
    assert_eq!(s.logged_in(), Some(("alice", Role::CryptoUser)));
}

#[test]
fn a_password_login_of_an_mfa_user_is_refused_and_a_user_without_mfa_cannot_use_mfa() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let err = c
        .session()
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert!(matches!(err, Error::MfaRequired { .. }), "{err}");
    assert!(err.to_string().contains("log in with mfa-token-sign"));

    c.admin()
        .run(async |ses| {
            ses.create_user("bob", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut s = c.session();
    let err = s
        .run(async |ses| {
            ses.login_mfa_begin("bob", Role::CryptoUser, USER_PASSWORD, &c.path("t.json"))
                .await
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("MFA is not registered for user bob"),
        "{err}"
    );
    assert!(!c.path("t.json").exists());
    assert_eq!(s.logged_in(), None);
    // The failed attempt left no login behind: a password login still works.
    s.run(async |ses| ses.login("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
}

#[test]
fn the_signed_file_may_be_the_unsigned_one_and_reordered_entries_are_accepted() {
    let c = TestCluster::start(3);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    let mut file = TokenFile::load(&token).unwrap();
    file.sign(&key, None).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    json["tokens"].as_array_mut().unwrap().reverse();
    fs::write(&token, json.to_string()).unwrap();
    s.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
}

#[test]
fn a_replayed_signed_file_is_rejected() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    cloudhsm_mfa::sign_file(&token, &write_key(&c, &key), None, None).unwrap();
    let used = fs::read(&token).unwrap();
    s.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
    s.run(async |ses| ses.logout().await).unwrap();

    // The same signed file again, for a new login: its tokens were used.
    let again = c.path("again.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &again)
            .await
    })
    .unwrap();
    fs::write(&again, &used).unwrap();
    let err = s
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap_err();
    assert!(
        matches!(err, Error::TokenNotIssued { entry: Some(0), .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("again.json: tokens[0].unsigned: this token was not issued"),
        "{err}"
    );
    // Finishing again without a first phase is an error of its own.
    let err = c
        .session()
        .run(async |ses| ses.login_mfa_finish(Some(&again)).await)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no login is waiting for a signed token file"),
        "{err}"
    );
}

#[test]
fn a_token_from_another_login_is_rejected() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let key_path = write_key(&c, &key);
    let (mut a, mut b) = (c.session(), c.session());
    a.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &c.path("a.json"))
            .await
    })
    .unwrap();
    b.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &c.path("b.json"))
            .await
    })
    .unwrap();
    cloudhsm_mfa::sign_file(&c.path("b.json"), &key_path, None, None).unwrap();
    let err = a
        .run(async |ses| ses.login_mfa_finish(Some(&c.path("b.json"))).await)
        .unwrap_err();
    assert!(matches!(err, Error::TokenNotIssued { .. }), "{err}");
    // Session a can still finish with its own file; b's tokens still work for b.
    cloudhsm_mfa::sign_file(&c.path("a.json"), &key_path, None, None).unwrap();
    a.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
    b.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
}

#[test]
fn an_unsigned_or_incomplete_file_keeps_the_login_waiting() {
    let c = TestCluster::start(3);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    let err = s
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("t.json: tokens[0].signed: not signed yet"),
        "{err}"
    );
    let mut file = TokenFile::load(&token).unwrap();
    file.sign(&key, None).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    json["tokens"].as_array_mut().unwrap().remove(1);
    fs::write(&token, json.to_string()).unwrap();
    let err = s
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap_err();
    assert!(matches!(err, Error::TokenMissing { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no entry for the token that HSM hsm-2"),
        "{err}"
    );
    file.write(&token).unwrap();
    s.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
}

#[test]
fn an_expired_challenge_is_rejected() {
    let settings = NodeSettings {
        challenge_ttl: Duration::from_secs(600),
        ..NodeSettings::low_cost()
    };
    let c = TestCluster::start_with(2, settings);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    cloudhsm_mfa::sign_file(&token, &write_key(&c, &key), None, None).unwrap();
    c.advance(Duration::from_secs(601));
    let err = s
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ChallengeExpired), "{err}");
    assert_eq!(s.logged_in(), None);
}

#[test]
fn a_signature_by_another_key_is_rejected_and_counts_toward_the_lockout() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    let other = keys::private_key(2048, 1);
    c.mfa_user("alice", &key);
    for attempt in 1..=5 {
        let mut s = c.session();
        let err = s
            .run(async |ses| {
                ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &other)
                    .await
            })
            .unwrap_err();
        assert_eq!(
            hsm_code(&err),
            Some(ErrorCode::SignatureInvalid),
            "attempt {attempt}: {err}"
        );
        assert_eq!(s.logged_in(), None);
    }
    let list = user_list(&mut c.session());
    assert_eq!(row(&list, "alice")["locked"], "true");
    let err = c
        .session()
        .run(async |ses| {
            ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &key)
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLocked), "{err}");
}

#[test]
fn rotation_refuses_the_old_key_and_accepts_the_new_one() {
    let c = TestCluster::start(3);
    let old = keys::private_key(2048, 0);
    let new = keys::private_key(3072, 0);
    c.mfa_user("alice", &old);
    let mut s = c.session();
    s.run(async |ses| {
        ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &old)
            .await
    })
    .unwrap();
    // Rotation is the same command: tokens signed with the NEW key, its public key given.
    let reg = c.path("rotate.json");
    s.run(async |ses| ses.change_mfa_begin("alice", Role::CryptoUser, &reg).await)
        .unwrap();
    let mut file = TokenFile::load(&reg).unwrap();
    file.sign(&new, None).unwrap();
    file.write(&reg).unwrap();
    s.run(async |ses| {
        ses.change_mfa_finish(None, &new.public_key().unwrap(), "new-password", false)
            .await
    })
    .unwrap();
    drop(s);

    let err = c
        .session()
        .run(async |ses| {
            ses.login_mfa_with("alice", Role::CryptoUser, "new-password", &old)
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::SignatureInvalid), "{err}");
    c.session()
        .run(async |ses| {
            ses.login_mfa_with("alice", Role::CryptoUser, "new-password", &new)
                .await
        })
        .unwrap();
}

#[test]
fn registration_needs_proof_of_possession_of_the_new_key() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    let claimed = keys::private_key(2048, 1);
    c.admin()
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut s = c.session();
    s.run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let err = s
        .run(async |ses| {
            ses.change_mfa_with(
                "alice",
                Role::CryptoUser,
                &claimed.public_key().unwrap(),
                USER_PASSWORD,
                false,
                &key,
            )
            .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::SignatureInvalid), "{err}");
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["mfa"], serde_json::json!([]));
}

#[test]
fn deregistration_brings_back_the_password_login() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let mut s = c.session();
    s.run(async |ses| {
        ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &key)
            .await
    })
    .unwrap();
    s.run(async |ses| {
        ses.deregister_mfa("alice", Role::CryptoUser, "another-password", false)
            .await
    })
    .unwrap();
    assert_eq!(
        row(&user_list(&mut s), "alice")["mfa"],
        serde_json::json!([])
    );
    drop(s);
    c.session()
        .run(async |ses| {
            ses.login("alice", Role::CryptoUser, "another-password")
                .await
        })
        .unwrap();
    let err = c
        .session()
        .run(async |ses| {
            ses.login_mfa_with("alice", Role::CryptoUser, "another-password", &key)
                .await
        })
        .unwrap_err();
    assert!(matches!(err, Error::MfaNotRegistered { .. }), "{err}");
}

#[test]
fn change_quorum_registers_the_quorum_key_with_the_mfa_key_and_removal_takes_both() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    c.admin()
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut s = c.session();
    s.run(async |ses| ses.login("alice", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    s.run(async |ses| {
        ses.change_mfa_with(
            "alice",
            Role::CryptoUser,
            &key.public_key().unwrap(),
            USER_PASSWORD,
            true,
            &key,
        )
        .await
    })
    .unwrap();
    let enabled = serde_json::json!([{"strategy": "token-sign", "status": "enabled"}]);
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], enabled);
    assert_eq!(row(&list, "alice")["mfa"], enabled);
    // Changing the password of an MFA user registered for quorum removes the quorum key.
    s.run(async |ses| {
        ses.change_password("alice", Role::CryptoUser, "changed-password")
            .await
    })
    .unwrap();
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], serde_json::json!([]));
    assert_eq!(row(&list, "alice")["mfa"], enabled);
    s.run(async |ses| {
        ses.change_mfa_with(
            "alice",
            Role::CryptoUser,
            &key.public_key().unwrap(),
            USER_PASSWORD,
            true,
            &key,
        )
        .await
    })
    .unwrap();
    s.run(async |ses| {
        ses.deregister_mfa("alice", Role::CryptoUser, USER_PASSWORD, true)
            .await
    })
    .unwrap();
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], serde_json::json!([]));
    assert_eq!(row(&list, "alice")["mfa"], serde_json::json!([]));
}

#[test]
fn an_admin_registers_mfa_for_another_user_but_a_crypto_user_cannot() {
    let c = TestCluster::start(2);
    let key = keys::private_key(2048, 0);
    let mut admin = c.admin();
    admin
        .run(async |ses| {
            ses.create_user("alice", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    admin
        .run(async |ses| {
            ses.create_user("bob", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut bob = c.session();
    bob.run(async |ses| ses.login("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    let err = bob
        .run(async |ses| {
            ses.change_mfa_begin("alice", Role::CryptoUser, &c.path("t.json"))
                .await
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    admin
        .run(async |ses| {
            ses.change_mfa_with(
                "alice",
                Role::CryptoUser,
                &key.public_key().unwrap(),
                USER_PASSWORD,
                false,
                &key,
            )
            .await
        })
        .unwrap();
    c.session()
        .run(async |ses| {
            ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &key)
                .await
        })
        .unwrap();
}

/// Writes `key` as a PEM file in the test directory and returns its path.
fn write_key(c: &TestCluster, key: &PrivateKey) -> std::path::PathBuf {
    let p = c.path("signer.pem");
    let public = c.path("signer.pub");
    key.write_pair(&p, &public).unwrap();
    p
}

#[test]
fn a_failing_signer_stops_the_login_and_is_not_asked_again() {
    let c = TestCluster::start(3);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mut s = c.session();
    let err = s
        .run(async |ses| {
            ses.login_mfa_with(
                "alice",
                Role::CryptoUser,
                USER_PASSWORD,
                &|_: &cloudhsm_mfa::Token| {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    Err(Error::Signer {
                        reason: "the token device was unplugged".into(),
                    })
                },
            )
            .await
        })
        .unwrap_err();
    assert!(
        err.to_string().contains("the token device was unplugged"),
        "{err}"
    );
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let n = calls.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        n >= 1 && n <= cores.min(3),
        "the signer was called {n} times"
    );
    assert_eq!(s.logged_in(), None);
    // The HSMs were not left half logged in: a correct login works at once.
    s.run(async |ses| {
        ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &key)
            .await
    })
    .unwrap();
}
