//! A node whose state file cannot be written (its path turned into a directory while the
//! node serves): changes are not acknowledged, and failed logins are never lost with them.

mod common;

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};
use cloudhsm_mfa_emulator::ServerOptions;
use common::*;

#[test]
fn ten_wrong_passwords_with_a_failing_store_keep_the_right_password_out() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca, state) = (
        cluster.addr(0).unwrap(),
        cluster.ca_path(),
        cluster.state_path(0),
    );
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        assert_eq!(
            admin
                .request(create("alice", Role::CryptoUser, "password1"))
                .await,
            Reply::Done
        );

        // The state file can no longer be replaced.
        std::fs::remove_file(&state).unwrap();
        std::fs::create_dir(&state).unwrap();

        let (code, msg) = error(
            admin
                .request(create("bob", Role::CryptoUser, "password1"))
                .await,
        );
        assert_eq!(code, ErrorCode::Internal);
        assert!(
            msg.contains("could not save its state, so nothing changed"),
            "{msg}"
        );

        let mut c = Client::greeted(addr, &ca).await;
        for n in 1..=10 {
            let (code, msg) = error(
                c.request(login("alice", Role::CryptoUser, "wrong-pw"))
                    .await,
            );
            assert_eq!(code, ErrorCode::Internal, "attempt {n}: {msg}");
            assert!(msg.contains("save its state"), "attempt {n}: {msg}");
        }
        let (code, msg) = error(
            c.request(login("alice", Role::CryptoUser, "password1"))
                .await,
        );
        assert_eq!(code, ErrorCode::Internal);
        assert!(
            msg.contains("cannot save its state, so user alice may not log in"),
            "{msg}"
        );
        let Reply::Users { users } = admin.request(Op::ListUsers).await else {
            panic!("expected users");
        };
        assert_eq!(users.len(), 2, "bob was not created");

        // Once the file can be written again, the count is saved first, then the right
        // password logs in.
        std::fs::remove_dir(&state).unwrap();
        admin.request(Op::ListUsers).await;
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
        assert_eq!(saved["users"]["alice"]["failed_logins"], 1);
        let reply = c
            .request(login("alice", Role::CryptoUser, "password1"))
            .await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    });
}
