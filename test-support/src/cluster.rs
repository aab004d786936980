//! An embedded emulator cluster on free loopback ports with a test clock, a blocking session
//! to it, users with MFA keys, and reading `user list`.

use std::path::PathBuf;
use std::time::Duration;

use cloudhsm_mfa::blocking::{Runtime, Session};
use cloudhsm_mfa::client::SessionOptions;
use cloudhsm_mfa::config::Config;
use cloudhsm_mfa::proto::{Role, Secret};
use cloudhsm_mfa::PrivateKey;
use cloudhsm_mfa_emulator::{Clock, EmbeddedCluster, InitOptions, NodeSettings, ServerOptions};

pub const ADMIN_PASSWORD: &str = "admin-password";
pub const USER_PASSWORD: &str = "user-password";

/// A running cluster in its own temporary directory, its nodes on a test clock.
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
        let cluster = EmbeddedCluster::start_with_clock(
            &dir.path().join("cluster"),
            &options,
            ServerOptions::default(),
            Clock::test(),
        )
        .unwrap();
        TestCluster {
            dir,
            cluster,
            rt: Runtime::new().unwrap(),
        }
    }

    /// Moves the cluster's test clock on (challenges expire without sleeping).
    pub fn advance(&self, by: Duration) {
        self.cluster.advance(by).unwrap();
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

impl TestCluster {
    /// Admins `names` (password USER_PASSWORD), each logged in on a session of its own
    /// and holding `keys[i]` as its quorum key, registered with the key as signer.
    pub fn quorum_admins(&self, names: &[&str], keys: &[PrivateKey]) -> Vec<Session> {
        let mut admin = self.admin();
        names
            .iter()
            .zip(keys)
            .map(|(name, key)| {
                admin
                    .run(async |ses| ses.create_user(name, Role::Admin, USER_PASSWORD).await)
                    .unwrap();
                let mut s = self.session();
                s.run(async |ses| ses.login(name, Role::Admin, USER_PASSWORD).await)
                    .unwrap();
                s.run(async |ses| {
                    ses.register_quorum_key_with(&key.public_key().unwrap(), key)
                        .await
                })
                .unwrap();
                s
            })
            .collect()
    }
}

/// The error code of an HSM refusal, if that is what `e` is.
pub fn hsm_code(e: &cloudhsm_mfa::Error) -> Option<cloudhsm_mfa::proto::ErrorCode> {
    match e {
        cloudhsm_mfa::Error::Hsm { code, .. } | cloudhsm_mfa::Error::Quorum { code, .. } => {
            Some(*code)
        }
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
