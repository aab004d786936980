//! Quorum through the library against live 3-HSM clusters (SPEC §7): quorum keys
//! registered from a file signed with `openssl pkeyutl` and with a signer, values, approval
//! files gathered offline, the approval set on a session and used up, expiry on the test
//! clock, the token list, and the lockout guard.

mod common;

use std::time::Duration;

use cloudhsm_mfa::proto::{DeleteScope, ErrorCode, Role, Service};
use cloudhsm_mfa::token_file::TokenFileKind;
use cloudhsm_mfa::{Error, TokenFile};
use common::*;

fn quorum_counts(e: &Error) -> Option<(ErrorCode, u32, u32)> {
    match e {
        Error::Quorum {
            code,
            present,
            required,
            ..
        } => Some((*code, *present, *required)),
        _ => None,
    }
}

#[test]
fn a_registration_file_signed_with_openssl_registers_a_quorum_key() {
    let c = TestCluster::start(3);
    let (key, public) = openssl_key_pair(c.dir.path(), "q");
    let mut admin = c.admin();
    let file = c.path("registration.json");
    let generated = admin
        .run(async |s| s.generate_quorum_token(Service::Registration, &file).await)
        .unwrap();
    assert_eq!(generated.hsms, 3);
    let mut tokens = TokenFile::load(&file).unwrap();
    assert_eq!(tokens.kind(), TokenFileKind::Registration);
    assert_eq!(tokens.tokens().len(), 3, "one entry per HSM");
    for i in 0..3 {
        let unsigned = tokens.tokens()[i].unsigned;
        tokens
            .set_signature(i, pkeyutl_sign(&key, &unsigned))
            .unwrap();
    }
    tokens.write(&file).unwrap();
    let public = cloudhsm_mfa::PublicKey::load(&public).unwrap();
    // Proof of possession: a file signed with another key does not register.
    let mut forged = tokens.clone();
    let other = keys::private_key(2048, 1);
    forged.sign(&other, None).unwrap();
    let forged_path = c.path("forged.json");
    forged.write(&forged_path).unwrap();
    let e = admin
        .run(async |s| s.register_quorum_key(&public, &forged_path).await)
        .unwrap_err();
    assert_eq!(hsm_code(&e), Some(ErrorCode::SignatureInvalid), "{e}");
    admin
        .run(async |s| s.register_quorum_key(&public, &file).await)
        .unwrap();
    let list = user_list(&mut admin);
    assert_eq!(
        row(&list, "admin")["quorum"],
        serde_json::json!([{"strategy": "token-sign", "status": "enabled"}])
    );
    assert_eq!(row(&list, "admin")["cluster-coverage"], "full");
}

