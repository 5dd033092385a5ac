//! `RedisStore`: sessions in Redis.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use async_trait::async_trait;
use auth_core::{
    CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreError, StoreResult,
};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Script, Value};
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
/// version, expiry, data, old member. Returns 1 (created, old deleted), 0 (new ID taken,
/// nothing changed) or -1 (the old session is gone: nothing written, it stays ended).
const CYCLE: &str = r"
if redis.call('HEXISTS', KEYS[2], 'v') == 0 then return -1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[5], 'e', ARGV[6], 'd', ARGV[7], 's', ARGV[3])
redis.call('EXPIREAT', KEYS[1], ARGV[6])
index_add(ARGV[1], ARGV[3], ARGV[2], tonumber(ARGV[4]))
local old = redis.call('HGET', KEYS[2], 's')
redis.call('DEL', KEYS[2])
index_remove(ARGV[1], old, ARGV[8])
return 1
";

/// Helpers prepended to the listing and revocation scripts (not to the scripts that keep the
/// index). A principal is an issuer and a subject: the index is keyed on the subject alone, so
/// the scripts also compare the issuer of each indexed session, read from its record JSON
/// (`d`, field `iss`; absent or `null` for a local login).
const PRINCIPAL: &str = r"
local function issuer_is(data, has_issuer, issuer)
  if not data then return false end
  local ok, record = pcall(cjson.decode, data)
  if not ok or type(record) ~= 'table' then return false end
  local iss = record['iss']
  if iss == nil or iss == cjson.null then return has_issuer == '0' end
  return has_issuer == '1' and iss == issuer
end
";

/// A principal's live sessions. ARGV: prefix, subject, '1' with an issuer or '0' for a local
/// login, the issuer (or ''). Returns member, version, expiry, data for each, and prunes
/// members whose session is gone or has another subject (the sessions of the subject's other
/// principals stay indexed).
const LIST: &str = r"
local index = index_key(ARGV[1], ARGV[2])
local out = {}
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  local row = redis.call('HMGET', '{' .. ARGV[1] .. ':' .. member .. '}', 'v', 'e', 'd', 's')
  if row[1] and row[4] == ARGV[2] then
    if issuer_is(row[3], ARGV[3], ARGV[4]) then
      table.insert(out, member)
      table.insert(out, row[1])
      table.insert(out, row[2])
      table.insert(out, row[3])
    end
  else
    redis.call('SREM', index, member)
  end
end
return out
";

/// Revocation. ARGV: prefix, subject, member to keep (or ''), '1' with an issuer or '0' for a
/// local login, the issuer (or ''). Returns how many sessions were deleted. Members whose
/// session is gone or has another subject are pruned; the subject's other principals' are
/// left alone.
const REVOKE: &str = r"
local index = index_key(ARGV[1], ARGV[2])
local count = 0
for _, member in ipairs(redis.call('SMEMBERS', index)) do
  if member ~= ARGV[3] then
    local key = '{' .. ARGV[1] .. ':' .. member .. '}'
    local row = redis.call('HMGET', key, 's', 'd')
    if row[1] == ARGV[2] then
      if issuer_is(row[2], ARGV[4], ARGV[5]) then
        count = count + redis.call('DEL', key)
        redis.call('SREM', index, member)
      end
    else
      redis.call('SREM', index, member)
    end
  end
end
return count
";

// Redis Cluster. Every script below touches only its one declared key, so it runs on the
// node owning that key's slot: a session's key (`{<prefix>:<member>}`), or a subject's index
// (`{<prefix>:user:<subject>}:z`, a sorted set). Sessions and indexes live in different slots,
// so the index is kept by separate commands, ordered so that a live session with a subject is
// always in that subject's index:
//
// - an index entry's score is its *horizon* (Unix seconds): the session may not outlive it
//   without first raising it. Entries are added (or raised, `ZADD GT`) *before* a session gets
//   the subject or an expiry beyond its horizon, and the index key expires (`EXPIREAT`) at its
//   highest horizon plus `CLOCK_SKEW`;
// - each session hash records in `i` the horizon its index entry is known to have, so a save or
//   touch that keeps the subject and stays within it is one script, with no index traffic;
// - an entry is removed (`ZREM`) right after its session was deleted, as that subject's (a
//   delete, the old ID of a cycle, a revocation): the session cannot come back (see the
//   tombstones below), so the entry stands for nothing. Otherwise entries are only removed once
//   their horizon has passed by the server's clock (`TIME`) minus `CLOCK_SKEW`, which covers
//   disagreeing server clocks: never while they might stand for a live session, whatever runs
//   concurrently. An entry whose session is missing is *not* pruned when listed: a create
//   writes the entry before the session;
// - a deleted session leaves a *tombstone* for `TOMBSTONE_TTL`: the hash with only `n`, the
//   tokens of its last writes. A retried create (the cluster connection retries a script whose
//   connection dropped, so it may run again after the session was deleted) finds it and
//   answers as the first execution did without writing; every other operation sees no `v`, so
//   no session.
//
// `n` lists the last 4 writes (create or save) as `<version>:<token>`, newest first; a token is
// random per call. A retried write is recognised by its own entry, which holds the version it
// wrote: only that call's write can have put it there.

