//! The soak: a 3-HSM cluster of `cloudhsm-emulator` processes, one per node, and 16
//! sessions, each an admin with MFA that logs in with a signed token, creates a user,
//! deletes it (every tenth of its first 200 is kept, well within the 1024 users an HSM holds), and logs out, over and over, while one node is
//! killed with SIGKILL and restarted at a fixed period. At the end it prints the operations
//! done, the acknowledged changes lost (read back from every node's state file after a
//! clean stop), the client crashes and every failure by its return code, and exits 1
//! unless nothing was lost, nothing crashed and every failure has a documented code other
//! than `CHMR_GENERAL_ERROR`.
//!
//! ```text
//! cargo bench -p cloudhsm-mfa-emulator --bench soak -- [SECONDS [KILL_EVERY_SECONDS]]
//! ```
//! The defaults are 60 s and a kill every 10 s.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cloudhsm_mfa::client::{Session, SessionOptions};
use cloudhsm_mfa::config::{ClusterTarget, Config};
use cloudhsm_mfa::crypto::PrivateKey;
use cloudhsm_mfa::ffi::{code_of, RETURN_CODES};
use cloudhsm_mfa::proto::Role;
use cloudhsm_mfa_emulator::store::Store;
use cloudhsm_mfa_emulator::ClusterDir;
use cloudhsm_mfa_test_support::keys;

const EXE: &str = env!("CARGO_BIN_EXE_cloudhsm-emulator");
const NODES: usize = 3;
const SESSIONS: usize = 16;
const ADMIN_PW: &str = "soak-admin-pw";
const USER_PW: &str = "soak-user-pw";
/// The longest any one operation may take before it counts as a hang.
const OPERATION_LIMIT: Duration = Duration::from_secs(30);

/// What the sessions saw, shared by all of them.
#[derive(Default)]
struct Record {
    operations: u64,
    /// Failures by return-code name ("TIMEOUT" for an operation that never answered).
    failures: BTreeMap<String, u64>,
    /// Users whose creation was acknowledged and that were never asked to be deleted.
    kept: BTreeSet<String>,
    /// Users whose deletion was acknowledged.
    deleted: BTreeSet<String>,
    created: u64,
}

impl Record {
    fn outcome<T>(&mut self, result: Option<cloudhsm_mfa::Result<T>>) -> bool {
        match result {
            Some(Ok(_)) => {
                self.operations += 1;
                true
            }
            Some(Err(e)) => {
                let rv = code_of(&e);
                let name = RETURN_CODES
                    .iter()
                    .find(|c| c.value == rv)
                    .map_or_else(|| format!("undocumented {rv:#x}"), |c| c.name.to_string());
                *self.failures.entry(name).or_default() += 1;
                false
            }
            None => {
                *self.failures.entry("TIMEOUT".into()).or_default() += 1;
                false
            }
        }
    }
}

/// One node's `cloudhsm-emulator run` process.
struct Node {
    child: Child,
}

