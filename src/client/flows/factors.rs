//! Logins with several MFA factors and the preferences that choose them (SPEC §11):
//! a login that reports its next step (done, token-sign, a code, or a selection) and takes
//! the answer; `set-mfa-preference`, `get-mfa-preference`, software tokens and the phone
//! and email attributes.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use crate::client::exchange::{self, Challenges, FactorStep, Purpose};
use crate::client::fanout::Tally;
use crate::client::session::{FactorLogin, IssuedTokens, LoginReport, Pending, Session};
use crate::error::{Error, Result};
use crate::mfa::{totp, Factor, Preferences, Request};
use crate::proto::{Op, Reply, Role, Secret};
use crate::signer::Signer;
use crate::user::normalize_username;

/// Where a login stands after a call (SPEC §11.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginStep {
    /// Logged in.
    Done(LoginReport),
    /// The HSMs' token-sign challenges wait for signatures: written to the token file
    /// (finish with [`Session::login_mfa_finish`]), or to be signed with
    /// [`Session::login_sign_with`].
    TokenSign(Option<IssuedTokens>),
    /// A code of `factor` is asked for ([`Session::login_code`]); for SMS and email it was
    /// sent to `destination` (masked).
    Code {
        factor: Factor,
        destination: Option<String>,
    },
    /// The user picks one of `factors` ([`Session::login_select`]).
    Select { factors: Vec<Factor> },
}

/// A user's MFA preferences in Cognito's vocabulary, as `get-mfa-preference` prints them:
/// each key left out when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MfaPreferenceView {
    #[serde(rename = "UserMFASettingList", skip_serializing_if = "Vec::is_empty")]
    pub enabled: Vec<&'static str>,
    #[serde(
        rename = "PreferredMfaSetting",
        skip_serializing_if = "Option::is_none"
    )]
    pub preferred: Option<&'static str>,
}

impl MfaPreferenceView {
    pub fn new(p: &Preferences) -> Self {
        MfaPreferenceView {
            enabled: Factor::ALL
                .into_iter()
                .filter(|f| p.enabled.contains(f))
                .map(Factor::cognito_name)
                .collect(),
            preferred: p.preferred.map(Factor::cognito_name),
        }
    }
}

/// A new software token: the secret, shown once, and the URI for authenticator apps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SoftwareTokenSecret {
    #[serde(rename = "secret-code")]
    pub secret_code: String,
    #[serde(rename = "otpauth-uri")]
    pub otpauth_uri: String,
}

impl Drop for SoftwareTokenSecret {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.secret_code.zeroize();
        self.otpauth_uri.zeroize();
    }
}

impl Session {
    /// Starts a login with a password: every HSM checks it and says what comes next. For a
    /// token-sign step the challenges are written to `token_path` when one is given.
    pub async fn login_start(
        &mut self,
        username: &str,
        role: Role,
        password: &str,
        token_path: Option<&Path>,
    ) -> Result<LoginStep> {
        self.pending = None;
        let username =
            normalize_username(username).map_err(|e| Error::invalid_argument("username", e))?;
        self.cluster.connect_missing().await;
        let (code_nonce, deliver_by) = self.code_nonce()?;
        let deliverer = self.index_of(deliver_by.as_deref());
        let op = Op::Login {
            username: username.clone(),
            role,
            password: Secret::new(password),
            code_nonce: Some(code_nonce),
            deliver_by,
        };
        let challenges =
            exchange::issue(&mut self.cluster, Purpose::Login, username, role, op).await?;
        let step = self.step_after(challenges, token_path, deliverer).await?;
        self.resend_if_undelivered(step, token_path).await
    }

    /// An SMS or email step whose delivering HSM dropped out (it went down after the
    /// session last reached it) sent no message: the step is asked again of the HSMs that
    /// took part, with a fresh nonce, so that one of them sends the code.
    async fn resend_if_undelivered(
        &mut self,
        step: LoginStep,
        token_path: Option<&Path>,
    ) -> Result<LoginStep> {
        let LoginStep::Code { factor, .. } = &step else {
            return Ok(step);
        };
        let login = self.factor_login()?;
        let delivered = login.deliverer.is_some_and(|i| login.hsms.contains(&i));
        if !factor.is_delivered() || delivered {
            return Ok(step);
        }
        let factor = *factor;
        let step = self.login_select(factor, token_path).await?;
        Ok(step)
    }

