//! The TLS client configuration for a cluster: TLS 1.3 only, aws-lc-rs, each HSM's
//! certificate checked against the cluster CA (`hsm_ca_file`) and its address.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::error::{Error, Result};
use crate::fs_atomic;

const PEM_LIMIT: u64 = 1024 * 1024;

fn config_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Config {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = fs_atomic::read_limited(path, PEM_LIMIT)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| config_error(path, format!("not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(config_error(path, "holds no certificate"));
    }
    Ok(certs)
}

/// Builds the client configuration: trusts only the certificates in `ca_file`; presents
/// a client certificate when both `client_cert` and `client_key` are given.
pub fn client_config(
    ca_file: &Path,
    client_cert: Option<&Path>,
    client_key: Option<&Path>,
) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca_file)? {
        roots
            .add(cert)
            .map_err(|e| config_error(ca_file, format!("unusable CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::crypto(format!("TLS setup: {e}")))?
        .with_root_certificates(roots);
    let config = match (client_cert, client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let pem = zeroize::Zeroizing::new(fs_atomic::read_limited(key, PEM_LIMIT)?);
            let key_der = PrivateKeyDer::from_pem_slice(&pem)
                .map_err(|e| config_error(key, format!("not a PEM private key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| config_error(cert, format!("unusable client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(p), None) | (None, Some(p)) => {
            return Err(config_error(
                p,
                "mutual TLS needs both client_cert_hsm_tls_file and client_key_hsm_tls_file",
            ))
        }
    };
    Ok(Arc::new(config))
}
