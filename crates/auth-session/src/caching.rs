//! `CachingStore`: a fast store (the cache) in front of a shared one (the store).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreFuture, StoreResult, SystemClock,
};
use time::{Duration, OffsetDateTime};

/// The default bound on how stale a cached read may be.
const DEFAULT_MAX_STALENESS: Duration = Duration::seconds(1);
/// At most this many sessions are tracked as fresh; past it, stale entries are dropped first,
/// then all of them (reads then go to the store until the cache fills again).
const MAX_TRACKED: usize = 100_000;

/// What this instance knows of one session's cache entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// The version the cache holds, or the lowest version it may hold again.
    version: u64,
    /// Until when the cached copy may answer reads.
    fresh_until: OffsetDateTime,
}

/// A [`SessionStore`] made of two: reads come from `cache` (e.g. a
/// [`MemoryStore`](crate::MemoryStore)) while fresh, writes go to `store` (e.g. Redis or
/// PostgreSQL) and then update the cache. See the design below for the bounded
/// staleness this trades for fewer round trips.
///
/// Give each instance its own cache and share the store. `Debug` shows both stores' `Debug`
/// and the bound, never IDs or data.
///
/// # Design
///
/// The shared store stays the only truth for writes; the cache only saves round trips on
/// reads:
///
/// - **Reads** (`load`) are answered from the cache while the entry is *fresh*: for at most
///   [`max_staleness`](CachingStore::with_max_staleness) after it was last fetched from or
///   written to the shared store, and only if it holds the newest version this instance has
///   seen (a slow request cannot put back an older copy than a faster one cached, so an
///   instance always reads its own writes). A stale or missing entry is loaded from the
///   store and cached again.
/// - **Writes** (`create`, `save`, `touch`, `delete`, `cycle`) go to the store first, then
///   update or drop the cache entry. A save is versioned by the store, so a save based on a
///   stale cached read is a `Conflict` (never a lost update): the entry is dropped and the
///   session layer's reload then reads the store. A save to a session deleted elsewhere is
///   `NotFound` (never a resurrection).
/// - **A user's sessions**: [`sessions_of`](SessionStore::sessions_of) is the store's
///   listing (the cache holds only the sessions this instance has seen).
///   [`delete_sessions_of`](SessionStore::delete_sessions_of) deletes in the store, then drops
///   the cache's copies of the principal's sessions (through the cache's own
///   `delete_sessions_of`; a cache without one has all its entries marked stale instead), and
///   a fill that began before the revocation is not kept: a session it deleted is never read
///   from this instance's cache afterwards.
///
/// # Trade-off
///
/// Another instance's change (a logout, a cycle, a data change) becomes visible to this
/// instance's *reads* only when its cache entry goes stale: a session deleted on instance A
/// can still be read on instance B for up to `max_staleness`, and so can a session that
/// a "log out everywhere" on instance A revoked. Choose the bound as the longest window in
/// which a revoked session may still be served (default: 1 s). Writes never act on stale
/// data.
///
/// ```
/// use auth_core::{CreateOutcome, SessionId, SessionRecord, SessionStore};
/// use auth_session::{CachingStore, MemoryStore};
/// use time::{Duration, OffsetDateTime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // In production the second store is shared (RedisStore, PostgresStore).
/// let shared = MemoryStore::new();
/// let store = CachingStore::new(MemoryStore::new(), shared.clone())
///     .with_max_staleness(Duration::milliseconds(500));
/// let now = OffsetDateTime::now_utc();
/// let record = SessionRecord::new(SessionId::generate()?, now, now + Duration::hours(1));
/// assert_eq!(store.create(&record).await?, CreateOutcome::Created);
/// assert!(store.load(&record.id).await?.is_some()); // from the cache
/// # Ok(())
/// # }
/// ```
pub struct CachingStore<C, S> {
    cache: C,
    store: S,
    entries: Arc<Mutex<HashMap<SessionId, Entry>>>,
    /// How many per-principal revocations ran: a fill whose store call began before one ended
    /// may hold a session it deleted, and is dropped.
    revocations: Arc<AtomicU64>,
    max_staleness: Duration,
    clock: SharedClock,
}

