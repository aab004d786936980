//! The conventions of a command-line tool: help with no arguments, `--version`, "did you
//! mean" for a mistyped command without repeating it, `--config` and `--cluster-id` only
//! on the commands that talk to a cluster; and, under a pseudo-terminal, interactive
//! mode's line editing: completion, history (without the lines that hold a password),
//! Ctrl-C cancelling the line and Ctrl-D ending the session.

use std::process::Command;

use crate::common::*;
use crate::hsm::*;

const PROMPT: &str = "aws-cloudhsm > ";

fn plain(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn with_no_arguments_the_help_is_printed() {
    let (code, stdout, _) = plain(&[]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("Usage: cloudhsm-mfa"), "{stdout}");
    for command in ["login", "user", "quorum", "interactive", "tokens", "keygen"] {
        assert!(
            stdout.contains(&format!("  {command} ")),
            "{command}: {stdout}"
        );
    }
}

#[test]
fn version_prints_the_version() {
    let (code, stdout, _) = plain(&["--version"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout.trim(),
        format!("cloudhsm-mfa {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn a_mistyped_command_gets_a_suggestion_and_is_not_repeated() {
    for (line, typo, meant) in [
        (&["lgoin", "--username", "a"][..], "lgoin", "login"),
        (&["tokens", "sgin"][..], "sgin", "sign"),
        (&["user", "lsit"][..], "lsit", "list"),
    ] {
        let message = fail(line);
        assert!(
            message.contains(&format!("did you mean {meant}")),
            "{message}"
        );
        assert!(!message.contains(typo), "{message}");
    }
    // The same in interactive mode.
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    let doc = cli.command("lgoin --username admin");
    cli.send("quit");
    let _ = cli.finish();
    let message = error_message(&doc);
    assert!(message.contains("did you mean login"), "{message}");
    assert!(!message.contains("lgoin"), "{message}");
}

#[test]
fn cluster_options_belong_to_the_commands_that_talk_to_a_cluster() {
    for args in [&["keygen", "--help"][..], &["tokens", "sign", "--help"]] {
        let (_, stdout, _) = plain(args);
        assert!(!stdout.contains("--cluster-id"), "{args:?}: {stdout}");
        assert!(!stdout.contains("--config"), "{args:?}: {stdout}");
    }
    for args in [
        &["login", "--help"][..],
        &["logout", "--help"],
        &["user", "list", "--help"],
        &["user", "change-mfa", "token-sign", "--help"],
        &["quorum", "token-sign", "generate", "--help"],
        &["cluster", "activate", "--help"],
    ] {
        let (_, stdout, _) = plain(args);
        assert!(stdout.contains("--cluster-id"), "{args:?}: {stdout}");
        assert!(stdout.contains("--config"), "{args:?}: {stdout}");
    }
    // Before the command they are still taken, but only for a cluster command.
    let hsm = Hsm::activated();
    let data = succeeded(&hsm.run(&["user", "list"], ""));
    assert!(data["users"].is_array());
    let dir = tempdir();
    let message = fail([
        "--config",
        path_str(&hsm.config),
        "keygen",
        "--private-key",
        path_str(&dir.path().join("k.pem")),
        "--public-key",
        path_str(&dir.path().join("k.pub")),
    ]);
    assert!(message.contains("uses none"), "{message}");
    assert!(!dir.path().join("k.pem").exists());
}

/// Interactive mode on a pseudo-terminal made by `script`, with its own history file.
fn on_a_terminal(hsm: &Hsm, history: &std::path::Path) -> Driver {
    let command_line = format!("'{BIN}' --config '{}' interactive", path_str(&hsm.config));
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &command_line, "/dev/null"])
        .env("CLOUDHSM_MFA_HISTORY", history)
        .env("TERM", "xterm");
    let tty = Driver::start(cmd);
    tty.wait_for_stdout(PROMPT, 1);
    settle();
    tty
}

/// The editor redraws the prompt as the line changes, so the tests wait for results, not
/// for prompts, and leave a key a moment to be taken before the next.
fn settle() {
    std::thread::sleep(std::time::Duration::from_millis(400));
}

#[test]
fn on_a_terminal_tab_completes_and_the_arrows_recall_the_history() {
    let hsm = Hsm::activated();
    let work = tempdir();
    let history = work.path().join("history");
    let mut tty = on_a_terminal(&hsm, &history);
    // "us<Tab>" completes to "user ", "li<Tab>" to "list ".
    tty.send_raw(b"us\t");
    tty.wait_for_stdout("user ", 1);
    tty.send_raw(b"li\t");
    tty.wait_for_stdout("user list ", 1);
    tty.send_raw(b"\r");
    tty.wait_for_stdout("\"error_code\"", 1);
    // An option name: "--ro<Tab>" after "login" completes to "--role ".
    tty.send_raw(b"login --ro\t");
    tty.wait_for_stdout("login --role ", 1);
    settle();
    // Ctrl-C drops it.
    tty.send_raw(b"\x03");
    settle();
    // Up arrow: the last command that ran, again.
    tty.send_raw(b"\x1b[A");
    settle();
    tty.send_raw(b"\r");
    tty.wait_for_stdout("\"error_code\"", 2);
    settle();
    tty.send_raw(b"quit\r");
    let (code, screen, _) = tty.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(screen.matches("\"error_code\"").count(), 2, "{screen}");
    let saved = std::fs::read_to_string(&history).unwrap();
    // The recalled line ran again; a line equal to the one before is kept once.
    assert_eq!(
        saved
            .lines()
            .filter(|l| l.trim_end() == "user list")
            .count(),
        1,
        "{saved}"
    );
    assert!(
        !saved.contains("--ro"),
        "a cancelled line is not kept: {saved}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&history).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn on_a_terminal_ctrl_c_cancels_the_line_not_the_login_and_ctrl_d_ends() {
    let hsm = Hsm::activated();
    let work = tempdir();
    let history = work.path().join("history");
    let mut tty = on_a_terminal(&hsm, &history);
    tty.send_raw(format!("login --username admin --role admin --password {ADMIN_PW}\r").as_bytes());
    tty.wait_for_stdout("\"username\": \"admin\"", 1);
    settle();
    // Ctrl-C drops the line being typed; the session and its login go on.
    tty.send_raw(b"user delete --username admin --role admin");
    settle();
    tty.send_raw(b"\x03");
    settle();
    // Ctrl-L clears the screen; the next line still works, logged in.
    tty.send_raw(b"\x0c");
    settle();
    tty.send_raw(b"user list\r");
    tty.wait_for_stdout("\"users\"", 1);
    settle();
    // Ctrl-D on an empty line ends the session cleanly.
    tty.send_raw(b"\x04");
    let (code, screen, _) = tty.finish();
    assert_eq!(code, Some(0), "{screen}");
    assert_eq!(screen.matches("\"error_code\": 0").count(), 2, "{screen}");
    assert!(
        hsm.user_row("admin").is_some(),
        "the cancelled delete did not run"
    );
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("user list"), "{saved}");
    assert!(
        !saved.contains(ADMIN_PW),
        "a line with a password is not kept: {saved}"
    );
    assert!(!saved.contains("user delete"), "{saved}");
}
