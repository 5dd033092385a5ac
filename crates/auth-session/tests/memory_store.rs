//! `MemoryStore`: the conformance kit, plus what only an in-memory store has (bounds and
//! eviction, amortised expiry, sharing, concurrency).
#![cfg(all(feature = "memory", feature = "test-util"))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{
    Clock, CreateOutcome, ManualClock, SaveOutcome, SessionId, SessionRecord, SessionStore,
    StoreError, StoreFuture,
};
use auth_session::MemoryStore;
use auth_session::testkit::{self, ClockHarness, RealTimeHarness};
use serde_json::json;
use time::{Duration, OffsetDateTime};

fn store_at(clock: &ManualClock) -> MemoryStore {
    MemoryStore::with_clock(Arc::new(clock.clone()))
}

fn record(clock: &ManualClock, ttl: Duration) -> SessionRecord {
    let now = clock.now();
    SessionRecord::new(SessionId::generate().unwrap(), now, now + ttl)
}

async fn create(store: &MemoryStore, record: &SessionRecord) {
    assert_eq!(store.create(record).await.unwrap(), CreateOutcome::Created);
}

async fn is_live(store: &MemoryStore, id: &SessionId) -> bool {
    store.load(id).await.unwrap().is_some()
}

// ---- The conformance kit ------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_passes_the_testkit() {
    testkit::run(&ClockHarness::new(MemoryStore::with_clock)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn memory_store_passes_the_testkit_on_one_thread() {
    testkit::run(&ClockHarness::new(MemoryStore::with_clock)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_passes_the_testkit_when_checks_share_one_small_store() {
    let clock = ManualClock::default();
    // One shard with room for 64: the checks' sessions fit, so nothing is evicted.
    let store = store_at(&clock).with_max_sessions(64);
    let shared = store.clone();
    testkit::run(&ClockHarness::with_clock(clock, move |_| shared.clone())).await;
    assert_eq!(store.evictions(), 0);
}

#[tokio::test]
async fn expiry_follows_the_system_clock() {
    let harness = RealTimeHarness::new(|| async { MemoryStore::new() });
    testkit::load_of_expired_id_is_none(&harness).await;
}

// ---- Bounds and eviction ------------------------------------------------------------------

#[tokio::test]
async fn full_store_evicts_the_session_closest_to_expiry() {
    let clock = ManualClock::default();
    let store = store_at(&clock).with_max_sessions(3);
    let a = record(&clock, Duration::minutes(30));
    let b = record(&clock, Duration::minutes(10));
    let c = record(&clock, Duration::minutes(60));
    let d = record(&clock, Duration::minutes(90));
    for r in [&a, &b, &c] {
        create(&store, r).await;
    }
    create(&store, &d).await;
    assert!(!is_live(&store, &b.id).await, "b expires first");
    assert!(is_live(&store, &a.id).await && is_live(&store, &c.id).await);
    assert_eq!((store.len(), store.evictions()), (3, 1));

    // A touch moves a session back in the eviction order.
    assert!(
        store
            .touch(&a.id, clock.now() + Duration::hours(2))
            .await
            .unwrap()
    );
    create(&store, &record(&clock, Duration::hours(3))).await;
    assert!(!is_live(&store, &c.id).await, "c now expires first");
    assert!(is_live(&store, &a.id).await && is_live(&store, &d.id).await);
    assert_eq!((store.len(), store.evictions()), (3, 2));
}

#[tokio::test]
async fn a_save_moves_a_session_in_the_eviction_order() {
    let clock = ManualClock::default();
    let store = store_at(&clock).with_max_sessions(2);
    let a = record(&clock, Duration::minutes(10));
    let b = record(&clock, Duration::minutes(60));
    create(&store, &a).await;
    create(&store, &b).await;
    let extended = a.clone().with_expires_at(clock.now() + Duration::hours(2));
    assert_eq!(
        store.save(&extended).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    create(&store, &record(&clock, Duration::hours(1))).await;
    assert!(is_live(&store, &a.id).await);
    assert!(!is_live(&store, &b.id).await);
}

#[tokio::test]
async fn expired_sessions_make_room_before_live_ones_are_evicted() {
    let clock = ManualClock::default();
    let store = store_at(&clock).with_max_sessions(2);
    let short = record(&clock, Duration::minutes(1));
    let long = record(&clock, Duration::hours(1));
    create(&store, &short).await;
    create(&store, &long).await;
    clock.advance(Duration::minutes(2));
    let new = record(&clock, Duration::hours(1));
    create(&store, &new).await;
    assert_eq!(store.evictions(), 0);
    assert!(is_live(&store, &long.id).await && is_live(&store, &new.id).await);
}

#[tokio::test]
async fn the_bound_holds_across_shards() {
    let clock = ManualClock::default();
    // 8 shards of 125.
    let store = store_at(&clock).with_max_sessions(1000);
    for n in 0..5000 {
        create(&store, &record(&clock, Duration::minutes(10 + n))).await;
    }
    assert_eq!(store.len(), 1000);
    assert_eq!(store.evictions(), 4000);
}

#[tokio::test]
async fn cycle_into_a_full_shard_evicts_and_still_replaces() {
    let clock = ManualClock::default();
    let store = store_at(&clock).with_max_sessions(2);
    let old = record(&clock, Duration::hours(2)).with_value("k", json!(1));
    let other = record(&clock, Duration::hours(1));
    create(&store, &old).await;
    create(&store, &other).await;
    let mut new = old.clone();
    new.id = SessionId::generate().unwrap();
    assert_eq!(
        store.cycle(&old.id, &new).await.unwrap(),
        CreateOutcome::Created
    );
    assert!(!is_live(&store, &old.id).await);
    assert_eq!(store.load(&new.id).await.unwrap().unwrap(), new);
    assert!(store.len() <= 2);
}

// ---- Expiry -------------------------------------------------------------------------------

#[tokio::test]
async fn writes_remove_expired_sessions_without_a_cleanup() {
    let clock = ManualClock::default();
    // One shard, so the amortised sweep is deterministic: each write pops up to 4 entries.
    let store = store_at(&clock).with_max_sessions(100);
    for _ in 0..50 {
        create(&store, &record(&clock, Duration::minutes(1))).await;
    }
    clock.advance(Duration::minutes(2));
    for _ in 0..13 {
        create(&store, &record(&clock, Duration::hours(1))).await;
    }
    assert_eq!(store.len(), 13);
    assert_eq!(store.cleanup_expired().await.unwrap(), 0);
}

#[tokio::test]
async fn a_load_removes_the_expired_session_it_finds() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let r = record(&clock, Duration::minutes(1));
    create(&store, &r).await;
    clock.advance(Duration::minutes(1));
    assert_eq!(store.len(), 1);
    assert!(
        !is_live(&store, &r.id).await,
        "expires_at <= now is expired"
    );
    assert!(store.is_empty());
}

#[tokio::test]
async fn cleanup_counts_exactly_the_expired_sessions() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    for _ in 0..10 {
        create(&store, &record(&clock, Duration::minutes(1))).await;
    }
    let live: Vec<_> = (0..5).map(|_| record(&clock, Duration::hours(1))).collect();
    for r in &live {
        create(&store, r).await;
    }
    clock.advance(Duration::minutes(5));
    assert_eq!(store.cleanup_expired().await.unwrap(), 10);
    assert_eq!(store.len(), 5);
    assert_eq!(store.cleanup_expired().await.unwrap(), 0);
    for r in &live {
        assert!(is_live(&store, &r.id).await);
    }
}

#[tokio::test]
async fn creating_an_already_expired_record_stores_nothing() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let r = record(&clock, Duration::ZERO);
    create(&store, &r).await;
    assert!(store.is_empty());
}

// ---- Sharing, Debug -----------------------------------------------------------------------

#[tokio::test]
async fn loads_share_the_data_instead_of_copying_it() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let r = record(&clock, Duration::hours(1)).with_value("big", json!("x".repeat(4096)));
    create(&store, &r).await;
    let first = store.load(&r.id).await.unwrap().unwrap();
    let second = store.load(&r.id).await.unwrap().unwrap();
    assert!(Arc::ptr_eq(&first.data, &second.data));
    assert!(Arc::ptr_eq(&first.data, &r.data));

    let empty = record(&clock, Duration::hours(1));
    create(&store, &empty).await;
    let one = store.load(&empty.id).await.unwrap().unwrap();
    let two = store.load(&empty.id).await.unwrap().unwrap();
    assert!(one.data.is_empty());
    assert!(Arc::ptr_eq(&one.data, &two.data), "one shared empty map");
}