impl<C: SessionStore, S: SessionStore> CachingStore<C, S> {
    /// `cache` in front of `store`, with a 1 s staleness bound, on the system clock.
    ///
    /// ```
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let store = CachingStore::new(MemoryStore::new(), MemoryStore::new());
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn new(cache: C, store: S) -> Self {
        Self {
            cache,
            store,
            entries: Arc::default(),
            revocations: Arc::default(),
            max_staleness: DEFAULT_MAX_STALENESS,
            clock: Arc::new(SystemClock),
        }
    }

    /// Sets how long a cached read may be served without asking the store (default 1 s):
    /// the longest time a change made through another instance may go unseen by reads here.
    /// Zero disables caching of reads.
    ///
    /// ```
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let store = CachingStore::new(MemoryStore::new(), MemoryStore::new())
    ///     .with_max_staleness(time::Duration::milliseconds(250));
    /// assert_eq!(store.max_staleness(), time::Duration::milliseconds(250));
    /// ```
    #[must_use]
    pub fn with_max_staleness(mut self, bound: Duration) -> Self {
        self.max_staleness = bound;
        self
    }

    /// Sets the clock that measures staleness (default: the system clock). Give the cache
    /// and the store the same clock where they take one.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_core::ManualClock;
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let clock = Arc::new(ManualClock::default());
    /// let store = CachingStore::new(
    ///     MemoryStore::with_clock(clock.clone()),
    ///     MemoryStore::with_clock(clock.clone()),
    /// )
    /// .with_clock(clock);
    /// # let _ = store;
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The staleness bound.
    ///
    /// ```
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let store = CachingStore::new(MemoryStore::new(), MemoryStore::new());
    /// assert_eq!(store.max_staleness(), time::Duration::seconds(1));
    /// ```
    #[must_use]
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
    }

    /// The cache.
    ///
    /// ```
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let store = CachingStore::new(MemoryStore::new(), MemoryStore::new());
    /// assert!(store.cache().is_empty());
    /// ```
    #[must_use]
    pub fn cache(&self) -> &C {
        &self.cache
    }

    /// The shared store.
    ///
    /// ```
    /// use auth_session::{CachingStore, MemoryStore};
    ///
    /// let store = CachingStore::new(MemoryStore::new(), MemoryStore::new());
    /// assert!(store.store().is_empty());
    /// ```
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The version the cache may answer for `id` with, if its entry is fresh.
    fn fresh_version(&self, id: &SessionId) -> Option<u64> {
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(id)
            .filter(|entry| entry.fresh_until > now)
            .map(|entry| entry.version)
    }

    /// Records that the cache holds `version` of `id`, fresh from now on, unless a newer
    /// version is already known (then a slower request is filling an older copy: refused).
    /// `force` (after a create) takes the ID over whatever was known.
    fn claim(&self, id: SessionId, version: u64, force: bool) -> bool {
        if self.max_staleness <= Duration::ZERO {
            return false;
        }
        let now = self.clock.now();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if !force
            && entries
                .get(&id)
                .is_some_and(|entry| entry.version > version)
        {
            return false;
        }
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&id) {
            entries.retain(|_, entry| entry.fresh_until > now);
            if entries.len() >= MAX_TRACKED {
                entries.clear();
            }
        }
        entries.insert(
            id,
            Entry {
                version,
                fresh_until: now + self.max_staleness,
            },
        );
        true
    }

    /// Marks `id` stale, remembering that only versions from `floor` on may be cached again.
    fn stale(&self, id: SessionId, floor: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let version = entries
            .get(&id)
            .map_or(floor, |entry| entry.version.max(floor));
        entries.insert(
            id,
            Entry {
                version,
                fresh_until: OffsetDateTime::UNIX_EPOCH,
            },
        );
    }

    /// The revocations so far: read before a store call whose answer is then cached.
    fn revocations(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Puts `record` into the cache as the store has it now, unless a per-principal
    /// revocation ended after `since` (a [`revocations`](Self::revocations) reading taken
    /// before the store call that returned `record`): the record may be a session it deleted,
    /// so the cache's copy is dropped instead. Cache failures only cost a round trip later,
    /// so they are logged, not returned.
    async fn fill(&self, record: &SessionRecord, force: bool, since: u64) {
        if self.revocations() != since {
            self.invalidate(&record.id, record.version).await;
            return;
        }
        if !self.claim(record.id, record.version, force) {
            return;
        }
        let filled = async {
            self.cache.delete(&record.id).await?;
            self.cache.create(record).await
        };
        match filled.await {
            Ok(CreateOutcome::Created) => {}
            Ok(CreateOutcome::IdTaken | CreateOutcome::NotFound) => {
                self.stale(record.id, record.version);
            }
            Err(error) => {
                tracing::warn!(%error, "session cache fill failed");
                self.stale(record.id, record.version);
            }
        }
        // A revocation that dropped the principal's copies while this one went in may have
        // missed it (it then ended after the reading above, or its walk of the cache saw
        // this copy).
        if self.revocations() != since {
            self.invalidate(&record.id, record.version).await;
        }
    }

    /// Drops the cache's copies of the principal's sessions but `keep`, after a revocation in
    /// the store; when the cache cannot, marks every entry stale (reads then ask the store).
    async fn forget_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: Option<&SessionId>,
    ) {
        if let Err(error) = self.cache.delete_sessions_of(issuer, subject, keep).await {
            if !matches!(error, StoreError::Unsupported(_)) {
                tracing::warn!(%error, "session cache revocation failed");
            }
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            for entry in entries.values_mut() {
                entry.fresh_until = OffsetDateTime::UNIX_EPOCH;
            }
        }
    }

    /// Drops the cache entry of `id`; only versions from `floor` on may be cached again
    /// (`u64::MAX`: the session is gone, only a create brings it back).
    async fn invalidate(&self, id: &SessionId, floor: u64) {
        self.stale(*id, floor);
        if let Err(error) = self.cache.delete(id).await {
            tracing::warn!(%error, "session cache invalidation failed");
        }
    }
}

