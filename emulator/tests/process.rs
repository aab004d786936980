//! The `cloudhsm-emulator` binary as a process: init, run, SIGKILL mid-burst without
//! losing an acknowledged change or tearing the state file, and a clean exit on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role, Secret};
use cloudhsm_mfa_emulator::store::Store;
use cloudhsm_mfa_emulator::{ClusterDir, Manifest};
use common::*;

const EXE: &str = env!("CARGO_BIN_EXE_cloudhsm-emulator");

/// A running `cloudhsm-emulator run`, killed if the test ends early.
struct Emulator {
    child: Arc<Mutex<Child>>,
    lines: mpsc::Receiver<String>,
}

impl Emulator {
    /// Starts `run --dir DIR` with `extra` arguments and waits for its "ready" line.
    fn start(dir: &Path, extra: &[&str]) -> Emulator {
        let mut child = Command::new(EXE)
            .arg("run")
            .arg("--dir")
            .arg(dir)
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let emulator = Emulator {
            child: Arc::new(Mutex::new(child)),
            lines,
        };
        let ready = emulator.wait_for_event("ready");
        let serving = ready["nodes"].as_array().map_or(0, Vec::len);
        let refused = ready["refused"].as_array().map_or(0, Vec::len);
        assert!(serving + refused > 0, "{ready}");
        emulator
    }

    /// The next stderr line whose "event" is `event`.
    fn wait_for_event(&self, event: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {event:?} line from the emulator"));
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|_| panic!("stderr line is not JSON: {line}"));
            if v["event"] == event {
                return v;
            }
            assert_ne!(v["event"], "error", "{line}");
        }
    }

    fn pid(&self) -> u32 {
        self.child.lock().unwrap().id()
    }

    fn wait(&self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.lock().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the emulator did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `cloudhsm-emulator init` of one activated node with a cheap password hash.
fn init(dir: &Path) -> (SocketAddr, std::path::PathBuf) {
    let (addrs, ca) = init_nodes(dir, 1);
    (addrs[0], ca)
}

/// `cloudhsm-emulator init` of `nodes` activated nodes with a cheap password hash.
fn init_nodes(dir: &Path, nodes: usize) -> (Vec<SocketAddr>, std::path::PathBuf) {
    let out = Command::new(EXE)
        .args([
            "init",
            "--nodes",
            &nodes.to_string(),
            "--admin-password",
            ADMIN_PW,
        ])
        .args(["--argon2-memory-kib", "64", "--argon2-iterations", "1"])
        .arg("--dir")
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains(ADMIN_PW),
        "the password must not be printed"
    );
    let summary: serde_json::Value = serde_json::from_str(stderr.trim()).unwrap();
    assert_eq!(summary["event"], "initialized");
    let layout = ClusterDir::new(dir.canonicalize().unwrap());
    let manifest = Manifest::load(&layout).unwrap();
    assert_eq!(summary["nodes"].as_array().unwrap().len(), nodes);
    (
        manifest.nodes.iter().map(|n| n.addr()).collect(),
        layout.ca_cert(),
    )
}

#[test]
fn sigkill_mid_burst_loses_no_acknowledged_user_and_tears_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca) = init(dir.path());
    let emulator = Emulator::start(dir.path(), &["--node", "0"]);

    // Kill the process from another thread once some creations are acknowledged, while
    // the client goes on sending.
    let acked_count = Arc::new(AtomicUsize::new(0));
    let killer = {
        let child = emulator.child.clone();
        let acked_count = acked_count.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            while acked_count.load(Ordering::SeqCst) < 15 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            child.lock().unwrap().kill().unwrap(); // SIGKILL
        })
    };
    let (acked, attempted) = block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let mut acked = Vec::new();
        let mut attempted = Vec::new();
        for i in 0..10_000 {
            let name = format!("user{i}");
            attempted.push(name.clone());
            match admin
                .try_request(create(&name, Role::CryptoUser, "password1"))
                .await
            {
                Ok(Reply::Done) => {
                    acked.push(name);
                    acked_count.store(acked.len(), Ordering::SeqCst);
                }
                Ok(other) => panic!("create_user {name}: {other:?}"),
                Err(_) => break,
            }
        }
        (acked, attempted)
    });
    killer.join().unwrap();
    let status = emulator.wait(Duration::from_secs(10));
    assert!(!status.success(), "the process was killed, not stopped");
    assert!(
        acked.len() >= 15 && acked.len() < attempted.len(),
        "{} of {}",
        acked.len(),
        attempted.len()
    );

    // The state file parses and holds every acknowledged user; anything else in it is a
    // user whose creation was in flight.
    let layout = ClusterDir::new(dir.path().canonicalize().unwrap());
    let state = Store::new(layout.node_state(0)).load().unwrap().unwrap();
    for name in &acked {
        assert!(
            state.users.contains_key(name),
            "acknowledged {name} was lost"
        );
    }
    for name in state.users.keys() {
        assert!(
            name == "admin" || attempted.contains(name),
            "unexpected user {name}"
        );
    }
    drop(emulator);

    // The restarted node serves the saved users.
    let emulator = Emulator::start(dir.path(), &["--node", "0"]);
    block_on(async {
        let mut c = Client::greeted(addr, &ca).await;
        let Reply::Users { users } = c.request(Op::ListUsers).await else {
            panic!()
        };
        for name in &acked {
            assert!(
                users.iter().any(|u| &u.username == name),
                "{name} missing after restart"
            );
        }
        let last = acked.last().unwrap();
        let reply = c.request(login(last, Role::CryptoUser, "password1")).await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    });
    drop(emulator);
}

