//! Interactive mode: the `aws-cloudhsm > ` prompt, one session whose login lasts from
//! command to command, answers to prompts read from the same standard input, `help`,
//! `quit` (SPEC §10).

use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

const PROMPT: &str = "aws-cloudhsm > ";

/// The documented manual flow in one interactive session: the admin creates alice; alice
/// logs in with her password, registers a key made and used by openssl, logs out and logs
/// in again with MFA. Every answer is a line of standard input.
#[test]
fn the_manual_mfa_flow_in_one_interactive_session() {
    let hsm = Hsm::activated();
    let (key, public) = rsa_key(hsm.work.path(), "alice", 2048);
    let register = hsm.path("register.json");
    let register_signed = hsm.path("register-signed.json");
    let login = hsm.path("login.json");
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    for line in [
        "login --username admin --role admin",
        ADMIN_PW,
        "user create --username alice --role crypto-user",
        ALICE_PW,
        ALICE_PW,
        "logout",
        "login --username alice --role crypto-user",
        ALICE_PW,
    ] {
        cli.send(line);
    }
    cli.send(&format!(
        "user change-mfa token-sign --username alice --role crypto-user --token {}",
        path_str(&register)
    ));
    cli.send(ALICE_PW);
    cli.send(ALICE_PW);
    cli.wait_for(SIGNED_PROMPT, 1);
    openssl_sign_file(&register, &key, &register_signed);
    cli.send(path_str(&register_signed));
    cli.send(path_str(&public));
    cli.send("logout");
    cli.send(&format!(
        "login --username alice --role crypto-user mfa-token-sign --token '{}'",
        path_str(&login)
    ));
    cli.send(ALICE_PW);
    cli.wait_for(SIGNED_PROMPT, 2);
    openssl_sign_file(&login, &key, &login);
    cli.send("");
    cli.send("user list");
    cli.send("quit");
    let (code, stdout, stderr) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 8, "one result per command:\n{stdout}\n{stderr}");
    assert_eq!(ok_data(&docs[0]), identity("admin", "admin"));
    assert_eq!(ok_data(&docs[1]), identity("alice", "crypto-user"));
    assert_eq!(ok_data(&docs[2]), Value::from("Logout successful"));
    assert_eq!(ok_data(&docs[3]), identity("alice", "crypto-user"));
    assert_eq!(ok_data(&docs[4]), identity("alice", "crypto-user"));
    assert_eq!(ok_data(&docs[5]), Value::from("Logout successful"));
    assert_eq!(ok_data(&docs[6]), identity("alice", "crypto-user"));
    let users = ok_data(&docs[7]);
    let alice = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(
        alice["mfa"],
        json!([{"strategy": "token-sign", "status": "enabled"}])
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr.matches(PROMPT).count(), 9, "{stderr}");
    assert_eq!(stderr.matches(PUBLIC_KEY_PROMPT).count(), 1, "{stderr}");
    assert_hidden(&stdout, &stderr, &[ADMIN_PW, ALICE_PW]);
}

#[test]
fn the_login_is_kept_between_commands_and_ends_with_logout() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    for line in [
        "user create --username bob --role crypto-user --password bob-password-1",
        &format!("login --username admin --role admin --password {ADMIN_PW}"),
        "user create --username bob --role crypto-user --password bob-password-1",
        "logout",
        "user delete --username bob --role crypto-user",
        "quit",
    ] {
        cli.send(line);
    }
    let (code, stdout, _) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 5, "{stdout}");
    assert!(error_message(&docs[0]).contains("log in"), "{:#}", docs[0]);
    ok_data(&docs[1]);
    assert_eq!(ok_data(&docs[2]), identity("bob", "crypto-user"));
    ok_data(&docs[3]);
    assert!(error_message(&docs[4]).contains("log in"), "{:#}", docs[4]);
    assert!(hsm.user_row("bob").is_some(), "bob was not deleted");
    assert_eq!(code, Some(1), "some commands failed");
}

/// A user rotates its own key: logged in with MFA (signed by the library), it registers a
/// new key; the old key is then refused and the new one accepted.
#[test]
fn a_user_rotates_its_own_key_with_sign_with() {
    let hsm = Hsm::activated();
    hsm.create_alice();
    let (old, _) = rsa_key(hsm.work.path(), "old", 2048);
    let (new, _) = rsa_key(hsm.work.path(), "new", 2048);
    hsm.register_alice(&old);
    let login = |key: &std::path::Path| {
        format!(
            "login --username alice --role crypto-user --password {ALICE_PW} mfa-token-sign --sign-with {}",
            path_str(key)
        )
    };
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send(&login(&old));
    cli.send(&format!(
        "user change-mfa token-sign --username alice --role crypto-user --change-password {ALICE_PW} --sign-with {}",
        path_str(&new)
    ));
    cli.send("logout");
    cli.send(&login(&old));
    cli.send(&login(&new));
    cli.send("exit");
    let (_, stdout, stderr) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 5, "{stdout}\n{stderr}");
    ok_data(&docs[0]);
    assert_eq!(ok_data(&docs[1]), identity("alice", "crypto-user"));
    ok_data(&docs[2]);
    assert!(error_message(&docs[3]).contains("does not verify"));
    assert_eq!(ok_data(&docs[4]), identity("alice", "crypto-user"));
}

#[test]
fn help_lists_the_commands_and_the_options_of_one() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("help");
    cli.send("help user change-mfa token-sign");
    cli.send("quit");
    let (code, stdout, _) = cli.finish();
    for command in ["login", "logout", "user", "cluster", "quit", "exit", "help"] {
        assert!(
            stdout.contains(&format!("\n  {command} ")),
            "{command} is listed:\n{stdout}"
        );
    }
    for option in ["--token", "--deregister", "--change-quorum", "--sign-with"] {
        assert!(stdout.contains(option), "{option}:\n{stdout}");
    }
    assert_eq!(code, Some(0));
}

