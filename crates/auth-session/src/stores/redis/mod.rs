//! `RedisStore`: sessions in Redis, on one server or a Redis Cluster.
//!
//! Read in this order:
//!
//! - this file: the type, its documentation (the layout of both modes) and its settings;
//! - `operations.rs`: what it does, the `SessionStore` methods and the per-principal ones,
//!   each handed to the standalone or the cluster implementation;
//! - `shared.rs`: what both implementations share: the connection, the key names, the clock,
//!   the scripts, and the shapes of the requests they send and the replies they read;
//! - `codec.rs`: how a record is kept in a session's hash;
//! - `standalone.rs`: one atomic script per operation, the session and its index together;
//! - `cluster.rs`: one key per script or command, ordered so that the per-user index stays
//!   right across slots;
//! - `scripts.rs`: which Lua files (`scripts/*.lua`, `scripts/cluster/*.lua`) make which
//!   script.

mod cluster;
mod codec;
mod operations;
mod scripts;
mod shared;
mod standalone;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

use auth_core::{SharedClock, StoreError, StoreResult};
use redis::IntoConnectionInfo;
use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;

use self::shared::{Connection, Core};
use super::IdHasher;

/// A [`SessionStore`](auth_core::SessionStore) in Redis, shared by every instance of an application: a standalone
/// Redis ([`connect`](Self::connect)) or a Redis Cluster
/// ([`connect_cluster`](Self::connect_cluster)).
///
/// Each session is one hash key `{<prefix>:<id>}` that Redis expires itself at the record's
/// `expires_at`. Loads are one `HMGET`; creates, saves, touches, deletes and cycles are one
/// atomic Lua script each (see the design below for the layout, and
/// [Redis Cluster](#redis-cluster) for what changes there). It passes `auth_session::testkit`,
/// on a standalone server and on a cluster.
///
/// Clones share one multiplexed, self-reconnecting connection. `Debug` shows the prefix, the
/// mode and the clock, never IDs or data.
///
/// # Security
///
/// By default keys contain the encoded session ID, the session's bearer secret: whoever can
/// read the Redis keyspace (`KEYS`, `SCAN`, `MONITOR`, a dump) can take over sessions. Keep
/// Redis private and authenticated, and consider
/// [`with_hashed_ids`](Self::with_hashed_ids).
///
/// # Design
///
/// - **One key per session**, a hash `{<prefix>:<id>}` with four fields: `v` (the version),
///   `e` (the expiry, Unix seconds), `s` (the subject, empty when anonymous) and `d` (the
///   record as JSON, without its ID). The braces are a hash tag: a session's key names one
///   slot.
/// - **Per-user index**: a set `{<prefix>:user:<subject>}` of the subject's session IDs,
///   kept by the same scripts (so always in step with the sessions), living as long as the
///   subject's longest session; entries of expired sessions are pruned when it is read
///   ([`sessions_of`](auth_core::SessionStore::sessions_of),
///   [`delete_sessions_of`](auth_core::SessionStore::delete_sessions_of): one script each,
///   so one atomic step).
///   It is keyed on the subject alone, so it holds the sessions of every principal with that
///   subject (`bob` of each issuer, and a local `bob`): those two methods take the principal,
///   issuer and subject, and compare each indexed session's issuer, read from its record JSON
///   (`iss` in `d`, decoded with `cjson` inside the script), leaving the other principals'
///   entries in place. The issuer is not a key part nor a hash field: the scripts that keep
///   the index stay as they are, and the record JSON (which every write stores whole) is the
///   only copy of it, so records written before the issuer existed read as local logins.
/// - **Native TTL**: the key's `EXPIREAT` is the record's `expires_at`, so Redis drops expired
///   sessions by itself ([`cleanup_expired`](auth_core::SessionStore::cleanup_expired) has nothing to do).
/// - **Time**: a session expires by the Redis server's clock. The store's own
///   [`Clock`](auth_core::Clock) ([`with_clock`](Self::with_clock)) only sizes the per-user
///   index: how long the index lives (here), or its entries' horizons (on a cluster).
/// - **One round trip per operation**: `load` is one `HMGET`; `create`, `save`, `touch` and
///   `cycle` are each one Lua script (`EVALSHA`, falling back to `EVAL` once after a server
///   restart), which makes create-if-absent, the versioned save, no-resurrection and the
///   create-then-delete of a cycle atomic.
/// - **Reconnects by itself**: the store talks through a multiplexed
///   [`ConnectionManager`]; a dropped connection fails the requests in flight (the layer
///   answers 503) and the next request reconnects.
///
/// The standalone scripts touch several keys at once (a session and its subject's index; the
/// two IDs of a cycle), which Redis Cluster refuses across slots: on a cluster the store runs
/// other scripts, each on one key.
///
/// ```no_run
/// use auth_cookie::CookieKeys;
/// use auth_session::{RedisStore, SessionLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379")
///     .await?
///     .with_prefix("myapp-session");
/// let layer = SessionLayer::new(store, CookieKeys::generate()?);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
///
/// # Redis Cluster
///
/// [`connect_cluster`](Self::connect_cluster) (or [`new_cluster`](Self::new_cluster) with a
/// [`ClusterConnection`] of your own, for TLS, credentials or timeouts) runs the store on a
/// Redis Cluster (Redis 7.0 or later). The connection learns the cluster's layout from any of
/// the given nodes, sends each command to the primary owning its key's slot, follows
/// `MOVED`/`ASK` redirects and reconnects by itself. Unlike the standalone connection it also
/// *retries* a request whose connection dropped, so a script may run twice: creates and saves
/// carry a one-time token, and a session remembers its last 4 writes' tokens (field `n`), so
/// that a retried script recognises its own write (also after up to 3 other saves) instead
/// of reporting `IdTaken` or `Conflict`.
///
/// Every command and script touches exactly one key, so nothing ever spans slots (the scripts
/// carry a `#!lua` line, so the server itself refuses any access to another slot):
///
/// - **Sessions**: the same hash `{<prefix>:<id>}` (one slot per session, sessions spread
///   over the slots and so the primaries), plus a field `i`, the *horizon* of the session's
///   index entry (below), and `n`. `load` is one `HMGET`; `create`, `save`, `touch` and
///   `delete` are one script each on the session's key.
/// - **Tombstones**: a deleted (or revoked, or cycled-away) session leaves its hash with only
///   `n` for 15 minutes, longer than the connection retries a request with its default
///   settings, so that a create retried after the session was deleted does not bring it back.
///   Meanwhile its ID counts as taken for [`create`](auth_core::SessionStore::create) (IDs are random:
///   only a retry can meet it), and is absent for everything else.
/// - **Per-user index**: a sorted set `{<prefix>:user:<subject>}:z` in the subject's slot
///   (named apart from the set a standalone store keeps for the subject, which it leaves
///   alone), usually another slot than its sessions', so it is kept by separate single-key
///   commands, ordered so that every live session with a subject is in that subject's index:
///   an entry is added (its score, the horizon, raised) *before* a session gets the subject
///   or an expiry past the horizon; the horizon is the record's absolute deadline (else its
///   expiry plus at least an hour). An entry is removed when its session is deleted or revoked
///   as that subject's (after the session: a failure in between leaves the entry), and else
///   once its horizon is over by the Redis server's clock, plus 5 minutes for servers' clocks
///   that disagree (application instances' clocks play no part); the index expires at its
///   furthest horizon plus those 5 minutes. Entries of sessions that expired, or moved to
///   another subject, stay until their horizon, and are skipped when listed.
/// - **Round trips**: `load` 1. `save` 1 when the record has no subject, or keeps its stored
///   subject and an expiry within the horizon recorded in `i` (with an absolute deadline that
///   horizon is normally the deadline, so sliding expiries stay within it); else 3: the script
///   answers "raise the index entry first", then runs again (a subject change, as at a login
///   without a new ID, always takes 3). `touch` 1 likewise, else 3 (it does not know the
///   deadline: it raises the horizon to its expiry plus headroom), and 2 more for each time
///   the subject changes meanwhile. `create` 1, 2 with a subject; `delete` 1, 2 with a
///   subject.
/// - **`cycle`** is create-then-delete (2 to 4 round trips) instead of one atomic script: the
///   new ID exists before the old one goes; if deleting the old ID fails, the error is
///   returned and both exist until the old one expires (as the
///   [trait](auth_core::SessionStore::cycle) allows).
/// - **[`sessions_of`](auth_core::SessionStore::sessions_of) and
///   [`delete_sessions_of`](auth_core::SessionStore::delete_sessions_of)** read the index
///   (one script), then send one request per indexed session, concurrently (64 at a time; a
///   revocation then removes the revoked entries, one `ZREM` per 64). Each
///   revoked session is deleted atomically, and only while it still belongs to the principal
///   (its subject, and the issuer in its record JSON), but the revocation as a whole is not
///   one step: a login that completes while it runs may survive it, like a login just after
///   it.
///
/// The prefix must not contain `{` or `}` (see [`with_prefix`](Self::with_prefix)). Do not
/// read from replicas: a load there may return a session that a logout just deleted. Run the
/// cluster with `maxmemory-policy noeviction`: every index key has a TTL, so `volatile-*`
/// policies (and `allkeys-*` ones) may evict an index under memory pressure, and
/// [`delete_sessions_of`](auth_core::SessionStore::delete_sessions_of) would then miss live
/// sessions; evicting tombstones would let a retried create bring a deleted session back.
///
/// ```no_run
/// use auth_cookie::CookieKeys;
/// use auth_session::{RedisStore, SessionLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Any reachable nodes: the others are discovered.
/// let store = RedisStore::connect_cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
///     .await?
///     .with_prefix("myapp-session");
/// assert!(store.is_cluster());
/// let layer = SessionLayer::new(store, CookieKeys::generate()?);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    core: Core,
}