#[test]
fn a_gated_operation_takes_an_approval_of_enough_admins_once() {
    let c = TestCluster::start(3);
    let keys: Vec<_> = (0..3).map(|n| keys::private_key(2048, n)).collect();
    let mut sessions = c.quorum_admins(&["q1", "q2", "q3"], &keys);
    let q1 = &mut sessions[0];
    let values = q1.run(async |s| s.quorum_values().await).unwrap();
    assert_eq!(
        serde_json::to_value(&values).unwrap(),
        serde_json::json!({"user": 1, "quorum": 1})
    );
    q1.run(async |s| s.set_quorum_value(Service::User, 2).await)
        .unwrap();
    let values = q1.run(async |s| s.quorum_values().await).unwrap();
    assert_eq!(
        serde_json::to_value(&values).unwrap(),
        serde_json::json!({"user": 2, "quorum": 1})
    );

    let e = q1
        .run(async |s| s.create_user("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert_eq!(
        quorum_counts(&e),
        Some((ErrorCode::QuorumApprovalRequired, 0, 2)),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("Quorum Failed: the user service needs 2 approvals"),
        "{e}"
    );

    let path = c.path("approval.json");
    q1.run(async |s| s.generate_quorum_token(Service::User, &path).await)
        .unwrap();
    let mut approval = TokenFile::load(&path).unwrap();
    assert_eq!(
        approval.approval().unwrap().approval_data.len(),
        240,
        "3 records of 80 bytes"
    );
    approval.sign(&keys[1], Some("q2")).unwrap();
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    let e = q1
        .run(async |s| s.create_user("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert_eq!(
        quorum_counts(&e),
        Some((ErrorCode::QuorumTooFew, 1, 2)),
        "{e}"
    );
    assert!(
        q1.run(async |s| Ok::<_, Error>(s.approval().is_some()))
            .unwrap(),
        "a failed operation leaves the approval set"
    );

    approval.sign(&keys[2], Some("q3")).unwrap();
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    q1.run(async |s| s.create_user("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap();
    assert!(
        q1.run(async |s| Ok::<_, Error>(s.approval().is_none()))
            .unwrap(),
        "used up by the operation that succeeded"
    );
    let list = user_list(q1);
    assert_eq!(row(&list, "bob")["cluster-coverage"], "full");

    // The same approval a second time.
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    let e = q1
        .run(async |s| s.delete_user("bob", Role::CryptoUser).await)
        .unwrap_err();
    assert_eq!(hsm_code(&e), Some(ErrorCode::QuorumTokenInvalid), "{e}");
    assert!(e.to_string().contains("already used"), "{e}");
}

#[test]
fn a_token_from_an_earlier_login_or_past_its_lifetime_is_refused() {
    let c = TestCluster::start(3);
    let keys: Vec<_> = (0..2).map(|n| keys::private_key(2048, n)).collect();
    let mut sessions = c.quorum_admins(&["q1", "q2"], &keys);
    let q1 = &mut sessions[0];
    q1.run(async |s| s.set_quorum_value(Service::User, 2).await)
        .unwrap();
    let path = c.path("approval.json");
    let sign_both = |path: &std::path::Path| {
        let mut f = TokenFile::load(path).unwrap();
        f.sign(&keys[0], Some("q1")).unwrap();
        f.sign(&keys[1], Some("q2")).unwrap();
        f
    };
    q1.run(async |s| s.generate_quorum_token(Service::User, &path).await)
        .unwrap();
    let approval = sign_both(&path);
    q1.run(async |s| s.logout().await).unwrap();
    q1.run(async |s| s.login("q1", Role::Admin, USER_PASSWORD).await)
        .unwrap();
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    let e = q1
        .run(async |s| s.create_user("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert_eq!(hsm_code(&e), Some(ErrorCode::QuorumTokenInvalid), "{e}");

    q1.run(async |s| s.generate_quorum_token(Service::User, &path).await)
        .unwrap();
    let list = q1.run(async |s| s.list_quorum_tokens().await).unwrap();
    let listed = serde_json::to_value(&list).unwrap();
    assert_eq!(
        listed["tokens"][0],
        serde_json::json!({"username": "q1", "service": "user", "approvals-required": 2,
            "number-of-approvals": 0, "token-timeout-seconds": 600, "cluster-coverage": "full"})
    );
    let approval = sign_both(&path);
    c.advance(Duration::from_secs(601));
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    let e = q1
        .run(async |s| s.create_user("bob", Role::CryptoUser, USER_PASSWORD).await)
        .unwrap_err();
    assert!(e.to_string().contains("expired after 600 seconds"), "{e}");
    q1.run(async |s| s.delete_quorum_tokens(DeleteScope::All).await)
        .unwrap();
    let list = q1.run(async |s| s.list_quorum_tokens().await).unwrap();
    assert!(list.tokens.is_empty());
}

#[test]
fn the_lockout_guard_refuses_to_strand_the_user_service() {
    let c = TestCluster::start(3);
    let keys: Vec<_> = (0..2).map(|n| keys::private_key(2048, n)).collect();
    let mut sessions = c.quorum_admins(&["q1", "q2"], &keys);
    let q2 = sessions.pop().unwrap();
    drop(q2);
    let q1 = &mut sessions[0];
    q1.run(async |s| s.set_quorum_value(Service::User, 2).await)
        .unwrap();
    let path = c.path("approval.json");
    q1.run(async |s| s.generate_quorum_token(Service::User, &path).await)
        .unwrap();
    let mut approval = TokenFile::load(&path).unwrap();
    approval.sign(&keys[0], Some("q1")).unwrap();
    approval.sign(&keys[1], Some("q2")).unwrap();
    q1.run(async |s| s.set_approval(&approval)).unwrap();
    let e = q1
        .run(async |s| s.delete_user("q2", Role::Admin).await)
        .unwrap_err();
    assert_eq!(hsm_code(&e), Some(ErrorCode::PermissionDenied), "{e}");
    assert!(
        e.to_string()
            .contains("would leave 1 admins with a quorum key"),
        "{e}"
    );
    // A value above the number of admins with keys cannot be set.
    let e = q1
        .run(async |s| s.set_quorum_value(Service::Quorum, 3).await)
        .unwrap_err();
    assert!(e.to_string().contains("at least 3 admins"), "{e}");
}
