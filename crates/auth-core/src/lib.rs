//! The shared core of the `auth-*` tower middleware crates.
//!
//! Authentication layers (`auth-session`, `auth-jwt`, your own) all produce one [`Identity`]
//! in the request extensions. Everything downstream, the [`RequireAuthLayer`] guard, the axum
//! extractors, your handlers, reads only that, so a route can accept a session cookie, a
//! bearer token or both without caring which.
//!
//! This crate holds what those layers share:
//!
//! | Item | What it is |
//! |---|---|
//! | [`Identity`], [`AuthMethod`] | the authenticated principal |
//! | [`Claims`], [`Audience`], [`NumericDate`] | RFC 7519 claims with strict types |
//! | [`Clock`], [`SystemClock`], [`ManualClock`] | time for every expiry decision |
//! | [`KeyRing`], [`KeyId`], [`SecretKey`] | keys with rotation, for cookies and JWTs |
//! | [`SessionStore`], [`SessionRecord`], [`SessionId`] | the session store contract |
//! | [`RevocationList`] | the token revocation contract |
//! | [`RequireAuthLayer`] | authorization: 401 / 403 by role, scope or predicate |
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `axum` | no | `Identity` and `Option<Identity>` extractors (via `axum-core`) |
//!
//! # Example
//!
//! A guard in front of a plain tower service; the identity would normally come from a session
//! or JWT layer.
//!
//! ```
//! use std::convert::Infallible;
//!
//! use auth_core::{AuthMethod, Identity, RequireAuthLayer};
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Infallible> {
//! let service = ServiceBuilder::new()
//!     .layer(RequireAuthLayer::scope("orders:read"))
//!     .service_fn(|req: Request<String>| async move {
//!         let who = req.extensions().get::<Identity>().map(|id| id.subject().to_owned());
//!         Ok::<_, Infallible>(Response::new(who.unwrap_or_default()))
//!     });
//!
//! let mut req = Request::new(String::new());
//! req.extensions_mut()
//!     .insert(Identity::builder("svc-billing", AuthMethod::Jwt).scope("orders:read").build());
//! let res = service.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "svc-billing");
//!
//! // A token without the scope: 403 with an RFC 6750 challenge.
//! let mut req = Request::new(String::new());
//! req.extensions_mut().insert(Identity::builder("svc-other", AuthMethod::Jwt).build());
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! assert_eq!(
//!     res.headers()["www-authenticate"],
//!     r#"Bearer error="insufficient_scope", scope="orders:read""#
//! );
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod authz;
mod claims;
mod clock;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod identity;
mod keys;
mod lazy;
mod random;
mod revocation;
mod session;

/// A boxed error, as backends return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[doc(inline)]
pub use authz::{
    AuthPredicate, AuthRejection, AuthRejectionKind, Authenticated, Both, DefaultRejection,
    FromIssuer, HasRole, HasScope, RejectionResponse, RequireAuth, RequireAuthLayer, Requirement,
};
/// Response futures.
pub mod future {
    pub use crate::authz::{RequireAuthFuture, ResponseFuture};
}
#[doc(inline)]
pub use claims::{Audience, Claims, ClaimsError, NumericDate, REGISTERED_CLAIMS};
#[doc(inline)]
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
#[doc(inline)]
pub use error::{ConfigError, RandomError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc(inline)]
pub use extract::IdentityRejection;
#[doc(inline)]
pub use identity::{AuthLayerMarker, AuthMethod, Identity, IdentityBuilder};
#[doc(inline)]
pub use keys::{KeyId, KeyRing, MAX_KEY_ID_LEN, SecretKey};
#[doc(inline)]
pub use lazy::{IdentityResolver, IdentityUnavailable, LazyIdentity, ResolveFuture};
#[doc(inline)]
pub use random::fill_random;
#[doc(inline)]
pub use revocation::{RevocationError, RevocationList, RevocationStatus, RevokedBy, TokenRef};
#[doc(inline)]
pub use session::{
    CreateOutcome, InvalidSessionId, SaveOutcome, SessionData, SessionId, SessionRecord,
    SessionStore, StoreError, StoreFuture, StoreResult,
};
