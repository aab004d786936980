//! The time a server gives its nodes: the real clock, or a test clock that stands still
//! until it is moved on, so that tests can expire challenges without waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Where a node's `now` comes from. Cloning shares the clock.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    test: Option<Arc<Mutex<Instant>>>,
}

impl Clock {
    /// The real clock ([`Instant::now`]); the default.
    pub fn real() -> Self {
        Clock { test: None }
    }

    /// A test clock: it starts at the present and moves only by [`Clock::advance`].
    pub fn test() -> Self {
        Clock {
            test: Some(Arc::new(Mutex::new(Instant::now()))),
        }
    }

    /// Whether this is a test clock.
    pub fn is_test(&self) -> bool {
        self.test.is_some()
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        match &self.test {
            None => Instant::now(),
            Some(t) => *t.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
        }
    }

    /// Moves a test clock on by `by`. The real clock cannot be moved.
    pub fn advance(&self, by: Duration) -> Result<()> {
        let Some(t) = &self.test else {
            return Err(Error::Invalid(
                "the real clock cannot be moved; start the cluster with a test clock".into(),
            ));
        };
        let mut now = t.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *now = now
            .checked_add(by)
            .ok_or_else(|| Error::Invalid(format!("cannot move the clock on by {by:?}")))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_stands_still_until_moved_and_clones_share_it() {
        let clock = Clock::test();
        let shared = clock.clone();
        let start = clock.now();
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(601)).unwrap();
        assert_eq!(shared.now(), start + Duration::from_secs(601));
        assert!(clock.is_test());
    }

    #[test]
    fn the_real_clock_is_the_default_and_cannot_be_moved() {
        let clock = Clock::default();
        assert!(!clock.is_test());
        let err = clock.advance(Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("test clock"), "{err}");
        let a = clock.now();
        assert!(clock.now() >= a);
    }
}
