//! The TLS listener of one node: one task per connection, frames of
//! [`cloudhsm_mfa::proto`], the node behind a lock that is never held across an await.
//!
//! A request is handled on the blocking pool, before the reply is sent: the node prepares
//! it under its lock; the costly work (Argon2id, signature checks) runs without the lock,
//! so one node checks many passwords at once; the node commits it under the lock again,
//! and the state is saved (fsync) when the node says it changed. Fault injection for
//! client tests: a delay before every reply, and a node that closes each connection at once.

mod connection;
mod tls;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::layout::{ClusterDir, Manifest};
use crate::node::{ConnId, Node, OsEntropy, Outcome, Prepared};
use crate::store::Store;

pub use connection::KNOWN_OPERATIONS;

/// How many rounds of work one request may take before it is given up: each round after
/// the first means that the state the work rested on changed meanwhile.
const MAX_ROUNDS: usize = 8;

/// Time limits of a connection, and how many a node serves at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// A client must finish the TLS handshake within this time.
    pub handshake_timeout: Duration,
    /// After the handshake, the first request must start to arrive within this time.
    pub first_message_timeout: Duration,
    /// Once the first byte of a frame has arrived, the whole frame must arrive within this
    /// time; a reply must be taken by the client within it too.
    pub frame_timeout: Duration,
    /// Between requests, the next one must start to arrive within this time.
    pub idle_timeout: Duration,
    /// The most connections a node keeps open; one more is closed as soon as it is
    /// accepted, before any TLS work.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    /// 10 s for the handshake, the first request and each frame, 300 s of idleness
    /// between requests, 256 connections.
    fn default() -> Self {
        ServerOptions {
            handshake_timeout: Duration::from_secs(10),
            first_message_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            max_connections: 256,
        }
    }
}

/// Faults injected into a node, changeable while it serves.
#[derive(Debug, Default)]
pub struct Faults {
    delay_ms: AtomicU64,
    close_at_once: AtomicBool,
}

impl Faults {
    /// Waits `delay` before sending every reply.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    /// Closes every new connection as soon as it is accepted.
    pub fn set_close_at_once(&self, on: bool) {
        self.close_at_once.store(on, Ordering::Relaxed);
    }

    pub fn close_at_once(&self) -> bool {
        self.close_at_once.load(Ordering::Relaxed)
    }
}

/// One node ready to serve: its state machine, its store and its TLS settings.
pub struct NodeService {
    node: Mutex<Node>,
    store: Store,
    deliverer: crate::delivery::Deliverer,
    tls: TlsAcceptor,
    addr: SocketAddr,
    hsm_id: String,
    clock: Clock,
}

impl NodeService {
    /// Loads node `index` of the cluster in `dir`: its saved state (a fresh one when
    /// there is no state file), its certificate and key. Its time comes from `clock`.
    pub fn load(
        dir: &ClusterDir,
        manifest: &Manifest,
        index: usize,
        clock: Clock,
    ) -> Result<Arc<Self>> {
        let entry = manifest.node(index)?;
        let store = Store::new(dir.node_state(index));
        let state = store.load_or_fresh()?;
        let tls = tls::acceptor(&dir.node_cert(index), &dir.node_key(index))?;
        let mut node = Node::new(entry.hsm_id.clone(), manifest.settings.clone(), state);
        node.set_code_key(dir.load_code_key()?);
        Ok(Arc::new(NodeService {
            node: Mutex::new(node),
            store,
            deliverer: crate::delivery::Deliverer::new(dir.outbox(), manifest.delivery.clone()),
            tls,
            addr: entry.addr(),
            hsm_id: entry.hsm_id.clone(),
            clock,
        }))
    }

