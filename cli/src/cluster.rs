//! `cluster activate`: sets the first admin's password on a new cluster (no login needed).

use clap::{Args, Subcommand};

use crate::output::Outcome;
use crate::session::{Context, TargetArgs};

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Activate a cluster: set the initial Admin password, which moves the cluster into the
    /// ACTIVE state
    Activate(ActivateArgs),
}

#[derive(Args)]
pub struct ActivateArgs {
    /// Optional: the activation password in plain text. If you leave it out, you are
    /// prompted for it twice (without echo)
    #[arg(long, value_name = "PASSWORD")]
    password: Option<String>,
}

pub fn run(ctx: &mut Context, target: &TargetArgs, cmd: ClusterCommand) -> Outcome<&'static str> {
    match cmd {
        ClusterCommand::Activate(args) => activate(ctx, target, args),
    }
}

fn activate(ctx: &mut Context, target: &TargetArgs, args: ActivateArgs) -> Outcome<&'static str> {
    ctx.clusters.check(target, false)?;
    let password = ctx.input.new_password_or_ask(args.password)?;
    ctx.clusters
        .session(target)?
        .run(async |ses| ses.activate_cluster(&password).await)
        .map_err(|e| e.to_string())?;
    Ok("Cluster activation successful")
}
