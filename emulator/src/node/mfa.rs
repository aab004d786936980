//! MFA factors on a node (SPEC §11): preferences, software tokens, phone and email
//! attributes, and the login steps after the password for every factor. The rules are the
//! library's `cloudhsm_mfa::mfa` (`apply`, `next_step`, TOTP).
//!
//! One SMS or email message per login, whatever the number of HSMs, while every HSM can
//! check the code: the client sends every HSM the same random `code_nonce` with the login,
//! and asks only the first to deliver. Each HSM derives the code as
//! `HMAC-SHA-256(code key, "cloudhsm-mfa code v1" ‖ factor ‖ user ‖ nonce ‖ window)`, cut
//! to 6 digits as HOTP does, where the code key is a 32-byte secret every node of the
//! cluster holds (made at `init`, never sent) and the window is the 3-minute period of
//! the login. This is safe because: the client never learns the key, so it cannot compute
//! a code, only receive the one delivered; the code binds the factor, the user and the
//! nonce, so it answers nothing else; a nonce is taken once per user (a second login with
//! the same nonce is refused while the node remembers it, and after a restart the window
//! has moved on within 3 minutes); the step exists only after the right password on that
//! connection; a code is used once and lives 3 minutes; and a wrong code counts toward
//! the lockout like a wrong password. A client that asks several HSMs to deliver only sends
//! the user the same code again.

use std::time::{Duration, Instant};

use aws_lc_rs::hmac;
use base64::Engine as _;
use cloudhsm_mfa::mfa::{self, totp, Factor, Facts, Preferences, Request, Step};
use cloudhsm_mfa::proto::{ErrorCode, Reply, Role};
use zeroize::Zeroizing;

use super::state::SoftwareToken;
use super::{normalize, refuse, ConnId, Cx, Login, Node, Step as NodeStep, Stop};
use crate::delivery::Message;

/// How long an SMS or email code can be answered.
pub const CODE_TTL: Duration = Duration::from_secs(180);
/// How long a node remembers a nonce, to refuse it a second time.
const NONCE_MEMORY: Duration = Duration::from_secs(2 * 180);
/// Bytes of a code nonce.
const NONCE_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// A login whose password was right, waiting for its second factor.
#[derive(Debug, Clone)]
pub(super) struct PendingLogin {
    pub username: String,
    pub role: Role,
    /// The factors it may be finished with.
    pub factors: Vec<Factor>,
    /// The factor asked for, once chosen.
    pub asked: Option<Factor>,
    /// The code sent for an SMS or email step.
    pub code: Option<PendingCode>,
    pub expires: Instant,
}

/// An SMS or email code a node can check.
#[derive(Debug, Clone)]
pub(super) struct PendingCode {
    pub factor: Factor,
    pub nonce: Vec<u8>,
    pub window: u64,
    pub expires: Instant,
}

/// The code for `factor`, `username` and `nonce` in `window` (see the module's comment).
fn delivered_code(
    key: &[u8; 32],
    factor: Factor,
    username: &str,
    nonce: &[u8],
    window: u64,
) -> Zeroizing<String> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    for part in [
        b"cloudhsm-mfa code v1".as_slice(),
        factor.as_str().as_bytes(),
        username.as_bytes(),
        nonce,
    ] {
        ctx.update(&(part.len() as u32).to_be_bytes());
        ctx.update(part);
    }
    ctx.update(&window.to_be_bytes());
    let tag = ctx.sign();
    Zeroizing::new(format!("{:06}", totp::truncate(tag.as_ref(), totp::DIGITS)))
}

fn window_of(unix_secs: u64) -> u64 {
    unix_secs / CODE_TTL.as_secs()
}

