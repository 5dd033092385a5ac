//! `RedisRevocationList`: revocations shared through Redis, mirrored in local memory.
//!
//! This file holds the list itself: its reads, its writes and the state it shares with its
//! feed task. The other files hold one part each: `builder.rs` configures and starts a list,
//! `feed.rs` is the task that keeps the mirror up to date, `migrate.rs` re-keys revocations
//! written before entries carried an issuer, and `codec.rs` is the layout of keys, values and
//! messages in Redis.

mod builder;
mod codec;
mod feed;
mod migrate;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use auth_core::{RevocationError, RevocationList, RevocationStatus, TokenRef};
use redis::aio::ConnectionManager;
use time::OffsetDateTime;
use tokio::sync::watch;

pub use builder::RedisRevocationListBuilder;

use super::MemoryRevocationList;
use super::entry::Revocation;

const UP: i64 = i64::MIN;
const WRITE_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// What [`RedisRevocationList`] answers while its feed is stale (down longer than the
/// bound, never synced yet, or its mirror overflowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StalePolicy {
    /// Answer [`RevocationStatus::Unavailable`]: bearer routes answer 503 until the feed is
    /// back. The default.
    #[default]
    FailClosed,
    /// Answer from the (possibly stale) mirror: revocations made elsewhere while the feed was
    /// down are not enforced here until it is back.
    FailOpen,
}

/// A [`RevocationList`] shared by every instance through Redis, checked from a local mirror
/// (feature `redis`).
///
/// - **Writes** (`revoke_*`) run one script on Redis: the key
///   `{prefix}{jti|sub|sid}@{issuer length}:{issuer}{value}` holds `"{epoch} {until}"` (the
///   maximum of competing revocations) and expires at `until` plus the mirror's grace period
///   (TTL = remaining token lifetime); the same script PUBLISHes the revocation on the
///   channel (`"v2 {tag} {epoch} {until} {issuer length} {issuer}{value}"`). The writer
///   applies it to its own mirror at once. Every entry belongs to one issuer: the same `jti`
///   or subject of two issuers are two keys.
/// - **Upgrading from keys without an issuer.** Lists before the issuer was part of the key
///   wrote `{prefix}{jti|sub|sid}:{value}` and messages without the `v2` mark; this version
///   neither reads nor applies them (a revocation must not leak into another issuer's
///   namespace). They expire on their own within one token lifetime; to keep them in force
///   meanwhile, call [`migrate_unscoped_keys`](Self::migrate_unscoped_keys) once with the
///   issuer they were made for.
/// - **Reads** ([`status`](RevocationList::status)) consult only the local
///   [`MemoryRevocationList`] mirror: never a network call on the request path.
/// - **Feed.** A tokio task SUBSCRIBEs, then SCANs the prefix (full resync), then applies
///   every message. Pub/sub loses messages while disconnected, so after every reconnection
///   it resubscribes and resyncs again. On loopback a revocation reaches the other
///   instances in about a millisecond (the `redis` tests measure it).
/// - **Staleness.** When the feed has been down longer than
///   [`with_stale_after`](RedisRevocationListBuilder::with_stale_after) (or has not synced
///   yet, or the mirror overflowed its capacity), [`StalePolicy`] decides:
///   `Unavailable` (503, the default) or the mirror's answer. The policy is logged at start,
///   and the outage once when it becomes stale.
///
/// ```no_run
/// use std::sync::Arc;
/// use auth_jwt::{Algorithm, JwtLayer, RedisRevocationList, TrustedIssuer, VerifyingKey};
///
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
/// let revoked = Arc::new(RedisRevocationList::builder(client).with_prefix("api:revoked:").start().await?);
/// revoked.wait_synced(std::time::Duration::from_secs(5)).await;
/// # let secret = auth_core::SecretKey::generate(32)?;
/// let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?;
/// let layer = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
///     .with_revocation(revoked)
///     .build()?;
/// # Ok(()) }
/// ```
pub struct RedisRevocationList {
    shared: Arc<Shared>,
    conn: ConnectionManager,
    script: redis::Script,
    task: tokio::task::AbortHandle,
}

