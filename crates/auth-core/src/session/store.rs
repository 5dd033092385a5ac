//! The `SessionStore` trait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{SessionId, SessionRecord};
use crate::BoxError;

/// The result type of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// What [`SessionStore::create`] and [`SessionStore::cycle`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum CreateOutcome {
    /// The record was stored.
    Created,
    /// A live record already has this ID; nothing was written. Generate another ID.
    IdTaken,
    /// [`cycle`](SessionStore::cycle) only: the old record is no longer live (a logout or a
    /// revocation deleted it, or it expired), so nothing was written: a session that ended
    /// stays ended and is never recreated under a new ID.
    NotFound,
}

/// What [`SessionStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SaveOutcome {
    /// The record was written; it is now at this version (the loaded version plus one).
    Saved {
        /// The version the record has now.
        version: u64,
    },
    /// The stored record has another version: someone saved in between. Nothing was written;
    /// reload, re-apply the changes and try again.
    Conflict,
    /// No live record has this ID (deleted, expired or never created). Nothing was written:
    /// a deleted session is never recreated by a save.
    NotFound,
}

/// A backend that keeps session records: the contract `auth-session` needs.
///
/// A store keeps [`SessionRecord`]s under random [`SessionId`]s. The contract is written for
/// correctness under concurrency, where most session libraries lose data:
///
/// - **create-if-absent**: [`create`](Self::create) never overwrites an existing record, so a
///   colliding or client-chosen ID can never take over someone else's session;
/// - **versioned save**: [`save`](Self::save) writes only if the stored version is the one
///   the caller loaded, so a concurrent writer is detected instead of silently overwritten;
/// - **no resurrection**: saving or touching a record that was deleted fails, so a slow
///   request finishing after a logout cannot bring the session back;
/// - **expiry**: a record whose `expires_at` has passed is gone for every operation, whether
///   or not the backend has physically removed it yet.
///
/// `auth_session::testkit` checks all of this for any store.
///
/// Object safe: `Arc<dyn SessionStore>` is a store too. Every method takes `&self` and may be
/// called concurrently from many tasks; the atomicity each one promises is stated below.
///
/// # Expiry
///
/// A record with `expires_at <= now` is *gone*: `load` returns `None`, `save` and `touch`
/// report it missing, `create` may reuse its ID. Backends with native TTLs (Redis) let the
/// server drop it; others filter on read and physically remove it in
/// [`cleanup_expired`](Self::cleanup_expired). Stores that need "now" take a
/// [`Clock`](crate::Clock) at construction so tests can move time.
///
/// # Conformance
///
/// `auth_session::testkit` (feature `test-util`) runs the whole contract against any store.
#[async_trait]
pub trait SessionStore: std::fmt::Debug + Send + Sync + 'static {
    /// Returns the live record with this ID, or `None` when there is none (never created,
    /// deleted or expired).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the stored record cannot be decoded. The
    /// session layer answers 503: an error is never read as "anonymous".
    async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>>;

    /// Stores `record` only if no live record has its ID (create-if-absent), atomically.
    ///
    /// The record is stored as given, version included.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails; then nothing may have been written.
    async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome>;

    /// Replaces the live record with `record.id` if, and only if, its stored version equals
    /// `record.version`; the stored copy then gets `record.version + 1`. The check and the
    /// write are one atomic step.
    ///
    /// Never creates a record: when none is live, the answer is [`SaveOutcome::NotFound`]
    /// (a concurrent logout wins over a slow request).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails; then the outcome is unknown and the caller must
    /// not assume the write happened.
    async fn save(&self, record: &SessionRecord) -> StoreResult<SaveOutcome>;

    /// Moves the expiry of the live record `id` to `expires_at` without changing its data or
    /// version (the idle-timeout refresh of read-only traffic).
    ///
    /// Returns `false`, and writes nothing, when no live record has this ID. The caller is
    /// responsible for not moving the expiry past the record's absolute deadline.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool>;

    /// Deletes the record `id`. Deleting a missing record succeeds (idempotent).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails; then the record may still exist.
    async fn delete(&self, id: &SessionId) -> StoreResult<()>;

    /// Replaces session `old` by `new` (a new ID for the same session, after login): `new` is
    /// created first, then `old` is deleted, so there is never a moment with neither.
    ///
    /// Returns [`CreateOutcome::IdTaken`], and leaves `old` in place, when `new.id` is taken.
    /// Returns [`CreateOutcome::NotFound`], and writes nothing (or removes `new` again), when
    /// `old` is no longer live: a cycle never brings back a session that a logout or a
    /// revocation ended.
    ///
    /// The default implementation is [`create`](Self::create), a check that `old` is still
    /// live, then [`delete`](Self::delete) (or, when `old` is gone, a delete of `new`).
    /// A logout landing between that check and the delete is not seen; backends that can do
    /// the whole step atomically should override it.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails. If `new` was created but deleting `old` failed,
    /// the error is returned and both may exist until `old` expires.
    async fn cycle(&self, old: &SessionId, new: &SessionRecord) -> StoreResult<CreateOutcome> {
        match self.create(new).await? {
            CreateOutcome::Created => {}
            other => return Ok(other),
        }
        if self.load(old).await?.is_none() {
            self.delete(&new.id).await?;
            return Ok(CreateOutcome::NotFound);
        }
        self.delete(old).await?;
        Ok(CreateOutcome::Created)
    }

    /// Physically removes expired records and returns how many were removed.
    ///
    /// Stores whose backend expires records by itself keep the default, which does nothing
    /// and returns 0.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    async fn cleanup_expired(&self) -> StoreResult<u64> {
        Ok(0)
    }
}