/// Cluster: raise a subject's index entry. KEYS[1]: the index. ARGV: member, horizon, clock
/// skew. Prunes the entries whose horizon is past (by the server's clock, minus the skew),
/// adds or raises the entry, and sets the index to expire at its highest horizon plus the
/// skew.
const CLUSTER_INDEX: &str = r"
local now = tonumber(redis.call('TIME')[1])
local skew = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - skew))
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('EXPIREAT', KEYS[1], tonumber(top[2]) + skew)
return 1
";

/// Cluster: create-if-absent. KEYS[1]: the key. ARGV: version, expiry, data, subject, horizon
/// (0 without subject), token. Returns 1, or 0 when the ID is taken (by a session, or by the
/// tombstone of a deleted one). A retry of the same call (same token, after a reconnect) finds
/// its own write, also under later saves or a tombstone, and returns 1 again without writing.
const CLUSTER_CREATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then
  local written = ' ' .. (redis.call('HGET', KEYS[1], 'n') or '') .. ' '
  if string.find(written, ' ' .. ARGV[1] .. ':' .. ARGV[6] .. ' ', 1, true) then return 1 end
  return 0
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'e', ARGV[2], 'd', ARGV[3], 's', ARGV[4], 'i', ARGV[5], 'n', ARGV[1] .. ':' .. ARGV[6])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return 1
";

/// Cluster: versioned save. KEYS[1]: the key. ARGV: expected version, new version, expiry,
/// data, subject, horizon just given to the subject's index entry (or ''), token. Returns 1
/// (saved), 0 (conflict), -1 (no live record) or -2 (the subject's index entry must be raised
/// first); only 1 writes. A retry of the same call (same token) whose write is among the last
/// 4 returns 1 again without writing.
const CLUSTER_SAVE: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'i', 'n')
if not stored[1] then return -1 end
local written = stored[4] or ''
if stored[1] ~= ARGV[1] then
  if string.find(' ' .. written .. ' ', ' ' .. ARGV[2] .. ':' .. ARGV[7] .. ' ', 1, true) then return 1 end
  return 0
end
local horizon = '0'
if ARGV[5] ~= '' then
  if stored[2] == ARGV[5] and stored[3] then horizon = stored[3] end
  if ARGV[6] ~= '' and tonumber(ARGV[6]) > tonumber(horizon) then horizon = ARGV[6] end
  if tonumber(horizon) < tonumber(ARGV[3]) then return -2 end
end
local tokens = {ARGV[2] .. ':' .. ARGV[7]}
for entry in string.gmatch(written, '%S+') do
  if #tokens == 4 then break end
  table.insert(tokens, entry)
end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'e', ARGV[3], 'd', ARGV[4], 's', ARGV[5], 'i', horizon, 'n', table.concat(tokens, ' '))
redis.call('EXPIREAT', KEYS[1], ARGV[3])
return 1
";

/// Cluster: expiry refresh. KEYS[1]: the key. ARGV: expiry, then the subject and horizon its
/// index entry was just raised to (or '' and 0). Returns {1, ''} (touched; `i` records a raised
/// horizon), {0, ''} when there is no live record (none, or a tombstone), or {-2, subject} when
/// that subject's index entry must be raised first. Only {1, ''} writes.
const CLUSTER_TOUCH: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'i')
if not stored[1] then return {0, ''} end
local subject = stored[2] or ''
local horizon = stored[3] or '0'
if subject ~= '' then
  if subject == ARGV[2] and tonumber(ARGV[3]) > tonumber(horizon) then horizon = ARGV[3] end
  if tonumber(horizon) < tonumber(ARGV[1]) then return {-2, subject} end
end
redis.call('HSET', KEYS[1], 'e', ARGV[1], 'i', horizon)
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return {1, ''}
";

/// Cluster: delete, leaving a tombstone. KEYS[1]: the key. ARGV: tombstone TTL. Returns the
/// deleted session's subject ('' when it had none, or there was no live session).
const CLUSTER_DELETE: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 's')
if not stored[1] then return false end
redis.call('HDEL', KEYS[1], 'v', 'e', 'd', 's', 'i')
redis.call('EXPIRE', KEYS[1], ARGV[1])
return stored[2] or ''
";

