//! The checks of `cycle`: a new ID for a live session, never for an ended one.

use auth_core::{CreateOutcome, SessionStore};
use serde_json::json;

use super::Harness;
use super::check::{Check, LIVE, PAST_SHORT, SHORT};

/// `cycle` creates the new record and deletes the old; to a taken ID it is `IdTaken` and
/// changes nothing.
pub async fn cycle_replaces_old_id<H: Harness>(harness: &H) {
    let c = Check("cycle_replaces_old_id");
    let store = harness.store().await;
    let old = c
        .record(harness, LIVE)
        .with_value("cart", json!([1, 2, 3]))
        .with_subject("alice");
    c.create(&store, &old).await;
    let loaded = c.load(&store, &old.id, "old record").await;

    let mut new = loaded.with_version(1);
    new.id = c.id();
    let outcome = c.ok(store.cycle(&old.id, &new).await, "cycle");
    c.eq(outcome, CreateOutcome::Created, "cycle to a fresh ID");
    c.load_none(&store, &old.id, "old ID after cycle").await;
    let loaded = c.load(&store, &new.id, "new ID after cycle").await;
    c.eq(&loaded, &new, "record under the new ID");

    let other = c.record(harness, LIVE).with_value("owner", json!("other"));
    c.create(&store, &other).await;
    let mut onto_taken = new.clone();
    onto_taken.id = other.id;
    let outcome = c.ok(store.cycle(&new.id, &onto_taken).await, "cycle");
    c.eq(outcome, CreateOutcome::IdTaken, "cycle to a taken ID");
    let kept = c
        .load(&store, &new.id, "current ID after a refused cycle")
        .await;
    c.eq(&kept, &new, "current record after a refused cycle");
    let untouched = c
        .load(&store, &other.id, "taken ID after a refused cycle")
        .await;
    c.eq(&untouched, &other, "record under the taken ID");
}

/// `cycle` from a session that a logout deleted, or that expired, is `NotFound` and creates
/// nothing: an ended session is never revived under a new ID.
pub async fn cycle_of_ended_session_is_not_found<H: Harness>(harness: &H) {
    let c = Check("cycle_of_ended_session_is_not_found");
    let store = harness.store().await;
    let old = c
        .record(harness, LIVE)
        .with_value("k", json!(1))
        .with_subject("alice");
    c.create(&store, &old).await;
    c.ok(store.delete(&old.id).await, "delete (logout)");
    let mut new = old.clone().with_version(1);
    new.id = c.id();
    let outcome = c.ok(store.cycle(&old.id, &new).await, "cycle");
    c.eq(outcome, CreateOutcome::NotFound, "cycle from a deleted ID");
    c.load_none(&store, &new.id, "new ID after a cycle from a deleted ID")
        .await;
    c.load_none(&store, &old.id, "old ID after a cycle from a deleted ID")
        .await;

    let short = c
        .record(harness, SHORT)
        .with_value("k", json!(2))
        .with_subject("alice");
    c.create(&store, &short).await;
    harness.advance(PAST_SHORT).await;
    let mut renewed = short.clone().with_version(1);
    renewed.id = c.id();
    renewed = renewed.with_expires_at(c.record(harness, LIVE).expires_at);
    let outcome = c.ok(store.cycle(&short.id, &renewed).await, "cycle");
    c.eq(outcome, CreateOutcome::NotFound, "cycle from an expired ID");
    c.load_none(
        &store,
        &renewed.id,
        "new ID after a cycle from an expired ID",
    )
    .await;
}