impl RedisRevocationList {
    /// Starts configuring a list on `client`.
    ///
    /// ```
    /// let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let builder = auth_jwt::RedisRevocationList::builder(client);
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn builder(client: redis::Client) -> RedisRevocationListBuilder {
        RedisRevocationListBuilder::new(client)
    }

    /// Waits until the feed has completed a full resync after the last call's view (the
    /// first sync, on a fresh list), up to `timeout`; `true` when it has.
    ///
    /// ```no_run
    /// # async fn f(list: auth_jwt::RedisRevocationList) {
    /// assert!(list.wait_synced(std::time::Duration::from_secs(5)).await);
    /// # }
    /// ```
    pub async fn wait_synced(&self, timeout: StdDuration) -> bool {
        let mut rx = self.shared.generation.subscribe();
        if self.shared.synced.load(Ordering::Acquire) && self.is_up() {
            return true;
        }
        tokio::time::timeout(timeout, rx.changed()).await.is_ok()
    }

    /// The number of completed resyncs (one per successful (re)connection of the feed).
    ///
    /// ```no_run
    /// # fn f(list: auth_jwt::RedisRevocationList) {
    /// println!("resyncs so far: {}", list.resyncs());
    /// # }
    /// ```
    pub fn resyncs(&self) -> u64 {
        *self.shared.generation.borrow()
    }

    /// Whether the feed is connected and synced right now.
    ///
    /// ```no_run
    /// # fn f(list: auth_jwt::RedisRevocationList) {
    /// if !list.is_up() { eprintln!("revocation feed down"); }
    /// # }
    /// ```
    pub fn is_up(&self) -> bool {
        self.shared.down_since_ms.load(Ordering::Acquire) == UP
    }

    /// The local mirror.
    ///
    /// ```no_run
    /// # fn f(list: auth_jwt::RedisRevocationList) {
    /// println!("{} revocations mirrored", list.mirror().len());
    /// # }
    /// ```
    pub fn mirror(&self) -> &MemoryRevocationList {
        &self.shared.memory
    }

    /// Re-keys the revocations written before entries carried an issuer
    /// (`{prefix}{jti|sub|sid}:{value}`) under `issuer`, keeping their epochs and lifetimes,
    /// announces them, and deletes the old keys; returns how many were moved. Run it once,
    /// from one instance, after upgrading, with the issuer those revocations were made for.
    ///
    /// ```no_run
    /// # async fn f(list: auth_jwt::RedisRevocationList) -> Result<(), auth_core::RevocationError> {
    /// let moved = list.migrate_unscoped_keys("https://auth.example.com").await?;
    /// println!("{moved} revocations now belong to https://auth.example.com");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RevocationError::Backend`] when Redis fails; keys moved so far stay moved, and a
    /// second run picks up the rest.
    pub async fn migrate_unscoped_keys(&self, issuer: &str) -> Result<u64, RevocationError> {
        migrate::unscoped_keys(self, issuer).await
    }

    /// Records `revocation` in Redis (one run of the write script: store, expire, publish),
    /// then in the local mirror with the values Redis kept; what every `revoke_*` method and
    /// the migration do. Nothing is written for a revocation already past `until` plus grace.
    async fn write(&self, revocation: Revocation<'_>) -> Result<(), RevocationError> {
        let memory = &self.shared.memory;
        let grace = memory.grace_seconds();
        if revocation.until.saturating_add(grace) <= memory.clock().unix_timestamp() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let invocation = codec::write_invocation(
            &self.script,
            &self.shared.prefix,
            &self.shared.channel,
            grace,
            &revocation,
        );
        let value: String = tokio::time::timeout(WRITE_TIMEOUT, invocation.invoke_async(&mut conn))
            .await
            .map_err(|e| RevocationError::Backend(Box::new(e)))?
            .map_err(|e| RevocationError::Backend(Box::new(e)))?;
        let (epoch, until) =
            codec::parse_value(&value).unwrap_or((revocation.epoch, revocation.until));
        self.shared.apply(Revocation {
            epoch,
            until,
            ..revocation
        });
        Ok(())
    }
}

