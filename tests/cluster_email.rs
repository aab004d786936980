//! Email codes through a real SMTP server (SPEC §11.3): Python's aiosmtpd, started here on
//! a free loopback port, receives the one message of a login to a 3-HSM cluster whose
//! emulator sends email by SMTP; the code it carries logs the user in. And the MFA
//! preferences and attributes of a user are still there after every node restarts.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::{LoginStep, SessionOptions};
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::mfa::{Factor, Request, Setting};
use cloudhsm_mfa::proto::{Role, Secret};
use cloudhsm_mfa_emulator::delivery::{DeliveryConfig, EmailChannel};
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};

const ADMIN_PW: &str = "admin-password";
const PW: &str = "email-user-pw";

/// aiosmtpd on `port`, printing every message it takes; killed when dropped.
struct SmtpServer {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl SmtpServer {
    fn start() -> (SmtpServer, u16) {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args(["-u", "-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Debugging"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run python3 -m aiosmtpd (scripts/setup.sh installs it)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "aiosmtpd exited; is it installed?"
            );
            assert!(
                Instant::now() < deadline,
                "aiosmtpd never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (SmtpServer { child, lines }, port)
    }

    /// The lines of the messages received until one holds `needle`.
    fn wait_for(&self, needle: &str) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {needle:?} from the SMTP server; got {seen:#?}"));
            let done = line.contains(needle);
            seen.push(line);
            if done {
                return seen;
            }
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_email_code_goes_through_a_real_smtp_server_once_per_login() {
    let (smtp, port) = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        nodes: 3,
        admin_password: Some(Secret::new(ADMIN_PW)),
        settings: NodeSettings::low_cost(),
        delivery: DeliveryConfig {
            email: EmailChannel::Smtp {
                server: format!("127.0.0.1:{port}"),
                from: "hsm@example.com".into(),
            },
            ..DeliveryConfig::default()
        },
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
        .run(async |s| s.login("admin", Role::Admin, ADMIN_PW).await)
        .unwrap();
    admin
        .run(async |s| s.create_user("erin", Role::CryptoUser, PW).await)
        .unwrap();
    let mut erin = Session::open(&rt, &target, &SessionOptions::default()).unwrap();
    erin.run(async |s| s.login("erin", Role::CryptoUser, PW).await)
        .unwrap();
    erin.run(async |s| {
        s.update_attributes("erin", Role::CryptoUser, None, Some("erin@example.com"))
            .await
    })
    .unwrap();
    let request = Request {
        settings: [(
            Factor::Email,
            Setting {
                enabled: Some(true),
                preferred: Some(true),
            },
        )]
        .into_iter()
        .collect(),
    };
    erin.run(async |s| {
        s.set_mfa_preference("erin", Role::CryptoUser, &request)
            .await
    })
    .unwrap();
    erin.run(async |s| s.logout().await).unwrap();

    let step = erin
        .run(async |s| s.login_start("erin", Role::CryptoUser, PW, None).await)
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Code {
            factor: Factor::Email,
            destination: Some("e***@example.com".into())
        }
    );
    let message = smtp.wait_for("code is");
    let text = message.join("\n");
    assert!(
        text.contains("erin@example.com") && text.contains("hsm@example.com"),
        "{text}"
    );
    let line = message.last().unwrap();
    let code: String = line
        .split("code is ")
        .nth(1)
        .unwrap()
        .chars()
        .take(6)
        .collect();
    assert!(code.chars().all(|c| c.is_ascii_digit()), "{line}");
    erin.run(async |s| s.login_code(&code).await).unwrap();
    // One message for the three HSMs: nothing else arrives.
    assert!(smtp
        .lines
        .recv_timeout(Duration::from_millis(500))
        .map_or(true, |l| !l.contains("code is")));
    assert!(
        !dir.path().join("c/outbox.jsonl").exists(),
        "email went by SMTP, not to the outbox"
    );
}

#[test]
fn preferences_and_attributes_survive_a_node_restart() {
    let c = common::TestCluster::start(3);
    c.admin()
        .run(async |s| {
            s.create_user("fred", Role::CryptoUser, common::USER_PASSWORD)
                .await
        })
        .unwrap();
    let mut fred = c.session();
    fred.run(async |s| {
        s.login("fred", Role::CryptoUser, common::USER_PASSWORD)
            .await
    })
    .unwrap();
    fred.run(async |s| {
        s.update_attributes("fred", Role::CryptoUser, Some("+14155550142"), None)
            .await
    })
    .unwrap();
    let request = Request {
        settings: [(
            Factor::Sms,
            Setting {
                enabled: Some(true),
                preferred: Some(true),
            },
        )]
        .into_iter()
        .collect(),
    };
    fred.run(async |s| {
        s.set_mfa_preference("fred", Role::CryptoUser, &request)
            .await
    })
    .unwrap();
    drop(fred);
    for i in 0..3 {
        c.cluster.stop_node(i).unwrap();
        c.cluster.start_node(i).unwrap();
    }
    let mut fred = c.session();
    let step = fred
        .run(async |s| {
            s.login_start("fred", Role::CryptoUser, common::USER_PASSWORD, None)
                .await
        })
        .unwrap();
    assert_eq!(
        step,
        LoginStep::Code {
            factor: Factor::Sms,
            destination: Some("+*******0142".into())
        }
    );
}
