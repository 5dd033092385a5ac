//! What [`PostgresStore`](crate::PostgresStore) and [`SqliteStore`](crate::SqliteStore)
//! share: one row per session (`id`, `version`, `expires_at`, `subject`, `issuer`, `data`),
//! the parameters of every statement, the statements both run the same way, rows read back
//! into records and outcomes, and the upgrade of a table created before the `issuer` column.
//!
//! Each engine keeps its SQL text in its own file (`postgres.rs`, `sqlite.rs`, a
//! [`Statements`] built for the configured table), and there what only it does: its save
//! and cycle (one statement in PostgreSQL, a `SELECT` or a transaction more in SQLite), and
//! how a migration is wrapped. The engines differ here only in how `expires_at` holds a point
//! in time ([`Engine`]).
//!
//! The parameters, numbered alike in both engines' SQL:
//!
//! | statement | parameters | row |
//! | --- | --- | --- |
//! | `load` | 1 id, 2 now | version, expires_at, data |
//! | `create` | a write: 1 id, 2 version, 3 expiry, 4 subject, 5 issuer, 6 data, 7 now | a row when created |
//! | `save` | a write, 8 the next version | the engine's |
//! | PostgreSQL's cycle | a write (the new record), 8 the old id | the engine's |
//! | `touch` | 1 id, 2 expiry, 3 now | |
//! | `delete` | 1 id | |
//! | `cleanup` | 1 now | |
//! | `of_principal` | 1 subject, 2 now, 3 issuer | id, version, expires_at, data |
//! | `delete_principal` | 1 subject, 2 now, 3 the kept id (or `NULL`), 4 issuer | |
//! | `table_state` | 1 the table's name, as the engine's catalogue takes it | exists, has `issuer` |
//! | `legacy_issuers` | 1 the bytes `"iss":` | id, version, data |
//! | `backfill_issuer` | 1 id, 2 version, 3 issuer | |
//!
//! IDs are the bytes of [`IdHasher::bytes`], subjects and issuers text (`NULL` for none),
//! versions signed 64-bit integers, data the bytes of [`encode`].

use std::sync::Arc;

use auth_core::{
    Clock, CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock,
    StoreError, StoreResult, SystemClock,
};
use sqlx::query::Query;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};
use time::OffsetDateTime;

use super::{IdHasher, decode, encode};

/// What a stored record naming an issuer contains (compact JSON, as [`encode`] writes it).
const LEGACY_ISSUER_NEEDLE: &[u8] = b"\"iss\":";

/// What differs between the engines in the shared statements: how the `expires_at` column
/// holds a point in time, and how a statement's result counts its rows.
pub(crate) trait Engine: Database {
    /// `expires_at`'s type, and "now"'s, as bound and read.
    type Time: for<'q> Encode<'q, Self> + for<'r> Decode<'r, Self> + Type<Self> + Send + Sync;

    /// A record's expiry as stored (records keep whole seconds).
    fn stored(at: OffsetDateTime) -> Self::Time;

    /// "Now" by `clock`, as compared with `expires_at`.
    fn now(clock: &dyn Clock) -> Self::Time;

    /// An expiry read back.
    ///
    /// # Errors
    ///
    /// When the stored value is no point in time.
    fn read(stored: Self::Time) -> StoreResult<OffsetDateTime>;

    /// How many rows a statement changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// The statements both engines run, in one engine's SQL for one table (see the table of
/// parameters above).
#[derive(Debug)]
pub(crate) struct Statements {
    /// Creates the table and its indexes (idempotent; PostgreSQL: also the schema, and the
    /// `issuer` column of an older table).
    pub(crate) migrate: String,
    pub(crate) load: String,
    pub(crate) create: String,
    pub(crate) save: String,
    pub(crate) touch: String,
    pub(crate) delete: String,
    pub(crate) cleanup: String,
    pub(crate) of_principal: String,
    pub(crate) delete_principal: String,
    pub(crate) table_state: String,
    /// Adds the `issuer` column to an older table, where `migrate` cannot (SQLite).
    pub(crate) add_issuer: Option<String>,
    /// The rows written before the `issuer` column that may name one; the record decides.
    pub(crate) legacy_issuers: String,
    /// Sets a row's issuer, only if it is still at the version that was read.
    pub(crate) backfill_issuer: String,
}

/// What both SQL stores hold. Clones share the pool and the statements.
pub(crate) struct SqlCore<DB: Database> {
    pub(crate) pool: Pool<DB>,
    pub(crate) statements: Arc<Statements>,
    /// "Now" for every expiry decision (never the database's `now()`).
    pub(crate) clock: SharedClock,
    /// What the `id` column holds: the ID or its keyed hash.
    pub(crate) ids: IdHasher,
}

impl<DB: Database> Clone for SqlCore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            statements: Arc::clone(&self.statements),
            clock: Arc::clone(&self.clock),
            ids: self.ids.clone(),
        }
    }
}

