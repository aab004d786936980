//! Password guessing over TLS: a guessing connection is bounded, and a real user on
//! another connection still logs in.

mod common;

use cloudhsm_mfa::proto::{ErrorCode, Op, Reply, Role};
use cloudhsm_mfa_emulator::{ServerOptions, MAX_FAILURES_PER_CONNECTION};
use common::*;

#[test]
fn a_guessing_connection_is_bounded_and_a_real_user_still_logs_in() {
    let (_dir, cluster) = activated_cluster(1, ServerOptions::default());
    let (addr, ca) = (cluster.addr(0).unwrap(), cluster.ca_path());
    block_on(async {
        let mut admin = Client::admin(addr, &ca).await;
        let reply = admin
            .request(create("alice", Role::CryptoUser, "password1"))
            .await;
        assert_eq!(reply, Reply::Done);

        let mut guesser = Client::greeted(addr, &ca).await;
        for n in 0..MAX_FAILURES_PER_CONNECTION {
            let (code, _) = error(
                guesser
                    .request(login(&format!("guess{n}"), Role::CryptoUser, "password1"))
                    .await,
            );
            assert_eq!(code, ErrorCode::InvalidCredentials);
        }
        let (code, msg) = error(
            guesser
                .request(login("alice", Role::CryptoUser, "password1"))
                .await,
        );
        assert_eq!(code, ErrorCode::Limit, "{msg}");
        assert!(msg.contains("new connection"), "{msg}");
        // The bounded connection is still served otherwise.
        assert!(matches!(
            guesser.request(Op::ListUsers).await,
            Reply::Users { .. }
        ));

        let mut alice = Client::greeted(addr, &ca).await;
        let reply = alice
            .request(login("alice", Role::CryptoUser, "password1"))
            .await;
        assert!(matches!(reply, Reply::LoggedIn { .. }), "{reply:?}");
    });
}
