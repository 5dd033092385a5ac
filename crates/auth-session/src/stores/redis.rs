//! `RedisStore`: sessions in Redis.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{
    CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreError, StoreResult,
};
use redis::Script;
use redis::aio::ConnectionManager;
use time::OffsetDateTime;

use super::IdHasher;

/// Helpers prepended to every script. A subject's index is the set
/// `{<prefix>:user:<subject>}` of its sessions' key names (IDs or their hashes); its TTL is
/// kept at least as long as its longest-lived session, and members whose session is gone are
/// pruned when the index is read.
const PRELUDE: &str = r"
local function index_key(prefix, subject)
  return '{' .. prefix .. ':user:' .. subject .. '}'
end
local function index_add(prefix, subject, member, ttl)
  if not subject or subject == '' then return end
  local index = index_key(prefix, subject)
  redis.call('SADD', index, member)
  if redis.call('TTL', index) < ttl then redis.call('EXPIRE', index, ttl) end
end
local function index_remove(prefix, subject, member)
  if not subject or subject == '' then return end
  redis.call('SREM', index_key(prefix, subject), member)
end
";

/// Create-if-absent. KEYS[1]: the key. ARGV: prefix, member, subject, TTL, version, expiry,
/// data. Returns 1, or 0 when the ID is taken.
const CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
return 1
";

/// Versioned save. KEYS[1]: the key. ARGV: prefix, member, subject, TTL, expected version,
/// new version, expiry, data. Returns 1 (saved), 0 (conflict) or -1 (no live record: nothing
/// is written).
const SAVE: &str = r"
local current = redis.call('HGET', KEYS[1], 'v')
if not current then return -1 end
if current ~= ARGV[5] then return 0 end
local old = redis.call('HGET', KEYS[1], 's')
redis.call('HSET', KEYS[1], 'v', ARGV[6], 'e', ARGV[7], 'd', ARGV[8], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[7])
if old and old ~= ARGV[3] then index_remove(ARGV[1], old, ARGV[2]) end
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
return 1
";

/// Expiry refresh. KEYS[1]: the key. ARGV: prefix, member, TTL, expiry. Returns 1, or 0 when
/// there is no record.
const TOUCH: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'e', ARGV[4])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
index_add(ARGV[1], redis.call('HGET', KEYS[1], 's'), ARGV[2], tonumber(ARGV[3]))
return 1
";

/// Delete. KEYS[1]: the key. ARGV: prefix, member.
const DELETE: &str = r"
local subject = redis.call('HGET', KEYS[1], 's')
redis.call('DEL', KEYS[1])
index_remove(ARGV[1], subject, ARGV[2])
return 1
";

/// Cycle. KEYS[1]: the new key, KEYS[2]: the old one. ARGV: prefix, new member, subject, TTL,
/// version, expiry, data, old member. Returns 1 (created, old deleted) or 0 (new ID taken,
/// nothing changed).
const CYCLE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
local old = redis.call('HGET', KEYS[2], 's')
redis.call('DEL', KEYS[2])
index_remove(ARGV[1], old, ARGV[8])
return 1
";

/// A subject's live sessions. ARGV: prefix, subject. Returns member, version, expiry, data for
/// each, and prunes members whose session is gone.
const LIST: &str = r"
local index = index_key(ARGV[1], ARGV[2])
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  local row = redis.call('HMGET', '{' .. ARGV[1] .. ':' .. member .. '}', 'v', 'e', 'd', 's')
  if row[1] and row[4] == ARGV[2] then
    table.insert(out, member)
    table.insert(out, row[1])
    table.insert(out, row[2])
    table.insert(out, row[3])
  else
    redis.call('SREM', index, member)
  end
end
return out
";

/// Revocation. ARGV: prefix, subject, member to keep (or ''). Returns how many sessions were
/// deleted.
const REVOKE: &str = r"
local index = index_key(ARGV[1], ARGV[2])
local count = 0
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  if member ~= ARGV[3] then
    local key = '{' .. ARGV[1] .. ':' .. member .. '}'
    if redis.call('HGET', key, 's') == ARGV[2] then
      count = count + redis.call('DEL', key)
    end
    redis.call('SREM', index, member)
  end
end
return count
";

/// The default key prefix.
const DEFAULT_PREFIX: &str = "session";

struct Scripts {
    create: Script,
    save: Script,
    touch: Script,
    delete: Script,
    cycle: Script,
    list: Script,
    revoke: Script,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Self {
            create: script(CREATE),
            save: script(SAVE),
            touch: script(TOUCH),
            delete: script(DELETE),
            cycle: script(CYCLE),
            list: script(LIST),
            revoke: script(REVOKE),
        }
    }
}

