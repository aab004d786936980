//! Cluster configuration (SPEC §10), in the shape of the CloudHSM CLI's
//! `cloudhsm-cli.cfg`: a list of clusters, each with its `cluster_id`, the CA that signed
//! the HSM certificates and the HSM servers; plus a `logging` section.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fs_atomic;
use crate::quote::{clip_quoted, quote, shorten};

/// The environment variable that names the configuration file.
pub const CONFIG_ENV: &str = "CLOUDHSM_MFA_CONFIG";
/// Where the configuration is when neither a path nor the environment variable names it.
pub const DEFAULT_CONFIG_PATH: &str = "/opt/cloudhsm/etc/cloudhsm-cli.cfg";
/// CloudHSM's port.
pub const DEFAULT_PORT: u16 = 2223;
const CONFIG_LIMIT: u64 = 1024 * 1024;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFile {
    pub clusters: Vec<ClusterEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
}

/// One element of `clusters`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterEntry {
    #[serde(rename = "type", default = "hsm1")]
    pub kind: String,
    pub cluster: Cluster,
}

fn hsm1() -> String {
    "hsm1".into()
}

/// A cluster: its id, CA and servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// What `--cluster-id` selects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// The CA certificate (PEM) that signed every HSM's certificate; a relative path is
    /// taken from the configuration file's directory.
    pub hsm_ca_file: PathBuf,
    /// The HSMs, in order.
    pub servers: Vec<Server>,
    /// Client certificate for mutual TLS (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_hsm_tls_file: Option<PathBuf>,
    /// Its private key (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_hsm_tls_file: Option<PathBuf>,
}

/// One HSM server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub hostname: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "enabled")]
    pub enable: bool,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}
fn enabled() -> bool {
    true
}

/// The `logging` section, as written; [`crate::logging::LogSettings`] checks it (every
/// configuration that loads has a valid one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Logging {
    #[serde(default)]
    pub log_type: String,
    #[serde(default)]
    pub log_file: String,
    #[serde(default)]
    pub log_level: String,
    #[serde(default)]
    pub log_interval: String,
}

/// A loaded configuration and the path it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub path: PathBuf,
    pub file: ConfigFile,
}

/// The cluster chosen for a session, with paths made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterTarget {
    pub config_path: PathBuf,
    pub cluster_id: Option<String>,
    pub ca_file: PathBuf,
    /// The enabled servers, in configuration order.
    pub servers: Vec<Server>,
    /// The client certificate and key for mutual TLS, when both are configured.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

impl Config {
    /// The configuration path: `explicit`, else `$CLOUDHSM_MFA_CONFIG`, else
    /// `/opt/cloudhsm/etc/cloudhsm-cli.cfg`.
    pub fn locate(explicit: Option<&Path>) -> PathBuf {
        if let Some(p) = explicit {
            return p.to_path_buf();
        }
        match std::env::var_os(CONFIG_ENV) {
            Some(v) if !v.is_empty() => PathBuf::from(v),
            _ => PathBuf::from(DEFAULT_CONFIG_PATH),
        }
    }

