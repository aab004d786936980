//! The durable state of one node: `node-<i>/state.json`, replaced atomically on every
//! change (temporary file, fsync, rename, fsync of the directory), so that after a crash
//! the file holds either the old state or the new one. A missing file is a fresh node; a
//! corrupt one is an error that names it, never a silent reset.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::node::NodeState;

/// The largest state file read: 1024 users with two keys each fit many times over.
const STATE_LIMIT: u64 = 16 * 1024 * 1024;
/// The mode of the state file: it holds password hashes.
const STATE_MODE: u32 = 0o600;

/// Where one node keeps its state.
#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    /// The store at `path` (normally `DIR/node-<i>/state.json`).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Store { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, or `None` when there is no state file yet.
    pub fn load(&self) -> Result<Option<NodeState>> {
        let bytes = match cloudhsm_mfa::fs_atomic::read_limited(&self.path, STATE_LIMIT) {
            Ok(b) => b,
            Err(cloudhsm_mfa::Error::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let corrupt = |why: String| {
            Error::file(
                &self.path,
                format!(
                    "the node state file is corrupt ({why}); restore it from a backup, or remove \
                     it to start this node with a new, unactivated state"
                ),
            )
        };
        let mut state: NodeState =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        state.upgrade();
        state.check().map_err(corrupt)?;
        Ok(Some(state))
    }

    /// The saved state, or a fresh unactivated node's when there is none.
    pub fn load_or_fresh(&self) -> Result<NodeState> {
        Ok(self.load()?.unwrap_or_else(NodeState::unactivated))
    }

    /// Replaces the saved state atomically (mode 0600).
    pub fn save(&self, state: &NodeState) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(state)
            .map_err(|e| Error::file(&self.path, format!("cannot encode the state: {e}")))?;
        bytes.push(b'\n');
        cloudhsm_mfa::fs_atomic::write_atomic(&self.path, &bytes, STATE_MODE)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use cloudhsm_mfa::proto::Secret;

    use super::*;
    use crate::node::{NodeSettings, OsEntropy};

    #[test]
    fn a_missing_file_is_a_fresh_node() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state.json"));
        assert!(store.load().unwrap().is_none());
        assert_eq!(store.load_or_fresh().unwrap(), NodeState::unactivated());
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state.json"));
        let state = NodeState::activated(
            &Secret::new("password1"),
            &NodeSettings::low_cost(),
            &mut OsEntropy,
        )
        .unwrap();
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), Some(state.clone()));
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        // A second save replaces the first.
        let fresh = NodeState::unactivated();
        store.save(&fresh).unwrap();
        assert_eq!(store.load().unwrap(), Some(fresh));
    }

    #[test]
    fn a_leftover_temporary_file_from_a_crash_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("state.json"));
        let state = NodeState::unactivated();
        store.save(&state).unwrap();
        // What a crash between writing the temporary file and the rename leaves behind.
        std::fs::write(
            dir.path().join(".state.json.0011223344556677.tmp"),
            b"{\"torn",
        )
        .unwrap();
        assert_eq!(store.load().unwrap(), Some(state.clone()));
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), Some(state));
    }

    #[test]
    fn a_corrupt_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = Store::new(&path);
        for bad in [&b"{\"format\": 1, \"activ"[..], b"[]", b""] {
            std::fs::write(&path, bad).unwrap();
            let err = store.load().unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("corrupt"), "{err}");
        }
        // Valid JSON that breaks a rule is corrupt too.
        let mut state = NodeState::unactivated();
        state.format = 99;
        std::fs::write(&path, serde_json::to_vec(&state).unwrap()).unwrap();
        assert!(store.load().unwrap_err().to_string().contains("format"));
        // The file was not reset.
        assert_eq!(
            std::fs::read(&path).unwrap(),
            serde_json::to_vec(&state).unwrap()
        );
    }
}