/// A [`SessionStore`] in Redis, shared by every instance of an application.
///
/// Each session is one hash key `{<prefix>:<id>}` that Redis expires itself at the record's
/// `expires_at`. Loads are one `HMGET`; creates, saves, touches, deletes and cycles are one
/// atomic Lua script each (see the design below for the layout). It passes
/// `auth_session::testkit`.
///
/// Clones share one multiplexed, self-reconnecting connection. `Debug` shows the prefix only.
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
///   ([`sessions_of`](Self::sessions_of), [`delete_sessions_of`](Self::delete_sessions_of)).
/// - **Native TTL**: the key's `EXPIREAT` is the record's `expires_at`, so Redis drops expired
///   sessions by itself ([`cleanup_expired`](SessionStore::cleanup_expired) has nothing to do).
/// - **One round trip per operation**: `load` is one `HMGET`; `create`, `save`, `touch` and
///   `cycle` are each one Lua script (`EVALSHA`, falling back to `EVAL` once after a server
///   restart), which makes create-if-absent, the versioned save, no-resurrection and the
///   create-then-delete of a cycle atomic.
/// - **Reconnects by itself**: the store talks through a multiplexed
///   [`ConnectionManager`]; a dropped connection fails the requests in flight (the layer
///   answers 503) and the next request reconnects.
///
/// The store is for a standalone Redis (or a primary with replicas behind one URL): `cycle`
/// and the index touch several keys in one script, which Redis Cluster refuses across slots.
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
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    prefix: Arc<str>,
    scripts: Arc<Scripts>,
    ids: IdHasher,
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
            connection,
            prefix: Arc::from(DEFAULT_PREFIX),
            scripts: Arc::new(Scripts::new()),
            ids: IdHasher::default(),
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

    /// Sets the key prefix (default `session`): keys are `{<prefix>:<id>}`. Give each
    /// application (tenant) sharing one Redis its own prefix.
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
        self.prefix = Arc::from(prefix.into());
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
        self.ids = IdHasher::keyed(key);
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
        &self.prefix
    }

    /// The pattern matching every key of this store, for `SCAN ... MATCH` (e.g. to count or
    /// flush a tenant's sessions).
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
        let mut pattern = String::with_capacity(self.prefix.len() + 3);
        pattern.push('{');
        for c in self.prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push_str(":*");
        pattern
    }

    /// The live sessions whose subject is `subject` (the per-user index: "your active
    /// sessions"), in no particular order. Index entries of sessions that are gone are pruned
    /// on the way. With [hashed IDs](Self::with_hashed_ids) the records carry an all-zero
    /// `id`: the store does not know the real ones.
    ///
    /// One round trip (a Lua script). Meant for a standalone Redis: the script reads keys it
    /// cannot declare, which Redis Cluster refuses.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// for session in store.sessions_of("alice").await? {
    ///     println!("until {}", session.expires_at);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError`] when Redis fails or a record cannot be decoded.
    pub async fn sessions_of(&self, subject: &str) -> StoreResult<Vec<SessionRecord>> {
        let rows: Vec<Vec<u8>> = self
            .scripts
            .list
            .arg(&*self.prefix)
            .arg(subject)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        rows.chunks(4)
            .map(|row| {
                let [member, version, expires_at, data] = row else {
                    return Err(StoreError::decode("truncated session index reply"));
                };
                let id = if self.ids.is_hashed() {
                    SessionId::from_bytes([0; SessionId::LEN])
                } else {
                    std::str::from_utf8(member)
                        .ok()
                        .and_then(|text| SessionId::parse(text).ok())
                        .ok_or_else(|| StoreError::decode("session index member is not an id"))?
                };
                decode(id, number(version)?, number(expires_at)?, data)
            })
            .collect()
    }

    /// Deletes every session of `subject` except `keep` ("log out everywhere else"; `None`
    /// logs out everywhere) and returns how many were deleted. One atomic round trip.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let revoked = store.delete_sessions_of("alice", None).await?;
    /// println!("{revoked} sessions ended");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when Redis fails.
    pub async fn delete_sessions_of(
        &self,
        subject: &str,
        keep: Option<&SessionId>,
    ) -> StoreResult<u64> {
        let keep = keep.map(|id| self.member(id)).unwrap_or_default();
        self.scripts
            .revoke
            .arg(&*self.prefix)
            .arg(subject)
            .arg(keep)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)
    }

    /// What stands for `id` at rest: the encoded ID, or its keyed hash.
    fn member(&self, id: &SessionId) -> String {
        self.ids.text(id)
    }

    /// The key of the session whose member is `member`.
    fn key(&self, member: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + member.len() + 3);
        key.push('{');
        key.push_str(&self.prefix);
        key.push(':');
        key.push_str(member);
        key.push('}');
        key
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// The record as stored in `d`: JSON, with a zero ID (the key carries the real one).
fn encode(record: &SessionRecord) -> StoreResult<Vec<u8>> {
    let mut stored = record.clone();
    stored.id = SessionId::from_bytes([0; SessionId::LEN]);
    serde_json::to_vec(&stored).map_err(StoreError::encode)
}

