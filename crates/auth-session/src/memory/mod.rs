//! `MemoryStore`: the in-process session store.
//!
//! # Design
//!
//! - **Sharded.** Sessions are spread over up to 64 shards by a keyed hash of the ID; each
//!   shard is a `std::sync::Mutex` around a `HashMap`, held only for the map operation (never
//!   across an `.await`). Different sessions rarely contend.
//! - **Compact.** A shard keeps 56 bytes per session (version, times as Unix seconds, the
//!   data's pointer, null when there is none, and a pointer to the login, its subject, issuer
//!   and roles, null unless someone is logged in) under its 16-byte ID, not the whole
//!   `SessionRecord`. Data is shared with the record it came from: saving and loading clone an
//!   `Arc`, never the map.
//! - **Bounded.** Each shard holds at most its share of [`MemoryStore::with_max_sessions`]; a
//!   create into a full shard first drops that shard's expired sessions, then evicts its live
//!   session that expires soonest, with a `tracing::warn!`.
//! - **Expiry.** A session is gone from the moment `expires_at <= now` (per the store's
//!   [`Clock`](auth_core::Clock)) for every operation. Expired entries are removed when read,
//!   a few at a time on every write to their shard (amortised: a shard's expiry queue puts
//!   them first), and all at once by
//!   [`cleanup_expired`](auth_core::SessionStore::cleanup_expired).
//! - **A user's sessions, by a walk.**
//!   [`sessions_of`](auth_core::SessionStore::sessions_of) and
//!   [`delete_sessions_of`](auth_core::SessionStore::delete_sessions_of) walk every shard, one
//!   locked at a time (the others keep serving), comparing each entry's login with the
//!   principal (the login box first: an anonymous entry costs no pointer chase). There is no
//!   per-principal index: one would cost memory and a second map update for every
//!   logged-in session, to speed up a call made when a user opens "your devices" or logs out
//!   everywhere. The walk is linear in the store's size and bound by memory bandwidth: about
//!   6 ms at a million sessions of which a tenth are logged in, 5 ms when none is (a 64th of
//!   that per shard lock; release build on an idle 2-core machine, 15 to 20 ms while it was
//!   busy compiling; measured by `tests/memory_store.rs`,
//!   `a_principals_sessions_are_found_by_a_walk_of_a_million`). A
//!   [`cycle`](auth_core::SessionStore::cycle) between two shards waits for a walk in progress
//!   (and a walk for the cycles in progress: a lock that cycles take shared and walks alone),
//!   so a session that changes ID meanwhile is seen once, under its old or its new ID, never
//!   twice, and is never missed by a revocation. Sessions created, saved or deleted during a
//!   walk are seen as they were when it reached their shard.

mod entry;
mod hash;
mod queue;
mod shard;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreFuture, StoreResult, SystemClock,
};
use time::OffsetDateTime;

use self::entry::Entry;
use self::hash::{Key, KeyedState};
use self::shard::Shard;

/// The most shards a store uses.
const MAX_SHARDS: usize = 64;
/// A store uses fewer shards when its bound is small, so that every shard holds at least this
/// many sessions and the bound stays close to exact.
const MIN_PER_SHARD: usize = 64;