impl<C: SessionStore, S: SessionStore> CachingStore<C, S> {
    /// A read that is not answered by a fresh cache entry at once.
    async fn load_slowly(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let since = self.revocations();
        if let Some(version) = self.fresh_version(id) {
            match self.cache.load(id).await {
                Ok(Some(record)) if record.version == version => return Ok(Some(record)),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "session cache read failed"),
            }
        }
        match self.store.load(id).await? {
            Some(record) => {
                self.fill(&record, false, since).await;
                Ok(Some(record))
            }
            None => {
                self.invalidate(id, u64::MAX).await;
                Ok(None)
            }
        }
    }
}

/// Every write goes to the shared store, so it is pending; a read answered by a fresh entry of
/// a cache that answers at once (a `MemoryStore`) is ready.
impl<C: SessionStore, S: SessionStore> SessionStore for CachingStore<C, S> {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        if let Some(version) = self.fresh_version(id)
            && let Ok(Ok(Some(record))) = self.cache.load(id).into_ready()
            && record.version == version
        {
            return StoreFuture::ready(Ok(Some(record)));
        }
        // Not answered at once (the cache's future is dropped unpolled): the whole read.
        StoreFuture::pending(self.load_slowly(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let since = self.revocations();
            let outcome = self.store.create(record).await?;
            if outcome == CreateOutcome::Created {
                self.fill(record, true, since).await;
            }
            Ok(outcome)
        })
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            let since = self.revocations();
            let outcome = match self.store.save(record).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    // The outcome is unknown: the cache must not answer for this session.
                    self.invalidate(&record.id, record.version.saturating_add(1))
                        .await;
                    return Err(error);
                }
            };
            match outcome {
                SaveOutcome::Saved { version } => {
                    self.fill(&record.clone().with_version(version), false, since)
                        .await;
                }
                SaveOutcome::Conflict => {
                    self.invalidate(&record.id, record.version.saturating_add(1))
                        .await;
                }
                SaveOutcome::NotFound => self.invalidate(&record.id, u64::MAX).await,
            }
            Ok(outcome)
        })
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move {
            let touched = self.store.touch(id, expires_at).await;
            match &touched {
                Ok(true) => match self.cache.touch(id, expires_at).await {
                    Ok(true) => {}
                    Ok(false) => self.stale(*id, 0),
                    Err(error) => {
                        tracing::warn!(%error, "session cache touch failed");
                        self.invalidate(id, 0).await;
                    }
                },
                Ok(false) => self.invalidate(id, u64::MAX).await,
                Err(_) => self.invalidate(id, 0).await,
            }
            touched
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move {
            let deleted = self.store.delete(id).await;
            self.invalidate(id, u64::MAX).await;
            deleted
        })
    }

    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let since = self.revocations();
            let cycled = self.store.cycle(old, new).await;
            if let Ok(CreateOutcome::Created) = cycled {
                self.invalidate(old, u64::MAX).await;
                self.fill(new, true, since).await;
            } else {
                self.invalidate(old, 0).await;
            }
            cycled
        })
    }

    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        StoreFuture::pending(async move {
            if let Err(error) = self.cache.cleanup_expired().await {
                tracing::warn!(%error, "session cache cleanup failed");
            }
            let now = self.clock.now();
            self.entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|_, entry| entry.fresh_until > now);
            self.store.cleanup_expired().await
        })
    }

    /// The shared store's listing: the cache holds only the sessions this instance has seen.
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        self.store.sessions_of(issuer, subject, except)
    }

    /// Deletes in the shared store (with its atomicity), then drops the cache's copies of the
    /// principal's sessions, also when the store failed (some may be deleted): none of them
    /// is read from this instance's cache afterwards. Other instances' caches may serve their
    /// copies for up to their staleness bound.
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        StoreFuture::pending(async move {
            let deleted = self.store.delete_sessions_of(issuer, subject, keep).await;
            // After the store's deletion (a fill whose store call saw a deleted session read
            // the count before this), before the cache's.
            self.revocations.fetch_add(1, Ordering::SeqCst);
            self.forget_sessions_of(issuer, subject, keep).await;
            deleted
        })
    }
}

