//! The work behind [`RedisRevocationList::migrate_unscoped_keys`]: the one-off move of the
//! revocations written before entries carried an issuer (`{prefix}{jti|sub|sid}:{value}`) to
//! keys of one issuer.

use auth_core::RevocationError;

use super::{PrefixScan, RedisRevocationList, codec};
use crate::revocation::entry::Revocation;

/// What [`RedisRevocationList::migrate_unscoped_keys`] does: SCAN the prefix for keys without
/// an issuer, then for each one write its revocation under `issuer` and delete it.
pub(super) async fn unscoped_keys(
    list: &RedisRevocationList,
    issuer: &str,
) -> Result<u64, RevocationError> {
    let backend = |e: redis::RedisError| RevocationError::Backend(Box::new(e));
    let mut conn = list.conn.clone();
    let prefix = &list.shared.prefix;
    let mut scan = PrefixScan::new(prefix);
    let mut old = Vec::new();
    while let Some(keys) = scan.next_page(&mut conn).await.map_err(backend)? {
        old.extend(keys.into_iter().filter_map(|key| {
            let (kind, id) = codec::parse_unscoped_key(prefix, &key)?;
            let id = id.to_owned();
            Some((key, kind, id))
        }));
    }
    let mut moved = 0;
    for (key, kind, id) in old {
        let value: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        if let Some((epoch, until)) = value.as_deref().and_then(codec::parse_value) {
            let revocation = Revocation {
                kind,
                issuer,
                id: &id,
                epoch,
                until,
            };
            list.write(revocation).await?;
            moved += 1;
        }
        redis::cmd("DEL")
            .arg(&key)
            .query_async::<()>(&mut conn)
            .await
            .map_err(backend)?;
    }
    Ok(moved)
}
