//! A cluster on a test clock, driven through the library's blocking client over TLS:
//! challenges expire when the clock is moved on, without waiting.

use std::time::Duration;

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::proto::{Role, Secret};
use cloudhsm_mfa::{PrivateKey, TokenFile};
use cloudhsm_mfa_emulator::{Clock, EmbeddedCluster, InitOptions, NodeSettings, ServerOptions};

const ADMIN_PW: &str = "admin-pw-1";
const USER_PW: &str = "user-pw-1";

fn session(cluster: &EmbeddedCluster, rt: &Runtime) -> Session {
    let config = Config::load(Some(&cluster.config_path())).unwrap();
    let target = config.select(None).unwrap();
    Session::open(rt, &target, &SessionOptions::default()).unwrap()
}

/// Signs the token file at `path` in place with `key`.
fn sign_file(path: &std::path::Path, key: &PrivateKey) {
    let mut file = TokenFile::load(path).unwrap();
    file.sign(key, None).unwrap();
    file.write(path).unwrap();
}

#[test]
fn a_login_challenge_expires_when_the_test_clock_passes_its_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let settings = NodeSettings::low_cost();
    let ttl = settings.challenge_ttl;
    let init = InitOptions {
        nodes: 2,
        admin_password: Some(Secret::new(ADMIN_PW)),
        settings,
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start_with_clock(
        &dir.path().join("cluster"),
        &init,
        ServerOptions::default(),
        Clock::test(),
    )
    .unwrap();
    assert!(cluster.clock().is_test());
    let rt = Runtime::new().unwrap();
    let key = cloudhsm_mfa_test_support::keys::private_key(2048, 0);

    let mut admin = session(&cluster, &rt);
    admin
        .run(async |ses| ses.login("admin", Role::Admin, ADMIN_PW).await)
        .unwrap();
    admin
        .run(async |ses| ses.create_user("alice", Role::CryptoUser, USER_PW).await)
        .unwrap();
    let mut alice = session(&cluster, &rt);
    alice
        .run(async |ses| ses.login("alice", Role::CryptoUser, USER_PW).await)
        .unwrap();
    alice
        .run(async |ses| {
            ses.change_mfa_with(
                "alice",
                Role::CryptoUser,
                &key.public_key().unwrap(),
                USER_PW,
                false,
                &key,
            )
            .await
        })
        .unwrap();
    alice.run(async |ses| ses.logout().await).unwrap();

    // Just inside the lifetime the challenge is answered.
    let token = dir.path().join("login.json");
    alice
        .run(async |ses| {
            ses.login_mfa_begin("alice", Role::CryptoUser, USER_PW, &token)
                .await
        })
        .unwrap();
    cluster.advance(ttl - Duration::from_secs(1)).unwrap();
    sign_file(&token, &key);
    alice
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap();
    alice.run(async |ses| ses.logout().await).unwrap();

    // One second past it, it is refused as expired.
    alice
        .run(async |ses| {
            ses.login_mfa_begin("alice", Role::CryptoUser, USER_PW, &token)
                .await
        })
        .unwrap();
    cluster.advance(ttl + Duration::from_secs(1)).unwrap();
    sign_file(&token, &key);
    let err = alice
        .run(async |ses| ses.login_mfa_finish(None).await)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expired"), "{err}");
    assert_eq!(alice.logged_in(), None);
}

#[test]
fn the_real_clock_is_the_default_and_cannot_be_moved() {
    let dir = tempfile::tempdir().unwrap();
    let init = InitOptions {
        nodes: 1,
        settings: NodeSettings::low_cost(),
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start(dir.path(), &init).unwrap();
    assert!(!cluster.clock().is_test());
    let err = cluster.advance(Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().contains("test clock"), "{err}");
}
