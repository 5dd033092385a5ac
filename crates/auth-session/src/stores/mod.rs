//! The networked and persistent stores, one module per backend, and what they share.
//!
//! - this file: what every store keeps the same way: a record at rest ([`encode`],
//!   [`decode`]), its next version, and the name of a session at rest ([`IdHasher`]);
//! - `redis/`: `RedisStore` (its own map of files is at the top of `redis/mod.rs`);
//! - `sql.rs`: what the two SQL stores share: the statements' parameters, rows read back into
//!   records and outcomes, the table upgrade; `postgres.rs` and `sqlite.rs` hold each engine's
//!   SQL text and what only that engine does.

#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

use std::fmt;

use auth_core::{SessionId, SessionRecord, StoreError, StoreResult};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

/// The record as every store keeps it: JSON, with a zero ID (the key or the `id` column
/// carries the real one, or its hash; the version and the expiry are kept apart as well, and
/// [`decode`] takes them from there).
pub(crate) fn encode(record: &SessionRecord) -> StoreResult<Vec<u8>> {
    let mut stored = record.clone();
    stored.id = SessionId::from_bytes([0; SessionId::LEN]);
    serde_json::to_vec(&stored).map_err(StoreError::encode)
}

/// A record from its stored parts: the JSON of [`encode`], and the ID, version and expiry
/// kept next to it.
pub(crate) fn decode(
    id: SessionId,
    version: u64,
    expires_at: OffsetDateTime,
    data: &[u8],
) -> StoreResult<SessionRecord> {
    let mut record: SessionRecord = serde_json::from_slice(data).map_err(StoreError::decode)?;
    record.id = id;
    record.version = version;
    record.expires_at = expires_at;
    Ok(record)
}

/// The version a successful save stores.
pub(crate) fn next_version(version: u64) -> StoreResult<u64> {
    version
        .checked_add(1)
        .ok_or_else(|| StoreError::encode("session version overflow"))
}

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

    /// The ID of a listed session from its member (the inverse of [`text`](Self::text)): the
    /// ID, or all zeros when the member is a hash (the store cannot know the ID).
    #[cfg(feature = "redis")]
    pub(crate) fn id_of_text(&self, member: &[u8]) -> StoreResult<SessionId> {
        if self.is_hashed() {
            return Ok(SessionId::from_bytes([0; SessionId::LEN]));
        }
        std::str::from_utf8(member)
            .ok()
            .and_then(|text| SessionId::parse(text).ok())
            .ok_or_else(|| StoreError::decode("session index member is not an id"))
    }

    /// The ID of a listed row from its `id` column (the inverse of [`bytes`](Self::bytes)):
    /// the ID, or all zeros when the column holds a hash (the store cannot know the ID).
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    pub(crate) fn id_of_bytes(&self, stored: &[u8]) -> StoreResult<SessionId> {
        if self.is_hashed() {
            return Ok(SessionId::from_bytes([0; SessionId::LEN]));
        }
        let id = <[u8; SessionId::LEN]>::try_from(stored)
            .map_err(|_| StoreError::decode("session id column is not 16 bytes"))?;
        Ok(SessionId::from_bytes(id))
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
