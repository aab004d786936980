//! The cluster commands, with the CloudHSM CLI's names, shared by single-command mode and
//! interactive mode.

use std::process::ExitCode;

use clap::Subcommand;

use crate::cluster::{self, ClusterCommand};
use crate::login::{self, LoginArgs};
use crate::mfa;
use crate::output::emit;
use crate::quorum::{self, QuorumCommand};
use crate::session::{Context, TargetArgs};
use crate::user::{self, UserCommand};

#[derive(Subcommand)]
pub enum HsmCommand {
    /// Login to your cluster
    Login(LoginArgs),
    /// Logout of your cluster
    Logout,
    /// Manage users: list, create, delete, change-password, change-mfa, change-quorum
    #[command(subcommand)]
    User(UserCommand),
    /// Manage quorum authentication: tokens, approvals, quorum values
    #[command(subcommand)]
    Quorum(QuorumCommand),
    /// Manage the cluster: activate
    #[command(subcommand)]
    Cluster(ClusterCommand),
}

/// Runs `cmd` and prints its JSON result.
pub fn run(ctx: &mut Context, target: &TargetArgs, cmd: HsmCommand) -> ExitCode {
    match cmd {
        HsmCommand::Login(args) => emit(login::login(ctx, target, args)),
        HsmCommand::Logout => emit(login::logout(ctx, target)),
        HsmCommand::User(cmd) => match cmd {
            UserCommand::List => emit(user::list(ctx, target)),
            UserCommand::Create(args) => emit(user::create(ctx, target, args)),
            UserCommand::Delete(args) => emit(user::delete(ctx, target, args)),
            UserCommand::ChangePassword(args) => emit(user::change_password(ctx, target, args)),
            UserCommand::ChangeMfa(cmd) => emit(user::change_mfa(ctx, target, cmd)),
            UserCommand::ChangeQuorum(cmd) => emit(quorum::register(ctx, target, cmd)),
            UserCommand::SetMfaPreference(args) => mfa::set_command(ctx, target, args),
            UserCommand::GetMfaPreference(args) => emit(mfa::get(ctx, target, args)),
            UserCommand::AssociateSoftwareToken(args) => emit(mfa::associate(ctx, target, args)),
            UserCommand::VerifySoftwareToken(args) => emit(mfa::verify(ctx, target, args)),
            UserCommand::UpdateAttributes(args) => emit(mfa::update_attributes(ctx, target, args)),
        },
        HsmCommand::Quorum(cmd) => quorum::run(ctx, target, cmd),
        HsmCommand::Cluster(cmd) => emit(cluster::run(ctx, target, cmd)),
    }
}
