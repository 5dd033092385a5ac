//! JWT bearer authentication for tower.
//!
//! [`JwtLayer`] takes a token from the request ([`TokenSource`]: the `Authorization: Bearer`
//! header by default, or a cookie, a custom header, a closure), verifies it against the
//! [`TrustedIssuer`] its `iss` names (that issuer's audiences, [`KeySet`] and claim rules),
//! and inserts [`Claims<C>`](auth_core::Claims) and an [`Identity`](auth_core::Identity)
//! (method [`AuthMethod::Jwt`](auth_core::AuthMethod), naming its issuer) into the request
//! extensions; a request it lets through without an identity (optional mode) carries an
//! [`AuthLayerMarker`](auth_core::AuthLayerMarker) instead. Authorization (roles, scopes) is auth-core's [`RequireAuthLayer`](auth_core::RequireAuthLayer),
//! which answers 403 `Bearer error="insufficient_scope"` for a token missing a scope.
//! [`Issuer`] mints tokens and publishes a [`JwkSet`].
//!
//! | Item | What it is |
//! |---|---|
//! | [`JwtLayer`], [`JwtAuth`], [`JwtLayerBuilder`] | the verifying middleware |
//! | [`TrustedIssuer`] | one trusted issuer: its audiences, keys, algorithms, claim rules |
//! | [`TokenSource`] | where the token is read from |
//! | [`KeySet`], [`VerifyingKey`], [`Algorithm`] | keys pinned to `kid` and algorithm |
//! | `JwksSource` (feature `jwks`) | remote JWKS with cached rotation, OIDC discovery |
//! | [`JwtRejection`], [`JwtRejectionKind`], [`RejectionResponse`] | why a request was refused |
//! | [`Issuer`], [`SigningKey`], [`Jwk`], [`JwkSet`] | minting and publishing |
//! | [`MemoryRevocationList`], `RedisRevocationList` (feature `redis`), [`Logout`] | logout: revocation lists and handler helpers |
//!
//! # Validation, secure by construction
//!
//! - The algorithm is pinned per key; the token's `alg` must equal it. `none` never verifies.
//!   `jku`, `x5u`, `jwk` and `x5c` headers are ignored; `kid` is only a lookup key. A `crit`
//!   header is refused (no extension is understood).
//! - The token length is capped before any decoding (8 KiB by default).
//! - `exp` is required; `nbf` and `iat` are checked when present (an `iat` in the future is
//!   refused); leeway 30 s by default, at most 5 minutes; an optional maximum age from `iat`.
//! - `iss` and `aud` are required, type-checked (strings; `aud` a string or array of strings)
//!   and compared exactly: `iss` picks the [`TrustedIssuer`], and `aud` must name one of *that
//!   entry's* audiences; [`JwtLayerBuilder::build`] refuses an entry without one. `sub` is
//!   required and non-empty (it becomes [`Identity::subject`](auth_core::Identity::subject)).
//! - A member name used twice in the header or the claims is refused (other JSON parsers
//!   keep the last one and would read another token than this layer), as is `crit` with any
//!   value, `null` included.
//! - HMAC secrets shorter than the hash output, and secrets that look like public keys, are
//!   configuration errors.
//! - Rejections follow RFC 6750: no token → 401 `WWW-Authenticate: Bearer` (with the realm, if
//!   set) and no error code; a bad token → 401 `error="invalid_token"`; keys unavailable → 503.
//!   The cause ([`JwtRejectionKind`]) goes to the response extensions and `tracing`, never to
//!   the body.
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use auth_core::{Identity, KeyId, KeyRing, ManualClock, SecretKey};
//! use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey, TrustedIssuer, VerifyingKey};
//! use http::{Request, Response, StatusCode, header};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = SecretKey::generate(32)?;
//! let clock = Arc::new(ManualClock::default());
//! let issuer = Issuer::new(
//!     KeyRing::new(KeyId::new("k1")?, SigningKey::hmac(Algorithm::HS256, secret.clone())?),
//!     "https://auth.example.com",
//!     "api",
//! )?
//! .with_clock(clock.clone());
//!
//! let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?.with_kid("k1")?;
//! let layer = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
//!     .with_clock(clock)
//!     .build()?;
//! let service = ServiceBuilder::new().layer(layer).service_fn(|req: Request<String>| async move {
//!     let who = req.extensions().get::<Identity>().map(|id| id.subject().to_owned());
//!     Ok::<_, Infallible>(Response::new(who.unwrap_or_default()))
//! });
//!
//! // A valid token: the handler sees the identity.
//! let req = Request::builder()
//!     .header(header::AUTHORIZATION, format!("Bearer {}", issuer.mint("alice")?))
//!     .body(String::new())?;
//! let res = service.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "alice");
//!
//! // No token: 401 with a bare challenge.
//! let res = service.clone().oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()[header::WWW_AUTHENTICATE], "Bearer");
//!
//! // A bad token: 401 invalid_token.
//! let req = Request::builder()
//!     .header(header::AUTHORIZATION, "Bearer e30.e30.AAAA")
//!     .body(String::new())?;
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.headers()[header::WWW_AUTHENTICATE], r#"Bearer error="invalid_token""#);
//! # Ok(())
//! # }
//! ```
//!
//! Customised: typed claims, a cookie source, a realm, optional mode and a JSON rejection.
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use auth_core::{Claims, KeyId, KeyRing, ManualClock, SecretKey};
//! use auth_jwt::{
//!     Algorithm, Issuer, JwtLayer, JwtRejection, JwtRejectionKind, SigningKey, TokenSource,
//!     TrustedIssuer, VerifyingKey,
//! };
//! use http::{Request, Response, StatusCode, header};
//! use serde::{Deserialize, Serialize};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Tenant {
//!     tenant: String,
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = SecretKey::generate(32)?;
//! let clock = Arc::new(ManualClock::default());
//! let issuer = Issuer::new(
//!     KeyRing::new(KeyId::new("k1")?, SigningKey::hmac(Algorithm::HS256, secret.clone())?),
//!     "https://auth.example.com",
//!     "api",
//! )?
//! .with_clock(clock.clone());
//!
//! let json_rejection = |rejection: &JwtRejection| {
//!     let mut res = Response::new(r#"{"error":"unauthorized"}"#.to_owned());
//!     *res.status_mut() = rejection.status();
//!     if let Some(challenge) = rejection.www_authenticate() {
//!         res.headers_mut().insert(header::WWW_AUTHENTICATE, challenge.clone());
//!     }
//!     res
//! };
//! let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?.with_kid("k1")?;
//! let layer = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
//!     .with_source(TokenSource::bearer().or(TokenSource::cookie("access_token")?))
//!     .with_realm("api")
//!     .optional()
//!     .with_clock(clock)
//!     .with_claims::<Tenant>()
//!     .build()?
//!     .with_rejection(json_rejection);
//! let service = ServiceBuilder::new().layer(layer).service_fn(|req: Request<String>| async move {
//!     let tenant = req.extensions().get::<Claims<Tenant>>().map(|c| c.custom.tenant.clone());
//!     Ok::<_, Infallible>(Response::new(tenant.unwrap_or_else(|| "anonymous".to_owned())))
//! });
//!
//! // The token in a cookie, with a typed custom claim.
//! let token = issuer.mint_with("alice", &Tenant { tenant: "acme".into() })?;
//! let req = Request::builder()
//!     .header(header::COOKIE, format!("theme=dark; access_token={token}"))
//!     .body(String::new())?;
//! let res = service.clone().oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "acme");
//!
//! // Optional mode: no token passes through anonymously...
//! let res = service.clone().oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "anonymous");
//!
//! // ...but a bad token is still refused, with the custom body and the realm.
//! let req = Request::builder()
//!     .header(header::AUTHORIZATION, "Bearer not-a-jwt")
//!     .body(String::new())?;
//! let res = service.oneshot(req).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(res.body(), r#"{"error":"unauthorized"}"#);
//! assert_eq!(
//!     res.headers()[header::WWW_AUTHENTICATE],
//!     r#"Bearer realm="api", error="invalid_token""#
//! );
//! let kind = res.extensions().get::<JwtRejection>().map(JwtRejection::kind);
//! assert_eq!(kind, Some(JwtRejectionKind::Malformed));
//! # Ok(())
//! # }
//! ```
//!
//! # Trusting several issuers
//!
//! Trust is a list of entries, one per issuer, and nothing is shared between them: a token
//! is checked against the entry its `iss` names and no other, with that entry's keys,
//! audiences, algorithms, leeway and claim names. An external provider's token can never
//! carry your own audience into your API, and its `bob` is not your `bob`:
//! [`Identity::issuer`](auth_core::Identity::issuer) tells them apart, a guard can require an
//! issuer ([`RequireAuthLayer::issuer`](auth_core::RequireAuthLayer::issuer), or
//! [`and`](auth_core::RequireAuthLayer::and) with [`FromIssuer`](auth_core::FromIssuer)), and
//! revocations ([`Logout`], the lists) are kept per issuer.
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//!
//! use auth_core::{FromIssuer, Identity, KeyId, KeyRing, ManualClock, RequireAuthLayer, SecretKey};
//! use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey, TrustedIssuer};
//! use http::{Request, Response, StatusCode, header};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = Arc::new(ManualClock::default());
//! let issuer = |secret: &SecretKey, iss: &str, aud: &str| -> Result<Issuer, Box<dyn std::error::Error>> {
//!     let key = SigningKey::hmac(Algorithm::HS256, secret.clone())?;
//!     Ok(Issuer::new(KeyRing::new(KeyId::new("k1")?, key), iss, aud)?.with_clock(clock.clone()))
//! };
//! let (our_key, partner_key) = (SecretKey::generate(32)?, SecretKey::generate(32)?);
//! let ours = issuer(&our_key, "https://auth.example.com", "api")?;
//! let partner = issuer(&partner_key, "https://partner.example", "partner-api")?;
//!
//! let layer = JwtLayer::builder(ours.trusted()?)
//!     .add_issuer(partner.trusted()?)
//!     .with_clock(clock.clone())
//!     .build()?;
//! // Admin pages for our own admins only.
//! let admin = RequireAuthLayer::role("admin").and(FromIssuer("https://auth.example.com".into()));
//! let service = ServiceBuilder::new().layer(layer).layer(admin).service_fn(|req: Request<String>| async move {
//!     let id = req.extensions().get::<Identity>().expect("the guard passed");
//!     Ok::<_, Infallible>(Response::new(format!("{} of {}", id.subject(), id.issuer().unwrap_or("?"))))
//! });
//! let call = |token: String| {
//!     let service = service.clone();
//!     async move {
//!         let req = Request::builder()
//!             .header(header::AUTHORIZATION, format!("Bearer {token}"))
//!             .body(String::new())?;
//!         Ok::<_, Box<dyn std::error::Error>>(service.oneshot(req).await?)
//!     }
//! };
//! let admin_role = serde_json::json!({ "roles": ["admin"] });
//!
//! // Our admin passes, and the handler knows whose `bob` it is.
//! let res = call(ours.mint_with("bob", &admin_role)?).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(res.body(), "bob of https://auth.example.com");
//!
//! // The partner's `bob`, even with an `admin` role, is someone else: 403.
//! let res = call(partner.mint_with("bob", &admin_role)?).await?;
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//!
//! // A partner token for *our* audience is refused outright (the audience is ours, not
//! // the partner's): 401.
//! let sneaky = issuer(&partner_key, "https://partner.example", "api")?;
//! let res = call(sneaky.mint_with("bob", &admin_role)?).await?;
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! # Logout and revocation
//!
//! A JWT stays valid until it expires; [`JwtLayerBuilder::with_revocation`] makes logout
//! mean something without a store lookup per request. After the signature and claims
//! checks, the layer asks an [`auth_core::RevocationList`] about the token's `jti`, its
//! `sub` (against "revoked everything issued at or before" epochs, compared on `iat`) and
//! its `sid` (the session it was minted for). The check is synchronous and reads local
//! memory only: about 0.1 µs with 12k entries (see the README). Revocation is keyed on
//! claims, never on the token string: ECDSA signatures are malleable, so `(r, n - s)` is a
//! second valid string for the same token, and it is revoked with it.
//!
//! - Revoked: 401 `invalid_token`, kind [`JwtRejectionKind::Revoked`].
//! - The list cannot answer (a distributed list whose feed is down past its bound, failing
//!   closed): 503 with `Retry-After`, kind [`JwtRejectionKind::RevocationUnavailable`].
//! - No `jti` while a list is set: 401, kind [`JwtRejectionKind::MissingTokenId`], unless
//!   [`JwtLayerBuilder::with_jti_required`]`(false)` (then only subject epochs and `sid`
//!   revoke it).
//!
//! Lists: [`MemoryRevocationList`] (one process; bounded, entries expire with their
//! tokens) and `RedisRevocationList` (feature `redis`: written to Redis with TTLs,
//! propagated by pub/sub to a local mirror on every instance, full resync after every
//! reconnection, explicit fail-closed/fail-open policy when the feed is stale). To kill the
//! tokens of a destroyed session, call `revoke_session(sid, ..)` from the session logout.
//!
//! Handlers log out through [`Logout`] (plain tower: [`Logout::from_extensions`]; axum: an
//! extractor, feature `axum`): [`Logout::revoke_token`] for this token,
//! [`Logout::revoke_subject`] to log out everywhere.
//!
//! ## Refresh tokens: the pattern
//!
//! Revocation lists stay small when access tokens are short-lived (5-15 minutes): the
//! list only remembers a revoked `jti` until its `exp`. Pair them with a refresh token
//! kept server-side (for example as a record in an `auth-session` store), not a JWT:
//!
//! 1. Login: create a refresh record `{ family, subject, current: random 256-bit id,
//!    expires }`, send the id (HttpOnly cookie or response body) with an access token from
//!    [`Issuer::mint_with`] carrying `"sid": family`.
//! 2. Refresh: look the presented id up. If it is the family's `current` id, replace it with
//!    a fresh random id (rotation, one atomic compare-and-set on the record) and mint a new
//!    access token with the same `sid`.
//! 3. Reuse detection: a presented id that belonged to the family but is no longer
//!    `current` means a copy was stolen. Delete the family and call
//!    `list.revoke_session(family, now + access_token_lifetime)`: every access token of the
//!    family becomes 401 at once, on every instance.
//! 4. Logout: delete the family and revoke the session the same way.
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `jwks` | no | `JwksSource`: remote JWKS and OIDC discovery over HTTPS (reqwest + rustls, tokio) |
//! | `redis` | no | `RedisRevocationList` and `StalePolicy` (redis + tokio); re-exports `redis` |
//! | `axum` | no | the [`Logout`] extractor and `LogoutRejection` (axum-core) |
//!
//! # Crypto backend
//!
//! `jsonwebtoken` 11 needs exactly one crypto backend feature; this crate enables
//! `aws_lc_rs` and uses `aws-lc-rs` directly for verification with keys parsed once
//! (`ParsedPublicKey`, prepared HMAC keys), so one crypto library serves verification, minting
//! and (with `jwks`) TLS.
//!
//! Measured side by side (jsonwebtoken 11.1.0 `crypto::verify`, release build, RSA 2048,
//! P-256, Ed25519; shared machine, about ±20 %):
//!
//! | alg | `rust_crypto` | `aws_lc_rs` |
//! |---|---|---|
//! | HS256 | 0.43–0.48 µs | 0.51–0.68 µs |
//! | RS256 | 196–205 µs | 20–21 µs |
//! | ES256 | 265–279 µs | 50–65 µs |
//! | EdDSA | 39–44 µs | 39–43 µs |
//!
//! `aws_lc_rs` wins by about 10x on RS256 (the algorithm most identity providers use) and
//! 4-5x on ES256, ties on HS256 and EdDSA, and lets the layer pre-parse public keys (about
//! 13.5 µs per RS256 check instead of 20 µs with a per-call parse). The README has the full
//! table and the trade-off (a C/assembly build dependency).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
mod error;
mod issuer;
mod jwk;
#[cfg(feature = "jwks")]
mod jwks;
mod key;
mod keyset;
mod middleware;
mod revocation;
mod source;

