//! `login` (with a password, or with token-sign MFA through `login ... mfa-token-sign`) and
//! `logout` (SPEC §5).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::output::Outcome;
use crate::prompt::SIGNED_TOKEN_FILE;
use crate::session::{answered_path, Context, Identity, RoleArg, TargetArgs};

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
    #[command(subcommand)]
    mfa: Option<LoginMfa>,
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
    /// Sign each token with this RSA private key (PEM) in memory, through the library,
    /// instead of writing the token file and asking for the signed one
    #[arg(long, value_name = "KEY")]
    sign_with: Option<PathBuf>,
}

/// `login`: with a password, or with token-sign MFA.
pub fn login(ctx: &mut Context, target: &TargetArgs, args: LoginArgs) -> Outcome<Identity> {
    ctx.clusters.check(target, false)?;
    let key = match &args.mfa {
        Some(LoginMfa::MfaTokenSign(MfaTokenSignArgs {
            sign_with: Some(path),
            ..
        })) => Some(crate::key_file::load_private(path)?),
        _ => None,
    };
    let password = ctx.input.password_or_ask(args.password)?;
    let role = args.role.into();
    let session = ctx.clusters.session(target)?;
    let report = match (args.mfa, key) {
        (None, _) => session.run(async |ses| ses.login(&args.username, role, &password).await),
        (Some(_), Some(key)) => session.run(async |ses| {
            ses.login_mfa_with(&args.username, role, &password, &key)
                .await
        }),
        (Some(LoginMfa::MfaTokenSign(mfa)), None) => {
            let Some(token) = mfa.token else {
                return Err("mfa-token-sign needs --token or --sign-with".into());
            };
            session
                .run(async |ses| {
                    ses.login_mfa_begin(&args.username, role, &password, &token)
                        .await
                })
                .map_err(|e| e.to_string())?;
            let answer = ctx.input.answer(SIGNED_TOKEN_FILE)?;
            session.run(async |ses| ses.login_mfa_finish(answered_path(&answer)).await)
        }
    }
    .map_err(|e| e.to_string())?;
    Ok(Identity::new(&report.username, report.role))
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
