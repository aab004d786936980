//! Logins (SPEC §5): with a password, with token-sign MFA in two phases (a token file the
//! user signs) or in one call with a signer; logout.

use std::path::Path;

use crate::client::exchange::{self, Challenges, Purpose, Signed};
use crate::client::fanout::Tally;
use crate::client::session::{HsmParticipation, IssuedTokens, LoginReport, Session};
use crate::error::{Error, Result};
use crate::proto::{Op, Reply, Role, Secret};
use crate::signer::Signer;
use crate::user::normalize_username;

impl Session {
    /// Logs in with a password. A user with MFA gets [`Error::MfaRequired`].
    pub async fn login(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<LoginReport> {
        let challenges = self.issue_login(username, role, password).await?;
        if !challenges.issued.is_empty() || !challenges.steps.is_empty() {
            exchange::undo_logins(&mut self.cluster, &challenges.done).await;
            return Err(Error::MfaRequired {
                username: challenges.username,
            });
        }
        Ok(self.logged_in_as(challenges, &[]))
    }

    /// First phase of a token-sign MFA login: checks the password on every HSM and writes
    /// the challenges they return to `token_path` (SPEC §2.1) for the user to sign.
    pub async fn login_mfa_begin(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        token_path: &Path,
    ) -> Result<IssuedTokens> {
        let mut challenges = self.issue_mfa_login(username, role, password).await?;
        match challenges.write(token_path) {
            Ok(tokens) => {
                self.wait_for_signatures(challenges);
                Ok(IssuedTokens {
                    token_path: token_path.to_path_buf(),
                    tokens,
                })
            }
            Err(e) => {
                exchange::undo_logins(&mut self.cluster, &challenges.done).await;
                Err(e)
            }
        }
    }

    /// Second phase: reads the signed token file (`signed_path`, or the file the first
    /// phase wrote) and returns each signature to the HSM that issued the token.
    pub async fn login_mfa_finish(&mut self, signed_path: Option<&Path>) -> Result<LoginReport> {
        let signed = self
            .waiting(Purpose::Login)?
            .read_signed(&self.cluster, signed_path)?;
        let challenges = self.take_waiting(Purpose::Login)?;
        self.redeem_login(challenges, signed).await
    }

    /// A token-sign MFA login in one call: `signer` signs each token (SPEC §3).
    pub async fn login_mfa_with(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        signer: &dyn Signer,
    ) -> Result<LoginReport> {
        let challenges = self.issue_mfa_login(username, role, password).await?;
        match challenges.sign(signer) {
            Ok(signed) => self.redeem_login(challenges, signed).await,
            Err(e) => {
                exchange::undo_logins(&mut self.cluster, &challenges.done).await;
                Err(e)
            }
        }
    }

    /// Ends the login, if any, waiting for every HSM's answer, so that the user counts as
    /// logged out everywhere when this returns. (Dropping the session closes its
    /// connections, which also logs out, but the HSMs notice that a moment later.)
    pub async fn close(&mut self) {
        if self.user.is_some() {
            let _ = self.logout().await;
        }
    }

    /// Logs out on every HSM.
    pub async fn logout(&mut self) -> Result<()> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(Op::Logout).await;
        self.user = None;
        self.pending = None;
        self.clear_approval();
        Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::Done).then_some(())
        })
        .settle(&self.cluster, "Logout", &[], false)
    }

    async fn issue_login(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<Challenges> {
        self.pending = None;
        let username =
            normalize_username(username).map_err(|e| Error::invalid_argument("username", e))?;
        let op = Op::Login {
            username: username.clone(),
            role,
            password: Secret::new(password),
            code_nonce: None,
            deliver_by: None,
        };
        exchange::issue(&mut self.cluster, Purpose::Login, username, role, op).await
    }

    /// The first phase of an MFA login: a user without MFA is refused (and its password
    /// logins undone).
    async fn issue_mfa_login(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<Challenges> {
        let challenges = self.issue_login(username, role, password).await?;
        if let Some((_, step)) = challenges.steps.first() {
            exchange::undo_logins(&mut self.cluster, &challenges.done).await;
            let asks = match step {
                exchange::FactorStep::Code { factor, .. } => format!("a {factor} code"),
                exchange::FactorStep::Select { factors } => format!(
                    "a choice of {}",
                    factors
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            return Err(Error::FactorRequired {
                username: challenges.username,
                asks,
            });
        }
        if challenges.issued.is_empty() {
            exchange::undo_logins(&mut self.cluster, &challenges.done).await;
            return Err(Error::MfaNotRegistered {
                username: challenges.username,
            });
        }
        Ok(challenges)
    }

    pub(super) async fn redeem_login(
        &mut self,
        challenges: Challenges,
        signed: Vec<Signed>,
    ) -> Result<LoginReport> {
        let results = exchange::redeem(&mut self.cluster, &signed, |token, signature| {
            Op::LoginMfa { token, signature }
        })
        .await;
        let mut tally = Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::LoggedIn { .. }).then_some(())
        });
        let accepted = tally.accepted_hsms();
        if let Some(err) = tally.take_failure(&self.cluster) {
            let mut logged_in = challenges.done.clone();
            logged_in.extend(&accepted);
            exchange::undo_logins(&mut self.cluster, &logged_in).await;
            return Err(err);
        }
        Ok(self.logged_in_as(challenges, &accepted))
    }

    pub(super) fn logged_in_as(
        &mut self,
        challenges: Challenges,
        accepted: &[usize],
    ) -> LoginReport {
        let mut took_part = challenges.done.clone();
        took_part.extend(accepted);
        self.report_login(
            &challenges.username,
            challenges.role,
            &took_part,
            &challenges.missed,
        )
    }

    /// Records the login of `username` and reports which HSMs took part.
    pub(super) fn report_login(
        &mut self,
        username: &str,
        role: Role,
        took_part: &[usize],
        missed: &[(usize, String)],
    ) -> LoginReport {
        let hsms = (0..self.cluster.len())
            .map(|i| HsmParticipation {
                hsm: self.cluster.label(i),
                took_part: took_part.contains(&i),
                reason: missed
                    .iter()
                    .find(|(h, _)| *h == i)
                    .map(|(_, why)| why.clone()),
            })
            .collect();
        self.user = Some((username.to_string(), role));
        tracing::info!(
            user = username,
            role = role.as_str(),
            hsms = took_part.len(),
            of = self.cluster.len(),
            "logged in"
        );
        LoginReport {
            username: username.to_string(),
            role,
            hsms,
        }
    }
}
