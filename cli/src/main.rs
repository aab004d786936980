//! `cloudhsm-mfa`: the command line of libcloudhsm_mfa. It parses arguments, prints prompts
//! and output, and leaves every decision about token files, keys and clusters to the library.
//!
//! Every command prints one JSON document on stdout, `{"error_code": 0, "data": ...}` or
//! `{"error_code": 1, "data": "<message>"}`, and exits 0 or 1 (SPEC §9). Prompts go to
//! stderr.

mod cluster;
mod commands;
mod interactive;
mod key_file;
mod keygen;
mod line_editor;
mod logging;
mod login;
mod mfa;
mod output;
mod prompt;
mod quickstart;
mod quorum;
mod session;
mod tokens;
mod user;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use session::{Context, LeadingTarget, Mode, TargetOnly};

/// Token-sign MFA and quorum approvals for HSM clusters.
#[derive(Parser)]
#[command(name = "cloudhsm-mfa", version)]
struct Cli {
    #[command(flatten)]
    leading: LeadingTarget,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Hsm(commands::HsmCommand),
    /// Run commands one per line at the `aws-cloudhsm > ` prompt, keeping the login
    /// between them; `help` lists the commands, `quit` ends
    Interactive(TargetOnly),
    /// Sign, verify and inspect token files
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Generate an RSA key pair for token-sign MFA and quorum approvals
    Keygen(keygen::KeygenArgs),
    /// Walk through token-sign MFA on a local 3-HSM cluster in a temporary directory:
    /// activate, create a user, register, log in, rotate, list
    Quickstart(quickstart::QuickstartArgs),
}

/// What the command line asks for: a command, or (hidden, for `make`) the man pages and
/// completions written to a directory.
enum Request {
    Run(Box<Cli>),
    GenerateDocs(std::path::PathBuf),
}

fn parse() -> Result<Request, clap::Error> {
    let cmd = cli_docs::with_generator(output::no_help_when_empty(Cli::command()));
    let matches = cmd.try_get_matches()?;
    if let Some(dir) = cli_docs::requested(&matches) {
        return Ok(Request::GenerateDocs(dir));
    }
    Cli::from_arg_matches(&matches).map(|cli| Request::Run(Box::new(cli)))
}

/// Passwords pass through this process: freed memory is wiped (see
/// `cloudhsm_mfa::process`).
#[global_allocator]
static ALLOCATOR: cloudhsm_mfa::process::WipingAllocator =
    cloudhsm_mfa::process::WipingAllocator::new(std::alloc::System);

fn main() -> ExitCode {
    // Best effort: without it the process still runs, as before.
    let _ = cloudhsm_mfa::process::forbid_core_dumps();
    if std::env::args_os().len() <= 1 {
        // No command at all: what there is to do, on stdout.
        return match Cli::command().print_help() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let cli = match parse() {
        Ok(Request::Run(cli)) => cli,
        Ok(Request::GenerateDocs(dir)) => {
            let written = cli_docs::generate(Cli::command(), &dir)
                .map(|files| serde_json::json!({ "files": files }))
                .map_err(|e| format!("cannot write the man pages and completions: {e}"));
            return output::emit(written);
        }
        Err(e) => {
            // The words as text, only to say where a bad one is (never to repeat it).
            let words: zeroize::Zeroizing<Vec<String>> = zeroize::Zeroizing::new(
                std::env::args_os()
                    .skip(1)
                    .map(|w| w.to_string_lossy().into_owned())
                    .collect(),
            );
            return output::argument_error(e, &words);
        }
    };
    let Cli { leading, command } = *cli;
    let no_cluster = |name: &str| leading.refuse(name).map_err(|e| output::emit::<()>(Err(e)));
    if let Err(e) = logging::start(match &command {
        Command::Hsm(cmd) => Some(cmd.target().or(&leading.target())),
        Command::Interactive(c) => Some(c.target.or(&leading.target())),
        _ => None,
    }) {
        return output::emit::<()>(Err(e));
    }
    match command {
        Command::Hsm(cmd) => commands::run(&mut Context::new(Mode::Single), &leading.target(), cmd),
        Command::Interactive(c) => interactive::run(c.target.or(&leading.target())),
        Command::Tokens(cmd) => no_cluster("tokens").map_or_else(|e| e, |()| tokens::run(cmd)),
        Command::Keygen(args) => no_cluster("keygen").map_or_else(|e| e, |()| keygen::run(args)),
        Command::Quickstart(args) => {
            no_cluster("quickstart").map_or_else(|e| e, |()| quickstart::run(args))
        }
    }
}
