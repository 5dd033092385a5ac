//! `MemoryRevocationList`: revocations in this process's memory.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use auth_core::{
    RevocationError, RevocationList, RevocationStatus, RevokedBy, SharedClock, SystemClock,
    TokenRef,
};
use time::{Duration, OffsetDateTime};

use super::entry::{Kind, Revocation};

/// Number of shards; a power of two.
const SHARDS: usize = 16;
/// A shard is swept on a write at most this often (seconds); a full list is always swept.
const SWEEP_INTERVAL: i64 = 30;

struct Entry {
    kind: Kind,
    /// The issuer's length in `key`.
    split: usize,
    /// The issuer, then the value (`jti`, subject or session id): one allocation.
    key: Box<str>,
    /// For a subject: tokens with `iat <= epoch` are revoked. Unused otherwise.
    epoch: i64,
    /// Unix seconds after which the entry is dropped (the token's `exp`, or `retain_until`,
    /// plus the grace period).
    drop_after: i64,
}

/// The map's keys are already hashes (SipHash with a per-list random key): no rehash.
#[derive(Default)]
struct PassThrough(u64);

impl Entry {
    fn is(&self, kind: Kind, issuer: &str, id: &str) -> bool {
        self.kind == kind
            && self.split == issuer.len()
            && self.key.len() == issuer.len() + id.len()
            && self.key.starts_with(issuer)
            && self.key.ends_with(id)
    }
}

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Default)]
struct Shard {
    /// Hash of (kind, issuer, id) to the entries with that hash (almost always one).
    map: HashMap<u64, Vec<Entry>, BuildHasherDefault<PassThrough>>,
    next_sweep: i64,
}

impl Shard {
    fn find(&self, hash: u64, kind: Kind, issuer: &str, id: &str) -> Option<&Entry> {
        self.map.get(&hash)?.iter().find(|e| e.is(kind, issuer, id))
    }

    /// Drops entries past their time; returns how many of each kind went.
    fn sweep(&mut self, now: i64) -> [usize; 3] {
        let mut gone = [0usize; 3];
        self.map.retain(|_, bucket| {
            bucket.retain(|e| {
                let keep = e.drop_after > now;
                if !keep && let Some(n) = gone.get_mut(e.kind as usize) {
                    *n += 1;
                }
                keep
            });
            !bucket.is_empty()
        });
        self.next_sweep = now.saturating_add(SWEEP_INTERVAL);
        gone
    }
}

/// A [`RevocationList`] in this process's memory: the default, and the local mirror of
/// [`RedisRevocationList`](crate::RedisRevocationList).
///
/// - **Per issuer.** Every entry is keyed on `(issuer, kind, value)`: a `jti`, subject or
///   session revoked for one issuer never touches another issuer's tokens.
/// - **Fast check.** [`status`](RevocationList::status) hashes each present claim once with
///   its issuer (SipHash, keyed per list), takes one shard's read lock (16 shards) and probes;
///   it never allocates and skips a kind entirely while no entry of that kind exists.
/// - **Expiry.** A `jti` entry is kept until the token's `exp`, a subject or session entry
///   until its `retain_until`, each plus a grace period (default 5 minutes, the largest leeway
///   [`JwtLayer`](crate::JwtLayer) accepts, so a revoked token is never accepted inside the
///   verifier's leeway). Cleanup is amortised: a write sweeps its shard when the shard's last
///   sweep is 30 s old, and a write that finds the list full sweeps every shard first. Call
///   [`purge_expired`](Self::purge_expired) from a timer to return memory sooner.
/// - **Bounded.** At most [`capacity`](Self::capacity) entries (default 1,000,000). **Overflow
///   policy:** when the list is full of live entries, a new revocation is *refused* with
///   [`RevocationError::Full`]: nothing live is ever evicted, so logout fails visibly (tell
///   the user) instead of a revoked token silently becoming valid again. Re-revoking
///   something already present never needs room.
/// - **Subject epochs.** `revoke_subject` keeps the latest `issued_before` (and the latest
///   `retain_until`) of competing revocations; a token with no `iat` is revoked by any epoch.
///
/// ```
/// use std::sync::Arc;
///
/// use auth_core::{ManualClock, RevocationList, RevocationStatus, RevokedBy, TokenRef};
/// use auth_jwt::MemoryRevocationList;
/// use time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let list = MemoryRevocationList::new()
///     .with_clock(Arc::new(clock.clone()))
///     .with_grace(Duration::ZERO);
/// let now = clock.now();
///
/// list.revoke_token("https://auth.example.com", "t-1", now + Duration::minutes(15)).await?;
/// let token = TokenRef {
///     issuer: "https://auth.example.com",
///     jti: Some("t-1"),
///     subject: Some("alice"),
///     ..TokenRef::default()
/// };
/// assert_eq!(list.status(&token), RevocationStatus::Revoked(RevokedBy::Token));
/// assert_eq!(list.len(), 1);
///
/// // The same `jti` from another issuer is another token.
/// let theirs = TokenRef { issuer: "https://idp.example", ..token };
/// assert_eq!(list.status(&theirs), RevocationStatus::Active);
///
/// // The entry goes when the token would have expired anyway.
/// clock.advance(Duration::minutes(16));
/// assert_eq!(list.purge_expired(), 1);
/// assert!(list.is_empty());
/// # use auth_core::Clock;
/// # Ok(())
/// # }
/// ```
pub struct MemoryRevocationList {
    shards: Box<[RwLock<Shard>]>,
    hasher: RandomState,
    counts: [AtomicUsize; 3],
    len: AtomicUsize,
    capacity: usize,
    grace: i64,
    clock: SharedClock,
}

