//! The feed task: SUBSCRIBE, resync the whole prefix, then apply every message to the
//! mirror; again, after a backoff, whenever the connection is lost. Also the parts of
//! [`Shared`] that only the feed drives: the resync, message handling, and marking the feed up
//! or down.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration as StdDuration;

use futures_util::StreamExt as _;
use redis::aio::ConnectionManager;

use super::{PrefixScan, Shared, UP, WRITE_TIMEOUT, codec};

const MIN_BACKOFF: StdDuration = StdDuration::from_millis(50);
const MAX_BACKOFF: StdDuration = StdDuration::from_secs(2);
const PURGE_EVERY: StdDuration = StdDuration::from_secs(30);

impl Shared {
    /// Applies one pub/sub message: `"v2 {tag} {epoch} {until} {issuer length} {issuer}{id}"`.
    /// Messages without the `v2` mark come from a version that did not key on the issuer:
    /// ignored.
    fn apply_message(&self, payload: &[u8]) {
        match codec::parse_message(payload) {
            Some(revocation) => self.apply(revocation),
            None => tracing::warn!("ignored a malformed or pre-issuer revocation message"),
        }
    }

    fn mark_up(&self) {
        self.synced.store(true, Ordering::Release);
        self.down_since_ms.store(UP, Ordering::Release);
        if self.stale_logged.swap(false, Ordering::Relaxed) {
            tracing::info!("revocation feed restored");
        }
        self.generation.send_modify(|g| *g += 1);
    }

    fn mark_down(&self) {
        let now = self.now_ms();
        let _ = self
            .down_since_ms
            .compare_exchange(UP, now, Ordering::AcqRel, Ordering::Relaxed);
    }

    /// SCANs the prefix and merges every entry into the mirror.
    async fn resync(&self, conn: &mut ConnectionManager) -> redis::RedisResult<()> {
        let mut scan = PrefixScan::new(&self.prefix);
        let overflow_before = self.overflow.swap(false, Ordering::Relaxed);
        while let Some(keys) = scan.next_page(conn).await? {
            if !keys.is_empty() {
                let values: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query_async(conn).await?;
                for (key, value) in keys.iter().zip(values) {
                    let entry = value
                        .as_deref()
                        .and_then(|value| codec::parse_entry(&self.prefix, key, value));
                    if let Some(revocation) = entry {
                        self.apply(revocation);
                    }
                }
            }
        }
        if overflow_before && !self.overflow.load(Ordering::Relaxed) {
            tracing::info!("revocation mirror caught up after an overflow");
        }
        Ok(())
    }
}

/// The feed task: subscribe, resync, follow; again after every disconnection.
pub(super) async fn feed(shared: Arc<Shared>, client: redis::Client, mut conn: ConnectionManager) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let error = follow(&shared, &client, &mut conn, &mut backoff).await;
        shared.mark_down();
        tracing::warn!(error = %error, retry_in_ms = backoff.as_millis(), "revocation feed lost; resubscribing");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection's life; returns why it ended.
async fn follow(
    shared: &Shared,
    client: &redis::Client,
    conn: &mut ConnectionManager,
    backoff: &mut StdDuration,
) -> redis::RedisError {
    let closed =
        || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionAborted));
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let wait = shared.heartbeat.max(StdDuration::from_secs(1));
    let mut pubsub = match tokio::time::timeout(wait, client.get_async_pubsub()).await {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    };
    match tokio::time::timeout(wait, pubsub.subscribe(&shared.channel)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    }
    let (mut sink, mut stream) = pubsub.split();
    // Subscribed first, then the resync: nothing published in between is missed.
    match tokio::time::timeout(WRITE_TIMEOUT, shared.resync(conn)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return e,
        Err(_) => return timed_out(),
    }
    shared.mark_up();
    *backoff = MIN_BACKOFF;
    let mut last_purge = tokio::time::Instant::now();
    loop {
        match tokio::time::timeout(shared.heartbeat, stream.next()).await {
            Ok(Some(msg)) => shared.apply_message(msg.get_payload_bytes()),
            Ok(None) => return closed(),
            Err(_) => {
                match tokio::time::timeout(shared.heartbeat, sink.ping::<redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return e,
                    Err(_) => return timed_out(),
                }
            }
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            shared.memory.purge_expired();
            last_purge = tokio::time::Instant::now();
        }
    }
}
