//! The tunable behaviour of a node: password-hash cost, challenge lifetime, lockout.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a node hashes passwords and how long its challenges live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// Argon2id memory cost in KiB.
    pub argon2_memory_kib: u32,
    /// Argon2id passes over the memory.
    pub argon2_iterations: u32,
    /// Argon2id parallelism.
    pub argon2_lanes: u32,
    /// How long a challenge (login or MFA registration) can be answered.
    #[serde(rename = "challenge_ttl_secs", with = "secs")]
    pub challenge_ttl: Duration,
    /// Consecutive failed logins after which a user is locked.
    pub lockout_threshold: u32,
    /// How long a quorum token can be used (SPEC §7); absent in older manifests: 600 s.
    #[serde(
        rename = "quorum_token_ttl_secs",
        with = "secs",
        default = "default_quorum_ttl"
    )]
    pub quorum_token_ttl: Duration,
}

fn default_quorum_ttl() -> Duration {
    Duration::from_secs(cloudhsm_mfa::quorum::DEFAULT_TOKEN_TTL_SECS)
}

impl Default for NodeSettings {
    /// Argon2id at 19 MiB and 2 passes (the OWASP baseline), 10-minute challenges and
    /// quorum tokens, lockout after 5 failures.
    fn default() -> Self {
        NodeSettings {
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_lanes: 1,
            challenge_ttl: Duration::from_secs(600),
            lockout_threshold: 5,
            quorum_token_ttl: default_quorum_ttl(),
        }
    }
}

impl NodeSettings {
    /// The cheapest Argon2id cost (64 KiB, one pass): for tests and demos only, where a
    /// password hash must take microseconds rather than tens of milliseconds.
    pub fn low_cost() -> Self {
        NodeSettings {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..NodeSettings::default()
        }
    }

    /// Says what is wrong with the settings, if anything.
    pub fn validate(&self) -> Result<(), String> {
        argon2::Params::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_lanes,
            None,
        )
        .map_err(|e| {
            format!(
                "Argon2id cost (memory {} KiB, {} iterations, {} lanes) is not usable: {e}",
                self.argon2_memory_kib, self.argon2_iterations, self.argon2_lanes
            )
        })?;
        if self.challenge_ttl.as_secs() == 0 {
            return Err("the challenge lifetime must be at least 1 second".into());
        }
        if self.quorum_token_ttl.as_secs() == 0 {
            return Err("the quorum token lifetime must be at least 1 second".into());
        }
        if self.lockout_threshold == 0 {
            return Err("the lockout threshold must be at least 1".into());
        }
        Ok(())
    }
}

/// A `Duration` as whole seconds.
mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_json_with_the_ttl_in_seconds() {
        let s = NodeSettings {
            challenge_ttl: Duration::from_secs(42),
            ..NodeSettings::low_cost()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["challenge_ttl_secs"], 42);
        assert_eq!(serde_json::from_value::<NodeSettings>(v).unwrap(), s);
    }

    #[test]
    fn unusable_settings_say_why() {
        assert!(NodeSettings::default().validate().is_ok());
        assert!(NodeSettings::low_cost().validate().is_ok());
        let zero_ttl = NodeSettings {
            challenge_ttl: Duration::ZERO,
            ..NodeSettings::low_cost()
        };
        assert!(zero_ttl.validate().unwrap_err().contains("lifetime"));
        let no_lanes = NodeSettings {
            argon2_lanes: 0,
            ..NodeSettings::low_cost()
        };
        assert!(no_lanes.validate().unwrap_err().contains("Argon2id"));
        let no_lockout = NodeSettings {
            lockout_threshold: 0,
            ..NodeSettings::low_cost()
        };
        assert!(no_lockout.validate().unwrap_err().contains("lockout"));
    }
}
