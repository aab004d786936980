//! libcloudhsm_mfa: token-sign multi-factor authentication and quorum approvals for HSM
//! clusters, in the terms of the AWS CloudHSM CLI.
//!
//! The Rust API is the modules below; C, C++ and Python reach the same functions through
//! the C ABI in [`ffi`] (header `include/cloudhsm_mfa.h`).

pub mod blocking;
pub mod client;
pub mod config;
pub mod crypto;
pub mod error;
pub mod ffi;
pub mod fs_atomic;
pub mod logging;
pub mod mfa;
pub mod process;
pub mod proto;
pub mod quorum;
pub mod quote;
pub mod signer;
mod strict_json;
pub mod token_file;
pub mod token_signing;
pub mod user;

pub use crypto::{PrivateKey, PublicKey, Token, TOKEN_LEN};
pub use error::{Error, KeyProblem, Origin, Pkcs11Problem, Result};
pub use signer::{KeySpec, Signer, SigningKey, TokenKey};
pub use token_file::{Approver, Content, QuorumApproval, TokenEntry, TokenFile, TokenFileKind};
pub use token_signing::{sign_file, EntryStatus, SignedFile};
pub use user::Role;

/// The library's version, from Cargo.toml.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
