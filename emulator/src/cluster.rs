//! [`EmbeddedCluster`]: the nodes of a cluster directory served from a background thread
//! with its own tokio runtime, driven from plain (blocking) code: tests, benchmarks,
//! demos and the `cloudhsm-emulator` binary. The nodes run on the real clock, or on a
//! test clock that the caller moves on ([`EmbeddedCluster::advance`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::init::{init_cluster, InitOptions};
use crate::layout::{ClusterDir, Manifest};
use crate::server::{self, Faults, NodeService, ServerOptions};

/// What the controller on the runtime thread is asked to do.
enum Command {
    Start {
        index: usize,
        service: Arc<NodeService>,
        faults: Arc<Faults>,
        reply: std_mpsc::Sender<Result<()>>,
    },
    Stop {
        index: usize,
        reply: std_mpsc::Sender<()>,
    },
    Shutdown {
        reply: std_mpsc::Sender<()>,
    },
}

/// A running cluster. Dropping it stops every node (as [`EmbeddedCluster::shutdown`]).
pub struct EmbeddedCluster {
    layout: ClusterDir,
    manifest: Manifest,
    faults: Vec<Arc<Faults>>,
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    clock: Clock,
}

impl EmbeddedCluster {
    /// Creates the cluster in `dir` with `init` unless `dir` already holds one, then serves
    /// every node.
    pub fn start(dir: &Path, init: &InitOptions) -> Result<Self> {
        Self::start_with(dir, init, ServerOptions::default())
    }

    /// As [`EmbeddedCluster::start`], with the given connection time limits.
    pub fn start_with(dir: &Path, init: &InitOptions, options: ServerOptions) -> Result<Self> {
        Self::start_with_clock(dir, init, options, Clock::real())
    }

    /// As [`EmbeddedCluster::start_with`], the nodes taking their time from `clock` (for
    /// tests, [`Clock::test`], moved on with [`EmbeddedCluster::advance`]).
    pub fn start_with_clock(
        dir: &Path,
        init: &InitOptions,
        options: ServerOptions,
        clock: Clock,
    ) -> Result<Self> {
        if !ClusterDir::new(dir).manifest().exists() {
            init_cluster(dir, init)?;
        }
        let cluster = Self::open_with_clock(dir, options, clock)?;
        for index in 0..cluster.node_count() {
            cluster.start_node(index)?;
        }
        Ok(cluster)
    }

    /// Opens the cluster in `dir` without starting any node; see [`EmbeddedCluster::start_node`].
    pub fn open(dir: &Path, options: ServerOptions) -> Result<Self> {
        Self::open_with_clock(dir, options, Clock::real())
    }

    /// As [`EmbeddedCluster::open`], the nodes taking their time from `clock`.
    pub fn open_with_clock(dir: &Path, options: ServerOptions, clock: Clock) -> Result<Self> {
        let root = dir
            .canonicalize()
            .map_err(|e| Error::file(dir, format!("cannot open the cluster directory: {e}")))?;
        let layout = ClusterDir::new(root);
        let manifest = Manifest::load(&layout)?;
        let faults = (0..manifest.nodes.len())
            .map(|_| Arc::new(Faults::default()))
            .collect();
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hsm-emulator".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("hsm-node")
                    .enable_all()
                    .build();
                match runtime {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(()));
                        rt.block_on(control(receiver, options));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .map_err(|e| Error::io("cannot start the emulator thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::io("cannot start the emulator runtime", e)),
            Err(_) => {
                return Err(Error::Invalid(
                    "the emulator thread ended before it started".into(),
                ))
            }
        }
        Ok(EmbeddedCluster {
            layout,
            manifest,
            faults,
            commands,
            thread: Some(thread),
            clock,
        })
    }

    /// Starts serving node `index` with its saved state. Refused when it is running.
    pub fn start_node(&self, index: usize) -> Result<()> {
        let service = NodeService::load(&self.layout, &self.manifest, index, self.clock.clone())?;
        let (reply, answer) = std_mpsc::channel();
        self.send(Command::Start {
            index,
            service,
            faults: self.faults[index].clone(),
            reply,
        })?;
        answer.recv().map_err(|_| stopped())?
    }

    /// Stops node `index`: it stops listening, finishes the requests in flight and closes
    /// its connections (their logins end). Stopping a stopped node does nothing.
    pub fn stop_node(&self, index: usize) -> Result<()> {
        self.manifest.node(index)?;
        let (reply, answer) = std_mpsc::channel();
        self.send(Command::Stop { index, reply })?;
        answer.recv().map_err(|_| stopped())
    }

    /// Makes node `index` wait `delay` before every reply (zero for none).
    pub fn set_delay(&self, index: usize, delay: Duration) -> Result<()> {
        self.manifest.node(index)?;
        self.faults[index].set_delay(delay);
        Ok(())
    }

    /// Makes node `index` close every new connection as soon as it is accepted.
    pub fn set_close_at_once(&self, index: usize, on: bool) -> Result<()> {
        self.manifest.node(index)?;
        self.faults[index].set_close_at_once(on);
        Ok(())
    }

    /// The clock the nodes take their time from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Moves the test clock of every node on by `by`, as if that much time had passed:
    /// challenges older than their lifetime expire. Refused on the real clock.
    pub fn advance(&self, by: Duration) -> Result<()> {
        self.clock.advance(by)
    }

    /// Stops every node and the runtime. Also done on drop.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<()> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (reply, answer) = std_mpsc::channel();
        if self.commands.send(Command::Shutdown { reply }).is_ok() {
            let _ = answer.recv();
        }
        thread
            .join()
            .map_err(|_| Error::Invalid("the emulator thread failed".into()))
    }

    fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| stopped())
    }

    /// The cluster directory (absolute).
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// The client configuration, `cloudhsm-cli.cfg`.
    pub fn config_path(&self) -> PathBuf {
        self.layout.client_config()
    }

    /// The cluster CA certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.layout.ca_cert()
    }

    /// The state file of node `index`.
    pub fn state_path(&self, index: usize) -> PathBuf {
        self.layout.node_state(index)
    }

    pub fn node_count(&self) -> usize {
        self.manifest.nodes.len()
    }

    /// The address of node `index`.
    pub fn addr(&self, index: usize) -> Result<SocketAddr> {
        Ok(self.manifest.node(index)?.addr())
    }

    /// The id of node `index` (`hsm-<index+1>`).
    pub fn hsm_id(&self, index: usize) -> Result<&str> {
        Ok(&self.manifest.node(index)?.hsm_id)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }
}

impl Drop for EmbeddedCluster {
    fn drop(&mut self) {
        let _ = self.stop_all();
    }
}

fn stopped() -> Error {
    Error::Invalid("the cluster has been shut down".into())
}

/// A node being served.
struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Runs on the emulator thread: starts and stops nodes as asked.
async fn control(mut commands: mpsc::UnboundedReceiver<Command>, options: ServerOptions) {
    let mut running: HashMap<usize, Running> = HashMap::new();
    while let Some(command) = commands.recv().await {
        match command {
            Command::Start {
                index,
                service,
                faults,
                reply,
            } => {
                if running.get(&index).is_some_and(|r| !r.task.is_finished()) {
                    let _ = reply.send(Err(Error::Invalid(format!(
                        "node {index} is already running"
                    ))));
                    continue;
                }
                let result = bind_with_retry(service.addr()).await.map(|listener| {
                    let (stop, stop_rx) = watch::channel(false);
                    let task = tokio::spawn(server::serve(
                        listener,
                        service,
                        options.clone(),
                        faults,
                        stop_rx,
                    ));
                    running.insert(index, Running { stop, task });
                });
                let _ = reply.send(result);
            }
            Command::Stop { index, reply } => {
                if let Some(node) = running.remove(&index) {
                    node.stop().await;
                }
                let _ = reply.send(());
            }
            Command::Shutdown { reply } => {
                stop_every(&mut running).await;
                let _ = reply.send(());
                return;
            }
        }
    }
    // The cluster handle is gone without a shutdown: stop anyway.
    stop_every(&mut running).await;
}

/// Binds `addr`, trying again for a short while when the port is still held (for example
/// by a connection of a node that just stopped, or by a client's outgoing connection that
/// happened to get the port).
async fn bind_with_retry(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match server::bind(addr).await {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

async fn stop_every(running: &mut HashMap<usize, Running>) {
    for node in running.values() {
        let _ = node.stop.send(true);
    }
    for (_, node) in running.drain() {
        node.stop().await;
    }
}
