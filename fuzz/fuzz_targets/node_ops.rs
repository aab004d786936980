//! One emulator node driven by any sequence of operations from three connections, checked
//! after every step against a model of the users' passwords:
//! - no login succeeds without the user's current password;
//! - a user's failed-login count never goes down but by a successful login, a new password
//!   or the user's deletion;
//! - the state, as the state file holds it, always reads back to the same state.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use cloudhsm_mfa::proto::{Op, Reply, Role, Secret};
use cloudhsm_mfa_emulator::{Node, NodeSettings, NodeState, SeededEntropy};
use libfuzzer_sys::fuzz_target;

const ADMIN_PW: &str = "admin-pw-1";
const USERS: [&str; 4] = ["admin", "u0", "u1", "u2"];
const PASSWORDS: [&str; 3] = [ADMIN_PW, "pass-000", "pass-111"];

fuzz_target!(|data: &[u8]| {
    let settings = NodeSettings::low_cost();
    let mut entropy = SeededEntropy::new(7);
    let state = NodeState::activated(&Secret::new(ADMIN_PW), &settings, &mut entropy).unwrap();
    let mut node = Node::new("hsm-1", settings, state);
    let mut now = Instant::now();
    let conns: Vec<_> = (0..3)
        .map(|_| {
            let c = node.connect();
            node.handle(c, Op::hello(), now, &mut entropy);
            c
        })
        .collect();
    // The model: each user's current password.
    let mut passwords: BTreeMap<String, String> = BTreeMap::new();
    passwords.insert("admin".into(), ADMIN_PW.into());

    for step in data.chunks_exact(3).take(64) {
        let (kind, a, b) = (step[0] % 7, step[1], step[2]);
        let conn = conns[a as usize % conns.len()];
        let user = USERS[b as usize % USERS.len()].to_string();
        let password = PASSWORDS[(b as usize / USERS.len()) % PASSWORDS.len()].to_string();
        let role = if user == "admin" { Role::Admin } else { Role::CryptoUser };
        let op = match kind {
            0 => Op::Login {
                username: user.clone(),
                role,
                password: Secret::new(password.clone()),
                code_nonce: None,
                deliver_by: None,
            },
            1 => Op::Logout,
            2 => Op::CreateUser {
                username: user.clone(),
                role,
                password: Secret::new(password.clone()),
            },
            3 => Op::DeleteUser {
                username: user.clone(),
                role,
            },
            4 => Op::ChangePassword {
                username: user.clone(),
                role,
                password: Secret::new(password.clone()),
                deregister_mfa: false,
                deregister_quorum: false,
            },
            5 => {
                now += Duration::from_secs(u64::from(a));
                continue;
            }
            _ => Op::ListUsers,
        };
        let failures_before: BTreeMap<String, u32> = node
            .state()
            .users
            .iter()
            .map(|(n, u)| (n.clone(), u.failed_logins))
            .collect();
        let outcome = node.handle(conn, op, now, &mut entropy);
        let done = outcome.reply == Reply::Done;
        let mut reset = None;
        match (kind, &outcome.reply) {
            (0, Reply::LoggedIn { username, .. }) => {
                assert_eq!(
                    passwords.get(username),
                    Some(&password),
                    "{username} logged in without its password"
                );
                reset = Some(username.clone());
            }
            (2, _) if done => {
                passwords.insert(user.clone(), password.clone());
                reset = Some(user.clone());
            }
            (3, _) if done => {
                passwords.remove(&user);
                reset = Some(user.clone());
            }
            (4, _) if done => {
                passwords.insert(user.clone(), password.clone());
                reset = Some(user.clone());
            }
            _ => {}
        }
        for (name, record) in &node.state().users {
            let before = failures_before.get(name).copied().unwrap_or(0);
            if reset.as_deref() != Some(name.as_str()) {
                assert!(
                    record.failed_logins >= before,
                    "{name}'s failed logins went from {before} to {}",
                    record.failed_logins
                );
            }
        }
        let text = serde_json::to_string(node.state()).unwrap();
        let back: NodeState = serde_json::from_str(&text).unwrap();
        assert_eq!(&back, node.state(), "the state file reads back to the same state");
    }
});
