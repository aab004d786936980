//! The session operations: hello, login (with and without MFA), logout, cluster activation.

use cloudhsm_mfa::proto::{
    ErrorCode, Reply, Role, Secret, FEATURES, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};

use super::challenge::{Challenge, Purpose};
use super::{
    check_password, decode_base64, normalize, refuse, ConnId, Cx, Login, Node, Step, Stop,
};

/// The one answer to a wrong user name, role or password, so that a caller cannot tell
/// which of the three was wrong.
const BAD_CREDENTIALS: &str = "invalid user name, role or password";

impl Node {
    /// `hello`: a client of any version from the oldest this node speaks is answered with
    /// the lower of the two versions and the node's features; its own features are kept
    /// for the connection.
    pub(super) fn hello(&mut self, conn: ConnId, protocol: u32, features: &[String]) -> Step {
        if protocol < MIN_PROTOCOL_VERSION {
            return Err(refuse(
                ErrorCode::ProtocolVersion,
                format!(
                    "the client speaks protocol version {protocol}; this HSM speaks version \
                     {MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}"
                ),
            ));
        }
        let c = self.conn_mut(conn)?;
        c.greeted = true;
        c.features = features
            .iter()
            .filter(|f| FEATURES.contains(&f.as_str()))
            .cloned()
            .collect();
        Ok(Reply::Hello {
            protocol: protocol.min(PROTOCOL_VERSION),
            hsm_id: self.hsm_id.clone(),
            features: FEATURES.iter().map(|f| f.to_string()).collect(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn login(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        password: &Secret,
        code_nonce: Option<&str>,
        deliver: bool,
        cx: &mut Cx<'_>,
    ) -> Step {
        if let Some(l) = &self.conn(conn)?.login {
            return Err(refuse(
                ErrorCode::AlreadyLoggedIn,
                format!(
                    "this connection is already logged in as {} ({}); log out first",
                    l.username, l.role
                ),
            ));
        }
        if !self.state.activated {
            return Err(refuse(
                ErrorCode::ClusterState,
                "cluster is not activated: run cluster activate",
            ));
        }
        let name = normalize(username)?;
        self.refuse_unsaved_failures(&name)?;
        let hash = match self.state.users.get(&name) {
            Some(user) if user.role == role => {
                if user.locked {
                    return Err(self.locked_refusal(&name));
                }
                Some(user.password_hash.clone())
            }
            _ => None,
        };
        // Before the costly part: a guesser is refused without a hash.
        self.refuse_guessing(conn, &name, cx.now)?;
        let verified = match hash {
            Some(Some(h)) => cx.verify(password, &h)?,
            Some(None) => false,
            None => {
                // As costly as a wrong password, so that a caller cannot tell the two apart.
                cx.verify(password, &self.decoy_hash)?;
                false
            }
        };
        if !verified {
            self.failed_login(conn, &name, cx.now);
            return Err(refuse(ErrorCode::InvalidCredentials, BAD_CREDENTIALS));
        }
        self.after_password(conn, name, role, code_nonce, deliver, cx)
    }

    pub(super) fn login_mfa(
        &mut self,
        conn: ConnId,
        token: &str,
        signature: &str,
        cx: &mut Cx<'_>,
    ) -> Step {
        if self.conn(conn)?.login.is_some() {
            return Err(refuse(
                ErrorCode::AlreadyLoggedIn,
                "this connection is already logged in; log out first",
            ));
        }
        let signature = decode_base64("signature", signature)?;
        let ch = self.find_challenge(conn, token, Purpose::Login, None, cx.now)?;
        let verified = match self.check_login_signature(&ch, &signature, cx) {
            Err(Stop::Work(job)) => return Err(Stop::Work(job)),
            checked => {
                // Answered, rightly or wrongly: the challenge is used up.
                self.consume_challenge(conn, &ch);
                checked?
            }
        };
        if !verified {
            let (count, locked) = self.failed_login(conn, &ch.username, cx.now);
            let threshold = self.settings.lockout_threshold;
            let lock_note = if locked {
                "; the user is now locked until an admin sets a new password"
            } else {
                ""
            };
            return Err(refuse(
                ErrorCode::SignatureInvalid,
                format!(
                    "the signature does not verify with the MFA key registered for user {} \
                     (failed login {count} of {threshold}){lock_note}",
                    ch.username
                ),
            ));
        }
        self.finish_login(conn, ch.username, ch.role)
    }

    /// Whether `signature` answers login challenge `ch` with the user's registered key.
    fn check_login_signature(
        &self,
        ch: &Challenge,
        signature: &[u8],
        cx: &mut Cx<'_>,
    ) -> Result<bool, Stop> {
        self.refuse_unsaved_failures(&ch.username)?;
        let Some(user) = self.state.users.get(&ch.username) else {
            return Err(refuse(ErrorCode::InvalidCredentials, BAD_CREDENTIALS));
        };
        if user.role != ch.role {
            return Err(refuse(ErrorCode::InvalidCredentials, BAD_CREDENTIALS));
        }
        if user.locked {
            return Err(self.locked_refusal(&ch.username));
        }
        let Some(pem) = user.mfa_public_key.as_deref() else {
            return Err(refuse(
                ErrorCode::MfaNotRegistered,
                format!(
                    "MFA is not registered for user {}: log in with the password alone",
                    ch.username
                ),
            ));
        };
        cx.signature(pem, &ch.token, signature)?.map_err(|e| {
            refuse(
                ErrorCode::Internal,
                format!(
                    "the stored MFA key of user {} is unusable: {e}",
                    ch.username
                ),
            )
        })
    }

    pub(super) fn logout(&mut self, conn: ConnId) -> Step {
        self.require_login(conn)?;
        let c = self.conn_mut(conn)?;
        c.login = None;
        c.challenges.clear();
        c.quorum_tokens.clear();
        c.pending_login = None;
        Ok(Reply::Done)
    }

    pub(super) fn activate(&mut self, password: &Secret, cx: &mut Cx<'_>) -> Step {
        if self.state.activated {
            return Err(refuse(
                ErrorCode::ClusterState,
                "the cluster is already activated",
            ));
        }
        check_password(password.expose())?;
        let Some(name) = self
            .state
            .users
            .iter()
            .find(|(_, u)| u.role == Role::UnactivatedAdmin)
            .map(|(n, _)| n.clone())
        else {
            return Err(refuse(
                ErrorCode::ClusterState,
                "the HSM has no unactivated-admin user to activate",
            ));
        };
        let hash = cx.hash(password, &self.settings)?;
        self.begin_change();
        if let Some(user) = self.state.users.get_mut(&name) {
            user.role = Role::Admin;
            user.set_password_hash(hash);
        }
        self.state.activated = true;
        Ok(Reply::Done)
    }

    /// Logs `conn` in as `username` and restarts the user's failure count.
    pub(super) fn finish_login(&mut self, conn: ConnId, username: String, role: Role) -> Step {
        if self
            .state
            .users
            .get(&username)
            .is_some_and(|u| u.failed_logins != 0)
        {
            self.begin_change();
            if let Some(user) = self.state.users.get_mut(&username) {
                user.failed_logins = 0;
            }
        }
        let c = self.conn_mut(conn)?;
        c.failed_logins = 0;
        c.login = Some(Login {
            username: username.clone(),
            role,
        });
        c.challenges.retain(|ch| ch.purpose != Purpose::Login);
        c.pending_login = None;
        Ok(Reply::LoggedIn { username, role })
    }

    /// Counts a failed login of `username` (if it exists) and locks it at the threshold.
    /// Returns the count and whether the user is locked.
    pub(super) fn record_failed_login(&mut self, username: &str) -> (u32, bool) {
        let threshold = self.settings.lockout_threshold;
        if !self.state.users.contains_key(username) {
            return (0, false);
        }
        self.begin_change();
        let Some(user) = self.state.users.get_mut(username) else {
            return (0, false);
        };
        user.failed_logins = user.failed_logins.saturating_add(1);
        if user.failed_logins >= threshold {
            user.locked = true;
        }
        let counted = (user.failed_logins, user.locked);
        if counted.1 {
            // A locked user's open challenges and logins end with the lock.
            self.revoke_user(username, None);
        }
        counted
    }

    /// Refuses a login of `username` while its failed logins are counted but not saved.
    pub(super) fn refuse_unsaved_failures(&self, username: &str) -> Result<(), Stop> {
        if self.unsaved_failures.contains(username) {
            return Err(refuse(
                ErrorCode::Internal,
                format!(
                    "the HSM cannot save its state, so user {username} may not log in until it \
                     can: its failed logins are counted but not saved"
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn locked_refusal(&self, username: &str) -> Stop {
        refuse(
            ErrorCode::UserLocked,
            format!(
                "user {username} is locked after {} failed logins; an admin must set a new \
                 password to unlock it",
                self.settings.lockout_threshold
            ),
        )
    }
}
