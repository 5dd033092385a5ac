//! The session a request works on: a [`SessionRecord`] whose times are nanoseconds since the
//! Unix epoch.
//!
//! The layer decides expiry and touches with integer arithmetic on those nanoseconds; dates
//! are built only at the edges: at the store boundary ([`Working::from_record`],
//! [`Working::to_record`]) and for the [`Identity`](auth_core::Identity) of a logged-in
//! session.

use std::fmt;
use std::sync::Arc;

use auth_core::{SessionData, SessionId, SessionRecord};
use time::Duration;

use crate::unix_time::{date, duration};

/// A [`SessionRecord`] with its times as nanoseconds since the epoch (exact: every
/// `OffsetDateTime` is a whole number of nanoseconds).
#[derive(Clone, PartialEq)]
pub(crate) struct Working {
    pub(crate) id: SessionId,
    pub(crate) version: u64,
    pub(crate) created_at: i128,
    pub(crate) expires_at: i128,
    pub(crate) absolute_expires_at: Option<i128>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) subject: Option<String>,
    /// The issuer of the logged-in identity, if it has one: `subject` is a subject *of this
    /// issuer*. Shared with the identities built from this session.
    pub(crate) issuer: Option<Arc<str>>,
    pub(crate) roles: Vec<String>,
    pub(crate) data: Arc<SessionData>,
}

impl Working {
    /// A new session at version 1 with no subject and no data.
    pub(crate) fn new(id: SessionId, created_at: i128, expires_at: i128) -> Self {
        Self {
            id,
            version: 1,
            created_at,
            expires_at,
            absolute_expires_at: None,
            idle_timeout: None,
            subject: None,
            issuer: None,
            roles: Vec::new(),
            data: Arc::default(),
        }
    }

    /// `record`, with its times in nanoseconds.
    pub(crate) fn from_record(record: SessionRecord) -> Self {
        Self {
            id: record.id,
            version: record.version,
            created_at: record.created_at.unix_timestamp_nanos(),
            expires_at: record.expires_at.unix_timestamp_nanos(),
            absolute_expires_at: record
                .absolute_expires_at
                .map(time::OffsetDateTime::unix_timestamp_nanos),
            idle_timeout: record.idle_timeout,
            subject: record.subject,
            issuer: record.issuer.map(Arc::from),
            roles: record.roles,
            data: record.data,
        }
    }

    /// The record (times outside `OffsetDateTime`'s range saturate; the layer keeps its
    /// deadlines within it).
    pub(crate) fn to_record(&self) -> SessionRecord {
        let (created_at, expires_at) = (date(self.created_at), date(self.expires_at));
        let mut record = SessionRecord::new(self.id, created_at, expires_at);
        // `new` truncates to whole seconds: set the exact times.
        record.created_at = created_at;
        record.expires_at = expires_at;
        record.version = self.version;
        record.absolute_expires_at = self.absolute_expires_at.map(date);
        record.idle_timeout = self.idle_timeout;
        record.subject.clone_from(&self.subject);
        record.issuer = self.issuer.as_deref().map(str::to_owned);
        record.roles.clone_from(&self.roles);
        record.data = Arc::clone(&self.data);
        record
    }

    /// The data, for writing (copied first if it is shared, as with `SessionRecord`).
    pub(crate) fn data_mut(&mut self) -> &mut SessionData {
        Arc::make_mut(&mut self.data)
    }

    /// The `Max-Age` a cookie for this session carries at `now`: the time left, for a
    /// persistent ("remember me") session; none for a browser-session cookie.
    pub(crate) fn max_age(&self, now: i128) -> Option<Duration> {
        self.idle_timeout.map(|_| duration(self.expires_at - now))
    }
}

/// Like `SessionRecord`'s: the data's keys, never the ID or the values.
impl fmt::Debug for Working {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Working")
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("idle_timeout", &self.idle_timeout)
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("roles", &self.roles)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    #[test]
    fn records_round_trip_exactly() {
        let at = |s: i64, n: u32| {
            OffsetDateTime::from_unix_timestamp(s)
                .unwrap()
                .replace_nanosecond(n)
                .unwrap()
        };
        let mut record = SessionRecord::new(SessionId::from_bytes([7; 16]), at(10, 0), at(99, 0))
            .with_value("k", serde_json::json!("v"));
        record.version = 4;
        record.created_at = at(10, 5);
        record.absolute_expires_at = Some(at(1000, 999_999_999));
        record.idle_timeout = Some(Duration::new(30, 1));
        record.subject = Some("alice".into());
        record.issuer = Some("https://idp.example".into());
        record.roles = vec!["admin".into()];
        let working = Working::from_record(record.clone());
        assert_eq!(working.created_at, 10_000_000_005);
        assert_eq!(working.absolute_expires_at, Some(1_000_999_999_999));
        let back = working.to_record();
        assert_eq!(back.id, record.id);
        assert_eq!(back.version, 4);
        assert_eq!(back.created_at, record.created_at);
        assert_eq!(back.expires_at, record.expires_at);
        assert_eq!(back.absolute_expires_at, record.absolute_expires_at);
        assert_eq!(back.idle_timeout, record.idle_timeout);
        assert_eq!(back.subject, record.subject);
        assert_eq!(working.issuer.as_deref(), Some("https://idp.example"));
        assert_eq!(back.issuer, record.issuer);
        assert_eq!(back.roles, record.roles);
        assert!(
            Arc::ptr_eq(&back.data, &record.data),
            "data shared, not copied"
        );
    }

    #[test]
    fn max_age_only_for_persistent_sessions() {
        let mut working = Working::new(SessionId::from_bytes([1; 16]), 0, 5_000_000_000);
        assert_eq!(working.max_age(1_000_000_000), None);
        working.idle_timeout = Some(Duration::minutes(1));
        assert_eq!(working.max_age(1_000_000_000), Some(Duration::seconds(4)));
    }
}
