//! Interactive mode: the `aws-cloudhsm > ` prompt, one command per line in the syntax of
//! single commands, one session per cluster kept with its login from command to command.
//! Answers to a command's prompts come from the same input, so a whole session can be
//! piped in. Each command prints its JSON result on stdout; the prompts go to stderr.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::commands::{self, HsmCommand};
use crate::keygen::{self, KeygenArgs};
use crate::output::{self, no_help_when_empty};
use crate::session::{Context, Mode, TargetArgs};
use crate::tokens::{self, TokensCommand};

pub const PROMPT: &str = "aws-cloudhsm > ";

/// A command line of interactive mode.
#[derive(Parser)]
#[command(
    name = "aws-cloudhsm",
    about = "Interactive mode: one command per line; the login lasts until logout or quit",
    no_binary_name = true,
    disable_version_flag = true,
    override_usage = "<COMMAND> [OPTIONS]",
    after_help = "Type `help <COMMAND>` for a command's options. Prompts read the next \
                  line; passwords are not echoed."
)]
struct Line {
    #[command(flatten)]
    target: TargetArgs,
    #[command(subcommand)]
    command: LineCommand,
}

#[derive(Subcommand)]
enum LineCommand {
    #[command(flatten)]
    Hsm(HsmCommand),
    /// Sign, verify and inspect token files
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// Generate an RSA key pair for token-sign MFA and quorum approvals
    Keygen(KeygenArgs),
    /// Leave interactive mode
    Quit,
    /// Leave interactive mode
    Exit,
}

/// Reads and runs commands until `quit`, `exit` or the end of input. The exit status is 0
/// when every command succeeded, 1 otherwise.
pub fn run(defaults: TargetArgs) -> ExitCode {
    let mut ctx = Context::new(Mode::Interactive);
    let parser = no_help_when_empty(Line::command());
    let mut known: Vec<String> = parser
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    known.push("help".into());
    let mut failed = false;
    loop {
        let line = match ctx.input.line(PROMPT) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(message) => {
                output::emit::<()>(Err(message));
                return ExitCode::FAILURE;
            }
        };
        let words = match shell_words::split(&line) {
            Ok(words) => Zeroizing::new(words),
            Err(_) => {
                failed |= output::emit::<()>(Err(
                    "the command line has a quote that is not closed".into(),
                )) != ExitCode::SUCCESS;
                continue;
            }
        };
        let Some(first) = words.first() else {
            continue;
        };
        // A line that is no command may be an answer meant for a prompt (a password):
        // it is never repeated in the output.
        if !first.starts_with('-') && !known.iter().any(|k| k == first) {
            failed = true;
            output::emit::<()>(Err(
                "not a command (the line is not shown, in case it holds a secret); \
                 type help to list the commands"
                    .into(),
            ));
            continue;
        }
        let parsed = parser
            .clone()
            .try_get_matches_from(words.iter())
            .and_then(|m| Line::from_arg_matches(&m));
        let line = match parsed {
            Ok(line) => line,
            Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp) => {
                println!("{}", e.render().to_string().trim_end());
                continue;
            }
            Err(e) => {
                failed |= output::argument_error(e, &words) != ExitCode::SUCCESS;
                continue;
            }
        };
        let target = line.target.or(&defaults);
        let code = match line.command {
            LineCommand::Quit | LineCommand::Exit => break,
            LineCommand::Hsm(cmd) => commands::run(&mut ctx, &target, cmd),
            LineCommand::Tokens(cmd) => tokens::run(cmd),
            LineCommand::Keygen(args) => keygen::run(args),
        };
        failed |= code != ExitCode::SUCCESS;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
