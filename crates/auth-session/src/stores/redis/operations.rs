//! What a `RedisStore` does: the [`SessionStore`] methods, the per-principal ones included,
//! each handed to the standalone implementation (`standalone.rs`) or the cluster one
//! (`cluster.rs`), by the connection the store was built with.

use auth_core::{CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreFuture};
use time::OffsetDateTime;

use super::shared::Principal;
use super::{RedisStore, cluster, standalone};
use crate::stores::next_version;

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

    /// In no particular order; index entries of sessions that are gone are pruned on the way.
    ///
    /// One round trip: a Lua script reads each indexed session's subject and the issuer in
    /// its record JSON. On a [Redis Cluster](RedisStore#redis-cluster): one script on the
    /// index, then one `HMGET` per indexed session (concurrently), each record compared once
    /// decoded; listing prunes only entries whose horizon is over (a deleted session's entry
    /// went with it), and is not one step (a session that changes ID meanwhile may be listed
    /// under both, or neither).
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        StoreFuture::pending(async move {
            let except = except.map(|id| self.core.member(id)).unwrap_or_default();
            let mut sessions = if self.is_cluster() {
                cluster::sessions_of(&self.core, subject, &except).await?
            } else {
                let principal = Principal::new(issuer, subject);
                standalone::sessions_of(&self.core, &principal, &except).await?
            };
            // The cluster's listing compares here, the standalone script compared already: the
            // record as decoded is the source of truth either way.
            sessions.retain(|record| record.issuer.as_deref() == issuer);
            Ok(sessions)
        })
    }

    /// One atomic script. On a [Redis Cluster](RedisStore#redis-cluster): one script on the
    /// index, then one script per indexed session (concurrently), each deleting its session
    /// only if it still belongs to the principal (its subject, and the issuer in its record
    /// JSON), then one `ZREM` of the revoked sessions' entries: not one step, so a login
    /// completing meanwhile may survive it.
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        StoreFuture::pending(async move {
            let principal = Principal::new(issuer, subject);
            let keep = keep.map(|id| self.core.member(id)).unwrap_or_default();
            if self.is_cluster() {
                cluster::delete_sessions_of(&self.core, &principal, &keep).await
            } else {
                standalone::delete_sessions_of(&self.core, &principal, &keep).await
            }
        })
    }
}
