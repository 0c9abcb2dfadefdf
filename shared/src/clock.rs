//! Time as a dependency: production reads the system clock, tests move a manual clock so expiry
//! logic is exercised without sleeping.

use std::sync::Mutex;
use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current instant as whole seconds since the Unix epoch.
    fn epoch_seconds(&self) -> i64 {
        self.now().unix_timestamp()
    }

    /// The current instant as whole microseconds since the Unix epoch.
    fn epoch_micros(&self) -> i64 {
        i64::try_from(self.now().unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX)
    }
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A manual clock starting at `start`.
    pub fn new(start: OffsetDateTime) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: time::Duration) {
        let mut now = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
