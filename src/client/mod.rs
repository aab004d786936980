//! The async client: TLS connections to every HSM of a cluster, requests to all of them at
//! once, and the session flows built on them.
//!
//! - `connection`, `cluster`, `tls`: one TLS connection per HSM, kept open, and the fan-out.
//! - `fanout`: the one tally of the HSMs' answers to a request.
//! - `request_log`: the log of every request (operation, users, HSMs, result code).
//! - `exchange`: issue → sign → redeem, for a challenge of any purpose.
//! - `session`: connections, login state, the step waiting for the user, the approval slot.
//! - `flows/`: the operations, one file per area.

mod cluster;
mod connection;
mod exchange;
mod fanout;
mod flows;
mod request_log;
mod session;
mod tls;
mod user_list;

pub use crate::signer::Signer;
pub use flows::factors::{LoginStep, MfaPreferenceView, SoftwareTokenSecret};
pub use flows::quorum::{GeneratedToken, QuorumTokenList, QuorumTokenRow, QuorumValueList};
pub use session::{HsmParticipation, IssuedTokens, LoginReport, Session, SessionOptions};
pub use user_list::{Agreed, Strategy, UnreachableHsm, UserList, UserRow};