    /// Finds (see [`Config::locate`]) and reads the configuration.
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let path = Self::locate(explicit);
        let bytes = fs_atomic::read_limited(&path, CONFIG_LIMIT)?;
        Self::parse(&path, &bytes)
    }

    /// Parses configuration text read from `path`.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::Config {
            path: path.to_path_buf(),
            reason,
        };
        let file: ConfigFile = serde_json::from_slice(bytes).map_err(|e| {
            bad(format!(
                "not a valid cluster configuration: {}",
                clip_quoted(&e.to_string())
            ))
        })?;
        if file.clusters.is_empty() {
            return Err(bad("clusters: is empty; list at least one cluster".into()));
        }
        for (i, c) in file.clusters.iter().enumerate() {
            if c.cluster.servers.is_empty() {
                return Err(bad(format!("clusters[{i}].cluster.servers: is empty")));
            }
            if !c.cluster.servers.iter().any(|s| s.enable) {
                return Err(bad(format!(
                    "clusters[{i}].cluster.servers: no server is enabled"
                )));
            }
            for (j, s) in c.cluster.servers.iter().enumerate() {
                if s.hostname.trim().is_empty() || s.port == 0 {
                    return Err(bad(format!(
                        "clusters[{i}].cluster.servers[{j}]: needs a hostname and a port"
                    )));
                }
            }
            if let Some(id) = &c.cluster.cluster_id {
                if file.clusters[..i]
                    .iter()
                    .any(|o| o.cluster.cluster_id.as_deref() == Some(id))
                {
                    return Err(bad(format!(
                        "clusters[{i}].cluster.cluster_id: {} is listed twice",
                        quote(id)
                    )));
                }
            }
        }
        if let Some(logging) = &file.logging {
            let base = path.parent().unwrap_or(Path::new("."));
            crate::logging::LogSettings::from_section(logging, base).map_err(bad)?;
        }
        Ok(Config {
            path: path.to_path_buf(),
            file,
        })
    }

    fn ids(&self) -> String {
        self.file
            .clusters
            .iter()
            .enumerate()
            .map(|(i, c)| {
                c.cluster.cluster_id.as_deref().map_or_else(
                    || format!("#{i} without cluster_id"),
                    |id| shorten(id).into_owned(),
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Chooses a cluster: by `cluster_id`, or the only one when there is one.
    pub fn select(&self, cluster_id: Option<&str>) -> Result<ClusterTarget> {
        let entry = match cluster_id {
            Some(want) => self
                .file
                .clusters
                .iter()
                .find(|c| c.cluster.cluster_id.as_deref() == Some(want))
                .ok_or_else(|| Error::UnknownCluster {
                    path: self.path.clone(),
                    wanted: want.to_string(),
                    ids: self.ids(),
                })?,
            None if self.file.clusters.len() == 1 => &self.file.clusters[0],
            None => {
                return Err(Error::ClusterIdRequired {
                    path: self.path.clone(),
                    count: self.file.clusters.len(),
                    ids: self.ids(),
                })
            }
        };
        let c = &entry.cluster;
        let base = self.path.parent().unwrap_or(Path::new("."));
        Ok(ClusterTarget {
            config_path: self.path.clone(),
            cluster_id: c.cluster_id.clone(),
            ca_file: base.join(&c.hsm_ca_file),
            servers: c.servers.iter().filter(|s| s.enable).cloned().collect(),
            client_cert: c.client_cert_hsm_tls_file.as_ref().map(|p| base.join(p)),
            client_key: c.client_key_hsm_tls_file.as_ref().map(|p| base.join(p)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = r#"{
      "clusters": [
        {"type": "hsm1", "cluster": {"cluster_id": "a", "hsm_ca_file": "ca.crt",
          "servers": [{"hostname": "127.0.0.1", "port": 2223, "enable": true},
                      {"hostname": "127.0.0.2", "port": 2224, "enable": false}]}},
        {"type": "hsm1", "cluster": {"cluster_id": "b", "hsm_ca_file": "/abs/ca.crt",
          "servers": [{"hostname": "10.0.0.1"}]}}
      ],
      "logging": {"log_type": "file", "log_file": "/tmp/x.log", "log_level": "info", "log_interval": "daily"}
    }"#;

    fn two() -> Config {
        Config::parse(Path::new("/etc/cfg/cloudhsm-cli.cfg"), TWO.as_bytes()).unwrap()
    }

    #[test]
    fn cluster_id_selects_a_cluster_and_paths_are_relative_to_the_config() {
        let a = two().select(Some("a")).unwrap();
        assert_eq!(a.ca_file, Path::new("/etc/cfg/ca.crt"));
        assert_eq!(a.servers.len(), 1, "disabled servers are left out");
        let b = two().select(Some("b")).unwrap();
        assert_eq!(b.ca_file, Path::new("/abs/ca.crt"));
        assert_eq!(b.servers[0].port, DEFAULT_PORT);
    }

    #[test]
    fn several_clusters_and_none_chosen_asks_for_cluster_id() {
        let err = two().select(None).unwrap_err().to_string();
        assert!(
            err.contains("lists 2 clusters (a, b); pass --cluster-id"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_cluster_id_lists_the_known_ones() {
        let err = two().select(Some("c")).unwrap_err().to_string();
        assert!(
            err.contains("no cluster has cluster_id \"c\"; the configuration lists: a, b"),
            "{err}"
        );
    }

    #[test]
    fn one_cluster_may_be_chosen_without_an_id() {
        let text = r#"{"clusters":[{"cluster":{"hsm_ca_file":"ca","servers":[{"hostname":"h","port":1}]}}]}"#;
        let cfg = Config::parse(Path::new("c.cfg"), text.as_bytes()).unwrap();
        assert_eq!(cfg.select(None).unwrap().servers[0].hostname, "h");
    }

    #[test]
    fn bad_configurations_name_the_field() {
        let cases = [
            (r#"{"clusters":[]}"#, "clusters: is empty"),
            (
                r#"{"clusters":[{"cluster":{"hsm_ca_file":"c","servers":[]}}]}"#,
                "clusters[0].cluster.servers: is empty",
            ),
            (
                r#"{"clusters":[{"cluster":{"hsm_ca_file":"c","servers":[{"hostname":"h","enable":false}]}}]}"#,
                "no server is enabled",
            ),
            (
                r#"{"clusters":[{"cluster":{"cluster_id":"x","hsm_ca_file":"c","servers":[{"hostname":"h"}]}},{"cluster":{"cluster_id":"x","hsm_ca_file":"c","servers":[{"hostname":"h"}]}}]}"#,
                "\"x\" is listed twice",
            ),
            ("not json", "not a valid cluster configuration"),
        ];
        for (text, want) in cases {
            let err = Config::parse(Path::new("c.cfg"), text.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("c.cfg: ") && err.contains(want), "{err}");
        }
    }

    #[test]
    fn client_certificate_paths_are_relative_to_the_config() {
        let text = r#"{"clusters":[{"cluster":{"hsm_ca_file":"ca","servers":[{"hostname":"h"}],
            "client_cert_hsm_tls_file":"client.crt","client_key_hsm_tls_file":"/k/client.key"}}]}"#;
        let t = Config::parse(Path::new("/etc/c.cfg"), text.as_bytes())
            .unwrap()
            .select(None)
            .unwrap();
        assert_eq!(t.client_cert.as_deref(), Some(Path::new("/etc/client.crt")));
        assert_eq!(t.client_key.as_deref(), Some(Path::new("/k/client.key")));
    }

    #[test]
    fn an_explicit_path_wins_over_the_environment() {
        assert_eq!(
            Config::locate(Some(Path::new("/x.cfg"))),
            Path::new("/x.cfg")
        );
    }
}
