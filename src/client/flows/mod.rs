//! The operations of a session, one file per area: logins, user management, MFA keys,
//! quorum.

pub(super) mod factors;
mod login;
mod mfa;
pub(super) mod quorum;
mod users;