impl MemoryRevocationList {
    /// The default capacity: one million entries.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;
    /// The default grace period kept after an entry's expiry: 5 minutes.
    pub const DEFAULT_GRACE: Duration = Duration::minutes(5);

    /// An empty list with the [`SystemClock`], [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY)
    /// and [`DEFAULT_GRACE`](Self::DEFAULT_GRACE).
    ///
    /// ```
    /// let list = auth_jwt::MemoryRevocationList::new();
    /// assert!(list.is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: RandomState::new(),
            counts: Default::default(),
            len: AtomicUsize::new(0),
            capacity: Self::DEFAULT_CAPACITY,
            grace: Self::DEFAULT_GRACE.whole_seconds(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock that decides expiry. Default: [`SystemClock`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let list = auth_jwt::MemoryRevocationList::new()
    ///     .with_clock(Arc::new(auth_core::ManualClock::at_unix(0)));
    /// # assert!(list.is_empty());
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The most entries kept; further revocations are refused with
    /// [`RevocationError::Full`]. Default: [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY).
    ///
    /// ```
    /// let list = auth_jwt::MemoryRevocationList::new().with_capacity(10_000);
    /// assert_eq!(list.capacity(), 10_000);
    /// ```
    #[must_use]
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// How long an entry outlives its token's `exp` (or its `retain_until`). Keep it at least
    /// the verifier's leeway. Default: [`DEFAULT_GRACE`](Self::DEFAULT_GRACE); negative
    /// values count as zero.
    ///
    /// ```
    /// let list = auth_jwt::MemoryRevocationList::new().with_grace(time::Duration::seconds(30));
    /// # assert!(list.is_empty());
    /// ```
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace.whole_seconds().max(0);
        self
    }

    /// The number of entries (revoked tokens, subjects and sessions), expired ones not yet
    /// swept included.
    ///
    /// ```
    /// assert_eq!(auth_jwt::MemoryRevocationList::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the list holds no entry.
    ///
    /// ```
    /// assert!(auth_jwt::MemoryRevocationList::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum number of entries.
    ///
    /// ```
    /// let list = auth_jwt::MemoryRevocationList::new();
    /// assert_eq!(list.capacity(), auth_jwt::MemoryRevocationList::DEFAULT_CAPACITY);
    /// ```
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops every entry past its time (plus grace) now; returns how many went.
    ///
    /// ```
    /// assert_eq!(auth_jwt::MemoryRevocationList::new().purge_expired(), 0);
    /// ```
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.unix_timestamp();
        self.shards
            .iter()
            .map(|shard| {
                let mut guard = shard.write().unwrap_or_else(|e| e.into_inner());
                let gone = guard.sweep(now);
                drop(guard);
                self.forget(gone)
            })
            .sum()
    }

