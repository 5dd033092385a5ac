//! `PostgresStore`: sessions in a PostgreSQL table.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreResult, SystemClock,
};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row};
use time::OffsetDateTime;

use super::{
    IdHasher, decode, encode, next_version, quote_identifier, version_to_i64, whole_seconds,
};

/// The default schema.
const DEFAULT_SCHEMA: &str = "public";
/// The default table.
const DEFAULT_TABLE: &str = "auth_sessions";
/// What a stored record naming an issuer contains (compact JSON, as [`encode`] writes it).
const LEGACY_ISSUER_NEEDLE: &[u8] = b"\"iss\":";

/// The statements, built once for the configured table.
#[derive(Debug)]
struct Queries {
    migrate: String,
    load: String,
    create: String,
    save: String,
    touch: String,
    delete: String,
    cycle: String,
    cleanup: String,
    of_principal: String,
    delete_principal: String,
    has_issuer_column: String,
    legacy_issuers: String,
    backfill_issuer: String,
}

impl Queries {
    fn new(schema: &str, table: &str) -> Self {
        let t = format!("{}.{}", quote_identifier(schema), quote_identifier(table));
        let expires_index = quote_identifier(&format!("{table}_expires_at"));
        let subject_index = quote_identifier(&format!("{table}_subject"));
        // `issuer` is the parameter holding the record's issuer: the last one of each
        // statement, after the parameters the statement had before the column existed.
        let insert = |issuer: &str| {
            format!(
                "INSERT INTO {t} AS s (id, version, expires_at, subject, issuer, data) \
                 VALUES ($1, $2, $3, $4, {issuer}, $5) \
                 ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, \
                 expires_at = EXCLUDED.expires_at, subject = EXCLUDED.subject, \
                 issuer = EXCLUDED.issuer, data = EXCLUDED.data \
                 WHERE s.expires_at <= $6"
            )
        };
        let insert_if_old = format!(
            "INSERT INTO {t} AS s (id, version, expires_at, subject, issuer, data) \
             SELECT $1, $2, $3, $4, $8, $5 WHERE EXISTS (SELECT 1 FROM old) \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, \
             expires_at = EXCLUDED.expires_at, subject = EXCLUDED.subject, \
             issuer = EXCLUDED.issuer, data = EXCLUDED.data \
             WHERE s.expires_at <= $6"
        );
        Self {
            migrate: format!(
                "CREATE SCHEMA IF NOT EXISTS {schema};\n\
                 CREATE TABLE IF NOT EXISTS {t} (\n\
                 \x20   id bytea PRIMARY KEY,\n\
                 \x20   version bigint NOT NULL,\n\
                 \x20   expires_at timestamptz NOT NULL,\n\
                 \x20   subject text,\n\
                 \x20   issuer text,\n\
                 \x20   data bytea NOT NULL\n\
                 );\n\
                 ALTER TABLE {t} ADD COLUMN IF NOT EXISTS issuer text;\n\
                 CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires_at);\n\
                 CREATE INDEX IF NOT EXISTS {subject_index} ON {t} (subject) \
                 WHERE subject IS NOT NULL;\n",
                schema = quote_identifier(schema),
            ),
            load: format!(
                "SELECT version, expires_at, data FROM {t} WHERE id = $1 AND expires_at > $2"
            ),
            create: format!("{} RETURNING 1", insert("$7")),
            save: format!(
                "WITH live AS (SELECT version FROM {t} WHERE id = $1 AND expires_at > $6), \
                 updated AS (UPDATE {t} SET version = $3, expires_at = $4, subject = $5, \
                 issuer = $8, data = $7 WHERE id = $1 AND version = $2 AND expires_at > $6 \
                 RETURNING version) \
                 SELECT (SELECT version FROM updated) AS saved, \
                 (SELECT version FROM live) AS live"
            ),
            touch: format!("UPDATE {t} SET expires_at = $2 WHERE id = $1 AND expires_at > $3"),
            delete: format!("DELETE FROM {t} WHERE id = $1"),
            // The old row is locked first: a concurrent logout waits, and a session already
            // ended (gone or expired) is never recreated under the new ID.
            cycle: format!(
                "WITH old AS (SELECT 1 FROM {t} WHERE id = $7 AND expires_at > $6 FOR UPDATE), \
                 inserted AS ({insert_if_old} RETURNING 1), \
                 deleted AS (DELETE FROM {t} WHERE id = $7 AND EXISTS (SELECT 1 FROM inserted)) \
                 SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM inserted)"
            ),
            cleanup: format!("DELETE FROM {t} WHERE expires_at <= $1"),
            of_principal: format!(
                "SELECT id, version, expires_at, data FROM {t} \
                 WHERE subject = $1 AND issuer IS NOT DISTINCT FROM $3 AND expires_at > $2 \
                 ORDER BY expires_at"
            ),
            delete_principal: format!(
                "DELETE FROM {t} WHERE subject = $1 AND issuer IS NOT DISTINCT FROM $4 \
                 AND expires_at > $2 AND ($3::bytea IS NULL OR id <> $3)"
            ),
            // $1: the quoted, qualified table name (a parameter: any name is safe).
            has_issuer_column: "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 \
                 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'issuer' \
                 AND attnum > 0 AND NOT attisdropped)"
                .to_owned(),
            // Rows written before the column that may name an issuer ($1: the bytes `"iss":`);
            // the record decides.
            legacy_issuers: format!(
                "SELECT id, version, data FROM {t} \
                 WHERE subject IS NOT NULL AND issuer IS NULL AND position($1 IN data) > 0"
            ),
            backfill_issuer: format!(
                "UPDATE {t} SET issuer = $3 WHERE id = $1 AND version = $2 AND issuer IS NULL"
            ),
        }
    }
}

