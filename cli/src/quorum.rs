//! `quorum token-sign generate | list | list-quorum-values | set-quorum-value | delete`,
//! `user change-quorum token-sign register`, and the `--approval FILE` that the gated
//! commands take (SPEC §7).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use cloudhsm_mfa::blocking::Session;
use cloudhsm_mfa::client::{QuorumTokenList, QuorumValueList};
use cloudhsm_mfa::proto::{DeleteScope, Service};
use cloudhsm_mfa::TokenFile;
use serde::Serialize;

use crate::output::{path_text, Outcome};
use crate::session::{Context, Identity, TargetArgs};

#[derive(Subcommand)]
pub enum QuorumCommand {
    /// Quorum operations with the token-sign strategy
    #[command(subcommand)]
    TokenSign(TokenSignCommand),
}

#[derive(Subcommand)]
pub enum TokenSignCommand {
    /// Generate a token for a service: a quorum approval file, or a registration file. The
    /// token lasts as long as this login (use it in the same interactive session) and at
    /// most 10 minutes
    Generate(GenerateArgs),
    /// List every open quorum token of the cluster
    List,
    /// List the quorum value of each service
    ListQuorumValues,
    /// Set the quorum value of a service
    SetQuorumValue(SetValueArgs),
    /// Delete quorum tokens: your own, or every user's
    Delete(DeleteArgs),
}

/// A quorum service as typed on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum ServiceArg {
    /// User management: user create, delete, change-password, change-mfa
    User,
    /// Setting quorum values
    Quorum,
    /// Quorum key registration (user change-quorum token-sign register)
    Registration,
}

impl From<ServiceArg> for Service {
    fn from(s: ServiceArg) -> Service {
        match s {
            ServiceArg::User => Service::User,
            ServiceArg::Quorum => Service::Quorum,
            ServiceArg::Registration => Service::Registration,
        }
    }
}

