//! The per-request `Session` handle and what happens to it after the response.
//!
//! # Cost
//!
//! The handle is built for every request, used or not, so it is kept cheap:
//!
//! - its state sits behind a `std::sync::Mutex`, held only for short synchronous steps, never
//!   across an `.await`;
//! - every store is used the same way, through the [`SessionStore`](auth_core::SessionStore)
//!   trait: a load on first use (concurrent first uses of one handle may both load; the first
//!   answer is adopted, the other dropped), and after the response one settling step, which calls the store only when there is something
//!   to write (a read-only request whose touch is not due settles without it);
//! - the handle's allocation and buffers are recycled per thread once the response is done and
//!   no other handle to it is left.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use auth_core::{
    AuthMethod, CreateOutcome, Identity, IdentityResolver, ResolveFuture, SaveOutcome, SessionData,
    SessionId, SessionRecord, StoreError,
};
use http::header::COOKIE;
use http::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::Duration;

use crate::config::{Config, ConflictPolicy};
use crate::id::{new_session_id, parse_id, parse_id_bytes};
use crate::unix_time::{date, duration, truncate};
use crate::working::Working;
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
    /// `None` only while the handle waits in the per-thread pool (so a pooled handle keeps no
    /// layer, and no store, alive).
    config: Option<Arc<Config>>,
    /// The request's `Cookie` header values, kept as clones: the session cookie is looked up
    /// and verified only when the session is used (an untouched request costs no parsing and
    /// no MAC check). A server's header values share the buffer the request was read into, so
    /// a clone is a reference-count increment; they are dropped when the handle is recycled,
    /// so a pooled handle keeps no request's buffer alive.
    cookies: RequestCookies,
    /// Set by the first method call, so an untouched session costs nothing afterwards.
    pub(crate) used: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    loaded: bool,
    /// The verified cookie, once checked: the ID, and whether it was sealed with an old key.
    verified: Option<(Option<SessionId>, bool)>,
    /// The layer's clock reading (nanoseconds) taken when the session was loaded or created,
    /// if one was.
    read_at: Option<i128>,
    error: Option<Arc<StoreError>>,
    /// The working copy; `None` while anonymous with nothing written.
    record: Option<Working>,
    /// What the store had, when there was a record: enough to save against it and to detect
    /// concurrent changes (not a full copy).
    original: Option<Original>,
    changes: Changes,
    modified: bool,
    cycle: bool,
    destroyed: bool,
    expiry_changed: bool,
}

impl State {
    /// Empties the state for the next request, keeping the buffers of `changes`.
    fn reset(&mut self) {
        let Self {
            loaded,
            verified,
            read_at,
            error,
            record,
            original,
            changes,
            modified,
            cycle,
            destroyed,
            expiry_changed,
        } = self;
        *loaded = false;
        *verified = None;
        *read_at = None;
        *error = None;
        *record = None;
        *original = None;
        changes.reset(false);
        *modified = false;
        *cycle = false;
        *destroyed = false;
        *expiry_changed = false;
    }

    /// The outcome of the load, once loaded.
    fn status(&self) -> Result<(), SessionError> {
        match &self.error {
            Some(error) => Err(SessionError::Unavailable(error.clone())),
            None => Ok(()),
        }
    }
}

/// The loaded record's identity, version, expiry and data (shared, not copied).
struct Original {
    id: SessionId,
    version: u64,
    /// Nanoseconds since the epoch.
    expires_at: i128,
    /// `None` until this request first writes the data: the working copy's data is the loaded
    /// data until then (a read-only request shares it without another reference).
    data: Option<Arc<SessionData>>,
}

impl State {
    /// Keeps the loaded data in `original` before the first write to the working copy (the
    /// merge compares a concurrent save against it). Call before every write to the data.
    fn keep_loaded_data(&mut self) {
        if let (Some(original), Some(record)) = (&mut self.original, &self.record)
            && original.data.is_none()
        {
            original.data = Some(Arc::clone(&record.data));
        }
    }
}

