//! The per-request `Session` handle and what happens to it after the response.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use auth_core::{
    AuthMethod, CreateOutcome, Identity, IdentityResolver, ResolveFuture, SaveOutcome, SessionData,
    SessionId, SessionRecord, StoreError,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use tokio::sync::{Mutex, MutexGuard};

use crate::config::{Config, ConflictPolicy};
use crate::{SessionError, SessionExpiry};

/// The request's session: typed key/value data, login and logout.
///
/// Put into the request extensions by [`SessionLayer`](crate::SessionLayer); with the `axum`
/// feature it is also an extractor. Cheap to clone; every clone is the same session.
///
/// **Lazy**: nothing is read from the store until a method needs the data, so a request that
/// never touches its session costs no store call, and an anonymous request that never writes
/// creates nothing. What happens after the response:
///
/// | the request... | the layer... |
/// |---|---|
/// | did not touch the session, or only read it | nothing (a read refreshes the idle deadline at most once per touch interval) |
/// | wrote to an anonymous session | creates a record with a fresh ID and sets the cookie |
/// | changed data | one versioned save; a concurrent save is merged key by key |
/// | logged in or cycled the ID | stores the session under a new ID, then deletes the old one |
/// | logged out | deletes the record and sends a removal cookie |
///
/// A store failure makes the methods return [`SessionError::Unavailable`] and the layer answer
/// 503: a logged-in user is never silently treated as anonymous.
///
/// # Example
///
/// ```
/// use auth_session::Session;
///
/// async fn add_to_cart(session: &Session, item: u32) -> Result<usize, auth_session::SessionError> {
///     let mut cart: Vec<u32> = session.get("cart").await?.unwrap_or_default();
///     cart.push(item);
///     session.insert("cart", &cart).await?;
///     Ok(cart.len())
/// }
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

pub(crate) struct SessionInner {
    pub(crate) config: Arc<Config>,
    /// The raw session cookie value, verified only when the session is used (an untouched
    /// request costs no MAC check).
    cookie: Option<String>,
    /// The verified cookie: the ID, and whether it was sealed with an old key.
    verified: OnceLock<(Option<SessionId>, bool)>,
    /// Set by the first method call, so an untouched session costs nothing afterwards.
    pub(crate) used: AtomicBool,
    state: Mutex<State>,
    /// Itself, so the lazy identity resolver can hand out an owned handle.
    this: Weak<Self>,
}

#[derive(Default)]
struct State {
    loaded: bool,
    error: Option<Arc<StoreError>>,
    /// The working copy; `None` while anonymous with nothing written.
    record: Option<SessionRecord>,
    /// What the store had, when there was a record: enough to save against it and to detect
    /// concurrent changes (not a full copy).
    original: Option<Original>,
    changes: Changes,
    modified: bool,
    cycle: bool,
    destroyed: bool,
    expiry_changed: bool,
}

/// The loaded record's identity, version, expiry and data (shared, not copied).
struct Original {
    id: SessionId,
    version: u64,
    expires_at: OffsetDateTime,
    data: Arc<SessionData>,
}

/// This request's changes, kept so they can be re-applied over a concurrent save.
#[derive(Default)]
struct Changes {
    cleared: bool,
    keys: BTreeMap<String, Option<Value>>,
}

/// What the layer must do to the response once the session is settled.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) cookie: CookieChange,
    pub(crate) unavailable: bool,
    pub(crate) conflicts: Vec<String>,
}

#[derive(Debug, Default)]
pub(crate) enum CookieChange {
    #[default]
    None,
    Set {
        id: SessionId,
        max_age: Option<Duration>,
    },
    Remove,
}

impl Session {
    pub(crate) fn new(config: Arc<Config>, cookie: Option<String>) -> Self {
        Self {
            inner: Arc::new_cyclic(|this| SessionInner {
                config,
                cookie,
                verified: OnceLock::new(),
                used: AtomicBool::new(false),
                state: Mutex::new(State::default()),
                this: this.clone(),
            }),
        }
    }

    /// Locks the state and loads the record on first use.
    async fn state(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        self.inner.used.store(true, Ordering::Release);
        let mut state = self.inner.state.lock().await;
        self.inner.ensure_loaded(&mut state).await?;
        Ok(state)
    }

