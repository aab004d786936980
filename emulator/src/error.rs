//! The emulator's error type: every variant names the file or the setting concerned.

use std::path::PathBuf;

/// What went wrong while setting up or serving a cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file of the cluster directory is missing, unreadable or not what it should be.
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    /// A setting or option cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// A socket or thread could not be set up.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Certificate or key generation failed.
    #[error("cannot create certificates: {0}")]
    Certificate(String),
    /// A library operation (atomic write, file read) failed.
    #[error(transparent)]
    Library(#[from] cloudhsm_mfa::Error),
}

impl Error {
    pub(crate) fn file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