/// The nonce of a login, decoded and checked.
fn nonce_arg(nonce: Option<&str>, factor: Factor) -> Result<Vec<u8>, Stop> {
    let Some(text) = nonce else {
        return Err(refuse(
            ErrorCode::InvalidArgument,
            format!("this login sends a code by {factor}, and the request has no code_nonce"),
        ));
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| {
            refuse(
                ErrorCode::InvalidArgument,
                format!("code_nonce is not base64: {e}"),
            )
        })?;
    if !NONCE_LEN.contains(&bytes.len()) {
        return Err(refuse(
            ErrorCode::InvalidArgument,
            format!("code_nonce is {} bytes; it must be 16 to 64", bytes.len()),
        ));
    }
    Ok(bytes)
}

/// What a user has, on which enabling a factor depends.
fn facts(user: &super::UserRecord) -> Facts {
    Facts {
        token_sign_key: user.mfa_public_key.is_some(),
        software_token_verified: user.software_token.is_some(),
        phone_number: user.phone_number.is_some(),
        email: user.email.is_some(),
    }
}

fn preferences_reply(p: &Preferences) -> Reply {
    Reply::MfaPreferences {
        enabled: Factor::ALL
            .into_iter()
            .filter(|f| p.enabled.contains(f))
            .collect(),
        preferred: p.preferred,
    }
}

impl Node {
    /// After the right password of `username`: logged in, a token-sign challenge, a code to
    /// ask for (sent now for SMS and email), or the factors to select from.
    pub(super) fn after_password(
        &mut self,
        conn: ConnId,
        username: String,
        role: Role,
        nonce: Option<&str>,
        deliver: bool,
        cx: &mut Cx<'_>,
    ) -> NodeStep {
        let preferences = self
            .state
            .users
            .get(&username)
            .map(|u| u.mfa.clone())
            .unwrap_or_default();
        let factors = match mfa::next_step(&preferences) {
            Step::Done => return self.finish_login(conn, username, role),
            Step::Ask(f) => vec![f],
            Step::Select(fs) => fs,
        };
        // Long enough for an SMS or email code to be answered or to expire on its own.
        let expires = cx.now + self.settings.challenge_ttl.max(2 * CODE_TTL);
        self.conn_mut(conn)?.pending_login = Some(PendingLogin {
            username,
            role,
            factors: factors.clone(),
            asked: None,
            code: None,
            expires,
        });
        match factors.as_slice() {
            [only] => self.ask(conn, *only, nonce, deliver, cx),
            _ => Ok(Reply::MfaSelect { factors }),
        }
    }

    /// `login_mfa_select`: the factor a user picked among those of its login.
    pub(super) fn login_mfa_select(
        &mut self,
        conn: ConnId,
        factor: Factor,
        nonce: Option<&str>,
        deliver: bool,
        cx: &mut Cx<'_>,
    ) -> NodeStep {
        let pending = self.pending(conn, cx.now)?;
        if !pending.factors.contains(&factor) {
            let names: Vec<&str> = pending.factors.iter().map(|f| f.as_str()).collect();
            return Err(refuse(
                ErrorCode::InvalidArgument,
                format!(
                    "{factor} is not a factor of this login; choose one of {}",
                    names.join(", ")
                ),
            ));
        }
        self.ask(conn, factor, nonce, deliver, cx)
    }

