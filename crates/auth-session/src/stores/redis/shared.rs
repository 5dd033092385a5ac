//! What the standalone and the cluster implementations share: the connection, the names of
//! keys, the clock, the scripts, and the shapes of what both send ([`SessionKey`], [`Write`],
//! [`Principal`], each built once by `operations.rs` and handed to either mode) and read back
//! (a session's `HMGET`, the replies of the create and save scripts).

use std::sync::Arc;

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SharedClock, StoreError,
    StoreResult, SystemClock,
};
use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, ScriptInvocation, Value};

use super::codec;
use super::scripts::Scripts;
use crate::stores::IdHasher;

/// The default key prefix.
const DEFAULT_PREFIX: &str = "session";

/// The connection: one server (or a primary behind one URL), or a cluster.
#[derive(Clone)]
pub(super) enum Connection {
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

/// What a `RedisStore` holds. Clones share the connection and the scripts.
#[derive(Clone)]
pub(super) struct Core {
    connection: Connection,
    /// Keys are `{<prefix>:<member>}`, indexes `{<prefix>:user:<subject>}`.
    pub(super) prefix: Arc<str>,
    /// What stands for a session ID in keys and indexes (its member).
    pub(super) ids: IdHasher,
    /// "Now" for the store's own decisions: index TTLs and horizons, never expiry.
    pub(super) clock: SharedClock,
    pub(super) scripts: Arc<Scripts>,
}

impl Core {
    /// A store's state on `connection`: prefix `session`, plain IDs, the system clock.
    pub(super) fn new(connection: Connection) -> Self {
        Self {
            connection,
            prefix: Arc::from(DEFAULT_PREFIX),
            ids: IdHasher::default(),
            clock: Arc::new(SystemClock),
            scripts: Arc::new(Scripts::new()),
        }
    }

    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.connection, Connection::Cluster(_))
    }

    /// The store's clock, in Unix seconds.
    pub(super) fn now(&self) -> i64 {
        self.clock.unix_timestamp()
    }

    /// What stands for `id` at rest: the encoded ID, or its keyed hash.
    pub(super) fn member(&self, id: &SessionId) -> String {
        self.ids.text(id)
    }

    /// The key of the session whose member is `member`: `{<prefix>:<member>}`.
    pub(super) fn key(&self, member: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + member.len() + 3);
        key.push('{');
        key.push_str(&self.prefix);
        key.push(':');
        key.push_str(member);
        key.push('}');
        key
    }

    /// The key of `subject`'s index: `{<prefix>:user:<subject>}` (on a cluster, with a suffix).
    pub(super) fn index_key(&self, subject: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + subject.len() + 8);
        key.push('{');
        key.push_str(&self.prefix);
        key.push_str(":user:");
        key.push_str(subject);
        key.push('}');
        key
    }

    /// The `SCAN ... MATCH` pattern of every key of the store: `{<prefix>:*`, with the
    /// prefix's glob characters escaped.
    pub(super) fn key_pattern(&self) -> String {
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

    /// The record of a listed session from its member and stored fields.
    pub(super) fn listed(
        &self,
        member: &[u8],
        version: u64,
        expires_at: i64,
        data: &[u8],
    ) -> StoreResult<SessionRecord> {
        codec::decode(self.ids.id_of_text(member)?, version, expires_at, data)
    }

    /// A connection to send one request on (a clone of the shared one).
    pub(super) fn connection(&self) -> Connection {
        self.connection.clone()
    }

    /// Runs a script (`EVALSHA`, then `EVAL` once if the server does not know it).
    pub(super) async fn run<T: FromRedisValue>(
        &self,
        script: &ScriptInvocation<'_>,
    ) -> StoreResult<T> {
        script
            .invoke_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)
    }

    /// Sends a command.
    pub(super) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> StoreResult<T> {
        cmd.query_async(&mut self.connection())
            .await
            .map_err(StoreError::backend)
    }

    /// `load`, the same in both modes: one `HMGET` of the version, expiry and data. A key
    /// without them (none, or a cluster's tombstone) is no session.
    pub(super) async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.session(id).key).arg(&["v", "e", "d"]);
        let (version, expires_at, data): (Option<u64>, Option<i64>, Option<Vec<u8>>) =
            self.query(&cmd).await?;
        let (Some(version), Some(expires_at), Some(data)) = (version, expires_at, data) else {
            return Ok(None);
        };
        codec::decode(*id, version, expires_at, &data).map(Some)
    }

    /// The names of the session `id` at rest.
    pub(super) fn session(&self, id: &SessionId) -> SessionKey {
        let member = self.member(id);
        SessionKey {
            key: self.key(&member),
            member,
        }
    }

    /// What a create, save or cycle of `record` sends, in both modes.
    pub(super) fn write<'r>(&self, record: &'r SessionRecord) -> StoreResult<Write<'r>> {
        Ok(Write {
            session: self.session(&record.id),
            record,
            subject: record.subject.as_deref().unwrap_or(""),
            expires: codec::expiry(record.expires_at),
            data: codec::encode(record)?,
        })
    }
}

/// A session as both modes name it: its member (the encoded ID, or its hash: what the index
/// holds) and its key.
pub(super) struct SessionKey {
    pub(super) member: String,
    pub(super) key: String,
}

/// What a create, save or cycle sends of its record.
pub(super) struct Write<'r> {
    pub(super) session: SessionKey,
    /// The record: its version, and the expiries the index is sized by.
    pub(super) record: &'r SessionRecord,
    /// The subject, `""` for an anonymous session (`s`).
    pub(super) subject: &'r str,
    /// The expiry in Unix seconds (`e`, and the key's `EXPIREAT`).
    pub(super) expires: i64,
    /// The record JSON (`d`).
    pub(super) data: Vec<u8>,
}

/// A principal as the listing and revocation scripts take it (`principal.lua`): the subject,
/// and `'1'` with the issuer, or `'0'` and `''` for a local login (so that `None` and
/// `Some("")` stay apart).
pub(super) struct Principal<'a> {
    pub(super) subject: &'a str,
    pub(super) has_issuer: &'static str,
    pub(super) issuer: &'a str,
}

impl<'a> Principal<'a> {
    pub(super) fn new(issuer: Option<&'a str>, subject: &'a str) -> Self {
        let (has_issuer, issuer) = match issuer {
            Some(issuer) => ("1", issuer),
            None => ("0", ""),
        };
        Self {
            subject,
            has_issuer,
            issuer,
        }
    }
}

/// The outcome of a create or cycle script: 1 created, 0 the new ID is taken, -1 (cycle) the
/// old session is gone.
pub(super) fn create_outcome(reply: i64) -> StoreResult<CreateOutcome> {
    match reply {
        1 => Ok(CreateOutcome::Created),
        0 => Ok(CreateOutcome::IdTaken),
        -1 => Ok(CreateOutcome::NotFound),
        _ => Err(StoreError::decode("unexpected reply to a session create")),
    }
}

/// The outcome of a save script: 1 saved (now at `next`), 0 conflict, -1 no live record;
/// `None` for any other reply.
pub(super) fn save_outcome(reply: i64, next: u64) -> Option<SaveOutcome> {
    match reply {
        1 => Some(SaveOutcome::Saved { version: next }),
        0 => Some(SaveOutcome::Conflict),
        -1 => Some(SaveOutcome::NotFound),
        _ => None,
    }
}
