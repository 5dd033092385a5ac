use auth_core::{Clock, ManualClock, SaveOutcome, SessionId, SessionRecord};
use time::{Duration, OffsetDateTime};

use super::cluster::{
    INDEX_HEADROOM, TouchStep, index_horizon, join_all, save_step, token, touch_step,
};
use super::codec;
use super::standalone::index_ttl;

#[test]
fn stored_data_never_contains_the_id() {
    let id = SessionId::from_bytes([9; 16]);
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let record = SessionRecord::new(id, now, now + Duration::hours(1));
    let data = String::from_utf8(codec::encode(&record).unwrap()).unwrap();
    assert!(!data.contains(&id.encode()));
}

#[test]
fn stored_fields_decode_into_the_record() {
    let id = SessionId::from_bytes([9; 16]);
    let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
    let record = SessionRecord::new(id, now, now + Duration::hours(1)).with_subject("alice");
    let data = codec::encode(&record).unwrap();
    let expires: i64 = codec::number(b"1700003600").unwrap();
    let decoded = codec::decode(id, 7, expires, &data).unwrap();
    assert_eq!(decoded.id, id);
    assert_eq!(decoded.version, 7);
    assert_eq!(decoded.expires_at, record.expires_at);
    assert_eq!(decoded.subject.as_deref(), Some("alice"));
    assert!(codec::number::<u64>(b"-1").is_err());
    assert!(codec::number::<i64>(b"12a").is_err());
}

#[test]
fn the_index_horizon_is_the_absolute_deadline_else_expiry_plus_headroom() {
    let now = OffsetDateTime::now_utc();
    let unix = now.unix_timestamp();
    let expires = now + Duration::minutes(30);
    let absolute = now + Duration::hours(12);
    assert_eq!(
        index_horizon(expires, Some(absolute), unix),
        absolute.unix_timestamp()
    );
    // A deadline before the expiry (the caller's mistake) does not cap the horizon.
    let early = now + Duration::minutes(5);
    assert!(index_horizon(expires, Some(early), unix) >= expires.unix_timestamp() + INDEX_HEADROOM);
    // Without a deadline: at least the headroom, or as much again as is left.
    let horizon = index_horizon(expires, None, unix);
    assert!(horizon >= expires.unix_timestamp() + INDEX_HEADROOM);
    let far = now + Duration::days(30);
    assert!(index_horizon(far, None, unix) >= far.unix_timestamp() + 29 * 86_400);
}

#[test]
fn the_index_lifetimes_follow_the_stores_clock() {
    let clock = ManualClock::at_unix(1_700_000_000);
    let expires = OffsetDateTime::from_unix_timestamp(1_700_000_000 + 86_400).unwrap();
    // A day left: the index lives a day, the horizon is a day past the expiry.
    assert_eq!(index_ttl(expires, clock.unix_timestamp()), 86_400);
    assert_eq!(
        index_horizon(expires, None, clock.unix_timestamp()),
        expires.unix_timestamp() + 86_400
    );
    // Past the expiry by the clock: the shortest index TTL, the headroom horizon.
    clock.advance(Duration::days(2));
    assert_eq!(index_ttl(expires, clock.unix_timestamp()), 1);
    assert_eq!(
        index_horizon(expires, None, clock.unix_timestamp()),
        expires.unix_timestamp() + INDEX_HEADROOM
    );
}

#[test]
fn save_replies_are_matched_exactly() {
    assert_eq!(
        save_step(1, false, 7).unwrap(),
        Some(SaveOutcome::Saved { version: 7 })
    );
    assert_eq!(save_step(0, true, 7).unwrap(), Some(SaveOutcome::Conflict));
    assert_eq!(
        save_step(-1, false, 7).unwrap(),
        Some(SaveOutcome::NotFound)
    );
    assert_eq!(save_step(-2, false, 7).unwrap(), None);
    // "Raise the index entry first" once it was raised, or any other reply: an error.
    assert!(save_step(-2, true, 7).is_err());
    for reply in [2, -3, 42] {
        assert!(save_step(reply, false, 7).is_err(), "{reply}");
    }
}

#[test]
fn touch_replies_are_matched_exactly() {
    assert_eq!(touch_step(1, String::new()).unwrap(), TouchStep::Done(true));
    assert_eq!(
        touch_step(0, String::new()).unwrap(),
        TouchStep::Done(false)
    );
    assert_eq!(
        touch_step(-2, "alice".to_owned()).unwrap(),
        TouchStep::RaiseIndex("alice".to_owned())
    );
    // Anything else, a subject with another reply, or "raise" without one: an error.
    for (reply, subject) in [(2, ""), (-1, ""), (-3, "alice"), (1, "alice"), (-2, "")] {
        assert!(
            touch_step(reply, subject.to_owned()).is_err(),
            "{reply} {subject:?}"
        );
    }
}

#[test]
fn tokens_are_random_hex() {
    let (a, b) = (token().unwrap(), token().unwrap());
    assert_eq!(a.len(), 24);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
}

#[tokio::test]
async fn join_all_keeps_the_order() {
    let outputs = join_all((0..5).map(|i| async move {
        if i % 2 == 0 {
            tokio::task::yield_now().await;
        }
        i * 10
    }))
    .await;
    assert_eq!(outputs, [0, 10, 20, 30, 40]);
    assert!(
        join_all(Vec::<std::future::Ready<u8>>::new())
            .await
            .is_empty()
    );
}
