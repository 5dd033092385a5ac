//! The `SessionStore` trait, and the [`StoreFuture`] its methods return.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

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

/// What a [`SessionStore`] method returns: the answer itself, or a future of it.
///
/// A store that answers without waiting (an in-process store such as `auth_session`'s
/// `MemoryStore`) returns [`StoreFuture::ready`]; a store that does I/O returns
/// [`StoreFuture::pending`] with an `async` block. Either way the caller `.await`s it. The
/// difference is what the session layer can do with a ready answer: settle the request at
/// once, without allocating or keeping a future, whatever wraps the store (`Arc`, `Box<dyn>`,
/// a cache). Every store, built in or third-party, gets that by answering `ready`.
///
/// **A pending future must do nothing until it is first polled** (an `async` block does
/// nothing before; a handle to a task spawned eagerly would be wrong): the session layer may
/// drop an unpolled one and call the method again from another task.
///
/// ```
/// use auth_core::{StoreFuture, StoreResult};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> StoreResult<()> {
/// let now: StoreFuture<'_, u32> = StoreFuture::ready(Ok(1));
/// let later: StoreFuture<'_, u32> = StoreFuture::pending(async { Ok(2) });
/// assert!(now.is_ready() && !later.is_ready());
/// assert_eq!(now.await? + later.await?, 3);
/// # Ok(())
/// # }
/// ```
#[must_use = "a store call does nothing unless awaited"]
pub struct StoreFuture<'a, T> {
    inner: Answer<'a, T>,
}

enum Answer<'a, T> {
    /// Taken by the first poll.
    Ready(Option<StoreResult<T>>),
    Pending(Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 'a>>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// The answer, available at once.
    pub fn ready(result: StoreResult<T>) -> Self {
        Self {
            inner: Answer::Ready(Some(result)),
        }
    }

    /// An answer to wait for (boxed). `future` must do nothing before it is first polled.
    pub fn pending(future: impl Future<Output = StoreResult<T>> + Send + 'a) -> Self {
        Self {
            inner: Answer::Pending(Box::pin(future)),
        }
    }

    /// Whether the answer is here already ([`ready`](Self::ready)).
    pub fn is_ready(&self) -> bool {
        matches!(self.inner, Answer::Ready(Some(_)))
    }

    /// The answer, when the store gave it at once; otherwise the future, not yet polled by
    /// this call.
    ///
    /// # Errors
    ///
    /// `Err(self)` when the answer is not ready.
    pub fn into_ready(self) -> Result<StoreResult<T>, Self> {
        match self.inner {
            Answer::Ready(Some(result)) => Ok(result),
            inner => Err(Self { inner }),
        }
    }

    /// Maps the answer, keeping it ready when it is.
    pub fn map<U>(self, f: impl FnOnce(T) -> U + Send + 'a) -> StoreFuture<'a, U>
    where
        T: 'a,
    {
        match self.inner {
            Answer::Ready(Some(result)) => StoreFuture::ready(result.map(f)),
            Answer::Ready(None) => StoreFuture::ready(Err(StoreError::backend(
                "store future polled after completion",
            ))),
            Answer::Pending(future) => StoreFuture::pending(async move { future.await.map(f) }),
        }
    }
}

impl<T: Unpin> Future for StoreFuture<'_, T> {
    type Output = StoreResult<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().inner {
            Answer::Ready(result) => Poll::Ready(result.take().unwrap_or_else(|| {
                Err(StoreError::backend("store future polled after completion"))
            })),
            Answer::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreFuture")
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
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
/// # Writing a store
///
/// Each method returns a [`StoreFuture`]: [`StoreFuture::ready`] when the store has the answer
/// without waiting, [`StoreFuture::pending`] around an `async` block otherwise. Answer `ready`
/// whenever you can: the session layer then settles a request with no future to allocate or
/// keep (`auth_session`'s `MemoryStore` does this for every call).
///
/// ```
/// use auth_core::{
///     CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreFuture,
/// };
/// use time::OffsetDateTime;
///
/// /// Forgets everything: a store that never finds a session (for the example only).
/// #[derive(Debug)]
/// struct Forgetful;
///
/// impl SessionStore for Forgetful {
///     fn load<'a>(&'a self, _: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
///         StoreFuture::ready(Ok(None))
///     }
///     fn create<'a>(&'a self, _: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
///         StoreFuture::ready(Ok(CreateOutcome::Created))
///     }
///     fn save<'a>(&'a self, _: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
///         StoreFuture::ready(Ok(SaveOutcome::NotFound))
///     }
///     fn touch<'a>(&'a self, _: &'a SessionId, _: OffsetDateTime) -> StoreFuture<'a, bool> {
///         StoreFuture::ready(Ok(false))
///     }
///     fn delete<'a>(&'a self, _: &'a SessionId) -> StoreFuture<'a, ()> {
///         // A store doing I/O answers later, from an `async` block:
///         StoreFuture::pending(async { Ok(()) })
///     }
/// }
/// # let _ = Forgetful;
/// ```
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
pub trait SessionStore: fmt::Debug + Send + Sync + 'static {
    /// Returns the live record with this ID, or `None` when there is none (never created,
    /// deleted or expired).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails or the stored record cannot be decoded. The
    /// session layer answers 503: an error is never read as "anonymous".
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>>;

    /// Stores `record` only if no live record has its ID (create-if-absent), atomically.
    ///
    /// The record is stored as given, version included.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails; then nothing may have been written.
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome>;

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
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome>;

    /// Moves the expiry of the live record `id` to `expires_at` without changing its data or
    /// version (the idle-timeout refresh of read-only traffic).
    ///
    /// Returns `false`, and writes nothing, when no live record has this ID. The caller is
    /// responsible for not moving the expiry past the record's absolute deadline.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool>;

    /// Deletes the record `id`. Deleting a missing record succeeds (idempotent).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails; then the record may still exist.
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()>;

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
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
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
        })
    }

    /// Physically removes expired records and returns how many were removed.
    ///
    /// Stores whose backend expires records by itself keep the default, which does nothing
    /// and returns 0.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the backend fails.
    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        StoreFuture::ready(Ok(0))
    }
}

impl<S: SessionStore + ?Sized> SessionStore for Arc<S> {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        (**self).load(id)
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        (**self).create(record)
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        (**self).save(record)
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        (**self).touch(id, expires_at)
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        (**self).delete(id)
    }

    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        (**self).cycle(old, new)
    }

    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
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
