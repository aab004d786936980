//! `login` (with a password, or with token-sign MFA through `login ... mfa-token-sign`) and
//! `logout` (SPEC §5).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use cloudhsm_mfa::client::LoginStep;
use cloudhsm_mfa::mfa::Factor;
use zeroize::Zeroizing;

use crate::output::Outcome;
use crate::prompt::{MFA_CODE, SIGNED_TOKEN_FILE};
use crate::session::{answered_path, Context, Identity, Mode, RoleArg, TargetArgs};

/// Login to your cluster
#[derive(Args)]
pub struct LoginArgs {
    /// Username to access the cluster
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// Optional: the user's password in plain text. If you leave it out, you are prompted
    /// for it (without echo)
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// The MFA type to use when the user has several and none is preferred
    #[arg(long, value_name = "MFA_TYPE")]
    mfa_type: Option<FactorArg>,
    /// The code of a software token, SMS or email step. Without it, interactive mode asks
    /// for it; single-command mode takes a software-token code from CLOUDHSM_MFA_CODE
    #[arg(long, value_name = "MFA_CODE")]
    mfa_code: Option<String>,
    #[command(subcommand)]
    mfa: Option<LoginMfa>,
}

/// An MFA type as typed on the command line.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FactorArg {
    /// A code sent by SMS
    Sms,
    /// A code from an authenticator app (TOTP)
    SoftwareToken,
    /// A code sent by email
    Email,
    /// A signature with the registered key
    TokenSign,
}

impl From<FactorArg> for Factor {
    fn from(f: FactorArg) -> Factor {
        match f {
            FactorArg::Sms => Factor::Sms,
            FactorArg::SoftwareToken => Factor::SoftwareToken,
            FactorArg::Email => Factor::Email,
            FactorArg::TokenSign => Factor::TokenSign,
        }
    }
}

#[derive(Subcommand)]
enum LoginMfa {
    /// Login with token-sign mfa
    MfaTokenSign(MfaTokenSignArgs),
}

#[derive(Args)]
#[command(
    override_usage = "login --username <USERNAME> --role <ROLE> mfa-token-sign \
                      <--token <TOKEN>|--sign-with <KEY>>"
)]
struct MfaTokenSignArgs {
    /// Filepath where the unsigned token file will be written (not needed with
    /// --sign-with, which writes no file)
    #[arg(long, value_name = "TOKEN", required_unless_present = "sign_with")]
    token: Option<PathBuf>,
    /// Sign each token with this RSA private key (a PEM file, or the pkcs11: URI of a key
    /// on a PKCS#11 token), through the library, instead of writing the token file and
    /// asking for the signed one
    #[arg(long, value_name = "KEY")]
    sign_with: Option<PathBuf>,
}

/// `login`: with a password, then the steps the user's MFA factors ask for (SPEC §11.2):
/// a token-sign signature (`mfa-token-sign`), a code (`--mfa-code`, or asked for in
/// interactive mode), or a choice among factors (`--mfa-type`, or asked for).
pub fn login(ctx: &mut Context, target: &TargetArgs, args: LoginArgs) -> Outcome<Identity> {
    ctx.clusters.check(target, false)?;
    let (token, key) = match &args.mfa {
        Some(LoginMfa::MfaTokenSign(m)) => (
            m.token.clone(),
            m.sign_with
                .as_deref()
                .map(crate::key_file::open_private)
                .transpose()?,
        ),
        None => (None, None),
    };
    let token_sign = args.mfa.is_some();
    let mut mfa_code = args.mfa_code.map(Zeroizing::new);
    let password = ctx.input.password_or_ask(args.password)?;
    let role = args.role.into();
    let user = args.username.as_str();
    let interactive = ctx.clusters.mode() == Mode::Interactive;
    let mut step = ctx
        .clusters
        .session(target)?
        .run(async |ses| {
            ses.login_start(user, role, &password, token.as_deref())
                .await
        })
        .map_err(|e| e.to_string())?;
    loop {
        let session = ctx.clusters.session(target)?;
        step = match step {
            LoginStep::Done(_) if token_sign => {
                // mfa-token-sign for a user whose login asks for no signature.
                let _ = session.run(async |ses| ses.logout().await);
                return Err(cloudhsm_mfa::Error::MfaNotRegistered {
                    username: user.to_ascii_lowercase(),
                }
                .to_string());
            }
            LoginStep::Done(report) => return Ok(Identity::new(&report.username, report.role)),
            LoginStep::TokenSign(issued) => {
                let report = if let Some(key) = &key {
                    session.run(async |ses| ses.login_sign_with(key).await)
                } else if issued.is_some() {
                    let answer = ctx.input.answer(SIGNED_TOKEN_FILE)?;
                    let session = ctx.clusters.session(target)?;
                    session.run(async |ses| ses.login_mfa_finish(answered_path(&answer)).await)
                } else {
                    return Err(format!(
                        "user {user} has MFA registered: log in with mfa-token-sign"
                    ));
                };
                let report = report.map_err(|e| e.to_string())?;
                return Ok(Identity::new(&report.username, report.role));
            }
            LoginStep::Select { factors } => {
                let names: Vec<&str> = factors.iter().map(|f| f.as_str()).collect();
                let choice = match (token_sign, args.mfa_type) {
                    (true, _) => Factor::TokenSign,
                    (false, Some(t)) => t.into(),
                    (false, None) if interactive => {
                        let prompt = format!("Select MFA type ({}):", names.join(", "));
                        let answer = ctx.input.answer(&prompt)?;
                        Factor::parse(&answer).ok_or_else(|| {
                            format!(
                                "{answer:?} is not an MFA type; choose one of {}",
                                names.join(", ")
                            )
                        })?
                    }
                    (false, None) => {
                        return Err(format!(
                            "the login of user {user} asks to select an MFA type ({}): pass \
                             --mfa-type, or log in in interactive mode",
                            names.join(", ")
                        ))
                    }
                };
                let session = ctx.clusters.session(target)?;
                session
                    .run(async |ses| ses.login_select(choice, token.as_deref()).await)
                    .map_err(|e| e.to_string())?
            }
            LoginStep::Code {
                factor,
                destination,
            } => {
                let code = match mfa_code.take() {
                    Some(code) => code,
                    None if interactive => {
                        if let Some(d) = &destination {
                            eprintln!("A {factor} code was sent to {d}.");
                        }
                        Zeroizing::new(ctx.input.answer(MFA_CODE)?)
                    }
                    None => {
                        return Err(format!(
                            "the login of user {user} asks for a {factor} code: pass \
                             --mfa-code, or log in in interactive mode"
                        ))
                    }
                };
                let session = ctx.clusters.session(target)?;
                let report = session
                    .run(async |ses| ses.login_code(code.trim()).await)
                    .map_err(|e| e.to_string())?;
                return Ok(Identity::new(&report.username, report.role));
            }
        };
    }
}

/// `logout`.
pub fn logout(ctx: &mut Context, target: &TargetArgs) -> Outcome<&'static str> {
    ctx.clusters.check(target, true)?;
    ctx.clusters
        .logged_in(target)?
        .run(async |ses| ses.logout().await)
        .map_err(|e| e.to_string())?;
    Ok("Logout successful")
}
