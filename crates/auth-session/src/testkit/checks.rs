//! The checks, one `pub async fn` each.

use std::fmt;
use std::sync::Arc;

use auth_core::{
    CreateOutcome, SaveOutcome, SessionData, SessionId, SessionRecord, SessionStore, StoreResult,
};
use serde_json::{Value, json};
use time::Duration;

use super::Harness;

/// How long "live" records live: far beyond any check, even on real time.
pub(super) const LIVE: Duration = Duration::hours(1);
/// How long short-lived records live (whole seconds are stored, so 1 to 2 s in practice).
const SHORT: Duration = Duration::seconds(2);
/// How far the checks move time to expire a short-lived record.
const PAST_SHORT: Duration = Duration::seconds(3);

/// Tasks in [`concurrent_disjoint_updates_lose_nothing`].
pub const CONCURRENT_TASKS: usize = 32;
/// Updates each task makes in [`concurrent_disjoint_updates_lose_nothing`].
pub const CONCURRENT_ROUNDS: u64 = 3;

/// One running check: names itself in every failure.
pub(super) struct Check(pub(super) &'static str);

impl Check {
    /// Reports a failure. The kit is a test library: like `assert!`, it fails by panicking.
    #[allow(clippy::panic)]
    pub(super) fn fail(&self, why: impl fmt::Display) -> ! {
        panic!("store conformance check `{}` failed: {why}", self.0)
    }

    pub(super) fn ensure(&self, condition: bool, why: impl FnOnce() -> String) {
        if !condition {
            self.fail(why());
        }
    }

    pub(super) fn ok<T>(&self, result: StoreResult<T>, operation: &str) -> T {
        match result {
            Ok(value) => value,
            Err(error) => self.fail(format_args!("{operation} returned an error: {error}")),
        }
    }

    #[allow(clippy::needless_pass_by_value)] // called like `assert_eq!`, with values or refs
    pub(super) fn eq<T: PartialEq + fmt::Debug>(&self, got: T, want: T, what: &str) {
        if got != want {
            self.fail(format_args!("{what}: got {got:?}, want {want:?}"));
        }
    }

    pub(super) fn id(&self) -> SessionId {
        match SessionId::generate() {
            Ok(id) => id,
            Err(error) => self.fail(format_args!("could not generate an ID: {error}")),
        }
    }

    pub(super) fn record<H: Harness>(&self, harness: &H, ttl: Duration) -> SessionRecord {
        let now = harness.now();
        SessionRecord::new(self.id(), now, now + ttl)
    }

    pub(super) async fn create<S: SessionStore>(&self, store: &S, record: &SessionRecord) {
        let outcome = self.ok(store.create(record).await, "create");
        self.eq(outcome, CreateOutcome::Created, "create of a fresh ID");
    }

    pub(super) async fn load<S: SessionStore>(
        &self,
        store: &S,
        id: &SessionId,
        what: &str,
    ) -> SessionRecord {
        match self.ok(store.load(id).await, "load") {
            Some(record) => record,
            None => self.fail(format_args!("{what}: load returned None")),
        }
    }

    pub(super) async fn load_none<S: SessionStore>(&self, store: &S, id: &SessionId, what: &str) {
        if self.ok(store.load(id).await, "load").is_some() {
            self.fail(format_args!("{what}: load returned a record"));
        }
    }

    pub(super) async fn save<S: SessionStore>(
        &self,
        store: &S,
        record: &SessionRecord,
        what: &str,
    ) -> u64 {
        match self.ok(store.save(record).await, "save") {
            SaveOutcome::Saved { version } => {
                self.eq(version, record.version + 1, "version after save");
                version
            }
            other => self.fail(format_args!("{what}: save returned {other:?}")),
        }
    }
}

fn data(pairs: &[(&str, Value)]) -> SessionData {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect()
}

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

/// [`CONCURRENT_TASKS`] tokio tasks each update their own key of one session
/// [`CONCURRENT_ROUNDS`] times (load, modify, yield, save, retry on `Conflict`): every update
/// is kept and the version counts them exactly.
///
/// Needs a tokio runtime (`#[tokio::test]`); a multi-threaded one adds real parallelism.
pub async fn concurrent_disjoint_updates_lose_nothing<H: Harness>(harness: &H) {
    let c = Check("concurrent_disjoint_updates_lose_nothing");
    let store = Arc::new(harness.store().await);
    let record = c
        .record(harness, LIVE)
        .with_value("shared", json!("untouched"));
    c.create(&*store, &record).await;

    let tasks: Vec<_> = (0..CONCURRENT_TASKS)
        .map(|task| {
            let store = Arc::clone(&store);
            let id = record.id;
            tokio::spawn(async move { update_own_key(&*store, id, task).await })
        })
        .collect();
    for (task, handle) in tasks.into_iter().enumerate() {
        match handle.await {
            Ok(Ok(())) => {}
            Ok(Err(why)) => c.fail(format_args!("task {task}: {why}")),
            Err(error) => c.fail(format_args!("task {task} did not finish: {error}")),
        }
    }

    let loaded = c
        .load(&*store, &record.id, "after the concurrent updates")
        .await;
    for task in 0..CONCURRENT_TASKS {
        let key = format!("task-{task}");
        c.eq(
            loaded.data.get(&key),
            Some(&json!(CONCURRENT_ROUNDS)),
            &format!("value of `{key}` (an update was lost)"),
        );
    }
    c.eq(
        loaded.data.get("shared"),
        Some(&json!("untouched")),
        "untouched key",
    );
    c.eq(
        loaded.version,
        1 + CONCURRENT_TASKS as u64 * CONCURRENT_ROUNDS,
        "version after every update",
    );
}

async fn update_own_key<S: SessionStore>(
    store: &S,
    id: SessionId,
    task: usize,
) -> Result<(), String> {
    let key = format!("task-{task}");
    for round in 1..=CONCURRENT_ROUNDS {
        // Every conflict means another update succeeded, and there are only so many.
        let mut attempts = 0usize;
        loop {
            attempts += 1;
            if attempts > 100 * CONCURRENT_TASKS {
                return Err(format!(
                    "round {round}: still conflicting after {attempts} attempts"
                ));
            }
            let mut record = match store.load(&id).await {
                Ok(Some(record)) => record,
                Ok(None) => return Err(format!("round {round}: the session vanished")),
                Err(error) => return Err(format!("round {round}: load failed: {error}")),
            };
            let previous = record.data.get(&key).cloned().unwrap_or(json!(0));
            if previous != json!(round - 1) {
                return Err(format!(
                    "round {round}: own key was {previous}, want {}",
                    round - 1
                ));
            }
            record.data_mut().insert(key.clone(), json!(round));
            // Let the other tasks load the same version: this is what makes conflicts happen.
            tokio::task::yield_now().await;
            match store.save(&record).await {
                Ok(SaveOutcome::Saved { version }) if version == record.version + 1 => break,
                Ok(SaveOutcome::Saved { version }) => {
                    return Err(format!(
                        "round {round}: saved at version {version}, want {}",
                        record.version + 1
                    ));
                }
                Ok(SaveOutcome::Conflict) => {}
                Ok(SaveOutcome::NotFound) => {
                    return Err(format!("round {round}: save said the session is gone"));
                }
                Err(error) => return Err(format!("round {round}: save failed: {error}")),
            }
        }
    }
    Ok(())
}

/// A 1 MiB string value and a 10,000-key map survive create, load and save unchanged.
pub async fn large_values_round_trip<H: Harness>(harness: &H) {
    let c = Check("large_values_round_trip");
    let store = harness.store().await;
    let big: String = ('a'..='z').cycle().take(1 << 20).collect();
    let record = c.record(harness, LIVE).with_value("big", json!(big));
    c.create(&store, &record).await;
    let loaded = c
        .load(&store, &record.id, "record with a 1 MiB value")
        .await;
    c.ensure(loaded.data == record.data, || {
        let len = loaded.data.get("big").and_then(Value::as_str).map(str::len);
        format!("1 MiB value changed: loaded length {len:?}")
    });

    let many: SessionData = (0..10_000)
        .map(|n| (format!("key-{n:05}"), json!({ "n": n, "s": n.to_string() })))
        .collect();
    let record = c.record(harness, LIVE).with_data(many);
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "record with 10,000 keys").await;
    c.ensure(loaded.data == record.data, || {
        format!("10,000-key map changed: loaded {} keys", loaded.data.len())
    });
    let mut changed = loaded;
    changed.data_mut().insert("key-10000".into(), json!(big));
    c.save(&store, &changed, "save of the 10,000-key map").await;
    let loaded = c.load(&store, &record.id, "saved 10,000-key map").await;
    c.ensure(loaded.data == changed.data, || {
        format!("saved map changed: loaded {} keys", loaded.data.len())
    });
}

