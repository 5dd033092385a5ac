//! `SqliteStore`: sessions in an SQLite database file. The SQL text is here ([`statements`]);
//! what it shares with `PostgresStore` (the statements' parameters, rows read back, the table
//! upgrade) is in `sql.rs`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreFuture, StoreResult,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
};
use sqlx::{Executor, Sqlite, Transaction};
use time::OffsetDateTime;

use super::sql::{self, Engine, SqlCore, Statements, quote_identifier};
use super::{IdHasher, next_version};

/// The default table.
const DEFAULT_TABLE: &str = "auth_sessions";

/// `expires_at` is an integer, Unix seconds; so is "now".
impl Engine for Sqlite {
    type Time = i64;

    fn stored(at: OffsetDateTime) -> i64 {
        at.unix_timestamp()
    }

    fn now(clock: &dyn Clock) -> i64 {
        clock.unix_timestamp()
    }

    fn read(stored: i64) -> StoreResult<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(stored).map_err(StoreError::decode)
    }

    fn rows_affected(result: &SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The statements for `table`, and the check that a session is live (a save's conflict
/// check, a cycle's check of the old session). The parameters are numbered as `sql.rs` lists
/// them.
fn statements(table: &str) -> (Statements, String) {
    let t = quote_identifier(table);
    let expires_index = quote_identifier(&format!("{table}_expires_at"));
    let subject_index = quote_identifier(&format!("{table}_subject"));
    let statements = Statements {
        migrate: format!(
            "CREATE TABLE IF NOT EXISTS {t} (\n\
             \x20   id blob PRIMARY KEY NOT NULL,\n\
             \x20   version integer NOT NULL,\n\
             \x20   expires_at integer NOT NULL,\n\
             \x20   subject text,\n\
             \x20   issuer text,\n\
             \x20   data blob NOT NULL\n\
             ) WITHOUT ROWID;\n\
             CREATE INDEX IF NOT EXISTS {expires_index} ON {t} (expires_at);\n\
             CREATE INDEX IF NOT EXISTS {subject_index} ON {t} (subject) \
             WHERE subject IS NOT NULL;\n"
        ),
        load: format!(
            "SELECT version, expires_at, data FROM {t} WHERE id = ?1 AND expires_at > ?2"
        ),
        create: format!(
            "INSERT INTO {t} (id, version, expires_at, subject, issuer, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
             expires_at = excluded.expires_at, subject = excluded.subject, \
             issuer = excluded.issuer, data = excluded.data WHERE expires_at <= ?7 \
             RETURNING 1"
        ),
        // A row only when saved: SQLite has no data-modifying CTEs to read the live row too.
        save: format!(
            "UPDATE {t} SET version = ?8, expires_at = ?3, subject = ?4, issuer = ?5, \
             data = ?6 WHERE id = ?1 AND version = ?2 AND expires_at > ?7 RETURNING version"
        ),
        touch: format!("UPDATE {t} SET expires_at = ?2 WHERE id = ?1 AND expires_at > ?3"),
        delete: format!("DELETE FROM {t} WHERE id = ?1"),
        cleanup: format!("DELETE FROM {t} WHERE expires_at <= ?1"),
        of_principal: format!(
            "SELECT id, version, expires_at, data FROM {t} \
             WHERE subject = ?1 AND issuer IS ?3 AND expires_at > ?2 ORDER BY expires_at"
        ),
        delete_principal: format!(
            "DELETE FROM {t} WHERE subject = ?1 AND issuer IS ?4 AND expires_at > ?2 \
             AND (?3 IS NULL OR id <> ?3)"
        ),
        // ?1: the table's name (a parameter: any name is safe). Whether it has columns (none:
        // no such table), and whether one is `issuer`.
        table_state: "SELECT count(*) > 0, coalesce(sum(name = 'issuer'), 0) > 0 \
             FROM pragma_table_info(?1)"
            .to_owned(),
        // SQLite has no `ADD COLUMN IF NOT EXISTS`: run only when `table_state` found none.
        add_issuer: Some(format!("ALTER TABLE {t} ADD COLUMN issuer text")),
        legacy_issuers: format!(
            "SELECT id, version, data FROM {t} \
             WHERE subject IS NOT NULL AND issuer IS NULL AND instr(data, ?1) > 0"
        ),
        backfill_issuer: format!(
            "UPDATE {t} SET issuer = ?3 WHERE id = ?1 AND version = ?2 AND issuer IS NULL"
        ),
    };
    let live = format!("SELECT 1 FROM {t} WHERE id = ?1 AND expires_at > ?2");
    (statements, live)
}

/// A [`SessionStore`] in an SQLite database file: the embedded, persistent choice.
///
/// Create the table once with [`migrate`](Self::migrate). Expired rows are invisible at once
/// and removed by [`cleanup_expired`](SessionStore::cleanup_expired) (or
/// [`spawn_cleanup`](Self::spawn_cleanup)). See the design below for the statements.
/// It passes `auth_session::testkit`.
///
/// Clones share one connection pool. `Debug` shows the table, never IDs or data.
///
/// # Design
///
/// The embedded persistent store: sessions survive a restart and no server is needed, but
/// only the processes that open the same file share them. One row per session: `id blob`
/// (the 16 ID bytes, primary key), `version integer`, `expires_at integer` (Unix seconds),
/// `subject text` (indexed), `issuer text` (the [issuer](SessionRecord::issuer) of the
/// login, `NULL` for a local login) and `data blob` (the record as JSON, without its ID).
///
/// - `load`: one `SELECT ... WHERE id = ? AND expires_at > now`;
/// - `create`: `INSERT ... ON CONFLICT (id) DO UPDATE ... WHERE expires_at <= now`: a live
///   row is never touched, an expired one is taken over atomically;
/// - `save`: `UPDATE ... WHERE id = ? AND version = ? AND expires_at > now RETURNING`, and
///   only when nothing matched, a `SELECT` to tell a conflict from a missing session (SQLite
///   has no data-modifying CTEs);
/// - `cycle`: the insert and the delete of the old row in one `BEGIN IMMEDIATE` transaction;
/// - `cleanup_expired`: `DELETE ... WHERE expires_at <= now`;
/// - [`sessions_of`](SessionStore::sessions_of) (soonest to expire first) and
///   [`delete_sessions_of`](SessionStore::delete_sessions_of) (one statement, so one atomic
///   step): `... WHERE subject = ? AND issuer IS ? ...`, a principal being an issuer and a
///   subject (the subject's index narrows, the issuer filters).
///
/// The record JSON in `data` carries the issuer too (`iss`) and stays the source of truth:
/// every write sets the column from the same record, in the same statement. SQLite could read
/// the JSON itself (`json_extract`), but [`PostgresStore`](crate::PostgresStore) cannot be
/// trusted to (its JSON functions refuse any document holding `\u0000`), and both SQL stores
/// keep one layout. [`migrate`](Self::migrate) adds the column to a table created before it
/// (SQLite has no `ADD COLUMN IF NOT EXISTS`: the table's columns are read first, under the
/// write lock) and fills it once from the record JSON of the rows that name an issuer. Rows
/// without one, and every row written before issuers existed, are local logins: `NULL`.
///
/// [`SqliteStore::open`] uses WAL journaling and a 5 s busy timeout, so concurrent writers
/// wait for each other instead of failing. "Now" is the store's
/// [`Clock`](auth_core::Clock).
///
/// ```
/// use auth_core::{CreateOutcome, SessionId, SessionRecord, SessionStore};
/// use auth_session::SqliteStore;
/// use time::{Duration, OffsetDateTime};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("auth-session-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = SqliteStore::open(dir.join("sessions.db")).await?;
/// store.migrate().await?;
/// let now = OffsetDateTime::now_utc();
/// let record = SessionRecord::new(SessionId::generate()?, now, now + Duration::hours(1));
/// assert_eq!(store.create(&record).await?, CreateOutcome::Created);
/// assert!(store.load(&record.id).await?.is_some());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    core: SqlCore<Sqlite>,
    table: Arc<str>,
    /// Whether a session is live (see [`statements`]).
    live: Arc<str>,
}

impl SqliteStore {
    /// A store on `pool`, in the table `auth_sessions`, on the system clock.
    ///
    /// ```no_run
    /// use auth_session::SqliteStore;
    /// use auth_session::sqlx::sqlite::SqlitePoolOptions;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = SqlitePoolOptions::new().connect("sqlite://sessions.db?mode=rwc").await?;
    /// let store = SqliteStore::new(pool);
    /// # let _ = store;
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        let (statements, live) = statements(DEFAULT_TABLE);
        Self {
            core: SqlCore::new(pool, statements),
            table: Arc::from(DEFAULT_TABLE),
            live: Arc::from(live),
        }
    }

    /// Opens (creating it if missing) the database file at `path`, in WAL mode with a 5 s
    /// busy timeout.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("/var/lib/myapp/sessions.db").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when the file cannot be opened or created.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .connect_with(options)
            .await
            .map_err(StoreError::backend)?;
        Ok(Self::new(pool))
    }

    /// Sets the table (default `auth_sessions`). The name is quoted, so any text is safe.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?.with_table("web_sessions");
    /// assert_eq!(store.table(), "web_sessions");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_table(mut self, table: &str) -> Self {
        let (statements, live) = statements(table);
        self.core.statements = Arc::new(statements);
        self.table = Arc::from(table);
        self.live = Arc::from(live);
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
    /// let store = auth_session::SqliteStore::open("sessions.db").await?.with_hashed_ids(&key);
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
    /// let store = auth_session::SqliteStore::open("sessions.db")
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

    /// The table.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?;
    /// assert_eq!(store.table(), "auth_sessions");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The connection pool.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?;
    /// println!("{} connections", store.pool().size());
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.core.pool
    }

    /// The SQL that creates the table and its indexes (idempotent), for a migration tool. A
    /// table created by an earlier version lacks the `issuer` column, which this SQL cannot
    /// add idempotently: run [`migrate`](Self::migrate) once, or
    /// `ALTER TABLE <table> ADD COLUMN issuer text` (statements fail on a table without
    /// it, they never ignore it).
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?;
    /// assert!(store.migration_sql().contains("CREATE TABLE IF NOT EXISTS"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn migration_sql(&self) -> &str {
        &self.core.statements.migrate
    }

    /// Creates the table and its indexes if they do not exist, and upgrades a table created
    /// by an earlier version: adds the `issuer` column and fills it from the record JSON of
    /// the rows that name an issuer. One `BEGIN IMMEDIATE` transaction: idempotent, and safe
    /// to run from several processes at once.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] when a statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        // Under the write lock: two processes cannot both find the column missing.
        let mut tx = self.begin_immediate().await?;
        self.core.migrate(&mut tx, &self.table).await?;
        tx.commit().await.map_err(StoreError::backend)
    }

    /// Runs [`cleanup_expired`](SessionStore::cleanup_expired) every `every` on the tokio
    /// runtime, until the returned handle is aborted. Failures are logged with
    /// `tracing::warn!`.
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = auth_session::SqliteStore::open("sessions.db").await?;
    /// let cleanup = store.spawn_cleanup(std::time::Duration::from_secs(600));
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

    /// A `BEGIN IMMEDIATE` transaction: it holds the write lock from its start.
    async fn begin_immediate(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.core
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::backend)
    }

    /// Whether a live row has `id` (on `executor`: the pool, or a transaction).
    async fn is_live<'e>(
        &self,
        executor: impl Executor<'e, Database = Sqlite>,
        id: &SessionId,
    ) -> StoreResult<bool> {
        let row = sqlx::query::<Sqlite>(&self.live)
            .bind(self.core.ids.bytes(id))
            .bind(self.core.now())
            .fetch_optional(executor)
            .await
            .map_err(StoreError::backend)?;
        Ok(row.is_some())
    }
}