/// An in-process, concurrent, bounded [`SessionStore`].
///
/// The default store of `auth-session`: sessions live in this process's memory, so they are
/// lost on restart and not shared between instances (use a networked store for that). It
/// implements the whole store contract (create-if-absent, versioned saves, no resurrection,
/// atomic [`cycle`](SessionStore::cycle), expiry by its clock) and passes
/// `auth_session::testkit`.
///
/// - Concurrent: up to 64 shards, each behind its own mutex.
/// - Bounded: at most [`DEFAULT_MAX_SESSIONS`](Self::DEFAULT_MAX_SESSIONS) sessions unless
///   configured; when a shard is full, its session that expires soonest is evicted, with a
///   `tracing::warn!` (see [`with_max_sessions`](Self::with_max_sessions)).
/// - Small: about 180 bytes per idle session at a million sessions, plus the session's data.
/// - A user's sessions ([`sessions_of`](SessionStore::sessions_of),
///   [`delete_sessions_of`](SessionStore::delete_sessions_of)) are found by a walk of every
///   shard, one locked at a time, instead of an index that would cost every logged-in
///   session memory: about 6 ms at a million sessions. A session that changes ID meanwhile
///   is seen once, never twice, and never escapes a revocation (a login that moves a session
///   between shards waits for a walk in progress).
///
/// Clones share the same sessions. `Debug` shows counts only, never IDs or data.
///
/// ```
/// use auth_core::{CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore};
/// use auth_session::MemoryStore;
/// use time::{Duration, OffsetDateTime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new().with_max_sessions(10_000);
/// let now = OffsetDateTime::now_utc();
/// let record = SessionRecord::new(SessionId::generate()?, now, now + Duration::hours(1))
///     .with_value("cart", serde_json::json!([1, 2]));
/// assert_eq!(store.create(&record).await?, CreateOutcome::Created);
///
/// let mut loaded = store.load(&record.id).await?.expect("just created");
/// loaded.data_mut().insert("theme".into(), "dark".into());
/// assert_eq!(store.save(&loaded).await?, SaveOutcome::Saved { version: 2 });
///
/// // A save carrying the old version is refused: someone saved in between.
/// assert_eq!(store.save(&record).await?, SaveOutcome::Conflict);
///
/// // A deleted session is never recreated by a late save.
/// store.delete(&record.id).await?;
/// assert_eq!(store.save(&loaded.with_version(2)).await?, SaveOutcome::NotFound);
/// assert!(store.load(&record.id).await?.is_none());
/// # Ok(())
/// # }
/// ```
///
/// A user's sessions, listed and ended ("log out everywhere else"; a handler does this with
/// [`Session::other_sessions`](crate::Session::other_sessions) and
/// [`Session::logout_other_sessions`](crate::Session::logout_other_sessions)):
///
/// ```
/// use auth_core::{CreateOutcome, SessionId, SessionRecord, SessionStore};
/// use auth_session::MemoryStore;
/// use time::{Duration, OffsetDateTime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = MemoryStore::new();
/// let now = OffsetDateTime::now_utc();
/// let idp = Some("https://idp.example");
/// let mut sessions = Vec::new();
/// for issuer in [idp, idp, None] {
///     let mut bob = SessionRecord::new(SessionId::generate()?, now, now + Duration::hours(1))
///         .with_subject("bob");
///     bob.issuer = issuer.map(str::to_owned);
///     assert_eq!(store.create(&bob).await?, CreateOutcome::Created);
///     sessions.push(bob.id);
/// }
/// let [laptop, phone, local] = sessions[..] else { unreachable!() };
///
/// // bob of the identity provider, but the laptop; the local bob is someone else.
/// let others = store.sessions_of(idp, "bob", Some(&laptop)).await?;
/// assert_eq!(others.iter().map(|r| r.id).collect::<Vec<_>>(), [phone]);
/// assert_eq!(store.delete_sessions_of(idp, "bob", Some(&laptop)).await?, 1);
/// assert!(store.load(&phone).await?.is_none());
/// assert!(store.load(&laptop).await?.is_some() && store.load(&local).await?.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    shards: Box<[Shard]>,
    /// `shards.len() - 1`; the shard count is a power of two.
    mask: usize,
    per_shard: usize,
    max_sessions: usize,
    clock: SharedClock,
    /// `clock` is the `SystemClock` this store made itself ([`MemoryStore::new`]): "now" is
    /// read straight from the system time (the coarse clock where there is one, see
    /// `crate::system_time`), without building a calendar date.
    system_clock: bool,
    hasher: KeyedState,
    evictions: AtomicU64,
    /// Held shared by a cycle between two shards, alone by a walk of every shard (a user's
    /// sessions): no session moves between shards while a walk is on its way.
    walk: RwLock<()>,
}

impl MemoryStore {
    /// The bound used unless [`with_max_sessions`](Self::with_max_sessions) says otherwise.
    pub const DEFAULT_MAX_SESSIONS: usize = 1_000_000;