#[tokio::test]
async fn clones_share_the_sessions() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let clone = store.clone();
    let r = record(&clock, Duration::hours(1));
    create(&store, &r).await;
    assert!(is_live(&clone, &r.id).await);
    clone.delete(&r.id).await.unwrap();
    assert!(!is_live(&store, &r.id).await);
}

#[tokio::test]
async fn debug_never_shows_ids_or_data() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let r = record(&clock, Duration::hours(1))
        .with_value("token", json!("hunter2-secret"))
        .with_subject("alice@example.com");
    create(&store, &r).await;
    let text = format!("{store:?}");
    assert!(text.contains("sessions: 1"), "{text}");
    assert!(!text.contains(&r.id.encode()), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("token"),
        "{text}"
    );
    assert!(!text.contains("alice"), "{text}");
}

#[tokio::test]
async fn the_store_works_behind_a_dyn_pointer() {
    let clock = ManualClock::default();
    let store: Arc<dyn SessionStore> = Arc::new(store_at(&clock));
    let r = record(&clock, Duration::hours(1));
    assert_eq!(store.create(&r).await.unwrap(), CreateOutcome::Created);
    assert_eq!(store.load(&r.id).await.unwrap().unwrap(), r);
}

// ---- Concurrency --------------------------------------------------------------------------

