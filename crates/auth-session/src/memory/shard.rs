//! One shard: a map of compact entries plus an expiry queue.
//!
//! The queue ([`ExpiryQueue`]) holds `(expires_at, key)` pairs with lazy deletion: every
//! entry's current expiry is in the queue, and stale pairs (the entry was deleted or its
//! expiry moved) are skipped when they come out. The queue gives both the eviction order
//! (soonest expiry first) and the amortised sweep (expired entries come out first). It is
//! rebuilt from the map when stale pairs outnumber live ones, so it never holds more than about
//! twice the entries.

use std::collections::{HashMap, hash_map};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use auth_core::{SessionData, SessionId, SessionRecord, StoreError, StoreResult};
use time::{Duration, OffsetDateTime};

use super::hash::{Key, KeyedState};
use super::queue::ExpiryQueue;
use crate::unix_time::{nanos_of, seconds_of};
use crate::working::Working;

/// `absolute_expires_at` is `None`. No `OffsetDateTime` has this timestamp.
const NO_DEADLINE: i64 = i64::MAX;
/// `idle_timeout` is `None`. A timeout of exactly `i64::MIN` seconds is kept as `MIN + 1`.
const NO_TIMEOUT: i64 = i64::MIN;

/// What the store keeps per session: 56 bytes, plus a box only when someone is logged in.
pub(super) struct Entry {
    version: u64,
    created_at: i64,
    pub(super) expires_at: i64,
    absolute_expires_at: i64,
    idle_timeout: i64,
    /// Never an empty map. Inline rather than in the login box: most sessions that hold data
    /// have no subject, and a create then allocates nothing for the entry.
    data: Option<Arc<SessionData>>,
    login: Option<Box<Login>>,
}

/// Who is logged in, when someone is.
struct Login {
    subject: Option<Box<str>>,
    /// The logged-in subject's roles.
    roles: Box<[Box<str>]>,
}

impl Login {
    fn of(record: &impl Source) -> Option<Box<Self>> {
        if record.subject().is_none() && record.roles().is_empty() {
            return None;
        }
        Some(Box::new(Self {
            subject: record.subject().map(Box::<str>::from),
            roles: record
                .roles()
                .iter()
                .map(|r| Box::from(r.as_str()))
                .collect(),
        }))
    }

    fn matches(&self, record: &impl Source) -> bool {
        let roles = record.roles();
        self.subject.as_deref() == record.subject()
            && self.roles.len() == roles.len()
            && self.roles.iter().zip(roles).all(|(a, b)| **a == **b)
    }

    fn subject(&self) -> Option<String> {
        self.subject.as_deref().map(str::to_owned)
    }

    fn roles(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.to_string()).collect()
    }
}

impl Entry {
    /// The compact form of `record`, at `version`. Shares the record's data (no copy).
    pub(super) fn from_record(record: &impl Source, version: u64) -> Self {
        let (created_at, expires_at, absolute_expires_at) = record.seconds();
        Self {
            version,
            created_at,
            expires_at,
            absolute_expires_at: absolute_expires_at.unwrap_or(NO_DEADLINE),
            idle_timeout: record
                .idle_timeout()
                .map_or(NO_TIMEOUT, |t| t.whole_seconds().max(NO_TIMEOUT + 1)),
            data: (!record.data().is_empty()).then(|| Arc::clone(record.data())),
            login: Login::of(record),
        }
    }

    /// Makes this entry the compact form of `record` at `version`, keeping its login box when
    /// the login did not change.
    pub(super) fn assign(&mut self, record: &impl Source, version: u64) {
        let (created_at, expires_at, absolute_expires_at) = record.seconds();
        self.version = version;
        self.created_at = created_at;
        self.expires_at = expires_at;
        self.absolute_expires_at = absolute_expires_at.unwrap_or(NO_DEADLINE);
        self.idle_timeout = record
            .idle_timeout()
            .map_or(NO_TIMEOUT, |t| t.whole_seconds().max(NO_TIMEOUT + 1));
        self.data = (!record.data().is_empty()).then(|| Arc::clone(record.data()));
        let unchanged = match &self.login {
            Some(login) => login.matches(record),
            None => record.subject().is_none() && record.roles().is_empty(),
        };
        if !unchanged {
            self.login = Login::of(record);
        }
    }

