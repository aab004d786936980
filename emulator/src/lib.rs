//! A local HSM cluster for libcloudhsm_mfa: N nodes on loopback (or any address), each with
//! its own TLS certificate, user database and challenges, speaking the protocol of
//! [`cloudhsm_mfa::proto`].
//!
//! - [`node`]: one HSM as a pure state machine (request, time and entropy in; reply out; no
//!   I/O, no clock or randomness reads).
//! - [`clock`]: the time a server gives its nodes, real or a test clock.
//! - [`store`]: the durable state of one node (`node-<i>/state.json`, written atomically).
//! - [`layout`]: where the files of a cluster directory live, and `emulator.json`.
//! - [`init`]: creates a cluster directory: CA, node certificates, initial state, client config.
//! - [`server`]: the TLS 1.3 listener of one node.
//! - [`cluster`]: [`EmbeddedCluster`], every node of a cluster served from a background
//!   thread, for tests, benchmarks and demos; the `cloudhsm-emulator` binary uses it too.

#![forbid(unsafe_code)]

pub mod clock;
pub mod cluster;
pub mod delivery;
pub mod error;
pub mod init;
pub mod layout;
pub mod node;
pub mod server;
pub mod store;

pub use clock::Clock;
pub use cluster::EmbeddedCluster;
pub use error::{Error, Result};
pub use init::{init_cluster, InitOptions};
pub use layout::{ClusterDir, Manifest};
pub use node::{
    ConnId, Entropy, Node, NodeSettings, NodeState, OsEntropy, Outcome, Prepared, SeededEntropy,
    UserRecord, Work, Worked, MAX_FAILURES_PER_CONNECTION, MAX_TRACKED_NAMES, UNKNOWN_NAME_WINDOW,
};
pub use server::{Faults, ServerOptions};
