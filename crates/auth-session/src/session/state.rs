//! A [`Session`](super::Session)'s state: the request's cookie, the load, the working
//! record and what changed.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use auth_core::{SessionData, SessionId, SessionRecord, StoreError};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};

use crate::SessionError;
use crate::config::Config;
use crate::id::{new_session_id, parse_id, parse_id_bytes};
use crate::unix_time::{date, truncate};

pub(crate) struct SessionInner {
    pub(super) config: Arc<Config>,
    /// The request's `Cookie` header values, kept as clones: the session cookie is looked up
    /// and verified only when the session is used (an untouched request costs no parsing and
    /// no MAC check). A server's header values share the buffer the request was read into, so
    /// a clone is a reference-count increment; they are dropped with the handle.
    pub(super) cookies: RequestCookies,
    /// Set by the first method call, so an untouched session costs nothing afterwards.
    pub(crate) used: AtomicBool,
    pub(super) state: Mutex<State>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) loaded: bool,
    /// The verified cookie, once checked: the ID, and whether it was sealed with an old key.
    pub(super) verified: Option<(Option<SessionId>, bool)>,
    /// The layer's clock reading (nanoseconds) taken when the session was loaded or created,
    /// if one was.
    pub(super) read_at: Option<i128>,
    pub(super) error: Option<Arc<StoreError>>,
    /// The working copy; `None` while anonymous with nothing written.
    pub(super) record: Option<SessionRecord>,
    /// What the store had, when there was a record: enough to save against it and to detect
    /// concurrent changes (not a full copy).
    pub(super) original: Option<Original>,
    pub(super) changes: Changes,
    pub(super) modified: bool,
    pub(super) cycle: bool,
    pub(super) destroyed: bool,
    pub(super) expiry_changed: bool,
}

impl State {
    /// The outcome of the load, once loaded.
    pub(super) fn status(&self) -> Result<(), SessionError> {
        match &self.error {
            Some(error) => Err(SessionError::Unavailable(error.clone())),
            None => Ok(()),
        }
    }
}

/// The loaded record's identity, version, expiry and data (shared, not copied).
pub(super) struct Original {
    pub(super) id: SessionId,
    pub(super) version: u64,
    /// Nanoseconds since the epoch.
    pub(super) expires_at: i128,
    /// `None` until this request first writes the data: the working copy's data is the loaded
    /// data until then (a read-only request shares it without another reference).
    pub(super) data: Option<Arc<SessionData>>,
}

impl State {
    /// Keeps the loaded data in `original` before the first write to the working copy (the
    /// merge compares a concurrent save against it). Call before every write to the data.
    pub(super) fn keep_loaded_data(&mut self) {
        if let (Some(original), Some(record)) = (&mut self.original, &self.record)
            && original.data.is_none()
        {
            original.data = Some(Arc::clone(&record.data));
        }
    }
}

/// The keys this request set or removed, kept so they can be re-applied over a concurrent
/// save. Only names: a key's value is the working record's (absent when removed), since every
/// change goes to both. One string buffer for all names.
#[derive(Default)]
pub(super) struct Changes {
    pub(super) cleared: bool,
    pub(super) names: String,
    /// The end of each name in `names`.
    pub(super) ends: Vec<usize>,
}

/// Past this many changed keys, [`Changes::note`] stops looking for duplicates (the merge
/// dedups).
pub(super) const DEDUP_UP_TO: usize = 16;

impl Changes {
    pub(super) fn reset(&mut self, cleared: bool) {
        self.cleared = cleared;
        self.names.clear();
        self.ends.clear();
    }

    pub(super) fn note(&mut self, key: &str) {
        if self.ends.len() <= DEDUP_UP_TO && self.keys().any(|k| k == key) {
            return;
        }
        self.names.push_str(key);
        self.ends.push(self.names.len());
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(from, to)| self.names.get(from..to).unwrap_or_default())
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.cleared && self.ends.is_empty()
    }
}