/// A service that has a quorum value.
#[derive(Clone, Copy, ValueEnum)]
pub enum GatedServiceArg {
    /// User management: user create, delete, change-password, change-mfa
    User,
    /// Setting quorum values
    Quorum,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ScopeArg {
    /// Your own tokens
    User,
    /// Every user's tokens (admins)
    All,
}

#[derive(Args)]
pub struct GenerateArgs {
    /// Service the token is for
    #[arg(long, value_name = "SERVICE")]
    service: ServiceArg,
    /// Filepath where the token file will be written
    #[arg(long, value_name = "TOKEN")]
    token: PathBuf,
}

#[derive(Args)]
pub struct SetValueArgs {
    /// Service whose quorum value is set
    #[arg(long, value_name = "SERVICE")]
    service: GatedServiceArg,
    /// The quorum value: 1 (off) to 8
    #[arg(long, value_name = "VALUE")]
    value: u32,
    #[command(flatten)]
    approval: ApprovalArg,
}

#[derive(Args)]
pub struct DeleteArgs {
    /// Whose tokens: user (your own) or all (every user's, admins only)
    #[arg(long, value_name = "SCOPE")]
    scope: ScopeArg,
}

/// The quorum approval of a gated command.
#[derive(Args, Default)]
pub struct ApprovalArg {
    /// Filepath of the signed quorum approval file, when the service's quorum value is
    /// above 1
    #[arg(long, value_name = "APPROVAL")]
    pub approval: Option<PathBuf>,
}

impl ApprovalArg {
    /// The approval file, read before anything is sent.
    pub fn load(&self) -> Result<Option<TokenFile>, String> {
        self.approval
            .as_deref()
            .map(|p| TokenFile::load(p).map_err(|e| e.to_string()))
            .transpose()
    }
}

/// Runs `op` on `session` with `approval` (if any) set for it alone: whatever happens,
/// the session keeps no approval afterwards.
pub fn approved<T>(
    session: &mut Session,
    approval: Option<&TokenFile>,
    op: impl FnOnce(&mut Session) -> Result<T, String>,
) -> Result<T, String> {
    if let Some(file) = approval {
        session
            .run(async |s| s.set_approval(file))
            .map_err(|e| e.to_string())?;
    }
    let result = op(session);
    let _ = session.run(async |s| {
        s.clear_approval();
        Ok::<_, cloudhsm_mfa::Error>(())
    });
    result
}

#[derive(Subcommand)]
pub enum ChangeQuorumCommand {
    /// Register a quorum public key with the token-sign strategy
    #[command(subcommand)]
    TokenSign(ChangeQuorumTokenSign),
}

#[derive(Subcommand)]
pub enum ChangeQuorumTokenSign {
    /// Register the logged-in user's quorum public key from a signed registration token
    Register(RegisterArgs),
}

#[derive(Args)]
pub struct RegisterArgs {
    /// Filepath of the quorum public key (PEM), or the pkcs11: URI of the key pair on a
    /// PKCS#11 token
    #[arg(long, value_name = "PUBLIC_KEY")]
    public_key: PathBuf,
    /// Filepath of the registration token file, signed with the matching private key
    #[arg(long, value_name = "SIGNED_TOKEN")]
    signed_token: PathBuf,
}

#[derive(Serialize)]
pub struct Written {
    filepath: String,
}

/// Runs a `quorum token-sign` command and prints its JSON result.
pub fn run(
    ctx: &mut Context,
    target: &TargetArgs,
    QuorumCommand::TokenSign(cmd): QuorumCommand,
) -> std::process::ExitCode {
    use crate::output::emit;
    match cmd {
        TokenSignCommand::Generate(args) => emit(generate(ctx, target, args)),
        TokenSignCommand::List => emit(list(ctx, target)),
        TokenSignCommand::ListQuorumValues => emit(values(ctx, target)),
        TokenSignCommand::SetQuorumValue(args) => emit(set_value(ctx, target, args)),
        TokenSignCommand::Delete(args) => emit(delete(ctx, target, args)),
    }
}

fn generate(ctx: &mut Context, target: &TargetArgs, args: GenerateArgs) -> Outcome<Written> {
    ctx.clusters.check(target, true)?;
    let service = args.service.into();
    ctx.clusters
        .logged_in(target)?
        .run(async |s| s.generate_quorum_token(service, &args.token).await)
        .map_err(|e| e.to_string())?;
    Ok(Written {
        filepath: path_text(&args.token),
    })
}

fn list(ctx: &mut Context, target: &TargetArgs) -> Outcome<QuorumTokenList> {
    ctx.clusters.check(target, true)?;
    ctx.clusters
        .logged_in(target)?
        .run(async |s| s.list_quorum_tokens().await)
        .map_err(|e| e.to_string())
}

fn values(ctx: &mut Context, target: &TargetArgs) -> Outcome<QuorumValueList> {
    ctx.clusters
        .session(target)?
        .run(async |s| s.quorum_values().await)
        .map_err(|e| e.to_string())
}

fn set_value(ctx: &mut Context, target: &TargetArgs, args: SetValueArgs) -> Outcome<&'static str> {
    ctx.clusters.check(target, true)?;
    let approval = args.approval.load()?;
    let service = match args.service {
        GatedServiceArg::User => Service::User,
        GatedServiceArg::Quorum => Service::Quorum,
    };
    let session = ctx.clusters.logged_in(target)?;
    approved(session, approval.as_ref(), |session| {
        session
            .run(async |s| s.set_quorum_value(service, args.value).await)
            .map_err(|e| e.to_string())
    })?;
    Ok("Set Quorum Value successful")
}

fn delete(ctx: &mut Context, target: &TargetArgs, args: DeleteArgs) -> Outcome<&'static str> {
    ctx.clusters.check(target, true)?;
    let scope = match args.scope {
        ScopeArg::User => DeleteScope::User,
        ScopeArg::All => DeleteScope::All,
    };
    ctx.clusters
        .logged_in(target)?
        .run(async |s| s.delete_quorum_tokens(scope).await)
        .map_err(|e| e.to_string())?;
    Ok("Deletion of quorum token(s) successful")
}

/// `user change-quorum token-sign register`: answers the logged-in user.
pub fn register(
    ctx: &mut Context,
    target: &TargetArgs,
    ChangeQuorumCommand::TokenSign(ChangeQuorumTokenSign::Register(args)): ChangeQuorumCommand,
) -> Outcome<Identity> {
    ctx.clusters.check(target, true)?;
    let public = crate::key_file::open_public(Path::new(&args.public_key))?;
    let session = ctx.clusters.logged_in(target)?;
    session
        .run(async |s| s.register_quorum_key(&public, &args.signed_token).await)
        .map_err(|e| e.to_string())?;
    let (user, role) = session
        .logged_in()
        .map(|(u, r)| (u.to_string(), r))
        .ok_or("nobody is logged in")?;
    Ok(Identity::new(&user, role))
}
