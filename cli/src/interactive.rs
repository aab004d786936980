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
use crate::line_editor::{LineEditor, Read};
use crate::output::{self, no_help_when_empty};
use crate::session::{Context, LeadingTarget, Mode, TargetArgs};
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
    leading: LeadingTarget,
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
    // On a terminal: line editing, and Ctrl-C cancels a line instead of ending the session
    // (and its login) while a command runs.
    let mut editor = None;
    if ctx.input.is_terminal() {
        match LineEditor::new(parser.clone()) {
            Ok(e) => editor = Some(e),
            Err(message) => eprintln!("warning: {message}; reading lines without editing"),
        }
        let _ = signal_hook::flag::register(
            signal_hook::consts::SIGINT,
            std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
        );
    }
    let mut failed = false;
    loop {
        let read = match &mut editor {
            Some(editor) => editor.read(PROMPT),
            None => ctx
                .input
                .line(PROMPT)
                .map(|l| l.map_or(Read::End, Read::Line)),
        };
        let text = match read {
            Ok(Read::Line(text)) => text,
            Ok(Read::Cancelled) => continue,
            Ok(Read::End) => break,
            Err(message) => {
                output::emit::<()>(Err(message));
                return ExitCode::FAILURE;
            }
        };
        let words = match shell_words::split(&text) {
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
            let guess = output::did_you_mean(first, &known)
                .map(|k| format!("did you mean {k}? "))
                .unwrap_or_default();
            output::emit::<()>(Err(format!(
                "not a command (the line is not shown, in case it holds a secret); \
                 {guess}type help to list the commands"
            )));
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
        if let Some(editor) = &mut editor {
            editor.remember(&text, &words);
        }
        let leading = line.leading;
        let refused = |name: &str| leading.refuse(name).map_err(|e| output::emit::<()>(Err(e)));
        let code = match line.command {
            LineCommand::Quit | LineCommand::Exit => break,
            LineCommand::Hsm(cmd) => commands::run(&mut ctx, &leading.target().or(&defaults), cmd),
            LineCommand::Tokens(cmd) => refused("tokens").map_or_else(|e| e, |()| tokens::run(cmd)),
            LineCommand::Keygen(args) => {
                refused("keygen").map_or_else(|e| e, |()| keygen::run(args))
            }
        };
        failed |= code != ExitCode::SUCCESS;
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
