//! The quorum ceremony in interactive mode against a live 3-HSM cluster (SPEC §7): three
//! admins register quorum keys (one registration file signed with `openssl pkeyutl`, two
//! with `tokens sign`), the `user` value goes to 2, and `user create` is refused without
//! an approval and with one, accepted with two, and the same approval is refused again.

use std::path::Path;

use serde_json::{json, Value};

use crate::common::*;
use crate::hsm::*;

const PW: &str = "approver-pw-1";

/// Signs every entry of a registration file with `openssl pkeyutl`, as a user would.
fn sign_registration_with_openssl(dir: &Path, file: &Path, key: &Path) {
    let mut v = read_json(file);
    for entry in v["tokens"].as_array_mut().unwrap() {
        let unsigned = unb64(entry["unsigned"].as_str().unwrap());
        entry["signed"] = json!(b64(&openssl_sign_token(dir, key, &unsigned)));
    }
    write_json(file, &v);
}

fn ok(doc: Value) -> Value {
    ok_data(&doc)
}

#[test]
fn the_quorum_ceremony_in_one_interactive_session() {
    let hsm = Hsm::activated();
    let dir = hsm.work.path();
    let keys: Vec<_> = ["admin", "a2", "a3"]
        .iter()
        .map(|n| rsa_key(dir, n, 2048))
        .collect();
    let p = |name: &str| path_str(&hsm.path(name)).to_string();
    let mut cli = Driver::start(hsm.command(&["interactive"]));
    ok(cli.command(&format!(
        "login --username admin --role admin --password {ADMIN_PW}"
    )));
    assert_eq!(
        ok(cli.command("quorum token-sign list-quorum-values")),
        json!({"user": 1, "quorum": 1})
    );
    for name in ["a2", "a3"] {
        ok(cli.command(&format!(
            "user create --username {name} --role admin --password {PW}"
        )));
    }

    // The admin's registration file, signed by hand with openssl.
    let generated = ok(cli.command(&format!(
        "quorum token-sign generate --service registration --token {}",
        p("reg-admin.json")
    )));
    assert_eq!(generated, json!({"filepath": p("reg-admin.json")}));
    assert_eq!(
        read_json(&hsm.path("reg-admin.json"))["tokens"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    sign_registration_with_openssl(dir, &hsm.path("reg-admin.json"), &keys[0].0);
    // Proof of possession: another public key than the one that signed is refused.
    let refused = error_message(&cli.command(&format!(
        "user change-quorum token-sign register --public-key {} --signed-token {}",
        path_str(&keys[1].1),
        p("reg-admin.json")
    )));
    assert!(refused.contains("does not verify"), "{refused}");
    let registered = ok(cli.command(&format!(
        "user change-quorum token-sign register --public-key {} --signed-token {}",
        path_str(&keys[0].1),
        p("reg-admin.json")
    )));
    assert_eq!(registered, identity("admin", "admin"));
    ok(cli.command("logout"));

    // The other two sign theirs with tokens sign.
    for (i, name) in ["a2", "a3"].into_iter().enumerate() {
        let reg = p(&format!("reg-{name}.json"));
        ok(cli.command(&format!(
            "login --username {name} --role admin --password {PW}"
        )));
        ok(cli.command(&format!(
            "quorum token-sign generate --service registration --token {reg}"
        )));
        ok(cli.command(&format!(
            "tokens sign --token {reg} --private-key {}",
            path_str(&keys[i + 1].0)
        )));
        ok(cli.command(&format!(
            "user change-quorum token-sign register --public-key {} --signed-token {reg}",
            path_str(&keys[i + 1].1)
        )));
        ok(cli.command("logout"));
    }
    let list = ok(cli.command("user list"));
    for user in list["users"].as_array().unwrap() {
        assert_eq!(
            user["quorum"],
            json!([{"strategy": "token-sign", "status": "enabled"}]),
            "{user}"
        );
    }

    ok(cli.command(&format!(
        "login --username admin --role admin --password {ADMIN_PW}"
    )));
    assert_eq!(
        ok(cli.command("quorum token-sign set-quorum-value --service user --value 2")),
        json!("Set Quorum Value successful")
    );
    assert_eq!(
        ok(cli.command("quorum token-sign list-quorum-values")),
        json!({"user": 2, "quorum": 1})
    );

    let create = |approval: Option<&str>| {
        let mut line = format!("user create --username bob --role crypto-user --password {PW}");
        if let Some(a) = approval {
            line.push_str(&format!(" --approval {a}"));
        }
        line
    };
    let refused = error_message(&cli.command(&create(None)));
    assert!(
        refused.contains("Quorum Failed: the user service needs 2 approvals; pass --approval FILE"),
        "{refused}"
    );

    let approval = p("approval.json");
    ok(cli.command(&format!(
        "quorum token-sign generate --service user --token {approval}"
    )));
    let mut tokens = ok(cli.command("quorum token-sign list"));
    let left = tokens["tokens"][0]["token-timeout-seconds"].take();
    assert!((590..=600).contains(&left.as_u64().unwrap()), "{left}");
    assert_eq!(
        tokens["tokens"],
        json!([{"username": "admin", "service": "user", "approvals-required": 2,
                "number-of-approvals": 0, "token-timeout-seconds": null, "cluster-coverage": "full"}])
    );
    ok(cli.command(&format!(
        "tokens sign --token {approval} --private-key {} --username a2",
        path_str(&keys[1].0)
    )));
    let refused = error_message(&cli.command(&create(Some(&approval))));
    assert!(
        refused
            .contains("Too few quorum approvals: currently 1 approvals, but 2 approvals required"),
        "{refused}"
    );
    ok(cli.command(&format!(
        "tokens sign --token {approval} --private-key {} --username a3",
        path_str(&keys[2].0)
    )));
    let shown = ok(cli.command(&format!("tokens show {approval}")));
    let approvers: Vec<&str> = shown["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["username"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["a2", "a3"]);
    assert_eq!(shown["records"].as_array().unwrap().len(), 3, "{shown:#}");
    assert_eq!(shown["records"][0]["username"], "admin");
    assert_eq!(
        ok(cli.command(&create(Some(&approval)))),
        identity("bob", "crypto-user")
    );
    // Used up.
    let refused = error_message(&cli.command(&format!(
        "user delete --username bob --role crypto-user --approval {approval}"
    )));
    assert!(refused.contains("already used"), "{refused}");
    assert_eq!(
        ok(cli.command("quorum token-sign delete --scope all")),
        json!("Deletion of quorum token(s) successful")
    );
    cli.send("quit");
    let (code, _, stderr) = cli.finish();
    assert_eq!(
        code,
        Some(1),
        "some commands were meant to fail; stderr: {stderr}"
    );
}

#[test]
fn gated_commands_take_approval_and_change_password_takes_the_deregister_flags() {
    let hsm = Hsm::activated();
    for args in [
        vec!["user", "create", "--help"],
        vec!["user", "delete", "--help"],
        vec!["user", "change-password", "--help"],
        vec!["user", "change-mfa", "token-sign", "--help"],
        vec!["quorum", "token-sign", "set-quorum-value", "--help"],
    ] {
        let help = hsm.command(&args).output().unwrap();
        let help = String::from_utf8(help.stdout).unwrap();
        assert!(help.contains("--approval <APPROVAL>"), "{args:?}: {help}");
    }
    let help = hsm
        .command(&["user", "change-password", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(
        help.contains("--deregister-mfa") && help.contains("--deregister-quorum"),
        "{help}"
    );
    // An approval file that cannot be read is refused before anything is sent or asked.
    let missing = hsm.path("missing.json");
    let out = hsm.run_as(
        "admin",
        "admin",
        ADMIN_PW,
        &[
            "user",
            "create",
            "--username",
            "bob",
            "--role",
            "crypto-user",
            "--approval",
            path_str(&missing),
        ],
        "",
    );
    let message = check_failure(&out);
    assert!(message.contains(path_str(&missing)), "{message}");
    assert!(!out.stderr.contains("Enter password"), "{}", out.stderr);
}
