//! Unix seconds to `OffsetDateTime` without redoing the calendar arithmetic on every call.
//!
//! `OffsetDateTime::from_unix_timestamp` converts the day number to a calendar date each time
//! (the bulk of its cost). A session's timestamps (created, idle and absolute deadlines) and
//! the clock's "now" fall on a few neighbouring days, so each thread keeps the dates of the
//! last days it converted (one slot per day number modulo [`SLOTS`], so consecutive days never
//! evict each other) and only builds the time of day for them.

use std::cell::Cell;

use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

const SECONDS_PER_DAY: i64 = 86_400;
/// Cached days per thread.
const SLOTS: usize = 4;

thread_local! {
    /// Recently converted days (days since the epoch) and their dates; `i64::MIN` is empty.
    static DAYS: [Cell<(i64, Date)>; SLOTS] =
        const { [const { Cell::new((i64::MIN, Date::MIN)) }; SLOTS] };
}

/// `OffsetDateTime::from_unix_timestamp(seconds)`: the same UTC date and time, `None` where
/// that is an error (out of range).
pub(crate) fn from_unix_seconds(seconds: i64) -> Option<OffsetDateTime> {
    let day = seconds.div_euclid(SECONDS_PER_DAY);
    let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    // `rem_euclid` by a power of two: never negative, below `SLOTS`.
    let slot = usize::try_from(day.rem_euclid(SLOTS as i64)).unwrap_or_default();
    let cached = DAYS
        .try_with(|days| days.get(slot).map(Cell::get))
        .ok()
        .flatten()
        .filter(|&(cached_day, _)| cached_day == day);
    let date = match cached {
        Some((_, date)) => date,
        None => {
            let date = OffsetDateTime::from_unix_timestamp(day.checked_mul(SECONDS_PER_DAY)?)
                .ok()?
                .date();
            let _ = DAYS.try_with(|days| {
                if let Some(cell) = days.get(slot) {
                    cell.set((day, date));
                }
            });
            date
        }
    };
    // `second_of_day` is in 0..86_400, so every part fits.
    let hour = u8::try_from(second_of_day / 3600).ok()?;
    let minute = u8::try_from(second_of_day / 60 % 60).ok()?;
    let second = u8::try_from(second_of_day % 60).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(seconds: i64) {
        assert_eq!(
            from_unix_seconds(seconds),
            OffsetDateTime::from_unix_timestamp(seconds).ok(),
            "{seconds}"
        );
    }

    #[test]
    fn same_answers_as_from_unix_timestamp() {
        let min = PrimitiveDateTime::MIN.assume_utc().unix_timestamp();
        let max = PrimitiveDateTime::MAX.assume_utc().unix_timestamp();
        for seconds in [
            0,
            -1,
            1,
            86_399,
            86_400,
            -86_400,
            -86_401,
            1_735_689_599,
            1_735_689_600,
            min,
            min - 1,
            max,
            max + 1,
            i64::MIN,
            i64::MAX,
        ] {
            check(seconds);
        }
        // Days in a row (the cache hit and miss paths), and a spread over the whole range.
        for seconds in (1_735_600_000..1_735_800_000).step_by(997) {
            check(seconds);
        }
        let mut z = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..20_000 {
            z = z.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            check((z >> 1) as i64 % (max + 1));
            check(-((z >> 1) as i64 % (1 - min)));
            check((z as i64) >> 20);
        }
    }
}
