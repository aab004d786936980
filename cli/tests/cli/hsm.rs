//! Helpers for the cluster commands: a live emulator cluster per test (TLS on free loopback
//! ports, in the test's own directory), runs of the binary with answers on standard input,
//! a driver that answers prompts as they appear, and the manual signing of the AWS guide
//! (`base64 -d`, `openssl pkeyutl -sign -pkeyopt digest:sha256`, `base64 -w0`).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::Secret;
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};
use serde_json::Value;

use crate::common::*;

pub const ADMIN_PW: &str = "admin-pw-1";
pub const ALICE_PW: &str = "alice-pw-1";
pub const SIGNED_PROMPT: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";
pub const PUBLIC_KEY_PROMPT: &str = "Enter public key PEM file path:";

/// A running cluster of three HSMs in its own directory, stopped when dropped.
pub struct Hsm {
    pub cluster: EmbeddedCluster,
    pub config: PathBuf,
    /// Scratch space for keys and token files.
    pub work: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

impl Hsm {
    /// Activated: `admin` has [`ADMIN_PW`].
    pub fn activated() -> Hsm {
        Self::start(Some(ADMIN_PW))
    }

    /// New: `admin` is an unactivated-admin until `cluster activate`.
    pub fn unactivated() -> Hsm {
        Self::start(None)
    }