/// The keys this request set or removed, kept so they can be re-applied over a concurrent
/// save. Only names: a key's value is the working record's (absent when removed), since every
/// change goes to both. One string buffer for all names, so a recycled handle allocates nothing.
#[derive(Default)]
struct Changes {
    cleared: bool,
    names: String,
    /// The end of each name in `names`.
    ends: Vec<usize>,
}

/// Past this many changed keys, [`Changes::note`] stops looking for duplicates (the merge
/// dedups).
const DEDUP_UP_TO: usize = 16;

impl Changes {
    fn reset(&mut self, cleared: bool) {
        self.cleared = cleared;
        self.names.clear();
        self.ends.clear();
    }

    fn note(&mut self, key: &str) {
        if self.ends.len() <= DEDUP_UP_TO && self.keys().any(|k| k == key) {
            return;
        }
        self.names.push_str(key);
        self.ends.push(self.names.len());
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(from, to)| self.names.get(from..to).unwrap_or_default())
    }

    fn is_empty(&self) -> bool {
        !self.cleared && self.ends.is_empty()
    }
}

/// What the layer must do to the response once the session is settled.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    pub(crate) cookie: CookieChange,
    pub(crate) unavailable: bool,
    pub(crate) conflicts: Vec<String>,
}

impl Settled {
    fn cookie(cookie: CookieChange) -> Self {
        Self {
            cookie,
            ..Self::default()
        }
    }

    fn unavailable() -> Self {
        Self {
            unavailable: true,
            ..Self::default()
        }
    }

