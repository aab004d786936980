//! The JSON envelope every command prints (SPEC §9), and the names used in its data.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::error::ErrorKind;
use serde::Serialize;

/// What a command hands back: its data, or the message of what failed.
pub type Outcome<T> = Result<T, String>;

#[derive(Serialize)]
struct Envelope<T> {
    error_code: u8,
    data: T,
}

/// Prints the envelope, pretty-printed with two-space indentation, and gives the exit
/// status: 0 on success, 1 on failure.
pub fn emit<T: Serialize>(outcome: Outcome<T>) -> ExitCode {
    let (text, code) = match outcome {
        Ok(data) => match serde_json::to_string_pretty(&Envelope {
            error_code: 0,
            data,
        }) {
            Ok(text) => (text, ExitCode::SUCCESS),
            Err(e) => (
                failure_json(&format!("cannot encode the output: {e}")),
                ExitCode::FAILURE,
            ),
        },
        Err(message) => (failure_json(&message), ExitCode::FAILURE),
    };
    let mut out = std::io::stdout().lock();
    // A closed stdout (a pipe to `head`, say) leaves nothing else to tell.
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    code
}

fn failure_json(message: &str) -> String {
    let envelope = Envelope {
        error_code: 1,
        data: message,
    };
    serde_json::to_string_pretty(&envelope)
        .unwrap_or_else(|_| String::from("{\n  \"error_code\": 1,\n  \"data\": \"error\"\n}"))
}

/// A missing command is an argument error like any other, answered with the JSON
/// envelope, rather than a help page on stderr.
pub fn no_help_when_empty(cmd: clap::Command) -> clap::Command {
    cmd.arg_required_else_help(false)
        .mut_subcommands(no_help_when_empty)
}

/// Answers a command line clap could not parse. `--help` and `--version` print as usual
/// and succeed; anything else is an error envelope on stdout with exit status 1.
pub fn argument_error(e: clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.render().to_string();
            let text = text.trim();
            let message = text.strip_prefix("error: ").unwrap_or(text);
            emit::<()>(Err(message.to_string()))
        }
    }
}

/// A path as it appears in output.
pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