    /// Answers a selection step with `factor`.
    pub async fn login_select(
        &mut self,
        factor: Factor,
        token_path: Option<&Path>,
    ) -> Result<LoginStep> {
        let login = self.factor_login()?;
        if !login.factors.contains(&factor) {
            let names: Vec<&str> = login.factors.iter().map(|f| f.as_str()).collect();
            return Err(Error::invalid_argument(
                "factor",
                format!(
                    "{factor} is not a factor of this login; choose one of {}",
                    names.join(", ")
                ),
            ));
        }
        let (code_nonce, deliver_by) = self.code_nonce()?;
        let deliverer = self.index_of(deliver_by.as_deref());
        let op = Op::LoginMfaSelect {
            factor,
            code_nonce: Some(code_nonce),
            deliver_by,
        };
        let mut challenges = exchange::issue_to(
            &mut self.cluster,
            &login.hsms,
            Purpose::Login,
            login.username.clone(),
            login.role,
            op,
        )
        .await?;
        challenges.missed.extend(login.missed.iter().cloned());
        self.step_after(challenges, token_path, deliverer).await
    }

    /// The index of the HSM named `hsm_id`, if the session knows it.
    fn index_of(&self, hsm_id: Option<&str>) -> Option<usize> {
        let id = hsm_id?;
        (0..self.cluster.len()).find(|&i| self.cluster.hsm_id(i) == Some(id))
    }

