//! `quickstart`: the whole flow in a temporary directory, checked by the real openssl.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use crate::common::*;

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
        r.stderr.contains("[1/7]") && r.stderr.contains("[7/7]"),
        "{}",
        r.stderr
    );
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
        !r.stderr.contains("[2/7]"),
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
