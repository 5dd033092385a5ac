//! How a record is kept in a session's hash, in both modes: `d` holds the record as JSON
//! without its ID (the key carries it, see [`encode`](crate::stores::encode)), `v` its
//! version and `e` its expiry in Unix seconds, both decimal numbers (the scripts compare
//! them, `EXPIREAT` takes the expiry), `s` its subject. On a cluster, `i` and `n` are the
//! index horizon and the write tokens (see `cluster.rs`).

use auth_core::{SessionId, SessionRecord, StoreError, StoreResult};
use time::OffsetDateTime;

pub(super) use crate::stores::encode;

/// A record from its stored fields: the ID (from the key or the index member), `v`, `e` and
/// `d`.
pub(super) fn decode(
    id: SessionId,
    version: u64,
    expires_at: i64,
    data: &[u8],
) -> StoreResult<SessionRecord> {
    let expires_at = OffsetDateTime::from_unix_timestamp(expires_at).map_err(StoreError::decode)?;
    crate::stores::decode(id, version, expires_at, data)
}

/// A point in time as `e` keeps it, and as `EXPIREAT` and the index take it: Unix seconds.
pub(super) fn expiry(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// A decimal number stored by a script (`v`, `e` in a script's reply).
pub(super) fn number<T: std::str::FromStr>(bytes: &[u8]) -> StoreResult<T> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::decode("stored session number is not a number"))
}