/// Cluster: a subject's index members, after pruning entries past their horizon (by the
/// server's clock, minus the skew). KEYS[1]: the index. ARGV: clock skew.
const CLUSTER_MEMBERS: &str = r"
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (now - tonumber(ARGV[1])))
return redis.call('ZRANGE', KEYS[1], 0, -1)
";

/// Cluster: revoke one session if it still belongs to the principal, leaving a tombstone.
/// KEYS[1]: the key. ARGV: subject, tombstone TTL, '1' with an issuer or '0' for a local
/// login, the issuer (or ''). Returns 1 when deleted. The issuer is read from the record JSON
/// (`d`, field `iss`; absent or `null` for a local login), as the standalone scripts'
/// `issuer_is` does (written out here: each cluster script is one self-contained constant).
const CLUSTER_REVOKE: &str = r"
local stored = redis.call('HMGET', KEYS[1], 'v', 's', 'd')
if not stored[1] or stored[2] ~= ARGV[1] or not stored[3] then return 0 end
local ok, record = pcall(cjson.decode, stored[3])
if not ok or type(record) ~= 'table' then return 0 end
local iss = record['iss']
if iss == nil or iss == cjson.null then
  if ARGV[3] ~= '0' then return 0 end
elseif ARGV[3] ~= '1' or iss ~= ARGV[4] then
  return 0
end
redis.call('HDEL', KEYS[1], 'v', 'e', 'd', 's', 'i')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Cluster: how far past a session's expiry its index entry is set when the record has no
/// absolute deadline, at least: fewer index updates for sliding expiries.
const INDEX_HEADROOM: i64 = 3600;

/// Cluster: index entries are pruned this long after their horizon, and an index expires this
/// long after its highest horizon: for Redis servers' clocks that disagree (the index and the
/// sessions are on different nodes). Application instances' clocks play no part.
const CLOCK_SKEW: i64 = 300;

/// Cluster: how long a deleted session's tombstone keeps its ID taken (seconds): longer than a
/// cluster connection retries a request with the default retry settings (16 attempts with
/// backoff, at most about 11 minutes even without an overall response timeout).
const TOMBSTONE_TTL: i64 = 900;

/// Cluster: attempts at a touch whose session changes subject under it.
const TOUCH_ATTEMPTS: usize = 4;

/// Cluster: per-session requests of a listing or revocation in flight at once.
const FAN_OUT: usize = 64;

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
    cluster: ClusterScripts,
}

impl Scripts {
    fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        let per_principal = |body: &str| Script::new(&format!("{PRELUDE}{PRINCIPAL}{body}"));
        Self {
            create: script(CREATE),
            save: script(SAVE),
            touch: script(TOUCH),
            delete: script(DELETE),
            cycle: script(CYCLE),
            list: per_principal(LIST),
            revoke: per_principal(REVOKE),
            cluster: ClusterScripts::new(),
        }
    }
}

/// The scripts of a store on a Redis Cluster: each touches one declared key.
struct ClusterScripts {
    index: Script,
    create: Script,
    save: Script,
    touch: Script,
    delete: Script,
    members: Script,
    revoke: Script,
}

impl ClusterScripts {
    fn new() -> Self {
        // The `#!lua` line (Redis 7) makes the server hold each script to the slot of its
        // declared key: touching a key of another slot is an error even when that slot is on
        // the same node, instead of working until the slots are moved apart.
        let script = |body: &str| Script::new(&format!("#!lua{body}"));
        Self {
            index: script(CLUSTER_INDEX),
            create: script(CLUSTER_CREATE),
            save: script(CLUSTER_SAVE),
            touch: script(CLUSTER_TOUCH),
            delete: script(CLUSTER_DELETE),
            members: script(CLUSTER_MEMBERS),
            revoke: script(CLUSTER_REVOKE),
        }
    }
}

