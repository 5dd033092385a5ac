//! `RedisRevocationList`: revocations shared through Redis, mirrored in local memory.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use auth_core::{RevocationError, RevocationList, RevocationStatus, TokenRef};
use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;
use time::OffsetDateTime;
use tokio::sync::watch;

use super::memory::{Kind, MemoryRevocationList};

/// The default key prefix.
const DEFAULT_PREFIX: &str = "auth:revoked:";
/// The default pub/sub channel.
const DEFAULT_CHANNEL: &str = "auth:revocations";
const UP: i64 = i64::MIN;
const MIN_BACKOFF: StdDuration = StdDuration::from_millis(50);
const MAX_BACKOFF: StdDuration = StdDuration::from_secs(2);
const WRITE_TIMEOUT: StdDuration = StdDuration::from_secs(5);
const PURGE_EVERY: StdDuration = StdDuration::from_secs(30);

/// Records `(epoch, until)` as the max of the stored and the new values, with the key
/// expiring at `until + grace`, and publishes the result. Atomic (one script).
const WRITE_SCRIPT: &str = r"
local epoch = tonumber(ARGV[1])
local untl = tonumber(ARGV[2])
local cur = redis.call('GET', KEYS[1])
if cur then
  local e, u = string.match(cur, '^(%-?%d+) (%-?%d+)$')
  if e then
    epoch = math.max(epoch, tonumber(e))
    untl = math.max(untl, tonumber(u))
  end
end
local value = string.format('%d %d', epoch, untl)
redis.call('SET', KEYS[1], value, 'EXAT', untl + tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. value .. ' ' .. ARGV[6])
return value
";

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

/// Configures and starts a [`RedisRevocationList`]; created by
/// [`RedisRevocationList::builder`].
#[must_use]
pub struct RedisRevocationListBuilder {
    client: redis::Client,
    prefix: String,
    channel: String,
    stale_after: StdDuration,
    policy: StalePolicy,
    memory: MemoryRevocationList,
}

impl RedisRevocationListBuilder {
    /// The prefix of every key this list writes and scans. Default: `auth:revoked:`.
    ///
    /// ```
    /// # let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let builder = auth_jwt::RedisRevocationList::builder(client).with_prefix("app1:revoked:");
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The pub/sub channel revocations are announced on. Default: `auth:revocations`.
    ///
    /// ```
    /// # let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let builder = auth_jwt::RedisRevocationList::builder(client).with_channel("app1:revocations");
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn with_channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// How long the feed may be down before [`StalePolicy`] applies. Default: 10 seconds.
    /// The subscription is pinged every quarter of this (at least every 100 ms, at most every
    /// 5 s) so a silent connection is noticed too.
    ///
    /// ```
    /// # let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let builder = auth_jwt::RedisRevocationList::builder(client)
    ///     .with_stale_after(std::time::Duration::from_secs(5));
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn with_stale_after(mut self, bound: StdDuration) -> Self {
        self.stale_after = bound;
        self
    }

