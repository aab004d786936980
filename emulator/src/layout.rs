//! The files of a cluster directory, and `emulator.json`, which lists the nodes.
//!
//! ```text
//! DIR/emulator.json        node settings and the node list (ids, addresses, ports)
//! DIR/cloudhsm-cli.cfg     the client configuration (SPEC §10)
//! DIR/customerCA.crt       the cluster CA certificate (clients trust it)
//! DIR/customerCA.key       its private key (0600)
//! DIR/node-<i>/hsm.crt     node i's certificate, with its IP address as subject alt name
//! DIR/node-<i>/hsm.key     its private key (0600)
//! DIR/node-<i>/state.json  node i's users (0600), written atomically
//! ```
//! Node indexes start at 0; node `i` has the id `hsm-<i+1>`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::node::NodeSettings;

/// The version of `emulator.json`'s layout.
pub const MANIFEST_FORMAT: u32 = 1;
const MANIFEST_LIMIT: u64 = 1024 * 1024;

/// The paths of one cluster directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDir {
    root: PathBuf,
}

impl ClusterDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ClusterDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn manifest(&self) -> PathBuf {
        self.root.join("emulator.json")
    }

    pub fn client_config(&self) -> PathBuf {
        self.root.join("cloudhsm-cli.cfg")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.root.join("customerCA.crt")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.root.join("customerCA.key")
    }

    /// The cluster's secret for SMS and email codes (32 bytes, mode 0600), the same for
    /// every node.
    pub fn code_key(&self) -> PathBuf {
        self.root.join("code.key")
    }

    /// Where SMS and email codes go by default: one JSON line per message.
    pub fn outbox(&self) -> PathBuf {
        self.root.join("outbox.jsonl")
    }

    /// The cluster's code key, made now when the directory has none (a cluster made before
    /// SMS and email codes): the first node to start makes it, the others read it.
    pub fn load_code_key(&self) -> Result<[u8; 32]> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.code_key();
        let make = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        if let Ok(mut file) = make {
            let mut key = [0u8; 32];
            aws_lc_rs::rand::fill(&mut key)
                .map_err(|_| Error::Invalid("no randomness for the code key".into()))?;
            file.write_all(&key)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::file(&path, format!("cannot write the code key: {e}")))?;
            return Ok(key);
        }
        // Made by another node a moment ago, perhaps still being written.
        for _ in 0..100 {
            let bytes = cloudhsm_mfa::fs_atomic::read_limited(&path, 64)?;
            if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Ok(key);
            }
            if bytes.len() > 32 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(Error::file(&path, "the code key is not 32 bytes"))
    }

    pub fn node(&self, index: usize) -> PathBuf {
        self.root.join(format!("node-{index}"))
    }

    pub fn node_cert(&self, index: usize) -> PathBuf {
        self.node(index).join("hsm.crt")
    }

    pub fn node_key(&self, index: usize) -> PathBuf {
        self.node(index).join("hsm.key")
    }

    pub fn node_state(&self, index: usize) -> PathBuf {
        self.node(index).join("state.json")
    }
}

/// `emulator.json`: what `run` needs to serve the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    pub cluster_id: String,
    pub settings: NodeSettings,
    pub nodes: Vec<NodeEntry>,
    /// How SMS and email codes are sent (absent in older manifests: the outbox).
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
}

/// One node of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    pub hsm_id: String,
    pub host: IpAddr,
    pub port: u16,
}

impl NodeEntry {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}

/// The id of node `index`.
pub fn hsm_id(index: usize) -> String {
    format!("hsm-{}", index + 1)
}

impl Manifest {
    /// Reads and checks `DIR/emulator.json`.
    pub fn load(dir: &ClusterDir) -> Result<Self> {
        let path = dir.manifest();
        let bytes = cloudhsm_mfa::fs_atomic::read_limited(&path, MANIFEST_LIMIT).map_err(|e| {
            match e {
                cloudhsm_mfa::Error::Read { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    Error::file(
                        &path,
                        "not found: this is not a cluster directory (run cloudhsm-emulator init first)",
                    )
                }
                other => Error::Library(other),
            }
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| Error::file(&path, format!("not a valid emulator manifest: {e}")))?;
        manifest
            .check()
            .map_err(|reason| Error::file(&path, reason))?;
        Ok(manifest)
    }

    /// Writes `DIR/emulator.json` atomically.
    pub fn save(&self, dir: &ClusterDir) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Invalid(format!("cannot encode the manifest: {e}")))?;
        bytes.push(b'\n');
        cloudhsm_mfa::fs_atomic::write_atomic(&dir.manifest(), &bytes, 0o644)?;
        Ok(())
    }

    fn check(&self) -> Result<(), String> {
        if self.format != MANIFEST_FORMAT {
            return Err(format!(
                "manifest format {} is not the supported format {MANIFEST_FORMAT}",
                self.format
            ));
        }
        if self.nodes.is_empty() {
            return Err("the manifest lists no nodes".into());
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.hsm_id != hsm_id(i) {
                return Err(format!(
                    "nodes[{i}]: hsm_id is {:?}, expected {:?}",
                    n.hsm_id,
                    hsm_id(i)
                ));
            }
            if n.port == 0 {
                return Err(format!("nodes[{i}]: port 0 is not a port to listen on"));
            }
        }
        self.delivery.validate()?;
        self.settings.validate()
    }

    /// The entry of node `index`, or an error that names the valid indexes.
    pub fn node(&self, index: usize) -> Result<&NodeEntry> {
        self.nodes.get(index).ok_or_else(|| {
            Error::Invalid(format!(
                "there is no node {index}; this cluster has nodes 0 to {}",
                self.nodes.len().saturating_sub(1)
            ))
        })
    }
}
