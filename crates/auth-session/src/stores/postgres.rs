//! `PostgresStore`: sessions in a PostgreSQL table. The SQL text is here ([`statements`]);
//! what it shares with `SqliteStore` (the statements' parameters, rows read back, the table
//! upgrade) is in `sql.rs`.

use std::fmt;
use std::sync::Arc;

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreFuture, StoreResult,
};
use sqlx::postgres::{PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{Postgres, Row};
use time::OffsetDateTime;

use super::sql::{self, Engine, SqlCore, Statements, quote_identifier};
use super::{IdHasher, next_version};

/// The default schema.
const DEFAULT_SCHEMA: &str = "public";
/// The default table.
const DEFAULT_TABLE: &str = "auth_sessions";

/// `expires_at` is a `timestamptz`; records keep whole seconds, "now" is the clock's instant.
impl Engine for Postgres {
    type Time = OffsetDateTime;

    fn stored(at: OffsetDateTime) -> OffsetDateTime {
        at.replace_nanosecond(0).unwrap_or(at)
    }

    fn now(clock: &dyn Clock) -> OffsetDateTime {
        clock.now()
    }

    fn read(stored: OffsetDateTime) -> StoreResult<OffsetDateTime> {
        Ok(stored)
    }

    fn rows_affected(result: &PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The statements for the table `schema.table`, and the one statement of `cycle`. The
/// parameters are numbered as `sql.rs` lists them.
fn statements(schema: &str, table: &str) -> (Statements, String) {
    let t = format!("{}.{}", quote_identifier(schema), quote_identifier(table));
    let expires_index = quote_identifier(&format!("{table}_expires_at"));
    let subject_index = quote_identifier(&format!("{table}_subject"));
    // An insert of the write's record that takes over an expired row, never a live one.
    let insert = |values: &str| {
        format!(
            "INSERT INTO {t} AS s (id, version, expires_at, subject, issuer, data) {values} \
             ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, \
             expires_at = EXCLUDED.expires_at, subject = EXCLUDED.subject, \
             issuer = EXCLUDED.issuer, data = EXCLUDED.data \
             WHERE s.expires_at <= $7"
        )
    };
    let statements = Statements {
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
        create: format!("{} RETURNING 1", insert("VALUES ($1, $2, $3, $4, $5, $6)")),
        // One statement: the update, and the live row's version (a conflict, or no session).
        save: format!(
            "WITH live AS (SELECT version FROM {t} WHERE id = $1 AND expires_at > $7), \
             updated AS (UPDATE {t} SET version = $8, expires_at = $3, subject = $4, \
             issuer = $5, data = $6 WHERE id = $1 AND version = $2 AND expires_at > $7 \
             RETURNING version) \
             SELECT (SELECT version FROM updated) AS saved, \
             (SELECT version FROM live) AS live"
        ),
        touch: format!("UPDATE {t} SET expires_at = $2 WHERE id = $1 AND expires_at > $3"),
        delete: format!("DELETE FROM {t} WHERE id = $1"),
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
        table_state: "SELECT to_regclass($1) IS NOT NULL, EXISTS (SELECT 1 \
             FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'issuer' \
             AND attnum > 0 AND NOT attisdropped)"
            .to_owned(),
        // `migrate` adds the column (`ADD COLUMN IF NOT EXISTS`).
        add_issuer: None,
        legacy_issuers: format!(
            "SELECT id, version, data FROM {t} \
             WHERE subject IS NOT NULL AND issuer IS NULL AND position($1 IN data) > 0"
        ),
        backfill_issuer: format!(
            "UPDATE {t} SET issuer = $3 WHERE id = $1 AND version = $2 AND issuer IS NULL"
        ),
    };
    // The old row is locked first: a concurrent logout waits, and a session already ended
    // (gone or expired) is never recreated under the new ID.
    let cycle = format!(
        "WITH old AS (SELECT 1 FROM {t} WHERE id = $8 AND expires_at > $7 FOR UPDATE), \
         inserted AS ({} RETURNING 1), \
         deleted AS (DELETE FROM {t} WHERE id = $8 AND EXISTS (SELECT 1 FROM inserted)) \
         SELECT (SELECT count(*) FROM old), (SELECT count(*) FROM inserted)",
        insert("SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM old)")
    );
    (statements, cycle)
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
/// - [`sessions_of`](SessionStore::sessions_of) (soonest to expire first) and
///   [`delete_sessions_of`](SessionStore::delete_sessions_of) (one statement, so one atomic
///   step): `... WHERE subject = $subject AND issuer IS NOT DISTINCT FROM $issuer ...`, a
///   principal being an issuer and a subject (the subject's index narrows, the issuer
///   filters).
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
    core: SqlCore<Postgres>,
    schema: Arc<str>,
    table: Arc<str>,
    /// The statement of [`cycle`](SessionStore::cycle) (see [`statements`]).
    cycle: Arc<str>,
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
        let (statements, cycle) = statements(DEFAULT_SCHEMA, DEFAULT_TABLE);
        Self {
            core: SqlCore::new(pool, statements),
            schema: Arc::from(DEFAULT_SCHEMA),
            table: Arc::from(DEFAULT_TABLE),
            cycle: Arc::from(cycle),
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
        let (statements, cycle) = statements(schema, table);
        self.core.statements = Arc::new(statements);
        self.schema = Arc::from(schema);
        self.table = Arc::from(table);
        self.cycle = Arc::from(cycle);
        self
    }

    /// Stores a keyed hash (HMAC-SHA-256 under `key`) of each session ID instead of the ID
    /// (default: the ID itself), so that a leaked database holds no usable session IDs.
    ///
    /// Keep `key` secret and stable (32 random bytes): with another key, every stored session
    /// is unreachable. With hashed IDs, the records listed by
    /// [`sessions_of`](SessionStore::sessions_of) carry an all-zero `id`: the store does not
    /// know the real ones (`except`, and [`delete_sessions_of`](SessionStore::delete_sessions_of)
    /// with its `keep`, work as before).
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
        self.core.ids = IdHasher::keyed(key);
        self
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
        self.core.clock = clock;
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
        &self.core.pool
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
        &self.core.statements.migrate
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
        let mut connection = self
            .core
            .pool
            .acquire()
            .await
            .map_err(StoreError::backend)?;
        self.core.migrate(&mut connection, &table).await
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
        sql::spawn_cleanup(self.clone(), every)
    }
}

impl SessionStore for PostgresStore {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(self.core.load(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(self.core.create(record))
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            let next = next_version(record.version)?;
            let row = self
                .core
                .save(record, next)?
                .fetch_one(&self.core.pool)
                .await
                .map_err(StoreError::backend)?;
            let saved: Option<i64> = row.try_get(0).map_err(StoreError::decode)?;
            let live: Option<i64> = row.try_get(1).map_err(StoreError::decode)?;
            Ok(sql::save_outcome(saved.is_some(), live.is_some(), next))
        })
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(self.core.touch(id, expires_at))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(self.core.delete(id))
    }

    /// One statement: the old row locked, the new one inserted, the old one deleted.
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let row = self
                .core
                .write(&self.cycle, new)?
                .bind(self.core.ids.bytes(old))
                .fetch_one(&self.core.pool)
                .await
                .map_err(StoreError::backend)?;
            let old_live: i64 = row.try_get(0).map_err(StoreError::decode)?;
            let inserted: i64 = row.try_get(1).map_err(StoreError::decode)?;
            Ok(sql::cycle_outcome(old_live > 0, inserted > 0))
        })
    }

    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        StoreFuture::pending(self.core.cleanup_expired())
    }

    /// One `SELECT`, soonest to expire first.
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        StoreFuture::pending(self.core.sessions_of(issuer, subject, except))
    }

    /// One `DELETE`: atomic.
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        StoreFuture::pending(self.core.delete_sessions_of(issuer, subject, keep))
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("clock", &self.core.clock)
            .field("ids", &self.core.ids)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_in_every_statement() {
        let (statements, cycle) = statements("my\"schema", "t");
        assert!(statements.migrate.contains("\"my\"\"schema\".\"t\""));
        assert!(statements.load.contains("\"my\"\"schema\".\"t\""));
        assert!(cycle.contains("\"my\"\"schema\".\"t\""));
        assert!(statements.migrate.contains("\"t_expires_at\""));
    }
}
