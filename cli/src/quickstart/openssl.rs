//! The real `openssl` command, which checks the library's signatures in the quickstart.

use std::io::ErrorKind;
use std::path::Path;
use std::process::Command;

fn not_found() -> String {
    "the openssl command was not found on PATH; the quickstart checks every signature with \
     OpenSSL: install it (for example apt-get install openssl) and run the quickstart again"
        .into()
}

fn cannot_run(e: std::io::Error) -> String {
    match e.kind() {
        ErrorKind::NotFound => not_found(),
        _ => format!("cannot run openssl: {e}"),
    }
}

/// `openssl version`, or a clear error when the command is missing.
pub fn version() -> Result<String, String> {
    let out = Command::new("openssl")
        .arg("version")
        .output()
        .map_err(cannot_run)?;
    if !out.status.success() {
        return Err(format!(
            "openssl version failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs `openssl ARGS` (a `pkeyutl -verify`) in `dir` and returns what it said on success.
pub fn verify(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .map_err(cannot_run)?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && stdout.contains("Signature Verified Successfully") {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{stdout} ({}) {}", out.status, stderr.trim())
            .trim()
            .to_string())
    }
}