    /// An empty store on the system clock (on Linux its coarse reading, as
    /// [`SessionLayer::with_clock`](crate::SessionLayer::with_clock) describes), bounded at
    /// [`DEFAULT_MAX_SESSIONS`](Self::DEFAULT_MAX_SESSIONS).
    ///
    /// ```
    /// let store = auth_session::MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::build(Arc::new(SystemClock), true, Self::DEFAULT_MAX_SESSIONS)
    }

    /// An empty store that reads "now" from `clock` (a [`ManualClock`](auth_core::ManualClock)
    /// in tests), bounded at [`DEFAULT_MAX_SESSIONS`](Self::DEFAULT_MAX_SESSIONS).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// use auth_core::{ManualClock, SessionId, SessionRecord, SessionStore};
    /// use auth_session::MemoryStore;
    /// use time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = ManualClock::default();
    /// let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    /// let now = auth_core::Clock::now(&clock);
    /// let record = SessionRecord::new(SessionId::generate()?, now, now + Duration::minutes(5));
    /// let _ = store.create(&record).await?;
    ///
    /// clock.advance(Duration::minutes(5));
    /// assert!(store.load(&record.id).await?.is_none());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_clock(clock: SharedClock) -> Self {
        Self::build(clock, false, Self::DEFAULT_MAX_SESSIONS)
    }

    /// Bounds the store at about `max` sessions (default
    /// [`DEFAULT_MAX_SESSIONS`](Self::DEFAULT_MAX_SESSIONS); `0` counts as `1`).
    ///
    /// A builder step: it returns a new, empty store with the same clock, so call it before
    /// storing anything (sessions already stored are not carried over).
    ///
    /// The bound is kept per shard: the store uses `s` shards (a power of two, at most 64,
    /// fewer for small bounds so that each shard holds at least 64 sessions) and each holds at
    /// most `ceil(max / s)` sessions, so the store holds at most `max` rounded up to a
    /// multiple of `s`. Shards fill unevenly, so evictions may start a little before the store
    /// holds `max` sessions in all (at a million, when it holds about 98% of them).
    ///
    /// Creating a session in a full shard first removes the shard's expired sessions, then
    /// evicts the shard's live session that expires soonest: the eviction order is exact to
    /// the second within a shard (ties in no particular order) and approximate across the
    /// store. Every eviction is logged with
    /// `tracing::warn!` and counted in [`evictions`](Self::evictions).
    ///
    /// ```
    /// let store = auth_session::MemoryStore::new().with_max_sessions(500);
    /// assert_eq!(store.max_sessions(), 500);
    /// ```
    #[must_use]
    pub fn with_max_sessions(self, max: usize) -> Self {
        Self::build(Arc::clone(&self.inner.clock), self.inner.system_clock, max)
    }

    fn build(clock: SharedClock, system_clock: bool, max: usize) -> Self {
        let max = max.max(1);
        let wanted = (max / MIN_PER_SHARD).clamp(1, MAX_SHARDS);
        // The largest power of two not above `wanted`.
        let count = 1usize << (usize::BITS - 1 - wanted.leading_zeros());
        let hasher = KeyedState::random();
        Self {
            inner: Arc::new(Inner {
                shards: (0..count).map(|_| Shard::new(hasher)).collect(),
                mask: count - 1,
                per_shard: max.div_ceil(count),
                max_sessions: max,
                clock,
                system_clock,
                hasher,
                evictions: AtomicU64::new(0),
                walk: RwLock::new(()),
            }),
        }
    }

    /// The configured bound (see [`with_max_sessions`](Self::with_max_sessions)).
    ///
    /// ```
    /// use auth_session::MemoryStore;
    /// assert_eq!(MemoryStore::new().max_sessions(), MemoryStore::DEFAULT_MAX_SESSIONS);
    /// ```
    #[must_use]
    pub fn max_sessions(&self) -> usize {
        self.inner.max_sessions
    }

    /// How many sessions the store holds, counting expired ones not yet removed.
    ///
    /// Locks each shard in turn, so under concurrent writes the count is approximate.
    ///
    /// ```
    /// assert_eq!(auth_session::MemoryStore::new().len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.lock().len()).sum()
    }

    /// Whether the store holds no session at all (see [`len`](Self::len)).
    ///
    /// ```
    /// assert!(auth_session::MemoryStore::new().is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.inner.shards.iter().all(|s| s.lock().len() == 0)
    }

    /// How many live sessions were evicted to respect the bound since the store was built.
    ///
    /// ```
    /// assert_eq!(auth_session::MemoryStore::new().evictions(), 0);
    /// ```
    #[must_use]
    pub fn evictions(&self) -> u64 {
        self.inner.evictions.load(Ordering::Relaxed)
    }

    fn now(&self) -> i64 {
        if self.inner.system_clock {
            // The system time in whole seconds (see `crate::system_time`).
            return crate::system_time::now_seconds();
        }
        self.inner.clock.unix_timestamp()
    }

    fn shard_index(&self, key: Key) -> usize {
        // High bits: the map's buckets use the low ones.
        (std::hash::BuildHasher::hash_one(&self.inner.hasher, key) >> 40) as usize & self.inner.mask
    }

    #[allow(clippy::indexing_slicing)] // the index is masked to the (power of two) length
    fn shard(&self, index: usize) -> &Shard {
        &self.inner.shards[index & self.inner.mask]
    }

    /// Keeps walks of every shard out while a session moves between two shards.
    fn moving(&self) -> RwLockReadGuard<'_, ()> {
        self.inner
            .walk
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps sessions from moving between shards during a walk of every shard.
    fn walking(&self) -> RwLockWriteGuard<'_, ()> {
        self.inner
            .walk
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn note_evictions(&self, evicted: usize) {
        if evicted > 0 {
            let total = self
                .inner
                .evictions
                .fetch_add(evicted as u64, Ordering::Relaxed)
                + evicted as u64;
            tracing::warn!(
                evicted,
                total_evictions = total,
                max_sessions = self.inner.max_sessions,
                "MemoryStore is full: evicted the live session(s) closest to expiry"
            );
        }
    }
}

