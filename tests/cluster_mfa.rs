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
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();

    // Registration: alice logs in with her password, asks for registration tokens, signs
    // them by hand with openssl and hands back the signed file and her public key.
    let mut s = c.session();
    s.login("alice", Role::CryptoUser, USER_PASSWORD).unwrap();
    let reg = c.path("register.json");
    let issued = s.change_mfa_begin("alice", Role::CryptoUser, &reg).unwrap();
    assert_eq!(issued.tokens, 3, "one token per HSM");
    sign_like_the_aws_guide(&reg, &key, &reg);
    s.change_mfa_finish(
        None,
        &PublicKey::load(&public).unwrap(),
        USER_PASSWORD,
        false,
    )
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
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
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
    let report = s.login_mfa_finish(Some(&signed)).unwrap();
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
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let err = c
        .session()
        .login("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap_err();
    assert!(matches!(err, Error::MfaRequired { .. }), "{err}");
    assert!(err.to_string().contains("log in with mfa-token-sign"));

    c.admin()
        .create_user("bob", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut s = c.session();
    let err = s
        .login_mfa_begin("bob", Role::CryptoUser, USER_PASSWORD, &c.path("t.json"))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("MFA is not registered for user bob"),
        "{err}"
    );
    assert!(!c.path("t.json").exists());
    assert_eq!(s.logged_in(), None);
    // The failed attempt left no login behind: a password login still works.
    s.login("bob", Role::CryptoUser, USER_PASSWORD).unwrap();
}

#[test]
fn the_signed_file_may_be_the_unsigned_one_and_reordered_entries_are_accepted() {
    let c = TestCluster::start(3);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
        .unwrap();
    let mut file = TokenFile::load(&token).unwrap();
    file.sign(&key, None).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&file.to_json()).unwrap();
    json["tokens"].as_array_mut().unwrap().reverse();
    fs::write(&token, json.to_string()).unwrap();
    s.login_mfa_finish(None).unwrap();
}

#[test]
fn a_replayed_signed_file_is_rejected() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
        .unwrap();
    cloudhsm_mfa::sign_file(&token, &write_key(&c, &key), None, None).unwrap();
    let used = fs::read(&token).unwrap();
    s.login_mfa_finish(None).unwrap();
    s.logout().unwrap();

    // The same signed file again, for a new login: its tokens were used.
    let again = c.path("again.json");
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &again)
        .unwrap();
    fs::write(&again, &used).unwrap();
    let err = s.login_mfa_finish(None).unwrap_err();
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
    let err = c.session().login_mfa_finish(Some(&again)).unwrap_err();
    assert!(
        err.to_string()
            .contains("no login is waiting for a signed token file"),
        "{err}"
    );
}

#[test]
fn a_token_from_another_login_is_rejected() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let key_path = write_key(&c, &key);
    let (mut a, mut b) = (c.session(), c.session());
    a.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &c.path("a.json"))
        .unwrap();
    b.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &c.path("b.json"))
        .unwrap();
    cloudhsm_mfa::sign_file(&c.path("b.json"), &key_path, None, None).unwrap();
    let err = a.login_mfa_finish(Some(&c.path("b.json"))).unwrap_err();
    assert!(matches!(err, Error::TokenNotIssued { .. }), "{err}");
    // Session a can still finish with its own file; b's tokens still work for b.
    cloudhsm_mfa::sign_file(&c.path("a.json"), &key_path, None, None).unwrap();
    a.login_mfa_finish(None).unwrap();
    b.login_mfa_finish(None).unwrap();
}

#[test]
fn an_unsigned_or_incomplete_file_keeps_the_login_waiting() {
    let c = TestCluster::start(3);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
        .unwrap();
    let err = s.login_mfa_finish(None).unwrap_err();
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
    let err = s.login_mfa_finish(None).unwrap_err();
    assert!(matches!(err, Error::TokenMissing { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("no entry for the token that HSM hsm-2"),
        "{err}"
    );
    file.write(&token).unwrap();
    s.login_mfa_finish(None).unwrap();
}

#[test]
fn an_expired_challenge_is_rejected() {
    let settings = NodeSettings {
        challenge_ttl: Duration::from_secs(1),
        ..NodeSettings::low_cost()
    };
    let c = TestCluster::start_with(2, settings);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let mut s = c.session();
    let token = c.path("t.json");
    s.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
        .unwrap();
    cloudhsm_mfa::sign_file(&token, &write_key(&c, &key), None, None).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let err = s.login_mfa_finish(None).unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::ChallengeExpired), "{err}");
    assert_eq!(s.logged_in(), None);
}

#[test]
fn a_signature_by_another_key_is_rejected_and_counts_toward_the_lockout() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    let other = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    for attempt in 1..=5 {
        let mut s = c.session();
        let err = s
            .login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
                other.sign_token(t)
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
        .login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
            key.sign_token(t)
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::UserLocked), "{err}");
}

