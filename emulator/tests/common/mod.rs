//! Test-only helpers: a small TLS 1.3 client speaking the protocol frames, clusters on free
//! loopback ports, and OpenSSL for keys and signatures.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use cloudhsm_mfa::proto::{self, ErrorCode, Op, Reply, Request, Response, Role, Secret};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings, ServerOptions};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

pub const ADMIN_PW: &str = "admin-pw-1";

/// Runs a future to completion on a fresh single-threaded runtime.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// An activated cluster of `nodes` nodes (admin / [`ADMIN_PW`]) in a fresh directory.
pub fn activated_cluster(
    nodes: usize,
    options: ServerOptions,
) -> (tempfile::TempDir, EmbeddedCluster) {
    let dir = tempfile::tempdir().unwrap();
    let init = InitOptions {
        nodes,
        admin_password: Some(Secret::new(ADMIN_PW)),
        settings: NodeSettings::low_cost(),
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start_with(dir.path(), &init, options).unwrap();
    (dir, cluster)
}

/// A TLS 1.3 client configuration that trusts only the PEM certificates in `ca`.
pub fn client_config(ca: &Path) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth()
}

/// One protocol connection.
pub struct Client {
    pub stream: TlsStream<TcpStream>,
    next_id: u64,
}

impl Client {
    /// Connects over TLS 1.3, trusting only the cluster CA in `ca`.
    pub async fn connect(addr: SocketAddr, ca: &Path) -> std::io::Result<Client> {
        Self::connect_with(addr, client_config(ca)).await
    }

    pub async fn connect_with(
        addr: SocketAddr,
        config: rustls::ClientConfig,
    ) -> std::io::Result<Client> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::IpAddress(addr.ip().into());
        let stream = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        Ok(Client { stream, next_id: 1 })
    }

    /// Connects and says hello.
    pub async fn greeted(addr: SocketAddr, ca: &Path) -> Client {
        let mut c = Self::connect(addr, ca).await.unwrap();
        let reply = c.request(Op::hello()).await;
        assert!(matches!(reply, Reply::Hello { .. }), "{reply:?}");
        c
    }

    /// Connects, says hello and logs in as the admin.
    pub async fn admin(addr: SocketAddr, ca: &Path) -> Client {
        let mut c = Self::greeted(addr, ca).await;
        let reply = c.request(login("admin", Role::Admin, ADMIN_PW)).await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        c
    }

    /// Sends `op` and reads the reply, checking that it carries the request's id.
    pub async fn request(&mut self, op: Op) -> Reply {
        self.try_request(op).await.unwrap()
    }

    pub async fn try_request(&mut self, op: Op) -> std::io::Result<Reply> {
        let id = self.next_id;
        self.next_id += 1;
        let body = serde_json::to_vec(&Request { id, op }).unwrap();
        proto::write_frame(&mut self.stream, &body).await?;
        let response = self.receive().await?;
        assert_eq!(response.id, id, "the response carries the request's id");
        Ok(response.reply)
    }

    /// Sends a raw frame body.
    pub async fn send_raw(&mut self, body: &[u8]) {
        proto::write_frame(&mut self.stream, body).await.unwrap();
    }

    /// Sends raw bytes, no framing.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
        self.stream.flush().await.unwrap();
    }

    /// Sends raw bytes, no framing; an error when the node has closed the connection.
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads one response.
    pub async fn receive(&mut self) -> std::io::Result<Response> {
        let body = proto::read_frame(&mut self.stream)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(serde_json::from_slice(&body).unwrap())
    }

    /// Whether the node has closed the connection (waiting at most `limit`).
    pub async fn closed_within(&mut self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, proto::read_frame(&mut self.stream)).await,
            Ok(Err(_))
        )
    }
}

/// The code and message of an error reply.
pub fn error(reply: Reply) -> (ErrorCode, String) {
    match reply {
        Reply::Error { code, message, .. } => (code, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn login(username: &str, role: Role, password: &str) -> Op {
    Op::Login {
        username: username.into(),
        role,
        password: Secret::new(password),
        code_nonce: None,
        deliver_by: None,
    }
}

pub fn create(username: &str, role: Role, password: &str) -> Op {
    Op::CreateUser {
        username: username.into(),
        role,
        password: Secret::new(password),
    }
}

/// The token of a challenge reply.
pub fn challenge(reply: Reply) -> String {
    match reply {
        Reply::Challenge { token, .. } => token,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

/// Runs a program and fails the test unless it succeeds.
pub fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An RSA key pair made by OpenSSL (a committed fixture key, a distinct one for each name
/// a test uses): (private key path, public key PEM).
pub fn openssl_key(dir: &Path, name: &str, bits: u32) -> (PathBuf, String) {
    let (key, public) = cloudhsm_mfa_test_support::keys::pair_in(dir, name, bits);
    (key, std::fs::read_to_string(public).unwrap())
}

/// Signs a base64 token as the SPEC says users do:
/// `openssl pkeyutl -sign -inkey KEY -pkeyopt digest:sha256 -in token.bin`.
pub fn openssl_sign(_dir: &Path, key: &Path, token_b64: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    let token = engine.decode(token_b64).unwrap();
    assert_eq!(token.len(), 32);
    engine.encode(cloudhsm_mfa_test_support::openssl::pkeyutl_sign(
        key, &token,
    ))
}