impl Default for MemoryStore {
    /// Same as [`MemoryStore::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("sessions", &self.len())
            .field("max_sessions", &self.inner.max_sessions)
            .field("shards", &self.inner.shards.len())
            .field("evictions", &self.evictions())
            .field("clock", &self.inner.clock)
            .finish()
    }
}

fn next_version(version: u64) -> StoreResult<u64> {
    version
        .checked_add(1)
        .ok_or_else(|| StoreError::backend("session version overflow"))
}

// Every operation is a shard lock around a map operation: each answer is ready at once.
impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::ready(self.load_now(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::ready(self.create_now(record))
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::ready(self.save_now(record))
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::ready(Ok(self.touch_now(id, expires_at)))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        self.delete_now(id);
        StoreFuture::ready(Ok(()))
    }

    /// Atomic: both shards are locked (in index order) while `new` is checked and created and
    /// `old` deleted, so no reader ever sees neither or both.
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::ready(Ok(self.cycle_now(old, new)))
    }

    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        let now = self.now();
        let mut removed = 0u64;
        for shard in &self.inner.shards {
            removed += shard.lock().cleanup(now) as u64;
        }
        StoreFuture::ready(Ok(removed))
    }

    /// A walk of every shard (see the module docs): about 6 ms at a million sessions.
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        StoreFuture::ready(self.sessions_of_now((issuer, subject), except))
    }

    /// A walk of every shard, as [`sessions_of`](SessionStore::sessions_of): each session is
    /// removed under its shard's lock, and none can move to a shard already walked, so every
    /// session of the principal that was live when it began is gone when it returns. Not one
    /// step: a login completing meanwhile may survive it.
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        StoreFuture::ready(Ok(self.delete_sessions_of_now((issuer, subject), keep)))
    }
}

/// The operations, synchronous.
impl MemoryStore {
    fn load_now(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let key = Key::of(id);
        let now = self.now();
        let mut shard = self.shard(self.shard_index(key)).lock();
        shard.read_live(key, now, |e| e.to_record(*id)).transpose()
    }

    fn create_now(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let key = Key::of(&record.id);
        let now = self.now();
        let entry = Entry::from_record(record, record.version);
        let mut shard = self.shard(self.shard_index(key)).lock();
        if entry.expires_at <= now {
            // Already expired: it would be gone at once, so store nothing (but an ID that is
            // live is still taken).
            return Ok(if shard.is_live(key, now) {
                CreateOutcome::IdTaken
            } else {
                CreateOutcome::Created
            });
        }
        let Some(evicted) = shard.create(key, entry, self.inner.per_shard, now) else {
            return Ok(CreateOutcome::IdTaken);
        };
        drop(shard);
        self.note_evictions(evicted);
        Ok(CreateOutcome::Created)
    }

    fn save_now(&self, record: &SessionRecord) -> StoreResult<SaveOutcome> {
        let key = Key::of(&record.id);
        let now = self.now();
        let mut shard = self.shard(self.shard_index(key)).lock();
        let Some(stored) = shard.live(key, now) else {
            return Ok(SaveOutcome::NotFound);
        };
        if stored.version() != record.version {
            return Ok(SaveOutcome::Conflict);
        }
        let version = next_version(record.version)?;
        shard.update(key, record, version, now);
        Ok(SaveOutcome::Saved { version })
    }

    fn touch_now(&self, id: &SessionId, expires_at: OffsetDateTime) -> bool {
        let key = Key::of(id);
        let now = self.now();
        let mut shard = self.shard(self.shard_index(key)).lock();
        if !shard.is_live(key, now) {
            return false;
        }
        shard.set_expiry(key, expires_at.unix_timestamp(), now);
        true
    }

    fn delete_now(&self, id: &SessionId) {
        let key = Key::of(id);
        self.shard(self.shard_index(key)).lock().remove(key);
    }

