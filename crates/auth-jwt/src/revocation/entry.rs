//! What both revocation lists record: the [`Kind`] of an entry, and one [`Revocation`] built
//! from the arguments of a `revoke_*` method (the same way for the memory and the Redis list,
//! so the two agree on what a revocation means).

use time::OffsetDateTime;

/// What an entry revokes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A `jti`.
    Token = 0,
    /// A subject, for tokens issued at or before the epoch.
    Subject = 1,
    /// A session id (`sid` claim).
    Session = 2,
}

/// One revocation: `(kind, issuer, id)` with its epoch, kept until `until` (plus the list's
/// grace period).
#[derive(Clone, Copy)]
pub(super) struct Revocation<'a> {
    /// What it revokes.
    pub(super) kind: Kind,
    /// The issuer whose namespace it lives in.
    pub(super) issuer: &'a str,
    /// The `jti`, subject or session id.
    pub(super) id: &'a str,
    /// For a subject: tokens with `iat <= epoch` are revoked. 0 for the other kinds.
    pub(super) epoch: i64,
    /// Unix seconds until which it matters: the token's `exp`, or `retain_until`.
    pub(super) until: i64,
}

impl<'a> Revocation<'a> {
    /// What [`revoke_token`](auth_core::RevocationList::revoke_token) records.
    pub(super) fn token(issuer: &'a str, jti: &'a str, expires_at: OffsetDateTime) -> Self {
        Self {
            kind: Kind::Token,
            issuer,
            id: jti,
            epoch: 0,
            until: expires_at.unix_timestamp(),
        }
    }

    /// What [`revoke_subject`](auth_core::RevocationList::revoke_subject) records.
    pub(super) fn subject(
        issuer: &'a str,
        subject: &'a str,
        issued_before: OffsetDateTime,
        retain_until: OffsetDateTime,
    ) -> Self {
        Self {
            kind: Kind::Subject,
            issuer,
            id: subject,
            epoch: issued_before.unix_timestamp(),
            until: retain_until.unix_timestamp(),
        }
    }

    /// What [`revoke_session`](auth_core::RevocationList::revoke_session) records.
    pub(super) fn session(
        issuer: &'a str,
        session_id: &'a str,
        retain_until: OffsetDateTime,
    ) -> Self {
        Self {
            kind: Kind::Session,
            issuer,
            id: session_id,
            epoch: 0,
            until: retain_until.unix_timestamp(),
        }
    }
}
