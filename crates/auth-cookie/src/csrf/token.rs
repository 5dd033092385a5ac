//! Session-bound CSRF tokens (OWASP "signed double-submit", bound to the session).

use std::fmt;
use std::sync::Arc;

use auth_core::SecretKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use http::HeaderName;
use sha2::Sha256;

use crate::ConfigError;

type HmacSha256 = Hmac<Sha256>;

const LABEL: &[u8] = b"auth-cookie/v1/csrf";
const NONCE_LEN: usize = 16;

/// The value a CSRF token is bound to, usually the session ID, put into the request
/// extensions by whatever knows it (the session layer, or your own middleware).
///
/// # Security
///
/// The binding is secret material when it is a session ID: it is never logged or printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfBinding(pub String);

impl fmt::Debug for CsrfBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfBinding(<redacted>)")
    }
}

/// Mints and checks CSRF tokens bound to a session: `nonce.HMAC(key, binding ‖ nonce)`.
///
/// A token is only valid together with the binding it was minted for, so a token stolen
/// from, or planted by, another session is useless, and no server-side token storage is
/// needed. Comparison is constant-time.
///
/// Used by [`CsrfLayer::with_tokens`](super::CsrfLayer::with_tokens) for clients that send
/// neither `Sec-Fetch-Site` nor `Origin`; embed [`generate`](Self::generate)'s output in your
/// pages and have scripts send it in the header (default `x-csrf-token`).
///
/// ```
/// use auth_cookie::CsrfTokens;
/// use auth_core::SecretKey;
///
/// let tokens = CsrfTokens::new(&SecretKey::generate(32)?);
/// let token = tokens.generate("session-123")?;
/// assert!(tokens.verify("session-123", &token));
/// assert!(!tokens.verify("session-456", &token));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CsrfTokens {
    mac: Arc<HmacSha256>,
    header: HeaderName,
}

impl CsrfTokens {
    /// Tokens keyed by a key derived from `key` (HKDF-SHA256 with a CSRF-only label, so the
    /// same secret can also serve cookies without the two uses mixing).
    pub fn new(key: &SecretKey) -> Self {
        let hkdf = Hkdf::<Sha256>::new(None, key.expose_secret());
        let mut derived = zeroize::Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's limit: expand cannot fail.
        let _ = hkdf.expand(LABEL, &mut *derived);
        let mac = <HmacSha256 as Mac>::new_from_slice(&*derived)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self {
            mac: Arc::new(mac),
            header: HeaderName::from_static("x-csrf-token"),
        }
    }

    /// Reads the token from header `name` instead of `x-csrf-token`.
    #[must_use]
    pub fn with_header(mut self, name: HeaderName) -> Self {
        self.header = name;
        self
    }

    /// The header the token is read from.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// A fresh token for `binding`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Key`] when the operating system cannot provide randomness.
    pub fn generate(&self, binding: &str) -> Result<String, ConfigError> {
        let mut nonce = [0u8; NONCE_LEN];
        auth_core::fill_random(&mut nonce)
            .map_err(|e| ConfigError::Key(auth_core::ConfigError::Random(e)))?;
        let tag = self.tag(binding, &nonce);
        Ok(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// Whether `token` was minted for `binding` by this key.
    pub fn verify(&self, binding: &str, token: &str) -> bool {
        let Some((nonce, tag)) = token.split_once('.') else {
            return false;
        };
        let (Ok(nonce), Ok(tag)) = (URL_SAFE_NO_PAD.decode(nonce), URL_SAFE_NO_PAD.decode(tag))
        else {
            return false;
        };
        if nonce.len() != NONCE_LEN {
            return false;
        }
        let mut mac = (*self.mac).clone();
        feed(&mut mac, binding, &nonce);
        mac.verify_slice(&tag).is_ok()
    }

    fn tag(&self, binding: &str, nonce: &[u8]) -> [u8; 32] {
        let mut mac = (*self.mac).clone();
        feed(&mut mac, binding, nonce);
        mac.finalize().into_bytes().into()
    }
}

/// Length-prefixed framing: `len(binding) ‖ binding ‖ len(nonce) ‖ nonce`.
fn feed(mac: &mut HmacSha256, binding: &str, nonce: &[u8]) {
    mac.update(&(binding.len() as u64).to_be_bytes());
    mac.update(binding.as_bytes());
    mac.update(&(nonce.len() as u64).to_be_bytes());
    mac.update(nonce);
}

impl fmt::Debug for CsrfTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfTokens")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(byte: u8) -> CsrfTokens {
        CsrfTokens::new(&SecretKey::from_bytes(&[byte; 32]).unwrap())
    }

    #[test]
    fn tokens_are_fresh_and_bound() {
        let t = tokens(1);
        let a = t.generate("s1").unwrap();
        let b = t.generate("s1").unwrap();
        assert_ne!(a, b);
        assert!(t.verify("s1", &a) && t.verify("s1", &b));
        assert!(!t.verify("s2", &a));
        assert!(!tokens(2).verify("s1", &a), "another key");
    }

    #[test]
    fn malformed_tokens_fail() {
        let t = tokens(1);
        let good = t.generate("s").unwrap();
        let (nonce, tag) = good.split_once('.').unwrap();
        for bad in [
            "",
            ".",
            "abc",
            &format!("{nonce}."),
            &format!(".{tag}"),
            &format!("{nonce}.{}", &tag[1..]),
            &format!("{nonce}x.{tag}"),
            &format!("{}.{tag}", &nonce[..nonce.len() - 2]),
            &format!("{nonce}.{tag}.{tag}"),
            "!!!.!!!",
        ] {
            assert!(!t.verify("s", bad), "{bad}");
        }
    }

    #[test]
    fn binding_framing_is_unambiguous() {
        let t = tokens(1);
        let token = t.generate("ab").unwrap();
        assert!(!t.verify("a", &token));
        assert!(!t.verify("abc", &token));
    }
}
