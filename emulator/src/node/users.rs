//! User management: create, delete, change password, register / rotate / deregister MFA.

use cloudhsm_mfa::mfa::Factor;
use cloudhsm_mfa::proto::{ErrorCode, Reply, Role, Secret};

use super::challenge::Purpose;
use super::state::{UserRecord, MAX_USERS};
use super::{
    check_password, decode_base64, normalize, public_key_arg, refuse, ConnId, Cx, Login, Node,
    Step, Stop,
};

/// The arguments of `change_mfa_finish`.
pub(super) struct MfaFinish<'a> {
    pub username: &'a str,
    pub role: Role,
    pub token: &'a str,
    pub signature: &'a str,
    pub public_key_pem: &'a str,
    pub password: &'a Secret,
    pub change_quorum: bool,
}

/// The arguments of `change_password`.
pub(super) struct PasswordChange<'a> {
    pub username: &'a str,
    pub role: Role,
    pub password: &'a Secret,
    pub deregister_mfa: bool,
    pub deregister_quorum: bool,
}

impl Node {
    pub(super) fn create_user(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        password: &Secret,
        cx: &mut Cx<'_>,
    ) -> Step {
        self.require_admin(conn, "create users")?;
        let name = normalize(username)?;
        if role == Role::UnactivatedAdmin {
            return Err(refuse(
                ErrorCode::InvalidArgument,
                "a new user's role must be admin or crypto-user",
            ));
        }
        if self.state.users.contains_key(&name) {
            return Err(refuse(
                ErrorCode::UserExists,
                format!("user {name} already exists"),
            ));
        }
        if self.state.users.len() >= MAX_USERS {
            return Err(refuse(
                ErrorCode::Limit,
                format!("the HSM holds its maximum of {MAX_USERS} users; delete one first"),
            ));
        }
        check_password(password.expose())?;
        let hash = cx.hash(password, &self.settings)?;
        self.begin_change();
        self.unknown_names.remove(&name);
        self.state
            .users
            .insert(name, UserRecord::new(role, Some(hash)));
        Ok(Reply::Done)
    }

    pub(super) fn delete_user(&mut self, conn: ConnId, username: &str, role: Role) -> Step {
        self.require_admin(conn, "delete users")?;
        let name = normalize(username)?;
        self.require_user(&name, role)?;
        if self.logged_in_anywhere(&name) {
            return Err(refuse(
                ErrorCode::UserLoggedIn,
                format!("user {name} is logged in; it must log out before it can be deleted"),
            ));
        }
        self.guard_quorum_key(&name, &format!("deleting admin {name}"))?;
        self.begin_change();
        self.state.users.remove(&name);
        self.revoke_user(&name, None);
        Ok(Reply::Done)
    }

    pub(super) fn change_password(
        &mut self,
        conn: ConnId,
        a: PasswordChange<'_>,
        cx: &mut Cx<'_>,
    ) -> Step {
        let name = self.authorize_change(conn, a.username, a.role, "password")?;
        check_password(a.password.expose())?;
        let Some(user) = self.state.users.get(&name) else {
            return Err(refuse(ErrorCode::UserNotFound, format!("no user {name}")));
        };
        if a.deregister_mfa && user.mfa_public_key.is_none() {
            return Err(refuse(
                ErrorCode::MfaNotRegistered,
                format!("MFA is not registered for user {name}; there is nothing to deregister"),
            ));
        }
        if a.deregister_quorum && user.quorum_public_key.is_none() {
            return Err(refuse(
                ErrorCode::InvalidArgument,
                format!("user {name} has no quorum key; there is nothing to deregister"),
            ));
        }
        // MFA and quorum share one key pair: a new password of an MFA user ends the quorum
        // registration, as do both deregistrations.
        let drops_mfa = a.deregister_mfa;
        let drops_quorum = drops_mfa || a.deregister_quorum || user.mfa_public_key.is_some();
        if drops_quorum {
            self.guard_quorum_key(&name, &format!("removing the quorum key of admin {name}"))?;
        }
        let hash = cx.hash(a.password, &self.settings)?;
        self.begin_change();
        if let Some(user) = self.state.users.get_mut(&name) {
            user.set_password_hash(hash);
            if drops_mfa {
                user.mfa_public_key = None;
                user.mfa.enabled.remove(&Factor::TokenSign);
                if user.mfa.preferred == Some(Factor::TokenSign) {
                    user.mfa.preferred = None;
                }
            }
            if drops_quorum {
                user.quorum_public_key = None;
            }
        }
        self.revoke_after_change(conn, &name);
        Ok(Reply::Done)
    }

    pub(super) fn change_mfa_begin(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        cx: &mut Cx<'_>,
    ) -> Step {
        let name = self.authorize_change(conn, username, role, "MFA")?;
        self.issue_challenge(conn, Purpose::MfaRegistration, &name, role, cx)
    }

