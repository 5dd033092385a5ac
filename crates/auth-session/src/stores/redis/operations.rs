//! What a `RedisStore` does: the [`SessionStore`] methods and the per-principal ones, each
//! handed to the standalone implementation (`standalone.rs`) or the cluster one
//! (`cluster.rs`), by the connection the store was built with.

use auth_core::{
    CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreFuture, StoreResult,
};
use time::OffsetDateTime;

use super::shared::Principal;
use super::{RedisStore, cluster, standalone};
use crate::stores::next_version;

impl RedisStore {
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
    /// [`StoreError`](auth_core::StoreError) when Redis fails or a record cannot be decoded.
    pub async fn sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
    ) -> StoreResult<Vec<SessionRecord>> {
        let mut sessions = if self.is_cluster() {
            cluster::sessions_of(&self.core, subject).await?
        } else {
            standalone::sessions_of(&self.core, &Principal::new(issuer, subject)).await?
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
    /// [`StoreError::Backend`](auth_core::StoreError::Backend) when Redis fails.
    pub async fn delete_sessions_of(
        &self,
        issuer: Option<&str>,
        subject: &str,
        keep: Option<&SessionId>,
    ) -> StoreResult<u64> {
        let principal = Principal::new(issuer, subject);
        let keep = keep.map(|id| self.core.member(id)).unwrap_or_default();
        if self.is_cluster() {
            cluster::delete_sessions_of(&self.core, &principal, &keep).await
        } else {
            standalone::delete_sessions_of(&self.core, &principal, &keep).await
        }
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(self.core.load(id))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let write = self.core.write(record)?;
            if self.is_cluster() {
                cluster::create(&self.core, &write).await
            } else {
                standalone::create(&self.core, &write).await
            }
        })
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            let next = next_version(record.version)?;
            let write = self.core.write(record)?;
            if self.is_cluster() {
                cluster::save(&self.core, &write, next).await
            } else {
                standalone::save(&self.core, &write, next).await
            }
        })
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move {
            let session = self.core.session(id);
            if self.is_cluster() {
                cluster::touch(&self.core, &session, expires_at).await
            } else {
                standalone::touch(&self.core, &session, expires_at).await
            }
        })
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move {
            let session = self.core.session(id);
            if self.is_cluster() {
                cluster::delete(&self.core, &session).await
            } else {
                standalone::delete(&self.core, &session).await
            }
        })
    }

    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            let (old, new) = (self.core.session(old), self.core.write(new)?);
            if self.is_cluster() {
                cluster::cycle(&self.core, &old, &new).await
            } else {
                standalone::cycle(&self.core, &old, &new).await
            }
        })
    }
}
