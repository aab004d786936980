//! The JSON envelope every command prints (SPEC §9), and the names used in its data.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use cloudhsm_mfa::quote::{shorten, QUOTE_LIMIT};
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

/// Answers a command line clap could not parse (`words`: the line's words, without the
/// program's name). `--help` and `--version` print as usual and succeed; anything else is
/// an error envelope on stdout with exit status 1.
pub fn argument_error(e: clap::Error, words: &[String]) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => emit::<()>(Err(argument_message(&e, words))),
    }
}

/// The commands whose lines can hold a password (given by mistake as a stray word, or as
/// the value of a misspelt option).
const PASSWORD_COMMANDS: [&str; 3] = ["login", "user", "cluster"];

/// The message for an argument error. On a line that can hold a password it never repeats
/// a word the user typed: it says where the word is instead. Elsewhere it is clap's, with
/// long words cut short.
fn argument_message(e: &clap::Error, words: &[String]) -> String {
    // A word that is no command may be a password typed at the wrong moment: it is never
    // repeated, wherever it is.
    let sensitive = e.kind() == ErrorKind::InvalidSubcommand
        || words
            .iter()
            .any(|w| PASSWORD_COMMANDS.contains(&w.as_str()));
    let typed = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let strings = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => vec![s.clone()],
        Some(ContextValue::Strings(v)) => v.clone(),
        _ => Vec::new(),
    };
    let hidden = match e.kind() {
        ErrorKind::UnknownArgument => typed(ContextKind::InvalidArg),
        ErrorKind::InvalidSubcommand => typed(ContextKind::InvalidSubcommand),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => typed(ContextKind::InvalidValue),
        ErrorKind::NoEquals | ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues => {
            typed(ContextKind::InvalidValue).or(Some(""))
        }
        _ => None,
    };
    if !sensitive || hidden.is_none() {
        return clap_text(e, words);
    }
    let at = hidden
        .and_then(|w| {
            words
                .iter()
                .position(|x| !w.is_empty() && (x == w || x.starts_with(&format!("{w}="))))
        })
        .map(|i| format!(" at position {}", i + 1))
        .unwrap_or_default();
    let arg = typed(ContextKind::InvalidArg).unwrap_or("an option");
    let tip = |kind| {
        let s = strings(kind);
        if s.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", s.join(" or "))
        }
    };
    let not_shown = "the word is not shown, in case it is a password";
    match e.kind() {
        ErrorKind::UnknownArgument => format!(
            "unexpected argument{at}{}; passwords are given with --password or at the prompt ({not_shown})",
            tip(ContextKind::SuggestedArg)
        ),
        ErrorKind::InvalidSubcommand => format!(
            "unexpected argument or unrecognized subcommand{at}{}; passwords are given with \
             --password or at the prompt ({not_shown}); type help to list the commands",
            tip(ContextKind::SuggestedSubcommand)
        ),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let valid = strings(ContextKind::ValidValue);
            let valid = if valid.is_empty() {
                String::new()
            } else {
                format!("; possible values: {}", valid.join(", "))
            };
            format!("invalid value{at} for '{arg}'{valid} ({not_shown})")
        }
        _ => format!("wrong number of values{at} for '{arg}' ({not_shown})"),
    }
}

/// clap's own message, without its "error: " prefix, every long word of the line cut short.
fn clap_text(e: &clap::Error, words: &[String]) -> String {
    let text = e.render().to_string();
    let mut text = text.trim();
    text = text.strip_prefix("error: ").unwrap_or(text);
    let mut text = text.to_string();
    for w in words.iter().filter(|w| w.chars().count() > QUOTE_LIMIT) {
        text = text.replace(w.as_str(), &shorten(w));
    }
    text
}

/// The known name closest to `typed`, when one is close enough to be a typo of it (the
/// measure clap uses for its own suggestions).
pub fn did_you_mean<'a>(typed: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro(typed, k), k))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// A path as it appears in output.
pub fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// Lower-case hexadecimal of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
