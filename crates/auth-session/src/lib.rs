//! Server-side sessions for tower.
//!
//! The browser carries only a random session ID in a signed cookie; the data lives in a
//! [`SessionStore`](auth_core::SessionStore). Logging out deletes the record, so it takes effect
//! at once, on every instance that shares the store.
//!
//! - [`SessionLayer`] puts a lazy [`Session`] into every request: the store is read only when
//!   the handler (or a guard) needs the session, and written once after the response.
//! - [`Session`] offers typed data access, [`login`](Session::login) (which always cycles the
//!   ID), [`logout`](Session::logout) and [`cycle_id`](Session::cycle_id); [`TypedSession`]
//!   wraps one typed value.
//! - A logged-in session yields an [`auth_core::Identity`] (method `session`) on demand, so
//!   [`auth_core::RequireAuthLayer`] and the `Identity` extractors work unchanged.
//! - Concurrency is handled where peers lose data: saves are versioned, concurrent changes to
//!   different keys are merged, a save never recreates a session deleted by a logout.
//! - [`MemoryStore`] is the embedded default; `testkit` (feature `test-util`) is the
//!   conformance suite every store passes.
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `memory` | yes | [`MemoryStore`] |
//! | `test-util` | no | `testkit`, the store conformance suite |
//! | `axum` | no | [`Session`] and [`TypedSession`] as axum extractors |
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

mod config;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod layer;
#[cfg(feature = "memory")]
mod memory;
mod rejection;
mod session;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testkit;
mod typed;

#[doc(inline)]
pub use config::{
    ConflictPolicy, DEFAULT_ABSOLUTE_TIMEOUT, DEFAULT_COOKIE_NAME, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TOUCH_INTERVAL, SessionExpiry,
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
#[doc(inline)]
pub use typed::{SessionKey, TypedSession};

/// Response futures.
pub mod future {
    pub use crate::layer::ResponseFuture;
}