    /// The grace period, in seconds.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn grace_seconds(&self) -> i64 {
        self.grace
    }

    /// The clock.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(super) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    fn forget(&self, gone: [usize; 3]) -> usize {
        let mut total = 0;
        for (count, n) in self.counts.iter().zip(gone) {
            if n > 0 {
                count.fetch_sub(n, Ordering::Relaxed);
                total += n;
            }
        }
        if total > 0 {
            self.len.fetch_sub(total, Ordering::Relaxed);
        }
        total
    }

    fn hash(&self, kind: Kind, issuer: &str, id: &str) -> u64 {
        // `str` hashes with a terminator: ("ab", "c") and ("a", "bc") differ.
        self.hasher.hash_one((kind as u8, issuer, id))
    }

    fn shard(&self, hash: u64) -> Option<&RwLock<Shard>> {
        // Middle bits: the map uses the low bits for buckets and the top ones as tags.
        self.shards.get((hash >> 32) as usize & (SHARDS - 1))
    }

    fn has_any(&self, kind: Kind) -> bool {
        self.counts
            .get(kind as usize)
            .is_some_and(|c| c.load(Ordering::Relaxed) > 0)
    }

    /// The epoch of the entry `(kind, issuer, id)`, if there is one.
    fn lookup(&self, kind: Kind, issuer: &str, id: &str) -> Option<i64> {
        let hash = self.hash(kind, issuer, id);
        let shard = self.shard(hash)?.read().unwrap_or_else(|e| e.into_inner());
        shard.find(hash, kind, issuer, id).map(|e| e.epoch)
    }

    /// Records a revocation: `(kind, issuer, id)` with `epoch` (subjects), kept until `until`
    /// plus grace. Competing entries keep the maximum of both values.
    pub(super) fn record(&self, revocation: Revocation<'_>) -> Result<(), RevocationError> {
        let Revocation {
            kind,
            issuer,
            id,
            epoch,
            until,
        } = revocation;
        let now = self.clock.unix_timestamp();
        let drop_after = until.saturating_add(self.grace);
        if drop_after <= now {
            // The tokens it could affect are expired (past the grace period) already.
            return Ok(());
        }
        let hash = self.hash(kind, issuer, id);
        let Some(lock) = self.shard(hash) else {
            return Err(RevocationError::Full);
        };
        for attempt in 0..2 {
            let mut shard = lock.write().unwrap_or_else(|e| e.into_inner());
            if let Some(bucket) = shard.map.get_mut(&hash)
                && let Some(entry) = bucket.iter_mut().find(|e| e.is(kind, issuer, id))
            {
                entry.epoch = entry.epoch.max(epoch);
                entry.drop_after = entry.drop_after.max(drop_after);
                return Ok(());
            }
            let swept = if now >= shard.next_sweep {
                shard.sweep(now)
            } else {
                [0; 3]
            };
            let reserved = self
                .len
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                    (len < self.capacity).then_some(len + 1)
                })
                .is_ok();
            if reserved {
                let mut key = String::with_capacity(issuer.len() + id.len());
                key.push_str(issuer);
                key.push_str(id);
                shard.map.entry(hash).or_default().push(Entry {
                    kind,
                    split: issuer.len(),
                    key: key.into_boxed_str(),
                    epoch,
                    drop_after,
                });
                drop(shard);
                if let Some(count) = self.counts.get(kind as usize) {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                self.forget(swept);
                return Ok(());
            }
            drop(shard);
            self.forget(swept);
            if attempt == 0 && self.purge_expired() == 0 {
                break;
            }
        }
        tracing::warn!(
            capacity = self.capacity,
            "revocation list full of live entries: revocation refused"
        );
        Err(RevocationError::Full)
    }

    /// The status of `token`; what [`RevocationList::status`] answers.
    pub(super) fn check(&self, token: &TokenRef<'_>) -> RevocationStatus {
        let issuer = token.issuer;
        if let Some(jti) = token.jti
            && self.has_any(Kind::Token)
            && self.lookup(Kind::Token, issuer, jti).is_some()
        {
            return RevocationStatus::Revoked(RevokedBy::Token);
        }
        if let Some(subject) = token.subject
            && self.has_any(Kind::Subject)
            && let Some(epoch) = self.lookup(Kind::Subject, issuer, subject)
            && token.issued_at.is_none_or(|iat| iat <= epoch)
        {
            return RevocationStatus::Revoked(RevokedBy::Subject);
        }
        if let Some(sid) = token.session_id
            && self.has_any(Kind::Session)
            && self.lookup(Kind::Session, issuer, sid).is_some()
        {
            return RevocationStatus::Revoked(RevokedBy::Session);
        }
        RevocationStatus::Active
    }
}