#[test]
fn sigterm_stops_the_emulator_cleanly_with_exit_status_0() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca) = init(dir.path());
    let emulator = Emulator::start(dir.path(), &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // An open, logged-in connection does not keep the process alive.
    let mut admin = rt.block_on(Client::admin(addr, &ca));
    let status = Command::new("kill")
        .args(["-TERM", &emulator.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopping = emulator.wait_for_event("stopping");
    assert_eq!(stopping["signal"], "SIGTERM");
    emulator.wait_for_event("stopped");
    let status = emulator.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0));
    rt.block_on(async {
        assert!(admin.try_request(Op::ListUsers).await.is_err());
    });
}

#[test]
fn sigint_stops_the_emulator_cleanly_too() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let emulator = Emulator::start(dir.path(), &[]);
    let status = Command::new("kill")
        .args(["-INT", &emulator.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(emulator.wait_for_event("stopping")["signal"], "SIGINT");
    assert_eq!(emulator.wait(Duration::from_secs(10)).code(), Some(0));
}

#[test]
fn run_refuses_an_unknown_node_and_a_directory_without_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(EXE)
        .arg("run")
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("emulator.json") && err.contains("init"),
        "{err}"
    );

    init(dir.path());
    let out = Command::new(EXE)
        .args(["run", "--node", "5", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no node 5"), "{err}");
}

#[test]
fn a_refused_node_does_not_listen() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca) = init(dir.path());
    let emulator = Emulator::start(dir.path(), &["--refuse-node", "0", "--node", "0"]);
    block_on(async {
        let err = Client::connect(addr, &ca)
            .await
            .err()
            .expect("must be refused");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    });
    drop(emulator);
}

#[test]
fn run_injects_a_reply_delay_and_a_node_that_closes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (addrs, ca) = init_nodes(dir.path(), 2);
    let emulator = Emulator::start(dir.path(), &["--delay-ms", "300", "--close-node", "1"]);
    block_on(async {
        let mut c = Client::connect(addrs[0], &ca).await.unwrap();
        let start = Instant::now();
        let reply = c.request(Op::hello()).await;
        assert!(matches!(reply, Reply::Hello { .. }), "{reply:?}");
        assert!(
            start.elapsed() >= Duration::from_millis(300),
            "{:?}",
            start.elapsed()
        );
        assert!(Client::connect(addrs[1], &ca).await.is_err());
    });
    drop(emulator);
}

/// What a core dump would hold: after a login, a user creation and that user's login, the
/// emulator process keeps no copy of either password once the connections are closed.
/// While a connection is open, the TLS library's record buffer (which this crate cannot
/// wipe) may still hold the last record that carried a password until a longer record
/// overwrites it: at most one copy for each connection that sent that password.
#[test]
fn passwords_do_not_stay_in_the_emulators_memory() {
    const ALICE_PW: &str = "alice-memory-probe-7";
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca) = init(dir.path());
    let emulator = Emulator::start(dir.path(), &[]);
    let pid = emulator.pid();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (admin, alice) = rt.block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let reply = admin
            .request(create("alice", Role::CryptoUser, ALICE_PW))
            .await;
        assert!(matches!(reply, Reply::Done), "{reply:?}");
        let mut alice = Client::greeted(addr, &ca).await;
        let reply = alice
            .request(login("alice", Role::CryptoUser, ALICE_PW))
            .await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        // One more request on each connection after the one that carried a password.
        assert!(matches!(
            admin.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));
        assert!(matches!(
            alice.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));
        (admin, alice)
    });
    for (secret, connections) in [(ADMIN_PW, 1), (ALICE_PW, 2)] {
        let (count, places) = cloudhsm_mfa_test_support::memory::copies(pid, secret.as_bytes());
        assert!(count <= connections, "{count} copies: {places:?}");
    }
    drop((admin, alice));
    std::thread::sleep(Duration::from_millis(300));
    cloudhsm_mfa_test_support::memory::assert_no_copies(pid, &[ADMIN_PW, ALICE_PW]);
}

