//! A session store of your own: a `BTreeMap` behind a mutex, implementing
//! [`auth_core::SessionStore`], checked by the conformance suite `auth_session::testkit`.
//!
//! `cargo run -p custom-store` runs the suite and prints the result; `cargo test -p
//! custom-store` runs it as a test. The same two lines work for a store over a file, an
//! in-house database or anything else.

#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use auth_core::{
    CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, SharedClock, StoreFuture,
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

/// Every answer is at hand (a lock around a map), so every method answers
/// [`StoreFuture::ready`]: the session layer then settles a request with no future to keep. A
/// store doing I/O would answer `StoreFuture::pending(async move { .. })` instead.
impl SessionStore for BTreeStore {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        let mut records = self.lock();
        StoreFuture::ready(Ok(self.live(&mut records, id).map(|r| r.clone())))
    }

    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        let mut records = self.lock();
        if self.live(&mut records, &record.id).is_some() {
            return StoreFuture::ready(Ok(CreateOutcome::IdTaken));
        }
        records.insert(record.id, record.clone());
        StoreFuture::ready(Ok(CreateOutcome::Created))
    }

    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        let mut records = self.lock();
        let Some(stored) = self.live(&mut records, &record.id) else {
            // Never recreate: a logout wins.
            return StoreFuture::ready(Ok(SaveOutcome::NotFound));
        };
        if stored.version != record.version {
            return StoreFuture::ready(Ok(SaveOutcome::Conflict));
        }
        let version = record.version + 1;
        *stored = record.clone().with_version(version);
        StoreFuture::ready(Ok(SaveOutcome::Saved { version }))
    }

    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        let mut records = self.lock();
        let live = match self.live(&mut records, id) {
            Some(stored) => {
                *stored = stored.clone().with_expires_at(expires_at);
                true
            }
            None => false,
        };
        StoreFuture::ready(Ok(live))
    }

    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        self.lock().remove(id);
        StoreFuture::ready(Ok(()))
    }

    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        // Both steps under one lock: there is never a moment with neither record.
        let mut records = self.lock();
        let outcome = if self.live(&mut records, &new.id).is_some() {
            CreateOutcome::IdTaken
        } else if self.live(&mut records, old).is_none() {
            // A session a logout ended (or that expired) stays ended.
            CreateOutcome::NotFound
        } else {
            records.insert(new.id, new.clone());
            records.remove(old);
            CreateOutcome::Created
        };
        StoreFuture::ready(Ok(outcome))
    }

    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        let now = self.clock.now();
        let mut records = self.lock();
        let before = records.len();
        records.retain(|_, r| !r.is_expired(now));
        StoreFuture::ready(Ok((before - records.len()) as u64))
    }

    // The per-principal index is optional (the defaults answer `StoreError::Unsupported`,
    // and `Session::other_sessions` then `SessionError::Unsupported`). A scan of the map does
    // here; a database store would index the subject.

    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        let now = self.clock.now();
        let listed = self
            .lock()
            .values()
            .filter(|r| !r.is_expired(now) && Some(&r.id) != except)
            .filter(|r| is_of(r, issuer, subject))
            .cloned()
            .collect();
        StoreFuture::ready(Ok(listed))
    }

    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        let now = self.clock.now();
        let mut records = self.lock();
        let before = records.len();
        // Under the one lock, so atomic.
        records.retain(|id, r| r.is_expired(now) || Some(id) == keep || !is_of(r, issuer, subject));
        StoreFuture::ready(Ok((before - records.len()) as u64))
    }
}

/// Whether `record` is a session of the principal `issuer` + `subject`: both compared
/// exactly, and `None` is a login without an issuer, not "any issuer".
fn is_of(record: &SessionRecord, issuer: Option<&str>, subject: &str) -> bool {
    record.subject.as_deref() == Some(subject) && record.issuer.as_deref() == issuer
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