impl SessionStore for SqliteStore {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(self.core.load(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(self.core.create(record))
    }

    /// The update, and only when it matched nothing, the check that tells a conflict from a
    /// missing session.
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            let next = next_version(record.version)?;
            let saved = self
                .core
                .save(record, next)?
                .fetch_optional(&self.core.pool)
                .await
                .map_err(StoreError::backend)?
                .is_some();
            let live = saved || self.is_live(&self.core.pool, &record.id).await?;
            Ok(sql::save_outcome(saved, live, next))
        })
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(self.core.touch(id, expires_at))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(self.core.delete(id))
    }

    /// One `BEGIN IMMEDIATE` transaction: the old session checked, the new one created, the
    /// old one deleted.
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let mut tx = self.begin_immediate().await?;
            // Under the write lock: a session a logout or a revocation ended stays ended.
            let old_live = self.is_live(&mut *tx, old).await?;
            let created = old_live
                && self
                    .core
                    .write(&self.core.statements.create, new)?
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(StoreError::backend)?
                    .is_some();
            if created {
                sqlx::query::<Sqlite>(&self.core.statements.delete)
                    .bind(self.core.ids.bytes(old))
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::backend)?;
                tx.commit().await.map_err(StoreError::backend)?;
            } else {
                tx.rollback().await.map_err(StoreError::backend)?;
            }
            Ok(sql::cycle_outcome(old_live, created))
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

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("table", &self.table)
            .field("clock", &self.core.clock)
            .field("ids", &self.core.ids)
            .finish_non_exhaustive()
    }
}