    /// A store failure while settling: logged, and the response becomes a 503.
    fn failed(error: &StoreError) -> Self {
        tracing::error!(%error, "session store failed to save a session");
        Self::unavailable()
    }
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

/// What settling must do, decided under the state's lock.
enum Plan {
    Done(Settled),
    Delete(SessionId),
    Create(Working),
    Cycle(SessionId, Working),
    Save {
        record: Working,
        resend_cookie: bool,
    },
    Touch {
        id: SessionId,
        /// Nanoseconds since the epoch.
        expires_at: i128,
        resend_cookie: bool,
        max_age: Option<Duration>,
    },
}

/// Settling that needs the store: the plan and what a save needs to merge.
pub(crate) struct Job {
    plan: Plan,
    original: Option<Original>,
    changes: Changes,
    /// "Now" when settling began, in nanoseconds since the epoch.
    now: i128,
}

thread_local! {
    /// Handles whose request is done, kept for the next request on this thread.
    static POOL: RefCell<Vec<Arc<SessionInner>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many idle handles per thread.
const POOL_MAX: usize = 32;
/// A handle whose buffers grew past this (many changed keys) is freed, not kept.
const POOL_MAX_BYTES: usize = 4 * 1024;
/// A handle that held more than this many further `Cookie` headers is freed, not kept.
const POOL_MAX_COOKIE_HEADERS: usize = 8;

impl Session {
    /// The session of a request that a [`SessionLayer`](crate::SessionLayer) covers; `None`
    /// without one. What the axum extractor does, for plain tower and hyper services.
    ///
    /// ```
    /// use auth_cookie::CookieKeys;
    /// use auth_session::{MemoryStore, Session, SessionLayer};
    /// use http::{Request, Response};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    /// let app = ServiceBuilder::new().layer(layer).service_fn(|req: Request<()>| async move {
    ///     let session = Session::from_request(&req).expect("SessionLayer");
    ///     session.insert("seen", &true).await?;
    ///     Ok::<_, auth_session::SessionError>(Response::new(()))
    /// });
    /// let res = app.oneshot(Request::new(())).await?;
    /// assert!(res.headers().contains_key(http::header::SET_COOKIE));
    ///
    /// assert!(Session::from_request(&Request::new(())).is_none(), "no layer, no session");
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn from_request<B>(req: &http::Request<B>) -> Option<Self> {
        Self::from_extensions(req.extensions())
    }

    /// The session in a request's extensions (see [`from_request`](Self::from_request)).
    ///
    /// The layer puts a single value there, the [`auth_core::LazyIdentity`] whose resolver is
    /// the session; this finds the handle through it. `None` when no `SessionLayer` covers
    /// the request (or another layer further in replaced that `LazyIdentity`).
    #[must_use]
    pub fn from_extensions(extensions: &http::Extensions) -> Option<Self> {
        let lazy = extensions.get::<auth_core::LazyIdentity>()?;
        let inner = lazy.downcast_resolver::<SessionInner>()?;
        Some(Self { inner })
    }

    /// The handle for one request, recycled from this thread's pool when possible.
    pub(crate) fn new(config: &Arc<Config>, headers: &HeaderMap) -> Self {
        let pooled = POOL
            .try_with(|pool| pool.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        if let Some(mut inner) = pooled
            && let Some(reused) = Arc::get_mut(&mut inner)
        {
            reused.reuse(config.clone(), headers);
            return Self { inner };
        }
        Self {
            inner: Arc::new(SessionInner::new(config.clone(), headers)),
        }
    }

    /// Gives the handle back to this thread's pool when no other handle to it is left (the
    /// request and every clone are gone), so the next request reuses it.
    pub(crate) fn recycle(self) {
        let Self { mut inner } = self;
        let Some(done) = Arc::get_mut(&mut inner) else {
            return;
        };
        // An unused handle's state was never touched: only its layer and the request's
        // cookies are let go.
        let reusable = if *done.used.get_mut() {
            done.clear()
        } else {
            done.config = None;
            done.cookies.clear();
            true
        };
        if !reusable {
            return;
        }
        let _ = POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut()
                && pool.len() < POOL_MAX
            {
                pool.push(inner);
            }
        });
    }

    /// Locks the state and loads the record on first use.
    async fn state(&self) -> Result<MutexGuard<'_, State>, SessionError> {
        let inner = &*self.inner;
        inner.used.store(true, Ordering::Release);
        inner.load().await
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
        let state = &mut *state;
        state.keep_loaded_data();
        let record = self.inner.ensure_record(state)?;
        let data = record.data_mut();
        match data.get_mut(key) {
            Some(slot) => *slot = value,
            None => {
                data.insert(key.to_owned(), value);
            }
        }
        state.changes.note(key);
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
        let state = &mut *state;
        if !state
            .record
            .as_ref()
            .is_some_and(|r| r.data.contains_key(key))
        {
            return Ok(None);
        }
        state.keep_loaded_data();
        let old = state
            .record
            .as_mut()
            .and_then(|record| record.data_mut().remove(key));
        state.changes.note(key);
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
        let state = &mut *state;
        state.keep_loaded_data();
        let Some(record) = state.record.as_mut() else {
            return Ok(());
        };
        record.data_mut().clear();
        state.changes.reset(true);
        state.modified = true;
        Ok(())
    }

