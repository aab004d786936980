//! Counting the approvals of a quorum approval file (SPEC §7): distinct admins (names
//! compared without case) whose signature over the token verifies with their registered
//! quorum key. Verifying is the caller's (it is costly, and a node does it away from its
//! lock): [`plan`] says which signatures to check with which key, [`Tally::count`] counts
//! once the checks are done.

use std::fmt;

/// Why an approver's signature was not counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// No admin of that name on this HSM.
    NotAnAdmin,
    /// The admin has no quorum key.
    NoQuorumKey,
    /// The same admin signed more than once; the first signature is the one checked.
    Duplicate,
    /// The signature does not verify with the admin's quorum key.
    BadSignature,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::NotAnAdmin => "not an admin of this HSM",
            Rejection::NoQuorumKey => "no quorum key registered",
            Rejection::Duplicate => "signed more than once",
            Rejection::BadSignature => "the signature does not verify with the quorum key",
        })
    }
}

/// What the caller knows of one approver.
pub enum Approver<'a> {
    /// Not an admin (or no such user).
    NotAnAdmin,
    /// An admin, with its quorum key (PEM) if it has one.
    Admin(Option<&'a str>),
}

/// One signature to verify: `signature` over the token with the quorum key `key_pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The approver, in lower case.
    pub username: String,
    pub key_pem: String,
    pub signature: Vec<u8>,
}

/// The signatures that need checking, and the approvers already rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub checks: Vec<Check>,
    pub rejected: Vec<(String, Rejection)>,
}

/// Sorts the approvers' `(username, signature)` pairs: each distinct admin with a quorum
/// key gets a check, in file order; everyone else is rejected with the reason.
pub fn plan<'a>(
    signatures: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    lookup: impl Fn(&str) -> Approver<'a>,
) -> Plan {
    let mut checks: Vec<Check> = Vec::new();
    let mut rejected = Vec::new();
    for (name, signature) in signatures {
        let name = name.to_ascii_lowercase();
        if checks.iter().any(|c| c.username == name) || rejected.iter().any(|(n, _)| *n == name) {
            rejected.push((name, Rejection::Duplicate));
            continue;
        }
        match lookup(&name) {
            Approver::NotAnAdmin => rejected.push((name, Rejection::NotAnAdmin)),
            Approver::Admin(None) => rejected.push((name, Rejection::NoQuorumKey)),
            Approver::Admin(Some(pem)) => checks.push(Check {
                username: name,
                key_pem: pem.to_string(),
                signature: signature.to_vec(),
            }),
        }
    }
    Plan { checks, rejected }
}

/// The approvals that count, and those that do not with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tally {
    pub counted: Vec<String>,
    pub rejected: Vec<(String, Rejection)>,
}

impl Tally {
    /// Counts `plan` once each of its checks has its result in `verified` (same order).
    pub fn count(plan: Plan, verified: &[bool]) -> Tally {
        let mut tally = Tally {
            counted: Vec::new(),
            rejected: plan.rejected,
        };
        for (check, ok) in plan.checks.into_iter().zip(verified) {
            if *ok {
                tally.counted.push(check.username);
            } else {
                tally
                    .rejected
                    .push((check.username, Rejection::BadSignature));
            }
        }
        tally
    }

    /// The approvers not counted and why, for a message: `alice (the signature does not
    /// verify with the quorum key), bob (not an admin of this HSM)`.
    pub fn rejections(&self) -> String {
        self.rejected
            .iter()
            .map(|(name, why)| format!("{name} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_admins_with_keys_are_checked_and_the_rest_named() {
        let sigs: Vec<(&str, &[u8])> = vec![
            ("Alice", b"a1"),
            ("bob", b"b1"),
            ("ALICE", b"a2"),
            ("carol", b"c1"),
            ("dave", b"d1"),
        ];
        let plan = plan(sigs, |name| match name {
            "alice" => Approver::Admin(Some("KEY-A")),
            "bob" => Approver::Admin(Some("KEY-B")),
            "carol" => Approver::Admin(None),
            _ => Approver::NotAnAdmin,
        });
        assert_eq!(
            plan.checks
                .iter()
                .map(|c| (
                    c.username.as_str(),
                    c.key_pem.as_str(),
                    c.signature.as_slice()
                ))
                .collect::<Vec<_>>(),
            [
                ("alice", "KEY-A", b"a1".as_slice()),
                ("bob", "KEY-B", b"b1".as_slice())
            ]
        );
        assert_eq!(
            plan.rejected,
            [
                ("alice".to_string(), Rejection::Duplicate),
                ("carol".to_string(), Rejection::NoQuorumKey),
                ("dave".to_string(), Rejection::NotAnAdmin),
            ]
        );
        let tally = Tally::count(plan, &[true, false]);
        assert_eq!(tally.counted, ["alice"]);
        assert_eq!(
            tally.rejected.last().unwrap(),
            &("bob".to_string(), Rejection::BadSignature)
        );
        let text = tally.rejections();
        assert!(
            text.contains("bob (the signature does not verify with the quorum key)")
                && text.contains("dave (not an admin of this HSM)"),
            "{text}"
        );
    }

    #[test]
    fn no_signatures_count_nothing() {
        let plan = plan(Vec::<(&str, &[u8])>::new(), |_| Approver::NotAnAdmin);
        let tally = Tally::count(plan, &[]);
        assert!(tally.counted.is_empty() && tally.rejected.is_empty());
    }
}