    /// Asks for `factor`: a token-sign challenge, or a code (sent now for SMS and email).
    fn ask(
        &mut self,
        conn: ConnId,
        factor: Factor,
        nonce: Option<&str>,
        deliver: bool,
        cx: &mut Cx<'_>,
    ) -> NodeStep {
        let pending = self.pending(conn, cx.now)?;
        let (username, role) = (pending.username.clone(), pending.role);
        if factor == Factor::TokenSign {
            self.conn_mut(conn)?.pending_login = None;
            return self.issue_challenge(
                conn,
                super::challenge::Purpose::Login,
                &username,
                role,
                cx,
            );
        }
        let mut code = None;
        let mut destination = None;
        if factor.is_delivered() && nonce.is_some() {
            let nonce = nonce_arg(nonce, factor)?;
            let user = self.state.users.get(&username).ok_or_else(|| {
                refuse(
                    ErrorCode::InvalidCredentials,
                    "invalid user name, role or password",
                )
            })?;
            let to = match factor {
                Factor::Sms => user.phone_number.clone(),
                _ => user.email.clone(),
            }
            .ok_or_else(|| {
                refuse(
                    ErrorCode::FactorNotReady,
                    format!("user {username} has no destination for {factor} codes"),
                )
            })?;
            self.forget_old_nonces(cx.now);
            if self
                .used_nonces
                .iter()
                .any(|(u, n, _)| *u == username && *n == nonce)
            {
                return Err(refuse(
                    ErrorCode::InvalidArgument,
                    "this code_nonce was used already; a login sends a fresh one",
                ));
            }
            let window = window_of(self.unix_secs(cx.now));
            if deliver {
                let text = delivered_code(&self.code_key, factor, &username, &nonce, window);
                self.outgoing.push(Message {
                    channel: factor,
                    to: to.clone(),
                    purpose: "login",
                    code: text,
                    time: self.unix_secs(cx.now),
                });
            }
            self.used_nonces
                .push((username.clone(), nonce.clone(), cx.now + NONCE_MEMORY));
            destination = Some(mfa::mask(&to));
            code = Some(PendingCode {
                factor,
                nonce,
                window,
                expires: cx.now + CODE_TTL,
            });
        }
        if let Some(p) = self.conn_mut(conn)?.pending_login.as_mut() {
            p.asked = Some(factor);
            p.code = code;
        }
        Ok(Reply::MfaCode {
            factor,
            destination,
        })
    }

    /// `login_mfa_code`: finishes a login with the code of the factor asked for.
    pub(super) fn login_mfa_code(
        &mut self,
        conn: ConnId,
        factor: Factor,
        code: &str,
        cx: &mut Cx<'_>,
    ) -> NodeStep {
        let pending = self.pending(conn, cx.now)?;
        if pending.asked != Some(factor) {
            return Err(refuse(
                ErrorCode::InvalidArgument,
                format!("this login did not ask for a {factor} code"),
            ));
        }
        let name = pending.username.clone();
        self.refuse_unsaved_failures(&name)?;
        let Some(user) = self.state.users.get(&name) else {
            return Err(refuse(
                ErrorCode::InvalidCredentials,
                "invalid user name, role or password",
            ));
        };
        if user.locked {
            return Err(self.locked_refusal(&name));
        }
        let unix = self.unix_secs(cx.now);
        let accepted = match factor {
            Factor::SoftwareToken => {
                let Some(token) = user.software_token.clone() else {
                    return Err(refuse(
                        ErrorCode::FactorNotReady,
                        format!("user {name} has no verified software token"),
                    ));
                };
                let secret = Zeroizing::new(totp::decode_secret(&token.secret).map_err(|e| {
                    refuse(
                        ErrorCode::Internal,
                        format!("the stored software token of {name}: {e}"),
                    )
                })?);
                match totp::verify(&secret, code, unix, token.last_step) {
                    Ok(step) => {
                        self.begin_change();
                        if let Some(t) = self
                            .state
                            .users
                            .get_mut(&name)
                            .and_then(|u| u.software_token.as_mut())
                        {
                            t.last_step = Some(step);
                        }
                        Ok(())
                    }
                    Err(totp::CodeRefusal::Reused) => {
                        Err("Your software token has already been used once.".to_string())
                    }
                    Err(totp::CodeRefusal::Mismatch) => {
                        Err("Invalid code received for user".into())
                    }
                }
            }
            _ => {
                let Some(sent) = pending.code.clone() else {
                    return Err(refuse(
                        ErrorCode::InvalidArgument,
                        "no code was sent for this login (it came without a code_nonce); log in \
                         again",
                    ));
                };
                if cx.now >= sent.expires {
                    if let Some(p) = self.conn_mut(conn)?.pending_login.as_mut() {
                        p.code = None;
                    }
                    return Err(refuse(
                        ErrorCode::CodeExpired,
                        format!(
                            "the {factor} code expired after {} seconds; log in again for a new one",
                            CODE_TTL.as_secs()
                        ),
                    ));
                }
                let matches = [sent.window.saturating_sub(1), sent.window, sent.window + 1]
                    .iter()
                    .any(|&w| {
                        let expected =
                            delivered_code(&self.code_key, sent.factor, &name, &sent.nonce, w);
                        aws_lc_rs::constant_time::verify_slices_are_equal(
                            expected.as_bytes(),
                            code.as_bytes(),
                        )
                        .is_ok()
                    });
                if matches {
                    Ok(())
                } else {
                    Err("Invalid code received for user".into())
                }
            }
        };
        match accepted {
            Ok(()) => {
                let role = pending.role;
                self.finish_login(conn, name, role)
            }
            Err(message) => {
                let (count, locked) = self.failed_login(conn, &name, cx.now);
                let threshold = self.settings.lockout_threshold;
                let note = if locked {
                    "; the user is now locked until an admin sets a new password"
                } else {
                    ""
                };
                Err(refuse(
                    ErrorCode::CodeMismatch,
                    format!("{message} (failed login {count} of {threshold}){note}"),
                ))
            }
        }
    }