impl<C: fmt::Debug, S: fmt::Debug> fmt::Debug for CachingStore<C, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingStore")
            .field("cache", &self.cache)
            .field("store", &self.store)
            .field("max_staleness", &self.max_staleness)
            .finish_non_exhaustive()
    }
}

impl<C: Clone, S: Clone> Clone for CachingStore<C, S> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            store: self.store.clone(),
            entries: Arc::clone(&self.entries),
            revocations: Arc::clone(&self.revocations),
            max_staleness: self.max_staleness,
            clock: Arc::clone(&self.clock),
        }
    }
}

#[cfg(all(test, feature = "memory", feature = "test-util"))]
mod tests {
    use std::sync::atomic::AtomicBool;

    use auth_core::ManualClock;
    use tokio::sync::Notify;

    use super::*;
    use crate::MemoryStore;
    use crate::testkit::{self, ClockHarness};

    /// A `MemoryStore` whose next `load`, once armed, reads the record, then waits for the
    /// gate before answering it (a read that is slow to come back); and that may lack the
    /// per-principal index.
    #[derive(Debug)]
    struct Slow {
        inner: MemoryStore,
        armed: AtomicBool,
        entered: Notify,
        gate: Notify,
        index: bool,
    }

    impl Slow {
        fn new(inner: MemoryStore, index: bool) -> Arc<Self> {
            Arc::new(Self {
                inner,
                armed: AtomicBool::new(false),
                entered: Notify::new(),
                gate: Notify::new(),
                index,
            })
        }
    }