    pub(super) const fn version(&self) -> u64 {
        self.version
    }

    /// The full record. Allocates only for the subject; the data is shared.
    pub(super) fn to_record(&self, id: SessionId) -> StoreResult<SessionRecord> {
        let mut record = template().clone();
        record.id = id;
        record.version = self.version;
        record.created_at = timestamp(self.created_at)?;
        record.expires_at = timestamp(self.expires_at)?;
        if self.absolute_expires_at != NO_DEADLINE {
            record.absolute_expires_at = Some(timestamp(self.absolute_expires_at)?);
        }
        if self.idle_timeout != NO_TIMEOUT {
            record.idle_timeout = Some(Duration::seconds(self.idle_timeout));
        }
        if let Some(login) = &self.login {
            record.subject = login.subject();
            record.roles = login.roles();
        }
        if let Some(data) = &self.data {
            record.data = Arc::clone(data);
        }
        Ok(record)
    }
}

impl Entry {
    /// The session as the layer works on it: integers only, no calendar dates. Allocates
    /// only for the subject and roles; the data is shared.
    pub(super) fn to_working(&self, id: SessionId) -> Working {
        let mut working = Working {
            id,
            version: self.version,
            created_at: nanos_of(self.created_at),
            expires_at: nanos_of(self.expires_at),
            absolute_expires_at: (self.absolute_expires_at != NO_DEADLINE)
                .then(|| nanos_of(self.absolute_expires_at)),
            idle_timeout: (self.idle_timeout != NO_TIMEOUT)
                .then(|| Duration::seconds(self.idle_timeout)),
            subject: None,
            roles: Vec::new(),
            data: Arc::clone(self.data.as_ref().unwrap_or(&template().data)),
        };
        if let Some(login) = &self.login {
            working.subject = login.subject();
            working.roles = login.roles();
        }
        working
    }
}

/// What an entry is made from: a record (the `SessionStore` calls) or the layer's working
/// session (its direct calls).
pub(crate) trait Source {
    fn id(&self) -> &SessionId;
    fn version(&self) -> u64;
    /// `created_at`, `expires_at` and `absolute_expires_at` in whole Unix seconds, rounded
    /// down.
    fn seconds(&self) -> (i64, i64, Option<i64>);
    fn idle_timeout(&self) -> Option<Duration>;
    fn subject(&self) -> Option<&str>;
    fn roles(&self) -> &[String];
    fn data(&self) -> &Arc<SessionData>;
}

impl Source for SessionRecord {
    fn id(&self) -> &SessionId {
        &self.id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn seconds(&self) -> (i64, i64, Option<i64>) {
        (
            self.created_at.unix_timestamp(),
            self.expires_at.unix_timestamp(),
            self.absolute_expires_at.map(OffsetDateTime::unix_timestamp),
        )
    }
    fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
    fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    fn roles(&self) -> &[String] {
        &self.roles
    }
    fn data(&self) -> &Arc<SessionData> {
        &self.data
    }
}

impl Source for Working {
    fn id(&self) -> &SessionId {
        &self.id
    }
    fn version(&self) -> u64 {
        self.version
    }
    fn seconds(&self) -> (i64, i64, Option<i64>) {
        (
            seconds_of(self.created_at),
            seconds_of(self.expires_at),
            self.absolute_expires_at.map(seconds_of),
        )
    }
    fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
    fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    fn roles(&self) -> &[String] {
        &self.roles
    }
    fn data(&self) -> &Arc<SessionData> {
        &self.data
    }
}

/// An empty record whose clone allocates nothing: its data is one shared empty map.
fn template() -> &'static SessionRecord {
    static TEMPLATE: OnceLock<SessionRecord> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        SessionRecord::new(
            SessionId::from_bytes([0; SessionId::LEN]),
            OffsetDateTime::UNIX_EPOCH,
            OffsetDateTime::UNIX_EPOCH,
        )
    })
}