impl<DB: Database> SqlCore<DB> {
    /// On `pool` with `statements`, the system clock and plain IDs.
    pub(crate) fn new(pool: Pool<DB>, statements: Statements) -> Self {
        Self {
            pool,
            statements: Arc::new(statements),
            clock: Arc::new(SystemClock),
            ids: IdHasher::default(),
        }
    }
}

/// The statements both engines run the same way. The bounds say what sqlx must do for an
/// engine to run them (bind and read the column types of a session row); PostgreSQL and
/// SQLite do all of it.
impl<DB: Engine> SqlCore<DB>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    usize: ColumnIndex<DB::Row>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'r> bool: Decode<'r, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB>,
    for<'r> &'r [u8]: Decode<'r, DB>,
    [u8]: Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
{
    /// "Now" by the store's clock.
    pub(crate) fn now(&self) -> DB::Time {
        DB::now(&*self.clock)
    }

    /// The statement `sql` with the parameters of a write of `record` (1 to 7; see the
    /// table above). The caller binds the rest.
    pub(crate) fn write<'q>(
        &self,
        sql: &'q str,
        record: &'q SessionRecord,
    ) -> StoreResult<Query<'q, DB, DB::Arguments<'q>>> {
        Ok(sqlx::query::<DB>(sql)
            .bind(self.ids.bytes(&record.id))
            .bind(version_to_i64(record.version)?)
            .bind(DB::stored(record.expires_at))
            .bind(record.subject.as_deref())
            .bind(record.issuer.as_deref())
            .bind(encode(record)?)
            .bind(self.now()))
    }

    /// The engine's save statement with its parameters: a write of `record`, 8 `next`.
    pub(crate) fn save<'q>(
        &'q self,
        record: &'q SessionRecord,
        next: u64,
    ) -> StoreResult<Query<'q, DB, DB::Arguments<'q>>> {
        Ok(self
            .write(&self.statements.save, record)?
            .bind(version_to_i64(next)?))
    }

    pub(crate) async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let row = sqlx::query::<DB>(&self.statements.load)
            .bind(self.ids.bytes(id))
            .bind(self.now())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        row.map(|row| record_at::<DB>(*id, &row, 0)).transpose()
    }

    /// Create-if-absent: the statement takes over an expired row, never a live one.
    pub(crate) async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let row = self
            .write(&self.statements.create, record)?
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(create_outcome(row.is_some()))
    }

    pub(crate) async fn touch(
        &self,
        id: &SessionId,
        expires_at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let done = sqlx::query::<DB>(&self.statements.touch)
            .bind(self.ids.bytes(id))
            .bind(DB::stored(expires_at))
            .bind(self.now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(DB::rows_affected(&done) > 0)
    }

    pub(crate) async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        sqlx::query::<DB>(&self.statements.delete)
            .bind(self.ids.bytes(id))
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(())
    }

    pub(crate) async fn cleanup_expired(&self) -> StoreResult<u64> {
        let done = sqlx::query::<DB>(&self.statements.cleanup)
            .bind(self.now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(DB::rows_affected(&done))
    }

    /// The live sessions of the principal but `except`, soonest to expire first.
    pub(crate) async fn sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        except: Option<&SessionId>,
    ) -> StoreResult<Vec<SessionRecord>> {
        let rows = sqlx::query::<DB>(&self.statements.of_principal)
            .bind(subject)
            .bind(self.now())
            .bind(issuer)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        let except = except.map(|id| self.ids.bytes(id));
        let mut sessions = Vec::with_capacity(rows.len());
        for row in &rows {
            let stored: &[u8] = column(row, 0)?;
            if except.as_deref() != Some(stored) {
                sessions.push(record_at::<DB>(self.ids.id_of_bytes(stored)?, row, 1)?);
            }
        }
        Ok(sessions)
    }

    /// Deletes the live sessions of the principal but `keep`, in one statement.
    pub(crate) async fn delete_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: Option<&SessionId>,
    ) -> StoreResult<u64> {
        let done = sqlx::query::<DB>(&self.statements.delete_principal)
            .bind(subject)
            .bind(self.now())
            .bind(keep.map(|id| self.ids.bytes(id)))
            .bind(issuer)
            .execute(&self.pool)
            .await
            .map_err(StoreError::backend)?;
        Ok(DB::rows_affected(&done))
    }

    /// Creates the table if needed and upgrades one created before the `issuer` column, on
    /// `connection` (the engine wraps it: SQLite in a write transaction). `name` is the
    /// table's name as `table_state` takes it.
    ///
    /// The table's state is read before the migration SQL runs: only a table that existed
    /// without the column gets it (`add_issuer`, where the migration SQL cannot add it) and
    /// the backfill, once.
    pub(crate) async fn migrate(
        &self,
        connection: &mut DB::Connection,
        name: &str,
    ) -> StoreResult<()> {
        let (exists, has_issuer): (bool, bool) = sqlx::query_as(&self.statements.table_state)
            .bind(name)
            .fetch_one(&mut *connection)
            .await
            .map_err(StoreError::backend)?;
        sqlx::raw_sql(&self.statements.migrate)
            .execute(&mut *connection)
            .await
            .map_err(StoreError::backend)?;
        if exists && !has_issuer {
            if let Some(add_issuer) = &self.statements.add_issuer {
                sqlx::query::<DB>(add_issuer)
                    .execute(&mut *connection)
                    .await
                    .map_err(StoreError::backend)?;
            }
            self.backfill_issuers(connection).await?;
        }
        Ok(())
    }

    /// Sets the `issuer` column of rows written before it existed from their record JSON
    /// (decoded here, like every read: PostgreSQL's JSON functions refuse some valid records).
    /// Only a row still at the version that was read is updated (one saved meanwhile was
    /// written with its issuer); a row that does not decode cannot be loaded either and stays
    /// a local login.
    async fn backfill_issuers(&self, connection: &mut DB::Connection) -> StoreResult<()> {
        let rows = sqlx::query::<DB>(&self.statements.legacy_issuers)
            .bind(LEGACY_ISSUER_NEEDLE.to_vec())
            .fetch_all(&mut *connection)
            .await
            .map_err(StoreError::backend)?;
        for row in &rows {
            let (id, version, data): (&[u8], i64, &[u8]) =
                (column(row, 0)?, column(row, 1)?, column(row, 2)?);
            let Some(issuer) = serde_json::from_slice::<SessionRecord>(data)
                .ok()
                .and_then(|record| record.issuer)
            else {
                continue;
            };
            sqlx::query::<DB>(&self.statements.backfill_issuer)
                .bind(id.to_vec())
                .bind(version)
                .bind(issuer.as_str())
                .execute(&mut *connection)
                .await
                .map_err(StoreError::backend)?;
        }
        Ok(())
    }
}

