//! The networked and persistent stores, one module per backend, and what they share.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use sql::*;

use std::fmt;

use auth_core::SessionId;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How a store names a session at rest: the ID itself, or a keyed hash of it
/// (HMAC-SHA-256), so that a leaked table or keyspace holds no usable session IDs.
#[derive(Clone, Default)]
pub(crate) struct IdHasher(Option<Hmac<Sha256>>);

impl IdHasher {
    /// Hashes with `key`.
    pub(crate) fn keyed(key: &[u8; 32]) -> Self {
        // HMAC takes keys of any length: this cannot fail.
        Self(Hmac::<Sha256>::new_from_slice(key).ok())
    }

    /// Whether IDs are hashed.
    pub(crate) fn is_hashed(&self) -> bool {
        self.0.is_some()
    }

    /// The bytes that stand for `id` at rest: its 16 bytes, or the 32 bytes of its hash.
    pub(crate) fn bytes(&self, id: &SessionId) -> Vec<u8> {
        match &self.0 {
            None => id.as_bytes().to_vec(),
            Some(mac) => {
                let mut mac = mac.clone();
                mac.update(id.as_bytes());
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// The text that stands for `id` at rest (in Redis keys): the encoded ID, or the hash in
    /// lowercase hex.
    #[cfg(feature = "redis")]
    pub(crate) fn text(&self, id: &SessionId) -> String {
        if self.0.is_none() {
            return id.encode();
        }
        let mut text = String::with_capacity(64);
        for byte in self.bytes(id) {
            for nibble in [byte >> 4, byte & 0x0f] {
                text.extend(char::from_digit(u32::from(nibble), 16));
            }
        }
        text
    }
}

impl fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_hashed() {
            "Hashed(<key redacted>)"
        } else {
            "Plain"
        })
    }
}

#[cfg(test)]
mod hasher_tests {
    use super::*;

    #[test]
    fn hashed_ids_are_keyed_stable_and_not_the_id() {
        let id = SessionId::from_bytes([5; 16]);
        let plain = IdHasher::default();
        assert_eq!(plain.bytes(&id), id.as_bytes().to_vec());
        let a = IdHasher::keyed(&[1; 32]);
        let b = IdHasher::keyed(&[2; 32]);
        assert_eq!(a.bytes(&id).len(), 32);
        assert_eq!(a.bytes(&id), a.bytes(&id));
        assert_ne!(a.bytes(&id), b.bytes(&id));
        assert_ne!(a.bytes(&SessionId::from_bytes([6; 16])), a.bytes(&id));
        assert_eq!(format!("{a:?}"), "Hashed(<key redacted>)");
    }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql {
    use auth_core::{SessionId, SessionRecord, SessionStore, StoreError, StoreResult};
    use time::OffsetDateTime;

    /// The record as stored in the `data` column: JSON, with a zero ID (the `id` column
    /// carries the real one; version and expiry are read from their columns).
    pub(crate) fn encode(record: &SessionRecord) -> StoreResult<Vec<u8>> {
        let mut stored = record.clone();
        stored.id = SessionId::from_bytes([0; SessionId::LEN]);
        serde_json::to_vec(&stored).map_err(StoreError::encode)
    }

    /// The inverse of [`encode`]; the caller sets the ID, version and expiry.
    pub(crate) fn decode(data: &[u8]) -> StoreResult<SessionRecord> {
        serde_json::from_slice(data).map_err(StoreError::decode)
    }

    /// The version a successful save stores.
    pub(crate) fn next_version(version: u64) -> StoreResult<u64> {
        version
            .checked_add(1)
            .ok_or_else(|| StoreError::encode("session version overflow"))
    }

    /// A version as a signed SQL integer.
    pub(crate) fn version_to_i64(version: u64) -> StoreResult<i64> {
        i64::try_from(version).map_err(StoreError::encode)
    }

    /// Records keep whole seconds.
    pub(crate) fn whole_seconds(at: OffsetDateTime) -> OffsetDateTime {
        at.replace_nanosecond(0).unwrap_or(at)
    }

    /// `name` as a quoted SQL identifier: any text is safe.
    pub(crate) fn quote_identifier(name: &str) -> String {
        let mut quoted = String::with_capacity(name.len() + 2);
        quoted.push('"');
        for c in name.chars() {
            if c == '"' {
                quoted.push('"');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    }

    /// Runs `store.cleanup_expired()` every `every` until aborted.
    pub(crate) fn spawn_cleanup<S: SessionStore>(
        store: S,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.cleanup_expired().await {
                    Ok(removed) => tracing::debug!(removed, "expired sessions removed"),
                    Err(error) => tracing::warn!(%error, "expired-session cleanup failed"),
                }
            }
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn identifiers_are_quoted_and_quotes_doubled() {
            assert_eq!(quote_identifier("sessions"), "\"sessions\"");
            assert_eq!(
                quote_identifier("a\"; DROP TABLE x; --"),
                "\"a\"\"; DROP TABLE x; --\""
            );
        }
    }
}