    /// The pending login of `conn`, unless it expired (then it is gone).
    fn pending(&mut self, conn: ConnId, now: Instant) -> Result<PendingLogin, Stop> {
        let c = self.conn_mut(conn)?;
        match &c.pending_login {
            Some(p) if now < p.expires => Ok(p.clone()),
            Some(_) => {
                c.pending_login = None;
                Err(refuse(
                    ErrorCode::ChallengeExpired,
                    "the login's second step expired; log in again",
                ))
            }
            None => Err(refuse(
                ErrorCode::ChallengeUnknown,
                "no login waits for a second factor on this connection; log in first",
            )),
        }
    }

    fn forget_old_nonces(&mut self, now: Instant) {
        self.used_nonces.retain(|(_, _, until)| now < *until);
    }

    /// `set_mfa_preference`: the user itself, or an admin for another user.
    pub(super) fn set_mfa_preference(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        request: &Request,
    ) -> NodeStep {
        let name = self.authorize_preferences(conn, username, role)?;
        let user = &self.state.users[&name];
        let next = mfa::apply(&user.mfa, request, &facts(user)).map_err(|r| {
            let code = match r {
                mfa::Refusal::InvalidParameter(_) => ErrorCode::MfaPreferenceInvalid,
                _ => ErrorCode::FactorNotReady,
            };
            refuse(code, r.to_string())
        })?;
        let reply = preferences_reply(&next);
        if next != user.mfa {
            self.begin_change();
            if let Some(u) = self.state.users.get_mut(&name) {
                u.mfa = next;
            }
        }
        Ok(reply)
    }

    /// `get_mfa_preference`: the user itself, or an admin.
    pub(super) fn get_mfa_preference(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Option<Role>,
    ) -> NodeStep {
        let role = match role {
            Some(r) => r,
            None => {
                let name = normalize(username)?;
                self.state
                    .users
                    .get(&name)
                    .map(|u| u.role)
                    .ok_or_else(|| refuse(ErrorCode::UserNotFound, format!("no user {name}")))?
            }
        };
        let name = self.authorize_preferences(conn, username, role)?;
        Ok(preferences_reply(&self.state.users[&name].mfa))
    }

