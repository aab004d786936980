//! `quickstart`: the whole walk-through on a local cluster in a temporary directory, its
//! signatures checked by the real openssl, its cluster stopped at the end.

use std::ffi::OsStr;
use std::fs;
use std::net::TcpStream;
use std::path::Path;

use cloudhsm_mfa_emulator::{EmbeddedCluster, InitOptions};
use serde_json::json;

use crate::common::*;
use crate::hsm::succeeded;

#[test]
fn quickstart_succeeds_and_removes_its_directory() {
    let r = run(["quickstart"]);
    assert_eq!(r.json["error_code"], 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.code, Some(0));
    let data = &r.json["data"];
    assert_eq!(data["kind"], "mfa");
    assert_eq!(data["tokens"], 3);
    assert_eq!(data["signatures"], 3);
    assert_eq!(data["verified_by_openssl"], 3);
    assert_eq!(data["kept"], false);
    assert!(data["openssl"].as_str().unwrap().contains("SSL"));
    let directory = Path::new(data["directory"].as_str().unwrap());
    assert!(!directory.exists(), "{} is removed", directory.display());
    // The steps are told on stderr, numbered, with OpenSSL's own words.
    assert!(
        r.stderr.contains("[1/17]") && r.stderr.contains("[17/17]"),
        "{}",
        r.stderr
    );
    // Each step shows what a user would type.
    for typed in [
        "$ cloudhsm-emulator init --dir ",
        "$ cloudhsm-mfa cluster activate",
        "aws-cloudhsm > login --username admin --role admin",
        "aws-cloudhsm > user create --username alice --role crypto-user",
        "$ cloudhsm-mfa keygen --private-key ",
        "aws-cloudhsm > user change-mfa token-sign --username alice --role crypto-user --token ",
        "aws-cloudhsm > login --username alice --role crypto-user mfa-token-sign --token ",
        "$ cloudhsm-mfa tokens sign --token ",
        "Enter public key PEM file path: ",
        "aws-cloudhsm > user change-mfa token-sign --username alice --role crypto-user --sign-with ",
        "aws-cloudhsm > user list",
    ] {
        assert!(r.stderr.contains(typed), "{typed}:\n{}", r.stderr);
    }
    // The walk-through ends with alice on MFA, her old key refused.
    let alice = data["users"]["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "alice")
        .expect("alice is listed")
        .clone();
    assert_eq!(
        alice["mfa"],
        json!([{"strategy": "token-sign", "status": "enabled"},
               {"strategy": "software-token", "status": "enabled"}])
    );
    assert_eq!(alice["cluster-coverage"], "full");
    assert!(
        data["old_key_refused"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{}",
        data["old_key_refused"]
    );
    // The quorum step: refused without the approvals, created with both, approvers with
    // quorum keys.
    let quorum = &data["quorum"];
    assert!(
        quorum["refused_without_approval"]
            .as_str()
            .unwrap()
            .contains("Quorum Failed: the user service needs 2 approvals"),
        "{quorum}"
    );
    assert_eq!(quorum["created_with_approval"], "bob");
    for name in ["admin", "approver"] {
        let row = data["users"]["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["username"] == name)
            .unwrap();
        assert_eq!(
            row["quorum"],
            json!([{"strategy": "token-sign", "status": "enabled"}]),
            "{row}"
        );
    }
    assert!(r
        .stderr
        .contains("--username bob --role crypto-user --approval "));
    // The software-token step: preferred, and the login took its code.
    assert_eq!(
        data["software_token"]["preferences"],
        json!({"UserMFASettingList": ["TOKEN_SIGN_MFA", "SOFTWARE_TOKEN_MFA"],
               "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA"})
    );
    assert_eq!(data["software_token"]["logged_in_with_code"], true);
    assert!(r.stderr.contains("Enter MFA code:"), "{}", r.stderr);
    // The cluster is stopped: nothing listens on its HSMs' ports any more.
    let hsms = data["cluster"]["hsms"].as_array().unwrap();
    assert_eq!(hsms.len(), 3);
    for hsm in hsms {
        let addr = hsm.as_str().unwrap().split(' ').nth(1).unwrap();
        assert!(TcpStream::connect(addr).is_err(), "{addr} still answers");
    }
    assert_eq!(
        r.stderr.matches("Signature Verified Successfully").count(),
        3,
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(directory.to_str().unwrap()));
}

#[test]
fn quickstart_keep_leaves_files_that_openssl_verifies() {
    let data = ok(["quickstart", "--keep"]);
    assert_eq!(data["kept"], true);
    let directory = Path::new(data["directory"].as_str().unwrap()).to_path_buf();
    let cleanup = scopeguard(&directory);
    let public = Path::new(data["public_key"].as_str().unwrap());
    let private = Path::new(data["private_key"].as_str().unwrap());
    let signed = Path::new(data["signed_token_file"].as_str().unwrap());
    assert!(public.starts_with(&directory) && signed.starts_with(&directory));
    let doc = read_json(signed);
    let entries = doc["tokens"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let scratch = tempdir();
    for entry in entries {
        let token = unb64(entry["unsigned"].as_str().unwrap());
        let sig = unb64(entry["signed"].as_str().unwrap());
        assert!(openssl_verifies(scratch.path(), public, &token, &sig));
        assert_eq!(sig, openssl_sign_token(scratch.path(), private, &token));
    }
    // The unsigned file is kept as written: every entry still unsigned.
    let unsigned = read_json(Path::new(data["token_file"].as_str().unwrap()));
    assert!(unsigned["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["signed"] == ""));
    let derived = openssl([
        OsStr::new("pkey"),
        OsStr::new("-in"),
        private.as_os_str(),
        OsStr::new("-pubout"),
    ])
    .stdout;
    assert_eq!(derived, fs::read(public).unwrap());
    // The kept cluster serves again, with the users the walk-through made.
    let cluster_dir = Path::new(data["cluster"]["directory"].as_str().unwrap());
    assert!(cluster_dir.starts_with(&directory));
    let cluster = EmbeddedCluster::start(cluster_dir, &InitOptions::default()).unwrap();
    let config = cluster.config_path();
    let users = succeeded(&run(["user", "list", "--config", path_str(&config)]));
    assert_eq!(users, data["users"]);
    cluster.shutdown().unwrap();
    drop(cleanup);
    assert!(!directory.exists());
}

#[test]
fn quickstart_without_openssl_fails_clearly() {
    let empty = tempdir();
    let r = run_with(["quickstart"], |cmd| {
        cmd.env("PATH", empty.path());
    });
    let message = check_failure(&r);
    assert!(message.contains("openssl"), "{message}");
    assert!(message.contains("not found"), "{message}");
    assert!(
        !r.stderr.contains("[2/17]"),
        "nothing is made before OpenSSL is found:\n{}",
        r.stderr
    );
}

/// Removes a kept quickstart directory when dropped, even if the test fails.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(self.0);
    }
}

fn scopeguard(path: &Path) -> RemoveOnDrop<'_> {
    RemoveOnDrop(path)
}
