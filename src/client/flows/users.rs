//! User management (SPEC §4, §8): list, create, delete, change a password, activate a new
//! cluster. Every change goes to every HSM; one that reaches only some says how many.

use crate::client::fanout::Tally;
use crate::client::session::Session;
use crate::client::user_list::{merge, UserList};
use crate::error::{Error, Result};
use crate::proto::{Op, Reply, Role, Secret};
use crate::user::check_password;

/// The operation name in errors about user changes that reached only part of a cluster,
/// as the CloudHSM CLI words it.
pub(super) const REPLICATE: &str = "User replicate";

impl Session {
    /// Every user of the cluster (no login needed).
    pub async fn list_users(&mut self) -> Result<UserList> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::ListUsers).await;
        let (lists, unreachable) = Tally::new(&self.cluster, results, |r| match r {
            Reply::Users { users } => Some(users),
            _ => None,
        })
        .answers(&self.cluster)?;
        Ok(merge(&lists, unreachable))
    }

    /// Creates a user on every HSM (admin only).
    pub async fn create_user(&mut self, username: &str, role: Role, password: &str) -> Result<()> {
        checked_password(password)?;
        let op = Op::CreateUser {
            username: username.to_string(),
            role,
            password: Secret::new(password),
        };
        self.mutate(op).await
    }

    /// Deletes a user on every HSM (admin only).
    pub async fn delete_user(&mut self, username: &str, role: Role) -> Result<()> {
        let op = Op::DeleteUser {
            username: username.to_string(),
            role,
        };
        self.mutate(op).await
    }

    /// Sets a user's password on every HSM.
    pub async fn change_password(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<()> {
        self.change_password_deregistering(username, role, password, false, false)
            .await
    }

    /// Sets a user's password on every HSM and, with `deregister_mfa`, removes its MFA key
    /// (and with it the quorum key), or with `deregister_quorum` its quorum key.
    pub async fn change_password_deregistering(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        deregister_mfa: bool,
        deregister_quorum: bool,
    ) -> Result<()> {
        checked_password(password)?;
        let op = Op::ChangePassword {
            username: username.to_string(),
            role,
            password: Secret::new(password),
            deregister_mfa,
            deregister_quorum,
        };
        self.mutate(op).await
    }

    /// Activates a new cluster: the first admin gets `password`.
    pub async fn activate_cluster(&mut self, password: &str) -> Result<()> {
        checked_password(password)?;
        let op = Op::ActivateCluster {
            password: Secret::new(password),
        };
        self.mutate(op).await
    }

    /// Sends a user change to every HSM (with the session's approval when the change is
    /// gated); HSMs that cannot be reached count as failures.
    pub(super) async fn mutate(&mut self, op: Op) -> Result<()> {
        self.mutate_as(op, REPLICATE).await
    }

    /// [`Session::mutate`], naming the operation `operation` in a partial failure.
    pub(super) async fn mutate_as(&mut self, op: Op, operation: &str) -> Result<()> {
        self.cluster.connect_missing().await;
        let gated = op.gate().is_some();
        let results = self.cluster.broadcast(self.with_approval(op)).await;
        let result = Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::Done).then_some(())
        })
        .settle(&self.cluster, operation, &[], true);
        if gated {
            self.approval_used(&result);
        }
        result
    }
}

/// The password rule (SPEC §4), checked before anything is sent.
pub(super) fn checked_password(password: &str) -> Result<()> {
    check_password(password).map_err(|e| Error::invalid_argument("password", e))
}
