//! What the cluster tests share: an embedded emulator cluster on free loopback ports, a
//! blocking session to it, users and keys.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::proto::{Role, Secret};
use cloudhsm_mfa::PrivateKey;
use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions, NodeSettings};

pub const ADMIN_PASSWORD: &str = "admin-password";
pub const USER_PASSWORD: &str = "user-password";

/// A running cluster in its own temporary directory.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub cluster: EmbeddedCluster,
    pub rt: Runtime,
}

impl TestCluster {
    /// `nodes` activated nodes (admin / ADMIN_PASSWORD), low Argon2 cost.
    pub fn start(nodes: usize) -> Self {
        Self::start_with(nodes, NodeSettings::low_cost())
    }

    pub fn start_with(nodes: usize, settings: NodeSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            nodes,
            admin_password: Some(Secret::new(ADMIN_PASSWORD)),
            settings,
            ..InitOptions::default()
        };
        let cluster = EmbeddedCluster::start(&dir.path().join("cluster"), &options).unwrap();
        TestCluster {
            dir,
            cluster,
            rt: Runtime::new().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new session (not logged in).
    pub fn session(&self) -> Session {
        let config = Config::load(Some(&self.cluster.config_path())).unwrap();
        let target = config.select(None).unwrap();
        Session::open(&self.rt, &target, &SessionOptions::default()).unwrap()
    }

    /// A session logged in as the admin.
    pub fn admin(&self) -> Session {
        let mut s = self.session();
        s.run(async |ses| ses.login("admin", Role::Admin, ADMIN_PASSWORD).await)
            .unwrap();
        s
    }

    /// Creates crypto user `name` and registers `key` as its MFA key (the user does it
    /// itself after a password login, signing with the library), then logs it out.
    pub fn mfa_user(&self, name: &str, key: &PrivateKey) {
        self.admin()
            .run(async |ses| ses.create_user(name, Role::CryptoUser, USER_PASSWORD).await)
            .unwrap();
        let mut s = self.session();
        s.run(async |ses| ses.login(name, Role::CryptoUser, USER_PASSWORD).await)
            .unwrap();
        s.run(async |ses| {
            ses.change_mfa_with(
                name,
                Role::CryptoUser,
                &key.public_key().unwrap(),
                USER_PASSWORD,
                false,
                key,
            )
            .await
        })
        .unwrap();
    }
}

/// Runs openssl; panics with its stderr on failure.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `openssl genrsa` into `path`, and the public key beside it; returns (private, public).
pub fn openssl_key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let key = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    openssl(&["genrsa", "-out", key.to_str().unwrap(), "2048"]);
    openssl(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (key, public)
}

/// Signs an MFA token file the way the AWS guide shows, with real commands: for each token
/// `echo $unsigned | base64 -d > token.bin`, `openssl pkeyutl -sign -inkey KEY -pkeyopt
/// digest:sha256`, `base64 -w0`, then puts the signatures into the JSON (here with
/// serde_json, standing in for the user's editor) and writes it to `out`.
pub fn sign_like_the_aws_guide(token_file: &Path, key: &Path, out: &Path) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(token_file).unwrap()).unwrap();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("token.bin");
    let sig = work.path().join("token.sig");
    for entry in json["tokens"].as_array_mut().unwrap() {
        let unsigned = entry["unsigned"].as_str().unwrap().to_string();
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!("echo {unsigned} | base64 -d > {}", bin.display()))
            .status()
            .unwrap();
        assert!(status.success());
        openssl(&[
            "pkeyutl",
            "-sign",
            "-inkey",
            key.to_str().unwrap(),
            "-pkeyopt",
            "digest:sha256",
            "-in",
            bin.to_str().unwrap(),
            "-out",
            sig.to_str().unwrap(),
        ]);
        let b64 = Command::new("base64")
            .arg("-w0")
            .arg(&sig)
            .output()
            .unwrap();
        assert!(b64.status.success());
        entry["signed"] = serde_json::Value::String(String::from_utf8(b64.stdout).unwrap());
    }
    std::fs::write(out, serde_json::to_string_pretty(&json).unwrap()).unwrap();
}

/// The error code of an HSM refusal, if that is what `e` is.
pub fn hsm_code(e: &cloudhsm_mfa::Error) -> Option<cloudhsm_mfa::proto::ErrorCode> {
    match e {
        cloudhsm_mfa::Error::Hsm { code, .. } => Some(*code),
        _ => None,
    }
}

/// `user list` as JSON.
pub fn user_list(s: &mut Session) -> serde_json::Value {
    serde_json::to_value(s.run(async |ses| ses.list_users().await).unwrap()).unwrap()
}

/// The row of `name` in a `user list` JSON.
pub fn row<'a>(list: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    list["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == name)
        .unwrap_or_else(|| panic!("{name} is listed: {list}"))
}
