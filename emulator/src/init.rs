//! Creates a cluster directory (see [`crate::layout`]): the cluster CA, a certificate per
//! node with the node's IP address as subject alternative name, each node's first state,
//! `emulator.json` and the client configuration `cloudhsm-cli.cfg` (SPEC §10).

use std::fs::DirBuilder;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use cloudhsm_mfa::fs_atomic::{write_atomic, PRIVATE_MODE, PUBLIC_MODE};
use cloudhsm_mfa::proto::Secret;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};
use crate::layout::{hsm_id, ClusterDir, Manifest, NodeEntry, MANIFEST_FORMAT};
use crate::node::{check_password_rule, NodeSettings, NodeState, OsEntropy};
use crate::store::Store;

/// The most nodes a cluster may have.
pub const MAX_NODES: usize = 32;
/// The cluster id written to the client configuration when none is given.
pub const DEFAULT_CLUSTER_ID: &str = "cluster-local";

/// What `init` creates.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Number of nodes (1 to [`MAX_NODES`]).
    pub nodes: usize,
    /// The address the nodes listen on and clients dial; it is in each node's certificate.
    pub host: IpAddr,
    /// Node `i` listens on `base_port + i`; `None` picks free ports.
    pub base_port: Option<u16>,
    /// With a password, the cluster starts activated and `admin` has it; without, `admin` is
    /// an `unactivated-admin` until `activate_cluster`.
    pub admin_password: Option<Secret>,
    /// The `cluster_id` of the client configuration.
    pub cluster_id: String,
    pub settings: NodeSettings,
    /// How SMS and email codes are sent.
    pub delivery: crate::delivery::DeliveryConfig,
}

impl Default for InitOptions {
    /// Three unactivated nodes on free loopback ports, default settings.
    fn default() -> Self {
        InitOptions {
            nodes: 3,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: None,
            admin_password: None,
            cluster_id: DEFAULT_CLUSTER_ID.into(),
            settings: NodeSettings::default(),
            delivery: crate::delivery::DeliveryConfig::default(),
        }
    }
}

impl InitOptions {
    fn validate(&self) -> Result<()> {
        self.delivery.validate().map_err(Error::Invalid)?;
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(Error::Invalid(format!(
                "a cluster has 1 to {MAX_NODES} nodes, not {}",
                self.nodes
            )));
        }
        if self.cluster_id.is_empty()
            || self.cluster_id.len() > 64
            || !self
                .cluster_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(Error::Invalid(format!(
                "cluster id {:?}: use 1 to 64 letters, digits, '-', '_' or '.'",
                self.cluster_id
            )));
        }
        if self.base_port == Some(0) {
            return Err(Error::Invalid(
                "base port 0 is not a port; leave it out to pick free ports".into(),
            ));
        }
        if self.host.is_unspecified() {
            return Err(Error::Invalid(format!(
                "host {} is not an address clients can dial; give the address of an interface",
                self.host
            )));
        }
        if let Some(pw) = &self.admin_password {
            check_password_rule(pw.expose())
                .map_err(|e| Error::Invalid(format!("admin password: {e}")))?;
        }
        self.settings
            .validate()
            .map_err(|e| Error::Invalid(format!("node settings: {e}")))
    }
}

