//! A session store of your own: a `BTreeMap` behind a mutex, implementing
//! [`auth_core::SessionStore`], checked by the conformance suite `auth_session::testkit`.
//!
//! `cargo run -p custom-store` runs the suite and prints the result; `cargo test -p
//! custom-store` runs it as a test. The same two lines work for a store over a file, an
//! in-house database or anything else.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use auth_core::{
    CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock, StoreResult,
};
use time::OffsetDateTime;

/// Sessions in an ordered map. One lock makes every operation atomic, which is all the
/// contract asks; a production store would shard or use its backend's transactions.
#[derive(Debug)]
pub struct BTreeStore {
    records: Mutex<BTreeMap<SessionId, SessionRecord>>,
    clock: SharedClock,
}

impl BTreeStore {
    /// An empty store that reads "now" from `clock`.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            records: Mutex::new(BTreeMap::new()),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<SessionId, SessionRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The live record with `id`, dropping it if it has expired.
    fn live<'a>(
        &self,
        records: &'a mut BTreeMap<SessionId, SessionRecord>,
        id: &SessionId,
    ) -> Option<&'a mut SessionRecord> {
        let now = self.clock.now();
        if records.get(id).is_some_and(|r| r.is_expired(now)) {
            records.remove(id);
        }
        records.get_mut(id)
    }
}

#[async_trait]
impl SessionStore for BTreeStore {
    async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let mut records = self.lock();
        Ok(self.live(&mut records, id).map(|r| r.clone()))
    }

    async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        let mut records = self.lock();
        if self.live(&mut records, &record.id).is_some() {
            return Ok(CreateOutcome::IdTaken);
        }
        records.insert(record.id, record.clone());
        Ok(CreateOutcome::Created)
    }

    async fn save(&self, record: &SessionRecord) -> StoreResult<SaveOutcome> {
        let mut records = self.lock();
        let Some(stored) = self.live(&mut records, &record.id) else {
            return Ok(SaveOutcome::NotFound); // never recreate: a logout wins
        };
        if stored.version != record.version {
            return Ok(SaveOutcome::Conflict);
        }
        let version = record.version + 1;
        *stored = record.clone().with_version(version);
        Ok(SaveOutcome::Saved { version })
    }

    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool> {
        let mut records = self.lock();
        Ok(match self.live(&mut records, id) {
            Some(stored) => {
                *stored = stored.clone().with_expires_at(expires_at);
                true
            }
            None => false,
        })
    }

    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        self.lock().remove(id);
        Ok(())
    }

    async fn cycle(&self, old: &SessionId, new: &SessionRecord) -> StoreResult<CreateOutcome> {
        // Both steps under one lock: there is never a moment with neither record.
        let mut records = self.lock();
        if self.live(&mut records, &new.id).is_some() {
            return Ok(CreateOutcome::IdTaken);
        }
        // A session a logout ended (or that expired) stays ended.
        if self.live(&mut records, old).is_none() {
            return Ok(CreateOutcome::NotFound);
        }
        records.insert(new.id, new.clone());
        records.remove(old);
        Ok(CreateOutcome::Created)
    }

    async fn cleanup_expired(&self) -> StoreResult<u64> {
        let now = self.clock.now();
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, r| !r.is_expired(now));
        Ok((before - records.len()) as u64)
    }
}

#[tokio::main]
async fn main() {
    let harness = auth_session::testkit::ClockHarness::new(BTreeStore::new);
    auth_session::testkit::run(&harness).await;
    println!("BTreeStore passes the session store conformance suite");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn btree_store_passes_the_conformance_suite() {
        let harness = auth_session::testkit::ClockHarness::new(BTreeStore::new);
        auth_session::testkit::run(&harness).await;
    }
}
