//! Line editing for interactive mode on a terminal, through `rustyline`: arrows and the
//! usual keys, history (kept in a file, mode 0600, without the lines that may hold a
//! secret), completion of command and option names from the command definitions, Ctrl-C
//! cancelling the line and Ctrl-D ending the session. The editor draws on the terminal
//! itself (`/dev/tty`), so stdout still carries only the JSON results.

use std::path::PathBuf;

use rustyline::completion::{Completer, Pair};
use rustyline::config::{Behavior, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use zeroize::Zeroizing;

/// The environment variable naming the history file; empty keeps no history file.
pub const HISTORY_ENV: &str = "CLOUDHSM_MFA_HISTORY";
/// The history file under `$HOME` when the variable is not set.
const HISTORY_FILE: &str = ".cloudhsm_mfa_history";
/// The most lines kept.
const HISTORY_SIZE: usize = 1000;

/// Options whose value is a secret: a line with one of them never enters the history.
const SECRET_OPTIONS: [&str; 4] = [
    "--password",
    "--change-password",
    "--mfa-code",
    "--user-code",
];
/// Words that mark a secret inside a value (a `pkcs11:` URI's PIN).
const SECRET_MARKS: [&str; 1] = ["pin-value="];

/// What the user did at the prompt.
pub enum Read {
    /// A line (without its line ending).
    Line(Zeroizing<String>),
    /// Ctrl-C: the line was dropped; ask again.
    Cancelled,
    /// Ctrl-D on an empty line, or the terminal closed.
    End,
}

/// The command tree, for completion.
struct Commands {
    root: clap::Command,
}

impl Commands {
    /// The names that can follow `words` (the complete words before the one being typed):
    /// subcommands, or the long options of the command reached when `option` is set.
    fn candidates(&self, words: &[&str], option: bool) -> Vec<String> {
        let mut node = &self.root;
        for word in words {
            if word.starts_with('-') {
                continue;
            }
            match node.find_subcommand(word) {
                Some(sub) => node = sub,
                None => continue,
            }
        }
        if option {
            node.get_arguments()
                .filter(|a| !a.is_hide_set())
                .filter_map(|a| a.get_long())
                .map(|l| format!("--{l}"))
                .collect()
        } else {
            node.get_subcommands()
                .filter(|c| !c.is_hide_set())
                .map(|c| c.get_name().to_string())
                .collect()
        }
    }
}

impl Completer for Commands {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let partial = &before[start..];
        let words: Vec<&str> = before[..start].split_whitespace().collect();
        let mut names = self.candidates(&words, partial.starts_with('-'));
        names.retain(|n| n.starts_with(partial));
        names.sort();
        names.dedup();
        Ok((
            start,
            names
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: format!("{n} "),
                })
                .collect(),
        ))
    }
}

impl Hinter for Commands {
    type Hint = String;
}
impl Highlighter for Commands {}
impl Validator for Commands {}
impl Helper for Commands {}

/// The line editor of an interactive session on a terminal.
pub struct LineEditor {
    editor: Editor<Commands, FileHistory>,
    history: Option<PathBuf>,
}

/// Where the history is kept: `$CLOUDHSM_MFA_HISTORY`, else `~/.cloudhsm_mfa_history`;
/// `None` when the variable is empty or there is no home directory.
fn history_path() -> Option<PathBuf> {
    match std::env::var_os(HISTORY_ENV) {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(HISTORY_FILE)),
    }
}

/// Whether a command line may hold a secret, and so stays out of the history.
pub fn may_hold_secret(words: &[String]) -> bool {
    words.iter().any(|w| {
        SECRET_OPTIONS
            .iter()
            .any(|o| w == o || w.starts_with(&format!("{o}=")))
            || SECRET_MARKS.iter().any(|m| w.contains(m))
    })
}

impl LineEditor {
    /// An editor completing from `commands` (the interactive command tree), with the
    /// history file loaded when there is one.
    pub fn new(mut commands: clap::Command) -> Result<LineEditor, String> {
        commands.build();
        let config = Config::builder()
            .behavior(Behavior::PreferTerm)
            .auto_add_history(false)
            .max_history_size(HISTORY_SIZE)
            .map_err(|e| e.to_string())?
            .history_ignore_space(true)
            .build();
        let mut editor = Editor::with_config(config)
            .map_err(|e| format!("cannot set up line editing on the terminal: {e}"))?;
        editor.set_helper(Some(Commands { root: commands }));
        let history = history_path();
        if let Some(path) = &history {
            // A missing or unreadable history file is no reason not to start.
            let _ = editor.load_history(path);
        }
        Ok(LineEditor { editor, history })
    }

    /// The next line after `prompt`.
    pub fn read(&mut self, prompt: &str) -> Result<Read, String> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(Read::Line(Zeroizing::new(line))),
            Err(ReadlineError::Interrupted) => Ok(Read::Cancelled),
            Err(ReadlineError::Eof) => Ok(Read::End),
            Err(e) => Err(format!("cannot read the terminal: {e}")),
        }
    }

    /// Adds a command line that ran to the history (and its file), unless it may hold a
    /// secret.
    pub fn remember(&mut self, line: &str, words: &[String]) {
        if may_hold_secret(words) {
            return;
        }
        let _ = self.editor.add_history_entry(line);
        if let Some(path) = &self.history {
            save_private(&mut self.editor, path);
        }
    }
}

/// Writes the history to `path`, the file made with mode 0600 first if it is new (an
/// existing file keeps its mode).
fn save_private(editor: &mut Editor<Commands, FileHistory>, path: &std::path::Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path);
    let _ = editor.save_history(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn lines_with_secret_options_or_pins_stay_out_of_the_history() {
        assert!(may_hold_secret(&words(
            "login --username a --role admin --password x"
        )));
        assert!(may_hold_secret(&words("login --username a --password=x")));
        assert!(may_hold_secret(&words(
            "user change-password --change-password x"
        )));
        assert!(may_hold_secret(&words(
            "tokens sign --private-key pkcs11:token=t?pin-value=1"
        )));
        assert!(!may_hold_secret(&words("user list")));
        assert!(!may_hold_secret(&words("login --username a --role admin")));
    }
}