impl Drop for RedisRevocationList {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for RedisRevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationList")
            .field("prefix", &self.shared.prefix)
            .field("channel", &self.shared.channel)
            .field("policy", &self.shared.policy)
            .field("up", &self.is_up())
            .field("mirror", &self.shared.memory)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    fn status(&self, token: &TokenRef<'_>) -> RevocationStatus {
        let shared = &*self.shared;
        if (shared.down_since_ms.load(Ordering::Relaxed) != UP
            || shared.overflow.load(Ordering::Relaxed))
            && shared.stale_and_closed()
        {
            return RevocationStatus::Unavailable;
        }
        shared.memory.check(token)
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.write(Revocation::token(issuer, jti, expires_at)).await
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.write(Revocation::subject(
            issuer,
            subject,
            issued_before,
            retain_until,
        ))
        .await
    }

    async fn revoke_session(
        &self,
        issuer: &str,
        session_id: &str,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.write(Revocation::session(issuer, session_id, retain_until))
            .await
    }
}

/// State shared by the list and its feed task (the feed's methods are in `feed.rs`).
struct Shared {
    memory: MemoryRevocationList,
    prefix: String,
    channel: String,
    stale_after_ms: i64,
    heartbeat: StdDuration,
    policy: StalePolicy,
    synced: AtomicBool,
    /// When the feed went down (ms since the epoch, from the mirror's clock), or [`UP`].
    down_since_ms: AtomicI64,
    /// The mirror refused an entry: it no longer knows every revocation.
    overflow: AtomicBool,
    stale_logged: AtomicBool,
    /// Incremented after every completed resync.
    generation: watch::Sender<u64>,
}

impl Shared {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.memory.clock().now().unix_timestamp_nanos() / 1_000_000)
            .unwrap_or(i64::MAX)
    }

    /// The slow path of `status`: whether the list is stale and fails closed.
    #[cold]
    fn stale_and_closed(&self) -> bool {
        let overflow = self.overflow.load(Ordering::Relaxed);
        let down = self.down_since_ms.load(Ordering::Relaxed);
        let stale = overflow
            || !self.synced.load(Ordering::Relaxed)
            || (down != UP && self.now_ms().saturating_sub(down) > self.stale_after_ms);
        if !stale {
            return false;
        }
        if !self.stale_logged.swap(true, Ordering::Relaxed) {
            match self.policy {
                StalePolicy::FailClosed => tracing::error!(
                    overflow,
                    stale_after_ms = self.stale_after_ms,
                    "revocation feed stale: failing closed, bearer routes answer 503"
                ),
                StalePolicy::FailOpen => tracing::error!(
                    overflow,
                    stale_after_ms = self.stale_after_ms,
                    "revocation feed stale: failing open, answering from the stale mirror"
                ),
            }
        }
        self.policy == StalePolicy::FailClosed
    }

    /// Records `revocation` in the mirror; a full mirror marks the list as overflowed.
    fn apply(&self, revocation: Revocation<'_>) {
        if self.memory.record(revocation).is_err() {
            self.overflow.store(true, Ordering::Relaxed);
            tracing::error!("revocation mirror full: a revocation could not be mirrored");
        }
    }
}

/// A SCAN over every key under a prefix, one page of keys at a time.
struct PrefixScan {
    pattern: String,
    /// Where the next page starts; `None` once the scan is complete.
    cursor: Option<u64>,
}

impl PrefixScan {
    fn new(prefix: &str) -> Self {
        Self {
            pattern: codec::key_pattern(prefix),
            cursor: Some(0),
        }
    }

    /// The next page of keys, or `None` when the scan is complete.
    async fn next_page(
        &mut self,
        conn: &mut ConnectionManager,
    ) -> redis::RedisResult<Option<Vec<String>>> {
        let Some(cursor) = self.cursor else {
            return Ok(None);
        };
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&self.pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await?;
        self.cursor = (next != 0).then_some(next);
        Ok(Some(keys))
    }
}
