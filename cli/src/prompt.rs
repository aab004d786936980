//! Questions asked while a command runs: passwords (never echoed), file paths, and the
//! command lines of interactive mode. With a terminal on standard input, passwords are read
//! from the terminal with echo off; otherwise every answer is the next line of standard
//! input, so a whole session (commands and answers) can be piped in. Prompts go to stderr,
//! so that stdout carries only the JSON results.

use std::io::{BufRead, IsTerminal, StdinLock, Write};

use zeroize::Zeroizing;

pub const PASSWORD: &str = "Enter password:";
pub const CONFIRM_PASSWORD: &str = "Confirm password:";
pub const SIGNED_TOKEN_FILE: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";
pub const PUBLIC_KEY_FILE: &str = "Enter public key PEM file path:";

/// Standard input, shared by the command lines of interactive mode and the answers to
/// prompts.
pub struct Input {
    terminal: bool,
    stdin: StdinLock<'static>,
}

impl Input {
    pub fn new() -> Self {
        let stdin = std::io::stdin();
        Input {
            terminal: stdin.is_terminal(),
            stdin: stdin.lock(),
        }
    }

    /// The next line after `prompt`, without its line ending; `None` at the end of input.
    pub fn line(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, String> {
        show(prompt);
        let mut line = Zeroizing::new(String::new());
        let n = self
            .stdin
            .read_line(&mut line)
            .map_err(|e| format!("cannot read standard input: {e}"))?;
        if n == 0 {
            if !self.terminal {
                eprintln!();
            }
            return Ok(None);
        }
        if !self.terminal {
            // The answer came from a pipe, so nothing ended the prompt's line.
            eprintln!();
        }
        let end = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(end);
        Ok(Some(line))
    }

    /// The answer to `prompt`, trimmed; an error when input has ended.
    pub fn answer(&mut self, prompt: &str) -> Result<String, String> {
        match self.line(prompt)? {
            Some(line) => Ok(line.trim().to_string()),
            None => Err(ended(prompt)),
        }
    }

    /// A password, read without echo from the terminal, or as the next line of input.
    pub fn password(&mut self, prompt: &str) -> Result<Zeroizing<String>, String> {
        if self.terminal {
            return rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|e| format!("cannot read the password from the terminal: {e}"));
        }
        self.line(prompt)?.ok_or_else(|| ended(prompt))
    }

    /// A new password, asked twice; different answers are an error.
    pub fn new_password(&mut self) -> Result<Zeroizing<String>, String> {
        let first = self.password(PASSWORD)?;
        let second = self.password(CONFIRM_PASSWORD)?;
        if *first != *second {
            return Err(
                "the passwords do not match; nothing was changed: run the command again".into(),
            );
        }
        Ok(first)
    }

    /// `given` (from the command line) or the answer to "Enter password:".
    pub fn password_or_ask(&mut self, given: Option<String>) -> Result<Zeroizing<String>, String> {
        match given {
            Some(p) => Ok(Zeroizing::new(p)),
            None => self.password(PASSWORD),
        }
    }

    /// `given` (from the command line), or a new password asked twice.
    pub fn new_password_or_ask(
        &mut self,
        given: Option<String>,
    ) -> Result<Zeroizing<String>, String> {
        match given {
            Some(p) => Ok(Zeroizing::new(p)),
            None => self.new_password(),
        }
    }
}

fn show(prompt: &str) {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{prompt}").and_then(|()| err.flush());
}

fn ended(prompt: &str) -> String {
    format!("no answer to \"{prompt}\": standard input ended")
}