/// The connection: one server (or a primary behind one URL), or a cluster.
#[derive(Clone)]
enum Connection {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Standalone(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Standalone(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Standalone(connection) => connection.get_db(),
            Self::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A [`SessionStore`] in Redis, shared by every instance of an application: a standalone
/// Redis ([`connect`](Self::connect)) or a Redis Cluster
/// ([`connect_cluster`](Self::connect_cluster)).
///
/// Each session is one hash key `{<prefix>:<id>}` that Redis expires itself at the record's
/// `expires_at`. Loads are one `HMGET`; creates, saves, touches, deletes and cycles are one
/// atomic Lua script each (see the design below for the layout, and
/// [Redis Cluster](#redis-cluster) for what changes there). It passes `auth_session::testkit`,
/// on a standalone server and on a cluster.
///
/// Clones share one multiplexed, self-reconnecting connection. `Debug` shows the prefix and
/// the mode only.
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
///   It is keyed on the subject alone, so it holds the sessions of every principal with that
///   subject (`bob` of each issuer, and a local `bob`): those two methods take the principal,
///   issuer and subject, and compare each indexed session's issuer, read from its record JSON
///   (`iss` in `d`, decoded with `cjson` inside the script), leaving the other principals'
///   entries in place. The issuer is not a key part nor a hash field: the scripts that keep
///   the index stay as they are, and the record JSON (which every write stores whole) is the
///   only copy of it, so records written before the issuer existed read as local logins.
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
///   Meanwhile its ID counts as taken for [`create`](SessionStore::create) (IDs are random:
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
///   [trait](SessionStore::cycle) allows).
/// - **[`sessions_of`](Self::sessions_of) and [`delete_sessions_of`](Self::delete_sessions_of)**
///   read the index (one script), then send one request per indexed session, concurrently
///   (64 at a time; a revocation then removes the revoked entries, one `ZREM` per 64). Each
///   revoked session is deleted atomically, and only while it still belongs to the principal
///   (its subject, and the issuer in its record JSON), but the revocation as a whole is not
///   one step: a login that completes while it runs may survive it, like a login just after
///   it.
///
/// The prefix must not contain `{` or `}` (see [`with_prefix`](Self::with_prefix)). Do not
/// read from replicas: a load there may return a session that a logout just deleted. Run the
/// cluster with `maxmemory-policy noeviction`: every index key has a TTL, so `volatile-*`
/// policies (and `allkeys-*` ones) may evict an index under memory pressure, and
/// [`delete_sessions_of`](Self::delete_sessions_of) would then miss live sessions; evicting
/// tombstones would let a retried create bring a deleted session back.
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
    connection: Connection,
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
        Self::with_connection(Connection::Standalone(connection))
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
        Self::with_connection(Connection::Cluster(connection))
    }

    fn with_connection(connection: Connection) -> Self {
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
        matches!(self.connection, Connection::Cluster(_))
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
        self.prefix = Arc::from(prefix);
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

    /// The live sessions of the principal `issuer` + `subject` (the per-user index: "your
    /// active sessions"), in no particular order. Index entries of sessions that are gone are
    /// pruned on the way. With [hashed IDs](Self::with_hashed_ids) the records carry an
    /// all-zero `id`: the store does not know the real ones.
    ///
    /// A principal is an issuer and a subject, as in
    /// [`Identity::same_principal`](auth_core::Identity::same_principal): pass
    /// [`Identity::issuer`](auth_core::Identity::issuer) and
    /// [`Identity::subject`](auth_core::Identity::subject) of the user whose sessions you
    /// mean. `issuer` is the [`issuer`](SessionRecord::issuer) the sessions were logged in
    /// with: `Some` for an identity that names one (an OpenID or external-token login),
    /// `None` for a local login (a password login, an identity without an issuer).
    ///
    /// One round trip (a Lua script, which reads each indexed session's subject and the
    /// issuer in its record JSON). On a [Redis Cluster](#redis-cluster): one script on the
    /// index, then one `HMGET` per indexed session (concurrently), each record compared once
    /// decoded; listing prunes only entries whose horizon is over (a deleted session's entry
    /// went with it).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// for session in store.sessions_of(Some("https://idp.example"), "alice").await? {
    ///     println!("until {}", session.expires_at);
    /// }
    /// // A local (password) login's sessions: no issuer.
    /// let local = store.sessions_of(None, "alice").await?;
    /// # let _ = local;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// Only that principal's sessions are listed: `bob` of another issuer, and a local `bob`,
    /// are other users, whose sessions (and data) this never returns. `None` means *no
    /// issuer* (a local login), not "any issuer": it lists no session that was logged in
    /// with one. The index itself is keyed on the subject; the issuer is compared per session.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when Redis fails or a record cannot be decoded.
    pub async fn sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut sessions = if self.is_cluster() {
            self.cluster_sessions_of(subject).await?
        } else {
            let (has_issuer, issuer) = issuer_args(issuer);
            let rows: Vec<Vec<u8>> = self
                .scripts
                .list
                .arg(&*self.prefix)
                .arg(subject)
                .arg(has_issuer)
                .arg(issuer)
                .invoke_async(&mut self.connection())
                .await
                .map_err(StoreError::backend)?;
            rows.chunks(4)
                .map(|row| {
                    let [member, version, expires_at, data] = row else {
                        return Err(StoreError::decode("truncated session index reply"));
                    };
                    decode(
                        self.listed_id(member)?,
                        number(version)?,
                        number(expires_at)?,
                        data,
                    )
                })
                .collect::<StoreResult<Vec<_>>>()?
        };
        // The cluster's listing compares here, the standalone script compared already: the
        // record as decoded is the source of truth either way.
        sessions.retain(|record| record.issuer.as_deref() == issuer);
        Ok(sessions)
    }

    /// Deletes every session of the principal `issuer` + `subject` except `keep` ("log out
    /// everywhere else"; `None` logs out everywhere) and returns how many were deleted. One
    /// atomic round trip.
    ///
    /// A principal is an issuer and a subject, as in
    /// [`Identity::same_principal`](auth_core::Identity::same_principal): pass
    /// [`Identity::issuer`](auth_core::Identity::issuer) and
    /// [`Identity::subject`](auth_core::Identity::subject) of the user to log out. `issuer` is
    /// the [`issuer`](SessionRecord::issuer) the sessions were logged in with: `Some` for an
    /// identity that names one (an OpenID or external-token login), `None` for a local login
    /// (a password login, an identity without an issuer).
    ///
    /// On a [Redis Cluster](#redis-cluster): one script on the index, then one script per
    /// indexed session (concurrently), each deleting its session only if it still belongs to
    /// the principal (its subject, and the issuer in its record JSON), then one `ZREM` of the
    /// revoked sessions' entries. Not one atomic step: a login completing meanwhile may
    /// survive.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::RedisStore::connect("redis://127.0.0.1:6379").await?;
    /// let revoked = store
    ///     .delete_sessions_of(Some("https://idp.example"), "alice", None)
    ///     .await?;
    /// println!("{revoked} sessions ended");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// Only that principal's sessions end: `bob` of another issuer, and a local `bob`, are
    /// other users, whose sessions this never deletes. `None` means *no issuer* (a local
    /// login), not "any issuer": it deletes no session that was logged in with one, so
    /// logging a user out everywhere takes the issuer of *their* identity. Each session is
    /// checked and deleted atomically: one whose subject or issuer changed (a login as
    /// someone else without a new ID) is no longer the principal's and is left alone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when Redis fails.
    pub async fn delete_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: Option<&SessionId>,
    ) -> StoreResult<u64> {
        let keep = keep.map(|id| self.member(id)).unwrap_or_default();
        if self.is_cluster() {
            return self
                .cluster_delete_sessions_of(issuer, subject, &keep)
                .await;
        }
        let (has_issuer, issuer) = issuer_args(issuer);
        self.scripts
            .revoke
            .arg(&*self.prefix)
            .arg(subject)
            .arg(keep)
            .arg(has_issuer)
            .arg(issuer)
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

    /// The key of `subject`'s index.
    fn index_key(&self, subject: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + subject.len() + 8);
        key.push('{');
        key.push_str(&self.prefix);
        key.push_str(":user:");
        key.push_str(subject);
        key.push('}');
        key
    }

