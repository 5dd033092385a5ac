//! What every check uses: [`Check`], which names the running check in every failure and
//! wraps the store calls it makes, and the lifetimes of the records the checks create.

use std::fmt;

use auth_core::{CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreResult};
use time::Duration;

use super::Harness;

/// How long "live" records live: far beyond any check, even on real time.
pub(super) const LIVE: Duration = Duration::hours(1);
/// How long short-lived records live (whole seconds are stored, so 1 to 2 s in practice).
pub(super) const SHORT: Duration = Duration::seconds(2);
/// How far the checks move time to expire a short-lived record.
pub(super) const PAST_SHORT: Duration = Duration::seconds(3);

/// One running check: names itself in every failure.
pub(super) struct Check(pub(super) &'static str);

impl Check {
    /// Reports a failure. The kit is a test library: like `assert!`, it fails by panicking.
    #[allow(clippy::panic)]
    pub(super) fn fail(&self, why: impl fmt::Display) -> ! {
        panic!("store conformance check `{}` failed: {why}", self.0)
    }

    pub(super) fn ensure(&self, condition: bool, why: impl FnOnce() -> String) {
        if !condition {
            self.fail(why());
        }
    }

    pub(super) fn ok<T>(&self, result: StoreResult<T>, operation: &str) -> T {
        match result {
            Ok(value) => value,
            Err(error) => self.fail(format_args!("{operation} returned an error: {error}")),
        }
    }

    #[allow(clippy::needless_pass_by_value)] // called like `assert_eq!`, with values or refs
    pub(super) fn eq<T: PartialEq + fmt::Debug>(&self, got: T, want: T, what: &str) {
        if got != want {
            self.fail(format_args!("{what}: got {got:?}, want {want:?}"));
        }
    }

    pub(super) fn id(&self) -> SessionId {
        match SessionId::generate() {
            Ok(id) => id,
            Err(error) => self.fail(format_args!("could not generate an ID: {error}")),
        }
    }

    pub(super) fn record<H: Harness>(&self, harness: &H, ttl: Duration) -> SessionRecord {
        let now = harness.now();
        SessionRecord::new(self.id(), now, now + ttl)
    }

    pub(super) async fn create<S: SessionStore>(&self, store: &S, record: &SessionRecord) {
        let outcome = self.ok(store.create(record).await, "create");
        self.eq(outcome, CreateOutcome::Created, "create of a fresh ID");
    }

    pub(super) async fn load<S: SessionStore>(
        &self,
        store: &S,
        id: &SessionId,
        what: &str,
    ) -> SessionRecord {
        match self.ok(store.load(id).await, "load") {
            Some(record) => record,
            None => self.fail(format_args!("{what}: load returned None")),
        }
    }

    pub(super) async fn load_none<S: SessionStore>(&self, store: &S, id: &SessionId, what: &str) {
        if self.ok(store.load(id).await, "load").is_some() {
            self.fail(format_args!("{what}: load returned a record"));
        }
    }

    pub(super) async fn save<S: SessionStore>(
        &self,
        store: &S,
        record: &SessionRecord,
        what: &str,
    ) -> u64 {
        match self.ok(store.save(record).await, "save") {
            SaveOutcome::Saved { version } => {
                self.eq(version, record.version + 1, "version after save");
                version
            }
            other => self.fail(format_args!("{what}: save returned {other:?}")),
        }
    }
}
