//! A real SoftHSM2 token store for tests (SPEC §12): a private configuration file and token
//! directory in a temporary directory, so nothing outside it is touched. Tokens are made
//! and keys imported with Debian's `softhsm2-util`, as a user would.
//!
//! SoftHSM reads `SOFTHSM2_CONF` when it is initialised, so a [`SoftHsm`] sets it in this
//! process and keeps a process-wide lock while it lives: tests of one binary that run on
//! threads take turns (under nextest each test has a process anyway).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// Where Debian and other systems put the SoftHSM2 module.
const MODULE_PATHS: [&str; 3] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The user PIN of every token made here.
pub const PIN: &str = "0000-user-pin";
/// The security officer PIN of every token made here.
pub const SO_PIN: &str = "0000-so-pin";

/// The SoftHSM2 module; panics, saying how to install it, when there is none.
pub fn module() -> PathBuf {
    MODULE_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!("no SoftHSM2 module in {MODULE_PATHS:?}: install softhsm2 (scripts/setup.sh)")
        })
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A private SoftHSM2 store, `SOFTHSM2_CONF` pointing at it while it lives.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    _turn: MutexGuard<'static, ()>,
}

impl SoftHsm {
    /// An empty store (no token yet), and `SOFTHSM2_CONF` set to it in this process.
    pub fn new() -> SoftHsm {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let dir = tempfile::tempdir().expect("a temporary directory");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                tokens.display()
            ),
        )
        .unwrap();
        std::env::set_var("SOFTHSM2_CONF", &conf);
        SoftHsm {
            dir,
            conf,
            _turn: turn,
        }
    }

    /// The configuration file (for `SOFTHSM2_CONF` in other processes).
    pub fn conf(&self) -> &Path {
        &self.conf
    }

    /// The temporary directory (PIN files and keys may go there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `softhsm2-util` with this store's configuration.
    pub fn util(&self, args: &[&str]) -> String {
        let out = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("softhsm2-util runs (install softhsm2: scripts/setup.sh)");
        assert!(
            out.status.success(),
            "softhsm2-util {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Initialises a new token labelled `label`, with [`PIN`] and [`SO_PIN`].
    pub fn init_token(&self, label: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
    }

    /// Imports the PKCS#8 PEM private key `key` (and its public key) onto token `token`,
    /// labelled `label` with CKA_ID `id_hex`.
    pub fn import(&self, token: &str, label: &str, id_hex: &str, key: &Path) {
        self.util(&[
            "--import",
            key.to_str().unwrap(),
            "--token",
            token,
            "--label",
            label,
            "--id",
            id_hex,
            "--pin",
            PIN,
        ]);
    }

    /// The URI of key `object` on token `token`, with the module's path and `query` (e.g.
    /// `"&pin-value=..."`) after it.
    pub fn uri(&self, token: &str, object: &str, query: &str) -> String {
        format!(
            "pkcs11:token={token};object={object}?module-path={}{query}",
            module().display()
        )
    }

    /// The URI of key `object` on token `token` with [`PIN`] as `pin-value`.
    pub fn uri_with_pin(&self, token: &str, object: &str) -> String {
        self.uri(token, object, &format!("&pin-value={PIN}"))
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        Self::new()
    }
}