/// A [`SessionStore`] in a PostgreSQL table, shared by every instance of an application.
///
/// Create the table once with [`migrate`](Self::migrate) (or run the SQL of
/// [`migration_sql`](Self::migration_sql) with your migration tool). Every operation is one
/// statement (see the design below); expired rows are invisible at once and removed by
/// [`cleanup_expired`](SessionStore::cleanup_expired). It passes `auth_session::testkit`.
///
/// Clones share one connection pool. `Debug` shows the table, never IDs or data.
///
/// # Design
///
/// One row per session: `id bytea` (the 16 ID bytes, primary key), `version bigint`,
/// `expires_at timestamptz`, `subject text` (indexed, for listing a user's sessions),
/// `issuer text` (the [issuer](SessionRecord::issuer) of the login, `NULL` for a local login)
/// and `data bytea` (the record as JSON, without its ID; its version and expiry are read from
/// the columns). Every operation is one statement, so one round trip:
///
/// - `load`: `SELECT ... WHERE id = $1 AND expires_at > $now`;
/// - `create`: `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE expires_at <= $now`: a
///   live row is never touched, an expired one is taken over atomically;
/// - `save`: `UPDATE ... WHERE id = $1 AND version = $2 AND expires_at > $now` (in a CTE that
///   also reads the current row, to tell a conflict from a missing session);
/// - `cycle`: the old row locked (`FOR UPDATE`), the insert and the delete of the old row in
///   one statement (data-modifying CTEs), so it is atomic and never revives an ended session;
/// - `cleanup_expired`: `DELETE ... WHERE expires_at <= $now`; run it periodically, e.g.
///   with [`PostgresStore::spawn_cleanup`];
/// - [`sessions_of`](Self::sessions_of), [`delete_sessions_of`](Self::delete_sessions_of):
///   `... WHERE subject = $subject AND issuer IS NOT DISTINCT FROM $issuer ...`, a principal
///   being an issuer and a subject (the subject's index narrows, the issuer filters).
///
/// "Now" is the store's [`Clock`](auth_core::Clock), passed as a parameter (never the
/// database's `now()`), so the application and the store agree on expiry and tests can move
/// time.
///
/// ## Why an `issuer` column
///
/// The record JSON in `data` carries the issuer too (`iss`), and stays the source of truth:
/// every write sets the column from the same record, in the same statement. The column exists
/// because PostgreSQL cannot be trusted to read the JSON: its `json`/`jsonb` functions refuse
/// a document containing `\u0000` anywhere ("unsupported Unicode escape sequence"), and
/// session data may hold a NUL character (any text a user can put in their session), which
/// would make every per-user listing and revocation of that subject fail, so that whoever
/// holds a stolen session could keep "log out everywhere" from ending it. A column compares
/// exactly and never parses.
///
/// [`migrate`](Self::migrate) adds the column to a table created before it
/// (`ADD COLUMN IF NOT EXISTS`) and then fills it, once, from the record JSON of the rows
/// that name an issuer (decoded here, not by the database). Rows without one, and every row
/// written before issuers existed, are local logins: `NULL`. An instance still running a
/// build from before the column (during a rolling upgrade) writes rows without it, whose
/// logins through an issuer then count as local ones: upgrade every instance before relying
/// on the per-principal methods.
///
/// ```no_run
/// use auth_cookie::CookieKeys;
/// use auth_session::{PostgresStore, SessionLayer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app")
///     .await?
///     .with_table("auth", "sessions");
/// store.migrate().await?;
/// let _cleanup = store.spawn_cleanup(std::time::Duration::from_secs(300));
/// let layer = SessionLayer::new(store, CookieKeys::generate()?);
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Arc<str>,
    table: Arc<str>,
    queries: Arc<Queries>,
    clock: SharedClock,
    ids: IdHasher,
}

