//! What a `MemoryStore` keeps per session: the compact [`Entry`] made from a
//! `SessionRecord`, and back.

use std::sync::Arc;

use auth_core::{SessionData, SessionId, SessionRecord, StoreError, StoreResult};
use time::{Duration, OffsetDateTime};

/// `absolute_expires_at` is `None`. No `OffsetDateTime` has this timestamp.
const NO_DEADLINE: i64 = i64::MAX;
/// `idle_timeout` is `None`. A timeout of exactly `i64::MIN` seconds is kept as `MIN + 1`.
const NO_TIMEOUT: i64 = i64::MIN;

/// What the store keeps per session: 56 bytes, plus a box only when someone is logged in
/// (48 bytes: subject, issuer and roles, plus their text).
pub(super) struct Entry {
    version: u64,
    created_at: i64,
    pub(super) expires_at: i64,
    absolute_expires_at: i64,
    idle_timeout: i64,
    /// Never an empty map. Inline rather than in the login box: most sessions that hold data
    /// have no subject, and a create then allocates nothing for the entry.
    data: Option<Arc<SessionData>>,
    login: Option<Box<Login>>,
}

/// Who is logged in, when someone is: the principal (issuer and subject) and its roles.
struct Login {
    subject: Option<Box<str>>,
    /// The issuer of the logged-in identity, if it has one.
    issuer: Option<Box<str>>,
    /// The logged-in subject's roles.
    roles: Box<[Box<str>]>,
}

impl Login {
    fn of(record: &SessionRecord) -> Option<Box<Self>> {
        if is_anonymous(record) {
            return None;
        }
        Some(Box::new(Self {
            subject: record.subject.as_deref().map(Box::<str>::from),
            issuer: record.issuer.as_deref().map(Box::<str>::from),
            roles: record.roles.iter().map(|r| Box::from(r.as_str())).collect(),
        }))
    }

    fn matches(&self, record: &SessionRecord) -> bool {
        let roles = &record.roles;
        self.subject.as_deref() == record.subject.as_deref()
            && self.issuer.as_deref() == record.issuer.as_deref()
            && self.roles.len() == roles.len()
            && self.roles.iter().zip(roles).all(|(a, b)| **a == **b)
    }

    fn subject(&self) -> Option<String> {
        self.subject.as_deref().map(str::to_owned)
    }

    fn roles(&self) -> Vec<String> {
        self.roles.iter().map(|r| r.to_string()).collect()
    }
}

impl Entry {
    /// The compact form of `record`, at `version`. Shares the record's data (no copy).
    pub(super) fn from_record(record: &SessionRecord, version: u64) -> Self {
        let (created_at, expires_at, absolute_expires_at) = seconds(record);
        Self {
            version,
            created_at,
            expires_at,
            absolute_expires_at: absolute_expires_at.unwrap_or(NO_DEADLINE),
            idle_timeout: record
                .idle_timeout
                .map_or(NO_TIMEOUT, |t| t.whole_seconds().max(NO_TIMEOUT + 1)),
            data: (!record.data.is_empty()).then(|| Arc::clone(&record.data)),
            login: Login::of(record),
        }
    }

    /// Makes this entry the compact form of `record` at `version`, keeping its login box when
    /// the login did not change.
    pub(super) fn assign(&mut self, record: &SessionRecord, version: u64) {
        let (created_at, expires_at, absolute_expires_at) = seconds(record);
        self.version = version;
        self.created_at = created_at;
        self.expires_at = expires_at;
        self.absolute_expires_at = absolute_expires_at.unwrap_or(NO_DEADLINE);
        self.idle_timeout = record
            .idle_timeout
            .map_or(NO_TIMEOUT, |t| t.whole_seconds().max(NO_TIMEOUT + 1));
        self.data = (!record.data.is_empty()).then(|| Arc::clone(&record.data));
        let unchanged = match &self.login {
            Some(login) => login.matches(record),
            None => is_anonymous(record),
        };
        if !unchanged {
            self.login = Login::of(record);
        }
    }

    pub(super) const fn version(&self) -> u64 {
        self.version
    }

    /// Whether the principal `issuer` + `subject` is logged in (both compared exactly; an
    /// `issuer` of `None` matches a login without one only).
    pub(super) fn is_of(&self, issuer: Option<&str>, subject: &str) -> bool {
        self.login.as_deref().is_some_and(|login| {
            login.subject.as_deref() == Some(subject) && login.issuer.as_deref() == issuer
        })
    }

    /// The full record. Allocates only for the subject; the data is shared.
    pub(super) fn to_record(&self, id: SessionId) -> StoreResult<SessionRecord> {
        let mut record =
            SessionRecord::new(id, timestamp(self.created_at)?, timestamp(self.expires_at)?)
                .with_version(self.version);
        if self.absolute_expires_at != NO_DEADLINE {
            record.absolute_expires_at = Some(timestamp(self.absolute_expires_at)?);
        }
        if self.idle_timeout != NO_TIMEOUT {
            record.idle_timeout = Some(Duration::seconds(self.idle_timeout));
        }
        if let Some(login) = &self.login {
            record.subject = login.subject();
            record.issuer = login.issuer.as_deref().map(str::to_owned);
            record.roles = login.roles();
        }
        if let Some(data) = &self.data {
            record.data = Arc::clone(data);
        }
        Ok(record)
    }
}

