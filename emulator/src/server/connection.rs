//! One client connection: TLS handshake, then requests and replies in order until the
//! client closes, breaks the protocol beyond repair, or the node stops.

use std::sync::Arc;
use std::time::Duration;

use cloudhsm_mfa::proto::{self, ErrorCode, FrameError, Reply, Request, Response, MAX_FRAME};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use zeroize::Zeroizing;

use super::{stopping, Faults, NodeService, ServerOptions};
use crate::node::ConnId;

/// The operation names of the protocol, as on the wire.
pub use cloudhsm_mfa::proto::OPERATION_NAMES as KNOWN_OPERATIONS;

/// The longest piece of a client's input repeated in an error message.
const ECHO_LIMIT: usize = 200;
/// How long closing a connection may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Ends the node's record of a connection (its login and challenges) however the task ends.
struct Registration {
    service: Arc<NodeService>,
    id: ConnId,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.service.disconnect(self.id);
    }
}

pub(super) async fn run(
    tcp: TcpStream,
    service: Arc<NodeService>,
    options: ServerOptions,
    faults: Arc<Faults>,
    mut shutdown: watch::Receiver<bool>,
) {
    let handshake = tokio::time::timeout(options.handshake_timeout, service.tls.accept(tcp));
    let stream = tokio::select! {
        r = handshake => match r {
            Ok(Ok(stream)) => stream,
            // A failed or slow handshake just closes the connection.
            _ => return,
        },
        _ = stopping(&mut shutdown) => return,
    };
    let Some(id) = service.connect() else {
        return;
    };
    tracing::debug!(
        hsm = service.hsm_id(),
        conn = id.number(),
        "connection opened"
    );
    let registration = Registration {
        service: service.clone(),
        id,
    };

    // The wait for a request is bounded by the idle (or first-message) timeout, the frame
    // itself by the frame timeout.
    let mut stream = stream;
    let mut first = true;
    loop {
        let idle = if first {
            options.first_message_timeout
        } else {
            options.idle_timeout
        };
        first = false;
        let frame = tokio::select! {
            f = next_frame(&mut stream, idle, options.frame_timeout) => f,
            _ = stopping(&mut shutdown) => break,
        };
        let (response, keep_open) = match frame {
            // A client that says nothing in time, or is too slow to finish a frame, is dropped.
            None => break,
            Some(Err(FrameError::TooLarge(n))) => (
                bad_request(
                    0,
                    format!("frame of {n} bytes is over the limit of {MAX_FRAME}; closing"),
                ),
                false,
            ),
            Some(Err(_)) => break,
            Some(Ok(body)) => {
                let body = Zeroizing::new(body);
                (answer(&service, registration.id, &body).await, true)
            }
        };
        let delay = faults.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        // A client that does not take its reply in time is dropped too.
        let sent = tokio::time::timeout(options.frame_timeout, send(&mut stream, &response)).await;
        if !matches!(sent, Ok(Ok(()))) || !keep_open {
            break;
        }
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
    drop(registration);
    tracing::debug!(
        hsm = service.hsm_id(),
        conn = id.number(),
        "connection closed"
    );
}

/// The next frame: its first byte within `idle`, then the whole frame within `frame`.
/// `None` when either time ran out.
async fn next_frame<S: AsyncRead + Unpin>(
    stream: &mut S,
    idle: Duration,
    frame: Duration,
) -> Option<Result<Vec<u8>, FrameError>> {
    let first = match tokio::time::timeout(idle, stream.read_u8()).await {
        Err(_) => return None,
        Ok(Ok(byte)) => byte,
        // The client closed cleanly between frames.
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Some(Err(FrameError::Closed))
        }
        Ok(Err(e)) => return Some(Err(FrameError::Io(e))),
    };
    tokio::time::timeout(frame, proto::read_frame_after(stream, first))
        .await
        .ok()
}