/// Creates a new cluster in `dir` (created if missing). Refuses a directory that already
/// holds a cluster.
pub fn init_cluster(dir: &Path, options: &InitOptions) -> Result<Manifest> {
    options.validate()?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::file(dir, format!("cannot create the directory: {e}")))?;
    let root = dir
        .canonicalize()
        .map_err(|e| Error::file(dir, format!("cannot resolve the directory: {e}")))?;
    let layout = ClusterDir::new(root);
    if layout.manifest().exists() {
        return Err(Error::file(
            layout.manifest(),
            "the directory already holds a cluster; run it, or choose an empty directory",
        ));
    }

    let ports = choose_ports(options)?;
    let (ca_params, ca_key) = ca(&options.cluster_id)?;
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| Error::Certificate(format!("cluster CA: {e}")))?;
    write_atomic(&layout.ca_cert(), ca_cert.pem().as_bytes(), PUBLIC_MODE)?;
    write_atomic(
        &layout.ca_key(),
        ca_key.serialize_pem().as_bytes(),
        PRIVATE_MODE,
    )?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut nodes = Vec::with_capacity(options.nodes);
    for (index, port) in ports.into_iter().enumerate() {
        let id = hsm_id(index);
        DirBuilder::new()
            .mode(0o700)
            .create(layout.node(index))
            .or_else(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    Ok(())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| Error::file(layout.node(index), format!("cannot create: {e}")))?;
        let (cert_pem, key_pem) = node_certificate(&id, options.host, &issuer)?;
        write_atomic(&layout.node_cert(index), cert_pem.as_bytes(), PUBLIC_MODE)?;
        write_atomic(&layout.node_key(index), key_pem.as_bytes(), PRIVATE_MODE)?;
        let state = match &options.admin_password {
            Some(pw) => NodeState::activated(pw, &options.settings, &mut OsEntropy)
                .map_err(|e| Error::Invalid(format!("admin password: {e}")))?,
            None => NodeState::unactivated(),
        };
        Store::new(layout.node_state(index)).save(&state)?;
        nodes.push(NodeEntry {
            hsm_id: id,
            host: options.host,
            port,
        });
    }

    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        cluster_id: options.cluster_id.clone(),
        settings: options.settings.clone(),
        nodes,
        delivery: options.delivery.clone(),
    };
    layout.load_code_key()?;
    write_client_config(&layout, &manifest)?;
    manifest.save(&layout)?;
    Ok(manifest)
}