impl SessionInner {
    pub(super) fn new(config: Arc<Config>, headers: &HeaderMap) -> Self {
        Self {
            config,
            cookies: RequestCookies::new(headers),
            used: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn config_arc(&self) -> Arc<Config> {
        Arc::clone(&self.config)
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        // Every step under the lock leaves the state consistent, so a panic elsewhere (a
        // `Deserialize` implementation, say) cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session ID from the cookie, if it verifies, and whether it needs re-sealing.
    pub(super) fn verified_cookie(&self, state: &mut State) -> (Option<SessionId>, bool) {
        if let Some(verified) = state.verified {
            return verified;
        }
        let verified = self.verify_cookie();
        state.verified = Some(verified);
        verified
    }

    /// The raw value of the session cookie the request sent, if any.
    pub(super) fn cookie(&self) -> Option<&str> {
        if self.cookies.is_empty() {
            return None;
        }
        let name = self.config().cookie().name();
        self.cookies
            .values()
            .find_map(|value| auth_cookie::header_cookie(value.as_bytes(), name))
    }

    pub(super) fn verify_cookie(&self) -> (Option<SessionId>, bool) {
        let config = self.config();
        if !config.signed {
            // The first pair of the name, unchecked: an ID is ASCII, so when it parses it is
            // also the first pair `cookie` (which skips pairs that are not UTF-8) finds.
            let name = config.cookie().name();
            let first = self
                .cookies
                .values()
                .find_map(|value| auth_cookie::header_cookie_bytes(value.as_bytes(), name));
            if let Some(id) = first.and_then(parse_id_bytes) {
                return (Some(id), false);
            }
            return (self.cookie().and_then(parse_id), false);
        }
        let Some(value) = self.cookie() else {
            return (None, false);
        };
        match config.keys.open_signed(config.cookie().name(), value) {
            Some((id, current)) => match parse_id(&id) {
                Some(id) => (Some(id), !current),
                None => (None, false),
            },
            None => (None, false),
        }
    }

    pub(super) fn cookie_id(&self, state: &mut State) -> Option<SessionId> {
        self.verified_cookie(state).0
    }

    pub(super) fn cookie_needs_reseal(&self, state: &mut State) -> bool {
        self.verified_cookie(state).1
    }

    /// Loads the record from the store on first use. The state's lock is not held across the
    /// store call; when two uses of one handle load at once (a handler's concurrent
    /// futures), the first answer is adopted and the other dropped.
    pub(super) async fn load(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let id = {
            let mut state = self.lock();
            if state.loaded {
                state.status()?;
                return Ok(state);
            }
            match self.cookie_id(&mut state) {
                Some(id) => id,
                None => {
                    state.loaded = true;
                    return Ok(state);
                }
            }
        };
        let loaded = self.config().store.load(&id).await;
        let mut state = self.lock();
        if state.loaded {
            // Loaded by a concurrent use, or logged out meanwhile: that wins.
            state.status()?;
        } else {
            state.loaded = true;
            match loaded {
                Ok(record) => {
                    state.record = record;
                    self.adopt(&mut state, id);
                }
                Err(error) => {
                    tracing::error!(%error, "session store failed to load a session");
                    let error = Arc::new(error);
                    state.error = Some(error.clone());
                    return Err(SessionError::Unavailable(error));
                }
            }
        }
        Ok(state)
    }

    /// Adopts the session the store returned for the cookie's `id`, in `state.record`, or
    /// drops it: an unknown, expired or (defensively) mismatched ID is anonymous, never
    /// adopted. The store returns live records only (by its clock: the
    /// [`SessionStore`](auth_core::SessionStore) contract); the layer's reading taken here,
    /// which also serves the touch decision, refuses a record whose deadline it sees passed,
    /// so a layer whose clock runs ahead of its store's never extends it.
    pub(super) fn adopt(&self, state: &mut State, id: SessionId) {
        let Some((found, version, expires_at)) = state
            .record
            .as_ref()
            .map(|r| (r.id, r.version, r.expires_at.unix_timestamp_nanos()))
        else {
            return;
        };
        let now = now_nanos(self.config());
        if found == id && expires_at > now {
            state.read_at = Some(now);
            state.original = Some(Original {
                id,
                version,
                expires_at,
                data: None,
            });
        } else {
            state.record = None;
        }
    }

    /// The working record, creating a fresh anonymous one (new random ID) if needed.
    pub(super) fn ensure_record<'s>(
        &self,
        state: &'s mut State,
    ) -> Result<&'s mut SessionRecord, SessionError> {
        if state.record.is_none() {
            let config = self.config();
            let now = now_nanos(config);
            let id = new_session_id().map_err(|_| SessionError::Random)?;
            // Whole seconds within `OffsetDateTime`'s range, as every stored deadline.
            let at = |offset: time::Duration| date(truncate(now + offset.whole_nanoseconds()));
            let record = SessionRecord::new(id, at(time::Duration::ZERO), at(config.idle_timeout))
                .with_absolute_expiry(at(config.absolute_timeout));
            state.record = Some(record);
            // The reading this session's deadlines count from (any reading taken at load
            // found no session, and may be as old as the request).
            state.read_at = Some(now);
        }
        match state.record.as_mut() {
            Some(record) => Ok(record),
            None => Err(SessionError::Random),
        }
    }
}

/// "Now" by the layer's clock, in nanoseconds since the epoch.
pub(super) fn now_nanos(config: &Config) -> i128 {
    match config.system_clock_nanos() {
        Some(nanos) => nanos,
        None => config.clock().now().unix_timestamp_nanos(),
    }
}

/// The request's `Cookie` header values (see [`SessionInner::cookies`]).
#[derive(Default)]
pub(super) struct RequestCookies {
    /// The first `Cookie` header (usually the only one).
    pub(super) first: Option<HeaderValue>,
    /// Any further `Cookie` headers, in order.
    pub(super) rest: Vec<HeaderValue>,
}

impl RequestCookies {
    /// Clones the request's `Cookie` values.
    pub(super) fn new(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(COOKIE).into_iter();
        let first = values.next().cloned();
        let mut rest = Vec::new();
        if first.is_some() {
            // By hand: `extend` costs more than the usual no further value.
            for value in values {
                rest.push(value.clone());
            }
        }
        Self { first, rest }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &HeaderValue> {
        self.first.iter().chain(&self.rest)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn changed_keys_are_kept_once_in_order() {
        let mut changes = Changes::default();
        assert!(changes.is_empty());
        for key in ["b", "a", "b", "", "a"] {
            changes.note(key);
        }
        assert_eq!(changes.keys().collect::<Vec<_>>(), ["b", "a", ""]);
        changes.reset(true);
        assert!(!changes.is_empty());
        assert_eq!(changes.keys().count(), 0);
        // Past the dedup window duplicates may be kept; the merge dedups them.
        for n in 0..40 {
            changes.note(&format!("k{}", n % 20));
        }
        let unique: BTreeSet<&str> = changes.keys().collect();
        assert_eq!(unique.len(), 20);
    }
}