impl Node {
    fn start(dir: &Path, index: usize) -> Node {
        let mut child = Command::new(EXE)
            .args(["run", "--node", &index.to_string(), "--dir"])
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cloudhsm-emulator");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        loop {
            let line = lines
                .next()
                .expect("the emulator ended before it was ready")
                .unwrap();
            if line.contains("\"ready\"") {
                break;
            }
        }
        // The rest of its stderr is drained, so that the process never blocks on it.
        std::thread::spawn(move || lines.for_each(drop));
        Node { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::time::timeout(OPERATION_LIMIT, f).await.ok()
}

fn admin_name(i: usize) -> String {
    format!("soak_admin_{i}")
}

/// The admins with MFA that the sessions log in as: created by the cluster's admin, each
/// registering its own key.
async fn set_up(target: &ClusterTarget, keys: &[Arc<PrivateKey>]) {
    let mut admin = Session::open(target, &SessionOptions::default())
        .await
        .unwrap();
    admin.login("admin", Role::Admin, ADMIN_PW).await.unwrap();
    for i in 0..SESSIONS {
        admin
            .create_user(&admin_name(i), Role::Admin, USER_PW)
            .await
            .unwrap();
        let mut own = Session::open(target, &SessionOptions::default())
            .await
            .unwrap();
        let key = &keys[i % keys.len()];
        own.login(&admin_name(i), Role::Admin, USER_PW)
            .await
            .unwrap();
        own.change_mfa_with(
            &admin_name(i),
            Role::Admin,
            &key.public_key().unwrap(),
            USER_PW,
            false,
            &**key,
        )
        .await
        .unwrap();
        own.close().await;
    }
    admin.close().await;
}

/// One session's loop until `deadline`.
async fn session(
    i: usize,
    target: ClusterTarget,
    key: Arc<PrivateKey>,
    deadline: Instant,
    record: Arc<Mutex<Record>>,
) {
    let name = admin_name(i);
    let mut s = match Session::open(&target, &SessionOptions::default()).await {
        Ok(s) => s,
        Err(e) => {
            record.lock().unwrap().outcome::<()>(Some(Err(e)));
            return;
        }
    };
    let mut n = 0u64;
    while Instant::now() < deadline {
        let login = within(s.login_mfa_with(&name, Role::Admin, USER_PW, &*key)).await;
        if !record.lock().unwrap().outcome(login) {
            s.close().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let user = format!("soak_{i}_{n}");
        let keep = n.is_multiple_of(10) && n < 200;
        n += 1;
        let created = within(s.create_user(&user, Role::CryptoUser, USER_PW)).await;
        {
            let mut r = record.lock().unwrap();
            if r.outcome(created) {
                r.created += 1;
                if keep {
                    r.kept.insert(user.clone());
                }
            }
        }
        if !keep {
            let deleted = within(s.delete_user(&user, Role::CryptoUser)).await;
            let mut r = record.lock().unwrap();
            if r.outcome(deleted) {
                r.deleted.insert(user.clone());
            }
        }
        let logout = within(s.logout()).await;
        if !record.lock().unwrap().outcome(logout) {
            // A logout that failed somewhere: start again from a fresh session.
            s.close().await;
        }
    }
    s.close().await;
}

fn main() -> ExitCode {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(|a| {
            a.parse()
                .expect("SECONDS and KILL_EVERY_SECONDS are whole numbers")
        })
        .collect();
    let seconds = args.first().copied().unwrap_or(60);
    let kill_every = Duration::from_secs(args.get(1).copied().unwrap_or(10));

    let work = tempfile::tempdir().unwrap();
    let dir: PathBuf = work.path().join("cluster");
    let out = Command::new(EXE)
        .args([
            "init",
            "--nodes",
            &NODES.to_string(),
            "--admin-password",
            ADMIN_PW,
        ])
        .args([
            "--argon2-memory-kib",
            "64",
            "--argon2-iterations",
            "1",
            "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let layout = ClusterDir::new(&dir);
    let mut nodes: Vec<Node> = (0..NODES).map(|i| Node::start(&dir, i)).collect();
    let target = Config::load(Some(&layout.client_config()))
        .unwrap()
        .select(None)
        .unwrap();
    let keys: Vec<Arc<PrivateKey>> = (0..4)
        .map(|n| Arc::new(keys::private_key(2048, n)))
        .collect();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(set_up(&target, &keys));

    println!(
        "soak: {seconds} s, {SESSIONS} sessions with MFA, {NODES} HSMs, one node SIGKILLed \
         and restarted every {} s",
        kill_every.as_secs()
    );
    let record = Arc::new(Mutex::new(Record::default()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|i| {
            rt.spawn(session(
                i,
                target.clone(),
                keys[i % keys.len()].clone(),
                deadline,
                record.clone(),
            ))
        })
        .collect();

    let mut kills = 0;
    let mut next_kill = start + kill_every;
    while next_kill < deadline {
        std::thread::sleep(next_kill.saturating_duration_since(Instant::now()));
        let victim = kills % NODES;
        nodes[victim].kill();
        nodes[victim] = Node::start(&dir, victim);
        kills += 1;
        next_kill += kill_every;
    }
    let crashes = rt.block_on(async {
        let mut crashes = 0;
        for t in tasks {
            if t.await.is_err() {
                crashes += 1;
            }
        }
        crashes
    });
    let elapsed = start.elapsed();
    for node in nodes {
        node.stop();
    }

    // Every node's state, read back from its file after a clean stop.
    let states: Vec<_> = (0..NODES)
        .map(|i| Store::new(layout.node_state(i)).load().unwrap().unwrap())
        .collect();
    let record = record.lock().unwrap();
    let mut lost = 0;
    for (i, state) in states.iter().enumerate() {
        lost += record
            .kept
            .iter()
            .filter(|u| !state.users.contains_key(*u))
            .inspect(|u| println!("  lost: HSM {} does not hold acknowledged user {u}", i + 1))
            .count();
        lost += record
            .deleted
            .iter()
            .filter(|u| state.users.contains_key(*u))
            .inspect(|u| println!("  lost: HSM {} still holds deleted user {u}", i + 1))
            .count();
    }
    let failures: u64 = record.failures.values().sum();
    let bad: Vec<&String> = record
        .failures
        .keys()
        .filter(|k| {
            k.as_str() == "TIMEOUT" || k.starts_with("undocumented") || *k == "CHMR_GENERAL_ERROR"
        })
        .collect();

    println!(
        "operations done: {} in {:.1} s ({:.0}/s); nodes killed: {kills}",
        record.operations,
        elapsed.as_secs_f64(),
        record.operations as f64 / elapsed.as_secs_f64()
    );
    println!(
        "acknowledged changes: {} creations, {} deletions, {} users kept",
        record.created,
        record.deleted.len(),
        record.kept.len()
    );
    println!("acknowledged changes lost: {lost}");
    println!("client crashes: {crashes}");
    println!("failures: {failures}");
    for (code, count) in &record.failures {
        println!("  {code}: {count}");
    }
    if lost == 0 && crashes == 0 && bad.is_empty() {
        println!("soak: passed");
        ExitCode::SUCCESS
    } else {
        println!("soak: FAILED (lost {lost}, crashes {crashes}, undocumented or internal failures {bad:?})");
        ExitCode::FAILURE
    }
}