    /// The ID of a listed session: parsed from its member, or all zeros with hashed IDs.
    fn listed_id(&self, member: &[u8]) -> StoreResult<SessionId> {
        if self.ids.is_hashed() {
            return Ok(SessionId::from_bytes([0; SessionId::LEN]));
        }
        std::str::from_utf8(member)
            .ok()
            .and_then(|text| SessionId::parse(text).ok())
            .ok_or_else(|| StoreError::decode("session index member is not an id"))
    }

    fn connection(&self) -> Connection {
        self.connection.clone()
    }
}

/// The Redis Cluster operations (see the comment above `CLUSTER_INDEX`).
impl RedisStore {
    /// The key of `subject`'s index on a cluster: a sorted set, named apart from the set a
    /// standalone store keeps (`{<prefix>:user:<subject>}`), in the same slot.
    fn cluster_index_key(&self, subject: &str) -> String {
        let mut key = self.index_key(subject);
        key.push_str(":z");
        key
    }

    /// Adds `member` to `subject`'s index, or raises its entry, to `horizon` (before the
    /// session may get the subject or an expiry up to the horizon).
    async fn cluster_index(&self, subject: &str, member: &str, horizon: i64) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .cluster
            .index
            .key(self.cluster_index_key(subject))
            .arg(member)
            .arg(horizon)
            .arg(CLOCK_SKEW)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    /// Removes the entries of deleted sessions from `subject`'s index.
    async fn cluster_unindex(&self, subject: &str, members: &[&str]) -> StoreResult<()> {
        if members.is_empty() {
            return Ok(());
        }
        let _: i64 = redis::cmd("ZREM")
            .arg(self.cluster_index_key(subject))
            .arg(members)
            .query_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn cluster_create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let data = encode(record)?;
        let member = self.member(&record.id);
        let subject = record.subject.as_deref().unwrap_or("");
        let horizon = if subject.is_empty() {
            0
        } else {
            let horizon = index_horizon(record.expires_at, record.absolute_expires_at);
            self.cluster_index(subject, &member, horizon).await?;
            horizon
        };
        let created: i64 = self
            .scripts
            .cluster
            .create
            .key(self.key(&member))
            .arg(record.version)
            .arg(expiry(record.expires_at))
            .arg(data)
            .arg(subject)
            .arg(horizon)
            .arg(token()?)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?;
        match created {
            1 => Ok(CreateOutcome::Created),
            0 => Ok(CreateOutcome::IdTaken),
            _ => Err(StoreError::decode("unexpected reply to a session create")),
        }
    }

