//! JWT bearer authentication for tower.
//!
//! **Status: skeleton.** This crate is planned, not implemented: it exports nothing yet. The
//! work is tracked in the project's auth-jwt issues. It will provide:
//!
//! - `JwtLayer` / `JwtAuth`: verification with algorithms pinned per key, required `iss`, `aud`
//!   and `exp`, RFC 6750 rejections, and an [`auth_core::Identity`] for every valid token;
//! - key sets: static keys bound to `kid` and algorithm, remote JWKS with cached rotation;
//! - `Issuer`: token minting with the current key of an [`auth_core::KeyRing`];
//! - revocation lists ([`auth_core::RevocationList`]) for logout, checked from local memory.
