//! The TLS settings of a node: TLS 1.3 only, the aws-lc-rs provider, the node's
//! certificate and key from the cluster directory.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// A TLS 1.3 acceptor presenting the certificate chain in `cert` with the key in `key`.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| Error::file(cert, format!("cannot read the certificate: {e}")))?;
    if certs.is_empty() {
        return Err(Error::file(cert, "no certificate found in the file"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::file(key, format!("cannot read the private key: {e}")))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13])
    .map_err(|e| Error::Invalid(format!("TLS settings: {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key_der)
    .map_err(|e| {
        Error::file(
            cert,
            format!("the certificate and key do not fit together: {e}"),
        )
    })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
