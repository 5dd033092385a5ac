//! Cookies for tower, done safely.
//!
//! **Status: skeleton.** This crate is planned, not implemented: it exports nothing yet. The
//! work is tracked in the project's auth-cookie issue. It will provide:
//!
//! - `CookieLayer` / `CookieManager`: the `Cookie` header parsed once per request into a jar
//!   in the request extensions, the changes written back as `Set-Cookie` headers;
//! - parsing that never percent-decodes or trims cookie names (so `__%48ost-sid` is not
//!   `__Host-sid`), and writing that cannot inject attributes;
//! - signed and private (encrypted) jars on an [`auth_core::KeyRing`], with key rotation;
//! - `CookieConfig` with secure defaults (`HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`) and
//!   `__Host-` / `__Secure-` prefixes validated at build time;
//! - `CsrfLayer`: `Sec-Fetch-Site` / `Origin` checks for cookie-authenticated routes.