    /// The value stored under `key`, or `None`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails; [`SessionError::Deserialize`] when
    /// the stored value is not a `T`.
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let state = self.state().await?;
        let Some(value) = state.record.as_ref().and_then(|r| r.data.get(key)) else {
            return Ok(None);
        };
        T::deserialize(value)
            .map(Some)
            .map_err(|source| SessionError::Deserialize {
                key: key.to_owned(),
                source: Arc::new(source),
            })
    }

    /// Stores `value` under `key`, creating the session if the request had none.
    ///
    /// # Errors
    ///
    /// [`SessionError::Serialize`] when `value` cannot be serialized;
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn insert<T: Serialize + ?Sized>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), SessionError> {
        let value = serde_json::to_value(value).map_err(|source| SessionError::Serialize {
            key: key.to_owned(),
            source: Arc::new(source),
        })?;
        let mut state = self.state().await?;
        let record = self.inner.ensure_record(&mut state)?;
        record.data_mut().insert(key.to_owned(), value.clone());
        state.changes.keys.insert(key.to_owned(), Some(value));
        state.modified = true;
        Ok(())
    }

    /// Removes `key` and returns its value, if it had one of type `T`.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get).
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, SessionError> {
        let mut state = self.state().await?;
        let Some(record) = state.record.as_mut() else {
            return Ok(None);
        };
        if !record.data.contains_key(key) {
            return Ok(None);
        }
        let old = record.data_mut().remove(key);
        state.changes.keys.insert(key.to_owned(), None);
        state.modified = true;
        old.map(|v| {
            T::deserialize(v).map_err(|source| SessionError::Deserialize {
                key: key.to_owned(),
                source: Arc::new(source),
            })
        })
        .transpose()
    }

    /// Removes every key (the login state stays: use [`logout`](Self::logout) to end the
    /// session).
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn clear(&self) -> Result<(), SessionError> {
        let mut state = self.state().await?;
        let Some(record) = state.record.as_mut() else {
            return Ok(());
        };
        record.data_mut().clear();
        state.changes = Changes {
            cleared: true,
            keys: BTreeMap::new(),
        };
        state.modified = true;
        Ok(())
    }

    /// Logs `identity` in: its subject and roles are stored with the session, and the session
    /// ID **always** changes (no session fixation). If another subject was logged in, the data
    /// is flushed, except the keys the layer keeps on login; the same subject keeps its data.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn login(&self, identity: &Identity) -> Result<(), SessionError> {
        let mut state = self.state().await?;
        let keep = &self.inner.config.keep_on_login;
        let record = self.inner.ensure_record(&mut state)?;
        let other_subject = record
            .subject
            .as_deref()
            .is_some_and(|s| s != identity.subject());
        if other_subject {
            record.data_mut().retain(|key, _| keep.contains(key));
        }
        record.subject = Some(identity.subject().to_owned());
        record.roles = identity.roles().to_vec();
        state.cycle = true;
        state.modified = true;
        Ok(())
    }

    /// Logs out: the record is deleted from the store and the browser gets a removal cookie.
    /// The old session ID is worthless from then on, on every instance.
    ///
    /// # Errors
    ///
    /// Never fails now; the deletion happens after the response, and a store failure then
    /// turns the response into a 503.
    pub async fn logout(&self) -> Result<(), SessionError> {
        self.inner.used.store(true, Ordering::Release);
        let mut state = self.inner.state.lock().await;
        state.destroyed = true;
        state.record = None;
        state.loaded = true;
        Ok(())
    }

    /// Gives the session a new ID, keeping its data (do this when privileges change).
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn cycle_id(&self) -> Result<(), SessionError> {
        let mut state = self.state().await?;
        if state.record.is_some() {
            state.cycle = true;
            state.modified = true;
        }
        Ok(())
    }

    /// Overrides this session's idle and absolute timeouts ("remember me"); the cookie then
    /// carries a matching `Max-Age`. The absolute timeout counts from the session's creation.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn set_expiry(&self, expiry: SessionExpiry) -> Result<(), SessionError> {
        let mut state = self.state().await?;
        let record = self.inner.ensure_record(&mut state)?;
        record.idle_timeout = Some(expiry.idle());
        record.absolute_expires_at = Some(record.created_at + expiry.absolute());
        state.expiry_changed = true;
        state.modified = true;
        Ok(())
    }

    /// The logged-in identity (method [`AuthMethod::Session`]), or `None`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn identity(&self) -> Result<Option<Identity>, SessionError> {
        let state = self.state().await?;
        Ok(state.record.as_ref().and_then(identity_of))
    }
}