    impl SessionStore for Slow {
        fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
            if !self.armed.swap(false, Ordering::SeqCst) {
                return self.inner.load(id);
            }
            StoreFuture::pending(async move {
                let answer = self.inner.load(id).await;
                self.entered.notify_one();
                self.gate.notified().await;
                answer
            })
        }
        fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
            self.inner.create(record)
        }
        fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
            self.inner.save(record)
        }
        fn touch<'a>(&'a self, id: &'a SessionId, at: OffsetDateTime) -> StoreFuture<'a, bool> {
            self.inner.touch(id, at)
        }
        fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
            self.inner.delete(id)
        }
        fn sessions_of<'a>(
            &'a self,
            issuer: Option<&'a str>,
            subject: &'a str,
            except: Option<&'a SessionId>,
        ) -> StoreFuture<'a, Vec<SessionRecord>> {
            if !self.index {
                return StoreFuture::ready(Err(StoreError::Unsupported("sessions_of")));
            }
            self.inner.sessions_of(issuer, subject, except)
        }
        fn delete_sessions_of<'a>(
            &'a self,
            issuer: Option<&'a str>,
            subject: &'a str,
            keep: Option<&'a SessionId>,
        ) -> StoreFuture<'a, u64> {
            if !self.index {
                return StoreFuture::ready(Err(StoreError::Unsupported("delete_sessions_of")));
            }
            self.inner.delete_sessions_of(issuer, subject, keep)
        }
    }

    #[allow(clippy::unwrap_used)] // test support
    fn of_bob(clock: &ManualClock, issuer: Option<&str>) -> SessionRecord {
        let now = clock.now();
        let mut record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        )
        .with_subject("bob");
        record.issuer = issuer.map(str::to_owned);
        record
    }

    fn caching(clock: SharedClock, shared: &MemoryStore) -> CachingStore<MemoryStore, MemoryStore> {
        CachingStore::new(MemoryStore::with_clock(clock.clone()), shared.clone()).with_clock(clock)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn caching_store_keeps_the_contract() {
        testkit::run(&ClockHarness::new(|clock: SharedClock| {
            let shared = MemoryStore::with_clock(clock.clone());
            caching(clock, &shared)
        }))
        .await;
    }

    #[tokio::test]
    async fn another_instances_delete_is_seen_within_the_bound() {
        let clock = ManualClock::default();
        let shared_clock: SharedClock = Arc::new(clock.clone());
        let shared = MemoryStore::with_clock(shared_clock.clone());
        let a = caching(shared_clock.clone(), &shared);
        let b = caching(shared_clock, &shared);
        let now = clock.now();
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        );
        assert_eq!(a.create(&record).await.unwrap(), CreateOutcome::Created);
        let on_b = b.load(&record.id).await.unwrap().unwrap();

        a.delete(&record.id).await.unwrap();
        // Within the bound, B may still read its cached copy, but cannot write it back.
        assert!(b.load(&record.id).await.unwrap().is_some());
        assert_eq!(b.save(&on_b).await.unwrap(), SaveOutcome::NotFound);
        assert!(shared.load(&record.id).await.unwrap().is_none());
        // Past the bound, B asks the store.
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        );
        assert_eq!(a.create(&record).await.unwrap(), CreateOutcome::Created);
        b.load(&record.id).await.unwrap().unwrap();
        a.delete(&record.id).await.unwrap();
        clock.advance(DEFAULT_MAX_STALENESS);
        assert!(b.load(&record.id).await.unwrap().is_none());
    }

    /// The exact case the revocation guards: sessions this instance has cached (fresh, so a
    /// load would answer from the cache at once) are revoked through it, and none of them is
    /// read again, from the cache or elsewhere, without moving the clock; the kept one, and
    /// the other principals', still are.
    #[tokio::test]
    async fn a_revoked_session_is_never_read_from_the_cache_afterwards() {
        for cache_has_an_index in [true, false] {
            let clock = ManualClock::default();
            let shared_clock: SharedClock = Arc::new(clock.clone());
            let shared = MemoryStore::with_clock(shared_clock.clone());
            let cache = Slow::new(
                MemoryStore::with_clock(shared_clock.clone()),
                cache_has_an_index,
            );
            let store =
                CachingStore::new(Arc::clone(&cache), shared.clone()).with_clock(shared_clock);
            let idp = Some("https://idp.example");
            let (kept, revoked, also) = (
                of_bob(&clock, idp),
                of_bob(&clock, idp),
                of_bob(&clock, idp),
            );
            let (of_another_issuer, local) = (
                of_bob(&clock, Some("https://other.example")),
                of_bob(&clock, None),
            );
            let all = [&kept, &revoked, &also, &of_another_issuer, &local];
            for record in all {
                assert_eq!(store.create(record).await.unwrap(), CreateOutcome::Created);
                let cached = store.load(&record.id);
                assert!(cached.is_ready(), "answered from the cache");
                assert!(cached.await.unwrap().is_some());
            }
            let listed = store.sessions_of(idp, "bob", Some(&kept.id)).await.unwrap();
            assert_eq!(listed.len(), 2, "the shared store's listing");

            let deleted = store.delete_sessions_of(idp, "bob", Some(&kept.id)).await;
            assert_eq!(deleted.unwrap(), 2);
            for gone in [&revoked, &also] {
                assert!(store.load(&gone.id).await.unwrap().is_none(), "revoked");
                assert!(shared.load(&gone.id).await.unwrap().is_none());
            }
            if cache_has_an_index {
                assert!(cache.inner.load(&revoked.id).await.unwrap().is_none());
            }
            for live in [&kept, &of_another_issuer, &local] {
                assert!(store.load(&live.id).await.unwrap().is_some(), "not revoked");
            }
        }
    }

    /// A read that fetched a session from the shared store before a revocation deleted it,
    /// and comes back after the revocation, does not leave it in the cache.
    #[tokio::test]
    async fn a_read_racing_a_revocation_does_not_cache_the_revoked_session() {
        let clock = ManualClock::default();
        let shared_clock: SharedClock = Arc::new(clock.clone());
        let shared = Slow::new(MemoryStore::with_clock(shared_clock.clone()), true);
        let store = CachingStore::new(
            MemoryStore::with_clock(shared_clock.clone()),
            Arc::clone(&shared),
        )
        .with_clock(shared_clock);
        let bob = of_bob(&clock, None);
        assert_eq!(store.create(&bob).await.unwrap(), CreateOutcome::Created);
        // The cached copy goes stale: the next load asks the shared store, slowly.
        clock.advance(DEFAULT_MAX_STALENESS);
        shared.armed.store(true, Ordering::SeqCst);
        let reading = {
            let (store, id) = (store.clone(), bob.id);
            tokio::spawn(async move { store.load(&id).await })
        };
        shared.entered.notified().await;
        assert_eq!(
            store.delete_sessions_of(None, "bob", None).await.unwrap(),
            1
        );
        shared.gate.notify_one();
        // It read before the revocation: it may answer the session it read...
        assert!(reading.await.unwrap().unwrap().is_some());
        // ...but never cache it.
        assert!(store.load(&bob.id).await.unwrap().is_none());
        assert!(store.cache().load(&bob.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_save_on_a_stale_read_conflicts_then_reads_the_store() {
        let clock = ManualClock::default();
        let shared_clock: SharedClock = Arc::new(clock.clone());
        let shared = MemoryStore::with_clock(shared_clock.clone());
        let a = caching(shared_clock.clone(), &shared);
        let b = caching(shared_clock, &shared);
        let now = clock.now();
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        );
        assert_eq!(a.create(&record).await.unwrap(), CreateOutcome::Created);
        let stale = b.load(&record.id).await.unwrap().unwrap();
        let newer = a
            .load(&record.id)
            .await
            .unwrap()
            .unwrap()
            .with_value("k", 1.into());
        assert_eq!(
            a.save(&newer).await.unwrap(),
            SaveOutcome::Saved { version: 2 }
        );
        assert_eq!(
            b.save(&stale.with_value("j", 2.into())).await.unwrap(),
            SaveOutcome::Conflict
        );
        // The conflict dropped B's entry: the reload sees A's save at once.
        assert_eq!(b.load(&record.id).await.unwrap().unwrap().version, 2);
    }
}
