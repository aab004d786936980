//! Questions asked while a command runs: passwords (never echoed), file paths, and the
//! command lines of interactive mode. With a terminal on standard input, passwords are read
//! from the terminal with echo off; otherwise every answer is the next line of standard
//! input, so a whole session (commands and answers) can be piped in. Prompts go to stderr,
//! so that stdout carries only the JSON results.

use std::fs::File;
use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use zeroize::Zeroizing;

pub const PASSWORD: &str = "Enter password:";
pub const CONFIRM_PASSWORD: &str = "Confirm password:";
pub const SIGNED_TOKEN_FILE: &str =
    "Enter signed token file path (press enter if same as the unsigned token file):";
pub const PUBLIC_KEY_FILE: &str = "Enter public key PEM file path:";
pub const MFA_CODE: &str = "Enter MFA code:";

/// The longest line read; a longer one is an error (and is not kept).
const LINE_LIMIT: usize = 64 * 1024;

/// Standard input, shared by the command lines of interactive mode and the answers to
/// prompts. It is read without a buffer (one byte at a time, straight into a zeroizing
/// line), so that no buffer keeps the lines after they are used: they may hold passwords.
pub struct Input {
    terminal: bool,
    /// Standard input (a duplicate of its descriptor), or `None` if it is closed.
    stdin: Option<File>,
}

impl Input {
    pub fn new() -> Self {
        let stdin = std::io::stdin();
        Input {
            terminal: stdin.is_terminal(),
            stdin: stdin.as_fd().try_clone_to_owned().ok().map(File::from),
        }
    }

    /// Whether standard input is a terminal.
    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// The next line after `prompt`, without its line ending; `None` at the end of input.
    pub fn line(&mut self, prompt: &str) -> Result<Option<Zeroizing<String>>, String> {
        show(prompt);
        let line = self.read_line()?;
        if !self.terminal {
            // The answer came from a pipe, so nothing ended the prompt's line.
            eprintln!();
        }
        Ok(line)
    }

    fn read_line(&mut self) -> Result<Option<Zeroizing<String>>, String> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Ok(None);
        };
        let mut bytes = Zeroizing::new(Vec::with_capacity(256));
        let mut byte = Zeroizing::new([0u8; 1]);
        loop {
            match stdin.read(&mut byte[..]) {
                Ok(0) if bytes.is_empty() => return Ok(None),
                Ok(0) => break,
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) if bytes.len() >= LINE_LIMIT => {
                    // The rest of the line is read and dropped, so that it is not taken
                    // for the next command.
                    while !matches!(stdin.read(&mut byte[..]), Ok(0) | Err(_)) && byte[0] != b'\n' {
                    }
                    return Err(format!(
                        "a line of standard input is longer than {LINE_LIMIT} bytes; it was not read"
                    ));
                }
                Ok(_) => {
                    if bytes.len() == bytes.capacity() {
                        // Grown by hand, so that the old buffer is zeroed, not just freed.
                        let mut bigger = Zeroizing::new(Vec::with_capacity(bytes.capacity() * 2));
                        bigger.extend_from_slice(&bytes);
                        bytes = bigger;
                    }
                    bytes.push(byte[0]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("cannot read standard input: {e}")),
            }
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        match std::str::from_utf8(&bytes) {
            Ok(text) => Ok(Some(Zeroizing::new(text.to_owned()))),
            Err(_) => Err("a line of standard input is not UTF-8 text; it was not read".into()),
        }
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