fn identity_of(record: &SessionRecord) -> Option<Identity> {
    let subject = record.subject.as_deref()?;
    Some(
        Identity::builder(subject, AuthMethod::Session)
            .roles(record.roles.iter().cloned())
            .issued_at(record.created_at)
            .expires_at(record.expires_at)
            .build(),
    )
}

impl IdentityResolver for SessionInner {
    fn resolve(&self) -> ResolveFuture {
        let session = self.this.upgrade().map(|inner| Session { inner });
        Box::pin(async move {
            match session {
                Some(session) => session.identity().await.map_err(Into::into),
                None => Ok(None),
            }
        })
    }
}

impl SessionInner {
    /// The session ID from the cookie, if it verifies, and whether it needs re-sealing.
    fn verified_cookie(&self) -> (Option<SessionId>, bool) {
        *self.verified.get_or_init(|| {
            let Some(value) = self.cookie.as_deref() else {
                return (None, false);
            };
            let config = &*self.config;
            if !config.signed {
                return (SessionId::parse(value).ok(), false);
            }
            match config.keys.open_signed(config.cookie.name(), value) {
                Some((id, current)) => match SessionId::parse(&id) {
                    Ok(id) => (Some(id), !current),
                    Err(_) => (None, false),
                },
                None => (None, false),
            }
        })
    }

    fn cookie_id(&self) -> Option<SessionId> {
        self.verified_cookie().0
    }

    fn cookie_needs_reseal(&self) -> bool {
        self.verified_cookie().1
    }

    async fn ensure_loaded(&self, state: &mut State) -> Result<(), SessionError> {
        if state.loaded {
            return match &state.error {
                Some(error) => Err(SessionError::Unavailable(error.clone())),
                None => Ok(()),
            };
        }
        state.loaded = true;
        let Some(id) = self.cookie_id() else {
            return Ok(());
        };
        match self.config.store.load(&id).await {
            Ok(Some(record)) if record.id == id && !record.is_expired(self.config.clock.now()) => {
                state.original = Some(Original {
                    id: record.id,
                    version: record.version,
                    expires_at: record.expires_at,
                    data: record.data.clone(),
                });
                state.record = Some(record);
                Ok(())
            }
            // Unknown, expired or (defensively) mismatched: anonymous, never adopted.
            Ok(_) => Ok(()),
            Err(error) => {
                tracing::error!(%error, "session store failed to load a session");
                let error = Arc::new(error);
                state.error = Some(error.clone());
                Err(SessionError::Unavailable(error))
            }
        }
    }