    /// `associate_software_token`: a new secret for the logged-in user, kept unverified;
    /// a verified one goes on working until the new one is verified.
    pub(super) fn associate_software_token(&mut self, conn: ConnId, secret: &str) -> NodeStep {
        let login = self.require_login(conn)?;
        let bytes = Zeroizing::new(
            totp::decode_secret(secret).map_err(|e| refuse(ErrorCode::InvalidArgument, e))?,
        );
        if bytes.len() < 16 {
            return Err(refuse(
                ErrorCode::InvalidArgument,
                format!(
                    "the secret is {} bytes; a software token secret is at least 16",
                    bytes.len()
                ),
            ));
        }
        self.begin_change();
        if let Some(u) = self.state.users.get_mut(&login.username) {
            u.software_token_pending = Some(totp::encode_secret(&bytes));
        }
        Ok(Reply::Done)
    }

    /// `verify_software_token`: a correct code marks the associated secret verified; the
    /// code is then used.
    pub(super) fn verify_software_token(
        &mut self,
        conn: ConnId,
        code: &str,
        device_name: Option<&str>,
        cx: &mut Cx<'_>,
    ) -> NodeStep {
        let login = self.require_login(conn)?;
        let Some(pending) = self.state.users[&login.username]
            .software_token_pending
            .clone()
        else {
            return Err(refuse(
                ErrorCode::FactorNotReady,
                "no software token is associated: run user associate-software-token first",
            ));
        };
        let secret = Zeroizing::new(
            totp::decode_secret(&pending).map_err(|e| refuse(ErrorCode::Internal, e))?,
        );
        let step = totp::verify(&secret, code, self.unix_secs(cx.now), None).map_err(|_| {
            refuse(
                ErrorCode::CodeMismatch,
                "Code mismatch and fail enable Software Token MFA",
            )
        })?;
        self.begin_change();
        if let Some(u) = self.state.users.get_mut(&login.username) {
            u.software_token = Some(SoftwareToken {
                secret: pending,
                last_step: Some(step),
                device_name: device_name.map(str::to_string),
            });
            u.software_token_pending = None;
        }
        Ok(Reply::Done)
    }

    /// `update_attributes`: the phone number and email of a user (itself, or an admin).
    pub(super) fn update_attributes(
        &mut self,
        conn: ConnId,
        username: &str,
        role: Role,
        phone_number: Option<&str>,
        email: Option<&str>,
    ) -> NodeStep {
        let name = self.authorize_preferences(conn, username, role)?;
        if let Some(p) = phone_number {
            mfa::check_phone_number(p).map_err(|e| refuse(ErrorCode::InvalidArgument, e))?;
        }
        if let Some(e) = email {
            mfa::check_email(e).map_err(|e| refuse(ErrorCode::InvalidArgument, e))?;
        }
        if phone_number.is_none() && email.is_none() {
            return Ok(Reply::Done);
        }
        self.begin_change();
        if let Some(u) = self.state.users.get_mut(&name) {
            if let Some(p) = phone_number {
                u.phone_number = Some(p.to_string());
            }
            if let Some(e) = email {
                u.email = Some(e.to_string());
            }
        }
        Ok(Reply::Done)
    }

    /// The user whose MFA settings the login of `conn` may read or change: itself, or any
    /// user for an admin.
    fn authorize_preferences(
        &self,
        conn: ConnId,
        username: &str,
        role: Role,
    ) -> Result<String, Stop> {
        let login: Login = self.require_login(conn)?;
        let name = normalize(username)?;
        if login.username != name && login.role != Role::Admin {
            return Err(refuse(
                ErrorCode::PermissionDenied,
                format!(
                    "only an admin may read or change the MFA settings of another user; {} may \
                     change only its own",
                    login.username
                ),
            ));
        }
        match self.state.users.get(&name) {
            Some(u) if u.role == role => Ok(name),
            _ => Err(refuse(
                ErrorCode::UserNotFound,
                format!("no user {name} with role {role}"),
            )),
        }
    }
}

#[cfg(test)]
pub(super) fn code_for_tests(
    key: &[u8; 32],
    factor: Factor,
    username: &str,
    nonce: &[u8],
    unix: u64,
) -> String {
    delivered_code(key, factor, username, nonce, window_of(unix)).to_string()
}
