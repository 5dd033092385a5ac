//! What a store keeps for one session.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::{SessionData, SessionId};

/// One session as a store keeps it.
///
/// Cheap to clone: the data sits behind an [`Arc`], so an in-memory store can hand out records
/// without copying them. Times are whole seconds (stores may keep them at that precision).
///
/// `#[non_exhaustive]`: fields may be added in minor releases; build records with
/// [`SessionRecord::new`] and the `with_*` methods. Stores that keep records whole use the
/// `Serialize`/`Deserialize` implementations; stores with columns read the fields.
///
/// `Debug` shows the data's keys but neither the ID nor the values.
///
/// ```
/// use auth_core::{SessionId, SessionRecord};
/// use time::{Duration, OffsetDateTime};
///
/// let now = OffsetDateTime::from_unix_timestamp(1_700_000_000)?;
/// let record = SessionRecord::new(SessionId::generate()?, now, now + Duration::hours(1))
///     .with_value("cart", serde_json::json!([1, 2]));
/// assert_eq!(record.version, 1);
/// assert_eq!(record.data.get("cart"), Some(&serde_json::json!([1, 2])));
/// assert!(!record.is_expired(now));
/// assert!(record.is_expired(now + Duration::hours(1)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionRecord {
    /// The session's ID.
    pub id: SessionId,
    /// The version this record was loaded at (or is to be created with). Stores bump it by one
    /// on every successful [`save`](super::SessionStore::save).
    pub version: u64,
    /// When the session was created (login or first write).
    #[serde(with = "time::serde::timestamp")]
    pub created_at: OffsetDateTime,
    /// When the store must stop returning the record: the earlier of the idle deadline and
    /// [`absolute_expires_at`](Self::absolute_expires_at).
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// The hard deadline that no activity extends, when there is one.
    #[serde(
        default,
        with = "time::serde::timestamp::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub absolute_expires_at: Option<OffsetDateTime>,
    /// A per-session idle timeout ("remember me") that overrides the layer's default.
    #[serde(
        default,
        with = "seconds_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// The logged-in subject, if any; stores may index sessions by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The issuer of the logged-in identity ([`Identity::issuer`](crate::Identity::issuer)),
    /// when it has one: the subject is `subject` *of this issuer*. Records written before the
    /// field existed read as `None` (a local login).
    #[serde(default, rename = "iss", skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The logged-in subject's roles (empty when anonymous).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// The key/value data.
    #[serde(default)]
    pub data: Arc<SessionData>,
}

impl SessionRecord {
    /// A new record at version 1 with no data, no subject and no absolute deadline.
    ///
    /// Both times are truncated to whole seconds.
    pub fn new(id: SessionId, created_at: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            version: 1,
            created_at: truncate(created_at),
            expires_at: truncate(expires_at),
            absolute_expires_at: None,
            idle_timeout: None,
            subject: None,
            issuer: None,
            roles: Vec::new(),
            data: no_data(),
        }
    }

    /// Sets one data value.
    #[must_use]
    pub fn with_value(mut self, key: impl Into<String>, value: serde_json::Value) -> Self {
        Arc::make_mut(&mut self.data).insert(key.into(), value);
        self
    }

    /// Replaces the data.
    #[must_use]
    pub fn with_data(mut self, data: SessionData) -> Self {
        self.data = Arc::new(data);
        self
    }

    /// Sets the logged-in subject.
    #[must_use]
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets the issuer of the logged-in identity.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// Sets the logged-in subject's roles.
    #[must_use]
    pub fn with_roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the absolute deadline (truncated to whole seconds).
    #[must_use]
    pub fn with_absolute_expiry(mut self, at: OffsetDateTime) -> Self {
        self.absolute_expires_at = Some(truncate(at));
        self
    }

    /// Sets a per-session idle timeout.
    #[must_use]
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Sets the version.
    #[must_use]
    pub fn with_version(mut self, version: u64) -> Self {
        self.version = version;
        self
    }

    /// Sets when the store must stop returning the record (truncated to whole seconds).
    #[must_use]
    pub fn with_expires_at(mut self, at: OffsetDateTime) -> Self {
        self.expires_at = truncate(at);
        self
    }

    /// Whether the record is expired at `now`: `expires_at <= now`.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }

    /// Mutable access to the data, copying it first if another clone shares it.
    pub fn data_mut(&mut self) -> &mut SessionData {
        Arc::make_mut(&mut self.data)
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("absolute_expires_at", &self.absolute_expires_at)
            .field("idle_timeout", &self.idle_timeout)
            .field("subject", &self.subject)
            .field("issuer", &self.issuer)
            .field("roles", &self.roles)
            .field("data_keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An empty map shared by every new record: building a record allocates nothing for its data
/// (the first write copies it, as with any shared data).
fn no_data() -> Arc<SessionData> {
    static EMPTY: OnceLock<Arc<SessionData>> = OnceLock::new();
    Arc::clone(EMPTY.get_or_init(Arc::default))
}

fn truncate(at: OffsetDateTime) -> OffsetDateTime {
    at.replace_nanosecond(0).unwrap_or(at)
}

mod seconds_option {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::Duration;

    // serde's `with` hands `&Option<T>` to the serializer function.
    #[allow(clippy::ref_option)]
    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => serializer.serialize_some(&duration.whole_seconds()),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<i64>::deserialize(deserializer)?.map(Duration::seconds))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(seconds: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(seconds).unwrap()
    }

    #[test]
    fn serde_round_trip_keeps_every_field() {
        let record = SessionRecord::new(SessionId::from_bytes([7; 16]), at(100), at(200))
            .with_value("ключ", json!({"nested": [1, "two"]}))
            .with_subject("alice")
            .with_issuer("https://idp.example")
            .with_roles(["user", "admin"])
            .with_absolute_expiry(at(1000))
            .with_idle_timeout(Duration::days(30))
            .with_version(9);
        let json = serde_json::to_vec(&record).unwrap();
        let back: SessionRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn times_are_truncated_to_seconds() {
        let precise = OffsetDateTime::from_unix_timestamp_nanos(1_500_000_000_999).unwrap();
        let record = SessionRecord::new(SessionId::from_bytes([1; 16]), precise, precise);
        assert_eq!(record.created_at, at(1_500));
        assert_eq!(record.expires_at.nanosecond(), 0);
    }

    #[test]
    fn expiry_is_inclusive_of_the_deadline() {
        let record = SessionRecord::new(SessionId::from_bytes([1; 16]), at(0), at(10));
        assert!(!record.is_expired(at(9)));
        assert!(record.is_expired(at(10)));
    }

    #[test]
    fn clones_share_data_until_written() {
        let a = SessionRecord::new(SessionId::from_bytes([1; 16]), at(0), at(10))
            .with_value("k", json!(1));
        let mut b = a.clone();
        assert!(Arc::ptr_eq(&a.data, &b.data));
        b.data_mut().insert("k".into(), json!(2));
        assert_eq!(a.data.get("k"), Some(&json!(1)));
        assert_eq!(b.data.get("k"), Some(&json!(2)));
    }

    #[test]
    fn debug_shows_keys_but_no_id_or_values() {
        let id = SessionId::from_bytes([3; 16]);
        let record =
            SessionRecord::new(id, at(0), at(10)).with_value("token", json!("hunter2-secret"));
        let text = format!("{record:?}");
        assert!(text.contains("token"));
        assert!(!text.contains("hunter2"));
        assert!(!text.contains(&id.encode()));
    }
}
