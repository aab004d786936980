//! MFA keys (SPEC §6): register or rotate in two phases (a token file signed with the new
//! private key) or in one call with a signer; deregister.

use std::path::Path;

use super::users::{checked_password, REPLICATE};
use crate::client::exchange::{self, Challenges, Purpose, Signed};
use crate::client::fanout::Tally;
use crate::client::session::{gate, IssuedTokens, Session};
use crate::crypto::PublicKey;
use crate::error::{Error, Result};
use crate::proto::{Op, Reply, Role, Secret};
use crate::signer::Signer;
use crate::user::normalize_username;

impl Session {
    /// First phase of registering or rotating an MFA key: each HSM issues a registration
    /// challenge; they are written to `token_path` to be signed with the NEW private key.
    pub async fn change_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        let mut challenges = self.issue_registration(username, role).await?;
        let tokens = challenges.write(token_path)?;
        self.wait_for_signatures(challenges);
        Ok(IssuedTokens {
            token_path: token_path.to_path_buf(),
            tokens,
        })
    }

    /// Second phase: each HSM checks the signature over its challenge with `public_key`
    /// (proof of possession) and stores it as the user's MFA key (and quorum key with
    /// `change_quorum`), and sets `password`.
    pub async fn change_mfa_finish(
        &mut self,
        signed_path: Option<&Path>,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        checked_password(password)?;
        let signed = self
            .waiting(Purpose::MfaRegistration)?
            .read_signed(&self.cluster, signed_path)?;
        let challenges = self.take_waiting(Purpose::MfaRegistration)?;
        self.redeem_registration(challenges, signed, public_key, password, change_quorum)
            .await
    }

    /// Registration or rotation in one call: `signer` signs each challenge with the
    /// private key of `public_key`.
    pub async fn change_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
        signer: &dyn Signer,
    ) -> Result<()> {
        checked_password(password)?;
        let challenges = self.issue_registration(username, role).await?;
        let signed = challenges.sign(signer)?;
        self.redeem_registration(challenges, signed, public_key, password, change_quorum)
            .await
    }

    /// Removes a user's MFA key (and quorum key) on every HSM and sets `password`.
    pub async fn deregister_mfa(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        checked_password(password)?;
        let op = Op::DeregisterMfa {
            username: username.to_string(),
            role,
            password: Secret::new(password),
            change_quorum,
        };
        self.mutate(op).await
    }

    async fn issue_registration(&mut self, username: &str, role: Role) -> Result<Challenges> {
        self.pending = None;
        let username =
            normalize_username(username).map_err(|e| Error::invalid_argument("username", e))?;
        let op = Op::ChangeMfaBegin {
            username: username.clone(),
            role,
        };
        exchange::issue(
            &mut self.cluster,
            Purpose::MfaRegistration,
            username,
            role,
            op,
        )
        .await
    }

    async fn redeem_registration(
        &mut self,
        challenges: Challenges,
        signed: Vec<Signed>,
        public_key: &PublicKey,
        password: &str,
        change_quorum: bool,
    ) -> Result<()> {
        let pem = public_key.to_pem()?;
        let (username, role) = (challenges.username.clone(), challenges.role);
        let approval = self.approval_on_wire();
        let results = exchange::redeem(&mut self.cluster, &signed, |token, signature| {
            let op = Op::ChangeMfaFinish {
                username: username.clone(),
                role,
                token,
                signature,
                public_key_pem: pem.clone(),
                password: Secret::new(password),
                change_quorum,
            };
            gate(approval.as_ref(), op)
        })
        .await;
        let result = Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::Done).then_some(())
        })
        .settle(&self.cluster, REPLICATE, &challenges.missed, true);
        self.approval_used(&result);
        result
    }
}