/// The record's times in whole Unix seconds (rounded down, as stores keep them).
fn seconds(record: &SessionRecord) -> (i64, i64, Option<i64>) {
    (
        record.created_at.unix_timestamp(),
        record.expires_at.unix_timestamp(),
        record
            .absolute_expires_at
            .map(OffsetDateTime::unix_timestamp),
    )
}

/// Whether `record` has nobody logged in (no subject, issuer or roles): no login box.
fn is_anonymous(record: &SessionRecord) -> bool {
    record.subject.is_none() && record.issuer.is_none() && record.roles.is_empty()
}

fn timestamp(seconds: i64) -> StoreResult<OffsetDateTime> {
    // Every stored value came from an `OffsetDateTime`, so this cannot fail in practice.
    OffsetDateTime::from_unix_timestamp(seconds).map_err(StoreError::decode)
}

#[cfg(test)]
impl Entry {
    /// An anonymous entry without data that expires at `expires_at`.
    pub(super) fn expiring_at(expires_at: i64) -> Self {
        Self {
            version: 1,
            created_at: 0,
            expires_at,
            absolute_expires_at: NO_DEADLINE,
            idle_timeout: NO_TIMEOUT,
            data: None,
            login: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::Key;
    use super::*;

    #[test]
    fn times_are_kept_in_whole_seconds_rounded_down() {
        for nanos in [
            0_i128,
            1,
            -1,
            -500_000_000,
            -1_000_000_000,
            -1_000_000_001,
            999_999_999,
            1_735_689_600_123_456_789,
        ] {
            let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap();
            let mut record = SessionRecord::new(SessionId::from_bytes([1; 16]), at, at);
            (record.created_at, record.expires_at) = (at, at);
            record.absolute_expires_at = Some(at);
            let whole = nanos.div_euclid(1_000_000_000) as i64;
            assert_eq!(seconds(&record), (whole, whole, Some(whole)), "{nanos}");
        }
    }

    #[test]
    fn entry_is_compact() {
        assert_eq!(size_of::<Entry>(), 56);
        assert_eq!(size_of::<(Key, Entry)>(), 72);
    }

    #[test]
    fn the_login_box_holds_the_issuer_and_is_replaced_when_the_principal_changes() {
        assert_eq!(size_of::<Login>(), 48);
        let (id, at) = (SessionId::from_bytes([1; 16]), OffsetDateTime::UNIX_EPOCH);
        let anonymous = SessionRecord::new(id, at, at);
        let of_a = anonymous.clone().with_subject("bob").with_issuer("idp-a");
        let mut entry = Entry::from_record(&of_a, 1);
        assert_eq!(entry.to_record(id).unwrap(), of_a);
        // The same login keeps its box; bob of another issuer, or of none, does not.
        let before = entry.login.as_deref().map(std::ptr::from_ref);
        entry.assign(&of_a.clone().with_version(2), 2);
        assert_eq!(entry.login.as_deref().map(std::ptr::from_ref), before);
        entry.assign(&of_a.with_issuer("idp-b"), 3);
        assert_eq!(
            entry.to_record(id).unwrap().issuer.as_deref(),
            Some("idp-b")
        );
        entry.assign(&anonymous.clone().with_subject("bob"), 4);
        assert_eq!(entry.to_record(id).unwrap().issuer, None);
        entry.assign(&anonymous, 5);
        assert!(entry.login.is_none(), "anonymous: no box");
    }

    #[test]
    fn a_principal_is_its_issuer_and_its_subject() {
        let (id, at) = (SessionId::from_bytes([1; 16]), OffsetDateTime::UNIX_EPOCH);
        let anonymous = SessionRecord::new(id, at, at);
        let of_a = Entry::from_record(&anonymous.clone().with_subject("bob").with_issuer("a"), 1);
        assert!(of_a.is_of(Some("a"), "bob"));
        for (issuer, subject) in [
            (None, "bob"),
            (Some("b"), "bob"),
            (Some(""), "bob"),
            (Some("a"), "alice"),
        ] {
            assert!(!of_a.is_of(issuer, subject), "{issuer:?} {subject}");
        }
        let local = Entry::from_record(&anonymous.clone().with_subject("bob"), 1);
        assert!(local.is_of(None, "bob") && !local.is_of(Some(""), "bob"));
        // Roles without a subject: nobody's session.
        let roles_only = Entry::from_record(&anonymous.clone().with_roles(["admin"]), 1);
        assert!(!roles_only.is_of(None, ""));
        assert!(!Entry::from_record(&anonymous, 1).is_of(None, ""));
    }
}
