use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys};
use auth_core::{SessionStore, SharedClock};
use time::Duration;
use tower_layer::Layer;

use super::SessionManager;
use crate::config::{Config, ConflictPolicy, DEFAULT_COOKIE_NAME};
use crate::{ConfigError, DefaultUnavailable};

/// A [`Layer`] that gives every request a lazy [`Session`](crate::Session), backed by any
/// [`SessionStore`].
///
/// The session cookie holds only the session ID, signed with [`CookieKeys`] (so a forged or
/// tampered ID is refused without a store lookup). Its default definition: name `id`,
/// `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`; use [`with_cookie`](Self::with_cookie) for
/// another name or the `__Host-` prefix. The layer works with or without
/// [`CookieLayer`](auth_cookie::CookieLayer): when one is installed further out, the session
/// cookie goes through its jar.
///
/// Every request gets one value in its extensions: an [`auth_core::LazyIdentity`] whose
/// resolver is the request's session (so [`auth_core::RequireAuthLayer`] and the `Identity`
/// extractors work unchanged, reading the store only on the routes that ask). The
/// [`Session`](crate::Session) handle is found through it: the axum extractor, or
/// [`Session::from_request`](crate::Session::from_request) /
/// [`Session::from_extensions`](crate::Session::from_extensions) elsewhere. An unknown, expired
/// or tampered cookie is simply anonymous, and is never adopted.
///
/// Responses that set or clear the cookie get `Cache-Control: no-store` and `Vary: Cookie`.
/// A store failure turns the response into a 503 (see
/// [`with_unavailable_response`](Self::with_unavailable_response)) and is logged with
/// `tracing::error!`.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use auth_cookie::CookieKeys;
/// use auth_session::{MemoryStore, Session, SessionLayer};
/// use http::{Request, Response, StatusCode, header};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
/// let app = ServiceBuilder::new().layer(layer).service_fn(|req: Request<String>| async move {
///     let session = Session::from_request(&req).expect("SessionLayer");
///     let visits: u32 = session.get("visits").await?.unwrap_or(0) + 1;
///     session.insert("visits", &visits).await?;
///     Ok::<_, auth_session::SessionError>(Response::new(visits.to_string()))
/// });
///
/// let res = app.clone().oneshot(Request::new(String::new())).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// let cookie = res.headers()[header::SET_COOKIE].to_str()?.split(';').next().unwrap().to_owned();
/// assert_eq!(res.headers()[header::CACHE_CONTROL], "no-store");
///
/// let req = Request::builder().header(header::COOKIE, cookie).body(String::new())?;
/// let res = app.oneshot(req).await?;
/// assert_eq!(res.body(), "2");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionLayer<R = DefaultUnavailable> {
    pub(super) config: Arc<Config>,
    pub(super) unavailable: R,
}

impl SessionLayer {
    /// A layer over `store` whose cookie is signed with `keys`.
    ///
    /// Defaults: cookie `id` (`HttpOnly; Secure; SameSite=Lax; Path=/`, no `Max-Age`), idle
    /// timeout 30 minutes, absolute timeout 12 hours, touch interval 1 minute, last writer
    /// wins on same-key conflicts.
    pub fn new(store: impl SessionStore, keys: CookieKeys) -> Self {
        let cookie = CookieConfig::builder(DEFAULT_COOKIE_NAME).build();
        // The default definition is valid by construction.
        let cookie = match cookie {
            Ok(cookie) => cookie,
            Err(error) => unreachable!("the default session cookie is valid: {error}"),
        };
        #[cfg(feature = "memory")]
        let memory = (&store as &dyn std::any::Any)
            .downcast_ref::<crate::MemoryStore>()
            .cloned();
        #[cfg(not(feature = "memory"))]
        let memory = None;
        Self {
            config: Arc::new(Config::new(Arc::new(store), memory, keys, cookie)),
            unavailable: DefaultUnavailable,
        }
    }
}

impl<R> SessionLayer<R> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Uses `cookie` as the session cookie's definition (name, prefix, `SameSite`, ...).
    ///
    /// # Errors
    ///
    /// [`ConfigError::CookieMaxAge`] when the definition sets a `Max-Age`: the session cookie's
    /// lifetime follows the session's expiry, not a fixed setting.
    pub fn with_cookie(mut self, cookie: CookieConfig) -> Result<Self, ConfigError> {
        if cookie.max_age().is_some() {
            return Err(ConfigError::CookieMaxAge);
        }
        self.config_mut().set_cookie_definition(cookie);
        Ok(self)
    }

    /// Sends the bare session ID instead of a signed one.
    ///
    /// The ID alone is 128 random bits checked against the store, so this is safe; signing
    /// (the default) additionally refuses forged or tampered IDs without a store lookup and
    /// makes key rotation visible. Use this only to share cookies with a system that cannot
    /// sign.
    pub fn with_unsigned_cookie(mut self) -> Self {
        self.config_mut().signed = false;
        self
    }

    /// Ends a session after `timeout` without activity. Default: 30 minutes.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().idle_timeout = timeout;
        self
    }

    /// Ends a session `timeout` after its creation, however active. Default: 12 hours.
    pub fn with_absolute_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().absolute_timeout = timeout;
        self
    }

    /// Extends the idle deadline of a session that was only read at most once per `interval`
    /// (a store write). Default: 1 minute.
    pub fn with_touch_interval(mut self, interval: Duration) -> Self {
        self.config_mut().touch_interval = interval;
        self
    }

    /// Uses `clock` for every expiry decision. Default: the system clock, read on Linux
    /// through the kernel's coarse real-time clock (the time at the last timer tick, at most a
    /// few milliseconds behind, and about five times cheaper to read): deadlines are whole
    /// seconds, so such a reading can move one by those few milliseconds at most. A clock
    /// given here is always read as it is.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.config_mut().set_clock(clock);
        self
    }

    /// Keeps these data keys when a *different* subject logs in over an existing session
    /// (for example a shopping cart or a language choice); everything else is flushed.
    /// Adds to the list. Default: none.
    pub fn with_keep_on_login<I>(mut self, keys: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.config_mut()
            .keep_on_login
            .extend(keys.into_iter().map(Into::into));
        self
    }

    /// How a same-key conflict between concurrent requests is resolved. Default:
    /// [`ConflictPolicy::LastWriterWins`].
    pub fn with_conflict_policy(mut self, policy: ConflictPolicy) -> Self {
        self.config_mut().conflict_policy = policy;
        self
    }

    /// Builds the response for a store failure with `response` instead of an empty 503.
    pub fn with_unavailable_response<R2>(self, response: R2) -> SessionLayer<R2> {
        SessionLayer {
            config: self.config,
            unavailable: response,
        }
    }
}

impl<S, R: Clone> Layer<S> for SessionLayer<R> {
    type Service = SessionManager<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionManager::from_parts(inner, self.config.clone(), self.unavailable.clone())
    }
}