/// The response to one frame.
async fn answer(service: &Arc<NodeService>, conn: ConnId, body: &[u8]) -> Response {
    let request = match parse(body) {
        Ok(r) => r,
        Err(response) => return response,
    };
    let id = request.id;
    let service = service.clone();
    let reply = tokio::task::spawn_blocking(move || service.handle(conn, request.op))
        .await
        .unwrap_or_else(|_| Reply::Error {
            code: ErrorCode::Internal,
            message: "the HSM failed while handling the request".into(),
            approvals: None,
        });
    Response { id, reply }
}

/// What can be read of a request that does not parse.
#[derive(Deserialize)]
struct Probe {
    id: Option<serde_json::Value>,
    op: Option<serde_json::Value>,
}

/// Reads a request, or the error response that says why it cannot be read.
fn parse(body: &[u8]) -> Result<Request, Response> {
    let error = match serde_json::from_slice::<Request>(body) {
        Ok(request) => return Ok(request),
        Err(e) => e,
    };
    let probe = serde_json::from_slice::<Probe>(body).map_err(|e| {
        bad_request(
            0,
            format!(
                "the message is not a JSON request: {}",
                clip(&e.to_string())
            ),
        )
    })?;
    let id = probe
        .id
        .as_ref()
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    Err(
        match probe.op.as_ref().and_then(serde_json::Value::as_str) {
            None => bad_request(id, "the request has no \"op\" name".into()),
            Some(op) if !KNOWN_OPERATIONS.contains(&op) => Response {
                id,
                reply: Reply::Error {
                    code: ErrorCode::UnknownOperation,
                    message: format!(
                        "unknown operation \"{}\"; this HSM knows {}",
                        clip(op),
                        KNOWN_OPERATIONS.join(", ")
                    ),
                    approvals: None,
                },
            },
            Some(op) => bad_request(
                id,
                format!("bad request for {op}: {}", clip(&error.to_string())),
            ),
        },
    )
}

fn bad_request(id: u64, message: String) -> Response {
    Response {
        id,
        reply: Reply::Error {
            code: ErrorCode::BadRequest,
            message,
            approvals: None,
        },
    }
}

/// At most [`ECHO_LIMIT`] characters of client input in a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(ECHO_LIMIT) {
        Some((cut, _)) => format!("{}...", &s[..cut]),
        None => s.to_string(),
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    response: &Response,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(response).map_err(std::io::Error::other)?;
    proto::write_frame(stream, &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(body: &[u8]) -> (u64, ErrorCode, String) {
        match parse(body) {
            Err(Response {
                id,
                reply: Reply::Error { code, message, .. },
            }) => (id, code, message),
            Err(other) => panic!("unexpected {other:?}"),
            Ok(r) => panic!("parsed {r:?}"),
        }
    }

    #[test]
    fn unreadable_requests_get_the_right_code_and_id() {
        let (id, code, msg) = error_of(b"not json");
        assert_eq!((id, code), (0, ErrorCode::BadRequest));
        assert!(msg.contains("not a JSON request"), "{msg}");
        assert_eq!(error_of(b"[1,2]").1, ErrorCode::BadRequest);
        let (id, code, msg) = error_of(br#"{"id": 9, "op": "fly"}"#);
        assert_eq!((id, code), (9, ErrorCode::UnknownOperation));
        assert!(msg.contains("\"fly\""), "{msg}");
        let (id, code, msg) = error_of(br#"{"id": 4, "op": "hello", "args": {"protocol": "x"}}"#);
        assert_eq!((id, code), (4, ErrorCode::BadRequest));
        assert!(msg.contains("hello"), "{msg}");
        let (id, code, _) = error_of(br#"{"id": 5}"#);
        assert_eq!((id, code), (5, ErrorCode::BadRequest));
    }

    #[test]
    fn long_input_is_clipped_in_messages() {
        let op = "x".repeat(10_000);
        let body = format!(r#"{{"id": 1, "op": "{op}"}}"#);
        let (_, code, msg) = error_of(body.as_bytes());
        assert_eq!(code, ErrorCode::UnknownOperation);
        assert!(msg.len() < 1000, "{}", msg.len());
    }
}