/// A chain of cycles `ids[0] -> ids[1] -> ...` while readers walk the chain: a reader that
/// finds `ids[i]` gone must find a later one, because the new ID exists before the old is
/// deleted. A reader that falls off the end saw a moment with neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cycle_is_never_seen_with_neither_id() {
    const CHAIN: usize = 2000;
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let ids: Arc<Vec<SessionId>> =
        Arc::new((0..CHAIN).map(|_| SessionId::generate().unwrap()).collect());
    let first = record(&clock, Duration::hours(1)).with_value("k", json!("carried"));
    let mut current = first.clone();
    current.id = ids[0];
    create(&store, &current).await;

    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            tokio::spawn(async move {
                let mut i = 0;
                loop {
                    if let Some(found) = store.load(&ids[i]).await.unwrap() {
                        assert_eq!(found.data.get("k"), Some(&json!("carried")));
                        if i == CHAIN - 1 {
                            return;
                        }
                    } else {
                        i += 1;
                        assert!(i < CHAIN, "a reader saw neither the old nor the new ID");
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();

    for next in ids.iter().skip(1) {
        let mut new = current.clone();
        new.id = *next;
        assert_eq!(
            store.cycle(&current.id, &new).await.unwrap(),
            CreateOutcome::Created
        );
        current = new;
        tokio::task::yield_now().await;
    }
    for reader in readers {
        reader.await.unwrap();
    }
    assert_eq!(store.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_tasks_create_save_and_delete_their_own_sessions() {
    let clock = ManualClock::default();
    let store = store_at(&clock);
    let tasks: Vec<_> = (0..16)
        .map(|task| {
            let (store, clock) = (store.clone(), clock.clone());
            tokio::spawn(async move {
                let mut kept = Vec::new();
                for n in 0..500 {
                    let r = record(&clock, Duration::hours(1)).with_value("n", json!(n));
                    create(&store, &r).await;
                    let loaded = store.load(&r.id).await.unwrap().unwrap();
                    let saved = loaded.with_value("task", json!(task));
                    assert_eq!(
                        store.save(&saved).await.unwrap(),
                        SaveOutcome::Saved { version: 2 }
                    );
                    if n % 2 == 0 {
                        store.delete(&r.id).await.unwrap();
                    } else {
                        kept.push(saved.with_version(2));
                    }
                }
                kept
            })
        })
        .collect();
    let mut kept = Vec::new();
    for task in tasks {
        kept.extend(task.await.unwrap());
    }
    assert_eq!(store.len(), 16 * 250);
    for r in &kept {
        assert_eq!(&store.load(&r.id).await.unwrap().unwrap(), r);
    }
}

#[tokio::test]
async fn times_are_kept_to_the_second() {
    let clock = ManualClock::default();
    clock.advance(Duration::milliseconds(700));
    let store = store_at(&clock);
    let now = clock.now();
    let r = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + Duration::hours(1),
    )
    .with_absolute_expiry(OffsetDateTime::from_unix_timestamp(4_102_444_800).unwrap())
    .with_idle_timeout(Duration::days(400));
    create(&store, &r).await;
    assert_eq!(store.load(&r.id).await.unwrap().unwrap(), r);
}

// ---- The kit catches broken stores --------------------------------------------------------

/// A store with one of the flaws peers have.
#[derive(Debug, Clone)]
struct Flawed {
    inner: MemoryStore,
    flaw: Flaw,
}

#[derive(Debug, Clone, Copy)]
enum Flaw {
    /// `create` overwrites.
    CreateOverwrites,
    /// `save` ignores the version (last writer wins).
    SaveIgnoresVersion,
    /// `save` of a missing record creates it (upsert).
    SaveUpserts,
    /// No per-principal index (the trait's defaults): not a flaw, the kit accepts it.
    NoIndex,
    /// `sessions_of` lists the session it was told to leave out.
    ListingIgnoresExcept,
    /// `delete_sessions_of` deletes the session it was told to keep.
    RevocationIgnoresKeep,
    /// `sessions_of` but no `delete_sessions_of`.
    HalfAnIndex,
}

impl SessionStore for Flawed {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(async move { self.inner.load(id).await })
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            if matches!(self.flaw, Flaw::CreateOverwrites) {
                self.inner.delete(&record.id).await?;
            }
            self.inner.create(record).await
        })
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            let current = self.inner.load(&record.id).await?;
            match (self.flaw, current) {
                (Flaw::SaveIgnoresVersion, Some(current)) => {
                    let record = record.clone().with_version(current.version);
                    self.inner.save(&record).await
                }
                (Flaw::SaveUpserts, None) => {
                    let _ = self.inner.create(record).await?;
                    Ok(SaveOutcome::Saved {
                        version: record.version + 1,
                    })
                }
                _ => self.inner.save(record).await,
            }
        })
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move { self.inner.touch(id, expires_at).await })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move { self.inner.delete(id).await })
    }

    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        match self.flaw {
            Flaw::NoIndex => StoreFuture::ready(Err(StoreError::Unsupported("sessions_of"))),
            Flaw::ListingIgnoresExcept => self.inner.sessions_of(issuer, subject, None),
            _ => self.inner.sessions_of(issuer, subject, except),
        }
    }

    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        match self.flaw {
            Flaw::NoIndex | Flaw::HalfAnIndex => {
                StoreFuture::ready(Err(StoreError::Unsupported("delete_sessions_of")))
            }
            Flaw::RevocationIgnoresKeep => self.inner.delete_sessions_of(issuer, subject, None),
            _ => self.inner.delete_sessions_of(issuer, subject, keep),
        }
    }
}