impl RedisStore {
    /// A store on `connection`, with the key prefix `session`.
    ///
    /// ```no_run
    /// use auth_session::RedisStore;
    /// use auth_session::redis::{Client, aio::ConnectionManager};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::open("redis://127.0.0.1:6379")?;
    /// let store = RedisStore::new(ConnectionManager::new(client).await?);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            core: Core::new(Connection::Standalone(connection)),
        }
    }

    /// A store on a Redis Cluster through `connection`, with the key prefix `session`. See
    /// [Redis Cluster](#redis-cluster) for the layout and what differs from a standalone
    /// server.
    ///
    /// Build the connection yourself for settings [`connect_cluster`](Self::connect_cluster)
    /// leaves at their defaults (credentials, TLS, timeouts, retries); do not enable reads
    /// from replicas.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// use auth_session::RedisStore;
    /// use auth_session::redis::cluster::ClusterClientBuilder;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = ClusterClientBuilder::new(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])
    ///     .password("secret")
    ///     .response_timeout(Duration::from_secs(2))
    ///     .build()?;
    /// let store = RedisStore::new_cluster(client.get_async_connection().await?);
    /// assert!(store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn new_cluster(connection: ClusterConnection) -> Self {
        Self {
            core: Core::new(Connection::Cluster(connection)),
        }
    }

    /// Connects to the Redis server at `url` (`redis://`, `rediss://` with TLS features of
    /// `redis`, `unix://`) through a [`ConnectionManager`] with default settings.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let client = redis::Client::open(url).map_err(StoreError::backend)?;
        let connection = ConnectionManager::new(client)
            .await
            .map_err(StoreError::backend)?;
        Ok(Self::new(connection))
    }

    /// Connects to the Redis Cluster that `nodes` belong to (URLs such as
    /// `redis://10.0.0.1:6379`, or anything else [`IntoConnectionInfo`]; one reachable node
    /// is enough, the others are discovered) through a
    /// [`ClusterConnection`] with default settings. See [Redis Cluster](#redis-cluster).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let nodes = "redis://10.0.0.1:6379,redis://10.0.0.2:6379"; // e.g. from the environment
    /// let store = auth_session::RedisStore::connect_cluster(nodes.split(',')).await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when a URL is invalid, there is none, or no node can be
    /// reached.
    pub async fn connect_cluster<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
    ) -> StoreResult<Self> {
        let client = redis::cluster::ClusterClient::new(nodes).map_err(StoreError::backend)?;
        let connection = client
            .get_async_connection()
            .await
            .map_err(StoreError::backend)?;
        Ok(Self::new_cluster(connection))
    }

    /// Whether the store runs on a Redis Cluster ([`new_cluster`](Self::new_cluster),
    /// [`connect_cluster`](Self::connect_cluster)).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert!(!store.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn is_cluster(&self) -> bool {
        self.core.is_cluster()
    }

    /// Sets the key prefix (default `session`): keys are `{<prefix>:<id>}`. Give each
    /// application (tenant) sharing one Redis its own prefix.
    ///
    /// On a [Redis Cluster](#redis-cluster) the prefix must not contain `{` or `}`: the braces
    /// of a key are its hash tag, which picks its slot, and a `}` in the prefix ends the tag
    /// early, crowding every session (and index) into one slot, so onto one node (still
    /// correct, only not spread). Debug builds panic on such a prefix on a cluster; release
    /// builds take it as given. A standalone server has no slots: any prefix works.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_prefix("tenant-42");
    /// assert_eq!(store.prefix(), "tenant-42");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        debug_assert!(
            !self.is_cluster() || !prefix.contains(['{', '}']),
            "RedisStore on a Redis Cluster: the key prefix {prefix:?} contains a brace, which \
             breaks the keys' hash tags"
        );
        self.core.prefix = Arc::from(prefix);
        self
    }

    /// Names keys after a keyed hash (HMAC-SHA-256 under `key`, in hex) of each session ID
    /// instead of the ID (default: the encoded ID), so that the keyspace (`SCAN`, `MONITOR`,
    /// a dump) holds no usable session IDs.
    ///
    /// Keep `key` secret and stable (32 random bytes): with another key, every stored session
    /// is unreachable.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key: [u8; 32] = [7; 32]; // from your secret store, not a constant
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_hashed_ids(&key);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_hashed_ids(mut self, key: &[u8; 32]) -> Self {
        self.core.ids = IdHasher::keyed(key);
        self
    }

    /// Sets the clock of the store's own time decisions (default: the system clock): how long
    /// a subject's index lives on a standalone server (as long as its longest session, by this
    /// clock), and the horizons of its entries on a [Redis Cluster](#redis-cluster) (see the
    /// design). Expiry itself is not one of them: a session's key expires by the Redis
    /// server's clock at the record's `expires_at`, whatever this clock says, so outside tests
    /// it should tell the real time.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use auth_core::ManualClock;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_clock(Arc::new(ManualClock::default()));
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.core.clock = clock;
        self
    }

    /// The key prefix.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// assert_eq!(store.prefix(), "session");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.core.prefix
    }

    /// The pattern matching every key of this store, for `SCAN ... MATCH` (e.g. to count or
    /// flush a tenant's sessions). On a Redis Cluster the keys are spread over every primary:
    /// scan each of them (`SCAN` is per node), and delete key by key (a multi-key `DEL` must
    /// stay within one slot).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379")
    ///     .await?
    ///     .with_prefix("app");
    /// assert_eq!(store.key_pattern(), "{app:*");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn key_pattern(&self) -> String {
        self.core.key_pattern()
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.core.prefix)
            .field("cluster", &self.is_cluster())
            .field("clock", &self.core.clock)
            .field("ids", &self.core.ids)
            .finish_non_exhaustive()
    }
}