fn timestamp(seconds: i64) -> StoreResult<OffsetDateTime> {
    // Every stored value came from an `OffsetDateTime`, so this cannot fail in practice.
    match crate::unix_time::from_unix_seconds(seconds) {
        Some(at) => Ok(at),
        None => OffsetDateTime::from_unix_timestamp(seconds).map_err(StoreError::decode),
    }
}

/// One shard of the store: a mutex around its map and queue, on cache lines of its own so
/// that threads working on neighbouring shards do not contend.
#[repr(align(128))]
pub(super) struct Shard {
    state: Mutex<ShardState>,
}

impl Shard {
    pub(super) fn new(hasher: KeyedState) -> Self {
        Self {
            state: Mutex::new(ShardState {
                map: HashMap::with_hasher(hasher),
                queue: ExpiryQueue::default(),
            }),
        }
    }

    /// Locks the shard. A poisoned lock is taken over: every critical section leaves the map
    /// and queue consistent at each step, so a panic elsewhere cannot corrupt them.
    pub(super) fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The entries of one shard and their expiry queue.
pub(super) struct ShardState {
    map: HashMap<Key, Entry, KeyedState>,
    queue: ExpiryQueue,
}

/// How many queue pairs a write may pop to remove expired entries.
const SWEEP_BUDGET: usize = 4;

impl ShardState {
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// The live entry `key`, removing it when it has expired.
    pub(super) fn live(&mut self, key: Key, now: i64) -> Option<&mut Entry> {
        match self.map.get(&key) {
            Some(entry) if entry.expires_at <= now => {
                self.remove(key);
                None
            }
            Some(_) => self.map.get_mut(&key),
            None => None,
        }
    }