impl PostgresStore {
    /// A store on `pool`, in the table `public.auth_sessions`, on the system clock.
    ///
    /// ```no_run
    /// use auth_session::PostgresStore;
    /// use auth_session::sqlx::postgres::PgPoolOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(20)
    ///     .connect("postgres://postgres@127.0.0.1:5432/app")
    ///     .await?;
    /// let store = PostgresStore::new(pool);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            schema: Arc::from(DEFAULT_SCHEMA),
            table: Arc::from(DEFAULT_TABLE),
            queries: Arc::new(Queries::new(DEFAULT_SCHEMA, DEFAULT_TABLE)),
            clock: Arc::new(SystemClock),
            ids: IdHasher::default(),
        }
    }

    /// Connects a pool (sqlx defaults) to `url`; see [`new`](Self::new).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the URL is invalid or the server cannot be reached.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .connect(url)
            .await
            .map_err(StoreError::backend)?;
        Ok(Self::new(pool))
    }

    /// Sets the schema and table (default `public.auth_sessions`). Names are quoted, so any
    /// text is safe; they are case-sensitive.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app")
    ///     .await?
    ///     .with_table("auth", "web_sessions");
    /// assert_eq!(store.table(), ("auth", "web_sessions"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_table(mut self, schema: &str, table: &str) -> Self {
        self.schema = Arc::from(schema);
        self.table = Arc::from(table);
        self.queries = Arc::new(Queries::new(schema, table));
        self
    }

    /// Stores a keyed hash (HMAC-SHA-256 under `key`) of each session ID instead of the ID
    /// (default: the ID itself), so that a leaked database holds no usable session IDs.
    ///
    /// Keep `key` secret and stable (32 random bytes): with another key, every stored session
    /// is unreachable. With hashed IDs, the records listed by
    /// [`sessions_of`](Self::sessions_of) carry an all-zero `id`: the store does not know the
    /// real ones ([`delete_sessions_of`](Self::delete_sessions_of) works as before).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let key: [u8; 32] = [7; 32]; // from your secret store, not a constant
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?.with_hashed_ids(&key);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_hashed_ids(mut self, key: &[u8; 32]) -> Self {
        self.ids = IdHasher::keyed(key);
        self
    }

    /// The ID of a listed row: the real one, or all zeros when only its hash is stored.
    fn listed_id(&self, stored: &[u8]) -> StoreResult<SessionId> {
        if self.ids.is_hashed() {
            return Ok(SessionId::from_bytes([0; SessionId::LEN]));
        }
        let id = <[u8; SessionId::LEN]>::try_from(stored)
            .map_err(|_| StoreError::decode("session id column is not 16 bytes"))?;
        Ok(SessionId::from_bytes(id))
    }

    /// Sets the clock that decides expiry (default: the system clock).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use auth_core::ManualClock;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app")
    ///     .await?
    ///     .with_clock(Arc::new(ManualClock::default()));
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The schema and table.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// assert_eq!(store.table(), ("public", "auth_sessions"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn table(&self) -> (&str, &str) {
        (&self.schema, &self.table)
    }

    /// The connection pool.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// println!("{} connections", store.pool().size());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The SQL that creates the schema, the table and its indexes (idempotent), for running
    /// it with a migration tool instead of [`migrate`](Self::migrate). It adds the `issuer`
    /// column to an older table, but only [`migrate`](Self::migrate) fills it for the rows
    /// written before that name an issuer in their record JSON (left `NULL`, they count as
    /// local logins until their next save).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// assert!(store.migration_sql().contains("CREATE TABLE IF NOT EXISTS"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.queries.migrate
    }

    /// Creates the schema, the table and its indexes if they do not exist, and upgrades a
    /// table created by an earlier version: adds the `issuer` column and fills it from the
    /// record JSON of the rows that name an issuer (only when the column was missing).
    /// Idempotent; several instances may upgrade a table at once.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when a statement fails (e.g. no `CREATE` privilege).
    pub async fn migrate(&self) -> StoreResult<()> {
        let table = format!(
            "{}.{}",
            quote_identifier(&self.schema),
            quote_identifier(&self.table)
        );
        let (exists, has_issuer): (bool, bool) = sqlx::query_as(&self.queries.has_issuer_column)
            .bind(&table)
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        sqlx::raw_sql(&self.queries.migrate)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        if exists && !has_issuer {
            self.backfill_issuers().await?;
        }
        Ok(())
    }

    /// Sets the `issuer` column of rows written before it existed from their record JSON
    /// (decoded here: PostgreSQL's JSON functions refuse some valid records). Only a row
    /// still at the version that was read is updated (one saved meanwhile was written with
    /// its issuer); a row that does not decode cannot be loaded either and stays a local
    /// login.
    async fn backfill_issuers(&self) -> StoreResult<()> {
        let rows: Vec<(Vec<u8>, i64, Vec<u8>)> = sqlx::query_as(&self.queries.legacy_issuers)
            .bind(LEGACY_ISSUER_NEEDLE)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        for (id, version, data) in rows {
            let Some(issuer) = decode(&data).ok().and_then(|record| record.issuer) else {
                continue;
            };
            sqlx::query::<Postgres>(&self.queries.backfill_issuer)
                .bind(id)
                .bind(version)
                .bind(issuer)
                .execute(&self.pool)
                .await
                .map_err(StoreError::backend)?;
        }
        Ok(())
    }

    /// Runs [`cleanup_expired`](SessionStore::cleanup_expired) every `every` on the tokio
    /// runtime, until the returned handle is aborted. Failures are logged with
    /// `tracing::warn!` and retried at the next tick.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
    /// let cleanup = store.spawn_cleanup(std::time::Duration::from_secs(600));
    /// // ... on shutdown:
    /// cleanup.abort();
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// When called outside a tokio runtime.
    #[must_use = "dropping the handle detaches the task; keep it to stop the cleanup"]
    pub fn spawn_cleanup(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        super::spawn_cleanup(self.clone(), every)
    }

    /// The live sessions of the principal `issuer` + `subject`, soonest to expire first (the
    /// per-user index: "your active sessions"). With [hashed IDs](Self::with_hashed_ids) the
    /// records carry an all-zero `id`: the store does not know the real ones.
    ///
    /// A principal is an issuer and a subject, as in
    /// [`Identity::same_principal`](auth_core::Identity::same_principal): pass
    /// [`Identity::issuer`](auth_core::Identity::issuer) and
    /// [`Identity::subject`](auth_core::Identity::subject) of the user whose sessions you
    /// mean. `issuer` is the [`issuer`](SessionRecord::issuer) the sessions were logged in
    /// with: `Some` for an identity that names one (an OpenID or external-token login),
    /// `None` for a local login (a password login, an identity without an issuer).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
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
    /// with one.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the query fails or a row cannot be decoded.
    pub async fn sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query::<Postgres>(&self.queries.of_principal)
            .bind(subject)
            .bind(self.clock.now())
            .bind(issuer)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        rows.iter()
            .map(|row| {
                let id = self.listed_id(row.try_get(0).map_err(StoreError::decode)?)?;
                record_from(
                    &id,
                    row.try_get(1).map_err(StoreError::decode)?,
                    row.try_get(2).map_err(StoreError::decode)?,
                    &row.try_get::<Vec<u8>, _>(3).map_err(StoreError::decode)?,
                )
            })
            .collect()
    }

    /// Deletes every live session of the principal `issuer` + `subject` except `keep` ("log
    /// out everywhere else"; `None` logs out everywhere) and returns how many were deleted.
    /// One statement, so atomic; it works with [hashed IDs](Self::with_hashed_ids) too.
    ///
    /// A principal is an issuer and a subject, as in
    /// [`Identity::same_principal`](auth_core::Identity::same_principal): pass
    /// [`Identity::issuer`](auth_core::Identity::issuer) and
    /// [`Identity::subject`](auth_core::Identity::subject) of the user to log out. `issuer` is
    /// the [`issuer`](SessionRecord::issuer) the sessions were logged in with: `Some` for an
    /// identity that names one (an OpenID or external-token login), `None` for a local login
    /// (a password login, an identity without an issuer).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::PostgresStore::connect("postgres://postgres@localhost/app").await?;
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
    /// logging a user out everywhere takes the issuer of *their* identity.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the statement fails.
    pub async fn delete_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: Option<&SessionId>,
    ) -> StoreResult<u64> {
        let done = sqlx::query::<Postgres>(&self.queries.delete_principal)
            .bind(subject)
            .bind(self.clock.now())
            .bind(keep.map(|id| self.ids.bytes(id)))
            .bind(issuer)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }
}