    /// The working record, creating a fresh anonymous one (new random ID) if needed.
    fn ensure_record<'s>(
        &self,
        state: &'s mut State,
    ) -> Result<&'s mut SessionRecord, SessionError> {
        if state.record.is_none() {
            let now = self.config.clock.now();
            let id = SessionId::generate().map_err(|_| SessionError::Random)?;
            state.record = Some(
                SessionRecord::new(id, now, now + self.config.idle_timeout)
                    .with_absolute_expiry(now + self.config.absolute_timeout),
            );
        }
        match state.record.as_mut() {
            Some(record) => Ok(record),
            None => Err(SessionError::Random),
        }
    }

    /// Settles without I/O when none is needed (the session was only read and no touch is
    /// due), so the common read-only request needs no boxed future. `None`: call
    /// [`settle`](Self::settle).
    pub(crate) fn settle_without_io(&self) -> Option<Settled> {
        let state = self.state.try_lock().ok()?;
        if state.error.is_some() {
            return Some(Settled {
                unavailable: true,
                ..Settled::default()
            });
        }
        if state.destroyed || state.modified {
            return None;
        }
        let (Some(record), Some(original)) = (&state.record, &state.original) else {
            // Nothing was written and nothing loaded: nothing to do.
            return (!state.modified).then(Settled::default);
        };
        let now = self.config.clock.now();
        let deadline = record
            .absolute_expires_at
            .unwrap_or(record.created_at + self.config.absolute_timeout);
        let idle = record.idle_timeout.unwrap_or(self.config.idle_timeout);
        let expires_at = (now + idle).min(deadline);
        if expires_at - original.expires_at >= self.config.touch_interval {
            return None;
        }
        let cookie = if self.cookie_needs_reseal() {
            CookieChange::Set {
                id: original.id,
                max_age: record.idle_timeout.map(|_| original.expires_at - now),
            }
        } else {
            CookieChange::None
        };
        Some(Settled {
            cookie,
            ..Settled::default()
        })
    }

    /// Persists what the request did; called once, after the inner service answered.
    pub(crate) async fn settle(&self) -> Settled {
        let mut state = self.state.lock().await;
        let state = &mut *state;
        if state.error.is_some() {
            return Settled {
                unavailable: true,
                ..Settled::default()
            };
        }
        let config = &*self.config;
        let now = config.clock.now();

        if state.destroyed {
            let id = state.original.as_ref().map(|r| r.id).or(self.cookie_id());
            if let Some(id) = id
                && let Err(error) = config.store.delete(&id).await
            {
                tracing::error!(%error, "session store failed to delete a session at logout");
                return Settled {
                    unavailable: true,
                    ..Settled::default()
                };
            }
            return Settled {
                cookie: CookieChange::Remove,
                ..Settled::default()
            };
        }

        let Some(mut record) = state.record.take() else {
            return Settled::default();
        };
        let deadline = record
            .absolute_expires_at
            .unwrap_or(record.created_at + config.absolute_timeout);
        let idle = record.idle_timeout.unwrap_or(config.idle_timeout);
        let expires_at = (now + idle).min(deadline);
        record = record.with_expires_at(expires_at);
        let persistent = record.idle_timeout.is_some();
        let max_age = |at: OffsetDateTime| persistent.then(|| at - now);

        let result = match &state.original {
            None if !state.modified => return Settled::default(),
            None => self.create(record).await,
            Some(original) if state.cycle => self.cycle(original.id, record).await,
            Some(original) if state.modified => {
                self.save(
                    original,
                    record,
                    &state.changes,
                    state.expiry_changed || self.cookie_needs_reseal(),
                )
                .await
            }
            Some(original) => {
                let due = expires_at - original.expires_at >= config.touch_interval;
                if due {
                    match config.store.touch(&original.id, expires_at).await {
                        Ok(true) => Ok((
                            if persistent || self.cookie_needs_reseal() {
                                CookieChange::Set {
                                    id: original.id,
                                    max_age: max_age(expires_at),
                                }
                            } else {
                                CookieChange::None
                            },
                            Vec::new(),
                        )),
                        Ok(false) => Ok((CookieChange::Remove, Vec::new())),
                        Err(error) => Err(error),
                    }
                } else if self.cookie_needs_reseal() {
                    Ok((
                        CookieChange::Set {
                            id: original.id,
                            max_age: max_age(original.expires_at),
                        },
                        Vec::new(),
                    ))
                } else {
                    Ok((CookieChange::None, Vec::new()))
                }
            }
        };
        match result {
            Ok((cookie, conflicts)) => Settled {
                cookie,
                unavailable: false,
                conflicts,
            },
            Err(error) => {
                tracing::error!(%error, "session store failed to save a session");
                Settled {
                    unavailable: true,
                    ..Settled::default()
                }
            }
        }
    }

    fn cookie_for(&self, record: &SessionRecord) -> CookieChange {
        let now = self.config.clock.now();
        CookieChange::Set {
            id: record.id,
            max_age: record.idle_timeout.map(|_| record.expires_at - now),
        }
    }

    /// Creates a new record, drawing another ID on the (astronomically unlikely) collision.
    async fn create(
        &self,
        mut record: SessionRecord,
    ) -> Result<(CookieChange, Vec<String>), StoreError> {
        for _ in 0..3 {
            match self.config.store.create(&record).await? {
                CreateOutcome::Created => return Ok((self.cookie_for(&record), Vec::new())),
                CreateOutcome::IdTaken => record.id = fresh_id()?,
            }
        }
        Err(StoreError::backend("three session ID collisions in a row"))
    }

    /// Moves the session to a new ID: created first, old deleted after.
    async fn cycle(
        &self,
        old: SessionId,
        mut record: SessionRecord,
    ) -> Result<(CookieChange, Vec<String>), StoreError> {
        record.version = 1;
        for _ in 0..3 {
            record.id = fresh_id()?;
            match self.config.store.cycle(&old, &record).await? {
                CreateOutcome::Created => return Ok((self.cookie_for(&record), Vec::new())),
                CreateOutcome::IdTaken => {}
            }
        }
        Err(StoreError::backend("three session ID collisions in a row"))
    }

    /// One versioned save; on a conflict, reload and re-apply this request's changes key by key.
    async fn save(
        &self,
        original: &Original,
        mut record: SessionRecord,
        changes: &Changes,
        resend_cookie: bool,
    ) -> Result<(CookieChange, Vec<String>), StoreError> {
        let config = &*self.config;
        let mut conflicts = Vec::new();
        record.version = original.version;
        for attempt in 0..config.max_save_attempts {
            match config.store.save(&record).await? {
                SaveOutcome::Saved { .. } => {
                    let cookie = if resend_cookie || record.idle_timeout.is_some() {
                        self.cookie_for(&record)
                    } else {
                        CookieChange::None
                    };
                    return Ok((cookie, conflicts));
                }
                SaveOutcome::NotFound => {
                    // Deleted meanwhile (a logout elsewhere): it stays deleted.
                    tracing::info!(
                        "session was deleted by a concurrent request; this request's changes are dropped"
                    );
                    return Ok((CookieChange::Remove, Vec::new()));
                }
                SaveOutcome::Conflict => {
                    // Many writers on one session: each round has one winner, so back off a
                    // random while before re-reading, or the same writers collide again.
                    backoff(attempt).await;
                    let Some(fresh) = config.store.load(&original.id).await? else {
                        tracing::info!(
                            "session was deleted by a concurrent request; this request's changes are dropped"
                        );
                        return Ok((CookieChange::Remove, Vec::new()));
                    };
                    conflicts.clear();
                    record = reapply(
                        &fresh,
                        &record,
                        original,
                        changes,
                        config.conflict_policy,
                        &mut conflicts,
                    );
                }
            }
        }
        Err(StoreError::backend(format!(
            "session save still conflicting after {} attempts",
            config.max_save_attempts
        )))
    }
}

