//! Cookies for tower, done safely.
//!
//! - [`CookieLayer`] gives every request a [`Cookies`] jar and writes its changes back as
//!   `Set-Cookie` headers, one per changed cookie, in a deterministic order. Handlers and
//!   inner layers get a handle with [`Cookies::from_request`] (or the axum extractor); a
//!   request whose cookies nobody asks for costs one small allocation.
//! - [`CookieConfig`] defines a cookie once, with secure defaults (`HttpOnly`, `Secure`,
//!   `SameSite=Lax`, `Path=/`) and `__Host-` / `__Secure-` prefixes validated when built;
//!   writes and removals go through it, so a removal always carries the right `Path` and
//!   `Domain`.
//! - [`Cookies::signed`] and [`Cookies::private`] seal values with [`CookieKeys`], built on an
//!   [`auth_core::KeyRing`]: the seal binds the cookie name and names its key, old keys still
//!   open, and what they sealed is re-sealed with the current key when read.
//! - [`CsrfLayer`] refuses cross-site unsafe requests on cookie-authenticated routes, using
//!   `Sec-Fetch-Site` and `Origin`, with optional session-bound tokens ([`CsrfTokens`]).
//!
//! # Parsing rules
//!
//! Cookie *names* from the request are compared byte for byte: never percent-decoded,
//! case-folded or trimmed of anything but SP and HTAB. `__%48ost-sid` and `\u{2000}__Host-sid`
//! are therefore not `__Host-sid`; peers that decode or Unicode-trim names let a subdomain or
//! a man-in-the-middle shadow a `__Host-` cookie. Several `Cookie` headers are read in order;
//! with duplicate names the first value wins (browsers send the most specific first); a pair
//! without a name, without `=` or with non-UTF-8 bytes is skipped on its own.
//!
//! Values are percent-encoded on write wherever a byte is not an RFC 6265 `cookie-octet`
//! (and `%` itself), and decoded on read: a value can never inject an attribute. The size
//! limit browsers enforce (name plus value, 4096 bytes) is checked on the encoded form when a
//! cookie is added ([`CookieError::TooLarge`]).
//!
//! # Feature flags
//!
//! | Feature | Default | Enables |
//! |---|---|---|
//! | `axum` | no | `Cookies` as an axum extractor |
//!
//! # Example
//!
//! ```
//! use std::convert::Infallible;
//!
//! use auth_cookie::{CookieConfig, CookieKeys, CookieLayer, Cookies};
//! use http::{Request, Response, StatusCode, header};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let keys = CookieKeys::generate()?;
//! let cart = CookieConfig::builder("cart").build()?;
//!
//! let handler_keys = keys.clone();
//! let svc = ServiceBuilder::new().layer(CookieLayer::new()).service_fn(move |req: Request<String>| {
//!     let (keys, cart) = (handler_keys.clone(), cart.clone());
//!     async move {
//!         let cookies = Cookies::from_request(&req).expect("CookieLayer installed");
//!         let items = cookies.signed(&keys).get(&cart).unwrap_or_default();
//!         cookies.signed(&keys).add(&cart, &format!("{items}+apple")).expect("small cookie");
//!         Ok::<_, Infallible>(Response::new(String::new()))
//!     }
//! });
//!
//! let res = svc.oneshot(Request::new(String::new())).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! let set_cookie = res.headers()[header::SET_COOKIE].to_str()?;
//! assert!(set_cookie.starts_with("cart=v1."));
//! assert!(set_cookie.contains("HttpOnly; SameSite=Lax; Secure; Path=/"));
//! # Ok(())
//! # }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod csrf;
mod error;
#[cfg(feature = "axum")]
mod extract;
mod jar;
mod layer;
mod parse;
mod raw;
mod seal;

#[doc(inline)]
pub use config::{CookieConfig, CookieConfigBuilder, CookiePrefix, MAX_AGE_CAP, SameSite};
#[doc(inline)]
pub use csrf::{
    Csrf, CsrfBinding, CsrfLayer, CsrfRejection, CsrfRejectionKind, CsrfRejectionResponse,
    CsrfTokens, DefaultCsrfRejection, FORM_LIMIT, FormField, HeaderOnly,
};
#[doc(inline)]
pub use error::{ConfigError, CookieError};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
#[doc(inline)]
pub use extract::MissingCookieLayer;
#[doc(inline)]
pub use jar::{Cookies, MAX_COOKIE_SIZE};
#[doc(inline)]
pub use layer::{CookieLayer, CookieManager};
#[doc(inline)]
pub use raw::{header_cookie, header_cookie_bytes, request_cookie};
#[doc(inline)]
pub use seal::{
    CookieKeys, Private, PrivateCookies, SealMode, SealedCookies, SealedRead, Signed, SignedCookies,
};

/// Response futures.
pub mod future {
    pub use crate::csrf::FormResponseFuture as CsrfFormResponseFuture;
    pub use crate::csrf::ResponseFuture as CsrfResponseFuture;
    pub use crate::layer::ResponseFuture;
}