/// Runs every check against a store with `flaw` on a thread of its own, to catch the panic.
fn run_kit(flaw: Flaw) -> std::thread::Result<()> {
    std::thread::spawn(move || {
        let harness = ClockHarness::new(move |clock| Flawed {
            inner: MemoryStore::with_clock(clock),
            flaw,
        });
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(testkit::run(&harness));
    })
    .join()
}

/// Runs every check against a store with `flaw`; returns the first failure's message.
fn first_failure(flaw: Flaw) -> String {
    let payload = run_kit(flaw).expect_err("the kit must reject a flawed store");
    payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn the_kit_rejects_a_create_that_overwrites() {
    let message = first_failure(Flaw::CreateOverwrites);
    assert!(message.contains("`create_refuses_taken_id`"), "{message}");
}

#[test]
fn the_kit_rejects_last_writer_wins() {
    let message = first_failure(Flaw::SaveIgnoresVersion);
    assert!(message.contains("`stale_save_conflicts`"), "{message}");
}

#[test]
fn the_kit_rejects_resurrection() {
    let message = first_failure(Flaw::SaveUpserts);
    assert!(
        message.contains("`save_after_delete_is_not_found`"),
        "{message}"
    );
}

#[test]
fn the_kit_accepts_a_store_without_a_per_principal_index() {
    assert!(run_kit(Flaw::NoIndex).is_ok());
}

#[test]
fn the_kit_rejects_a_listing_that_ignores_except() {
    let message = first_failure(Flaw::ListingIgnoresExcept);
    assert!(
        message.contains("`sessions_of_lists_one_principal_only`"),
        "{message}"
    );
}

#[test]
fn the_kit_rejects_a_revocation_that_ignores_keep() {
    let message = first_failure(Flaw::RevocationIgnoresKeep);
    assert!(
        message.contains("`delete_sessions_of_ends_one_principal_only`"),
        "{message}"
    );
}

#[test]
fn the_kit_rejects_half_an_index() {
    let message = first_failure(Flaw::HalfAnIndex);
    assert!(
        message.contains("Unsupported, the other is not"),
        "{message}"
    );
}

// ---- A user's sessions: the walk of every shard -------------------------------------------

/// Sessions of bob of A that keep changing ID (cycles, nearly all between two shards) while
/// others list and then revoke them: every listing finds each session exactly once (under
/// its old or its new ID), and the revocation ends every one of them (no cycle carries one
/// past it), so each cycling task then finds its session gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_that_change_id_during_a_walk_are_seen_once_and_revoked() {
    const SESSIONS: usize = 8;
    const LISTINGS: usize = 300;
    let clock = ManualClock::default();
    let store = store_at(&clock);
    // Other sessions, so that walks take a while.
    for n in 0..20_000u32 {
        let other = record(&clock, Duration::hours(1)).with_subject(format!("user-{n}"));
        create(&store, &other).await;
    }
    let cyclers: Vec<_> = (0..SESSIONS)
        .map(|_| {
            let mut current = record(&clock, Duration::hours(1))
                .with_subject("bob")
                .with_issuer("a");
            let store = store.clone();
            tokio::spawn(async move {
                assert_eq!(
                    store.create(&current).await.unwrap(),
                    CreateOutcome::Created
                );
                let mut cycles = 0u64;
                loop {
                    let mut new = current.clone();
                    new.id = SessionId::generate().unwrap();
                    match store.cycle(&current.id, &new).await.unwrap() {
                        CreateOutcome::Created => current = new,
                        CreateOutcome::NotFound => return cycles,
                        CreateOutcome::IdTaken => unreachable!("a fresh random ID"),
                    }
                    cycles += 1;
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    while store
        .sessions_of(Some("a"), "bob", None)
        .await
        .unwrap()
        .len()
        < SESSIONS
    {
        tokio::task::yield_now().await;
    }
    for _ in 0..LISTINGS {
        let listed = store.sessions_of(Some("a"), "bob", None).await.unwrap();
        assert_eq!(listed.len(), SESSIONS, "a session seen twice, or missed");
    }
    assert_eq!(
        store
            .delete_sessions_of(Some("a"), "bob", None)
            .await
            .unwrap(),
        SESSIONS as u64
    );
    assert!(
        store
            .sessions_of(Some("a"), "bob", None)
            .await
            .unwrap()
            .is_empty()
    );
    let mut cycles = 0;
    for cycler in cyclers {
        cycles += cycler.await.unwrap();
    }
    assert!(cycles > 0, "the sessions changed ID meanwhile");
    assert!(
        store
            .sessions_of(Some("a"), "bob", None)
            .await
            .unwrap()
            .is_empty()
    );
}

/// The walk at a million sessions, timed (`cargo test -p auth-session --release --all-features
/// --test memory_store -- --ignored --nocapture`): the figure `MemoryStore`'s docs give.
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement: a million sessions, run in release mode"]
async fn a_principals_sessions_are_found_by_a_walk_of_a_million() {
    const SESSIONS: u32 = 1_000_000;
    let clock = ManualClock::default();
    // Room to spare: shards fill unevenly.
    let store = store_at(&clock).with_max_sessions(2 * SESSIONS as usize);
    for n in 0..SESSIONS {
        let mut session = record(&clock, Duration::hours(1));
        // One in ten is logged in; bob of A has ten sessions.
        if n % 10 == 0 {
            session = session.with_subject(format!("user-{}", n / 10 % 50_000));
        }
        if n % 100_000 == 1 {
            session = session.with_subject("bob").with_issuer("a");
        }
        create(&store, &session).await;
    }
    assert_eq!(store.len(), SESSIONS as usize);
    let mut best = std::time::Duration::MAX;
    for _ in 0..10 {
        let started = std::time::Instant::now();
        let listed = store.sessions_of(Some("a"), "bob", None).await.unwrap();
        best = best.min(started.elapsed());
        assert_eq!(listed.len(), 10);
    }
    let started = std::time::Instant::now();
    let deleted = store
        .delete_sessions_of(Some("a"), "bob", None)
        .await
        .unwrap();
    let revoked_in = started.elapsed();
    assert_eq!(deleted, 10);
    eprintln!(
        "sessions_of over {SESSIONS} sessions: {best:?} (best of 10); delete_sessions_of: \
         {revoked_in:?}"
    );
}