/// Sleeps a random time below `min(2^attempt, 32)` milliseconds (full jitter). Uses tokio's
/// timer: the runtime must have time enabled (`#[tokio::main]` does), which only matters for
/// sessions written by concurrent requests.
async fn backoff(attempt: u32) {
    let cap_ms = 1_u64 << attempt.min(5);
    let mut random = [0_u8; 2];
    let jitter = if auth_core::fill_random(&mut random).is_ok() {
        u64::from(u16::from_le_bytes(random))
    } else {
        u64::from(attempt) * 7919
    };
    let micros = jitter % (cap_ms * 1000 + 1);
    tokio::time::sleep(std::time::Duration::from_micros(micros)).await;
}

fn fresh_id() -> Result<SessionId, StoreError> {
    SessionId::generate().map_err(StoreError::backend)
}

/// This request's changes laid over `fresh`, the record a concurrent request saved.
fn reapply(
    fresh: &SessionRecord,
    ours: &SessionRecord,
    original: &Original,
    changes: &Changes,
    policy: ConflictPolicy,
    conflicts: &mut Vec<String>,
) -> SessionRecord {
    let mut merged = fresh
        .clone()
        .with_expires_at(ours.expires_at.max(fresh.expires_at));
    merged.idle_timeout = ours.idle_timeout.or(fresh.idle_timeout);
    merged.absolute_expires_at = ours.absolute_expires_at.or(fresh.absolute_expires_at);
    let data: &mut SessionData = merged.data_mut();
    if changes.cleared {
        data.clear();
    }
    for (key, value) in &changes.keys {
        let theirs = fresh.data.get(key);
        let before = original.data.get(key);
        if theirs != before {
            conflicts.push(key.clone());
            match policy {
                ConflictPolicy::FirstWriterWins => {
                    tracing::info!(key = %key, "concurrent change to a session key kept; this request's value dropped");
                    continue;
                }
                ConflictPolicy::LastWriterWins => {
                    tracing::info!(key = %key, "concurrent change to a session key overwritten (last writer wins)");
                }
            }
        }
        match value {
            Some(value) => {
                data.insert(key.clone(), value.clone());
            }
            None => {
                data.remove(key);
            }
        }
    }
    merged
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("has_cookie", &self.inner.cookie.is_some())
            .field("used", &self.inner.used.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
