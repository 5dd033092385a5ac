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
/// Beyond what the session layer needs for a request, a store may keep a per-principal index:
/// [`sessions_of`](Self::sessions_of) lists a user's sessions ("your devices") and
/// [`delete_sessions_of`](Self::delete_sessions_of) ends them ("log out everywhere else").
/// Both have default implementations that answer [`StoreError::Unsupported`]; every store of
/// `auth_session` implements them.
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

    /// The live sessions of one principal, `issuer` + `subject`, except the session `except`
    /// (pass the caller's own session to list the *other* ones; `None` lists them all). In
    /// no particular order, unless the store documents one.
    ///
    /// A record is listed when it is live (not expired by the store's clock), its
    /// [`subject`](SessionRecord::subject) is `subject` and its
    /// [`issuer`](SessionRecord::issuer) is `issuer`, both compared exactly. Anonymous
    /// sessions (no subject) are never listed. Each listed record is whole, as the store held
    /// it at one moment (never half of one write and half of another); a session logged in,
    /// cycled or deleted while the listing runs is listed under its old ID, under its new ID
    /// or not at all, never twice (stores whose listing is not one step say so).
    ///
    /// **IDs.** A listed record's [`id`](SessionRecord::id) is the session's ID where the store
    /// keeps IDs, and all zeros where it keeps only a keyed hash of them (hashed IDs at rest):
    /// it cannot know them. Never act on a listed ID, and never hand one out: a session ID is
    /// the bearer credential of that session. End sessions with
    /// [`delete_sessions_of`](Self::delete_sessions_of); `except` works with hashed IDs too
    /// (the store hashes it).
    ///
    /// The default implementation answers [`StoreError::Unsupported`]: a store without a
    /// per-principal index.
    ///
    /// # Security
    ///
    /// A principal is an issuer and a subject, as in
    /// [`Identity::same_principal`](crate::Identity::same_principal): `bob` of one identity
    /// provider, `bob` of another and a local `bob` are three users, and this lists the
    /// sessions (and data) of one of them only. `issuer: None` means a local login, with no
    /// issuer, **not** "any issuer": it lists no session that was logged in through one. Pass
    /// [`Identity::issuer`](crate::Identity::issuer) and
    /// [`Identity::subject`](crate::Identity::subject) of the user whose sessions you mean.
    /// Stores compare both exactly (no prefix match, no case folding, no normalisation).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] from a store without a per-principal index;
    /// [`StoreError`] when the backend fails or a record cannot be decoded.
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        let _ = (issuer, subject, except);
        StoreFuture::ready(Err(StoreError::Unsupported("sessions_of")))
    }

    /// Deletes every live session of one principal, `issuer` + `subject`, except the session
    /// `keep` ("log out everywhere else"; `None` logs out everywhere), and returns how many
    /// it deleted.
    ///
    /// The principal's sessions are matched as in [`sessions_of`](Self::sessions_of). Each is
    /// deleted as by [`delete`](Self::delete): a later save or touch of it is `NotFound`, and
    /// a slow request cannot bring it back. Expired sessions are not counted. `keep` works
    /// with hashed IDs too (the store hashes it); a `keep` that is not the principal's
    /// changes nothing.
    ///
    /// **Atomicity.** Every session of the principal that was live when the call began, and
    /// that nothing changes meanwhile, is gone when it returns; each session is deleted and
    /// counted whole, or left whole. Whether the whole revocation is one step depends on the
    /// store, and is documented there (one statement or script in the SQL and standalone
    /// Redis stores; on a Redis Cluster one step per session): where it is not, a session
    /// logged in as the principal while it runs may survive it, like a login just after it.
    ///
    /// The default implementation answers [`StoreError::Unsupported`] and deletes nothing.
    ///
    /// # Security
    ///
    /// Only that principal's sessions end, the principal being an issuer and a subject as in
    /// [`sessions_of`](Self::sessions_of): `issuer: None` is a local login, **not** "any
    /// issuer", so logging a user out everywhere takes the issuer of *their* identity and
    /// never ends `bob` of another issuer, or a local `bob`. A session that was logged in
    /// again as someone else is no longer this principal's and is left alone.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unsupported`] from a store without a per-principal index;
    /// [`StoreError`] when the backend fails: then some of the sessions may be deleted.
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        let _ = (issuer, subject, keep);
        StoreFuture::ready(Err(StoreError::Unsupported("delete_sessions_of")))
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

    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        (**self).sessions_of(issuer, subject, except)
    }

    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        (**self).delete_sessions_of(issuer, subject, keep)
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
    /// The store does not offer this operation (it names the method, e.g. `"sessions_of"`):
    /// what the default implementations of the optional methods answer. Not a failure of the
    /// backend: asking again will not help.
    #[error("the session store does not support {0}")]
    Unsupported(&'static str),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A store with the required methods only (they are never called here).
    #[derive(Debug)]
    struct Minimal;

    impl SessionStore for Minimal {
        fn load<'a>(&'a self, _: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
            StoreFuture::ready(Ok(None))
        }
        fn create<'a>(&'a self, _: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
            StoreFuture::ready(Ok(CreateOutcome::Created))
        }
        fn save<'a>(&'a self, _: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
            StoreFuture::ready(Ok(SaveOutcome::NotFound))
        }
        fn touch<'a>(&'a self, _: &'a SessionId, _: OffsetDateTime) -> StoreFuture<'a, bool> {
            StoreFuture::ready(Ok(false))
        }
        fn delete<'a>(&'a self, _: &'a SessionId) -> StoreFuture<'a, ()> {
            StoreFuture::ready(Ok(()))
        }
    }

    #[test]
    fn the_per_principal_methods_default_to_unsupported_at_once_and_through_an_arc() {
        let id = SessionId::from_bytes([1; 16]);
        let stores: [Arc<dyn SessionStore>; 2] = [Arc::new(Minimal), Arc::new(Arc::new(Minimal))];
        for store in &stores {
            let listed = store.sessions_of(None, "bob", Some(&id));
            assert!(listed.is_ready(), "nothing to wait for");
            assert!(matches!(
                listed.into_ready(),
                Ok(Err(StoreError::Unsupported("sessions_of")))
            ));
            let deleted = store.delete_sessions_of(Some("https://idp.example"), "bob", None);
            assert!(matches!(
                deleted.into_ready(),
                Ok(Err(StoreError::Unsupported("delete_sessions_of")))
            ));
        }
        assert_eq!(
            StoreError::Unsupported("sessions_of").to_string(),
            "the session store does not support sessions_of"
        );
    }
}
