use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys};
use auth_core::{SessionStore, SharedClock};
use time::Duration;
use tower_layer::Layer;

use super::SessionManager;
use crate::config::{Config, ConflictPolicy, DEFAULT_COOKIE_NAME, DEV_COOKIE_NAME};
use crate::{ConfigError, DefaultUnavailable};

/// A [`Layer`] that gives every request a lazy [`Session`](crate::Session), backed by any
/// [`SessionStore`].
///
/// The session cookie holds only the session ID, signed with [`CookieKeys`] (so a forged or
/// tampered ID is refused without a store lookup). Its default definition: name
/// [`__Host-id`](crate::DEFAULT_COOKIE_NAME), `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`,
/// no `Domain`; use [`with_cookie`](Self::with_cookie) for another definition, and
/// [`with_insecure_dev_cookie`](Self::with_insecure_dev_cookie) for development over plain
/// HTTP. The layer works with or without [`CookieLayer`](auth_cookie::CookieLayer): when one
/// is installed further out, the session cookie goes through its jar.
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
/// # Security
///
/// - **Why `__Host-`**: the layer reads the first cookie of its name in the request, and a
///   browser sends a cookie that a sibling subdomain set for the parent domain
///   (`Domain=.example.com`) along with the app's own, often first. Under a plain name, anyone
///   who controls one subdomain could plant their own valid session cookie (the victim then
///   works in the attacker's session: session swapping) or a garbage one (a logout). A
///   `__Host-` cookie can only be set by the app's own host, `Secure`, for `Path=/`, without
///   `Domain`, and a plain-named look-alike is never read.
/// - A login always cycles the ID and keeps none of the data written before it, unless the
///   same principal logs in again or the key is on the
///   [keep-on-login list](Self::with_keep_on_login) (see
///   [`Session::login`](crate::Session::login)).
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
    /// Defaults: cookie `__Host-id` (`HttpOnly; SameSite=Lax; Secure; Path=/`, no `Domain`, no
    /// `Max-Age`), idle timeout 30 minutes, absolute timeout 12 hours, touch interval 1
    /// minute, no data kept across a login, last writer wins on same-key conflicts.
    pub fn new(store: impl SessionStore, keys: CookieKeys) -> Self {
        let cookie = CookieConfig::builder(DEFAULT_COOKIE_NAME).build();
        // The default definition is valid by construction.
        let cookie = match cookie {
            Ok(cookie) => cookie,
            Err(error) => unreachable!("the default session cookie is valid: {error}"),
        };
        Self {
            config: Arc::new(Config::new(Arc::new(store), keys, cookie)),
            unavailable: DefaultUnavailable,
        }
    }
}