    /// What to answer while the feed is stale. Default: [`StalePolicy::FailClosed`] (503).
    ///
    /// ```
    /// # let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// use auth_jwt::StalePolicy;
    /// let builder = auth_jwt::RedisRevocationList::builder(client)
    ///     .with_stale_policy(StalePolicy::FailOpen);
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn with_stale_policy(mut self, policy: StalePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The local mirror (its capacity, grace period and clock). Default:
    /// [`MemoryRevocationList::new`]. Keys in Redis expire with the mirror's grace period
    /// too.
    ///
    /// ```
    /// # let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let builder = auth_jwt::RedisRevocationList::builder(client)
    ///     .with_mirror(auth_jwt::MemoryRevocationList::new().with_capacity(100_000));
    /// # Ok::<(), auth_jwt::redis::RedisError>(())
    /// ```
    pub fn with_mirror(mut self, memory: MemoryRevocationList) -> Self {
        self.memory = memory;
        self
    }

    /// Connects (the write connection), then spawns the feed task on the current tokio
    /// runtime: it subscribes, resyncs the whole prefix, and keeps the mirror up to date,
    /// resubscribing and resyncing after every disconnection. Returns without waiting for the
    /// first sync ([`wait_synced`](RedisRevocationList::wait_synced) does); until then the
    /// list is stale.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = auth_jwt::redis::Client::open("redis://127.0.0.1/")?;
    /// let list = auth_jwt::RedisRevocationList::builder(client).start().await?;
    /// list.wait_synced(std::time::Duration::from_secs(5)).await;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`RevocationError::Backend`] when Redis cannot be reached.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime.
    pub async fn start(self) -> Result<RedisRevocationList, RevocationError> {
        let conn = tokio::time::timeout(WRITE_TIMEOUT, self.client.get_connection_manager())
            .await
            .map_err(|e| RevocationError::Backend(Box::new(e)))?
            .map_err(|e| RevocationError::Backend(Box::new(e)))?;
        let (generation, _) = watch::channel(0u64);
        let shared = Arc::new(Shared {
            memory: self.memory,
            prefix: self.prefix,
            channel: self.channel,
            stale_after_ms: i64::try_from(self.stale_after.as_millis()).unwrap_or(i64::MAX),
            heartbeat: (self.stale_after / 4)
                .clamp(StdDuration::from_millis(100), StdDuration::from_secs(5)),
            policy: self.policy,
            synced: AtomicBool::new(false),
            down_since_ms: AtomicI64::new(0),
            overflow: AtomicBool::new(false),
            stale_logged: AtomicBool::new(false),
            generation,
        });
        shared
            .down_since_ms
            .store(shared.now_ms(), Ordering::Relaxed);
        tracing::info!(
            prefix = %shared.prefix,
            channel = %shared.channel,
            stale_after_ms = shared.stale_after_ms,
            policy = ?shared.policy,
            "revocation feed starting: when the feed is down longer than stale_after, {}",
            match shared.policy {
                StalePolicy::FailClosed => "bearer routes answer 503 (fail closed)",
                StalePolicy::FailOpen => "the stale local mirror answers (fail open)",
            }
        );
        let task = tokio::spawn(feed(Arc::clone(&shared), self.client, conn.clone()));
        Ok(RedisRevocationList {
            shared,
            conn,
            script: redis::Script::new(WRITE_SCRIPT),
            task: task.abort_handle(),
        })
    }
}

impl fmt::Debug for RedisRevocationListBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationListBuilder")
            .field("prefix", &self.prefix)
            .field("channel", &self.channel)
            .field("stale_after", &self.stale_after)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
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
        RedisRevocationListBuilder {
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            channel: DEFAULT_CHANNEL.to_owned(),
            stale_after: StdDuration::from_secs(10),
            policy: StalePolicy::FailClosed,
            memory: MemoryRevocationList::new(),
        }
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
        let backend = |e: redis::RedisError| RevocationError::Backend(Box::new(e));
        let mut conn = self.conn.clone();
        let pattern = format!("{}*", glob_escape(&self.shared.prefix));
        let mut cursor: u64 = 0;
        let mut old = Vec::new();
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            old.extend(keys.into_iter().filter_map(|key| {
                let rest = key.strip_prefix(&self.shared.prefix)?;
                let (tag, id) = rest.split_once(':')?;
                let kind = Kind::from_tag(tag)?;
                Some((key.clone(), kind, id.to_owned()))
            }));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        let mut moved = 0;
        for (key, kind, id) in old {
            let value: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .map_err(backend)?;
            if let Some((epoch, until)) = value.as_deref().and_then(parse_value) {
                self.write(kind, issuer, &id, epoch, until).await?;
                moved += 1;
            }
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<()>(&mut conn)
                .await
                .map_err(backend)?;
        }
        Ok(moved)
    }

    async fn write(
        &self,
        kind: Kind,
        issuer: &str,
        id: &str,
        epoch: i64,
        until: i64,
    ) -> Result<(), RevocationError> {
        let memory = &self.shared.memory;
        let grace = memory.grace_seconds();
        if until.saturating_add(grace) <= memory.clock().unix_timestamp() {
            return Ok(());
        }
        let key = format!(
            "{}{}@{}:{issuer}{id}",
            self.shared.prefix,
            kind.tag(),
            issuer.len()
        );
        let mut conn = self.conn.clone();
        let mut invocation = self.script.key(&key);
        invocation
            .arg(epoch)
            .arg(until)
            .arg(grace)
            .arg(&self.shared.channel)
            .arg(format!("v2 {}", kind.tag()))
            .arg(format!("{} {issuer}{id}", issuer.len()));
        let value: String = tokio::time::timeout(WRITE_TIMEOUT, invocation.invoke_async(&mut conn))
            .await
            .map_err(|e| RevocationError::Backend(Box::new(e)))?
            .map_err(|e| RevocationError::Backend(Box::new(e)))?;
        let (epoch, until) = parse_value(&value).unwrap_or((epoch, until));
        self.shared.apply(kind, issuer, id, epoch, until);
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
        self.write(Kind::Token, issuer, jti, 0, expires_at.unix_timestamp())
            .await
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.write(
            Kind::Subject,
            issuer,
            subject,
            issued_before.unix_timestamp(),
            retain_until.unix_timestamp(),
        )
        .await
    }

    async fn revoke_session(
        &self,
        issuer: &str,
        session_id: &str,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        self.write(
            Kind::Session,
            issuer,
            session_id,
            0,
            retain_until.unix_timestamp(),
        )
        .await
    }
}

