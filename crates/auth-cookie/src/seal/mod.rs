//! Signed and private (encrypted) cookies on a key ring.
//!
//! Both seal formats start with a version and the key id, so verification needs one key
//! lookup and a rotation needs no trial decryption:
//!
//! - signed: `v1.<kid>.<tag>.<value>`, where `tag` is HMAC-SHA256 over the version, key id,
//!   **cookie name** and value; the value stays readable (not secret, only tamper-proof);
//! - private: `v1.<kid>.<nonce ‖ ciphertext ‖ tag>`, AES-256-GCM with a random 96-bit nonce and
//!   the version, key id and **cookie name** as associated data.
//!
//! `kid` and binary parts are unpadded base64url, so sealed values need no further encoding.
//! Binding the name means a value sealed for one cookie fails under any other name. Keys for
//! the two modes are derived from each [`SecretKey`](auth_core::SecretKey) with HKDF-SHA256
//! and distinct labels, so one secret never serves two purposes.
//!
//! The primitives come from RustCrypto (`hmac`, `sha2`, `aes-gcm`, `hkdf`), the same crates the
//! `cookie` crate uses internally; `cookie`'s own `SignedJar` is not used because it signs the
//! value without the name and carries no key id.

mod keys;
mod view;

pub use keys::CookieKeys;
pub use view::{
    Private, PrivateCookies, SealMode, SealedCookies, SealedRead, Signed, SignedCookies,
};
