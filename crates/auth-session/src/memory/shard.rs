//! One shard: a map of compact entries ([`Entry`]) plus an expiry queue.
//!
//! The queue ([`ExpiryQueue`]) holds `(expires_at, key)` pairs with lazy deletion: every
//! entry's current expiry is in the queue, and stale pairs (the entry was deleted or its
//! expiry moved) are skipped when they come out. The queue gives both the eviction order
//! (soonest expiry first) and the amortised sweep (expired entries come out first). It is
//! rebuilt from the map when stale pairs outnumber live ones, so it never holds more than about
//! twice the entries.

use std::collections::{HashMap, hash_map};
use std::sync::{Mutex, MutexGuard, PoisonError};

use auth_core::{SessionId, SessionRecord, StoreResult};

use super::entry::Entry;
use super::hash::{Key, KeyedState};
use super::queue::ExpiryQueue;

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
    pub(super) fn update(&mut self, key: Key, record: &SessionRecord, version: u64, now: i64) {
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

    /// Appends the live sessions of the principal `issuer` + `subject` to `out`, but the one
    /// under `except`.
    pub(super) fn sessions_of(
        &self,
        (issuer, subject): (Option<&str>, &str),
        except: Option<Key>,
        now: i64,
        out: &mut Vec<SessionRecord>,
    ) -> StoreResult<()> {
        for (key, entry) in &self.map {
            if entry.is_of(issuer, subject) && entry.expires_at > now && Some(*key) != except {
                out.push(entry.to_record(SessionId::from_bytes(key.0))?);
            }
        }
        Ok(())
    }

    /// Removes the live sessions of the principal `issuer` + `subject`, but the one under
    /// `keep`; returns how many (their queue pairs go stale).
    pub(super) fn delete_sessions_of(
        &mut self,
        (issuer, subject): (Option<&str>, &str),
        keep: Option<Key>,
        now: i64,
    ) -> usize {
        let before = self.map.len();
        self.map.retain(|key, entry| {
            !entry.is_of(issuer, subject) || entry.expires_at <= now || Some(*key) == keep
        });
        let removed = before - self.map.len();
        if removed > 0 {
            self.compact_if_stale();
        }
        removed
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
        Entry::expiring_at(expires_at)
    }

    fn state() -> ShardState {
        ShardState {
            map: HashMap::with_hasher(KeyedState::random()),
            queue: ExpiryQueue::default(),
        }
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
    fn a_principals_sessions_are_listed_and_removed_live_only_and_but_the_kept_one() {
        let at = time::OffsetDateTime::UNIX_EPOCH;
        let of = |n: u8, issuer: Option<&str>, subject: &str, expires_at: i64| {
            let mut record =
                SessionRecord::new(SessionId::from_bytes([n; 16]), at, at).with_subject(subject);
            record.issuer = issuer.map(str::to_owned);
            let mut entry = Entry::from_record(&record, 1);
            entry.expires_at = expires_at;
            (Key([n; 16]), entry)
        };
        let mut s = state();
        for (key, entry) in [
            of(1, Some("a"), "bob", 100),
            of(2, Some("a"), "bob", 100),
            of(3, Some("a"), "bob", 5),
            of(4, Some("b"), "bob", 100),
            of(5, None, "bob", 100),
        ] {
            s.insert(key, entry, usize::MAX, 0);
        }
        let listed = |s: &ShardState, except| {
            let mut out = Vec::new();
            s.sessions_of((Some("a"), "bob"), except, 10, &mut out)
                .unwrap();
            let mut ids: Vec<u8> = out.iter().map(|r| r.id.as_bytes()[0]).collect();
            ids.sort_unstable();
            ids
        };
        assert_eq!(listed(&s, None), [1, 2], "the expired one is not listed");
        assert_eq!(listed(&s, Some(Key([2; 16]))), [1]);
        assert_eq!(
            s.delete_sessions_of((Some("a"), "bob"), Some(Key([1; 16])), 10),
            1
        );
        assert_eq!(listed(&s, None), [1]);
        assert_eq!(s.delete_sessions_of((Some("a"), "bob"), None, 10), 1);
        assert_eq!(s.delete_sessions_of((Some("a"), "bob"), None, 10), 0);
        // The other principals' sessions, and the expired one (left to expiry), stay.
        assert_eq!(s.len(), 3);
        assert!(s.is_live(Key([4; 16]), 10) && s.is_live(Key([5; 16]), 10));
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