/// The future of a forwarded store call: the inner store's own (boxed) future.
type Forwarded<'a, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>;

// Written out rather than with `#[async_trait]`, which would box a second future around the
// inner store's: a store behind an `Arc` costs what the store costs, nothing more.
impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'s, 'i, 'f>(&'s self, id: &'i SessionId) -> Forwarded<'f, Option<SessionRecord>>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).load(id)
    }

    fn create<'s, 'r, 'f>(&'s self, record: &'r SessionRecord) -> Forwarded<'f, CreateOutcome>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).create(record)
    }

    fn save<'s, 'r, 'f>(&'s self, record: &'r SessionRecord) -> Forwarded<'f, SaveOutcome>
    where
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        (**self).save(record)
    }

    fn touch<'s, 'i, 'f>(
        &'s self,
        id: &'i SessionId,
        expires_at: OffsetDateTime,
    ) -> Forwarded<'f, bool>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).touch(id, expires_at)
    }

    fn delete<'s, 'i, 'f>(&'s self, id: &'i SessionId) -> Forwarded<'f, ()>
    where
        's: 'f,
        'i: 'f,
        Self: 'f,
    {
        (**self).delete(id)
    }

    fn cycle<'s, 'o, 'n, 'f>(
        &'s self,
        old: &'o SessionId,
        new: &'n SessionRecord,
    ) -> Forwarded<'f, CreateOutcome>
    where
        's: 'f,
        'o: 'f,
        'n: 'f,
        Self: 'f,
    {
        (**self).cycle(old, new)
    }

    fn cleanup_expired<'s, 'f>(&'s self) -> Forwarded<'f, u64>
    where
        's: 'f,
        Self: 'f,
    {
        (**self).cleanup_expired()
    }
}

/// A store operation failed. The session layer answers 503 and logs the cause.
///
/// Backend crates convert their client errors with [`StoreError::backend`] (or `From`, where
/// they implement it). Messages never contain session IDs or data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend could not be reached or answered with an error.
    #[error("session store backend failed: {0}")]
    Backend(#[source] BoxError),
    /// A record could not be encoded for the backend.
    #[error("session record could not be encoded: {0}")]
    Encode(#[source] BoxError),
    /// A stored record could not be decoded.
    #[error("stored session record could not be decoded: {0}")]
    Decode(#[source] BoxError),
}

impl StoreError {
    /// Wraps a backend (connection, protocol, server) error.
    pub fn backend(error: impl Into<BoxError>) -> Self {
        Self::Backend(error.into())
    }

    /// Wraps an encoding error.
    pub fn encode(error: impl Into<BoxError>) -> Self {
        Self::Encode(error.into())
    }

    /// Wraps a decoding error.
    pub fn decode(error: impl Into<BoxError>) -> Self {
        Self::Decode(error.into())
    }
}