#[test]
fn rotation_refuses_the_old_key_and_accepts_the_new_one() {
    let c = TestCluster::start(3);
    let old = PrivateKey::generate(2048).unwrap();
    let new = PrivateKey::generate(3072).unwrap();
    c.mfa_user("alice", &old);
    let mut s = c.session();
    s.login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
        old.sign_token(t)
    })
    .unwrap();
    // Rotation is the same command: tokens signed with the NEW key, its public key given.
    let reg = c.path("rotate.json");
    s.change_mfa_begin("alice", Role::CryptoUser, &reg).unwrap();
    let mut file = TokenFile::load(&reg).unwrap();
    file.sign(&new, None).unwrap();
    file.write(&reg).unwrap();
    s.change_mfa_finish(None, &new.public_key().unwrap(), "new-password", false)
        .unwrap();
    drop(s);

    let err = c
        .session()
        .login_mfa_with_signer("alice", Role::CryptoUser, "new-password", |t| {
            old.sign_token(t)
        })
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::SignatureInvalid), "{err}");
    c.session()
        .login_mfa_with_signer("alice", Role::CryptoUser, "new-password", |t| {
            new.sign_token(t)
        })
        .unwrap();
}

#[test]
fn registration_needs_proof_of_possession_of_the_new_key() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    let claimed = PrivateKey::generate(2048).unwrap();
    c.admin()
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut s = c.session();
    s.login("alice", Role::CryptoUser, USER_PASSWORD).unwrap();
    let err = s
        .change_mfa_with_signer(
            "alice",
            Role::CryptoUser,
            &claimed.public_key().unwrap(),
            USER_PASSWORD,
            false,
            |t| key.sign_token(t),
        )
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::SignatureInvalid), "{err}");
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["mfa"], serde_json::json!([]));
}

#[test]
fn deregistration_brings_back_the_password_login() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let mut s = c.session();
    s.login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
        key.sign_token(t)
    })
    .unwrap();
    s.deregister_mfa("alice", Role::CryptoUser, "another-password", false)
        .unwrap();
    assert_eq!(
        row(&user_list(&mut s), "alice")["mfa"],
        serde_json::json!([])
    );
    drop(s);
    c.session()
        .login("alice", Role::CryptoUser, "another-password")
        .unwrap();
    let err = c
        .session()
        .login_mfa_with_signer("alice", Role::CryptoUser, "another-password", |t| {
            key.sign_token(t)
        })
        .unwrap_err();
    assert!(matches!(err, Error::MfaNotRegistered { .. }), "{err}");
}

#[test]
fn change_quorum_registers_the_quorum_key_with_the_mfa_key_and_removal_takes_both() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    c.admin()
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut s = c.session();
    s.login("alice", Role::CryptoUser, USER_PASSWORD).unwrap();
    s.change_mfa_with_signer(
        "alice",
        Role::CryptoUser,
        &key.public_key().unwrap(),
        USER_PASSWORD,
        true,
        |t| key.sign_token(t),
    )
    .unwrap();
    let enabled = serde_json::json!([{"strategy": "token-sign", "status": "enabled"}]);
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], enabled);
    assert_eq!(row(&list, "alice")["mfa"], enabled);
    // Changing the password of an MFA user registered for quorum removes the quorum key.
    s.change_password("alice", Role::CryptoUser, "changed-password")
        .unwrap();
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], serde_json::json!([]));
    assert_eq!(row(&list, "alice")["mfa"], enabled);
    s.change_mfa_with_signer(
        "alice",
        Role::CryptoUser,
        &key.public_key().unwrap(),
        USER_PASSWORD,
        true,
        |t| key.sign_token(t),
    )
    .unwrap();
    s.deregister_mfa("alice", Role::CryptoUser, USER_PASSWORD, true)
        .unwrap();
    let list = user_list(&mut s);
    assert_eq!(row(&list, "alice")["quorum"], serde_json::json!([]));
    assert_eq!(row(&list, "alice")["mfa"], serde_json::json!([]));
}

#[test]
fn an_admin_registers_mfa_for_another_user_but_a_crypto_user_cannot() {
    let c = TestCluster::start(2);
    let key = PrivateKey::generate(2048).unwrap();
    let mut admin = c.admin();
    admin
        .create_user("alice", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    admin
        .create_user("bob", Role::CryptoUser, USER_PASSWORD)
        .unwrap();
    let mut bob = c.session();
    bob.login("bob", Role::CryptoUser, USER_PASSWORD).unwrap();
    let err = bob
        .change_mfa_begin("alice", Role::CryptoUser, &c.path("t.json"))
        .unwrap_err();
    assert_eq!(hsm_code(&err), Some(ErrorCode::PermissionDenied), "{err}");
    admin
        .change_mfa_with_signer(
            "alice",
            Role::CryptoUser,
            &key.public_key().unwrap(),
            USER_PASSWORD,
            false,
            |t| key.sign_token(t),
        )
        .unwrap();
    c.session()
        .login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
            key.sign_token(t)
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
    let key = PrivateKey::generate(2048).unwrap();
    c.mfa_user("alice", &key);
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mut s = c.session();
    let err = s
        .login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |_| {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Err(Error::Signer("the token device was unplugged".into()))
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
    s.login_mfa_with_signer("alice", Role::CryptoUser, USER_PASSWORD, |t| {
        key.sign_token(t)
    })
    .unwrap();
}
