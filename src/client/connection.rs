//! One TLS connection to one HSM: connect, say `hello`, then one request at a time.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::config::Server;
use crate::proto::{self, Op, Reply, Request, Response, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION};

/// Room reserved for a serialised request (the largest, with a 4096-bit public key PEM, is
/// well under this).
const REQUEST_ROOM: usize = 8 * 1024;

/// Why a call did not get an answer. The connection is unusable afterwards.
pub type Transport = String;

/// An open, greeted connection to one HSM.
pub struct Connection {
    stream: TlsStream<TcpStream>,
    next_id: u64,
    hsm_id: String,
    timeout: Duration,
}

impl Connection {
    /// Connects (TCP with `TCP_NODELAY`, TLS 1.3 checked against the cluster CA) and says
    /// `hello`. Every step is bounded by `timeout`.
    pub async fn open(
        server: &Server,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, Transport> {
        let name = ServerName::try_from(server.hostname.clone()).map_err(|e| {
            format!(
                "bad host name {}: {e}",
                crate::quote::quote(&server.hostname)
            )
        })?;
        let addr = (server.hostname.as_str(), server.port);
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| format!("no connection within {} ms", timeout.as_millis()))?
            .map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let stream = tokio::time::timeout(timeout, TlsConnector::from(tls).connect(name, tcp))
            .await
            .map_err(|_| format!("no TLS handshake within {} ms", timeout.as_millis()))?
            .map_err(|e| format!("TLS: {e}"))?;
        let mut conn = Connection {
            stream,
            next_id: 1,
            hsm_id: String::new(),
            timeout,
        };
        match conn.call(Op::hello()).await? {
            // The HSM's features matter once this library speaks optional parts of the
            // protocol (proto::FEATURES); the version is the lower of the two sides'.
            Reply::Hello {
                protocol, hsm_id, ..
            } if (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&protocol) => {
                conn.hsm_id = hsm_id;
                Ok(conn)
            }
            Reply::Hello { protocol, .. } => Err(format!(
                "the HSM speaks protocol {protocol}; this library speaks versions \
                 {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
            )),
            Reply::Error { message, .. } => Err(format!("refused hello: {message}")),
            other => Err(format!("unexpected answer to hello: {other:?}")),
        }
    }

    /// The id the HSM gave in `hello`.
    pub fn hsm_id(&self) -> &str {
        &self.hsm_id
    }

    /// Sends one request and waits for its response.
    pub async fn call(&mut self, op: Op) -> Result<Reply, Transport> {
        let id = self.next_id;
        self.next_id += 1;
        // The request may hold a password: its serialised form is zeroed when dropped, and
        // written into room reserved up front so that no growing copy is left behind.
        let mut body = zeroize::Zeroizing::new(Vec::with_capacity(REQUEST_ROOM));
        serde_json::to_writer(&mut *body, &Request { id, op }).map_err(|e| e.to_string())?;
        let exchange = async {
            proto::write_frame(&mut self.stream, &body)
                .await
                .map_err(|e| e.to_string())?;
            let frame = proto::read_frame(&mut self.stream)
                .await
                .map_err(|e| e.to_string())?;
            serde_json::from_slice::<Response>(&frame)
                .map_err(|e| format!("unreadable response: {e}"))
        };
        let response = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("no answer within {} ms", self.timeout.as_millis()))??;
        if response.id != id && response.id != 0 {
            return Err(format!(
                "response id {} does not match request id {id}",
                response.id
            ));
        }
        Ok(response.reply)
    }
}
