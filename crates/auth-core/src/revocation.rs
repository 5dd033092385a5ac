//! The revocation-list contract; documented on [`RevocationList`].

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::BoxError;

/// The claims of a verified token that revocation looks at, borrowed.
///
/// Every entry of a revocation list lives in the namespace of one issuer: a `jti`, a subject
/// or a session ID revoked for one issuer never revokes a token of another, whatever the
/// values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenRef<'a> {
    /// The token's `iss` (the trust entry that verified it): the namespace of every other
    /// field.
    pub issuer: &'a str,
    /// The token's `jti`.
    pub jti: Option<&'a str>,
    /// The token's `sub`.
    pub subject: Option<&'a str>,
    /// The session the token was minted for (`sid` claim), if any.
    pub session_id: Option<&'a str>,
    /// The token's `iat`, in seconds since the epoch.
    pub issued_at: Option<i64>,
}

/// What a revocation list says about one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationStatus {
    /// Not revoked, as far as the list knows.
    Active,
    /// Revoked; the variant says by which rule.
    Revoked(RevokedBy),
    /// The list cannot answer (its feed has been down longer than its staleness bound and it
    /// is configured to fail closed). Verifiers answer 503.
    Unavailable,
}

/// Which rule revoked a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevokedBy {
    /// Its `jti` was revoked.
    Token,
    /// Its subject was revoked for every token issued before an instant at or after its `iat`
    /// (or it has no `iat`).
    Subject,
    /// The session it was minted for was revoked.
    Session,
}

/// A revocation operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// The backend could not be reached or refused the write. The revocation did not happen
    /// (or is not known to have happened): tell the user logout failed.
    #[error("revocation backend failed: {0}")]
    Backend(#[source] BoxError),
    /// The list is full. Bounded lists refuse new entries rather than forget live ones.
    #[error("revocation list is full")]
    Full,
    /// This list does not support that kind of revocation.
    #[error("this revocation list does not support {0}")]
    Unsupported(&'static str),
}

/// Revoked tokens, subjects and sessions: logging out bearer tokens without a store lookup per
/// request.
///
/// A JWT is valid until it expires; a revocation list makes "log out" mean something. The
/// contract keeps the request path fast: [`RevocationList::status`] is a *synchronous* method,
/// so an implementation cannot make a network call while a request waits. Distributed
/// implementations keep a local mirror that a background task feeds (see `auth-jwt`).
///
/// Revocations are keyed on claims, never on the token string: ECDSA signatures are
/// malleable, so two different strings can carry the same signed claims. Every entry is
/// keyed on `(issuer, kind, value)`: two issuers may hand out the same `jti` or subject, and
/// logging one out must never touch the other.
///
/// Object safe: share one as `Arc<dyn RevocationList>`.
///
/// Entries are kept only as long as they matter: a `jti` until its token's `exp`, a subject
/// or session epoch until `retain_until` (pass the time when the last token it can affect
/// expires: the instant plus the longest token lifetime you issue).
#[async_trait]
pub trait RevocationList: std::fmt::Debug + Send + Sync + 'static {
    /// Whether `token` is revoked, answered from local memory only (no I/O, no await).
    ///
    /// Only entries of `token.issuer` apply. A subject revocation applies when the token has
    /// no `iat` or its `iat` is at or before the revocation instant (tokens issued in the same
    /// second as a "log out everywhere" are revoked too). When several subject revocations
    /// exist, the latest instant wins.
    fn status(&self, token: &TokenRef<'_>) -> RevocationStatus;

    /// Revokes the token of `issuer` with this `jti` until `expires_at` (its `exp`), after
    /// which the entry is dropped.
    ///
    /// # Errors
    ///
    /// [`RevocationError`] when the revocation could not be recorded.
    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), RevocationError>;

    /// Revokes every token of `issuer`'s `subject` issued at or before `issued_before` ("log
    /// out everywhere"), remembered until `retain_until`.
    ///
    /// Pass an `issued_before` that covers the verifier's leeway (now plus the leeway): a
    /// token whose `iat` lies ahead of the clock by less than the leeway is accepted, and must
    /// be revoked with the others. `auth_jwt::Logout` does this.
    ///
    /// # Errors
    ///
    /// [`RevocationError`] when the revocation could not be recorded.
    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError>;

    /// Revokes every token of `issuer` minted for session `session_id` (its `sid` claim),
    /// remembered until `retain_until`.
    ///
    /// The default refuses with [`RevocationError::Unsupported`].
    ///
    /// # Errors
    ///
    /// [`RevocationError`] when the revocation could not be recorded or is not supported.
    async fn revoke_session(
        &self,
        issuer: &str,
        session_id: &str,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        let _ = (issuer, session_id, retain_until);
        Err(RevocationError::Unsupported("session revocation"))
    }
}

#[async_trait]
impl<L: RevocationList + ?Sized> RevocationList for Arc<L> {
    fn status(&self, token: &TokenRef<'_>) -> RevocationStatus {
        (**self).status(token)
    }

    async fn revoke_token(
        &self,
        issuer: &str,
        jti: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        (**self).revoke_token(issuer, jti, expires_at).await
    }

    async fn revoke_subject(
        &self,
        issuer: &str,
        subject: &str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        (**self)
            .revoke_subject(issuer, subject, issued_before, retain_until)
            .await
    }

    async fn revoke_session(
        &self,
        issuer: &str,
        session_id: &str,
        retain_until: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        (**self)
            .revoke_session(issuer, session_id, retain_until)
            .await
    }
}
