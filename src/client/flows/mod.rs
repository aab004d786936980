//! The operations of a session, one file per area: logins, user management, MFA keys.

mod login;
mod mfa;
mod users;