    async fn cluster_save(&self, record: &SessionRecord, next: u64) -> StoreResult<SaveOutcome> {
        let data = encode(record)?;
        let member = self.member(&record.id);
        let subject = record.subject.as_deref().unwrap_or("");
        let token = token()?;
        let mut raised = None;
        loop {
            let outcome: i64 = self
                .scripts
                .cluster
                .save
                .key(self.key(&member))
                .arg(record.version)
                .arg(next)
                .arg(expiry(record.expires_at))
                .arg(&data)
                .arg(subject)
                .arg(raised.map(|h: i64| h.to_string()).unwrap_or_default())
                .arg(&token)
                .invoke_async(&mut self.connection())
                .await
                .map_err(StoreError::backend)?;
            if let Some(outcome) = save_step(outcome, raised.is_some(), next)? {
                return Ok(outcome);
            }
            // "Raise the index entry first": once only, a raised horizon covers the expiry.
            let horizon = index_horizon(record.expires_at, record.absolute_expires_at);
            self.cluster_index(subject, &member, horizon).await?;
            raised = Some(horizon);
        }
    }

    async fn cluster_touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let member = self.member(id);
        let mut raised: (String, i64) = (String::new(), 0);
        for _ in 0..TOUCH_ATTEMPTS {
            let (outcome, subject): (i64, String) = self
                .scripts
                .cluster
                .touch
                .key(self.key(&member))
                .arg(expiry(expires_at))
                .arg(&raised.0)
                .arg(raised.1)
                .invoke_async(&mut self.connection())
                .await
                .map_err(StoreError::backend)?;
            let subject = match touch_step(outcome, subject)? {
                TouchStep::Done(touched) => return Ok(touched),
                TouchStep::RaiseIndex(subject) => subject,
            };
            // The record's absolute deadline is unknown here: the headroom horizon.
            let horizon = index_horizon(expires_at, None);
            self.cluster_index(&subject, &member, horizon).await?;
            raised = (subject, horizon);
        }
        Err(StoreError::backend(
            "the session's subject kept changing during a touch",
        ))
    }

    /// Deletes the session (leaving a tombstone), then its entry in its subject's index.
    async fn cluster_delete(&self, id: &SessionId) -> StoreResult<()> {
        self.cluster_delete_live(id).await.map(|_| ())
    }

    /// Deletes `id`; `true` when it was live (the cycle's check that `old` still was).
    async fn cluster_delete_live(&self, id: &SessionId) -> StoreResult<bool> {
        let member = self.member(id);
        let Some(subject): Option<String> = self
            .scripts
            .cluster
            .delete
            .key(self.key(&member))
            .arg(TOMBSTONE_TTL)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)?
        else {
            return Ok(false);
        };
        if !subject.is_empty() {
            self.cluster_unindex(&subject, &[&member]).await?;
        }
        Ok(true)
    }

    /// Create, then delete `old` if it is still live, else remove `new` again (a logout or a
    /// revocation that ended `old` wins): the two keys are in different slots.
    async fn cluster_cycle(
        &self,
        old: &SessionId,
        new: &SessionRecord,
    ) -> StoreResult<CreateOutcome> {
        match self.cluster_create(new).await? {
            CreateOutcome::Created => {}
            other => return Ok(other),
        }
        if self.cluster_delete_live(old).await? {
            Ok(CreateOutcome::Created)
        } else {
            // `old` was ended meanwhile (a logout, a revocation): it stays ended.
            self.cluster_delete(&new.id).await?;
            Ok(CreateOutcome::NotFound)
        }
    }

    /// The members of `subject`'s index whose horizon is not over.
    async fn cluster_members(&self, subject: &str) -> StoreResult<Vec<String>> {
        self.scripts
            .cluster
            .members
            .key(self.cluster_index_key(subject))
            .arg(CLOCK_SKEW)
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)
    }

    async fn cluster_sessions_of(&self, subject: &str) -> StoreResult<Vec<SessionRecord>> {
        type Row = (Option<u64>, Option<i64>, Option<Vec<u8>>, Option<String>);
        let members = self.cluster_members(subject).await?;
        let mut sessions = Vec::new();
        for chunk in members.chunks(FAN_OUT) {
            let rows = join_all(chunk.iter().map(|member| {
                let mut connection = self.connection();
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.key(member)).arg(&["v", "e", "d", "s"]);
                async move { cmd.query_async::<Row>(&mut connection).await }
            }))
            .await;
            for (member, row) in chunk.iter().zip(rows) {
                // Not written yet (a create writes the entry first), gone, or moved to another
                // subject: the entry stays until its horizon (or its session's deletion).
                let (Some(version), Some(expires_at), Some(data), Some(owner)) =
                    row.map_err(StoreError::backend)?
                else {
                    continue;
                };
                if owner == subject {
                    let id = self.listed_id(member.as_bytes())?;
                    sessions.push(decode(id, version, expires_at, &data)?);
                }
            }
        }
        Ok(sessions)
    }

    async fn cluster_delete_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: &str,
    ) -> StoreResult<u64> {
        let (has_issuer, issuer) = issuer_args(issuer);
        let members = self.cluster_members(subject).await?;
        let mut deleted = 0;
        for chunk in members.chunks(FAN_OUT) {
            let targets: Vec<&str> = chunk
                .iter()
                .map(String::as_str)
                .filter(|member| *member != keep)
                .collect();
            let replies = join_all(targets.iter().map(|member| {
                let mut connection = self.connection();
                let mut invocation = self.scripts.cluster.revoke.key(self.key(member));
                invocation
                    .arg(subject)
                    .arg(TOMBSTONE_TTL)
                    .arg(has_issuer)
                    .arg(issuer);
                async move { invocation.invoke_async::<u64>(&mut connection).await }
            }))
            .await;
            let mut revoked = Vec::new();
            let mut failed = None;
            for (member, reply) in targets.iter().zip(replies) {
                match reply {
                    Ok(1) => revoked.push(*member),
                    Ok(0) => {}
                    Ok(_) => {
                        failed
                            .get_or_insert(StoreError::decode("unexpected reply to a revocation"));
                    }
                    Err(error) => {
                        failed.get_or_insert(StoreError::backend(error));
                    }
                }
            }
            // The sessions deleted so far leave the index even when others failed.
            self.cluster_unindex(subject, &revoked).await?;
            deleted += revoked.len() as u64;
            if let Some(error) = failed {
                return Err(error);
            }
        }
        Ok(deleted)
    }
}