    /// Logs `identity` in: its principal (its [issuer](Identity::issuer), if any, and its
    /// subject) and roles are stored with the session, and the session ID **always** changes
    /// (no session fixation).
    ///
    /// The data is flushed, except the keys the layer
    /// [keeps on login](crate::SessionLayer::with_keep_on_login) (default: none), unless this
    /// principal is already logged in:
    ///
    /// | logged in before | the data |
    /// |---|---|
    /// | nobody (anonymous) | flushed |
    /// | another subject, or the same subject of another issuer | flushed |
    /// | this principal (same issuer or both none, same subject) | kept |
    ///
    /// # Security
    ///
    /// Flushing anonymous data stops a fixation-style injection: an attacker who prepares an
    /// anonymous session with chosen keys (`role_override`, a redirect target) and gets the
    /// victim to log in over it finds none of them in the victim's session. The subject is
    /// compared together with its issuer: `bob` of one identity provider is not `bob` of
    /// another, nor a local `bob`.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn login(&self, identity: &Identity) -> Result<(), SessionError> {
        let mut state = self.state().await?;
        let state = &mut *state;
        let keep = &self.inner.config().keep_on_login;
        state.keep_loaded_data();
        let record = self.inner.ensure_record(state)?;
        let same_principal = record.subject.as_deref() == Some(identity.subject())
            && record.issuer.as_deref() == identity.issuer();
        if !same_principal {
            // (Written only when there is something to drop: the data may be shared.)
            if record.data.keys().any(|key| !keep.contains(key)) {
                record.data_mut().retain(|key, _| keep.contains(key));
            }
            // Only for another principal: a re-login keeps the (shared) issuer string.
            record.issuer = identity.issuer().map(Arc::from);
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
        let mut state = self.inner.lock();
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
        let state = &mut *state;
        let record = self.inner.ensure_record(state)?;
        record.idle_timeout = Some(expiry.idle());
        // Whole seconds within `OffsetDateTime`'s range, as every stored deadline.
        record.absolute_expires_at = Some(truncate(
            record.created_at + expiry.absolute().whole_nanoseconds(),
        ));
        state.expiry_changed = true;
        state.modified = true;
        Ok(())
    }

    /// The logged-in identity (method [`AuthMethod::Session`]), or `None`. It names the
    /// issuer of the identity that logged in ([`Identity::issuer`]), if that had one.
    ///
    /// # Errors
    ///
    /// [`SessionError::Unavailable`] when the store fails to load the session.
    pub async fn identity(&self) -> Result<Option<Identity>, SessionError> {
        let state = self.state().await?;
        Ok(state.record.as_ref().and_then(identity_of))
    }
}

fn identity_of(record: &Working) -> Option<Identity> {
    let subject = record.subject.as_deref()?;
    let mut identity = Identity::builder(subject, AuthMethod::Session)
        .roles(record.roles.iter().cloned())
        .issued_at(date(record.created_at))
        .expires_at(date(record.expires_at));
    if let Some(issuer) = &record.issuer {
        identity = identity.issuer(Arc::clone(issuer));
    }
    Some(identity.build())
}

impl IdentityResolver for SessionInner {
    fn resolve(self: Arc<Self>) -> ResolveFuture {
        let session = Session { inner: self };
        Box::pin(async move { session.identity().await.map_err(Into::into) })
    }
}

