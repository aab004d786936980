//! Bounds on password guessing, so that guessers cannot keep a node's cores busy with
//! Argon2 (each failed login costs a full hash, a wrong user name too):
//! - a connection that has failed [`MAX_FAILURES_PER_CONNECTION`] logins in a row (with no
//!   successful login between them) is refused further logins at once, without a hash,
//!   until it reconnects; the bound is above a user's lockout threshold, so that a session
//!   that locks a user and has it unlocked still gets the usual answers;
//! - a user name that does not exist is refused at once, for [`UNKNOWN_NAME_WINDOW`] on the
//!   node's clock, after as many failures as lock a real user; the node tracks at most
//!   [`MAX_TRACKED_NAMES`] such names, and while that many are tracked it refuses, without a
//!   hash, every unknown name it does not track (a login for a name that does not exist
//!   never succeeds, so nobody loses a login by it).
//!
//! A real user needs no more than its lockout: it is locked after its threshold of failures.
//! These counts live in memory only; a restart forgets them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::ErrorCode;

use super::{refuse, ConnId, Node, Stop};

/// Failed logins in a row after which a connection may not try again.
pub const MAX_FAILURES_PER_CONNECTION: u32 = 20;
/// How long failures for a user name that does not exist are remembered.
pub const UNKNOWN_NAME_WINDOW: Duration = Duration::from_secs(300);
/// The most unknown user names whose failures a node remembers.
pub const MAX_TRACKED_NAMES: usize = 1024;

/// The failures of one unknown user name since `since`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Guesses {
    count: u32,
    since: Instant,
}

/// Failed logins for user names that do not exist, by name.
#[derive(Debug, Default)]
pub(super) struct UnknownNames {
    names: HashMap<String, Guesses>,
}

impl UnknownNames {
    pub(super) fn current(&self, name: &str, now: Instant) -> Option<Guesses> {
        self.names
            .get(name)
            .copied()
            .filter(|g| now < g.since + UNKNOWN_NAME_WINDOW)
    }

    fn forget_expired(&mut self, now: Instant) {
        self.names
            .retain(|_, g| now < g.since + UNKNOWN_NAME_WINDOW);
    }

    pub(super) fn record(&mut self, name: &str, now: Instant) {
        if self.names.len() >= MAX_TRACKED_NAMES && !self.names.contains_key(name) {
            self.forget_expired(now);
        }
        let room = self.names.len() < MAX_TRACKED_NAMES;
        match self.names.get_mut(name) {
            Some(g) if now < g.since + UNKNOWN_NAME_WINDOW => g.count = g.count.saturating_add(1),
            Some(g) => {
                *g = Guesses {
                    count: 1,
                    since: now,
                }
            }
            None if room => {
                self.names.insert(
                    name.to_string(),
                    Guesses {
                        count: 1,
                        since: now,
                    },
                );
            }
            // Full: the name is refused at once from now on (see `Node::refuse_guessing`).
            None => {}
        }
    }

    pub(super) fn full(&mut self, now: Instant) -> bool {
        if self.names.len() >= MAX_TRACKED_NAMES {
            self.forget_expired(now);
        }
        self.names.len() >= MAX_TRACKED_NAMES
    }

    /// Forgets `name`: it exists now, and its own lockout counts.
    pub fn remove(&mut self, name: &str) {
        self.names.remove(name);
    }
}

impl Node {
    /// Refuses, before any hash, a login on `conn` that has failed too often, and a login
    /// for `name` when it does not exist and has been guessed too often.
    pub(super) fn refuse_guessing(
        &mut self,
        conn: ConnId,
        name: &str,
        now: Instant,
    ) -> Result<(), Stop> {
        if !self.state.users.contains_key(name) {
            let threshold = self.settings.lockout_threshold;
            if let Some(g) = self.unknown_names.current(name, now) {
                if g.count >= threshold {
                    let left = (g.since + UNKNOWN_NAME_WINDOW).saturating_duration_since(now);
                    return Err(refuse(
                        ErrorCode::UserLocked,
                        format!(
                            "user name {name} has had {} failed logins on this HSM and is \
                             refused for another {} seconds",
                            g.count,
                            left.as_secs().max(1)
                        ),
                    ));
                }
            } else if self.unknown_names.full(now) {
                return Err(refuse(
                    ErrorCode::Limit,
                    format!(
                        "this HSM is refusing logins for user names it does not know: more \
                         than {MAX_TRACKED_NAMES} of them failed within {} seconds",
                        UNKNOWN_NAME_WINDOW.as_secs()
                    ),
                ));
            }
        }
        let failures = self.conn(conn)?.failed_logins;
        if failures >= MAX_FAILURES_PER_CONNECTION {
            return Err(refuse(
                ErrorCode::Limit,
                format!(
                    "this connection has had {failures} failed logins and may not try again; \
                     open a new connection to try again"
                ),
            ));
        }
        Ok(())
    }

    /// Counts a failed login of `conn` for `name`: toward the connection's bound, toward
    /// the user's lockout when it exists, toward the name's bound when it does not.
    /// Returns the user's count and whether it is locked.
    pub(super) fn failed_login(&mut self, conn: ConnId, name: &str, now: Instant) -> (u32, bool) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.failed_logins = c.failed_logins.saturating_add(1);
        }
        if !self.state.users.contains_key(name) {
            self.unknown_names.record(name, now);
        }
        self.record_failed_login(name)
    }
}
