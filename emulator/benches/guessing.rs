//! `hello` and `list_users` latency on a node at the default Argon2id cost, without load
//! and while 8 connections guess passwords (reconnecting whenever they are bounded), as a
//! ratio against the no-load figures of the same run.
//!
//! `cargo bench -p cloudhsm-mfa-emulator --bench guessing`

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings, ServerOptions};
use common::{block_on, login, Client, ADMIN_PW};

/// How long each measurement samples, one `hello` and one `list_users` per millisecond.
const SAMPLING: Duration = Duration::from_secs(3);
const GUESSERS: usize = 8;

#[derive(Default)]
struct Counts {
    hashed: AtomicU64,
    refused: AtomicU64,
    reconnects: AtomicU64,
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let init = InitOptions {
        nodes: 1,
        admin_password: Some(Secret::new(ADMIN_PW)),
        settings: NodeSettings::default(),
        ..InitOptions::default()
    };
    let cluster = EmbeddedCluster::start_with(dir.path(), &init, ServerOptions::default()).unwrap();
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());

    let baseline = block_on(measure(addr, &ca));

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counts::default());
    let guessers = std::thread::spawn({
        let (stop, counts, ca) = (stop.clone(), counts.clone(), ca.clone());
        move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let tasks: Vec<_> = (0..GUESSERS)
                        .map(|g| {
                            tokio::spawn(guess(g, addr, ca.clone(), stop.clone(), counts.clone()))
                        })
                        .collect();
                    for t in tasks {
                        let _ = t.await;
                    }
                })
        }
    });
    // Let the guessers get going.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let loaded = block_on(measure(addr, &ca));
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    guessers.join().unwrap();

    let samples = baseline[0].2.min(loaded[0].2);
    println!(
        "guessing bench: 1 node, Argon2id at the default cost, {GUESSERS} guessing connections, at least {samples} samples of each request per measurement"
    );
    for (i, name) in ["hello", "list_users"].iter().enumerate() {
        let (b, l) = (&baseline[i], &loaded[i]);
        println!(
            "{name:>10}: no load median {:>7.3} ms p99 {:>7.3} ms | under guessing median {:>7.3} ms p99 {:>7.3} ms | ratio median {:>5.2}x p99 {:>5.2}x",
            b.0, b.1, l.0, l.1, l.0 / b.0, l.1 / b.1
        );
    }
    println!(
        "guessers during the measurement: {:.0} hashed failures/s, {:.0} refusals/s without a hash, {:.0} reconnects/s",
        counts.hashed.load(Ordering::Relaxed) as f64 / elapsed,
        counts.refused.load(Ordering::Relaxed) as f64 / elapsed,
        counts.reconnects.load(Ordering::Relaxed) as f64 / elapsed,
    );
}

/// (median, p99) in milliseconds and the number of samples, for hello then list_users.
async fn measure(addr: std::net::SocketAddr, ca: &std::path::Path) -> [(f64, f64, usize); 2] {
    let mut c = Client::greeted(addr, ca).await;
    let mut times = [Vec::new(), Vec::new()];
    let start = Instant::now();
    while start.elapsed() < SAMPLING {
        tokio::time::sleep(Duration::from_millis(1)).await;
        for (i, op) in [Op::hello(), Op::ListUsers].into_iter().enumerate() {
            let start = Instant::now();
            let reply = c.request(op).await;
            times[i].push(start.elapsed().as_secs_f64() * 1000.0);
            assert!(!matches!(reply, Reply::Error { .. }), "{reply:?}");
        }
    }
    times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        (t[t.len() / 2], t[t.len() * 99 / 100], t.len())
    })
}

/// Guesses passwords for unknown names and for `admin`'s role with wrong names, opening a
/// new connection whenever the node bounds the current one.
async fn guess(
    g: usize,
    addr: std::net::SocketAddr,
    ca: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut c) = Client::connect(addr, &ca).await else {
            continue;
        };
        counts.reconnects.fetch_add(1, Ordering::Relaxed);
        if c.try_request(Op::hello()).await.is_err() {
            continue;
        }
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let name = format!("guess_{g}_{n}");
            match c
                .try_request(login(&name, Role::CryptoUser, "password1"))
                .await
            {
                Ok(Reply::Error {
                    code: ErrorCode::InvalidCredentials,
                    ..
                }) => counts.hashed.fetch_add(1, Ordering::Relaxed),
                Ok(_) => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => break,
            };
        }
    }
}