/// Cluster: the outcome of a save whose script answered `reply`, or `None` for "raise the
/// subject's index entry, then run it again"; `raised` tells that this was done already (the
/// raised horizon covers the expiry, so being asked again is a fault).
fn save_step(reply: i64, raised: bool, next: u64) -> StoreResult<Option<SaveOutcome>> {
    match reply {
        1 => Ok(Some(SaveOutcome::Saved { version: next })),
        0 => Ok(Some(SaveOutcome::Conflict)),
        -1 => Ok(Some(SaveOutcome::NotFound)),
        -2 if !raised => Ok(None),
        _ => Err(StoreError::decode("unexpected reply to a session save")),
    }
}

/// Cluster: what a touch does after its script's reply.
#[derive(Debug, PartialEq, Eq)]
enum TouchStep {
    /// Touched (`true`), or no live record (`false`).
    Done(bool),
    /// Raise this subject's index entry, then run the script again.
    RaiseIndex(String),
}

/// Cluster: the step after a touch script answered `(reply, subject)`.
fn touch_step(reply: i64, subject: String) -> StoreResult<TouchStep> {
    match (reply, subject.is_empty()) {
        (1, true) => Ok(TouchStep::Done(true)),
        (0, true) => Ok(TouchStep::Done(false)),
        (-2, false) => Ok(TouchStep::RaiseIndex(subject)),
        _ => Err(StoreError::decode("unexpected reply to a session touch")),
    }
}

/// The issuer as the listing and revocation scripts take it: `'1'` and the issuer, or `'0'`
/// and `''` for a local login (so that `None` and `Some("")` stay apart).
fn issuer_args(issuer: Option<&str>) -> (&'static str, &str) {
    match issuer {
        Some(issuer) => ("1", issuer),
        None => ("0", ""),
    }
}

/// Polls `futures` together (requests on one multiplexed connection then share the wire) and
/// returns their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut done = true;
        for (future, output) in pending.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(outputs.drain(..).flatten().collect())
        } else {
            Poll::Pending
        }
    })
    .await
}

