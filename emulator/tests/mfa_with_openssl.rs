//! MFA registration and MFA login over TLS, with keys from `openssl genrsa` and
//! signatures from `openssl pkeyutl -sign -pkeyopt digest:sha256` (SPEC §3, §5, §6).

mod common;

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret};
use cloudhsm_mfa_emulator::ServerOptions;
use common::*;

fn finish(token: &str, signature: &str, pem: &str, password: &str, change_quorum: bool) -> Op {
    Op::ChangeMfaFinish {
        username: "alice".into(),
        role: Role::CryptoUser,
        token: token.into(),
        signature: signature.into(),
        public_key_pem: pem.into(),
        password: Secret::new(password),
        change_quorum,
    }
}

#[test]
fn mfa_registration_then_mfa_login_with_openssl_signatures() {
    let (dir, cluster) = activated_cluster(2, ServerOptions::default());
    let ca = cluster.ca_path();
    let keys = tempfile::tempdir().unwrap();
    let (key, public_pem) = openssl_key(keys.path(), "mfa", 2048);
    block_on(async {
        for i in 0..2 {
            let addr = cluster.addr(i).unwrap();
            let mut admin = Client::admin(addr, &ca).await;
            assert_eq!(
                admin
                    .request(create("alice", Role::CryptoUser, "password0"))
                    .await,
                Reply::Done
            );
            admin.request(Op::Logout).await;

            // alice registers her own key.
            let mut alice = Client::greeted(addr, &ca).await;
            let reply = alice
                .request(login("alice", Role::CryptoUser, "password0"))
                .await;
            assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
            let token = challenge(
                alice
                    .request(Op::ChangeMfaBegin {
                        username: "alice".into(),
                        role: Role::CryptoUser,
                    })
                    .await,
            );
            let signature = openssl_sign(keys.path(), &key, &token);
            let reply = alice
                .request(finish(&token, &signature, &public_pem, "password1", true))
                .await;
            assert_eq!(reply, Reply::Done);
            let Reply::Users { users } = alice.request(Op::ListUsers).await else {
                panic!()
            };
            let a = users.iter().find(|u| u.username == "alice").unwrap();
            assert!(a.mfa && a.quorum);
            alice.request(Op::Logout).await;

            // The password alone now answers a challenge; the signature finishes the login.
            let token = challenge(
                alice
                    .request(login("alice", Role::CryptoUser, "password1"))
                    .await,
            );
            let signature = openssl_sign(keys.path(), &key, &token);
            assert_eq!(
                alice
                    .request(Op::LoginMfa {
                        token: token.clone(),
                        signature: signature.clone()
                    })
                    .await,
                Reply::LoggedIn {
                    username: "alice".into(),
                    role: Role::CryptoUser
                }
            );
            // Re-sending the used signature fails.
            alice.request(Op::Logout).await;
            let (code, msg) = error(alice.request(Op::LoginMfa { token, signature }).await);
            assert_eq!(code, ErrorCode::ChallengeUnknown);
            assert!(msg.contains("already used"), "{msg}");
        }
    });
    // The key is stored as SubjectPublicKeyInfo PEM, as openssl wrote it.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cluster.state_path(0)).unwrap()).unwrap();
    assert_eq!(
        state["users"]["alice"]["mfa_public_key"],
        public_pem.as_str()
    );
    drop(dir);
}

#[test]
fn a_pkcs1_public_key_is_accepted_and_stored_as_spki() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    let keys = tempfile::tempdir().unwrap();
    let (key, spki_pem) = openssl_key(keys.path(), "mfa", 3072);
    let pkcs1 = keys.path().join("mfa.rsapub");
    run(
        "openssl",
        &[
            "rsa",
            "-in",
            key.to_str().unwrap(),
            "-RSAPublicKey_out",
            "-out",
            pkcs1.to_str().unwrap(),
        ],
    );
    let pkcs1_pem = std::fs::read_to_string(&pkcs1).unwrap();
    assert!(pkcs1_pem.contains("BEGIN RSA PUBLIC KEY"));
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let token = alice_registration_challenge(&mut admin).await;
        let signature = openssl_sign(keys.path(), &key, &token);
        assert_eq!(
            admin
                .request(finish(&token, &signature, &pkcs1_pem, "password1", false))
                .await,
            Reply::Done
        );
    });
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cluster.state_path(0)).unwrap()).unwrap();
    assert_eq!(state["users"]["alice"]["mfa_public_key"], spki_pem.as_str());
}

#[test]
fn a_small_openssl_key_is_refused_with_the_reason() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    let keys = tempfile::tempdir().unwrap();
    let (key, public_pem) = openssl_key(keys.path(), "small", 1024);
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let token = alice_registration_challenge(&mut admin).await;
        let signature = openssl_sign(keys.path(), &key, &token);
        let (code, msg) = error(
            admin
                .request(finish(&token, &signature, &public_pem, "password1", false))
                .await,
        );
        assert_eq!(code, ErrorCode::InvalidArgument);
        assert!(msg.contains("1024 bits is too small"), "{msg}");
    });
}

#[test]
fn a_password_set_by_an_admin_ends_a_pending_login_challenge_over_tls() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    let keys = tempfile::tempdir().unwrap();
    let (key, public_pem) = openssl_key(keys.path(), "mfa", 2048);
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let token = alice_registration_challenge(&mut admin).await;
        let signature = openssl_sign(keys.path(), &key, &token);
        let reply = admin
            .request(finish(&token, &signature, &public_pem, "password1", false))
            .await;
        assert_eq!(reply, Reply::Done);

        // alice has a challenge open when the admin sets her a new password.
        let mut alice = Client::greeted(addr, &ca).await;
        let token = challenge(
            alice
                .request(login("alice", Role::CryptoUser, "password1"))
                .await,
        );
        let reply = admin
            .request(Op::ChangePassword {
                username: "alice".into(),
                role: Role::CryptoUser,
                password: Secret::new("password2"),
                deregister_mfa: false,
                deregister_quorum: false,
            })
            .await;
        assert_eq!(reply, Reply::Done);
        let signature = openssl_sign(keys.path(), &key, &token);
        let (code, msg) = error(alice.request(Op::LoginMfa { token, signature }).await);
        assert_eq!(code, ErrorCode::ChallengeUnknown, "{msg}");

        // The new password works.
        let token = challenge(
            alice
                .request(login("alice", Role::CryptoUser, "password2"))
                .await,
        );
        let signature = openssl_sign(keys.path(), &key, &token);
        let reply = alice.request(Op::LoginMfa { token, signature }).await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    });
}

/// Creates crypto user `alice` through `admin` and starts registering her MFA key: the
/// registration challenge.
async fn alice_registration_challenge(admin: &mut Client) -> String {
    admin
        .request(create("alice", Role::CryptoUser, "password0"))
        .await;
    challenge(
        admin
            .request(Op::ChangeMfaBegin {
                username: "alice".into(),
                role: Role::CryptoUser,
            })
            .await,
    )
}
