//! The cost of the quorum gate, measured (never asserted): a `user create` with an approval
//! from 2, 4 and 8 admins on clusters of 3 and 8 HSMs, against the same `user create`
//! without quorum in the same run, on warm connections. The approval is gathered before the
//! timed call (generating the token and signing it are offline steps); the timed call is
//! the one request to every HSM, whose nodes check each approver's signature. Target: the
//! gate adds well under one round trip, i.e. `extra / ungated` well under 1.
//!
//! Run: `cargo bench --bench quorum`

use std::time::{Duration, Instant};

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::proto::{Role, Secret, Service};
use cloudhsm_mfa::{PrivateKey, TokenFile};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};

const ROUNDS: usize = 25;
const PASSWORD: &str = "bench-password";
const APPROVERS: usize = 8;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The admins that approve: `q0` … `q7`, each with its own quorum key.
fn approvers(
    rt: &Runtime,
    admin: &mut Session,
    target: &cloudhsm_mfa::config::ClusterTarget,
) -> Vec<PrivateKey> {
    (0..APPROVERS)
        .map(|i| {
            let name = format!("q{i}");
            let key = PrivateKey::generate(2048).unwrap();
            admin
                .run(async |s| s.create_user(&name, Role::Admin, PASSWORD).await)
                .unwrap();
            let mut own = Session::open(rt, target, &SessionOptions::default()).unwrap();
            own.run(async |s| s.login(&name, Role::Admin, PASSWORD).await)
                .unwrap();
            own.run(async |s| {
                s.register_quorum_key_with(&key.public_key().unwrap(), &key)
                    .await
            })
            .unwrap();
            key
        })
        .collect()
}

fn main() {
    println!(
        "gated user create (approval from M admins) against ungated, warm connections, median of {ROUNDS}"
    );
    println!(
        "{:>5} {:>10} {:>14} {:>12} {:>11} {:>16}",
        "HSMs", "approvers", "ungated (ms)", "gated (ms)", "extra (ms)", "extra / ungated"
    );
    for hsms in [3usize, 8] {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            nodes: hsms,
            admin_password: Some(Secret::new(PASSWORD)),
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        let cluster = EmbeddedCluster::start(&dir.path().join("c"), &options).unwrap();
        let target = Config::load(Some(&cluster.config_path()))
            .unwrap()
            .select(None)
            .unwrap();
        let rt = Runtime::new().unwrap();
        let mut admin = Session::open(&rt, &target, &SessionOptions::default()).unwrap();
        admin
            .run(async |s| s.login("admin", Role::Admin, PASSWORD).await)
            .unwrap();
        let keys = approvers(&rt, &mut admin, &target);
        let mut n = 0;
        let mut create = |admin: &mut Session| {
            n += 1;
            let name = format!("u{n}");
            let start = Instant::now();
            admin
                .run(async |s| s.create_user(&name, Role::CryptoUser, PASSWORD).await)
                .unwrap();
            start.elapsed()
        };
        create(&mut admin); // warm-up
        let ungated = median((0..ROUNDS).map(|_| create(&mut admin)).collect());
        let path = dir.path().join("approval.json");
        for m in [2usize, 4, 8] {
            admin
                .run(async |s| s.set_quorum_value(Service::User, m as u32).await)
                .unwrap();
            let gated = median(
                (0..ROUNDS)
                    .map(|_| {
                        admin
                            .run(async |s| s.generate_quorum_token(Service::User, &path).await)
                            .unwrap();
                        let mut file = TokenFile::load(&path).unwrap();
                        for (i, key) in keys.iter().take(m).enumerate() {
                            file.sign(key, Some(&format!("q{i}"))).unwrap();
                        }
                        admin.run(async |s| s.set_approval(&file)).unwrap();
                        create(&mut admin)
                    })
                    .collect(),
            );
            let extra = gated.saturating_sub(ungated);
            println!(
                "{hsms:>5} {m:>10} {:>14.2} {:>12.2} {:>11.2} {:>16.2}",
                ms(ungated),
                ms(gated),
                ms(extra),
                extra.as_secs_f64() / ungated.as_secs_f64()
            );
        }
        // Back to 1 for the next cluster size (each cluster is its own anyway).
        drop(admin);
    }
}
