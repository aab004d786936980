//! The cluster commands, with the CloudHSM CLI's names, shared by single-command mode and
//! interactive mode.

use std::process::ExitCode;

use clap::Subcommand;

use crate::cluster::{self, ClusterCommand};
use crate::login::{self, LoginArgs};
use crate::mfa;
use crate::output::emit;
use crate::quorum::{self, QuorumCommand};
use crate::session::{Context, OnCluster, TargetArgs, TargetOnly, WithTarget};
use crate::user::{self, UserCommand};

#[derive(Subcommand)]
pub enum HsmCommand {
    /// Login to your cluster
    Login(WithTarget<LoginArgs>),
    /// Logout of your cluster
    Logout(TargetOnly),
    /// Manage users: list, create, delete, change-password, change-mfa, change-quorum
    User(OnCluster<UserCommand>),
    /// Manage quorum authentication: tokens, approvals, quorum values
    Quorum(OnCluster<QuorumCommand>),
    /// Manage the cluster: activate
    Cluster(OnCluster<ClusterCommand>),
}

impl HsmCommand {
    /// The cluster options given with the command.
    pub fn target(&self) -> &TargetArgs {
        match self {
            HsmCommand::Login(c) => &c.target,
            HsmCommand::Logout(c) => &c.target,
            HsmCommand::User(c) => &c.target,
            HsmCommand::Quorum(c) => &c.target,
            HsmCommand::Cluster(c) => &c.target,
        }
    }
}

/// Runs `cmd` on the cluster its options choose, `defaults` filling in the options not
/// given, and prints its JSON result.
pub fn run(ctx: &mut Context, defaults: &TargetArgs, cmd: HsmCommand) -> ExitCode {
    let target = &cmd.target().or(defaults);
    match cmd {
        HsmCommand::Login(c) => emit(login::login(ctx, target, c.args)),
        HsmCommand::Logout(_) => emit(login::logout(ctx, target)),
        HsmCommand::User(OnCluster { command, .. }) => match command {
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
        HsmCommand::Quorum(c) => quorum::run(ctx, target, c.command),
        HsmCommand::Cluster(c) => emit(cluster::run(ctx, target, c.command)),
    }
}