    /// Answers a code step with `code`.
    pub async fn login_code(&mut self, code: &str) -> Result<LoginReport> {
        let login = self.factor_login()?;
        let Some(factor) = login.asked else {
            return Err(Error::SelectionRequired {
                factors: login
                    .factors
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let mut ops = vec![None; self.cluster.len()];
        for &i in &login.hsms {
            ops[i] = Some(Op::LoginMfaCode {
                factor,
                code: Secret::new(code),
            });
        }
        let results = self.cluster.fan_out(ops).await;
        let mut tally = Tally::new(&self.cluster, results, |r| {
            matches!(r, Reply::LoggedIn { .. }).then_some(())
        });
        let accepted = tally.accepted_hsms();
        if let Some(err) = tally.take_failure(&self.cluster) {
            exchange::undo_logins(&mut self.cluster, &accepted).await;
            return Err(err);
        }
        self.pending = None;
        Ok(self.report_login(&login.username, login.role, &accepted, &login.missed))
    }

    /// Signs the waiting token-sign challenges with `signer` and finishes the login.
    pub async fn login_sign_with(&mut self, signer: &dyn Signer) -> Result<LoginReport> {
        let challenges = self.take_waiting(Purpose::Login)?;
        match challenges.sign(signer) {
            Ok(signed) => self.redeem_login(challenges, signed).await,
            Err(e) => {
                exchange::undo_logins(&mut self.cluster, &challenges.done).await;
                Err(e)
            }
        }
    }

    /// A fresh code nonce for SMS and email steps, and the HSM that delivers the code: the
    /// first one connected now (not one reached once and down since), so that the user
    /// gets one message.
    fn code_nonce(&self) -> Result<(String, Option<String>)> {
        let nonce: [u8; 16] = crate::crypto::random_bytes()?;
        let deliver_by = (0..self.cluster.len())
            .filter(|&i| self.cluster.is_connected(i))
            .find_map(|i| self.cluster.hsm_id(i).map(str::to_string));
        Ok((B64.encode(nonce), deliver_by))
    }

    fn factor_login(&self) -> Result<FactorLogin> {
        match &self.pending {
            Some(Pending::Factor(login)) => Ok(login.clone()),
            _ => Err(Error::NothingPending {
                operation: "MFA login step".into(),
            }),
        }
    }

    /// What the HSMs' answers to a login step mean; they must agree.
    async fn step_after(
        &mut self,
        mut challenges: Challenges,
        token_path: Option<&Path>,
        deliverer: Option<usize>,
    ) -> Result<LoginStep> {
        let steps = std::mem::take(&mut challenges.steps);
        if steps.is_empty() {
            if challenges.issued.is_empty() {
                return Ok(LoginStep::Done(self.logged_in_as(challenges, &[])));
            }
            let issued = match token_path {
                Some(path) => match challenges.write(path) {
                    Ok(tokens) => Some(IssuedTokens {
                        token_path: path.to_path_buf(),
                        tokens,
                    }),
                    Err(e) => {
                        exchange::undo_logins(&mut self.cluster, &challenges.done).await;
                        return Err(e);
                    }
                },
                None => None,
            };
            self.wait_for_signatures(challenges);
            return Ok(LoginStep::TokenSign(issued));
        }
        let first = steps[0].1.clone();
        let agree = steps.iter().all(|(_, s)| s.same_kind(&first))
            && challenges.issued.is_empty()
            && challenges.done.is_empty();
        if !agree {
            let mut done = challenges.done.clone();
            done.extend(challenges.issued.iter().map(|(i, _)| *i));
            exchange::undo_logins(&mut self.cluster, &done).await;
            return Err(Error::Protocol {
                hsm: self.cluster.label(steps[0].0),
                reason: format!(
                    "the HSMs do not agree on the MFA step of user {}: run user list and make \
                     its MFA settings the same everywhere",
                    challenges.username
                ),
            });
        }
        let hsms: Vec<usize> = steps.iter().map(|(i, _)| *i).collect();
        let (asked, factors, step) = match first {
            FactorStep::Code { factor, .. } => {
                // Where the code went, as the HSMs show it.
                let destination = steps.iter().find_map(|(_, s)| match s {
                    FactorStep::Code { destination, .. } => destination.clone(),
                    FactorStep::Select { .. } => None,
                });
                (
                    Some(factor),
                    vec![factor],
                    LoginStep::Code {
                        factor,
                        destination,
                    },
                )
            }
            FactorStep::Select { factors } => {
                (None, factors.clone(), LoginStep::Select { factors })
            }
        };
        self.pending = Some(Pending::Factor(FactorLogin {
            username: challenges.username,
            role: challenges.role,
            factors,
            asked,
            hsms,
            deliverer,
            missed: challenges.missed,
        }));
        Ok(step)
    }

    /// Sets `username`'s MFA preferences on every HSM (SPEC §11.1): the user itself, or an
    /// admin for another user. Returns them as the HSMs now hold them.
    pub async fn set_mfa_preference(
        &mut self,
        username: &str,
        role: Role,
        request: &Request,
    ) -> Result<Preferences> {
        let op = Op::SetMfaPreference {
            username: username.to_string(),
            role,
            settings: request.settings.clone(),
        };
        self.ask_preferences(op, "MFA preference change").await
    }

    /// `username`'s MFA preferences (the user itself, or an admin); `role`, when given,
    /// must be the user's.
    pub async fn get_mfa_preference(
        &mut self,
        username: &str,
        role: Option<Role>,
    ) -> Result<Preferences> {
        let op = Op::GetMfaPreference {
            username: username.to_string(),
            role,
        };
        self.ask_preferences(op, "MFA preference read").await
    }

    async fn ask_preferences(&mut self, op: Op, operation: &str) -> Result<Preferences> {
        self.cluster.connect_missing().await;
        let results = self.cluster.broadcast(op).await;
        let mut seen: Vec<Preferences> = Vec::new();
        let tally = Tally::new(&self.cluster, results, |r| match r {
            Reply::MfaPreferences { enabled, preferred } => {
                seen.push(Preferences {
                    enabled: enabled.into_iter().collect(),
                    preferred,
                });
                Some(())
            }
            _ => None,
        });
        tally.settle(&self.cluster, operation, &[], true)?;
        let first = seen[0].clone();
        if seen.iter().any(|p| *p != first) {
            return Err(Error::Protocol {
                hsm: self.cluster.label(0),
                reason: "the HSMs do not hold the same MFA preferences: run user list".into(),
            });
        }
        Ok(first)
    }

    /// Associates a new software token with the logged-in user: a fresh 20-byte secret,
    /// stored on every HSM as unverified. `account` names it in the URI (e.g.
    /// `alice@cluster-1`).
    pub async fn associate_software_token(&mut self, account: &str) -> Result<SoftwareTokenSecret> {
        if self.user.is_none() {
            return Err(Error::invalid_argument(
                "session",
                "associating a software token needs a login: log in first",
            ));
        }
        let secret: zeroize::Zeroizing<[u8; totp::SECRET_LEN]> =
            zeroize::Zeroizing::new(crate::crypto::random_bytes()?);
        let encoded = totp::encode_secret(&*secret);
        let op = Op::AssociateSoftwareToken {
            secret: Secret::new(encoded.clone()),
        };
        self.mutate_as(op, "Software token association").await?;
        Ok(SoftwareTokenSecret {
            otpauth_uri: totp::uri(&*secret, account),
            secret_code: encoded,
        })
    }

    /// Verifies the associated software token with a code from the app.
    pub async fn verify_software_token(
        &mut self,
        code: &str,
        device_name: Option<&str>,
    ) -> Result<()> {
        let op = Op::VerifySoftwareToken {
            code: Secret::new(code),
            device_name: device_name.map(str::to_string),
        };
        self.mutate_as(op, "Software token verification").await
    }

    /// Sets `username`'s phone number and/or email on every HSM.
    pub async fn update_attributes(
        &mut self,
        username: &str,
        role: Role,
        phone_number: Option<&str>,
        email: Option<&str>,
    ) -> Result<()> {
        if let Some(p) = phone_number {
            crate::mfa::check_phone_number(p)
                .map_err(|e| Error::invalid_argument("phone_number", e))?;
        }
        if let Some(e) = email {
            crate::mfa::check_email(e).map_err(|e| Error::invalid_argument("email", e))?;
        }
        let op = Op::UpdateAttributes {
            username: username.to_string(),
            role,
            phone_number: phone_number.map(str::to_string),
            email: email.map(str::to_string),
        };
        self.mutate_as(op, "User attribute update").await
    }
}