/// The current Unix time, in seconds.
fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Cluster: the horizon of a session's index entry, how long the session may live without
/// raising it: its absolute deadline when it has one, else its expiry plus at least
/// `INDEX_HEADROOM` (as much again as it has left, when that is more).
fn index_horizon(expires_at: OffsetDateTime, absolute: Option<OffsetDateTime>) -> i64 {
    let expires = expiry(expires_at);
    match absolute.map(expiry) {
        Some(absolute) if absolute >= expires => absolute,
        _ => expires.saturating_add((expires - unix_now()).max(INDEX_HEADROOM)),
    }
}

/// Cluster: a one-time token for a create or save, by which a retried script (after a
/// reconnect) recognises its own write.
fn token() -> StoreResult<String> {
    let mut bytes = [0; 12];
    auth_core::fill_random(&mut bytes).map_err(StoreError::backend)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
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
        if self.is_cluster() {
            return self.cluster_create(record).await;
        }
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
        if self.is_cluster() {
            return self.cluster_save(record, next).await;
        }
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
        if self.is_cluster() {
            return self.cluster_touch(id, expires_at).await;
        }
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
        if self.is_cluster() {
            return self.cluster_delete(id).await;
        }
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
        if self.is_cluster() {
            return self.cluster_cycle(old, new).await;
        }
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
        match created {
            1 => Ok(CreateOutcome::Created),
            0 => Ok(CreateOutcome::IdTaken),
            -1 => Ok(CreateOutcome::NotFound),
            other => Err(StoreError::backend(format!(
                "unexpected reply {other} from the cycle script"
            ))),
        }
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("cluster", &self.is_cluster())
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

    #[test]
    fn the_index_horizon_is_the_absolute_deadline_else_expiry_plus_headroom() {
        let now = OffsetDateTime::now_utc();
        let expires = now + time::Duration::minutes(30);
        let absolute = now + time::Duration::hours(12);
        assert_eq!(
            index_horizon(expires, Some(absolute)),
            absolute.unix_timestamp()
        );
        // A deadline before the expiry (the caller's mistake) does not cap the horizon.
        let early = now + time::Duration::minutes(5);
        assert!(index_horizon(expires, Some(early)) >= expires.unix_timestamp() + INDEX_HEADROOM);
        // Without a deadline: at least the headroom, or as much again as is left.
        let horizon = index_horizon(expires, None);
        assert!(horizon >= expires.unix_timestamp() + INDEX_HEADROOM);
        let far = now + time::Duration::days(30);
        assert!(index_horizon(far, None) >= far.unix_timestamp() + 29 * 86_400);
    }

    #[test]
    fn save_replies_are_matched_exactly() {
        assert_eq!(
            save_step(1, false, 7).unwrap(),
            Some(SaveOutcome::Saved { version: 7 })
        );
        assert_eq!(save_step(0, true, 7).unwrap(), Some(SaveOutcome::Conflict));
        assert_eq!(
            save_step(-1, false, 7).unwrap(),
            Some(SaveOutcome::NotFound)
        );
        assert_eq!(save_step(-2, false, 7).unwrap(), None);
        // "Raise the index entry first" once it was raised, or any other reply: an error.
        assert!(save_step(-2, true, 7).is_err());
        for reply in [2, -3, 42] {
            assert!(save_step(reply, false, 7).is_err(), "{reply}");
        }
    }

    #[test]
    fn touch_replies_are_matched_exactly() {
        assert_eq!(touch_step(1, String::new()).unwrap(), TouchStep::Done(true));
        assert_eq!(
            touch_step(0, String::new()).unwrap(),
            TouchStep::Done(false)
        );
        assert_eq!(
            touch_step(-2, "alice".to_owned()).unwrap(),
            TouchStep::RaiseIndex("alice".to_owned())
        );
        // Anything else, a subject with another reply, or "raise" without one: an error.
        for (reply, subject) in [(2, ""), (-1, ""), (-3, "alice"), (1, "alice"), (-2, "")] {
            assert!(
                touch_step(reply, subject.to_owned()).is_err(),
                "{reply} {subject:?}"
            );
        }
    }

    #[test]
    fn tokens_are_random_hex() {
        let (a, b) = (token().unwrap(), token().unwrap());
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn join_all_keeps_the_order() {
        let outputs = join_all((0..5).map(|i| async move {
            if i % 2 == 0 {
                tokio::task::yield_now().await;
            }
            i * 10
        }))
        .await;
        assert_eq!(outputs, [0, 10, 20, 30, 40]);
        assert!(
            join_all(Vec::<std::future::Ready<u8>>::new())
                .await
                .is_empty()
        );
    }
}