fn expiry(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// How long a subject's index must live at least: until the session expires (at least 1 s).
fn index_ttl(expires_at: OffsetDateTime) -> i64 {
    (expires_at.unix_timestamp() - OffsetDateTime::now_utc().unix_timestamp()).max(1)
}

/// A record from its stored parts.
fn decode(id: SessionId, version: u64, expires_at: i64, data: &[u8]) -> StoreResult<SessionRecord> {
    let mut record: SessionRecord = serde_json::from_slice(data).map_err(StoreError::decode)?;
    record.id = id;
    record.version = version;
    record.expires_at =
        OffsetDateTime::from_unix_timestamp(expires_at).map_err(StoreError::decode)?;
    Ok(record)
}

/// A decimal number stored by a script.
fn number<T: std::str::FromStr>(bytes: &[u8]) -> StoreResult<T> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::decode("stored session number is not a number"))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let (version, expires_at, data): (Option<u64>, Option<i64>, Option<Vec<u8>>) =
            redis::cmd("HMGET")
                .arg(self.key(&self.member(id)))
                .arg(&["v", "e", "d"])
                .query_async(&mut self.connection())
                .await
                .map_err(StoreError::backend)?;
        let (Some(version), Some(expires_at), Some(data)) = (version, expires_at, data) else {
            return Ok(None);
        };
        decode(*id, version, expires_at, &data).map(Some)
    }

    async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let data = encode(record)?;
        let member = self.member(&record.id);
        let created: i64 = self
            .scripts
            .create
            .key(self.key(&member))
            .arg(&*self.prefix)
            .arg(&member)
            .arg(record.subject.as_deref().unwrap_or(""))
            .arg(index_ttl(record.expires_at))
            .arg(record.version)
            .arg(expiry(record.expires_at))
            .arg(data)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(if created == 1 {
            CreateOutcome::Created
        } else {
            CreateOutcome::IdTaken
        })
    }

    async fn save(&self, record: &SessionRecord) -> StoreResult<SaveOutcome> {
        let next = record
            .version
            .checked_add(1)
            .ok_or_else(|| StoreError::encode("session version overflow"))?;
        let data = encode(record)?;
        let member = self.member(&record.id);
        let outcome: i64 = self
            .scripts
            .save
            .key(self.key(&member))
            .arg(&*self.prefix)
            .arg(&member)
            .arg(record.subject.as_deref().unwrap_or(""))
            .arg(index_ttl(record.expires_at))
            .arg(record.version)
            .arg(next)
            .arg(expiry(record.expires_at))
            .arg(data)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(match outcome {
            1 => SaveOutcome::Saved { version: next },
            0 => SaveOutcome::Conflict,
            _ => SaveOutcome::NotFound,
        })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let member = self.member(id);
        let touched: i64 = self
            .scripts
            .touch
            .key(self.key(&member))
            .arg(&*self.prefix)
            .arg(&member)
            .arg(index_ttl(expires_at))
            .arg(expiry(expires_at))
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(touched == 1)
    }

    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        let member = self.member(id);
        let _: i64 = self
            .scripts
            .delete
            .key(self.key(&member))
            .arg(&*self.prefix)
            .arg(&member)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn cycle(&self, old: &SessionId, new: &SessionRecord) -> StoreResult<CreateOutcome> {
        let data = encode(new)?;
        let (member, old_member) = (self.member(&new.id), self.member(old));
        let created: i64 = self
            .scripts
            .cycle
            .key(self.key(&member))
            .key(self.key(&old_member))
            .arg(&*self.prefix)
            .arg(&member)
            .arg(new.subject.as_deref().unwrap_or(""))
            .arg(index_ttl(new.expires_at))
            .arg(new.version)
            .arg(expiry(new.expires_at))
            .arg(data)
            .arg(&old_member)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(if created == 1 {
            CreateOutcome::Created
        } else {
            CreateOutcome::IdTaken
        })
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_data_never_contains_the_id() {
        let id = SessionId::from_bytes([9; 16]);
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let record = SessionRecord::new(id, now, now + time::Duration::hours(1));
        let data = String::from_utf8(encode(&record).unwrap()).unwrap();
        assert!(!data.contains(&id.encode()));
    }
}
