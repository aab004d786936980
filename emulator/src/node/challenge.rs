//! Challenges: 32 random bytes a node issues for one user, one purpose and one connection.
//! Each is answered once, before it expires.

use std::time::Instant;

use base64::Engine as _;
use cloudhsm_mfa::crypto::{Token, TOKEN_LEN};
use cloudhsm_mfa::proto::{ErrorCode, Reply, Role};

use super::{refuse, ConnId, Cx, Node, Step, Stop};

/// What a challenge may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Login,
    MfaRegistration,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Login => "login",
            Purpose::MfaRegistration => "mfa-registration",
        }
    }
}

/// An open challenge of one connection.
#[derive(Debug, Clone)]
pub(super) struct Challenge {
    pub token: Token,
    pub purpose: Purpose,
    /// The user it was issued for (who logs in, or whose MFA key changes).
    pub username: String,
    pub role: Role,
    pub expires: Instant,
}

impl Node {
    /// Issues a challenge on `conn` for `username`, replacing any open challenge of the
    /// same purpose on that connection.
    pub(super) fn issue_challenge(
        &mut self,
        conn: ConnId,
        purpose: Purpose,
        username: &str,
        role: Role,
        cx: &mut Cx<'_>,
    ) -> Step {
        let now = cx.now;
        let token: Token = cx.random()?;
        let ttl = self.settings.challenge_ttl;
        let c = self.conn_mut(conn)?;
        c.challenges.retain(|ch| ch.purpose != purpose);
        c.challenges.push(Challenge {
            token,
            purpose,
            username: username.to_string(),
            role,
            expires: now + ttl,
        });
        Ok(Reply::Challenge {
            token: base64::engine::general_purpose::STANDARD.encode(token),
            expires_in_secs: ttl.as_secs(),
        })
    }

    /// Finds the challenge `token_b64` of `conn` for `purpose` (and, when given, for user
    /// `username`), leaving it in place; see [`Node::consume_challenge`]. An expired one is
    /// gone afterwards, and refused.
    pub(super) fn find_challenge(
        &mut self,
        conn: ConnId,
        token_b64: &str,
        purpose: Purpose,
        username: Option<&str>,
        now: Instant,
    ) -> Result<Challenge, Stop> {
        let unknown = || {
            let whom = username
                .map(|u| format!(" of user {u}"))
                .unwrap_or_default();
            refuse(
                ErrorCode::ChallengeUnknown,
                format!(
                    "token was not issued to this connection for {}{whom}, or was already used",
                    purpose.as_str()
                ),
            )
        };
        let token: Token = base64::engine::general_purpose::STANDARD
            .decode(token_b64.trim())
            .ok()
            .and_then(|b| <[u8; TOKEN_LEN]>::try_from(b.as_slice()).ok())
            .ok_or_else(unknown)?;
        let c = self.conn_mut(conn)?;
        let pos = c
            .challenges
            .iter()
            .position(|ch| {
                aws_lc_rs::constant_time::verify_slices_are_equal(&ch.token, &token).is_ok()
                    && ch.purpose == purpose
                    && username.is_none_or(|u| ch.username == u)
            })
            .ok_or_else(unknown)?;
        if now >= c.challenges[pos].expires {
            c.challenges.swap_remove(pos);
            return Err(refuse(
                ErrorCode::ChallengeExpired,
                format!(
                    "the {} token expired after {} seconds; run the command again for a new token",
                    purpose.as_str(),
                    self.settings.challenge_ttl.as_secs()
                ),
            ));
        }
        Ok(c.challenges[pos].clone())
    }

    /// Uses up challenge `ch` of `conn`, found by [`Node::find_challenge`]: it cannot be
    /// answered again, whatever the caller does next.
    pub(super) fn consume_challenge(&mut self, conn: ConnId, ch: &Challenge) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.challenges
                .retain(|open| !(open.token == ch.token && open.purpose == ch.purpose));
        }
    }

    /// Ends everything that rests on the current password, key or existence of
    /// `username`: every open challenge issued for it, on every connection, and every
    /// login as it, except the login of `keep` (the connection of a user that changed its
    /// own password), with the quorum tokens of each login that ends. Called when the
    /// user's password or MFA key changes, when it is locked and when it is deleted.
    pub(super) fn revoke_user(&mut self, username: &str, keep: Option<ConnId>) {
        for (id, c) in &mut self.conns {
            c.challenges.retain(|ch| ch.username != username);
            if Some(*id) != keep && c.login.as_ref().is_some_and(|l| l.username == username) {
                c.login = None;
                c.quorum_tokens.clear();
            }
        }
    }
}
