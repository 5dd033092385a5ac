//! Session settings shared by every request of one layer.

use std::collections::BTreeSet;
use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys};
use auth_core::{SessionStore, SharedClock, SystemClock};
use time::Duration;

use crate::cookie::SetCookie;

/// Default idle timeout: 30 minutes without activity ends a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// Default absolute timeout: 12 hours after creation a session ends, however active.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// Default touch interval: read-only traffic extends the idle deadline at most once a minute.
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::minutes(1);
/// Default cookie name: `__Host-id`, neutral (it says nothing about the framework) and
/// `__Host-` prefixed.
///
/// # Security
///
/// The layer reads the first cookie of its name that the request carries. Browsers accept a
/// plain-named cookie from a sibling subdomain (`Domain=.example.com`, set by
/// `evil.example.com`) and send it to `app.example.com` too, often before the app's own; with a
/// plain name, whoever controls any subdomain could slip in a session cookie of their own
/// (logging the victim into the attacker's session: session swapping) or a garbage one
/// (logging the victim out). Browsers refuse a `__Host-` cookie unless it is `Secure`, has
/// `Path=/` and no `Domain`, so no other host can set or shadow it, and a look-alike under
/// another name is never read.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-id";
/// The cookie name of
/// [`SessionLayer::with_insecure_dev_cookie`](crate::SessionLayer::with_insecure_dev_cookie):
/// `id`, unprefixed (browsers accept a prefixed cookie only with `Secure`).
pub const DEV_COOKIE_NAME: &str = "id";

/// How a save that lost a race on the same key is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConflictPolicy {
    /// This request's value wins; the overwritten key is logged (`tracing::info!`) and listed
    /// in a [`SessionConflict`](crate::SessionConflict) in the response extensions. Changes
    /// to *different* keys are always merged, whatever the policy.
    #[default]
    LastWriterWins,
    /// The concurrent value is kept and this request's change to that key is dropped, logged
    /// and listed in a [`SessionConflict`](crate::SessionConflict).
    FirstWriterWins,
}

/// Per-session expiry that overrides the layer's defaults ("remember me").
///
/// ```
/// use auth_session::SessionExpiry;
/// use time::Duration;
///
/// let remember_me = SessionExpiry::new(Duration::days(14), Duration::days(30));
/// assert_eq!(remember_me.idle(), Duration::days(14));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionExpiry {
    idle: Duration,
    absolute: Duration,
}

impl SessionExpiry {
    /// Idle and absolute timeouts for one session. The session cookie then carries a
    /// `Max-Age`, so it survives a browser restart.
    pub fn new(idle: Duration, absolute: Duration) -> Self {
        Self { idle, absolute }
    }

    /// The idle timeout.
    pub fn idle(&self) -> Duration {
        self.idle
    }

    /// The absolute timeout, counted from the session's creation.
    pub fn absolute(&self) -> Duration {
        self.absolute
    }
}

/// Everything a request needs from the layer; shared behind an `Arc`.
pub(crate) struct Config {
    pub(crate) store: Arc<dyn SessionStore>,
    pub(crate) keys: CookieKeys,
    cookie: CookieConfig,
    /// The cookie's `Set-Cookie` attributes, rendered once.
    pub(crate) set_cookie: SetCookie,
    /// Whether the cookie value is signed (the default) or the bare ID.
    pub(crate) signed: bool,
    clock: SharedClock,
    /// `clock` is the default `SystemClock` (no [`with_clock`](crate::SessionLayer::with_clock)).
    system_clock: bool,
    pub(crate) idle_timeout: Duration,
    pub(crate) absolute_timeout: Duration,
    pub(crate) touch_interval: Duration,
    pub(crate) keep_on_login: BTreeSet<String>,
    pub(crate) conflict_policy: ConflictPolicy,
    pub(crate) max_save_attempts: u32,
}

impl Config {
    pub(crate) fn new(
        store: Arc<dyn SessionStore>,
        keys: CookieKeys,
        cookie: CookieConfig,
    ) -> Self {
        Self {
            store,
            keys,
            set_cookie: SetCookie::new(&cookie),
            cookie,
            signed: true,
            clock: Arc::new(SystemClock),
            system_clock: true,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            absolute_timeout: DEFAULT_ABSOLUTE_TIMEOUT,
            touch_interval: DEFAULT_TOUCH_INTERVAL,
            keep_on_login: BTreeSet::new(),
            conflict_policy: ConflictPolicy::default(),
            max_save_attempts: 64,
        }
    }
}

impl Clone for Config {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            keys: self.keys.clone(),
            cookie: self.cookie.clone(),
            set_cookie: self.set_cookie.clone(),
            signed: self.signed,
            clock: self.clock.clone(),
            system_clock: self.system_clock,
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            touch_interval: self.touch_interval,
            keep_on_login: self.keep_on_login.clone(),
            conflict_policy: self.conflict_policy,
            max_save_attempts: self.max_save_attempts,
        }
    }
}

impl Config {
    /// The session cookie's definition.
    pub(crate) fn cookie(&self) -> &CookieConfig {
        &self.cookie
    }

    /// The clock of every expiry decision.
    pub(crate) fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub(crate) fn set_clock(&mut self, clock: SharedClock) {
        self.clock = clock;
        self.system_clock = false;
    }

    /// "Now" as nanoseconds since the epoch, read straight from the system time when the
    /// clock is the default `SystemClock` (through [`crate::system_time`]: the coarse clock
    /// where there is one, without building a date); `None` for any other clock.
    pub(crate) fn system_clock_nanos(&self) -> Option<i128> {
        self.system_clock.then(crate::system_time::now_nanos)
    }

    pub(crate) fn set_cookie_definition(&mut self, cookie: CookieConfig) {
        self.set_cookie = SetCookie::new(&cookie);
        self.cookie = cookie;
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field("store", &self.store)
            .field("keys", &self.keys)
            .field("cookie", &self.cookie)
            .field("signed", &self.signed)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("touch_interval", &self.touch_interval)
            .field("keep_on_login", &self.keep_on_login)
            .field("conflict_policy", &self.conflict_policy)
            .finish_non_exhaustive()
    }
}
