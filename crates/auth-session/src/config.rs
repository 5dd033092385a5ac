//! Session settings shared by every request of one layer.

use std::collections::BTreeSet;
use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys};
use auth_core::{SessionStore, SharedClock, SystemClock};
use time::Duration;

/// Default idle timeout: 30 minutes without activity ends a session.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::minutes(30);
/// Default absolute timeout: 12 hours after creation a session ends, however active.
pub const DEFAULT_ABSOLUTE_TIMEOUT: Duration = Duration::hours(12);
/// Default touch interval: read-only traffic extends the idle deadline at most once a minute.
pub const DEFAULT_TOUCH_INTERVAL: Duration = Duration::minutes(1);
/// Default cookie name: neutral, says nothing about the framework.
pub const DEFAULT_COOKIE_NAME: &str = "id";

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
    pub(crate) cookie: CookieConfig,
    /// Whether the cookie value is signed (the default) or the bare ID.
    pub(crate) signed: bool,
    pub(crate) clock: SharedClock,
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
            cookie,
            signed: true,
            clock: Arc::new(SystemClock),
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
            signed: self.signed,
            clock: self.clock.clone(),
            idle_timeout: self.idle_timeout,
            absolute_timeout: self.absolute_timeout,
            touch_interval: self.touch_interval,
            keep_on_login: self.keep_on_login.clone(),
            conflict_policy: self.conflict_policy,
            max_save_attempts: self.max_save_attempts,
        }
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
