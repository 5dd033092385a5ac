//! Server-side sessions for tower.
//!
//! The browser carries only a random session ID in a signed cookie; the data lives in a
//! [`SessionStore`](auth_core::SessionStore). Logging out deletes the record, so it takes effect
//! at once, on every instance that shares the store.
//!
//! - [`SessionLayer`] puts a lazy [`Session`] into every request: the store is read only when
//!   the handler (or a guard) needs the session, and written once after the response.
//! - [`Session`] offers typed data access, [`login`](Session::login) (which always cycles the
//!   ID), [`logout`](Session::logout) and [`cycle_id`](Session::cycle_id); "log out everywhere
//!   else" is [`logout_other_sessions`](Session::logout_other_sessions) (and
//!   [`other_sessions`](Session::other_sessions) lists them), on every store with a
//!   per-principal index (all built-in ones); [`TypedSession`] wraps one typed value.
//! - A logged-in session yields an [`auth_core::Identity`] (method `session`) on demand, so
//!   [`auth_core::RequireAuthLayer`] and the `Identity` extractors work unchanged.
//! - Concurrency is handled where peers lose data: saves are versioned, concurrent changes to
//!   different keys are merged, a save never recreates a session deleted by a logout.
//! - [`MemoryStore`] is the embedded default; `RedisStore`, `PostgresStore` and `SqliteStore`
//!   (features `redis`, `postgres`, `sqlite`) share sessions between instances;
//!   [`CachingStore`] puts a fast store in front of a shared one with bounded staleness;
//!   `testkit` (feature `test-util`) is the conformance suite every store passes.
//!
//! # Security
//!
//! - **The session cookie is `__Host-id`** ([`DEFAULT_COOKIE_NAME`]): `Secure`, `Path=/`, no
//!   `Domain`, `HttpOnly`, `SameSite=Lax`, its value signed and bound to that name. The
//!   `__Host-` prefix is why a sibling subdomain cannot plant a session cookie: browsers send
//!   a cookie set for the parent domain (`Domain=.example.com`) along with the app's own, and
//!   under a plain name the first one wins, so whoever controls `evil.example.com` could log
//!   the victim into the attacker's session or out of their own. Browsers accept a `__Host-`
//!   cookie only from the app's own host, and the plain-named look-alike is never read.
//!   Development over plain HTTP is explicit: [`SessionLayer::with_insecure_dev_cookie`].
//! - **A login always cycles the ID and keeps nothing written before it**, unless the
//!   principal already logged in logs in again: data written while anonymous (an attacker
//!   may have prepared that session) and another principal's data are flushed, except the
//!   keys of [`SessionLayer::with_keep_on_login`] (default none; a shopping cart is the
//!   usual one).
//! - **A principal is an issuer and a subject**: [`Session::login`] stores
//!   [`Identity::issuer`](auth_core::Identity::issuer) with the session and
//!   [`Session::identity`] gives it back, so `bob` of one identity provider is never taken
//!   for `bob` of another or a local `bob`. The stores' per-user listings and "log out
//!   everywhere" (`sessions_of`, `delete_sessions_of`) take the principal too.
//! - Unknown, expired or tampered cookies are anonymous and never adopted; a logout deletes
//!   the record server-side; saves never recreate a deleted session.
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `memory` | yes | [`MemoryStore`] |
//! | `test-util` | no | `testkit`, the store conformance suite |
//! | `axum` | no | [`Session`] and [`TypedSession`] as axum extractors |
//! | `redis` | no | `RedisStore` (Redis, native TTLs, Lua-scripted atomicity); re-exports `redis` |
//! | `postgres` | no | `PostgresStore` (a PostgreSQL table); re-exports `sqlx` |
//! | `sqlite` | no | `SqliteStore` (an SQLite file, no server); re-exports `sqlx` |
//!
//! # Example
//!
//! Login, a guarded page and logout on an axum router:
//!
//! ```
//! # #[cfg(feature = "axum")] mod example {
//! use auth_cookie::CookieKeys;
//! use auth_core::{AuthMethod, Identity, RequireAuthLayer};
//! use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
//! use axum::{Router, routing::{get, post}};
//!
//! async fn login(session: Session) -> Result<&'static str, SessionError> {
//!     // ... check the password first ...
//!     session.login(&Identity::builder("alice", AuthMethod::Session).role("user").build()).await?;
//!     Ok("welcome")
//! }
//!
//! async fn me(identity: Identity) -> String {
//!     identity.subject().to_owned()
//! }
//!
//! async fn logout(session: Session) -> Result<&'static str, SessionError> {
//!     session.logout().await?;
//!     Ok("bye")
//! }
//!
//! pub fn app() -> Result<Router, Box<dyn std::error::Error>> {
//!     let sessions = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
//!     Ok(Router::new()
//!         .route("/me", get(me).route_layer(RequireAuthLayer::authenticated()))
//!         .route("/login", post(login))
//!         .route("/logout", post(logout))
//!         .layer(sessions))
//! }
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod caching;
mod config;
mod cookie;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod id;
mod layer;
#[cfg(feature = "memory")]
mod memory;
mod rejection;
mod session;
#[cfg(any(feature = "redis", feature = "postgres", feature = "sqlite"))]
mod stores;
mod system_time;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testkit;
mod typed;
mod unix_time;

/// The `redis` client crate `RedisStore` is built on.
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use ::redis;
/// The `sqlx` crate `PostgresStore` and `SqliteStore` are built on.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "postgres", feature = "sqlite"))))]
pub use ::sqlx;
#[doc(inline)]
pub use caching::CachingStore;
#[doc(inline)]
pub use config::{
    ConflictPolicy, DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_COOKIE_NAME, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TOUCH_INTERVAL, DEV_COOKIE_NAME, SessionExpiry,
};
#[doc(inline)]
pub use error::{ConfigError, SessionError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc(inline)]
pub use extract::MissingSessionLayer;
#[doc(inline)]
pub use layer::{SessionLayer, SessionManager};
#[cfg(feature = "memory")]
#[cfg_attr(docsrs, doc(cfg(feature = "memory")))]
#[doc(inline)]
pub use memory::MemoryStore;
#[doc(inline)]
pub use rejection::{DefaultUnavailable, SessionConflict, UnavailableResponse};
#[doc(inline)]
pub use session::Session;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
#[doc(inline)]
pub use stores::postgres::PostgresStore;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use stores::redis::RedisStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
#[doc(inline)]
pub use stores::sqlite::SqliteStore;
#[doc(inline)]
pub use typed::{SessionKey, TypedSession};

/// Response futures.
pub mod future {
    pub use crate::layer::ResponseFuture;
}
