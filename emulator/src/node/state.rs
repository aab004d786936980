//! The persistent part of a node: its users, whether the cluster is activated, and the
//! quorum values.
//!
//! Format 2 added `quorum` (the quorum values; quorum keys were in format 1 already).
//! Format 3 added each user's MFA factors (`mfa`: enabled and preferred), software token,
//! phone number and email. An older file reads as format 3 (quorum values at 1; token-sign
//! enabled for a user with an MFA key) and is written as format 3 at the next change.

use std::collections::BTreeMap;
use std::fmt;

use cloudhsm_mfa::mfa::{Factor, Preferences};
use cloudhsm_mfa::proto::{Role, Secret, UserInfo};
use cloudhsm_mfa::quorum::Values;
use serde::{Deserialize, Serialize};

use super::entropy::Entropy;
use super::password::{self, SALT_LEN};
use super::NodeSettings;

/// The most users one node holds.
pub const MAX_USERS: usize = 1024;
/// The version of the state file's layout.
pub const STATE_FORMAT: u32 = 3;
/// The oldest format still read (and upgraded).
pub const OLDEST_STATE_FORMAT: u32 = 1;
/// The name of the first admin of a new cluster.
pub const FIRST_ADMIN: &str = "admin";

/// What a node keeps across restarts. Logins and challenges are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeState {
    /// [`STATE_FORMAT`].
    pub format: u32,
    /// Whether `activate_cluster` has run.
    pub activated: bool,
    /// The users, by lower-case name.
    pub users: BTreeMap<String, UserRecord>,
    /// The quorum value of each service (absent in format 1: both 1).
    #[serde(default)]
    pub quorum: Values,
}

/// One user as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub role: Role,
    /// Argon2id PHC string; `None` for the unactivated admin, who has no password yet.
    pub password_hash: Option<String>,
    /// Consecutive failed logins.
    pub failed_logins: u32,
    pub locked: bool,
    /// The MFA public key, SubjectPublicKeyInfo PEM.
    pub mfa_public_key: Option<String>,
    /// The quorum public key, SubjectPublicKeyInfo PEM.
    pub quorum_public_key: Option<String>,
    /// The enabled MFA factors and the preferred one (absent before format 3).
    #[serde(default)]
    pub mfa: Preferences,
    /// The verified software token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_token: Option<SoftwareToken>,
    /// A software token secret (base32) associated but not verified yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_token_pending: Option<String>,
    /// E.164 phone number, for SMS codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Email address, for email codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// A verified software token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftwareToken {
    /// The TOTP secret, base32.
    pub secret: String,
    /// The time step of the last code accepted (the verification's included): a code of
    /// that step or an earlier one is a reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_step: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
}

impl fmt::Debug for SoftwareToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareToken")
            .field("secret", &"<hidden>")
            .field("last_step", &self.last_step)
            .field("device_name", &self.device_name)
            .finish()
    }
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("role", &self.role)
            .field(
                "password_hash",
                &self.password_hash.as_ref().map(|_| "<hidden>"),
            )
            .field("failed_logins", &self.failed_logins)
            .field("locked", &self.locked)
            .field("mfa", &self.mfa_public_key.is_some())
            .field("quorum", &self.quorum_public_key.is_some())
            .field("factors", &self.mfa)
            .field("software_token", &self.software_token)
            .field(
                "software_token_pending",
                &self.software_token_pending.as_ref().map(|_| "<hidden>"),
            )
            .field("phone_number", &self.phone_number)
            .field("email", &self.email)
            .finish()
    }
}

impl UserRecord {
    pub(crate) fn new(role: Role, password_hash: Option<String>) -> Self {
        UserRecord {
            role,
            password_hash,
            failed_logins: 0,
            locked: false,
            mfa_public_key: None,
            quorum_public_key: None,
            mfa: Preferences::default(),
            software_token: None,
            software_token_pending: None,
            phone_number: None,
            email: None,
        }
    }

    /// Sets a new password hash: the failure count restarts and the user is unlocked.
    pub(crate) fn set_password_hash(&mut self, hash: String) {
        self.password_hash = Some(hash);
        self.failed_logins = 0;
        self.locked = false;
    }