/// Keys and values in many scripts, emoji, combining characters, quotes, escapes and control
/// characters round-trip exactly; canonically equivalent keys stay distinct.
pub async fn unicode_keys_and_values_round_trip<H: Harness>(harness: &H) {
    let c = Check("unicode_keys_and_values_round_trip");
    let store = harness.store().await;
    let pairs = data(&[
        ("ключ", json!("значение")),
        ("键", json!({"嵌套": ["√", "\u{1F600}"]})),
        (
            "🔑",
            json!("🎉 party \u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"),
        ),
        ("\u{e9}", json!("precomposed")),
        ("e\u{301}", json!("decomposed")),
        ("", json!("empty key")),
        (" spaced key ", json!(" spaced value ")),
        ("quote\"back\\slash", json!("'single' \"double\" \\ /")),
        ("tab\tnew\nline", json!("control \u{1}\u{7}\u{1b}[0m\u{7f}")),
        ("\u{202e}rtl", json!("مرحبا بالعالم")),
        ("数字", json!([1.5, -0.0, 1e300, 9_007_199_254_740_993_u64])),
    ]);
    let expected = pairs.len();
    let record = c.record(harness, LIVE).with_data(pairs);
    c.create(&store, &record).await;
    let loaded = c.load(&store, &record.id, "record with unicode data").await;
    c.eq(loaded.data.len(), expected, "number of keys");
    c.eq(&loaded.data, &record.data, "unicode data");

    let changed = loaded.with_value("ключ", json!("изменено ✓"));
    c.save(&store, &changed, "save of unicode data").await;
    let loaded = c.load(&store, &record.id, "saved unicode data").await;
    c.eq(&loaded.data, &changed.data, "saved unicode data");
}
