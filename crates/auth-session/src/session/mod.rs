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
//!   to write (a read-only request whose touch is not due settles without it).
//!
//! The modules: [`state`] (the handle's state, the cookie and the load), [`plan`] (what
//! settling must do, decided under the state's lock), [`settle`] (doing it, step by step,
//! through the store), [`merge`] (re-applying a request's changes over a concurrent save);
//! [`others`] holds the methods on the principal's other sessions.

mod merge;
mod others;
mod plan;
mod settle;
mod state;

use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use auth_core::{AuthMethod, Identity, IdentityResolver, ResolveFuture, SessionRecord};
use http::HeaderMap;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) use self::plan::{CookieChange, Settled};
pub(crate) use self::settle::Settle;
pub(crate) use self::state::SessionInner;
use self::state::State;
use crate::config::Config;
use crate::unix_time::{date, truncate};
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
/// [`logout_other_sessions`](Self::logout_other_sessions) is the exception: it deletes the
/// principal's other sessions in the store at once, during the call.
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

    /// The handle for one request.
    pub(crate) fn new(config: &Arc<Config>, headers: &HeaderMap) -> Self {
        Self {
            inner: Arc::new(SessionInner::new(Arc::clone(config), headers)),
        }
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
            record.issuer = identity.issuer().map(str::to_owned);
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
        record.absolute_expires_at = Some(date(truncate(
            record.created_at.unix_timestamp_nanos() + expiry.absolute().whole_nanoseconds(),
        )));
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

fn identity_of(record: &SessionRecord) -> Option<Identity> {
    let subject = record.subject.as_deref()?;
    let mut identity = Identity::builder(subject, AuthMethod::Session)
        .roles(record.roles.iter().cloned())
        .issued_at(record.created_at)
        .expires_at(record.expires_at);
    if let Some(issuer) = &record.issuer {
        identity = identity.issuer(issuer.as_str());
    }
    Some(identity.build())
}

impl IdentityResolver for SessionInner {
    fn resolve(self: Arc<Self>) -> ResolveFuture {
        let session = Session { inner: self };
        Box::pin(async move { session.identity().await.map_err(Into::into) })
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("has_cookie", &self.inner.cookie().is_some())
            .field("used", &self.inner.used.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
