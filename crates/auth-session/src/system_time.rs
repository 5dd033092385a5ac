//! "Now" from the system's real-time clock, for session bookkeeping.
//!
//! A session's deadlines are kept in whole seconds, so where the kernel offers a coarse
//! real-time clock (Linux: `CLOCK_REALTIME_COARSE`, the time at the last timer tick, 1 to 4 ms
//! behind the precise clock) the layer and [`MemoryStore`](crate::MemoryStore) read that one:
//! about 5 ns a reading instead of about 25 for the precise clock, measured on the 2-core VM
//! this project's benchmarks run on, and a request that loads and saves a session reads the
//! clock twice. A reading a few milliseconds old can only move a deadline, or the moment a
//! deadline is seen to have passed, by those few milliseconds. Elsewhere the precise clock is
//! read, as `SystemTime::now` does.
//!
//! This serves only the default system clock; a [`Clock`](auth_core::Clock) given to the
//! layer or store (a `ManualClock` in tests) is always what they read.

/// Nanoseconds since the Unix epoch (negative before it).
pub(crate) fn now_nanos() -> i128 {
    imp::now_nanos()
}

/// Whole seconds since the Unix epoch, rounded down.
pub(crate) fn now_seconds() -> i64 {
    crate::unix_time::seconds_of(now_nanos())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod imp {
    use rustix::time::{ClockId, clock_gettime};

    pub(super) fn now_nanos() -> i128 {
        let at = clock_gettime(ClockId::RealtimeCoarse);
        i128::from(at.tv_sec) * 1_000_000_000 + i128::from(at.tv_nsec)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod imp {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub(super) fn now_nanos() -> i128 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_nanos() as i128,
            Err(before) => -(before.duration().as_nanos() as i128),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_reading_trails_the_precise_clock_by_at_most_a_tick() {
        let precise = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as i128
        };
        for _ in 0..1000 {
            let before = precise();
            let coarse = now_nanos();
            let seconds = i128::from(now_seconds());
            let after = precise();
            // A coarse clock is at most one tick (10 ms at HZ=100) behind; 50 ms of slack
            // for a slow machine.
            let earliest = before - 50_000_000;
            assert!(
                (earliest..=after).contains(&coarse),
                "{before} {coarse} {after}"
            );
            assert!(
                (earliest.div_euclid(1_000_000_000)..=after.div_euclid(1_000_000_000))
                    .contains(&seconds),
                "{before} {seconds} {after}"
            );
        }
    }
}
