//! `user list`, `user create`, `user delete`, `user change-password` and
//! `user change-mfa token-sign` (SPEC §4, §6, §8); the gated ones take `--approval`
//! (SPEC §7).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use cloudhsm_mfa::client::UserList;
use cloudhsm_mfa::SigningKey;

use crate::output::Outcome;
use crate::prompt::{PUBLIC_KEY_FILE, SIGNED_TOKEN_FILE};
use crate::quorum::{approved, ApprovalArg, ChangeQuorumCommand};
use crate::session::{answered_path, Context, Identity, RoleArg, TargetArgs};

#[derive(Subcommand)]
pub enum UserCommand {
    /// List the users in your cluster
    List,
    /// Create a new user
    Create(CreateArgs),
    /// Delete a user
    Delete(DeleteArgs),
    /// Change a user's password
    ChangePassword(ChangePasswordArgs),
    /// Change a user's Mfa Strategy
    #[command(subcommand)]
    ChangeMfa(ChangeMfaCommand),
    /// Change a user's Quorum Strategy
    #[command(subcommand)]
    ChangeQuorum(ChangeQuorumCommand),
    /// Set a user's MFA preferences: which factors are enabled and which is preferred
    SetMfaPreference(crate::mfa::SetArgs),
    /// Show a user's MFA preferences
    GetMfaPreference(crate::mfa::GetArgs),
    /// Make a new software token (TOTP) secret for the logged-in user
    AssociateSoftwareToken(crate::mfa::AssociateArgs),
    /// Verify the logged-in user's new software token with a code
    VerifySoftwareToken(crate::mfa::VerifyArgs),
    /// Set a user's phone number and email for SMS and email codes
    UpdateAttributes(crate::mfa::AttributesArgs),
}

#[derive(Args)]
pub struct CreateArgs {
    /// Username to access the HSM cluster
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has over the HSM cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// Optional: the user's password in plain text. If you leave it out, you are prompted
    /// for it twice (without echo)
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    #[command(flatten)]
    approval: ApprovalArg,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// Username to access the HSM cluster
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    #[command(flatten)]
    approval: ApprovalArg,
}

#[derive(Args)]
pub struct ChangePasswordArgs {
    /// Username of the user that will be modified
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// Optional: the new password in plain text. If you leave it out, you are prompted for
    /// it twice (without echo)
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
    /// Deregister the MFA public key (and with it the quorum public key)
    #[arg(long)]
    deregister_mfa: bool,
    /// Deregister the quorum public key
    #[arg(long)]
    deregister_quorum: bool,
    #[command(flatten)]
    approval: ApprovalArg,
}

#[derive(Subcommand)]
pub enum ChangeMfaCommand {
    /// Register or Deregister a public key using token-sign mfa strategy
    TokenSign(TokenSignArgs),
}

#[derive(Args)]
#[command(
    override_usage = "user change-mfa token-sign [OPTIONS] --username <USERNAME> --role <ROLE> \
                      <--token <TOKEN>|--deregister|--sign-with <KEY>>"
)]
pub struct TokenSignArgs {
    /// Username of the user that will be modified
    #[arg(long, value_name = "USERNAME")]
    username: String,
    /// Role the user has in the cluster
    #[arg(long, value_name = "ROLE")]
    role: RoleArg,
    /// Optional: the user's password in plain text, set by this command. If you leave it
    /// out, you are prompted for it twice (without echo)
    #[arg(long, value_name = "CHANGE_PASSWORD")]
    change_password: Option<String>,
    /// Filepath where the unsigned token file will be written. Required for enabling MFA for
    /// a user (not needed with --sign-with, which writes no file)
    #[arg(
        long,
        value_name = "TOKEN",
        required_unless_present_any = ["deregister", "sign_with"]
    )]
    token: Option<PathBuf>,
    /// Deregister the MFA public key, if present
    #[arg(long, conflicts_with_all = ["token", "sign_with"])]
    deregister: bool,
    /// Change the Quorum public key along with the MFA key
    #[arg(long)]
    change_quorum: bool,
    /// Register this RSA private key's public key (a PEM file, or the pkcs11: URI of a key
    /// on a PKCS#11 token), signing each token with it through the library, instead of
    /// writing the token file and asking for the signed one and the public key
    #[arg(long, value_name = "KEY")]
    sign_with: Option<PathBuf>,
    #[command(flatten)]
    approval: ApprovalArg,
}

pub fn list(ctx: &mut Context, target: &TargetArgs) -> Outcome<UserList> {
    ctx.clusters
        .session(target)?
        .run(async |ses| ses.list_users().await)
        .map_err(|e| e.to_string())
}