    pub(crate) fn info(&self, username: &str) -> UserInfo {
        UserInfo {
            username: username.to_string(),
            role: self.role,
            locked: self.locked,
            mfa: self.mfa.enabled.contains(&Factor::TokenSign),
            quorum: self.quorum_public_key.is_some(),
            factors: Factor::ALL
                .into_iter()
                .filter(|f| self.mfa.enabled.contains(f))
                .collect(),
        }
    }
}

impl NodeState {
    /// A node of a new cluster: one user `admin` with role `unactivated-admin` and no
    /// password until `activate_cluster`.
    pub fn unactivated() -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            FIRST_ADMIN.to_string(),
            UserRecord::new(Role::UnactivatedAdmin, None),
        );
        NodeState {
            format: STATE_FORMAT,
            activated: false,
            users,
            quorum: Values::default(),
        }
    }

    /// A node of an activated cluster whose `admin` has `password`, hashed with a salt
    /// from `entropy`.
    pub fn activated(
        password: &Secret,
        settings: &NodeSettings,
        entropy: &mut dyn Entropy,
    ) -> Result<Self, String> {
        password::check_rule(password.expose())?;
        let mut salt = [0u8; SALT_LEN];
        entropy.fill(&mut salt).map_err(|e| e.to_string())?;
        let hash = password::hash(password.expose(), settings, &salt)?;
        let mut users = BTreeMap::new();
        users.insert(
            FIRST_ADMIN.to_string(),
            UserRecord::new(Role::Admin, Some(hash)),
        );
        Ok(NodeState {
            format: STATE_FORMAT,
            activated: true,
            users,
            quorum: Values::default(),
        })
    }

    /// Upgrades a state read from an older format to [`STATE_FORMAT`]; an unknown format
    /// is left for [`NodeState::check`] to refuse.
    pub fn upgrade(&mut self) {
        if (OLDEST_STATE_FORMAT..STATE_FORMAT).contains(&self.format) {
            // Format 1 → 2: the quorum values, read as their default (1) when absent.
            // Format 2 → 3: token-sign is the enabled factor of a user with an MFA key.
            if self.format < 3 {
                for user in self.users.values_mut() {
                    if user.mfa_public_key.is_some() {
                        user.mfa.enabled.insert(Factor::TokenSign);
                    }
                }
            }
            self.format = STATE_FORMAT;
        }
    }

    /// Checks what serde cannot: the format, the names, the number of users, the keys and
    /// the quorum values.
    pub fn check(&self) -> Result<(), String> {
        if self.format != STATE_FORMAT {
            return Err(format!(
                "state format {} is not a supported format ({OLDEST_STATE_FORMAT} to {STATE_FORMAT})",
                self.format
            ));
        }
        self.quorum.check()?;
        if self.users.len() > MAX_USERS {
            return Err(format!(
                "{} users, more than the limit of {MAX_USERS}",
                self.users.len()
            ));
        }
        for (name, user) in &self.users {
            match cloudhsm_mfa::user::normalize_username(name) {
                Ok(n) if &n == name => {}
                Ok(_) => return Err(format!("user name {name:?} is not in lower case")),
                Err(e) => return Err(format!("user {name:?}: {e}")),
            }
            if user.role == Role::UnactivatedAdmin && self.activated {
                return Err(format!(
                    "user {name} is an unactivated-admin in an activated cluster"
                ));
            }
            if user.password_hash.is_none() && user.role != Role::UnactivatedAdmin {
                return Err(format!("user {name} has no password hash"));
            }
            user.mfa
                .check()
                .map_err(|e| format!("user {name}: MFA preferences: {e}"))?;
            if user.mfa.enabled.contains(&Factor::TokenSign) && user.mfa_public_key.is_none() {
                return Err(format!("user {name} has token-sign enabled and no MFA key"));
            }
            for (what, pem) in [
                ("MFA", &user.mfa_public_key),
                ("quorum", &user.quorum_public_key),
            ] {
                if let Some(pem) = pem {
                    cloudhsm_mfa::crypto::PublicKey::from_pem(pem.as_bytes())
                        .map_err(|e| format!("user {name}: {what} key: {e}"))?;
                }
            }
        }
        Ok(())
    }

    /// Every user, sorted by name.
    pub fn user_infos(&self) -> Vec<UserInfo> {
        self.users.iter().map(|(n, u)| u.info(n)).collect()
    }

    /// The admins that hold a quorum key (who can approve), other than `except`.
    pub fn approvers(&self, except: Option<&str>) -> usize {
        self.users
            .iter()
            .filter(|(n, u)| {
                u.role == Role::Admin && u.quorum_public_key.is_some() && Some(n.as_str()) != except
            })
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::OsEntropy;

    #[test]
    fn a_new_node_has_one_unactivated_admin_without_password() {
        let s = NodeState::unactivated();
        assert!(!s.activated);
        assert_eq!(s.users.len(), 1);
        let admin = &s.users[FIRST_ADMIN];
        assert_eq!(admin.role, Role::UnactivatedAdmin);
        assert!(admin.password_hash.is_none());
        assert!(s.check().is_ok());
    }

    #[test]
    fn an_activated_node_checks_the_admin_password_rule() {
        let settings = NodeSettings::low_cost();
        let s = NodeState::activated(&Secret::new("password1"), &settings, &mut OsEntropy).unwrap();
        assert!(s.activated);
        let admin = &s.users[FIRST_ADMIN];
        assert_eq!(admin.role, Role::Admin);
        assert!(password::verify(
            "password1",
            admin.password_hash.as_deref().unwrap()
        ));
        assert!(
            NodeState::activated(&Secret::new("short"), &settings, &mut OsEntropy)
                .unwrap_err()
                .contains("7 to 32")
        );
    }

    #[test]
    fn check_refuses_states_that_serde_accepts() {
        let mut upper = NodeState::unactivated();
        let admin = upper.users.remove(FIRST_ADMIN).unwrap();
        upper.users.insert("Admin".into(), admin);
        assert!(upper.check().unwrap_err().contains("lower case"));

        let mut bad_key = NodeState::unactivated();
        bad_key.users.get_mut(FIRST_ADMIN).unwrap().mfa_public_key = Some("junk".into());
        assert!(bad_key.check().unwrap_err().contains("MFA key"));

        let mut wrong_format = NodeState::unactivated();
        wrong_format.format = 99;
        assert!(wrong_format.check().unwrap_err().contains("format"));
    }

    #[test]
    fn a_format_1_file_reads_as_format_3_with_quorum_values_of_1() {
        let settings = NodeSettings::low_cost();
        let s = NodeState::activated(&Secret::new("password1"), &settings, &mut OsEntropy).unwrap();
        let mut v1 = serde_json::to_value(&s).unwrap();
        v1["format"] = 1.into();
        v1.as_object_mut().unwrap().remove("quorum");
        for user in v1["users"].as_object_mut().unwrap().values_mut() {
            user.as_object_mut().unwrap().remove("mfa");
        }
        let mut read: NodeState = serde_json::from_value(v1).unwrap();
        assert!(read.check().unwrap_err().contains("format 1"));
        read.upgrade();
        assert!(read.check().is_ok());
        assert_eq!(read, s);
        assert_eq!(read.quorum, Values::default());

        let mut future = s.clone();
        future.format = 4;
        future.upgrade();
        assert!(future.check().unwrap_err().contains("1 to 3"));
        let mut bad = s;
        bad.quorum.user = 9;
        assert!(bad.check().unwrap_err().contains("user quorum value"));
    }

    #[test]
    fn a_format_2_user_with_an_mfa_key_has_token_sign_enabled_in_format_3() {
        let settings = NodeSettings::low_cost();
        let s = NodeState::activated(&Secret::new("password1"), &settings, &mut OsEntropy).unwrap();
        let mut v2 = serde_json::to_value(&s).unwrap();
        v2["format"] = 2.into();
        let pem = cloudhsm_mfa_test_support::keys::public_key(2048, 0)
            .to_pem()
            .unwrap();
        let admin = v2["users"]["admin"].as_object_mut().unwrap();
        admin.remove("mfa");
        admin.insert("mfa_public_key".into(), pem.into());
        let mut read: NodeState = serde_json::from_value(v2).unwrap();
        read.upgrade();
        read.check().unwrap();
        assert_eq!(read.format, 3);
        assert!(read.users["admin"].mfa.enabled.contains(&Factor::TokenSign));
        assert_eq!(read.users["admin"].mfa.preferred, None);
    }

    #[test]
    fn debug_output_hides_the_password_hash() {
        let settings = NodeSettings::low_cost();
        let s = NodeState::activated(&Secret::new("password1"), &settings, &mut OsEntropy).unwrap();
        let hash = s.users[FIRST_ADMIN].password_hash.clone().unwrap();
        assert!(!format!("{s:?}").contains(&hash));
    }
}
