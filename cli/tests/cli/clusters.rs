//! Choosing the cluster (SPEC §10): `--config`, `$CLOUDHSM_MFA_CONFIG`, `--cluster-id`;
//! with several clusters and none chosen, the error says to pass `--cluster-id`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::*;
use crate::hsm::*;

/// A configuration listing the cluster twice, as `first` and `second`.
fn two_clusters(hsm: &Hsm) -> PathBuf {
    let mut config = read_json(&hsm.config);
    let mut entry = config["clusters"][0].clone();
    config["clusters"][0]["cluster"]["cluster_id"] = Value::from("first");
    entry["cluster"]["cluster_id"] = Value::from("second");
    config["clusters"].as_array_mut().unwrap().push(entry);
    let path = hsm.path("two-clusters.cfg");
    write_json(&path, &config);
    path
}

fn with_config(hsm: &Hsm, config: &Path, args: &[&str]) -> Run {
    let mut cli = Driver::start(hsm.command_with(config, args));
    cli.send("");
    let (code, stdout, stderr) = cli.finish();
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    Run {
        code,
        stdout,
        stderr,
        json,
    }
}

#[test]
fn a_wrong_cluster_id_is_refused_with_the_ids_configured() {
    let hsm = Hsm::activated();
    let r = hsm.run(&["user", "list", "--cluster-id", "no-such-cluster"], "");
    let message = check_failure(&r);
    assert!(message.contains("\"no-such-cluster\""), "{message}");
    assert!(message.contains("cluster-local"), "{message}");
    assert!(message.contains(path_str(&hsm.config)), "{message}");
    // The right one works, before or after the command.
    succeeded(&hsm.run(&["user", "list", "--cluster-id", "cluster-local"], ""));
    succeeded(&hsm.run(&["--cluster-id", "cluster-local", "user", "list"], ""));
}

#[test]
fn several_clusters_and_none_chosen_asks_for_cluster_id() {
    let hsm = Hsm::activated();
    let config = two_clusters(&hsm);
    let r = with_config(&hsm, &config, &["user", "list"]);
    let message = check_failure(&r);
    assert!(message.contains("pass --cluster-id"), "{message}");
    assert!(
        message.contains("first") && message.contains("second"),
        "{message}"
    );
    // Nothing is asked before the cluster is known.
    let r = with_config(
        &hsm,
        &config,
        &["login", "--username", "admin", "--role", "admin"],
    );
    assert!(check_failure(&r).contains("--cluster-id"));
    assert!(!r.stderr.contains("Enter password:"), "{}", r.stderr);
    let r = with_config(&hsm, &config, &["user", "list", "--cluster-id", "second"]);
    assert_eq!(succeeded(&r)["users"][0]["username"], "admin");
}

#[test]
fn interactive_mode_started_with_a_cluster_id_uses_it_for_every_command() {
    let hsm = Hsm::activated();
    let config = two_clusters(&hsm);
    let mut cli =
        Driver::start(hsm.command_with(&config, &["interactive", "--cluster-id", "second"]));
    cli.send("user list");
    cli.send("user list --cluster-id nowhere");
    cli.send("quit");
    let (code, stdout, _) = cli.finish();
    let docs = documents(&stdout);
    assert_eq!(docs.len(), 2, "{stdout}");
    assert_eq!(ok_data(&docs[0])["users"][0]["username"], "admin");
    assert!(error_message(&docs[1]).contains("\"nowhere\""));
    assert_eq!(code, Some(1), "a command failed");
}

#[test]
fn the_configuration_comes_from_cloudhsm_mfa_config_without_config() {
    let hsm = Hsm::activated();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["user", "list"])
        .env("CLOUDHSM_MFA_CONFIG", &hsm.config)
        .env_remove("CLOUDHSM_ROLE")
        .env_remove("CLOUDHSM_PIN");
    let out = cmd.output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["error_code"], 0, "{json:#}");
    let missing = hsm.path("missing.cfg");
    let r = hsm.run(&["user", "list", "--config", path_str(&missing)], "");
    let message = check_failure(&r);
    assert!(message.contains(path_str(&missing)), "{message}");
}
