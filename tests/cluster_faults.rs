//! Partial failure and concurrency (SPEC §9, §10): HSMs that are down during a login or a
//! user change, `user list` showing what the cluster disagrees on, many threads logging in
//! at once through the blocking face, and a cluster whose certificates the CA does not sign.

mod common;

use std::sync::Arc;

use cloudhsm_mfa::blocking::Session;
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::proto::Role;
use cloudhsm_mfa::Error;
use common::*;

#[test]
fn a_node_down_during_login_does_not_stop_the_others() {
    let c = TestCluster::start(3);
    let key = keys::private_key(2048, 0);
    c.mfa_user("alice", &key);
    c.cluster.stop_node(1).unwrap();
    let mut s = c.session();
    let token = c.path("t.json");
    s.run(async |ses| {
        ses.login_mfa_begin("alice", Role::CryptoUser, USER_PASSWORD, &token)
            .await
    })
    .unwrap();
    assert_eq!(
        cloudhsm_mfa::TokenFile::load(&token)
            .unwrap()
            .tokens()
            .len(),
        2,
        "one token per HSM that took part"
    );
    let mut file = cloudhsm_mfa::TokenFile::load(&token).unwrap();
    file.sign(&key, None).unwrap();
    file.write(&token).unwrap();
    let report = s.run(async |ses| ses.login_mfa_finish(None).await).unwrap();
    let took_part: Vec<bool> = report.hsms.iter().map(|h| h.took_part).collect();
    assert_eq!(took_part, [true, false, true]);
    assert!(
        report.hsms[1]
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("unreachable"),
        "{:?}",
        report.hsms[1]
    );
}