    fn start(admin_password: Option<&str>) -> Hsm {
        let dir = tempdir();
        let init = InitOptions {
            nodes: 3,
            admin_password: admin_password.map(Secret::new),
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        let cluster = EmbeddedCluster::start(dir.path(), &init).expect("start the cluster");
        Hsm {
            config: cluster.config_path(),
            cluster,
            work: tempdir(),
            _dir: dir,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// A command line of the binary against this cluster, without any CLOUDHSM_* variable
    /// of the test's own environment.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Command {
        self.command_with(&self.config, args)
    }

    /// As [`Hsm::command`], with another configuration file.
    pub fn command_with<S: AsRef<str>>(&self, config: &Path, args: &[S]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(config);
        cmd.args(args.iter().map(|a| a.as_ref()));
        for var in ["CLOUDHSM_MFA_CONFIG", "CLOUDHSM_ROLE", "CLOUDHSM_PIN"] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Runs a command with `stdin` as standard input.
    pub fn run<S: AsRef<str>>(&self, args: &[S], stdin: &str) -> Run {
        self.run_cmd(self.command(args), stdin)
    }

    /// Runs a command in single-command mode logged in as `user` (CLOUDHSM_ROLE,
    /// CLOUDHSM_PIN).
    pub fn run_as<S: AsRef<str>>(
        &self,
        role: &str,
        user: &str,
        password: &str,
        args: &[S],
        stdin: &str,
    ) -> Run {
        let mut cmd = self.command(args);
        cmd.env("CLOUDHSM_ROLE", role)
            .env("CLOUDHSM_PIN", format!("{user}:{password}"));
        self.run_cmd(cmd, stdin)
    }

    /// As admin, in single-command mode; the command must succeed.
    pub fn admin_ok<S: AsRef<str>>(&self, args: &[S]) -> Value {
        succeeded(&self.run_as("admin", "admin", ADMIN_PW, args, ""))
    }

    /// Runs `cmd` with `stdin` as standard input.
    pub fn run_cmd(&self, mut cmd: Command, stdin: &str) -> Run {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run cloudhsm-mfa");
        let mut input = child.stdin.take().unwrap();
        // The command may end before it reads everything (a failure): ignore a closed pipe.
        let _ = input.write_all(stdin.as_bytes());
        drop(input);
        let out = child.wait_with_output().expect("wait for cloudhsm-mfa");
        let stdout = String::from_utf8(out.stdout).expect("stdout is UTF-8");
        let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8");
        let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!("stdout is not one JSON document ({e}):\n{stdout}\nstderr:\n{stderr}")
        });
        Run {
            code: out.status.code(),
            stdout,
            stderr,
            json,
        }
    }

    /// Creates a crypto user with [`ALICE_PW`] as admin.
    pub fn create_alice(&self) {
        self.admin_ok(&[
            "user",
            "create",
            "--username",
            "alice",
            "--role",
            "crypto-user",
            "--password",
            ALICE_PW,
        ]);
    }

    /// The row of `user list` for `name`, if the user exists.
    pub fn user_row(&self, name: &str) -> Option<Value> {
        let data = succeeded(&self.run(&["user", "list"], ""));
        data["users"]
            .as_array()
            .expect("users is a list")
            .iter()
            .find(|u| u["username"] == name)
            .cloned()
    }

    /// Registers `key` (an OpenSSL key pair) as alice's MFA key through `--sign-with`.
    pub fn register_alice(&self, key: &Path) {
        let r = self.run_as(
            "crypto-user",
            "alice",
            ALICE_PW,
            &[
                "user",
                "change-mfa",
                "token-sign",
                "--username",
                "alice",
                "--role",
                "crypto-user",
                "--change-password",
                ALICE_PW,
                "--sign-with",
                path_str(key),
            ],
            "",
        );
        succeeded(&r);
    }
}

/// The data of a successful run.
pub fn succeeded(r: &Run) -> Value {
    assert_eq!(
        r.json["error_code"], 0,
        "expected success: {}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    assert_eq!(r.code, Some(0), "exit status of a success: {}", r.stdout);
    r.json["data"].clone()
}

/// `{"username": .., "role": ..}`.
pub fn identity(username: &str, role: &str) -> Value {
    serde_json::json!({"username": username, "role": role})
}

/// Fails when a secret shows in what the command printed.
pub fn assert_hidden(stdout: &str, stderr: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "the secret {secret:?} was printed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}

/// Signs every token of the MFA token file `unsigned` with `key` as the AWS guide does it
/// by hand, with the real `base64` and `openssl` commands, and writes the result to
/// `signed` (which may be the same path).
pub fn openssl_sign_file(unsigned: &Path, key: &Path, signed: &Path) {
    let dir = unsigned.parent().unwrap();
    let mut doc = read_json(unsigned);
    for (i, entry) in doc["tokens"]
        .as_array_mut()
        .expect("tokens")
        .iter_mut()
        .enumerate()
    {
        let token_bin = dir.join(format!("token-{i}.bin"));
        let sig_bin = dir.join(format!("token-{i}.sig"));
        let decoded = tool(
            "base64",
            &[OsStr::new("-d")],
            entry["unsigned"].as_str().unwrap().as_bytes(),
        );
        assert_eq!(decoded.len(), 32, "tokens[{i}].unsigned is 32 bytes");
        std::fs::write(&token_bin, decoded).unwrap();
        openssl([
            OsStr::new("pkeyutl"),
            OsStr::new("-sign"),
            OsStr::new("-inkey"),
            key.as_os_str(),
            OsStr::new("-pkeyopt"),
            OsStr::new("digest:sha256"),
            OsStr::new("-in"),
            token_bin.as_os_str(),
            OsStr::new("-out"),
            sig_bin.as_os_str(),
        ]);
        let encoded = tool("base64", &[OsStr::new("-w0"), sig_bin.as_os_str()], b"");
        entry["signed"] = Value::String(String::from_utf8(encoded).unwrap());
    }
    write_json(signed, &doc);
}

/// Runs `program ARGS` with `stdin`; it must succeed. Returns its stdout.
fn tool(program: &str, args: &[&OsStr], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("the {program} command is needed by these tests: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A running command whose prompts are answered as they appear on stderr.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

const PATIENCE: Duration = Duration::from_secs(60);

impl Driver {
    pub fn start(mut cmd: Command) -> Driver {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run cloudhsm-mfa");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Driver {
            stdin: child.stdin.take(),
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// The process id, to look into the running process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes one line to standard input. A command that has already ended (a failure
    /// before its prompts) has closed it: what it printed tells.
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("standard input is open");
        if let Err(e) = writeln!(stdin, "{line}").and_then(|()| stdin.flush()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "write to standard input: {e}"
            );
        }
    }

    /// Writes `bytes` to standard input as they are (keys for a terminal: a Tab, an arrow,
    /// Ctrl-C), without a line ending.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("standard input is open");
        stdin
            .write_all(bytes)
            .and_then(|()| stdin.flush())
            .expect("write to standard input");
    }

    /// Sends one command line and waits for its JSON document on stdout, which it returns
    /// (the command must not prompt).
    pub fn command(&mut self, line: &str) -> Value {
        // The documents printed so far; the last may still be arriving.
        let complete = |text: &str| -> Vec<Value> {
            serde_json::Deserializer::from_str(text)
                .into_iter::<Value>()
                .map_while(Result::ok)
                .collect()
        };
        let before = complete(&self.stdout.lock().unwrap()).len();
        self.send(line);
        let start = Instant::now();
        loop {
            let docs = complete(&self.stdout.lock().unwrap());
            if docs.len() > before {
                return docs[before].clone();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "no answer to {line:?}; stderr:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until `text` has appeared `count` times on stderr.
    pub fn wait_for(&self, text: &str, count: usize) {
        self.wait_in(&self.stderr, text, count)
    }

    /// Waits until `text` has appeared `count` times on stdout.
    pub fn wait_for_stdout(&self, text: &str, count: usize) {
        self.wait_in(&self.stdout, text, count)
    }

    fn wait_in(&self, stream: &Mutex<String>, text: &str, count: usize) {
        let start = Instant::now();
        loop {
            let seen = stream.lock().unwrap().matches(text).count();
            if seen >= count {
                return;
            }
            if start.elapsed() > PATIENCE {
                panic!(
                    "waited {PATIENCE:?} for {text:?} (#{count}); stderr:\n{}\nstdout:\n{}",
                    self.stderr.lock().unwrap(),
                    self.stdout.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Closes standard input and waits for the end: exit status, stdout, stderr.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for cloudhsm-mfa");
        for reader in self.readers.drain(..) {
            reader.join().unwrap();
        }
        let stdout = self.stdout.lock().unwrap().clone();
        let stderr = self.stderr.lock().unwrap().clone();
        (status.code(), stdout, stderr)
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // A failed test must not leave the process behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => into
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
    })
}

/// Every JSON document of a stream (interactive mode's stdout).
pub fn documents(text: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("stdout is not a stream of JSON documents ({e}):\n{text}"))
}

/// The data of a success envelope among interactive mode's documents.
pub fn ok_data(doc: &Value) -> Value {
    assert_eq!(doc["error_code"], 0, "expected success: {doc:#}");
    doc["data"].clone()
}

/// The message of a failure envelope.
pub fn error_message(doc: &Value) -> String {
    assert_eq!(doc["error_code"], 1, "expected failure: {doc:#}");
    assert_eq!(doc.as_object().unwrap().len(), 2, "{doc:#}");
    doc["data"].as_str().expect("a message").to_string()
}
