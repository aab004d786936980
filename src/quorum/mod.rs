//! Quorum (M of N) authentication (SPEC §7), as rules with no I/O: the services and their
//! values, the layout of the per-HSM approval record ([`record`]), and the counting of
//! approvals ([`tally`]). The emulator's nodes, the client and the CLI all use them.

use std::fmt;

use serde::{Deserialize, Serialize};

pub mod record;
pub mod tally;

pub use record::{Record, LAYOUT_VERSION, RECORD_LEN};
pub use tally::{plan, Approver, Check, Plan, Rejection, Tally};

/// A quorum service: what a quorum value gates, or (for `registration`) what a token is
/// issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// User management run by an admin: create, delete, change password, change MFA.
    User,
    /// Setting a quorum value.
    Quorum,
    /// Registering a quorum key: tokens only, never a gate.
    Registration,
}

impl Service {
    /// Every service, in the order of the CLI's help.
    pub const ALL: [Service; 3] = [Service::User, Service::Quorum, Service::Registration];
    /// The services that have a quorum value.
    pub const GATES: [Service; 2] = [Service::User, Service::Quorum];

    /// The service's name, as the CloudHSM CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::User => "user",
            Service::Quorum => "quorum",
            Service::Registration => "registration",
        }
    }

    /// Parses a service name as users type it.
    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the service has a quorum value (`user`, `quorum`).
    pub fn is_gate(self) -> bool {
        Service::GATES.contains(&self)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The largest quorum value.
pub const MAX_VALUE: u32 = 8;
/// How long a quorum token may be used, unless the node's settings say otherwise.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 600;

/// The quorum value of each gated service. 1 means off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Values {
    pub user: u32,
    pub quorum: u32,
}

impl Default for Values {
    fn default() -> Self {
        Values { user: 1, quorum: 1 }
    }
}

impl Values {
    /// The value of `service` (1 for `registration`, which is never gated).
    pub fn get(&self, service: Service) -> u32 {
        match service {
            Service::User => self.user,
            Service::Quorum => self.quorum,
            Service::Registration => 1,
        }
    }

    /// Sets the value of a gated service; see [`check_new_value`] first.
    pub fn set(&mut self, service: Service, value: u32) {
        match service {
            Service::User => self.user = value,
            Service::Quorum => self.quorum = value,
            Service::Registration => {}
        }
    }

    /// Says what is wrong with stored values, if anything.
    pub fn check(&self) -> Result<(), String> {
        for service in Service::GATES {
            check_range(self.get(service))
                .map_err(|e| format!("the {service} quorum value: {e}"))?;
        }
        Ok(())
    }

    /// The lockout guard (SPEC §7): an error naming the service and both counts when
    /// `keys_after` admins holding a quorum key would be fewer than a service's value.
    pub fn guard(&self, keys_after: usize, what: &str) -> Result<(), String> {
        for service in Service::GATES {
            let value = self.get(service) as usize;
            if value > 1 && keys_after < value {
                return Err(format!(
                    "{what} would leave {keys_after} admins with a quorum key, but the {service} \
                     service's quorum value is {value}; lower the value first \
                     (quorum token-sign set-quorum-value)"
                ));
            }
        }
        Ok(())
    }
}

fn check_range(value: u32) -> Result<(), String> {
    if (1..=MAX_VALUE).contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{value} is not a quorum value; a value is 1 to {MAX_VALUE}"
        ))
    }
}

/// Whether `value` may be set for `service` when `admins_with_keys` admins hold a quorum
/// key: the service must be gated, the value 1 to 8, and at least that many admins able to
/// approve.
pub fn check_new_value(
    service: Service,
    value: u32,
    admins_with_keys: usize,
) -> Result<(), String> {
    if !service.is_gate() {
        return Err(format!(
            "the {service} service has no quorum value; the services with one are user and quorum"
        ));
    }
    check_range(value)?;
    if value > 1 && admins_with_keys < value as usize {
        return Err(format!(
            "a quorum value of {value} for the {service} service needs at least {value} admins \
             with a quorum key; {admins_with_keys} have one (user change-quorum token-sign register)"
        ));
    }
    Ok(())
}

/// The refusal of a gated operation that came without an approval.
pub fn approval_required(service: Service, required: u32) -> String {
    format!("Quorum Failed: the {service} service needs {required} approvals; pass --approval FILE")
}

/// The refusal of a gated operation whose approval has too few valid approvals.
pub fn too_few(present: usize, required: u32) -> String {
    format!(
        "Too few quorum approvals: currently {present} approvals, but {required} approvals required"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_parse_and_print_as_the_cli_spells_them() {
        for s in Service::ALL {
            assert_eq!(Service::parse(s.as_str()), Some(s));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(Service::parse("User"), None);
        assert!(Service::User.is_gate() && Service::Quorum.is_gate());
        assert!(!Service::Registration.is_gate());
        assert_eq!(
            serde_json::to_string(&Service::Registration).unwrap(),
            "\"registration\""
        );
    }

    #[test]
    fn values_start_at_one_and_range_from_one_to_eight() {
        let v = Values::default();
        assert_eq!((v.get(Service::User), v.get(Service::Quorum)), (1, 1));
        assert!(v.check().is_ok());
        assert!(check_new_value(Service::User, 1, 0).is_ok());
        assert!(check_new_value(Service::User, 8, 8).is_ok());
        assert!(check_new_value(Service::Quorum, 2, 2).is_ok());
        assert!(check_new_value(Service::User, 0, 9)
            .unwrap_err()
            .contains("1 to 8"));
        assert!(check_new_value(Service::User, 9, 9)
            .unwrap_err()
            .contains("1 to 8"));
        assert!(check_new_value(Service::Registration, 2, 9)
            .unwrap_err()
            .contains("no quorum value"));
        let short = check_new_value(Service::User, 3, 2).unwrap_err();
        assert!(
            short.contains("at least 3") && short.contains("2 have one"),
            "{short}"
        );
        let mut bad = Values::default();
        bad.set(Service::Quorum, 0);
        assert!(bad.check().unwrap_err().contains("quorum quorum value"));
    }

    #[test]
    fn the_guard_refuses_what_would_strand_a_service() {
        let mut v = Values::default();
        assert!(
            v.guard(0, "deleting admin a").is_ok(),
            "values of 1 need no keys"
        );
        v.set(Service::User, 2);
        assert!(v.guard(2, "deleting admin a").is_ok());
        let e = v.guard(1, "deleting admin a").unwrap_err();
        assert!(
            e.contains("deleting admin a")
                && e.contains("1 admins")
                && e.contains("user service")
                && e.contains("value is 2"),
            "{e}"
        );
        v.set(Service::User, 1);
        v.set(Service::Quorum, 3);
        assert!(v.guard(2, "x").unwrap_err().contains("quorum service"));
    }

    #[test]
    fn the_messages_carry_the_counts() {
        assert_eq!(
            approval_required(Service::User, 2),
            "Quorum Failed: the user service needs 2 approvals; pass --approval FILE"
        );
        assert_eq!(
            too_few(1, 2),
            "Too few quorum approvals: currently 1 approvals, but 2 approvals required"
        );
    }
}