    fn cycle_now(&self, old: &SessionId, new: &SessionRecord) -> CreateOutcome {
        let (old_key, new_key) = (Key::of(old), Key::of(&new.id));
        let (old_index, new_index) = (self.shard_index(old_key), self.shard_index(new_key));
        let now = self.now();
        let entry = Entry::from_record(new, new.version);
        let live = entry.expires_at > now;
        let evicted = if old_index == new_index {
            let mut shard = self.shard(new_index).lock();
            if shard.is_live(new_key, now) {
                return CreateOutcome::IdTaken;
            }
            if !shard.is_live(old_key, now) {
                return CreateOutcome::NotFound;
            }
            shard.remove(old_key);
            if live {
                shard.insert(new_key, entry, self.inner.per_shard, now)
            } else {
                0
            }
        } else {
            // Not while a walk of every shard is on its way (it could see the session twice,
            // or miss it). Then the shards, lower index first, so two cycles can never
            // deadlock.
            let _moving = self.moving();
            let (mut old_shard, mut new_shard) = if old_index < new_index {
                let o = self.shard(old_index).lock();
                (o, self.shard(new_index).lock())
            } else {
                let n = self.shard(new_index).lock();
                (self.shard(old_index).lock(), n)
            };
            if new_shard.is_live(new_key, now) {
                return CreateOutcome::IdTaken;
            }
            if !old_shard.is_live(old_key, now) {
                return CreateOutcome::NotFound;
            }
            let evicted = if live {
                new_shard.insert(new_key, entry, self.inner.per_shard, now)
            } else {
                0
            };
            old_shard.remove(old_key);
            evicted
        };
        self.note_evictions(evicted);
        CreateOutcome::Created
    }
}

/// The walks of every shard, synchronous.
impl MemoryStore {
    fn sessions_of_now(
        &self,
        principal: (Option<&str>, &str),
        except: Option<&SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let except = except.map(Key::of);
        let now = self.now();
        let mut sessions = Vec::new();
        let _walking = self.walking();
        for shard in &self.inner.shards {
            shard
                .lock()
                .sessions_of(principal, except, now, &mut sessions)?;
        }
        Ok(sessions)
    }

    fn delete_sessions_of_now(
        &self,
        principal: (Option<&str>, &str),
        keep: Option<&SessionId>,
    ) -> u64 {
        let keep = keep.map(Key::of);
        let now = self.now();
        let _walking = self.walking();
        let mut deleted = 0u64;
        for shard in &self.inner.shards {
            deleted += shard.lock().delete_sessions_of(principal, keep, now) as u64;
        }
        deleted
    }
}

#[cfg(test)]
mod tests {
    use auth_core::ManualClock;

    use super::*;

    #[test]
    fn shard_count_follows_the_bound() {
        let shards = |max| MemoryStore::new().with_max_sessions(max).inner.shards.len();
        assert_eq!(shards(0), 1);
        assert_eq!(shards(10), 1);
        assert_eq!(shards(1000), 8);
        assert_eq!(shards(1_000_000), 64);
        assert_eq!(MemoryStore::new().inner.per_shard, 15_625);
    }

    #[tokio::test]
    async fn expiry_is_decided_by_the_stores_clock() {
        let clock = ManualClock::at_unix(0);
        let store = MemoryStore::with_clock(Arc::new(clock.clone()));
        let at = |s| OffsetDateTime::from_unix_timestamp(s).unwrap();
        let record = SessionRecord::new(SessionId::from_bytes([1; 16]), at(0), at(100));
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        assert!(store.touch(&record.id, at(500)).await.unwrap());
        assert_eq!(
            store.save(&record).await.unwrap(),
            SaveOutcome::Saved { version: 2 }
        );
        clock.advance(time::Duration::seconds(500));
        assert!(!store.touch(&record.id, at(900)).await.unwrap());
        assert!(store.load(&record.id).await.unwrap().is_none());
        // Already expired when created: nothing is stored.
        let late = SessionRecord::new(SessionId::from_bytes([2; 16]), at(0), at(500));
        assert_eq!(store.create(&late).await.unwrap(), CreateOutcome::Created);
        assert!(store.load(&late.id).await.unwrap().is_none());
    }

    #[test]
    fn debug_shows_counts_only() {
        let store = MemoryStore::with_clock(Arc::new(ManualClock::at_unix(0)));
        let text = format!("{store:?}");
        assert!(text.contains("sessions: 0"), "{text}");
        assert!(text.contains("max_sessions: 1000000"), "{text}");
    }
}
