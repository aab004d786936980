//! The async client: TLS connections to every HSM of a cluster, requests to all of them at
//! once, and the session flows built on them.

mod cluster;
mod connection;
mod session;
mod signer;
mod tls;
mod users;

pub use session::{HsmParticipation, IssuedTokens, LoginReport, Session, SessionOptions};
pub use signer::Signer;
pub use users::{Agreed, Strategy, UserList, UserRow};