impl<R> SessionLayer<R> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Uses `cookie` as the session cookie's definition (name, prefix, `SameSite`, ...).
    /// Default: [`__Host-id`](crate::DEFAULT_COOKIE_NAME), `HttpOnly; SameSite=Lax; Secure;
    /// Path=/`.
    ///
    /// ```
    /// use auth_cookie::{CookieConfig, CookiePrefix, CookieKeys, SameSite};
    /// use auth_session::{MemoryStore, SessionLayer};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let cookie = CookieConfig::builder("sid")
    ///     .prefix(CookiePrefix::Host)
    ///     .same_site(SameSite::Strict)
    ///     .build()?;
    /// assert_eq!(cookie.name(), "__Host-sid");
    /// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?).with_cookie(cookie)?;
    /// # let _ = layer;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// Keep the `__Host-` prefix ([`CookiePrefix::Host`](auth_cookie::CookiePrefix::Host)):
    /// under any other name, a sibling subdomain can plant a look-alike session cookie (see
    /// the [type's docs](Self#security)). Give up the prefix only when the session must be
    /// shared with subdomains (a `Domain`), all of which must then be trusted.
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

    /// Development mode for plain-HTTP origins: the session cookie becomes `id`
    /// ([`DEV_COOKIE_NAME`](crate::DEV_COOKIE_NAME)) without `Secure`, and so without the
    /// `__Host-` prefix, which browsers accept only with `Secure`; otherwise as the default
    /// (`HttpOnly; SameSite=Lax; Path=/`, no `Domain`). Building it logs a `tracing::warn!`.
    /// A later [`with_cookie`](Self::with_cookie) replaces it.
    ///
    /// Most browsers accept `Secure` and `__Host-` cookies from `http://localhost`, so the
    /// default works there; this is for browsers that do not (Safari) and for other plain-HTTP
    /// hosts (a LAN address, a container name). For another name or other attributes in
    /// development, pass [`with_cookie`](Self::with_cookie) a definition built with
    /// [`insecure_dev_mode`](auth_cookie::CookieConfigBuilder::insecure_dev_mode).
    ///
    /// ```
    /// use auth_cookie::CookieKeys;
    /// use auth_session::{MemoryStore, Session, SessionLayer};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let insecure_cookies = true; // e.g. from `APP_INSECURE_COOKIES=1`, never in production
    /// let mut layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    /// if insecure_cookies {
    ///     layer = layer.with_insecure_dev_cookie();
    /// }
    /// let app = ServiceBuilder::new().layer(layer).service_fn(|req: Request<()>| async move {
    ///     let session = Session::from_request(&req).expect("SessionLayer");
    ///     session.insert("seen", &true).await?;
    ///     Ok::<_, auth_session::SessionError>(Response::new(()))
    /// });
    /// let res = app.oneshot(Request::new(())).await?;
    /// let set_cookie = res.headers()[header::SET_COOKIE].to_str()?;
    /// assert!(set_cookie.starts_with("id="));
    /// assert!(!set_cookie.contains("Secure"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Security
    ///
    /// Never in production: the session ID travels over plain HTTP, and any subdomain can
    /// plant a look-alike session cookie (see the [type's docs](Self#security)).
    pub fn with_insecure_dev_cookie(mut self) -> Self {
        let cookie = CookieConfig::builder(DEV_COOKIE_NAME)
            .insecure_dev_mode()
            .build();
        // A fixed definition, valid by construction: no prefix, no `SameSite=None`.
        let cookie = match cookie {
            Ok(cookie) => cookie,
            Err(error) => unreachable!("the development session cookie is valid: {error}"),
        };
        self.config_mut().set_cookie_definition(cookie);
        self
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

    /// Keeps these data keys when a login flushes the session's data (for example a shopping
    /// cart or a language choice); everything else is flushed. Adds to the list. Default:
    /// none, so a login keeps nothing written before it.
    ///
    /// A login flushes the data when the session was anonymous, and when another principal
    /// (another subject, or the same subject of another issuer) was logged in; a login of the
    /// principal already logged in keeps everything (see
    /// [`Session::login`](crate::Session::login)).
    ///
    /// ```
    /// use auth_cookie::CookieKeys;
    /// use auth_core::{AuthMethod, Identity};
    /// use auth_session::{MemoryStore, Session, SessionLayer};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // The cart a visitor filled before logging in stays theirs; nothing else survives.
    /// let layer = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?)
    ///     .with_keep_on_login(["cart"]);
    /// let app = ServiceBuilder::new().layer(layer).service_fn(|req: Request<()>| async move {
    ///     let session = Session::from_request(&req).expect("SessionLayer");
    ///     match req.uri().path() {
    ///         "/add" => {
    ///             session.insert("cart", &["book"]).await?;
    ///             session.insert("discount", &50).await?;
    ///         }
    ///         "/login" => {
    ///             // ... check the password first ...
    ///             let alice = Identity::builder("alice", AuthMethod::Session).build();
    ///             session.login(&alice).await?;
    ///         }
    ///         _ => {}
    ///     }
    ///     let cart: Option<Vec<String>> = session.get("cart").await?;
    ///     let discount: Option<u32> = session.get("discount").await?;
    ///     Ok::<_, auth_session::SessionError>(Response::new(format!("{cart:?} {discount:?}")))
    /// });
    /// let cookie_of = |res: &Response<String>| -> Result<String, Box<dyn std::error::Error>> {
    ///     let set_cookie = res.headers()[header::SET_COOKIE].to_str()?;
    ///     Ok(set_cookie.split(';').next().unwrap_or_default().to_owned())
    /// };
    ///
    /// let res = app.clone().oneshot(Request::get("/add").body(())?).await?;
    /// assert_eq!(res.body(), r#"Some(["book"]) Some(50)"#);
    /// let anonymous = cookie_of(&res)?;
    /// let req = Request::get("/login").header(header::COOKIE, &anonymous).body(())?;
    /// let logged_in = cookie_of(&app.clone().oneshot(req).await?)?;
    /// assert_ne!(logged_in, anonymous, "a login always changes the session ID");
    ///
    /// let req = Request::get("/").header(header::COOKIE, &logged_in).body(())?;
    /// assert_eq!(app.oneshot(req).await?.body(), r#"Some(["book"]) None"#);
    /// # Ok(())
    /// # }
    /// ```
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
