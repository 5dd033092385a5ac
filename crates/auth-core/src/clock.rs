//! Time as every expiry decision sees it.
//!
//! Layers and stores never call `OffsetDateTime::now_utc()` directly: they ask a [`Clock`].
//! Production code uses [`SystemClock`]; tests use [`ManualClock`] and move time by hand, so
//! expiry is tested without sleeping.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use time::{Duration, OffsetDateTime};

/// A source of the current time.
///
/// Object safe: share one as `Arc<dyn Clock>` ([`SharedClock`]).
pub trait Clock: fmt::Debug + Send + Sync + 'static {
    /// The current time, in UTC.
    fn now(&self) -> OffsetDateTime;

    /// The current time as whole seconds since the Unix epoch.
    fn unix_timestamp(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// A clock shared between layers, stores and tests.
pub type SharedClock = Arc<dyn Clock>;

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }

    fn unix_timestamp(&self) -> i64 {
        (**self).unix_timestamp()
    }
}

/// The operating system's wall clock.
///
/// ```
/// use auth_core::{Clock, SystemClock};
/// assert!(SystemClock.now().year() >= 2024);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    /// Read straight from the OS clock, without building a calendar date (on every JWT
    /// check). Rounds down like [`OffsetDateTime::unix_timestamp`], before 1970 too.
    fn unix_timestamp(&self) -> i64 {
        unix_seconds(std::time::SystemTime::now())
    }
}

/// Whole seconds since the Unix epoch, rounded down (towards the past).
fn unix_seconds(at: std::time::SystemTime) -> i64 {
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    match at.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => secs(after),
        Err(before) => {
            let before = before.duration();
            let partial = i64::from(before.subsec_nanos() > 0);
            secs(before).saturating_add(partial).saturating_neg()
        }
    }
}

/// A clock that only moves when told to; clones share the same time.
///
/// Resolution is one nanosecond; the representable range is that of `i64` nanoseconds since
/// the epoch (years 1677 to 2262).
///
/// ```
/// use auth_core::{Clock, ManualClock};
/// use time::Duration;
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let seen_by_layer = clock.clone();
/// clock.advance(Duration::minutes(30));
/// assert_eq!(seen_by_layer.unix_timestamp(), 1_700_000_000 + 30 * 60);
/// ```
#[derive(Clone)]
pub struct ManualClock {
    nanos: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock stopped at `at`.
    ///
    /// # Panics
    ///
    /// When `at` lies outside the years 1677 to 2262.
    pub fn new(at: OffsetDateTime) -> Self {
        Self {
            nanos: Arc::new(AtomicI64::new(to_nanos(at))),
        }
    }

    /// A clock stopped at `seconds` since the Unix epoch.
    pub fn at_unix(seconds: i64) -> Self {
        Self {
            nanos: Arc::new(AtomicI64::new(seconds.saturating_mul(1_000_000_000))),
        }
    }

    /// Sets the time.
    ///
    /// # Panics
    ///
    /// When `at` lies outside the years 1677 to 2262.
    pub fn set(&self, at: OffsetDateTime) {
        self.nanos.store(to_nanos(at), Ordering::SeqCst);
    }

    /// Moves the time by `by` (which may be negative), saturating at the ends of the range.
    pub fn advance(&self, by: Duration) {
        let delta = i64::try_from(by.whole_nanoseconds()).unwrap_or(if by.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(delta))
            });
    }
}

#[allow(clippy::panic)]
fn to_nanos(at: OffsetDateTime) -> i64 {
    match i64::try_from(at.unix_timestamp_nanos()) {
        Ok(nanos) => nanos,
        Err(_) => panic!("ManualClock only represents the years 1677 to 2262"),
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        let nanos = self.nanos.load(Ordering::SeqCst);
        // Every i64 nanosecond count is within time's range, so this cannot fail.
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl Default for ManualClock {
    /// A clock stopped at 2025-01-01T00:00:00Z.
    fn default() -> Self {
        Self::at_unix(1_735_689_600)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ManualClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_seconds_round_down_like_offset_date_time() {
        use std::time::{Duration as StdDuration, UNIX_EPOCH};
        for nanos in [
            0_i128,
            1,
            999_999_999,
            1_000_000_000,
            1_700_000_000_123_456_789,
            -1,
            -999_999_999,
            -1_000_000_000,
            -1_000_000_001,
            -86_400_500_000_000,
        ] {
            let at = if nanos >= 0 {
                UNIX_EPOCH + StdDuration::from_nanos(u64::try_from(nanos).unwrap())
            } else {
                UNIX_EPOCH - StdDuration::from_nanos(u64::try_from(-nanos).unwrap())
            };
            let expected = OffsetDateTime::from_unix_timestamp_nanos(nanos)
                .unwrap()
                .unix_timestamp();
            assert_eq!(unix_seconds(at), expected, "{nanos}");
        }
        let (os, date) = (
            SystemClock.unix_timestamp(),
            SystemClock.now().unix_timestamp(),
        );
        assert!((date - os).abs() <= 1, "{os} vs {date}");
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_unix(100);
        assert_eq!(clock.unix_timestamp(), 100);
        assert_eq!(clock.unix_timestamp(), 100);
        clock.advance(Duration::seconds(5));
        assert_eq!(clock.unix_timestamp(), 105);
        clock.advance(Duration::seconds(-10));
        assert_eq!(clock.unix_timestamp(), 95);
    }

    #[test]
    fn manual_clock_clones_share_time_and_work_behind_dyn() {
        let clock = ManualClock::default();
        let shared: SharedClock = Arc::new(clock.clone());
        clock.set(OffsetDateTime::from_unix_timestamp(42).unwrap());
        assert_eq!(shared.unix_timestamp(), 42);
        assert_eq!(
            shared.now(),
            OffsetDateTime::from_unix_timestamp(42).unwrap()
        );
    }

    #[test]
    fn manual_clock_advance_saturates() {
        let clock = ManualClock::at_unix(0);
        clock.advance(Duration::MAX);
        assert_eq!(clock.nanos.load(Ordering::SeqCst), i64::MAX);
        assert!(clock.now().year() >= 2262);
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let diff = SystemClock.now() - OffsetDateTime::now_utc();
        assert!(diff.abs() < Duration::seconds(5));
    }
}