/// The request log of `run --log-file --log-level` (SPEC §10): every request a node handles
/// with its operation, user, node and result code, and the nodes' start and stop; never a
/// password, a token or a signature. Stderr keeps its JSON event lines only.
#[test]
fn the_request_log_shows_an_mfa_login_with_its_user_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, ca) = init(dir.path());
    let log = dir.path().join("logs").join("emulator.log");
    let emulator = Emulator::start(
        dir.path(),
        &["--log-level", "debug", "--log-file", log.to_str().unwrap()],
    );
    let keys = tempfile::tempdir().unwrap();
    let (key, public_pem) = openssl_key(keys.path(), "mfa", 2048);
    let mut secrets = vec![
        ADMIN_PW.to_string(),
        "alice-pw-0".to_string(),
        "alice-pw-1".to_string(),
        "wrong-pw-9".to_string(),
    ];
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let reply = admin
            .request(create("alice", Role::CryptoUser, "alice-pw-0"))
            .await;
        assert_eq!(reply, Reply::Done);

        // alice registers her MFA key, then logs in with it.
        let mut alice = Client::greeted(addr, &ca).await;
        let reply = alice
            .request(login("alice", Role::CryptoUser, "alice-pw-0"))
            .await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        let token = challenge(
            alice
                .request(Op::ChangeMfaBegin {
                    username: "alice".into(),
                    role: Role::CryptoUser,
                })
                .await,
        );
        let signature = openssl_sign(keys.path(), &key, &token);
        let reply = alice
            .request(Op::ChangeMfaFinish {
                username: "alice".into(),
                role: Role::CryptoUser,
                token: token.clone(),
                signature: signature.clone(),
                public_key_pem: public_pem.clone(),
                password: Secret::new("alice-pw-1"),
                change_quorum: false,
            })
            .await;
        assert_eq!(reply, Reply::Done);
        assert_eq!(alice.request(Op::Logout).await, Reply::Done);
        let login_token = challenge(
            alice
                .request(login("alice", Role::CryptoUser, "alice-pw-1"))
                .await,
        );
        let login_signature = openssl_sign(keys.path(), &key, &login_token);
        let reply = alice
            .request(Op::LoginMfa {
                token: login_token.clone(),
                signature: login_signature.clone(),
            })
            .await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
        secrets.extend([token, signature, login_token, login_signature]);

        let mut eve = Client::greeted(addr, &ca).await;
        let reply = eve
            .request(login("alice", Role::CryptoUser, "wrong-pw-9"))
            .await;
        assert_eq!(error(reply).0, ErrorCode::InvalidCredentials);
    });
    let status = Command::new("kill")
        .args(["-TERM", &emulator.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    emulator.wait_for_event("stopping");
    emulator.wait_for_event("stopped");
    assert_eq!(emulator.wait(Duration::from_secs(10)).code(), Some(0));

    let text = std::fs::read_to_string(&log).unwrap();
    let has = |needles: &[&str]| {
        text.lines()
            .any(|line| needles.iter().all(|n| line.contains(n)))
    };
    for needles in [
        &[" INFO ", "node serving", "hsm=\"hsm-"][..],
        &[" DEBUG ", "request", "op=hello ", "result=hello"],
        &[
            " INFO ",
            "request",
            "op=create_user ",
            "user=\"admin\"",
            "target_user=\"alice\"",
            "result=done",
        ],
        &[
            " INFO ",
            "request",
            "op=change_mfa_finish ",
            "user=\"alice\"",
            "result=done",
        ],
        &[
            " INFO ",
            "request",
            "op=login ",
            "user=\"alice\"",
            "role=\"crypto-user\"",
            "result=challenge",
        ],
        &[
            " INFO ",
            "request",
            "op=login_mfa ",
            "user=\"alice\"",
            "result=logged_in",
        ],
        &[
            " WARN ",
            "request",
            "op=login ",
            "user=\"alice\"",
            "result=invalid_credentials",
        ],
        &[" INFO ", "node stopped"],
        &[" INFO ", "stopping", "signal=\"SIGTERM\""],
    ] {
        assert!(has(needles), "no line with {needles:?}:\n{text}");
    }
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "the log shows {secret:?}:\n{text}"
        );
    }
}
