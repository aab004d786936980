//! The emulator over real TLS on loopback: activation, password login, user management,
//! restarts with persisted state, and the injected faults.

mod common;

use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret, FEATURES, PROTOCOL_VERSION};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings, ServerOptions};
use common::*;

#[test]
fn a_new_cluster_is_activated_then_the_admin_logs_in_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let init = InitOptions {
        nodes: 2,
        settings: NodeSettings::low_cost(),
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start(dir.path(), &init).unwrap();
    assert_eq!(cluster.node_count(), 2);
    let ca = cluster.ca_path();
    block_on(async {
        for i in 0..2 {
            let addr = cluster.addr(i).unwrap();
            let mut c = Client::connect(addr, &ca).await.unwrap();
            assert_eq!(
                c.request(Op::hello()).await,
                Reply::Hello {
                    protocol: PROTOCOL_VERSION,
                    hsm_id: format!("hsm-{}", i + 1),
                    features: FEATURES.iter().map(|f| f.to_string()).collect(),
                }
            );
            let (code, msg) = error(
                c.request(login("admin", Role::UnactivatedAdmin, "whatever1"))
                    .await,
            );
            assert_eq!(code, ErrorCode::ClusterState);
            assert!(msg.contains("cluster activate"), "{msg}");
            let reply = c
                .request(Op::ActivateCluster {
                    password: Secret::new(ADMIN_PW),
                })
                .await;
            assert_eq!(reply, Reply::Done);
        }
        for i in 0..2 {
            Client::admin(cluster.addr(i).unwrap(), &ca).await;
        }
    });
}

#[test]
fn the_client_configuration_lists_every_node_and_the_ca() {
    let (_dir, cluster) = activated_cluster(3, ServerOptions::default());
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cluster.config_path()).unwrap()).unwrap();
    let c = &cfg["clusters"][0]["cluster"];
    assert_eq!(c["cluster_id"], "cluster-local");
    assert_eq!(c["hsm_ca_file"], cluster.ca_path().display().to_string());
    let servers = c["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 3);
    for (i, s) in servers.iter().enumerate() {
        let addr = cluster.addr(i).unwrap();
        assert_eq!(s["hostname"], addr.ip().to_string());
        assert_eq!(s["port"], addr.port());
        assert_eq!(s["enable"], true);
    }
}

#[test]
fn a_user_without_mfa_logs_in_with_its_password_over_tls() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        assert_eq!(
            admin
                .request(create("Alice", Role::CryptoUser, "password1"))
                .await,
            Reply::Done
        );
        let mut alice = Client::greeted(addr, &ca).await;
        assert_eq!(
            alice
                .request(login("alice", Role::CryptoUser, "password1"))
                .await,
            Reply::LoggedIn {
                username: "alice".into(),
                role: Role::CryptoUser
            }
        );
        // Logged in on one connection only.
        let (code, _) = error(
            admin
                .request(Op::DeleteUser {
                    username: "alice".into(),
                    role: Role::CryptoUser,
                })
                .await,
        );
        assert_eq!(code, ErrorCode::UserLoggedIn);
        // Closing the connection ends the login.
        drop(alice);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = admin
                .request(Op::DeleteUser {
                    username: "alice".into(),
                    role: Role::CryptoUser,
                })
                .await;
            if reply == Reply::Done {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the login outlived its connection: {reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let Reply::Users { users } = admin.request(Op::ListUsers).await else {
            panic!()
        };
        assert_eq!(users.len(), 1);
    });
}

#[test]
fn a_restarted_node_keeps_its_users_and_forgets_its_logins() {
    let (_dir, cluster) = activated_cluster(2, ServerOptions::default());
    let ca = cluster.ca_path();
    block_on(async {
        let mut admin = Client::admin(cluster.addr(1).unwrap(), &ca).await;
        assert_eq!(
            admin.request(create("bob", Role::Admin, "password1")).await,
            Reply::Done
        );
    });
    cluster.stop_node(1).unwrap();
    block_on(async {
        let refused = Client::connect(cluster.addr(1).unwrap(), &ca).await;
        assert!(refused.is_err(), "a stopped node does not listen");
        // The other node serves on.
        Client::admin(cluster.addr(0).unwrap(), &ca).await;
    });
    cluster.start_node(1).unwrap();
    assert!(cluster
        .start_node(1)
        .unwrap_err()
        .to_string()
        .contains("already running"));
    block_on(async {
        let mut bob = Client::greeted(cluster.addr(1).unwrap(), &ca).await;
        let reply = bob.request(login("bob", Role::Admin, "password1")).await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        // bob exists on node 1 only: user changes are per node.
        let mut other = Client::greeted(cluster.addr(0).unwrap(), &ca).await;
        let (code, _) = error(other.request(login("bob", Role::Admin, "password1")).await);
        assert_eq!(code, ErrorCode::InvalidCredentials);
    });
}

#[test]
fn stopping_a_node_closes_its_open_connections() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut admin = rt.block_on(Client::admin(addr, &ca));
    cluster.stop_node(0).unwrap();
    rt.block_on(async {
        assert!(admin.try_request(Op::ListUsers).await.is_err());
    });
}

#[test]
fn a_delay_is_added_before_every_reply() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let mut c = Client::greeted(addr, &ca).await;
        cluster.set_delay(0, Duration::from_millis(300)).unwrap();
        let start = Instant::now();
        c.request(Op::ListUsers).await;
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        cluster.set_delay(0, Duration::ZERO).unwrap();
        let start = Instant::now();
        c.request(Op::ListUsers).await;
        assert!(
            start.elapsed() < Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
    });
}

#[test]
fn a_node_told_to_close_at_once_fails_every_handshake() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    cluster.set_close_at_once(0, true).unwrap();
    block_on(async {
        assert!(Client::connect(addr, &ca).await.is_err());
    });
    cluster.set_close_at_once(0, false).unwrap();
    block_on(async {
        Client::greeted(addr, &ca).await;
    });
}

#[test]
fn state_changes_reach_the_state_file_before_the_reply() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        for name in ["carol", "dave"] {
            assert_eq!(
                admin
                    .request(create(name, Role::CryptoUser, "password1"))
                    .await,
                Reply::Done
            );
            let state: serde_json::Value =
                serde_json::from_slice(&std::fs::read(cluster.state_path(0)).unwrap()).unwrap();
            assert!(
                state["users"][name].is_object(),
                "{name} is saved once acknowledged"
            );
        }
    });
}

#[test]
fn a_node_whose_port_is_taken_fails_to_start_with_the_address() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let addr = cluster.addr(0).unwrap();
    cluster.stop_node(0).unwrap();
    let squatter = std::net::TcpListener::bind(addr).unwrap();
    let err = cluster.start_node(0).unwrap_err().to_string();
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    drop(squatter);
    cluster.start_node(0).unwrap();
    block_on(async {
        Client::admin(addr, &cluster.ca_path()).await;
    });
}