#[test]
fn a_user_change_that_a_node_misses_is_reported_and_listed_as_inconsistent() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    c.cluster.stop_node(2).unwrap();
    let err = admin
        .run(async |ses| {
            ses.create_user("bob", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PartialFailure {
                failed: 1,
                total: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("User replicate failed on 1 of 3 connections: hsm-3"),
        "{err}"
    );
    c.cluster.start_node(2).unwrap();
    let list = user_list(&mut c.session());
    assert_eq!(row(&list, "bob")["cluster-coverage"], "inconsistent");
    assert_eq!(row(&list, "admin")["cluster-coverage"], "full");
}

#[test]
fn user_list_while_a_node_is_down_names_it_and_no_user_has_full_coverage() {
    let c = TestCluster::start(3);
    let mut admin = c.admin();
    c.cluster.stop_node(1).unwrap();
    admin
        .run(async |ses| {
            ses.create_user("bob", Role::CryptoUser, USER_PASSWORD)
                .await
        })
        .unwrap_err();
    for list in [user_list(&mut admin), user_list(&mut c.session())] {
        for name in ["admin", "bob"] {
            assert_eq!(
                row(&list, name)["cluster-coverage"],
                "inconsistent",
                "{list}"
            );
        }
        assert_eq!(row(&list, "admin")["role"], "admin", "{list}");
        let down = list["unreachable-hsms"]
            .as_array()
            .expect("unreachable-hsms");
        assert_eq!(down.len(), 1, "{list}");
        let port = c.cluster.addr(1).unwrap().port().to_string();
        assert!(
            down[0]["hsm"].as_str().unwrap().contains(&port),
            "names the HSM: {list}"
        );
        assert!(!down[0]["reason"].as_str().unwrap().is_empty(), "{list}");
    }
    c.cluster.start_node(1).unwrap();
    let list = user_list(&mut c.session());
    assert!(list.get("unreachable-hsms").is_none(), "{list}");
    assert_eq!(row(&list, "admin")["cluster-coverage"], "full");
}

#[test]
fn a_node_down_during_registration_leaves_the_user_inconsistent() {
    let c = TestCluster::start(3);
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
    let reg = c.path("reg.json");
    s.run(async |ses| ses.change_mfa_begin("alice", Role::CryptoUser, &reg).await)
        .unwrap();
    c.cluster.stop_node(0).unwrap();
    let mut file = cloudhsm_mfa::TokenFile::load(&reg).unwrap();
    file.sign(&key, None).unwrap();
    file.write(&reg).unwrap();
    let err = s
        .run(async |ses| {
            ses.change_mfa_finish(None, &key.public_key().unwrap(), USER_PASSWORD, false)
                .await
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::PartialFailure {
                failed: 1,
                total: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("hsm-1"), "{err}");
    c.cluster.start_node(0).unwrap();
    let list = user_list(&mut c.session());
    assert_eq!(row(&list, "alice")["mfa"], "inconsistent");
    assert_eq!(row(&list, "alice")["cluster-coverage"], "inconsistent");
}

#[test]
fn a_session_reconnects_to_a_node_that_comes_back() {
    let c = TestCluster::start(2);
    let mut s = c.session();
    c.cluster.stop_node(0).unwrap();
    assert_eq!(user_list(&mut s)["users"].as_array().unwrap().len(), 1);
    c.cluster.start_node(0).unwrap();
    s.run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap();
    s.run(async |ses| {
        ses.create_user("carol", Role::CryptoUser, USER_PASSWORD)
            .await
    })
    .unwrap();
    assert_eq!(row(&user_list(&mut s), "carol")["cluster-coverage"], "full");
}

#[test]
fn no_reachable_node_is_a_clear_error() {
    let c = TestCluster::start(2);
    let mut s = c.session();
    c.cluster.stop_node(0).unwrap();
    c.cluster.stop_node(1).unwrap();
    let err = s
        .run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap_err();
    assert!(matches!(err, Error::NoHsmReachable { .. }), "{err}");
    assert!(
        err.to_string().contains("hsm-1") && err.to_string().contains("hsm-2"),
        "{err}"
    );
}

#[test]
fn sixteen_threads_log_in_with_mfa_at_once_through_the_blocking_face() {
    let c = Arc::new(TestCluster::start(3));
    let key = Arc::new(keys::private_key(2048, 0));
    c.mfa_user("alice", &key);
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (c, key) = (c.clone(), key.clone());
            std::thread::spawn(move || {
                let mut s = c.session();
                for _ in 0..5 {
                    s.run(async |ses| {
                        ses.login_mfa_with("alice", Role::CryptoUser, USER_PASSWORD, &*key)
                            .await
                    })
                    .unwrap();
                    s.run(async |ses| ses.logout().await).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread failed");
    }
}

#[test]
fn hsm_certificates_not_signed_by_the_configured_ca_are_refused() {
    let c = TestCluster::start(2);
    let other = TestCluster::start(1);
    // The cluster's configuration, with the other cluster's CA.
    let mut config = Config::load(Some(&c.cluster.config_path())).unwrap();
    config.file.clusters[0].cluster.hsm_ca_file = other.cluster.ca_path();
    let target = config.select(None).unwrap();
    let mut s = Session::open(&c.rt, &target, &SessionOptions::default()).unwrap();
    let err = s
        .run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap_err();
    assert!(matches!(err, Error::NoHsmReachable { .. }), "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");
}

#[test]
fn a_configured_client_certificate_is_loaded_and_half_a_pair_is_refused() {
    let c = TestCluster::start(1);
    let cert = c.path("client.crt");
    let key = c.path("client.key");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=client",
        "-days",
        "1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let mut config = Config::load(Some(&c.cluster.config_path())).unwrap();
    config.file.clusters[0].cluster.client_cert_hsm_tls_file = Some(cert.clone());
    config.file.clusters[0].cluster.client_key_hsm_tls_file = Some(key);
    let target = config.select(None).unwrap();
    let mut s = Session::open(&c.rt, &target, &SessionOptions::default()).unwrap();
    s.run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
        .unwrap();

    config.file.clusters[0].cluster.client_key_hsm_tls_file = None;
    let target = config.select(None).unwrap();
    let err = Session::open(&c.rt, &target, &SessionOptions::default())
        .err()
        .unwrap();
    assert!(err.to_string().contains("mutual TLS needs both"), "{err}");
    assert!(
        err.to_string().starts_with(&cert.display().to_string()),
        "{err}"
    );
}
