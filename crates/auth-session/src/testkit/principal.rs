//! The checks on who is logged in: the subject, and the issuer it belongs to.

use std::sync::Arc;

use auth_core::{CreateOutcome, SessionData, SessionStore};
use serde_json::json;

use super::Harness;
use super::check::{Check, LIVE};

/// The subject field round-trips through create and save, including its removal.
pub async fn subject_round_trips<H: Harness>(harness: &H) {
    let c = Check("subject_round_trips");
    let store = harness.store().await;
    let anonymous = c.record(harness, LIVE).with_value("k", json!(1));
    c.create(&store, &anonymous).await;
    let loaded = c
        .load(&store, &anonymous.id, "record without subject")
        .await;
    c.eq(loaded.subject, None, "subject of a record without one");

    let record = c
        .record(harness, LIVE)
        .with_subject("alice")
        .with_roles(["user", "admin"]);
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "record with subject").await;
    c.eq(
        loaded.subject.as_deref(),
        Some("alice"),
        "subject after create",
    );
    c.eq(
        loaded.roles.clone(),
        vec!["user".to_owned(), "admin".to_owned()],
        "roles after create",
    );

    let renamed = loaded.with_subject("ünïcødé@例え.jp");
    c.save(&store, &renamed, "save with a new subject").await;
    let loaded = c
        .load(&store, &record.id, "record with a new subject")
        .await;
    c.eq(
        loaded.subject.as_deref(),
        Some("ünïcødé@例え.jp"),
        "subject after save",
    );

    let mut cleared = loaded;
    cleared.subject = None;
    cleared.roles.clear();
    c.save(&store, &cleared, "save without subject").await;
    let loaded = c
        .load(&store, &record.id, "record whose subject was removed")
        .await;
    c.eq(loaded.subject, None, "subject after removal");
    c.eq(loaded.roles.is_empty(), true, "roles after removal");
    c.eq(
        loaded.data,
        Arc::new(SessionData::new()),
        "data of a subject-only record",
    );
}

/// The issuer of the logged-in identity ([`SessionRecord::issuer`](auth_core::SessionRecord))
/// round-trips through create, save and cycle, including its change and removal, and is kept
/// apart from the subject: `bob` of two issuers (or of none) are three records that each load
/// as written.
pub async fn issuer_round_trips<H: Harness>(harness: &H) {
    let c = Check("issuer_round_trips");
    let store = harness.store().await;
    let issuer_a = "https://idp-a.example/t\u{e9}nant/\u{2713}";
    let issuer_b = "https://idp-b.example";
    let of_a = c
        .record(harness, LIVE)
        .with_subject("bob")
        .with_issuer(issuer_a)
        .with_roles(["user"])
        .with_value("k", json!("a"));
    let of_b = c
        .record(harness, LIVE)
        .with_subject("bob")
        .with_issuer(issuer_b);
    let local = c.record(harness, LIVE).with_subject("bob");
    for record in [&of_a, &of_b, &local] {
        c.create(&store, record).await;
    }
    for (record, issuer) in [
        (&of_a, Some(issuer_a)),
        (&of_b, Some(issuer_b)),
        (&local, None),
    ] {
        let loaded = c.load(&store, &record.id, "record of bob").await;
        c.eq(
            loaded.subject.as_deref(),
            Some("bob"),
            "subject after create",
        );
        c.eq(loaded.issuer.as_deref(), issuer, "issuer after create");
    }
    let loaded = c.load(&store, &of_a.id, "record of bob of A").await;
    c.eq(&loaded, &of_a, "record with an issuer after create");

    let moved = loaded.clone().with_issuer(issuer_b);
    c.save(&store, &moved, "save with another issuer").await;
    let loaded = c.load(&store, &of_a.id, "record with another issuer").await;
    c.eq(
        loaded.issuer.as_deref(),
        Some(issuer_b),
        "issuer after save",
    );
    c.eq(loaded.subject.as_deref(), Some("bob"), "subject after save");

    let mut local_again = loaded;
    local_again.issuer = None;
    c.save(&store, &local_again, "save without issuer").await;
    let loaded = c
        .load(&store, &of_a.id, "record whose issuer was removed")
        .await;
    c.eq(loaded.issuer, None, "issuer after removal");
    c.eq(
        loaded.subject.as_deref(),
        Some("bob"),
        "subject after issuer removal",
    );

    let cycled = c
        .record(harness, LIVE)
        .with_subject("bob")
        .with_issuer(issuer_a);
    let outcome = c.ok(store.cycle(&of_b.id, &cycled).await, "cycle");
    c.eq(outcome, CreateOutcome::Created, "cycle to a fresh ID");
    let loaded = c.load(&store, &cycled.id, "cycled record").await;
    c.eq(
        loaded.issuer.as_deref(),
        Some(issuer_a),
        "issuer after cycle",
    );
    c.eq(&loaded, &cycled, "cycled record");
    c.load_none(&store, &of_b.id, "old ID after cycle").await;
    let loaded = c.load(&store, &local.id, "record of local bob").await;
    c.eq(
        loaded.issuer,
        None,
        "issuer of an untouched record without one",
    );
}
