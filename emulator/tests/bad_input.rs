//! Bad input over TLS: each is refused or dropped, the node goes on serving other
//! connections, and its state file is not touched (compared byte for byte).

mod common;

use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, MAX_FRAME, PROTOCOL_VERSION};
use cloudhsm_mfa_emulator::{EmbeddedCluster, ServerOptions};
use common::*;
use tokio::io::AsyncReadExt;

const SHORT: Duration = Duration::from_millis(300);

fn short_timeouts() -> ServerOptions {
    ServerOptions {
        handshake_timeout: SHORT,
        first_message_timeout: SHORT,
        frame_timeout: SHORT,
        idle_timeout: SHORT,
        ..ServerOptions::default()
    }
}

/// Runs `bad` against node 0, then checks that a new connection is served and that the
/// state file has the same bytes as before.
fn check_node_survives<F, Fut>(cluster: &EmbeddedCluster, bad: F)
where
    F: FnOnce(std::net::SocketAddr, std::path::PathBuf) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = std::fs::read(cluster.state_path(0)).unwrap();
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        bad(addr, ca.clone()).await;
        let mut c = Client::admin(addr, &ca).await;
        assert!(matches!(
            c.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));
    });
    assert_eq!(
        std::fs::read(cluster.state_path(0)).unwrap(),
        before,
        "the state file changed"
    );
}

#[test]
fn a_frame_that_is_not_json_is_a_bad_request_and_the_connection_stays() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::connect(addr, &ca).await.unwrap();
        c.send_raw(b"\x00\x01 this is not json").await;
        let response = c.receive().await.unwrap();
        assert_eq!(response.id, 0);
        let (code, msg) = error(response.reply);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.contains("not a JSON request"), "{msg}");
        // Same connection, next request.
        let reply = c.request(Op::hello()).await;
        assert!(matches!(reply, Reply::Hello { .. }), "{reply:?}");
    });
}

#[test]
fn an_oversized_frame_is_a_bad_request_then_the_connection_closes() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::greeted(addr, &ca).await;
        let len = u32::try_from(MAX_FRAME + 1).unwrap().to_be_bytes();
        c.send_bytes(&len).await;
        let response = c.receive().await.unwrap();
        assert_eq!(response.id, 0);
        let (code, msg) = error(response.reply);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.contains(&format!("{}", MAX_FRAME + 1)), "{msg}");
        assert!(c.closed_within(Duration::from_secs(5)).await);
    });
}

#[test]
fn an_unknown_operation_is_named_and_the_connection_stays() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::greeted(addr, &ca).await;
        c.send_raw(br#"{"id": 77, "op": "format_hsm", "args": {}}"#)
            .await;
        let response = c.receive().await.unwrap();
        assert_eq!(response.id, 77);
        let (code, msg) = error(response.reply);
        assert_eq!(code, ErrorCode::UnknownOperation);
        assert!(msg.contains("format_hsm"), "{msg}");
        assert!(matches!(
            c.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));
    });
}

#[test]
fn a_request_with_bad_arguments_is_a_bad_request_with_its_id() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::greeted(addr, &ca).await;
        c.send_raw(br#"{"id": 12, "op": "create_user", "args": {"username": 5}}"#)
            .await;
        let response = c.receive().await.unwrap();
        assert_eq!(response.id, 12);
        let (code, msg) = error(response.reply);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(msg.contains("create_user"), "{msg}");
    });
}

#[test]
fn a_protocol_version_below_the_oldest_is_refused_with_both_versions() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::connect(addr, &ca).await.unwrap();
        let (code, msg) = error(
            c.request(Op::Hello {
                protocol: 0,
                features: Vec::new(),
            })
            .await,
        );
        assert_eq!(code, ErrorCode::ProtocolVersion);
        assert!(
            msg.contains("version 0") && msg.contains(&format!("{PROTOCOL_VERSION}")),
            "{msg}"
        );
        let (code, _) = error(
            c.request(login("admin", cloudhsm_mfa::proto::Role::Admin, ADMIN_PW))
                .await,
        );
        assert_eq!(code, ErrorCode::ProtocolVersion);
    });
}

#[test]
fn a_client_that_says_nothing_after_the_handshake_is_dropped_after_the_timeout() {
    let (_dir, cluster) = activated_cluster(1, short_timeouts());
    check_node_survives(&cluster, |addr, ca| async move {
        let mut c = Client::connect(addr, &ca).await.unwrap();
        let start = Instant::now();
        assert!(c.closed_within(Duration::from_secs(5)).await);
        let waited = start.elapsed();
        assert!(waited >= SHORT - Duration::from_millis(50), "{waited:?}");
    });
}

#[test]
fn a_client_that_never_starts_the_handshake_is_dropped_after_the_timeout() {
    let (_dir, cluster) = activated_cluster(1, short_timeouts());
    check_node_survives(&cluster, |addr, _ca| async move {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("the node should have closed the connection")
            .unwrap_or(0);
        assert_eq!(n, 0);
        assert!(start.elapsed() >= SHORT - Duration::from_millis(50));
    });
}

#[test]
fn a_client_that_trusts_another_ca_fails_the_handshake() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (_other_dir, other) = activated_cluster(1, ServerOptions::default());
    let other_ca = other.ca_path();
    check_node_survives(&cluster, |addr, _ca| async move {
        let err = Client::connect(addr, &other_ca)
            .await
            .err()
            .expect("handshake must fail");
        assert!(err.to_string().contains("certificate"), "{err}");
    });
}

#[test]
fn a_tls_1_2_client_fails_the_handshake() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, ca| async move {
        let s_client = |version: &str| {
            let ca = ca.clone();
            let version = version.to_string();
            tokio::task::spawn_blocking(move || {
                std::process::Command::new("openssl")
                    .args(["s_client", "-connect", &addr.to_string(), &version])
                    .arg("-CAfile")
                    .arg(&ca)
                    .args(["-verify_return_error", "-brief"])
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap()
            })
        };
        let tls12 = s_client("-tls1_2").await.unwrap();
        assert!(!tls12.status.success(), "TLS 1.2 must be refused");
        // The same client with TLS 1.3 gets through, so the refusal is about the version.
        let tls13 = s_client("-tls1_3").await.unwrap();
        let text = String::from_utf8_lossy(&tls13.stderr);
        assert!(tls13.status.success(), "{text}");
        assert!(text.contains("TLSv1.3"), "{text}");
    });
}

#[test]
fn garbage_instead_of_a_tls_handshake_just_closes() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    check_node_survives(&cluster, |addr, _ca| async move {
        use tokio::io::AsyncWriteExt;
        let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the node should close the connection");
    });
}
