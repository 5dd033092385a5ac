//! The nanoseconds-since-the-epoch helpers the session layer computes expiry with (exact,
//! like the same sums on `OffsetDateTime`, without calendar work until a date is needed).

use time::{Duration, OffsetDateTime, PrimitiveDateTime};

/// `nanos` as a `Duration` (saturating).
pub(crate) fn duration(nanos: i128) -> Duration {
    const NANOS_PER_SECOND: i128 = 1_000_000_000;
    let rest = (nanos % NANOS_PER_SECOND) as i32;
    match i64::try_from(nanos / NANOS_PER_SECOND) {
        Ok(seconds) => Duration::new(seconds, rest),
        Err(_) if nanos < 0 => Duration::MIN,
        Err(_) => Duration::MAX,
    }
}

/// The whole seconds in `nanos` after the epoch, rounded down (what a clock reading `nanos`
/// gives as its Unix timestamp), saturating.
pub(crate) fn seconds_of(nanos: i128) -> i64 {
    const NANOS_PER_SECOND: i64 = 1_000_000_000;
    // Years 1677 to 2262 fit in `i64` nanoseconds, where division is cheap.
    match i64::try_from(nanos) {
        Ok(nanos) => nanos.div_euclid(NANOS_PER_SECOND),
        Err(_) => i64::try_from(nanos.div_euclid(i128::from(NANOS_PER_SECOND)))
            .unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX }),
    }
}

/// The date `nanos` after the epoch (saturating at the representable range).
pub(crate) fn date(nanos: i128) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if nanos < 0 {
        PrimitiveDateTime::MIN.assume_utc()
    } else {
        PrimitiveDateTime::MAX.assume_utc()
    })
}

/// `nanos` truncated to whole seconds (rounded down), still in nanoseconds, saturating at
/// the whole seconds of `OffsetDateTime`'s range (so [`date`] of it is the truncated date).
pub(crate) fn truncate(nanos: i128) -> i128 {
    nanos_of(seconds_of(nanos)).clamp(FIRST_SECOND, LAST_SECOND)
}

/// The first and last whole seconds an `OffsetDateTime` can hold, in nanoseconds.
const FIRST_SECOND: i128 =
    PrimitiveDateTime::MIN.assume_utc().unix_timestamp() as i128 * NANOS_PER_SECOND;
const LAST_SECOND: i128 =
    PrimitiveDateTime::MAX.assume_utc().unix_timestamp() as i128 * NANOS_PER_SECOND;

/// Whole Unix `seconds` in nanoseconds.
pub(crate) fn nanos_of(seconds: i64) -> i128 {
    i128::from(seconds) * NANOS_PER_SECOND
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_is_replace_nanosecond() {
        for nanos in [
            0_i128,
            1,
            -1,
            999_999_999,
            -999_999_999,
            -1_000_000_001,
            1_735_689_600_123_456_789,
            -1_735_689_600_123_456_789,
            i128::MAX,
            i128::MIN,
        ] {
            let expected = date(nanos).replace_nanosecond(0).unwrap();
            assert_eq!(date(truncate(nanos)), expected, "{nanos}");
        }
    }

    #[test]
    fn seconds_round_down_like_a_clocks_unix_timestamp() {
        for nanos in [
            0_i128,
            1,
            -1,
            999_999_999,
            1_000_000_000,
            -1_000_000_000,
            -1_000_000_001,
            1_735_689_600_123_456_789,
            -1_735_689_600_123_456_789,
            i128::from(i64::MAX) + 1,
            i128::from(i64::MIN) - 1,
        ] {
            let expected = nanos.div_euclid(1_000_000_000);
            assert_eq!(i128::from(seconds_of(nanos)), expected, "{nanos}");
            if let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                assert_eq!(seconds_of(nanos), at.unix_timestamp(), "{nanos}");
            }
        }
        assert_eq!(seconds_of(i128::MAX), i64::MAX);
        assert_eq!(seconds_of(i128::MIN), i64::MIN);
    }

    #[test]
    fn durations_from_nanoseconds_are_exact_and_saturate() {
        for nanos in [
            0_i128,
            1,
            -1,
            999_999_999,
            -1_000_000_001,
            1_800_000_000_123,
            -86_400_000_000_000,
        ] {
            assert_eq!(duration(nanos).whole_nanoseconds(), nanos);
        }
        assert_eq!(duration(i128::MAX), Duration::MAX);
        assert_eq!(duration(i128::MIN), Duration::MIN);
    }

    #[test]
    fn dates_from_nanoseconds_round_trip_and_saturate() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_735_689_600_123_456_789).unwrap();
        assert_eq!(date(at.unix_timestamp_nanos()), at);
        let mut z = 0x9E37_79B9_7F4A_7C15_u64;
        for _ in 0..10_000 {
            z = z.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            for nanos in [
                i128::from(z as i64),
                i128::from(z as i64) * 1000,
                i128::from(z >> 1) - (1 << 62),
            ] {
                match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
                    Ok(expected) => assert_eq!(date(nanos), expected, "{nanos}"),
                    Err(_) => assert!(nanos.unsigned_abs() > 1 << 62),
                }
            }
        }
        assert_eq!(date(i128::MAX), PrimitiveDateTime::MAX.assume_utc());
        assert_eq!(date(i128::MIN), PrimitiveDateTime::MIN.assume_utc());
    }

    #[test]
    fn truncation_and_whole_seconds_agree() {
        for nanos in [0_i128, 1, -1, 1_735_689_600_123_456_789, -1_000_000_001] {
            assert_eq!(
                truncate(nanos),
                nanos.div_euclid(NANOS_PER_SECOND) * NANOS_PER_SECOND
            );
            assert_eq!(nanos_of(seconds_of(nanos)), truncate(nanos));
        }
    }
}
