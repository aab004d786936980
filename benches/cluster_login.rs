//! MFA login against emulator clusters, measured (never asserted):
//!
//! 1. Latency with an injected per-node delay D on every response, warm connections, for
//!    1, 3, 8 and 16 nodes, against a sequential baseline measured in the same run (the
//!    same login done one node at a time). Target: at most 2·D + 10 ms whatever the node
//!    count (an MFA login is two round trips, sent to all nodes at once).
//! 2. MFA logins per second on a 3-node cluster from 8 concurrent sessions.
//!
//! Run: `cargo bench --bench cluster_login`

use std::sync::Arc;
use std::time::{Duration, Instant};

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::{ClusterTarget, Config};
use cloudhsm_mfa::proto::{Role, Secret};
use cloudhsm_mfa::PrivateKey;
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};

fn delay() -> Duration {
    let ms = std::env::var("BENCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    Duration::from_millis(ms)
}
const ROUNDS: usize = 15;
const PASSWORD: &str = "bench-password";

struct Bench {
    _dir: tempfile::TempDir,
    cluster: EmbeddedCluster,
    rt: Runtime,
    key: Arc<PrivateKey>,
    target: ClusterTarget,
}

impl Bench {
    fn start(nodes: usize, settings: NodeSettings) -> Bench {
        let dir = tempfile::tempdir().expect("temporary directory");
        let options = InitOptions {
            nodes,
            admin_password: Some(Secret::new(PASSWORD)),
            settings,
            ..InitOptions::default()
        };
        let cluster =
            EmbeddedCluster::start(&dir.path().join("c"), &options).expect("cluster starts");
        let target = Config::load(Some(&cluster.config_path()))
            .unwrap()
            .select(None)
            .unwrap();
        let rt = Runtime::new().unwrap();
        let key = Arc::new(PrivateKey::generate(2048).unwrap());
        let mut admin = Session::open(&rt, &target, &SessionOptions::default()).unwrap();
        admin
            .run(async |ses| ses.login("admin", Role::Admin, PASSWORD).await)
            .unwrap();
        admin
            .run(async |ses| ses.create_user("bench", Role::CryptoUser, PASSWORD).await)
            .unwrap();
        let mut user = Session::open(&rt, &target, &SessionOptions::default()).unwrap();
        user.run(async |ses| ses.login("bench", Role::CryptoUser, PASSWORD).await)
            .unwrap();
        let k = key.clone();
        user.run(async |ses| {
            ses.change_mfa_with(
                "bench",
                Role::CryptoUser,
                &key.public_key().unwrap(),
                PASSWORD,
                false,
                &*k,
            )
            .await
        })
        .unwrap();
        Bench {
            _dir: dir,
            cluster,
            rt,
            key,
            target,
        }
    }

    fn session(&self, target: &ClusterTarget) -> Session {
        Session::open(&self.rt, target, &SessionOptions::default()).unwrap()
    }

    /// One MFA login on a warm session (the logout after it is not timed).
    fn timed_login(&self, s: &mut Session) -> Duration {
        let start = Instant::now();
        s.run(async |ses| {
            ses.login_mfa_with(
                "bench",
                Role::CryptoUser,
                PASSWORD,
                &|t: &cloudhsm_mfa::Token| self.key.sign_token(t),
            )
            .await
        })
        .unwrap();
        let took = start.elapsed();
        s.run(async |ses| ses.logout().await).unwrap();
        took
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn latency() {
    println!("MFA login latency, injected delay D = {} ms per response, warm connections, median of {ROUNDS}", delay().as_millis());
    println!(
        "{:>6} {:>14} {:>16} {:>22} {:>14}  target",
        "nodes", "parallel (ms)", "2D+10 (ms)", "sequential (ms)", "seq/parallel"
    );
    for nodes in [1usize, 3, 8, 16] {
        let b = Bench::start(nodes, NodeSettings::low_cost());
        for i in 0..nodes {
            b.cluster.set_delay(i, delay()).unwrap();
        }
        let mut all = b.session(&b.target);
        b.timed_login(&mut all); // warm-up
        let parallel = median((0..ROUNDS).map(|_| b.timed_login(&mut all)).collect());

        // The baseline: the same login, one node after the other, each its own session.
        let mut singles: Vec<Session> = (0..nodes)
            .map(|i| {
                let mut t = b.target.clone();
                t.servers = vec![b.target.servers[i].clone()];
                b.session(&t)
            })
            .collect();
        for s in &mut singles {
            b.timed_login(s);
        }
        let sequential = median(
            (0..ROUNDS)
                .map(|_| singles.iter_mut().map(|s| b.timed_login(s)).sum())
                .collect(),
        );
        let bound = 2.0 * ms(delay()) + 10.0;
        println!(
            "{nodes:>6} {:>14.1} {:>16.1} {:>22.1} {:>13.1}x  {}",
            ms(parallel),
            bound,
            ms(sequential),
            ms(sequential) / ms(parallel),
            if ms(parallel) <= bound {
                "met"
            } else {
                "NOT met"
            }
        );
    }
}

fn throughput(label: &str, settings: NodeSettings) {
    let (m, t, p) = (
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        settings.argon2_lanes,
    );
    let b = Arc::new(Bench::start(3, settings));
    let window = Duration::from_secs(3);
    let start = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                let mut s = b.session(&b.target);
                let mut n = 0u32;
                while start.elapsed() < window {
                    b.timed_login(&mut s);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let secs = start.elapsed().as_secs_f64();
    let rate = total as f64 / secs;
    // The CPU limit, measured in the same run: every login hashes the password once on
    // each of the 3 HSMs, so the machine's cores give at most cores / (3 × one hash).
    let hash = argon2_hash_time(m, t, p);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let limit = cores as f64 / (3.0 * hash.as_secs_f64());
    println!(
        "{label:<28} Argon2id m={m} KiB t={t} p={p}: {total} logins in {secs:.1} s = {rate:.0} MFA logins/s; \
         one hash {:.2} ms, CPU limit {cores} cores / (3 HSMs x hash) = {limit:.0}/s, ratio {:.2}",
        ms(hash),
        rate / limit
    );
}

/// The time of one Argon2id password hash at the given cost on this thread, at its best:
/// working memory allocated once and warm, median of 5 after one warm-up.
fn argon2_hash_time(m: u32, t: u32, p: u32) -> Duration {
    use argon2::{Algorithm, Argon2, Block, Params, Version};
    let params = Params::new(m, t, p, None).unwrap();
    let mut memory = vec![Block::new(); params.block_count()];
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut out = [0u8; 32];
    let mut once = || {
        let start = Instant::now();
        hasher
            .hash_password_into_with_memory(PASSWORD.as_bytes(), &[7u8; 16], &mut out, &mut memory)
            .unwrap();
        start.elapsed()
    };
    once();
    median((0..5).map(|_| once()).collect())
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if std::env::var_os("BENCH_ONLY_THROUGHPUT").is_none() {
        latency();
        println!();
    }
    println!("MFA logins per second, 3 nodes, 8 concurrent sessions (each login: password + signature on every node, then logout)");
    if std::env::var_os("BENCH_ONLY_DEFAULT").is_none() {
        throughput("low cost (tests)", NodeSettings::low_cost());
    }
    throughput("default cost", NodeSettings::default());
    println!("target: default-cost logins/s >= 0.8 x the CPU limit");
}
