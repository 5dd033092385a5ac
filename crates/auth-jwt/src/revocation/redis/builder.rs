//! [`RedisRevocationListBuilder`]: the settings of a [`RedisRevocationList`], their defaults,
//! and [`start`](RedisRevocationListBuilder::start), which connects and spawns the feed task.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration as StdDuration;

use auth_core::RevocationError;
use tokio::sync::watch;

use super::{RedisRevocationList, Shared, StalePolicy, WRITE_TIMEOUT, codec, feed};
use crate::revocation::MemoryRevocationList;

/// The default key prefix.
const DEFAULT_PREFIX: &str = "auth:revoked:";
/// The default pub/sub channel.
const DEFAULT_CHANNEL: &str = "auth:revocations";

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
    /// A builder with every default; what [`RedisRevocationList::builder`] returns.
    pub(super) fn new(client: redis::Client) -> Self {
        Self {
            client,
            prefix: DEFAULT_PREFIX.to_owned(),
            channel: DEFAULT_CHANNEL.to_owned(),
            stale_after: StdDuration::from_secs(10),
            policy: StalePolicy::FailClosed,
            memory: MemoryRevocationList::new(),
        }
    }

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
        let task = tokio::spawn(feed::feed(Arc::clone(&shared), self.client, conn.clone()));
        Ok(RedisRevocationList {
            shared,
            conn,
            script: redis::Script::new(codec::WRITE_SCRIPT),
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