fn record_from(
    id: &SessionId,
    version: i64,
    expires_at: OffsetDateTime,
    data: &[u8],
) -> StoreResult<SessionRecord> {
    let mut record = decode(data)?;
    record.id = *id;
    record.version = u64::try_from(version).map_err(StoreError::decode)?;
    record.expires_at = expires_at;
    Ok(record)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query::<Postgres>(&self.queries.load)
            .bind(self.ids.bytes(id))
            .bind(self.clock.now())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(StoreError::decode)?;
        let expires_at: OffsetDateTime = row.try_get(1).map_err(StoreError::decode)?;
        let data: &[u8] = row.try_get(2).map_err(StoreError::decode)?;
        record_from(id, version, expires_at, data).map(Some)
    }

    async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let data = encode(record)?;
        let row = sqlx::query::<Postgres>(&self.queries.create)
            .bind(self.ids.bytes(&record.id))
            .bind(version_to_i64(record.version)?)
            .bind(whole_seconds(record.expires_at))
            .bind(record.subject.as_deref())
            .bind(data)
            .bind(self.clock.now())
            .bind(record.issuer.as_deref())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(if row.is_some() {
            CreateOutcome::Created
        } else {
            CreateOutcome::IdTaken
        })
    }

    async fn save(&self, record: &SessionRecord) -> StoreResult<SaveOutcome> {
        let next = next_version(record.version)?;
        let data = encode(record)?;
        let row = sqlx::query::<Postgres>(&self.queries.save)
            .bind(self.ids.bytes(&record.id))
            .bind(version_to_i64(record.version)?)
            .bind(version_to_i64(next)?)
            .bind(whole_seconds(record.expires_at))
            .bind(record.subject.as_deref())
            .bind(self.clock.now())
            .bind(data)
            .bind(record.issuer.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let saved: Option<i64> = row.try_get(0).map_err(StoreError::decode)?;
        let current: Option<i64> = row.try_get(1).map_err(StoreError::decode)?;
        Ok(match (saved, current) {
            (Some(_), _) => SaveOutcome::Saved { version: next },
            (None, Some(_)) => SaveOutcome::Conflict,
            (None, None) => SaveOutcome::NotFound,
        })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let done = sqlx::query::<Postgres>(&self.queries.touch)
            .bind(self.ids.bytes(id))
            .bind(whole_seconds(expires_at))
            .bind(self.clock.now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        sqlx::query::<Postgres>(&self.queries.delete)
            .bind(self.ids.bytes(id))
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    async fn cycle(&self, old: &SessionId, new: &SessionRecord) -> StoreResult<CreateOutcome> {
        let data = encode(new)?;
        let row = sqlx::query::<Postgres>(&self.queries.cycle)
            .bind(self.ids.bytes(&new.id))
            .bind(version_to_i64(new.version)?)
            .bind(whole_seconds(new.expires_at))
            .bind(new.subject.as_deref())
            .bind(data)
            .bind(self.clock.now())
            .bind(self.ids.bytes(old))
            .bind(new.issuer.as_deref())
            .fetch_one(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let old_live: i64 = row.try_get(0).map_err(StoreError::decode)?;
        let inserted: i64 = row.try_get(1).map_err(StoreError::decode)?;
        Ok(if old_live == 0 {
            CreateOutcome::NotFound
        } else if inserted > 0 {
            CreateOutcome::Created
        } else {
            CreateOutcome::IdTaken
        })
    }

    async fn cleanup_expired(&self) -> StoreResult<u64> {
        let done = sqlx::query::<Postgres>(&self.queries.cleanup)
            .bind(self.clock.now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(done.rows_affected())
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("clock", &self.clock)
            .field("ids", &self.ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_in_every_statement() {
        let queries = Queries::new("my\"schema", "t");
        assert!(queries.migrate.contains("\"my\"\"schema\".\"t\""));
        assert!(queries.load.contains("\"my\"\"schema\".\"t\""));
        assert!(queries.migrate.contains("\"t_expires_at\""));
    }
}