impl Default for MemoryRevocationList {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryRevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRevocationList")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("grace_seconds", &self.grace)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    fn status(&self, token: &TokenRef<'_>) -> RevocationStatus {
        self.check(token)
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.record(Revocation::token(issuer, jti, expires_at))
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.record(Revocation::subject(
            issuer,
            subject,
            issued_before,
            retain_until,
        ))
    }

    async fn revoke_session(
        &self,
        issuer: &str,
        session_id: &str,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.record(Revocation::session(issuer, session_id, retain_until))
    }
}

#[cfg(test)]
mod tests {
    use auth_core::{Clock, ManualClock};

    use super::*;

    fn list(clock: &ManualClock) -> MemoryRevocationList {
        MemoryRevocationList::new()
            .with_clock(Arc::new(clock.clone()))
            .with_grace(Duration::ZERO)
    }

    const ISS: &str = "https://issuer.example";

    fn tok<'a>(jti: &'a str, sub: &'a str, iat: i64) -> TokenRef<'a> {
        TokenRef {
            issuer: ISS,
            jti: Some(jti),
            subject: Some(sub),
            session_id: None,
            issued_at: Some(iat),
        }
    }

    #[tokio::test]
    async fn revoked_jti_is_revoked_and_others_are_active() {
        let clock = ManualClock::at_unix(1_000);
        let l = list(&clock);
        l.revoke_token(ISS, "a", clock.now() + Duration::minutes(5))
            .await
            .unwrap();
        assert_eq!(
            l.status(&tok("a", "alice", 900)),
            RevocationStatus::Revoked(RevokedBy::Token)
        );
        assert_eq!(l.status(&tok("b", "alice", 900)), RevocationStatus::Active);
    }

    #[tokio::test]
    async fn subject_epoch_compares_on_iat_and_the_latest_epoch_wins() {
        let clock = ManualClock::at_unix(1_000);
        let l = list(&clock);
        let keep = clock.now() + Duration::hours(1);
        l.revoke_subject(
            ISS,
            "alice",
            OffsetDateTime::from_unix_timestamp(950).unwrap(),
            keep,
        )
        .await
        .unwrap();
        // An earlier epoch does not lower the later one.
        l.revoke_subject(
            ISS,
            "alice",
            OffsetDateTime::from_unix_timestamp(900).unwrap(),
            keep,
        )
        .await
        .unwrap();
        let revoked = RevocationStatus::Revoked(RevokedBy::Subject);
        assert_eq!(l.status(&tok("x", "alice", 950)), revoked);
        assert_eq!(l.status(&tok("x", "alice", 920)), revoked);
        assert_eq!(l.status(&tok("x", "alice", 951)), RevocationStatus::Active);
        assert_eq!(l.status(&tok("x", "bob", 1)), RevocationStatus::Active);
        let no_iat = TokenRef {
            issuer: ISS,
            subject: Some("alice"),
            ..TokenRef::default()
        };
        assert_eq!(l.status(&no_iat), revoked);
    }

    #[tokio::test]
    async fn entries_of_one_issuer_never_revoke_another_issuers_tokens() {
        let clock = ManualClock::at_unix(1_000);
        let l = list(&clock);
        let keep = clock.now() + Duration::hours(1);
        l.revoke_token(ISS, "j", keep).await.unwrap();
        l.revoke_subject(ISS, "bob", clock.now(), keep)
            .await
            .unwrap();
        l.revoke_session(ISS, "s", keep).await.unwrap();
        let mut theirs = tok("j", "bob", 900);
        theirs.session_id = Some("s");
        theirs.issuer = "https://idp.example";
        assert_eq!(l.status(&theirs), RevocationStatus::Active);
        // Concatenations that would collide without the split are distinct keys.
        l.revoke_token("ab", "c", keep).await.unwrap();
        let mut split = tok("bc", "nobody", 900);
        split.issuer = "a";
        assert_eq!(l.status(&split), RevocationStatus::Active);
        split.issuer = "ab";
        split.jti = Some("c");
        assert_eq!(
            l.status(&split),
            RevocationStatus::Revoked(RevokedBy::Token)
        );
        let mut ours = theirs;
        ours.issuer = ISS;
        assert_eq!(l.status(&ours), RevocationStatus::Revoked(RevokedBy::Token));
    }

