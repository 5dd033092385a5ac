//! The checks of expiry on the harness clock: expired records are gone for every operation,
//! idle and absolute deadlines, cleanup.

use auth_core::{CreateOutcome, SaveOutcome, SessionStore};
use serde_json::json;
use time::Duration;

use super::Harness;
use super::check::{Check, LIVE, PAST_SHORT, SHORT};

/// `load` of an expired record returns `None`, and `create` may reuse its ID.
pub async fn load_of_expired_id_is_none<H: Harness>(harness: &H) {
    let c = Check("load_of_expired_id_is_none");
    let store = harness.store().await;
    let record = c.record(harness, SHORT).with_value("k", json!(1));
    c.create(&store, &record).await;
    c.load(&store, &record.id, "before expiry").await;
    harness.advance(PAST_SHORT).await;
    c.load_none(&store, &record.id, "after expiry").await;

    let mut reborn = c.record(harness, LIVE).with_value("k", json!(2));
    reborn.id = record.id;
    let outcome = c.ok(store.create(&reborn).await, "create");
    c.eq(
        outcome,
        CreateOutcome::Created,
        "create over an expired record",
    );
    let loaded = c
        .load(&store, &record.id, "record created over an expired one")
        .await;
    c.eq(&loaded, &reborn, "record created over an expired one");
}

/// A save or touch after expiry is refused and the record stays gone.
pub async fn save_after_expiry_is_not_found<H: Harness>(harness: &H) {
    let c = Check("save_after_expiry_is_not_found");
    let store = harness.store().await;
    let record = c.record(harness, SHORT).with_value("k", json!(1));
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "before expiry").await;
    harness.advance(PAST_SHORT).await;

    let late = loaded
        .with_value("k", json!(2))
        .with_expires_at(harness.now() + LIVE);
    let outcome = c.ok(store.save(&late).await, "save");
    c.eq(outcome, SaveOutcome::NotFound, "save after expiry");
    c.load_none(&store, &record.id, "after a save of an expired record")
        .await;
    let touched = c.ok(store.touch(&record.id, harness.now() + LIVE).await, "touch");
    c.eq(touched, false, "touch after expiry");
    c.load_none(&store, &record.id, "after a touch of an expired record")
        .await;
}

/// Idle expiry on the harness clock: a touch keeps a record alive past its first deadline, and
/// it expires at the touched one.
pub async fn idle_expiry_follows_touch<H: Harness>(harness: &H) {
    let c = Check("idle_expiry_follows_touch");
    let store = harness.store().await;
    let record = c.record(harness, SHORT).with_idle_timeout(SHORT);
    c.create(&store, &record).await;
    let touched = c.ok(
        store
            .touch(&record.id, harness.now() + SHORT + PAST_SHORT)
            .await,
        "touch",
    );
    c.eq(touched, true, "touch before the idle deadline");
    harness.advance(PAST_SHORT).await;
    c.load(&store, &record.id, "past the first deadline after a touch")
        .await;
    harness.advance(PAST_SHORT).await;
    c.load_none(&store, &record.id, "past the touched deadline")
        .await;
}

/// Absolute expiry on the harness clock: a record whose `expires_at` is its absolute deadline
/// is gone after it, whatever its idle timeout; the deadline and the timeout round-trip.
pub async fn absolute_expiry_is_enforced<H: Harness>(harness: &H) {
    let c = Check("absolute_expiry_is_enforced");
    let store = harness.store().await;
    let now = harness.now();
    let record = c
        .record(harness, SHORT)
        .with_absolute_expiry(now + SHORT)
        .with_idle_timeout(Duration::days(30))
        .with_value("k", json!(1));
    c.create(&store, &record).await;
    let loaded = c
        .load(&store, &record.id, "before the absolute deadline")
        .await;
    c.eq(&loaded, &record, "record with an absolute deadline");
    harness.advance(PAST_SHORT).await;
    c.load_none(&store, &record.id, "past the absolute deadline")
        .await;
    let outcome = c.ok(store.save(&loaded).await, "save");
    c.eq(
        outcome,
        SaveOutcome::NotFound,
        "save past the absolute deadline",
    );
}

/// `cleanup_expired` removes expired records and keeps live ones. Stores that expire records
/// natively may report 0.
pub async fn cleanup_removes_expired_keeps_live<H: Harness>(harness: &H) {
    let c = Check("cleanup_removes_expired_keeps_live");
    let store = harness.store().await;
    let short = c.record(harness, SHORT);
    let live = c.record(harness, LIVE).with_value("k", json!(1));
    c.create(&store, &short).await;
    c.create(&store, &live).await;
    harness.advance(PAST_SHORT).await;
    // Other checks may share the store, so more than one record may be removed.
    c.ok(store.cleanup_expired().await, "cleanup_expired");
    c.load_none(&store, &short.id, "expired record after cleanup")
        .await;
    let kept = c.load(&store, &live.id, "live record after cleanup").await;
    c.eq(&kept, &live, "live record after cleanup");
}