/// The ports of the nodes: consecutive from the base port, or free ones found by binding
/// port 0 (all held at once, so no two nodes get the same).
fn choose_ports(options: &InitOptions) -> Result<Vec<u16>> {
    match options.base_port {
        Some(base) => (0..options.nodes)
            .map(|i| {
                u16::try_from(i)
                    .ok()
                    .and_then(|i| base.checked_add(i))
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "base port {base} leaves no room for {} nodes",
                            options.nodes
                        ))
                    })
            })
            .collect(),
        None => {
            let listeners = (0..options.nodes)
                .map(|_| {
                    TcpListener::bind(SocketAddr::new(options.host, 0)).map_err(|e| {
                        Error::io(format!("cannot find a free port on {}", options.host), e)
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            listeners
                .iter()
                .map(|l| {
                    l.local_addr()
                        .map(|a| a.port())
                        .map_err(|e| Error::io("cannot read a bound port", e))
                })
                .collect()
        }
    }
}

/// The CA's parameters and key.
fn ca(cluster_id: &str) -> Result<(CertificateParams, KeyPair)> {
    let key = KeyPair::generate().map_err(|e| Error::Certificate(e.to_string()))?;
    let mut params = CertificateParams::new(Vec::<String>::new())
        .map_err(|e| Error::Certificate(e.to_string()))?;
    params.distinguished_name.push(
        DnType::CommonName,
        format!("HSM emulator CA ({cluster_id})"),
    );
    params
        .distinguished_name
        .push(DnType::OrganizationName, "cloudhsm-mfa emulator");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok((params, key))
}

/// A node's certificate and key (PEM), signed by the CA, naming `host`.
fn node_certificate(
    id: &str,
    host: IpAddr,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<(String, String)> {
    let key = KeyPair::generate().map_err(|e| Error::Certificate(e.to_string()))?;
    let mut params = CertificateParams::new(vec![host.to_string()])
        .map_err(|e| Error::Certificate(format!("{id}: {e}")))?;
    params.distinguished_name.push(DnType::CommonName, id);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key, issuer)
        .map_err(|e| Error::Certificate(format!("{id}: {e}")))?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Writes `cloudhsm-cli.cfg` in the shape of the CloudHSM CLI's configuration.
fn write_client_config(layout: &ClusterDir, manifest: &Manifest) -> Result<()> {
    let servers: Vec<_> = manifest
        .nodes
        .iter()
        .map(|n| {
            serde_json::json!({
                "hostname": n.host.to_string(),
                "port": n.port,
                "enable": true,
            })
        })
        .collect();
    let config = serde_json::json!({
        "clusters": [{
            "type": "hsm1",
            "cluster": {
                "cluster_id": manifest.cluster_id,
                "hsm_ca_file": layout.ca_cert(),
                "servers": servers,
            }
        }],
        // Warnings only: the CLI writes term logs to stderr, beside its prompts.
        "logging": {
            "log_type": "term",
            "log_file": "",
            "log_level": "warn",
            "log_interval": "daily",
        }
    });
    let mut bytes = serde_json::to_vec_pretty(&config)
        .map_err(|e| Error::Invalid(format!("cannot encode the client configuration: {e}")))?;
    bytes.push(b'\n');
    write_atomic(&layout.client_config(), &bytes, PUBLIC_MODE)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use cloudhsm_mfa::proto::Role;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn init_writes_ca_node_certificates_state_manifest_and_client_config() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cluster");
        let options = InitOptions {
            nodes: 2,
            base_port: Some(42100),
            cluster_id: "ci-1".into(),
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        let manifest = init_cluster(&dir, &options).unwrap();
        let layout = ClusterDir::new(dir.canonicalize().unwrap());
        assert_eq!(Manifest::load(&layout).unwrap(), manifest);
        assert_eq!(manifest.nodes.len(), 2);
        assert_eq!(manifest.nodes[1].hsm_id, "hsm-2");
        assert_eq!(manifest.nodes[1].port, 42101);
        assert_eq!(mode(&layout.ca_key()), 0o600);
        assert!(std::fs::read_to_string(layout.ca_cert())
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
        for i in 0..2 {
            assert_eq!(mode(&layout.node_key(i)), 0o600);
            assert_eq!(mode(&layout.node_state(i)), 0o600);
            let state = Store::new(layout.node_state(i)).load().unwrap().unwrap();
            assert!(!state.activated);
            assert_eq!(state.users["admin"].role, Role::UnactivatedAdmin);
        }

        let cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.client_config()).unwrap()).unwrap();
        let cluster = &cfg["clusters"][0];
        assert_eq!(cluster["type"], "hsm1");
        assert_eq!(cluster["cluster"]["cluster_id"], "ci-1");
        assert_eq!(
            cluster["cluster"]["hsm_ca_file"],
            layout.ca_cert().display().to_string()
        );
        assert!(Path::new(cluster["cluster"]["hsm_ca_file"].as_str().unwrap()).is_absolute());
        assert_eq!(
            cluster["cluster"]["servers"][1],
            serde_json::json!({"hostname": "127.0.0.1", "port": 42101, "enable": true})
        );
        assert_eq!(cfg["logging"]["log_type"], "term");
        assert_eq!(cfg["logging"]["log_interval"], "daily");
    }

    #[test]
    fn init_with_an_admin_password_makes_an_activated_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        let options = InitOptions {
            nodes: 1,
            admin_password: Some(Secret::new("password1")),
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        let manifest = init_cluster(tmp.path(), &options).unwrap();
        assert_ne!(manifest.nodes[0].port, 0, "a free port was chosen");
        let state = Store::new(ClusterDir::new(tmp.path()).node_state(0))
            .load()
            .unwrap()
            .unwrap();
        assert!(state.activated);
        assert_eq!(state.users["admin"].role, Role::Admin);
    }

    #[test]
    fn free_ports_differ_between_nodes() {
        let tmp = tempfile::tempdir().unwrap();
        let options = InitOptions {
            nodes: 4,
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        let manifest = init_cluster(tmp.path(), &options).unwrap();
        let mut ports: Vec<_> = manifest.nodes.iter().map(|n| n.port).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 4);
    }

    #[test]
    fn init_refuses_bad_options_and_a_directory_that_holds_a_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = |o: InitOptions| init_cluster(tmp.path(), &o).unwrap_err().to_string();
        let low = || InitOptions {
            settings: NodeSettings::low_cost(),
            ..InitOptions::default()
        };
        assert!(bad(InitOptions { nodes: 0, ..low() }).contains("1 to 32 nodes"));
        assert!(bad(InitOptions {
            cluster_id: "a b".into(),
            ..low()
        })
        .contains("cluster id"));
        assert!(bad(InitOptions {
            base_port: Some(65535),
            ..low()
        })
        .contains("no room"));
        assert!(bad(InitOptions {
            admin_password: Some(Secret::new("short")),
            ..low()
        })
        .contains("7 to 32"));
        assert!(bad(InitOptions {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ..low()
        })
        .contains("dial"));
        init_cluster(tmp.path(), &low()).unwrap();
        assert!(bad(low()).contains("already holds a cluster"));
    }
}
