//! The checks of the single-record operations: create-if-absent, load, the versioned save,
//! delete (and no resurrection after it), touch.

use auth_core::{CreateOutcome, SaveOutcome, SessionStore};
use serde_json::json;
use time::Duration;

use super::Harness;
use super::check::{Check, LIVE};

/// `create` stores the record as given (version included) and refuses an ID that is taken,
/// leaving the original untouched.
pub async fn create_refuses_taken_id<H: Harness>(harness: &H) {
    let c = Check("create_refuses_taken_id");
    let store = harness.store().await;
    let original = c
        .record(harness, LIVE)
        .with_value("owner", json!("original"));
    c.create(&store, &original).await;

    let mut intruder = c
        .record(harness, LIVE + Duration::hours(1))
        .with_value("owner", json!("intruder"))
        .with_version(5);
    intruder.id = original.id;
    let outcome = c.ok(store.create(&intruder).await, "create");
    c.eq(outcome, CreateOutcome::IdTaken, "create of a taken ID");
    let loaded = c
        .load(&store, &original.id, "original after refused create")
        .await;
    c.eq(&loaded, &original, "original after refused create");

    let versioned = c.record(harness, LIVE).with_version(7);
    c.create(&store, &versioned).await;
    let loaded = c
        .load(&store, &versioned.id, "record created at version 7")
        .await;
    c.eq(
        loaded.version,
        7,
        "version of a record created at version 7",
    );
}

/// `load` of an ID that was never created returns `None`.
pub async fn load_of_unknown_id_is_none<H: Harness>(harness: &H) {
    let c = Check("load_of_unknown_id_is_none");
    let store = harness.store().await;
    c.load_none(&store, &c.id(), "unknown ID").await;
}

/// `save` at the stored version writes every field and bumps the version by one.
pub async fn save_bumps_version_and_persists<H: Harness>(harness: &H) {
    let c = Check("save_bumps_version_and_persists");
    let store = harness.store().await;
    let now = harness.now();
    let record = c
        .record(harness, LIVE)
        .with_value("a", json!(1))
        .with_absolute_expiry(now + Duration::days(1))
        .with_idle_timeout(Duration::minutes(30));
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "created record").await;
    c.eq(&loaded, &record, "created record");

    let mut changed = loaded
        .with_value("b", json!({"nested": [1, 2]}))
        .with_expires_at(now + LIVE + Duration::minutes(10))
        .with_absolute_expiry(now + Duration::days(2))
        .with_idle_timeout(Duration::hours(2));
    changed.data_mut().remove("a");
    let version = c.save(&store, &changed, "save at the stored version").await;
    c.eq(version, 2, "version after the first save");
    let loaded = c.load(&store, &record.id, "saved record").await;
    c.eq(&loaded, &changed.clone().with_version(2), "saved record");

    let again = loaded.with_value("c", json!(null));
    c.eq(
        c.save(&store, &again, "second save").await,
        3,
        "version after the second save",
    );
    let loaded = c.load(&store, &record.id, "saved twice").await;
    c.eq(&loaded, &again.with_version(3), "record saved twice");
}

/// A save carrying a version other than the stored one is a `Conflict` and writes nothing.
pub async fn stale_save_conflicts<H: Harness>(harness: &H) {
    let c = Check("stale_save_conflicts");
    let store = harness.store().await;
    let record = c.record(harness, LIVE).with_value("k", json!("v1"));
    c.create(&store, &record).await;
    let first = c.load(&store, &record.id, "first load").await;
    let second = c.load(&store, &record.id, "second load").await;

    let first = first.with_value("k", json!("first"));
    c.save(&store, &first, "first writer").await;
    let second = second
        .with_value("k", json!("second"))
        .with_value("other", json!(true));
    let outcome = c.ok(store.save(&second).await, "save");
    c.eq(outcome, SaveOutcome::Conflict, "save at a stale version");
    let ahead = first.clone().with_version(99);
    let outcome = c.ok(store.save(&ahead).await, "save");
    c.eq(
        outcome,
        SaveOutcome::Conflict,
        "save at a version never stored",
    );

    let loaded = c.load(&store, &record.id, "after the conflicts").await;
    c.eq(
        &loaded,
        &first.with_version(2),
        "record after the conflicts",
    );
}

/// A save or touch after `delete` is refused and the record stays deleted (no resurrection).
pub async fn save_after_delete_is_not_found<H: Harness>(harness: &H) {
    let c = Check("save_after_delete_is_not_found");
    let store = harness.store().await;
    let record = c.record(harness, LIVE).with_value("k", json!(1));
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "created record").await;
    c.ok(store.delete(&record.id).await, "delete");

    let late = loaded.with_value("k", json!(2));
    let outcome = c.ok(store.save(&late).await, "save");
    c.eq(outcome, SaveOutcome::NotFound, "save after delete");
    c.load_none(&store, &record.id, "after a save of a deleted record")
        .await;
    let touched = c.ok(store.touch(&record.id, harness.now() + LIVE).await, "touch");
    c.eq(touched, false, "touch after delete");
    c.load_none(&store, &record.id, "after a touch of a deleted record")
        .await;
}

/// `delete` of a missing or already deleted record succeeds.
pub async fn delete_is_idempotent<H: Harness>(harness: &H) {
    let c = Check("delete_is_idempotent");
    let store = harness.store().await;
    c.ok(store.delete(&c.id()).await, "delete of an unknown ID");
    let record = c.record(harness, LIVE);
    c.create(&store, &record).await;
    c.ok(store.delete(&record.id).await, "delete");
    c.load_none(&store, &record.id, "after delete").await;
    c.ok(store.delete(&record.id).await, "second delete");
    c.load_none(&store, &record.id, "after the second delete")
        .await;
}

/// `touch` moves a live record's expiry without changing its version or data, and returns
/// `false` (creating nothing) for an unknown ID.
pub async fn touch_never_creates<H: Harness>(harness: &H) {
    let c = Check("touch_never_creates");
    let store = harness.store().await;
    let unknown = c.id();
    let touched = c.ok(store.touch(&unknown, harness.now() + LIVE).await, "touch");
    c.eq(touched, false, "touch of an unknown ID");
    c.load_none(&store, &unknown, "after a touch of an unknown ID")
        .await;

    let record = c.record(harness, LIVE).with_value("k", json!("v"));
    c.create(&store, &record).await;
    let later = record.expires_at + Duration::hours(1);
    let touched = c.ok(store.touch(&record.id, later).await, "touch");
    c.eq(touched, true, "touch of a live record");
    let loaded = c.load(&store, &record.id, "touched record").await;
    c.eq(
        &loaded,
        &record.clone().with_expires_at(later),
        "touched record",
    );
}