#[doc(inline)]
pub use algorithm::{Algorithm, UnsupportedAlgorithm};
#[doc(inline)]
pub use error::{ConfigError, IssueError};
#[doc(inline)]
pub use issuer::{Issuer, SigningKey};
#[doc(inline)]
pub use jwk::{Jwk, JwkSet};
#[cfg(feature = "jwks")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
#[doc(inline)]
pub use jwks::JwksSource;
#[doc(inline)]
pub use key::VerifyingKey;
#[doc(inline)]
pub use keyset::{KeySet, KeySetBuilder};
#[doc(inline)]
pub use middleware::{
    DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_LEN, DEFAULT_SUBJECT_REVOCATION_RETENTION, DefaultRejection,
    JwtAuth, JwtLayer, JwtLayerBuilder, JwtRejection, JwtRejectionKind, RejectionResponse,
    TrustedIssuer,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc(inline)]
pub use revocation::LogoutRejection;
#[doc(inline)]
pub use revocation::{Logout, MemoryRevocationList};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
#[doc(inline)]
pub use revocation::{RedisRevocationList, RedisRevocationListBuilder, StalePolicy};
#[doc(inline)]
pub use source::TokenSource;

/// The Redis client crate `RedisRevocationList` is built on (feature `redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis;

/// The response future of [`JwtAuth`].
pub mod future {
    pub use crate::middleware::future::ResponseFuture;
}