    /// The address the node listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn hsm_id(&self) -> &str {
        &self.hsm_id
    }

    fn connect(&self) -> Option<ConnId> {
        self.node.lock().ok().map(|mut n| n.connect())
    }

    fn disconnect(&self, conn: ConnId) {
        if let Ok(mut n) = self.node.lock() {
            n.disconnect(conn);
        }
    }

    /// Handles one request (see [`NodeService::perform`]) and logs it: the operation, the
    /// user, the node and the result code, never an argument or a message. `hello` is
    /// logged at `debug`, a refusal at `warn`, an internal failure at `error`, the rest
    /// at `info`.
    fn handle(&self, conn: ConnId, op: Op) -> Reply {
        let name = op.performed();
        let approved = matches!(op, Op::Approved { .. }).then_some(true);
        let subject = op.subject().map(|(user, role)| (user.to_string(), role));
        let mut before = None;
        let reply = self.perform(conn, op, &mut before);
        // Who acts: the user logging in, else whom the connection spoke for.
        let (user, role) = match (&subject, &before) {
            (Some((user, role)), _) if name == "login" => (Some(user.as_str()), *role),
            (_, Some((user, role))) => (Some(user.as_str()), Some(*role)),
            _ => (None, None),
        };
        let target_user = match &subject {
            Some((user, _)) if name != "login" => Some(user.as_str()),
            _ => None,
        };
        let role = role.map(Role::as_str);
        let result = reply.outcome();
        let hsm = self.hsm_id.as_str();
        let conn = conn.number();
        macro_rules! log {
            ($level:ident) => {
                tracing::$level!(
                    hsm, conn, op = %name, approved, user, role, target_user, result = %result,
                    "request"
                )
            };
        }
        match &reply {
            Reply::Error {
                code: ErrorCode::Internal,
                ..
            } => log!(error),
            Reply::Error { .. } => log!(warn),
            _ if name == "hello" => log!(debug),
            _ => log!(info),
        }
        reply
    }

    /// Performs one request and saves the state when the node says it changed. Blocking:
    /// call it on the blocking pool. The node's lock is held to prepare and to commit, not
    /// while the work runs. When the save fails the change is undone (failed logins stay
    /// counted) and the reply says so. `user` is set to whom the connection spoke for
    /// before the request.
    fn perform(&self, conn: ConnId, op: Op, user: &mut Option<(String, Role)>) -> Reply {
        let out_of_service =
            || internal("the HSM is out of service after an internal failure".into());
        let mut entropy = OsEntropy;
        let mut work = {
            let Ok(mut node) = self.node.lock() else {
                return out_of_service();
            };
            self.catch_up(&mut node);
            *user = node
                .user_of(conn)
                .map(|(name, role)| (name.to_string(), role));
            match node.prepare(conn, op, self.clock.now(), &mut entropy) {
                Prepared::Done(outcome) => return self.settle(node, conn, outcome),
                Prepared::Work(work) => work,
            }
        };
        for _ in 0..MAX_ROUNDS {
            let worked = WORK_SLOTS.run(|| work.run());
            let Ok(mut node) = self.node.lock() else {
                return out_of_service();
            };
            match node.commit(worked, self.clock.now(), &mut entropy) {
                Prepared::Done(outcome) => return self.settle(node, conn, outcome),
                Prepared::Work(next) => work = next,
            }
        }
        internal("the HSM's users kept changing while the request was checked; try again".into())
    }

    /// Saves the state when `outcome` changed it, and tells the node how that went; then,
    /// with the node's lock released, sends the outcome's messages. A message that cannot
    /// be sent turns the reply into an error that says so (the code is never in it).
    fn settle(
        &self,
        mut node: std::sync::MutexGuard<'_, Node>,
        conn: ConnId,
        outcome: Outcome,
    ) -> Reply {
        if outcome.changed {
            if let Err(e) = self.store.save(node.state()) {
                return node.save_failed(conn, &e.to_string());
            }
            node.saved();
        }
        drop(node);
        for message in &outcome.messages {
            if let Err(e) = self.deliverer.deliver(message) {
                return internal(format!(
                    "the HSM could not send the {} code to {}: {e}; log in again",
                    message.channel,
                    cloudhsm_mfa::mfa::mask(&message.to)
                ));
            }
        }
        outcome.reply
    }

    /// Tries again to save failed logins that an earlier save lost.
    fn catch_up(&self, node: &mut Node) {
        if node.has_unsaved_failures() && self.store.save(node.state()).is_ok() {
            node.saved();
        }
    }
}

/// The costly work of requests (Argon2, signature checks) runs at most one piece per core
/// at a time in this process, whatever the number of nodes and connections: more would only
/// share the cores, and each Argon2 thread's working memory (19 MiB at the default cost)
/// would push the others' out of the caches. Requests that need no work never wait here.
static WORK_SLOTS: WorkSlots = WorkSlots {
    busy: Mutex::new(0),
    freed: Condvar::new(),
};

struct WorkSlots {
    busy: Mutex<usize>,
    freed: Condvar,
}

impl WorkSlots {
    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        struct Slot<'a>(&'a WorkSlots);
        impl Drop for Slot<'_> {
            fn drop(&mut self) {
                let mut busy = self.0.busy.lock().unwrap_or_else(|p| p.into_inner());
                *busy -= 1;
                self.0.freed.notify_one();
            }
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        while *busy >= cores {
            busy = self.freed.wait(busy).unwrap_or_else(|p| p.into_inner());
        }
        *busy += 1;
        drop(busy);
        let _slot = Slot(self);
        work()
    }
}

fn internal(message: String) -> Reply {
    Reply::Error {
        code: ErrorCode::Internal,
        message,
        approvals: None,
    }
}

/// Listens on `addr` (with SO_REUSEADDR, so a restarted node gets its port back at once).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    let listen = || -> std::io::Result<TcpListener> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    listen().map_err(|e| Error::io(format!("cannot listen on {addr}"), e))
}

/// Resolves when `shutdown` turns true or its sender is gone.
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves `service` on `listener` until `shutdown` turns true (or its sender is dropped):
/// then stops accepting, lets every connection finish the request it is handling, closes
/// them and returns.
pub async fn serve(
    listener: TcpListener,
    service: Arc<NodeService>,
    options: ServerOptions,
    faults: Arc<Faults>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(options.max_connections));
    tracing::info!(hsm = service.hsm_id(), addr = %service.addr(), "node serving");
    loop {
        tokio::select! {
            _ = stopping(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    if faults.close_at_once() {
                        drop(tcp);
                        continue;
                    }
                    // At the cap a new connection is closed at once: it costs no TLS work
                    // and holds no descriptor, and the client sees the refusal at once.
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        drop(tcp);
                        continue;
                    };
                    // Without TCP_NODELAY small frames wait for delayed ACKs (~40 ms).
                    if tcp.set_nodelay(true).is_err() {
                        continue;
                    }
                    let run = connection::run(
                        tcp,
                        service.clone(),
                        options.clone(),
                        faults.clone(),
                        shutdown.clone(),
                    );
                    connections.spawn(async move {
                        run.await;
                        drop(slot);
                    });
                }
                // Out of file descriptors or similar: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!(hsm = service.hsm_id(), addr = %service.addr(), "node stopped");
}
