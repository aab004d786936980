//! `cloudhsm-mfa`: the command line of libcloudhsm_mfa. It parses arguments, prints prompts
//! and output, and leaves every decision about token files and keys to the library.
//!
//! Every command prints one JSON document on stdout, `{"error_code": 0, "data": ...}` or
//! `{"error_code": 1, "data": "<message>"}`, and exits 0 or 1 (SPEC §9).

mod keygen;
mod output;
mod quickstart;
mod tokens;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Token-sign MFA and quorum approvals for HSM clusters.
#[derive(Parser)]
#[command(name = "cloudhsm-mfa", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The command groups. Cluster commands (login, user, quorum) join this list.
#[derive(Subcommand)]
enum Command {
    /// Sign, verify and inspect token files
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Generate an RSA key pair for token-sign MFA and quorum approvals
    Keygen(keygen::KeygenArgs),
    /// Walk through key generation, token signing and an OpenSSL check in a temporary directory
    Quickstart(quickstart::QuickstartArgs),
}

/// A missing command is an argument error like any other, answered with the JSON
/// envelope, rather than a help page on stderr.
fn no_help_when_empty(cmd: clap::Command) -> clap::Command {
    cmd.arg_required_else_help(false)
        .mut_subcommands(no_help_when_empty)
}

fn parse() -> Result<Cli, clap::Error> {
    let matches = no_help_when_empty(Cli::command()).try_get_matches()?;
    Cli::from_arg_matches(&matches)
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return output::argument_error(e),
    };
    match cli.command {
        Command::Tokens(cmd) => tokens::run(cmd),
        Command::Keygen(args) => keygen::run(args),
        Command::Quickstart(args) => quickstart::run(args),
    }
}