impl SessionInner {
    fn new(config: Arc<Config>, headers: &HeaderMap) -> Self {
        let mut cookies = RequestCookies::default();
        cookies.fill(headers);
        Self {
            config: Some(config),
            cookies,
            used: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    /// Readies a pooled handle for a new request.
    fn reuse(&mut self, config: Arc<Config>, headers: &HeaderMap) {
        self.config = Some(config);
        self.cookies.fill(headers);
        *self.used.get_mut() = false;
    }

    /// Drops everything the request left, keeping the buffers; `false` when they are too big
    /// to keep.
    fn clear(&mut self) -> bool {
        self.config = None;
        self.cookies.clear();
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        state.reset();
        self.cookies.rest.capacity() <= POOL_MAX_COOKIE_HEADERS
            && state.changes.names.capacity() <= POOL_MAX_BYTES
            && state.changes.ends.capacity() <= 64
    }

    pub(crate) fn config(&self) -> &Config {
        match &self.config {
            Some(config) => config,
            None => unreachable!("a session handle is used only while it serves a request"),
        }
    }

    pub(crate) fn config_arc(&self) -> Arc<Config> {
        match &self.config {
            Some(config) => Arc::clone(config),
            None => unreachable!("a session handle is used only while it serves a request"),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every step under the lock leaves the state consistent, so a panic elsewhere (a
        // `Deserialize` implementation, say) cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The session ID from the cookie, if it verifies, and whether it needs re-sealing.
    fn verified_cookie(&self, state: &mut State) -> (Option<SessionId>, bool) {
        if let Some(verified) = state.verified {
            return verified;
        }
        let verified = self.verify_cookie();
        state.verified = Some(verified);
        verified
    }

    /// The raw value of the session cookie the request sent, if any.
    fn cookie(&self) -> Option<&str> {
        if self.cookies.is_empty() {
            return None;
        }
        let name = self.config().cookie().name();
        self.cookies
            .values()
            .find_map(|value| auth_cookie::header_cookie(value.as_bytes(), name))
    }

    fn verify_cookie(&self) -> (Option<SessionId>, bool) {
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

    fn cookie_id(&self, state: &mut State) -> Option<SessionId> {
        self.verified_cookie(state).0
    }

    fn cookie_needs_reseal(&self, state: &mut State) -> bool {
        self.verified_cookie(state).1
    }

    /// Loads the record from the store on first use. The state's lock is not held across the
    /// store call; when two uses of one handle load at once (a handler's concurrent
    /// futures), the first answer is adopted and the other dropped.
    async fn load(&self) -> Result<MutexGuard<'_, State>, SessionError> {
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
        let loaded = loaded.map(|record| record.map(Working::from_record));
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
    fn adopt(&self, state: &mut State, id: SessionId) {
        let Some((found, version, expires_at)) = state
            .record
            .as_ref()
            .map(|r| (r.id, r.version, r.expires_at))
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
    fn ensure_record<'s>(&self, state: &'s mut State) -> Result<&'s mut Working, SessionError> {
        if state.record.is_none() {
            let config = self.config();
            let now = now_nanos(config);
            let id = new_session_id().map_err(|_| SessionError::Random)?;
            // Whole seconds, as `SessionRecord::new` keeps them.
            let mut record = Working::new(
                id,
                truncate(now),
                truncate(now + config.idle_timeout.whole_nanoseconds()),
            );
            record.absolute_expires_at =
                Some(truncate(now + config.absolute_timeout.whole_nanoseconds()));
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

    /// Settles what the request did, after the inner service answered, when that needs no
    /// store call (nothing was written, and no touch is due). Otherwise the [`Job`] for
    /// [`settle_io`].
    pub(crate) fn settle_now(&self) -> Result<Settled, Job> {
        let mut state = self.lock();
        let state = &mut *state;
        let (plan, now) = self.plan(state);
        if let Plan::Done(settled) = plan {
            return Ok(settled);
        }
        Err(Job {
            plan,
            original: state.original.take(),
            changes: std::mem::take(&mut state.changes),
            now,
        })
    }

    /// Decides what settling must do. Takes the working record when it is to be written.
    ///
    /// The expiry arithmetic is done on nanoseconds since the epoch (exact, like the same sums
    /// on `OffsetDateTime`, without calendar work); dates are built only for what is written.
    fn plan(&self, state: &mut State) -> (Plan, i128) {
        let config = self.config();
        if state.error.is_some() {
            return (Plan::Done(Settled::unavailable()), 0);
        }
        if state.destroyed {
            let id = match &state.original {
                Some(original) => Some(original.id),
                None => self.cookie_id(state),
            };
            let plan = match id {
                Some(id) => Plan::Delete(id),
                None => Plan::Done(Settled::cookie(CookieChange::Remove)),
            };
            return (plan, 0);
        }
        let Some(record) = &state.record else {
            // Nothing was written and nothing loaded: nothing to do.
            return (Plan::Done(Settled::default()), 0);
        };
        if state.original.is_none() && !state.modified {
            return (Plan::Done(Settled::default()), 0);
        }
        let deadline = match record.absolute_expires_at {
            Some(at) => at,
            None => record.created_at + config.absolute_timeout.whole_nanoseconds(),
        };
        let idle = record.idle_timeout.unwrap_or(config.idle_timeout);
        let expiry_at = |now: i128| (now + idle.whole_nanoseconds()).min(deadline);
        let persistent = record.idle_timeout.is_some();

        if let Some(original) = &state.original
            && !state.modified
        {
            let (id, loaded_expiry) = (original.id, original.expires_at);
            // Whether a touch is due is a throttle decision: the reading taken at load serves
            // (as old as the request: a slow request may skip a touch that is due, and a
            // re-sealed cookie's `Max-Age` may overstate the time left by the request's
            // length; the store enforces the deadline either way). A touch itself reads the
            // clock afresh, so a session that idled out meanwhile is never extended.
            let decided_at = state.read_at.unwrap_or_else(|| now_nanos(config));
            let moved = expiry_at(decided_at) - loaded_expiry;
            let plan = if moved >= config.touch_interval.whole_nanoseconds() {
                let now = now_nanos(config);
                // Whole seconds within `OffsetDateTime`'s range, as a save writes it.
                let expires_at = truncate(expiry_at(now));
                let plan = Plan::Touch {
                    id,
                    expires_at,
                    resend_cookie: persistent || self.cookie_needs_reseal(state),
                    max_age: persistent.then(|| duration(expires_at - now)),
                };
                return (plan, now);
            } else if self.cookie_needs_reseal(state) {
                Plan::Done(Settled::cookie(CookieChange::Set {
                    id,
                    max_age: persistent.then(|| duration(loaded_expiry - decided_at)),
                }))
            } else {
                Plan::Done(Settled::default())
            };
            return (plan, decided_at);
        }
        let now = match (&state.original, state.read_at) {
            // A new session: it expires counting from the reading it was created with (its
            // creation can extend nothing, so that reading serves).
            (None, Some(at)) => at,
            // A stored session is written with a fresh reading, so one that idled out during
            // the request is not extended.
            _ => now_nanos(config),
        };
        let expires_at = expiry_at(now);
        let original = state.original.as_ref().map(|o| (o.id, o.version));
        let resend_cookie = state.expiry_changed || self.cookie_needs_reseal(state);
        let Some(mut record) = state.record.take() else {
            return (Plan::Done(Settled::default()), now);
        };
        // Truncated to whole seconds, as `SessionRecord::with_expires_at` would.
        record.expires_at = truncate(expires_at);
        let plan = match original {
            None => Plan::Create(record),
            Some((id, _)) if state.cycle => Plan::Cycle(id, record),
            Some((_, version)) => {
                record.version = version;
                Plan::Save {
                    record,
                    resend_cookie,
                }
            }
        };
        (plan, now)
    }
}

/// "Now" by the layer's clock, in nanoseconds since the epoch.
fn now_nanos(config: &Config) -> i128 {
    match config.system_clock_nanos() {
        Some(nanos) => nanos,
        None => config.clock().now().unix_timestamp_nanos(),
    }
}

/// The cookie for a session just written.
fn cookie_for(record: &Working, now: i128) -> CookieChange {
    CookieChange::Set {
        id: record.id,
        max_age: record.max_age(now),
    }
}

/// The cookie after a save of `record`: sent again when asked to, or when the session is
/// persistent (its `Max-Age` counts down).
fn saved(record: &SessionRecord, resend_cookie: bool, now: i128) -> CookieChange {
    if resend_cookie || record.idle_timeout.is_some() {
        CookieChange::Set {
            id: record.id,
            max_age: record
                .idle_timeout
                .map(|_| duration(record.expires_at.unix_timestamp_nanos() - now)),
        }
    } else {
        CookieChange::None
    }
}

fn touched(
    live: bool,
    id: SessionId,
    resend_cookie: bool,
    max_age: Option<Duration>,
) -> CookieChange {
    match (live, resend_cookie) {
        (true, true) => CookieChange::Set { id, max_age },
        (true, false) => CookieChange::None,
        (false, _) => CookieChange::Remove,
    }
}

/// The request's `Cookie` header values (see [`SessionInner::cookies`]).
#[derive(Default)]
struct RequestCookies {
    /// The first `Cookie` header (usually the only one).
    first: Option<HeaderValue>,
    /// Any further `Cookie` headers, in order.
    rest: Vec<HeaderValue>,
}

impl RequestCookies {
    /// Clones the request's `Cookie` values in, in place of any earlier ones.
    fn fill(&mut self, headers: &HeaderMap) {
        self.clear();
        let mut values = headers.get_all(COOKIE).into_iter();
        self.first = values.next().cloned();
        if self.first.is_some() {
            // By hand: `extend` costs more than the usual no further value.
            for value in values {
                self.rest.push(value.clone());
            }
        }
    }

    fn clear(&mut self) {
        if self.first.take().is_some() {
            self.rest.clear();
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn values(&self) -> impl Iterator<Item = &HeaderValue> {
        self.first.iter().chain(&self.rest)
    }
}

fn deleted_meanwhile() -> Settled {
    tracing::info!(
        "session was deleted by a concurrent request; this request's changes are dropped"
    );
    Settled::cookie(CookieChange::Remove)
}

fn collisions() -> StoreError {
    StoreError::backend("three session ID collisions in a row")
}

fn fresh_id() -> Result<SessionId, StoreError> {
    new_session_id().map_err(StoreError::backend)
}

/// Carries out `job` with the store's async calls; the handle is no longer needed.
pub(crate) async fn settle_io(config: Arc<Config>, job: Job) -> Settled {
    let store = &*config.store;
    let Job {
        plan,
        original,
        changes,
        now,
    } = job;
    let result = match plan {
        Plan::Done(settled) => return settled,
        Plan::Delete(id) => {
            return match store.delete(&id).await {
                Ok(()) => Settled::cookie(CookieChange::Remove),
                Err(error) => {
                    tracing::error!(%error, "session store failed to delete a session at logout");
                    Settled::unavailable()
                }
            };
        }
        Plan::Create(record) => create(store, record, now).await,
        Plan::Cycle(old, record) => cycle(store, old, record, now).await,
        Plan::Save {
            record,
            resend_cookie,
        } => match &original {
            Some(original) => {
                save(
                    &config,
                    SaveJob {
                        original,
                        record,
                        changes: &changes,
                        resend_cookie,
                        now,
                    },
                )
                .await
            }
            None => Err(StoreError::backend("no original")),
        },
        Plan::Touch {
            id,
            expires_at,
            resend_cookie,
            max_age,
        } => store
            .touch(&id, date(expires_at))
            .await
            .map(|live| Settled::cookie(touched(live, id, resend_cookie, max_age))),
    };
    result.unwrap_or_else(|error| Settled::failed(&error))
}

/// Creates a new record, drawing another ID on the (astronomically unlikely) collision.
async fn create(
    store: &dyn auth_core::SessionStore,
    mut session: Working,
    now: i128,
) -> Result<Settled, StoreError> {
    let mut record = session.to_record();
    for _ in 0..3 {
        match store.create(&record).await? {
            CreateOutcome::Created => return Ok(Settled::cookie(cookie_for(&session, now))),
            CreateOutcome::IdTaken => {
                session.id = fresh_id()?;
                record.id = session.id;
            }
            // `create` never answers this; refuse rather than guess.
            CreateOutcome::NotFound => {
                return Err(StoreError::backend("store answered NotFound to create"));
            }
        }
    }
    Err(collisions())
}

/// Moves the session to a new ID: created first, old deleted after.
async fn cycle(
    store: &dyn auth_core::SessionStore,
    old: SessionId,
    mut session: Working,
    now: i128,
) -> Result<Settled, StoreError> {
    session.version = 1;
    let mut record = session.to_record();
    for _ in 0..3 {
        session.id = fresh_id()?;
        record.id = session.id;
        match store.cycle(&old, &record).await? {
            CreateOutcome::Created => return Ok(Settled::cookie(cookie_for(&session, now))),
            // Ended meanwhile (a logout, a revocation): it stays ended, this request's
            // login or ID change is dropped.
            CreateOutcome::NotFound => return Ok(deleted_meanwhile()),
            CreateOutcome::IdTaken => {}
        }
    }
    Err(collisions())
}

struct SaveJob<'a> {
    original: &'a Original,
    record: Working,
    changes: &'a Changes,
    resend_cookie: bool,
    /// "Now" when settling began, in nanoseconds since the epoch.
    now: i128,
}

/// One versioned save; on a conflict, reload and re-apply this request's changes key by key.
async fn save(config: &Config, job: SaveJob<'_>) -> Result<Settled, StoreError> {
    let SaveJob {
        original,
        record,
        changes,
        resend_cookie,
        now,
    } = job;
    let mut record = record.to_record();
    let store = &*config.store;
    // This request's values: the working data before any merge.
    let ours = Arc::clone(&record.data);
    let mut conflicts = Vec::new();
    let mut saves = 1;
    let mut outcome = store.save(&record).await?;
    loop {
        match outcome {
            SaveOutcome::Saved { .. } => {
                return Ok(Settled {
                    cookie: saved(&record, resend_cookie, now),
                    unavailable: false,
                    conflicts,
                });
            }
            // Deleted meanwhile (a logout elsewhere): it stays deleted.
            SaveOutcome::NotFound => return Ok(deleted_meanwhile()),
            SaveOutcome::Conflict => {
                if saves >= config.max_save_attempts {
                    return Err(StoreError::backend(format!(
                        "session save still conflicting after {} attempts",
                        config.max_save_attempts
                    )));
                }
                // Many writers on one session: each round has one winner, so back off a
                // random while before re-reading, or the same writers collide again.
                backoff(saves.saturating_sub(1)).await;
                let Some(fresh) = store.load(&original.id).await? else {
                    return Ok(deleted_meanwhile());
                };
                conflicts.clear();
                record = reapply(
                    &fresh,
                    &record,
                    Merge {
                        original,
                        changes,
                        ours: &ours,
                        policy: config.conflict_policy,
                    },
                    &mut conflicts,
                );
                saves += 1;
                outcome = store.save(&record).await?;
            }
        }
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

/// What a merge needs besides the two records.
#[derive(Clone, Copy)]
struct Merge<'a> {
    original: &'a Original,
    changes: &'a Changes,
    /// This request's data (a changed key's value, or its absence when removed).
    ours: &'a SessionData,
    policy: ConflictPolicy,
}

/// This request's changes laid over `fresh`, the record a concurrent request saved.
fn reapply(
    fresh: &SessionRecord,
    current: &SessionRecord,
    merge: Merge<'_>,
    conflicts: &mut Vec<String>,
) -> SessionRecord {
    let Merge {
        original,
        changes,
        ours,
        policy,
    } = merge;
    let mut merged = fresh
        .clone()
        .with_expires_at(current.expires_at.max(fresh.expires_at));
    merged.idle_timeout = current.idle_timeout.or(fresh.idle_timeout);
    merged.absolute_expires_at = current.absolute_expires_at.or(fresh.absolute_expires_at);
    if changes.is_empty() {
        return merged;
    }
    let data: &mut SessionData = merged.data_mut();
    if changes.cleared {
        data.clear();
    }
    // In key order, each once.
    let keys: BTreeSet<&str> = changes.keys().collect();
    for key in keys {
        let theirs = fresh.data.get(key);
        let before = original.data.as_deref().unwrap_or(ours).get(key);
        if theirs != before {
            conflicts.push(key.to_owned());
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
        match ours.get(key) {
            Some(value) => {
                data.insert(key.to_owned(), value.clone());
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
            .field(
                "has_cookie",
                &(self.inner.config.is_some() && self.inner.cookie().is_some()),
            )
            .field("used", &self.inner.used.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
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