pub fn create(ctx: &mut Context, target: &TargetArgs, args: CreateArgs) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    let approval = args.approval.load()?;
    let password = ctx.input.new_password_or_ask(args.password)?;
    let role = args.role.into();
    approved(
        ctx.clusters.logged_in(target)?,
        approval.as_ref(),
        |session| {
            session
                .run(async |ses| ses.create_user(&args.username, role, &password).await)
                .map_err(|e| e.to_string())
        },
    )?;
    Ok(Identity::new(&args.username, role))
}

pub fn delete(ctx: &mut Context, target: &TargetArgs, args: DeleteArgs) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    let approval = args.approval.load()?;
    let role = args.role.into();
    approved(
        ctx.clusters.logged_in(target)?,
        approval.as_ref(),
        |session| {
            session
                .run(async |ses| ses.delete_user(&args.username, role).await)
                .map_err(|e| e.to_string())
        },
    )?;
    Ok(Identity::new(&args.username, role))
}

pub fn change_password(
    ctx: &mut Context,
    target: &TargetArgs,
    args: ChangePasswordArgs,
) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    let approval = args.approval.load()?;
    let password = ctx.input.new_password_or_ask(args.password)?;
    let role = args.role.into();
    let (mfa, quorum) = (args.deregister_mfa, args.deregister_quorum);
    approved(
        ctx.clusters.logged_in(target)?,
        approval.as_ref(),
        |session| {
            session
                .run(async |ses| {
                    ses.change_password_deregistering(&args.username, role, &password, mfa, quorum)
                        .await
                })
                .map_err(|e| e.to_string())
        },
    )?;
    Ok(Identity::new(&args.username, role))
}

pub fn change_mfa(
    ctx: &mut Context,
    target: &TargetArgs,
    ChangeMfaCommand::TokenSign(args): ChangeMfaCommand,
) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    let approval = args.approval.load()?;
    let key = match &args.sign_with {
        Some(path) => Some(crate::key_file::open_private(path)?),
        None => None,
    };
    let password = ctx
        .input
        .new_password_or_ask(args.change_password.clone())?;
    let session = ctx.clusters.logged_in(target)?;
    if let Some(file) = &approval {
        session
            .run(async |ses| ses.set_approval(file))
            .map_err(|e| e.to_string())?;
    }
    let result = change_mfa_steps(ctx, target, args, key, &password);
    if let Ok(session) = ctx.clusters.session(target) {
        let _ = session.run(async |ses| {
            ses.clear_approval();
            Ok::<_, cloudhsm_mfa::Error>(())
        });
    }
    result
}

/// The steps of `user change-mfa token-sign`, with the approval (if any) set.
fn change_mfa_steps(
    ctx: &mut Context,
    target: &TargetArgs,
    args: TokenSignArgs,
    key: Option<SigningKey>,
    password: &str,
) -> Outcome<Identity> {
    let role = args.role.into();
    let user = args.username.as_str();
    let quorum = args.change_quorum;
    let session = ctx.clusters.logged_in(target)?;
    if args.deregister {
        session
            .run(async |ses| ses.deregister_mfa(user, role, password, quorum).await)
            .map_err(|e| e.to_string())?;
    } else if let Some(key) = key {
        let public = key.public_key().map_err(|e| e.to_string())?;
        session
            .run(async |ses| {
                ses.change_mfa_with(user, role, &public, password, quorum, &key)
                    .await
            })
            .map_err(|e| e.to_string())?;
    } else {
        let Some(token) = args.token else {
            return Err(
                "user change-mfa token-sign needs --token, --sign-with or --deregister".into(),
            );
        };
        session
            .run(async |ses| ses.change_mfa_begin(user, role, &token).await)
            .map_err(|e| e.to_string())?;
        let signed = ctx.input.answer(SIGNED_TOKEN_FILE)?;
        let session = ctx.clusters.logged_in(target)?;
        let public_path = ctx.input.answer(PUBLIC_KEY_FILE)?;
        if public_path.is_empty() {
            return Err(
                "no public key PEM file was given: the HSMs check the signed tokens with it; \
                 run the command again"
                    .into(),
            );
        }
        let public = crate::key_file::open_public(Path::new(&public_path))?;
        session
            .run(async |ses| {
                ses.change_mfa_finish(answered_path(&signed), &public, password, quorum)
                    .await
            })
            .map_err(|e| e.to_string())?;
    }
    Ok(Identity::new(user, role))
}