    pub(super) fn change_mfa_finish(
        &mut self,
        conn: ConnId,
        a: MfaFinish<'_>,
        cx: &mut Cx<'_>,
    ) -> Step {
        let name = self.authorize_change(conn, a.username, a.role, "MFA")?;
        check_password(a.password.expose())?;
        let pem = public_key_arg(a.public_key_pem)?;
        let signature = decode_base64("signature", a.signature)?;
        if !a.change_quorum {
            // The new MFA key ends the quorum registration made with the old key pair.
            self.guard_quorum_key(&name, &format!("removing the quorum key of admin {name}"))?;
        }
        let ch =
            self.find_challenge(conn, a.token, Purpose::MfaRegistration, Some(&name), cx.now)?;
        // Decide first, then use up the challenge, unless more work is needed.
        let decided = match cx.signature(&pem, &ch.token, &signature) {
            Err(stop) => Err(stop),
            Ok(Err(e)) => Err(refuse(ErrorCode::Internal, e)),
            Ok(Ok(false)) => Err(refuse(
                ErrorCode::SignatureInvalid,
                format!(
                    "the signature does not verify with the new public key of user {name}: sign \
                     the registration token with the new private key"
                ),
            )),
            Ok(Ok(true)) => cx.hash(a.password, &self.settings),
        };
        if let Err(Stop::Work(job)) = decided {
            return Err(Stop::Work(job));
        }
        self.consume_challenge(conn, &ch);
        let hash = decided?;
        self.begin_change();
        if let Some(user) = self.state.users.get_mut(&name) {
            user.set_password_hash(hash);
            user.quorum_public_key = a.change_quorum.then(|| pem.clone());
            user.mfa_public_key = Some(pem);
            // Registering enables token-sign and leaves the preference as it is.
            user.mfa.enabled.insert(Factor::TokenSign);
        }
        self.revoke_after_change(conn, &name);
        Ok(Reply::Done)
    }

    pub(super) fn deregister_mfa(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        password: &Secret,
        cx: &mut Cx<'_>,
    ) -> Step {
        let name = self.authorize_change(conn, username, role, "MFA")?;
        if self
            .state
            .users
            .get(&name)
            .is_none_or(|u| u.mfa_public_key.is_none())
        {
            return Err(refuse(
                ErrorCode::MfaNotRegistered,
                format!("MFA is not registered for user {name}; there is nothing to deregister"),
            ));
        }
        check_password(password.expose())?;
        self.guard_quorum_key(&name, &format!("removing the quorum key of admin {name}"))?;
        let hash = cx.hash(password, &self.settings)?;
        self.begin_change();
        if let Some(user) = self.state.users.get_mut(&name) {
            user.set_password_hash(hash);
            user.mfa_public_key = None;
            user.quorum_public_key = None;
            user.mfa.enabled.remove(&Factor::TokenSign);
            if user.mfa.preferred == Some(Factor::TokenSign) {
                user.mfa.preferred = None;
            }
        }
        self.revoke_after_change(conn, &name);
        Ok(Reply::Done)
    }

    /// After `conn` changed the password or MFA key of user `name`: every challenge of the
    /// user and every other login as it end; the login of `conn` stays when it is the user's.
    fn revoke_after_change(&mut self, conn: ConnId, name: &str) {
        let own = self
            .conns
            .get(&conn)
            .and_then(|c| c.login.as_ref())
            .is_some_and(|l| l.username == name);
        self.revoke_user(name, own.then_some(conn));
    }

    /// The login of `conn` if it is an admin's.
    pub(super) fn require_admin(&self, conn: ConnId, what: &str) -> Result<Login, Stop> {
        let login = self.require_login(conn)?;
        if login.role != Role::Admin {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!(
                    "only an admin may {what}; {} is a {}",
                    login.username, login.role
                ),
            ));
        }
        Ok(login)
    }

    /// Refuses unless user `name` exists with `role`.
    fn require_user(&self, name: &str, role: Role) -> Result<(), Stop> {
        match self.state.users.get(name) {
            Some(u) if u.role == role => Ok(()),
            _ => Err(refuse(
                ErrorCode::UserNotFound,
                format!("no user {name} with role {role}"),
            )),
        }
    }

    /// Checks that the login of `conn` may change the password or MFA (`what`) of user
    /// `username`: the user itself, or an admin for another user who is not logged in.
    /// Returns the normalised name.
    fn authorize_change(
        &self,
        conn: ConnId,
        username: &str,
        role: Role,
        what: &str,
    ) -> Result<String, Stop> {
        let login = self.require_login(conn)?;
        let name = normalize(username)?;
        let is_self = login.username == name;
        if !is_self && login.role != Role::Admin {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!(
                    "only an admin may change the {what} of another user; {} may change only its own",
                    login.username
                ),
            ));
        }
        self.require_user(&name, role)?;
        if !is_self && self.logged_in_anywhere(&name) {
            return Err(refuse(
                ErrorCode::UserLoggedIn,
                format!(
                    "user {name} is logged in; another user may change its {what} only after it logs out"
                ),
            ));
        }
        Ok(name)
    }
}