/// Column `index` of `row`.
fn column<'r, DB, T>(row: &'r DB::Row, index: usize) -> StoreResult<T>
where
    DB: Database,
    usize: ColumnIndex<DB::Row>,
    T: Decode<'r, DB> + Type<DB>,
{
    row.try_get(index).map_err(StoreError::decode)
}

/// The record `id` from `row`'s columns `at..`: version, expires_at, data.
fn record_at<DB: Engine>(id: SessionId, row: &DB::Row, at: usize) -> StoreResult<SessionRecord>
where
    usize: ColumnIndex<DB::Row>,
    for<'r> i64: Decode<'r, DB> + Type<DB>,
    for<'r> &'r [u8]: Decode<'r, DB>,
    [u8]: Type<DB>,
{
    let version: i64 = column(row, at)?;
    let expires_at: DB::Time = column(row, at + 1)?;
    let data: &[u8] = column(row, at + 2)?;
    let version = u64::try_from(version).map_err(StoreError::decode)?;
    decode(id, version, DB::read(expires_at)?, data)
}

/// A create's outcome: whether its statement returned a row.
pub(crate) fn create_outcome(created: bool) -> CreateOutcome {
    if created {
        CreateOutcome::Created
    } else {
        CreateOutcome::IdTaken
    }
}

/// A save's outcome: whether the row was updated to `next`, else whether a live row has the
/// ID (at another version: a conflict).
pub(crate) fn save_outcome(saved: bool, live: bool, next: u64) -> SaveOutcome {
    match (saved, live) {
        (true, _) => SaveOutcome::Saved { version: next },
        (false, true) => SaveOutcome::Conflict,
        (false, false) => SaveOutcome::NotFound,
    }
}

/// A cycle's outcome: whether the old session was live, and whether the new one was created.
pub(crate) fn cycle_outcome(old_live: bool, created: bool) -> CreateOutcome {
    if old_live {
        create_outcome(created)
    } else {
        CreateOutcome::NotFound
    }
}

/// A version as a signed SQL integer.
pub(crate) fn version_to_i64(version: u64) -> StoreResult<i64> {
    i64::try_from(version).map_err(StoreError::encode)
}

/// `name` as a quoted SQL identifier: any text is safe.
pub(crate) fn quote_identifier(name: &str) -> String {
    let mut quoted = String::with_capacity(name.len() + 2);
    quoted.push('"');
    for c in name.chars() {
        if c == '"' {
            quoted.push('"');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Runs `store.cleanup_expired()` every `every` until aborted.
pub(crate) fn spawn_cleanup<S: SessionStore>(
    store: S,
    every: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.cleanup_expired().await {
                Ok(removed) => tracing::debug!(removed, "expired sessions removed"),
                Err(error) => tracing::warn!(%error, "expired-session cleanup failed"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_and_quotes_doubled() {
        assert_eq!(quote_identifier("sessions"), "\"sessions\"");
        assert_eq!(
            quote_identifier("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
    }
}