#[test]
fn a_line_that_is_no_command_is_refused_without_being_repeated() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("s3cret-typed-too-early");
    cli.send("");
    cli.send("user list");
    let (code, stdout, stderr) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert!(error_message(&docs[0]).contains("help"));
    ok_data(&docs[1]);
    assert_hidden(&stdout, &stderr, &["s3cret"]);
    assert_eq!(code, Some(1));
}

#[test]
fn quit_ends_the_session_and_the_rest_of_the_input_is_not_run() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("user list");
    cli.send("quit");
    cli.send(&format!(
        "user create --username bob --role crypto-user --password bob-password-1 --config {}",
        path_str(&hsm.config)
    ));
    let (code, stdout, _) = cli.finish();
    assert_eq!(documents(&stdout).len(), 1, "{stdout}");
    assert_eq!(code, Some(0));
    assert!(hsm.user_row("bob").is_none());
}

#[test]
fn a_prompt_at_the_end_of_input_is_an_error() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("login --username admin --role admin");
    let (code, stdout, _) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 1, "{stdout}");
    let message = error_message(&docs[0]);
    assert!(message.contains("Enter password:"), "{message}");
    assert!(message.contains("input ended"), "{message}");
    assert_eq!(code, Some(1));
}

#[test]
fn argument_errors_answer_an_envelope_and_the_session_goes_on() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("user create --username bob");
    cli.send("login --username 'unclosed");
    cli.send("user list");
    let (_, stdout, _) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 3, "{stdout}");
    assert!(error_message(&docs[0]).contains("--role"));
    assert!(error_message(&docs[1]).contains("quote"));
    ok_data(&docs[2]);
}

/// On a terminal (a pseudo-terminal made by `script`), the terminal echoes the command
/// lines, but passwords are read with echo off.
#[test]
fn on_a_terminal_passwords_are_read_without_echo() {
    let hsm = Hsm::activated();
    let command_line = format!("'{BIN}' --config '{}' interactive", path_str(&hsm.config));
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-q", "-e", "-c", &command_line, "/dev/null"]);
    let mut tty = Driver::start(cmd);
    // Echo is turned off just after the prompt is shown: leave it a moment.
    let settle = || std::thread::sleep(std::time::Duration::from_millis(500));
    tty.wait_for_stdout(PROMPT, 1);
    tty.send("login --username admin --role admin");
    tty.wait_for_stdout("Enter password:", 1);
    settle();
    tty.send(ADMIN_PW);
    tty.wait_for_stdout(PROMPT, 2);
    tty.send("user create --username bob --role crypto-user");
    tty.wait_for_stdout("Enter password:", 2);
    settle();
    tty.send("bob-password-1");
    tty.wait_for_stdout("Confirm password:", 1);
    settle();
    tty.send("bob-password-1");
    tty.wait_for_stdout(PROMPT, 3);
    tty.send("quit");
    let (_, screen, _) = tty.finish();
    assert!(
        screen.contains("login --username admin --role admin"),
        "the terminal echoes command lines:\n{screen}"
    );
    assert!(screen.contains("\"username\": \"bob\""), "{screen}");
    assert_hidden(&screen, "", &[ADMIN_PW, "bob-password-1"]);
    assert!(hsm.user_row("bob").is_some());
}

#[test]
fn a_stray_password_on_a_command_line_is_never_repeated() {
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("login --username admin --role admin S3cret-stray-1");
    cli.send("user create --username bob --role S3cret-stray-2");
    cli.send("user S3cret-stray-3");
    cli.send("login --username admin --role admin --pasword S3cret-stray-4");
    cli.send("user list");
    let (_, stdout, stderr) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 5, "{stdout}");
    let first = error_message(&docs[0]);
    assert!(
        first.contains("at position 6")
            && first.contains("passwords are given with --password or at the prompt"),
        "{first}"
    );
    let second = error_message(&docs[1]);
    assert!(
        second.contains("invalid value at position 6 for '--role")
            && second.contains("crypto-user"),
        "{second}"
    );
    assert!(error_message(&docs[2]).contains("subcommand at position 2"));
    let fourth = error_message(&docs[3]);
    assert!(
        fourth.contains("position 6") && fourth.contains("--password"),
        "{fourth}"
    );
    ok_data(&docs[4]);
    assert_hidden(
        &stdout,
        &stderr,
        &[
            "S3cret-stray-1",
            "S3cret-stray-2",
            "S3cret-stray-3",
            "S3cret-stray-4",
            "pasword",
        ],
    );
}

/// What a core dump would hold, if the CLI allowed one (it does not): after a login whose
/// password was answered at the prompt and a user creation with the password on the
/// command line, the interactive CLI keeps no copy of either password while the session
/// (and its login) goes on.
#[test]
fn passwords_do_not_stay_in_the_interactive_clis_memory() {
    const CAROL_PW: &str = "carol-on-the-line-9";
    let hsm = Hsm::activated();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    cli.send("login --username admin --role admin");
    cli.send(ADMIN_PW);
    cli.send(&format!(
        "user create --username carol --role crypto-user --password {CAROL_PW}"
    ));
    cli.send("user list");
    cli.wait_for_stdout("error_code", 3);
    cloudhsm_mfa_test_support::memory::assert_no_copies(cli.pid(), &[ADMIN_PW, CAROL_PW]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", cli.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().skip(4).take(2).collect::<Vec<_>>(),
        ["0", "0"],
        "{core}"
    );
    cli.send("quit");
    let (code, stdout, _) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 3, "{stdout}");
    for doc in &docs {
        ok_data(doc);
    }
    assert_eq!(code, Some(0));
}