    #[tokio::test]
    async fn session_revocation_matches_sid() {
        let clock = ManualClock::at_unix(1_000);
        let l = list(&clock);
        l.revoke_session(ISS, "s1", clock.now() + Duration::hours(1))
            .await
            .unwrap();
        let mut t = tok("x", "alice", 1);
        t.session_id = Some("s1");
        assert_eq!(l.status(&t), RevocationStatus::Revoked(RevokedBy::Session));
        t.session_id = Some("s2");
        assert_eq!(l.status(&t), RevocationStatus::Active);
    }

    #[tokio::test]
    async fn entries_are_dropped_after_expiry_and_grace() {
        let clock = ManualClock::at_unix(1_000);
        let l = MemoryRevocationList::new()
            .with_clock(Arc::new(clock.clone()))
            .with_grace(Duration::seconds(60));
        for i in 0..100 {
            l.revoke_token(
                ISS,
                &format!("j{i}"),
                clock.now() + Duration::seconds(10 + i),
            )
            .await
            .unwrap();
        }
        assert_eq!(l.len(), 100);
        clock.advance(Duration::seconds(60 + 10 + 49));
        assert_eq!(l.purge_expired(), 50);
        assert_eq!(l.len(), 50);
        assert!(l.status(&tok("j10", "a", 1)) == RevocationStatus::Active);
        assert!(l.status(&tok("j99", "a", 1)) != RevocationStatus::Active);
        clock.advance(Duration::hours(1));
        assert_eq!(l.purge_expired(), 50);
        assert!(l.is_empty());
        // Already expired: nothing to remember.
        l.revoke_token(ISS, "old", clock.now() - Duration::hours(1))
            .await
            .unwrap();
        assert!(l.is_empty());
    }

    #[tokio::test]
    async fn a_full_list_refuses_rather_than_forgets_and_makes_room_from_expired_entries() {
        let clock = ManualClock::at_unix(1_000);
        let l = list(&clock).with_capacity(3);
        let soon = clock.now() + Duration::seconds(10);
        let later = clock.now() + Duration::hours(1);
        l.revoke_token(ISS, "a", soon).await.unwrap();
        l.revoke_token(ISS, "b", later).await.unwrap();
        l.revoke_subject(ISS, "s", clock.now(), later)
            .await
            .unwrap();
        assert!(matches!(
            l.revoke_token(ISS, "c", later).await,
            Err(RevocationError::Full)
        ));
        // Every live entry is still there.
        assert!(l.status(&tok("a", "x", 1)) != RevocationStatus::Active);
        assert!(l.status(&tok("b", "x", 1)) != RevocationStatus::Active);
        // Re-revoking needs no room.
        l.revoke_token(ISS, "b", later).await.unwrap();
        // Once "a" expires, its slot is reused.
        clock.advance(Duration::seconds(11));
        l.revoke_token(ISS, "c", later).await.unwrap();
        assert_eq!(l.len(), 3);
        assert!(l.status(&tok("c", "x", 1)) != RevocationStatus::Active);
    }

    #[test]
    fn concurrent_writers_and_readers_agree() {
        let clock = ManualClock::at_unix(1_000);
        let l = Arc::new(list(&clock));
        let until = clock.unix_timestamp() + 3_600;
        std::thread::scope(|s| {
            for t in 0..4 {
                let l = Arc::clone(&l);
                s.spawn(move || {
                    for i in 0..500 {
                        let jti = format!("{t}-{i}");
                        l.record(Revocation {
                            kind: Kind::Token,
                            issuer: ISS,
                            id: &jti,
                            epoch: 0,
                            until,
                        })
                        .unwrap();
                        assert!(l.status(&tok(&jti, "x", 1)) != RevocationStatus::Active);
                    }
                });
            }
        });
        assert_eq!(l.len(), 2_000);
    }
}