    /// `read` of the live entry `key` (one lookup), removing the entry when it has expired.
    pub(super) fn read_live<T>(
        &mut self,
        key: Key,
        now: i64,
        read: impl FnOnce(&Entry) -> T,
    ) -> Option<T> {
        match self.map.get(&key) {
            Some(entry) if entry.expires_at > now => Some(read(entry)),
            Some(_) => {
                self.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn is_live(&mut self, key: Key, now: i64) -> bool {
        self.live(key, now).is_some()
    }

    /// Removes `key` (its queue pair goes stale).
    pub(super) fn remove(&mut self, key: Key) -> bool {
        let removed = self.map.remove(&key).is_some();
        if removed {
            self.compact_if_stale();
        }
        removed
    }

    /// Inserts `entry`, which must not be expired, under `key` unless a live entry holds it:
    /// `None` then, else how many live entries were evicted to make room. One lookup when the
    /// shard has room (an expired entry under the key is replaced in place; its queue pair
    /// goes stale).
    pub(super) fn create(
        &mut self,
        key: Key,
        entry: Entry,
        capacity: usize,
        now: i64,
    ) -> Option<usize> {
        if self.map.len() >= capacity {
            if self.is_live(key, now) {
                return None;
            }
            return Some(self.insert(key, entry, capacity, now));
        }
        let expires_at = entry.expires_at;
        match self.map.entry(key) {
            hash_map::Entry::Occupied(slot) if slot.get().expires_at > now => return None,
            hash_map::Entry::Occupied(mut slot) => {
                slot.insert(entry);
            }
            hash_map::Entry::Vacant(slot) => {
                slot.insert(entry);
            }
        }
        self.queue.push(expires_at, key);
        self.sweep(now);
        Some(0)
    }

    /// Inserts `entry`, which must not be expired, under `key`, which must not be live.
    /// Makes room first: expired entries go, then live ones soonest-expiring first.
    /// Returns how many live entries were evicted.
    pub(super) fn insert(&mut self, key: Key, entry: Entry, capacity: usize, now: i64) -> usize {
        self.map.remove(&key);
        let mut evicted = 0;
        while self.map.len() >= capacity {
            match self.pop_soonest() {
                Some(expires_at) if expires_at > now => evicted += 1,
                Some(_) => {}
                // The queue holds every entry, so it is only empty when the map is.
                None => break,
            }
        }
        self.queue.push(entry.expires_at, key);
        self.map.insert(key, entry);
        self.sweep(now);
        evicted
    }

    /// Overwrites the entry `key` (which exists) with `record` at `version`, in place (its
    /// login box is kept when the login did not change).
    pub(super) fn update(&mut self, key: Key, record: &impl Source, version: u64, now: i64) {
        if let Some(slot) = self.map.get_mut(&key) {
            let before = slot.expires_at;
            slot.assign(record, version);
            if slot.expires_at != before {
                self.queue.push(slot.expires_at, key);
            }
        }
        self.sweep(now);
    }

    /// Moves the expiry of the entry `key` (which exists).
    pub(super) fn set_expiry(&mut self, key: Key, expires_at: i64, now: i64) {
        if let Some(slot) = self.map.get_mut(&key)
            && slot.expires_at != expires_at
        {
            slot.expires_at = expires_at;
            self.queue.push(expires_at, key);
        }
        self.sweep(now);
    }

    /// Removes and returns the expiry of the entry that expires soonest.
    fn pop_soonest(&mut self) -> Option<i64> {
        while let Some((expires_at, key)) = self.queue.pop() {
            if self
                .map
                .get(&key)
                .is_some_and(|e| e.expires_at == expires_at)
            {
                self.map.remove(&key);
                return Some(expires_at);
            }
        }
        None
    }

    /// Removes up to [`SWEEP_BUDGET`] expired entries from the top of the queue.
    pub(super) fn sweep(&mut self, now: i64) {
        for _ in 0..SWEEP_BUDGET {
            match self.queue.peek() {
                Some(expires_at) if expires_at <= now => {
                    let Some((expires_at, key)) = self.queue.pop() else {
                        break;
                    };
                    if self
                        .map
                        .get(&key)
                        .is_some_and(|e| e.expires_at == expires_at)
                    {
                        self.map.remove(&key);
                    }
                }
                _ => break,
            }
        }
        self.compact_if_stale();
    }

    /// Removes every expired entry; returns how many.
    pub(super) fn cleanup(&mut self, now: i64) -> usize {
        let before = self.map.len();
        self.map.retain(|_, entry| entry.expires_at > now);
        let removed = before - self.map.len();
        if self.map.capacity() > 4 * self.map.len() + 64 {
            self.map.shrink_to(2 * self.map.len());
        }
        self.rebuild_queue();
        removed
    }

    /// Rebuilds the queue when stale pairs outnumber live ones (a sort, amortised over the
    /// writes that made the stale pairs: O(log n) each).
    fn compact_if_stale(&mut self) {
        if self.queue.len() > 2 * self.map.len() + 32 {
            self.rebuild_queue();
        }
    }

    fn rebuild_queue(&mut self) {
        self.queue
            .rebuild(self.map.iter().map(|(key, entry)| (entry.expires_at, *key)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(expires_at: i64) -> Entry {
        Entry {
            version: 1,
            created_at: 0,
            expires_at,
            absolute_expires_at: NO_DEADLINE,
            idle_timeout: NO_TIMEOUT,
            data: None,
            login: None,
        }
    }

    fn state() -> ShardState {
        ShardState {
            map: HashMap::with_hasher(KeyedState::random()),
            queue: ExpiryQueue::default(),
        }
    }

    #[test]
    fn records_and_working_sessions_round_to_the_same_seconds() {
        for nanos in [
            0_i128,
            1,
            -1,
            -500_000_000,
            -1_000_000_000,
            -1_000_000_001,
            999_999_999,
            1_735_689_600_123_456_789,
        ] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let mut record = SessionRecord::new(SessionId::from_bytes([1; 16]), at, at);
            (record.created_at, record.expires_at) = (at, at);
            record.absolute_expires_at = Some(at);
            let working = Working::from_record(record.clone());
            assert_eq!(
                Source::seconds(&record),
                Source::seconds(&working),
                "{nanos}"
            );
            assert_eq!(
                Source::seconds(&record).0,
                nanos.div_euclid(1_000_000_000) as i64
            );
        }
    }

    #[test]
    fn entry_is_compact() {
        assert_eq!(size_of::<Entry>(), 56);
        assert_eq!(size_of::<(Key, Entry)>(), 72);
    }

    #[test]
    fn full_shard_evicts_soonest_expiring_and_skips_stale_pairs() {
        let mut s = state();
        assert_eq!(s.insert(Key([1; 16]), entry(50), 3, 0), 0);
        assert_eq!(s.insert(Key([2; 16]), entry(10), 3, 0), 0);
        assert_eq!(s.insert(Key([3; 16]), entry(30), 3, 0), 0);
        // Key 2 was extended: its old pair (10) is stale.
        s.set_expiry(Key([2; 16]), 100, 0);
        assert_eq!(s.insert(Key([4; 16]), entry(70), 3, 0), 1);
        assert!(s.is_live(Key([2; 16]), 0));
        assert!(!s.is_live(Key([3; 16]), 0));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn create_refuses_a_live_key_and_replaces_an_expired_one() {
        let mut s = state();
        assert_eq!(s.create(Key([1; 16]), entry(50), 3, 0), Some(0));
        assert_eq!(
            s.create(Key([1; 16]), entry(60), 3, 10),
            None,
            "live: taken"
        );
        assert_eq!(s.live(Key([1; 16]), 10).map(|e| e.expires_at), Some(50));
        // Expired at 50: replaced in place, and its stale queue pair evicts nothing.
        assert_eq!(s.create(Key([1; 16]), entry(90), 3, 50), Some(0));
        assert_eq!(s.live(Key([1; 16]), 50).map(|e| e.expires_at), Some(90));
        assert_eq!(s.create(Key([2; 16]), entry(70), 2, 50), Some(0));
        // Full (capacity 2): the soonest-expiring live entry goes.
        assert_eq!(s.create(Key([3; 16]), entry(80), 2, 50), Some(1));
        assert!(s.live(Key([2; 16]), 50).is_none());
        assert_eq!(
            s.create(Key([3; 16]), entry(99), 2, 50),
            None,
            "full and live: taken"
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn expired_entries_make_room_without_counting_as_evictions() {
        let mut s = state();
        assert_eq!(s.insert(Key([1; 16]), entry(5), 1, 0), 0);
        assert_eq!(s.insert(Key([2; 16]), entry(50), 1, 10), 0);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn writes_sweep_expired_entries_and_the_queue_stays_bounded() {
        let mut s = state();
        for n in 0..100u8 {
            s.insert(Key([n; 16]), entry(i64::from(n) + 1), usize::MAX, 0);
        }
        for _ in 0..1000 {
            for n in 0..10u8 {
                s.set_expiry(Key([n; 16]), 1000 + i64::from(n), 0);
                s.set_expiry(Key([n; 16]), 2000 + i64::from(n), 0);
            }
        }
        assert!(s.queue.len() <= 2 * s.map.len() + 33);
        // At time 200 the 90 untouched entries are expired; 30 writes remove them all.
        for _ in 0..30 {
            s.set_expiry(Key([0; 16]), 3000, 200);
        }
        assert_eq!(s.len(), 10);
    }

    #[test]
    fn cleanup_removes_expired_only() {
        let mut s = state();
        for n in 0..10u8 {
            s.insert(Key([n; 16]), entry(i64::from(n)), usize::MAX, -1);
        }
        assert_eq!(s.cleanup(4), 5);
        assert_eq!(s.len(), 5);
        assert_eq!(s.queue.len(), 5);
    }
}