/// State shared by the list and its feed task.
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

    fn apply(&self, kind: Kind, issuer: &str, id: &str, epoch: i64, until: i64) {
        if self.memory.record(kind, issuer, id, epoch, until).is_err() {
            self.overflow.store(true, Ordering::Relaxed);
            tracing::error!("revocation mirror full: a revocation could not be mirrored");
        }
    }

    /// Applies one pub/sub message: `"v2 {tag} {epoch} {until} {issuer length} {issuer}{id}"`.
    /// Messages without the `v2` mark come from a version that did not key on the issuer:
    /// ignored.
    fn apply_message(&self, payload: &[u8]) {
        let parsed = std::str::from_utf8(payload).ok().and_then(|text| {
            let mut parts = text.splitn(6, ' ');
            (parts.next()? == "v2").then_some(())?;
            let kind = Kind::from_tag(parts.next()?)?;
            let epoch = parts.next()?.parse().ok()?;
            let until = parts.next()?.parse().ok()?;
            let split: usize = parts.next()?.parse().ok()?;
            let scoped = parts.next()?;
            Some((
                kind,
                epoch,
                until,
                scoped.get(..split)?,
                scoped.get(split..)?,
            ))
        });
        match parsed {
            Some((kind, epoch, until, issuer, id)) => self.apply(kind, issuer, id, epoch, until),
            None => tracing::warn!("ignored a malformed or pre-issuer revocation message"),
        }
    }

    fn mark_up(&self) {
        self.synced.store(true, Ordering::Release);
        self.down_since_ms.store(UP, Ordering::Release);
        if self.stale_logged.swap(false, Ordering::Relaxed) {
            tracing::info!("revocation feed restored");
        }
        self.generation.send_modify(|g| *g += 1);
    }

    fn mark_down(&self) {
        let now = self.now_ms();
        let _ = self
            .down_since_ms
            .compare_exchange(UP, now, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// SCANs the prefix and merges every entry into the mirror.
    async fn resync(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut cursor: u64 = 0;
        let overflow_before = self.overflow.swap(false, Ordering::Relaxed);
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(conn)
                .await?;
            if !keys.is_empty() {
                let values: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query_async(conn).await?;
                for (key, value) in keys.iter().zip(values) {
                    let entry = key.strip_prefix(&self.prefix).and_then(parse_scoped_key);
                    if let (Some((kind, issuer, id)), Some((epoch, until))) =
                        (entry, value.as_deref().and_then(parse_value))
                    {
                        self.apply(kind, issuer, id, epoch, until);
                    }
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        if overflow_before && !self.overflow.load(Ordering::Relaxed) {
            tracing::info!("revocation mirror caught up after an overflow");
        }
        Ok(())
    }
}

/// `{tag}@{issuer length}:{issuer}{id}` (after the prefix); `None` for anything else, keys
/// without an issuer included.
fn parse_scoped_key(rest: &str) -> Option<(Kind, &str, &str)> {
    let (tag, rest) = rest.split_once('@')?;
    let kind = Kind::from_tag(tag)?;
    let (split, scoped) = rest.split_once(':')?;
    let split: usize = split.parse().ok()?;
    Some((kind, scoped.get(..split)?, scoped.get(split..)?))
}

fn parse_value(value: &str) -> Option<(i64, i64)> {
    let (epoch, until) = value.split_once(' ')?;
    Some((epoch.parse().ok()?, until.parse().ok()?))
}

fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The feed task: subscribe, resync, follow; again after every disconnection.
async fn feed(shared: Arc<Shared>, client: redis::Client, mut conn: ConnectionManager) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = follow(&shared, &client, &mut conn, &mut backoff).await;
        shared.mark_down();
        tracing::warn!(error = %error, retry_in_ms = backoff.as_millis(), "revocation feed lost; resubscribing");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life; returns why it ended.
async fn follow(
    shared: &Shared,
    client: &redis::Client,
    conn: &mut ConnectionManager,
    backoff: &mut StdDuration,
) -> redis::RedisError {
    let closed =
        || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionAborted));
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let wait = shared.heartbeat.max(StdDuration::from_secs(1));
    let mut pubsub = match tokio::time::timeout(wait, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    };
    match tokio::time::timeout(wait, pubsub.subscribe(&shared.channel)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    }
    let (mut sink, mut stream) = pubsub.split();
    // Subscribed first, then the resync: nothing published in between is missed.
    match tokio::time::timeout(WRITE_TIMEOUT, shared.resync(conn)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    }
    shared.mark_up();
    *backoff = MIN_BACKOFF;
    let mut last_purge = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(shared.heartbeat, stream.next()).await {
            Ok(Some(msg)) => shared.apply_message(msg.get_payload_bytes()),
            Ok(None) => return closed(),
            Err(_) => {
                match tokio::time::timeout(shared.heartbeat, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return timed_out(),
                }
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            shared.memory.purge_expired();
            last_purge = tokio::time::Instant::now();
        }
    }
}
