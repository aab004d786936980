//! Quorum (M of N) authentication (SPEC §7): the services whose operations an admin runs
//! only with enough approvals.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A quorum service: what a quorum value gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Service {
    /// User management run by an admin: create, delete, change password, change MFA.
    User,
    /// Setting a quorum value.
    Quorum,
}

impl Service {
    /// The service's name, as the CloudHSM CLI spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::User => "user",
            Service::Quorum => "quorum",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
