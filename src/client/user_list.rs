//! `user list` across a cluster (SPEC §8): one row per user, with the fields every HSM
//! agrees on, and `"inconsistent"` where they differ. A user's coverage is `"full"` only
//! when every HSM of the cluster answered and agrees; HSMs that did not answer are listed
//! in `"unreachable-hsms"`, and while there is one, no user's coverage is full.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::proto::UserInfo;

/// A field of a row: the value every HSM agrees on, or `"inconsistent"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Agreed<T> {
    Value(T),
    Inconsistent,
}

impl<T: Serialize> Serialize for Agreed<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Agreed::Value(v) => v.serialize(s),
            Agreed::Inconsistent => s.serialize_str("inconsistent"),
        }
    }
}

/// An MFA or quorum strategy and its status, as the CloudHSM CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Strategy {
    pub strategy: String,
    pub status: String,
}

/// One user in `user list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRow {
    pub username: String,
    pub role: Agreed<String>,
    pub locked: Agreed<String>,
    pub mfa: Agreed<Vec<Strategy>>,
    pub quorum: Agreed<Vec<Strategy>>,
    #[serde(rename = "cluster-coverage")]
    pub cluster_coverage: String,
}

/// An HSM of the cluster whose users are not in the list, and why: it could not be
/// reached, the connection broke, or it refused the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnreachableHsm {
    /// The HSM as errors name it: `hsm-2 (127.0.0.1:2224)`, or `host:port` before it
    /// ever answered.
    pub hsm: String,
    /// Why it gave no list, e.g. `unreachable: connection refused`.
    pub reason: String,
}

/// The data of `user list`: `{"users": [...]}` when every HSM answered, and
/// `{"users": [...], "unreachable-hsms": [{"hsm": ..., "reason": ...}, ...]}` otherwise
/// (the field is left out when it would be empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserList {
    pub users: Vec<UserRow>,
    #[serde(rename = "unreachable-hsms", skip_serializing_if = "Vec::is_empty")]
    pub unreachable_hsms: Vec<UnreachableHsm>,
}

/// The `mfa` strategies of a user: every enabled factor, or token-sign alone from a node
/// before the `mfa` feature.
fn factors(u: &UserInfo) -> Vec<Strategy> {
    if u.factors.is_empty() {
        return token_sign(u.mfa);
    }
    u.factors
        .iter()
        .map(|f| Strategy {
            strategy: f.as_str().into(),
            status: "enabled".into(),
        })
        .collect()
}

fn token_sign(enabled: bool) -> Vec<Strategy> {
    if enabled {
        vec![Strategy {
            strategy: "token-sign".into(),
            status: "enabled".into(),
        }]
    } else {
        Vec::new()
    }
}

fn agree<T: PartialEq + Clone>(values: impl Iterator<Item = T>) -> Agreed<T> {
    let mut values = values.peekable();
    let Some(first) = values.peek().cloned() else {
        return Agreed::Inconsistent;
    };
    if values.all(|v| v == first) {
        Agreed::Value(first)
    } else {
        Agreed::Inconsistent
    }
}

/// Merges the user lists of the HSMs that answered; `unreachable` are the cluster's other
/// HSMs, which make every user's coverage `"inconsistent"`.
pub fn merge(per_hsm: &[Vec<UserInfo>], unreachable: Vec<UnreachableHsm>) -> UserList {
    let mut by_name: BTreeMap<&str, Vec<&UserInfo>> = BTreeMap::new();
    for list in per_hsm {
        for u in list {
            by_name.entry(u.username.as_str()).or_default().push(u);
        }
    }
    let users = by_name
        .into_iter()
        .map(|(name, seen)| {
            let role = agree(seen.iter().map(|u| u.role.as_str().to_string()));
            let locked = agree(seen.iter().map(|u| u.locked.to_string()));
            let mfa = agree(seen.iter().map(|u| factors(u)));
            let quorum = agree(seen.iter().map(|u| token_sign(u.quorum)));
            let everywhere = seen.len() == per_hsm.len() && unreachable.is_empty();
            let full = everywhere
                && [&role as &dyn IsAgreed, &locked, &mfa, &quorum]
                    .iter()
                    .all(|f| f.agreed());
            UserRow {
                username: name.to_string(),
                role,
                locked,
                mfa,
                quorum,
                cluster_coverage: if full { "full" } else { "inconsistent" }.into(),
            }
        })
        .collect();
    UserList {
        users,
        unreachable_hsms: unreachable,
    }
}

trait IsAgreed {
    fn agreed(&self) -> bool;
}

impl<T> IsAgreed for Agreed<T> {
    fn agreed(&self) -> bool {
        matches!(self, Agreed::Value(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Role;

    fn user(name: &str, role: Role, locked: bool, mfa: bool) -> UserInfo {
        UserInfo {
            username: name.into(),
            role,
            locked,
            mfa,
            quorum: false,
            factors: Vec::new(),
        }
    }

    #[test]
    fn agreeing_hsms_give_full_coverage_in_the_cli_shape() {
        let a = vec![
            user("admin", Role::Admin, false, false),
            user("alice", Role::CryptoUser, false, true),
        ];
        let list = merge(&[a.clone(), a.clone(), a], Vec::new());
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json["users"][1],
            serde_json::json!({"username": "alice", "role": "crypto-user", "locked": "false",
                "mfa": [{"strategy": "token-sign", "status": "enabled"}], "quorum": [],
                "cluster-coverage": "full"})
        );
    }

    #[test]
    fn a_field_on_which_hsms_disagree_shows_inconsistent() {
        let list = merge(
            &[
                vec![user("bob", Role::CryptoUser, true, false)],
                vec![user("bob", Role::CryptoUser, false, false)],
            ],
            Vec::new(),
        );
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(json["users"][0]["locked"], "inconsistent");
        assert_eq!(json["users"][0]["role"], "crypto-user");
        assert_eq!(json["users"][0]["cluster-coverage"], "inconsistent");
    }

    #[test]
    fn a_user_missing_on_one_hsm_is_inconsistent() {
        let list = merge(
            &[vec![user("carol", Role::CryptoUser, false, false)], vec![]],
            Vec::new(),
        );
        assert_eq!(list.users[0].cluster_coverage, "inconsistent");
        assert_eq!(list.users[0].locked, Agreed::Value("false".into()));
    }

    fn down(hsm: &str) -> UnreachableHsm {
        UnreachableHsm {
            hsm: hsm.into(),
            reason: "unreachable: connection refused".into(),
        }
    }

    #[test]
    fn an_hsm_that_did_not_answer_makes_every_user_inconsistent_and_is_named() {
        let a = vec![user("admin", Role::Admin, false, false)];
        let list = merge(&[a.clone(), a], vec![down("hsm-3 (127.0.0.1:2225)")]);
        assert_eq!(list.users[0].cluster_coverage, "inconsistent");
        assert_eq!(list.users[0].role, Agreed::Value("admin".into()));
        let json = serde_json::to_value(&list).unwrap();
        assert_eq!(
            json["unreachable-hsms"],
            serde_json::json!([{"hsm": "hsm-3 (127.0.0.1:2225)",
                "reason": "unreachable: connection refused"}])
        );
    }

    #[test]
    fn when_every_hsm_answered_there_is_no_unreachable_list() {
        let a = vec![user("admin", Role::Admin, false, false)];
        let json = serde_json::to_value(merge(&[a.clone(), a], Vec::new())).unwrap();
        assert_eq!(json.as_object().unwrap().len(), 1, "{json}");
        assert_eq!(json["users"][0]["cluster-coverage"], "full");
    }
}
