//! Session identifiers.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RandomError;

/// A session identifier: 128 bits from the operating system's CSPRNG, carried as 22 characters
/// of unpadded base64url.
///
/// The ID is a bearer secret: whoever holds it holds the session. So it has no `Display`,
/// its `Debug` is redacted, and the only way to get its text is the explicitly named
/// [`encode`](Self::encode). Parsing accepts only the canonical encoding, so one ID has
/// exactly one spelling.
///
/// ```
/// use auth_core::SessionId;
///
/// let id = SessionId::generate()?;
/// let text = id.encode();
/// assert_eq!(text.len(), 22);
/// assert_eq!(SessionId::parse(&text)?, id);
/// assert_eq!(format!("{id:?}"), "SessionId(<redacted>)");
/// assert!(SessionId::parse("not-a-session-id").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId([u8; Self::LEN]);

impl SessionId {
    /// The number of random bytes in an ID.
    pub const LEN: usize = 16;
    /// The length of the encoded ID in characters.
    pub const ENCODED_LEN: usize = 22;

    /// A fresh random ID.
    ///
    /// # Errors
    ///
    /// When the operating system cannot provide randomness (practically never; the caller
    /// should answer 503 rather than fall back to a weaker source).
    pub fn generate() -> Result<Self, RandomError> {
        let mut bytes = [0u8; Self::LEN];
        crate::random::fill(&mut bytes)?;
        Ok(Self(bytes))
    }

    /// Wraps raw bytes (for stores that keep IDs in binary columns).
    pub const fn from_bytes(bytes: [u8; Self::LEN]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }

    /// Parses the canonical 22-character base64url text of an ID.
    ///
    /// # Errors
    ///
    /// [`InvalidSessionId`] for any other input: wrong length, other alphabet, padding, or
    /// non-canonical trailing bits.
    pub fn parse(text: &str) -> Result<Self, InvalidSessionId> {
        if text.len() != Self::ENCODED_LEN {
            return Err(InvalidSessionId);
        }
        let mut bytes = [0u8; Self::LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(Self::LEN) => Ok(Self(bytes)),
            _ => Err(InvalidSessionId),
        }
    }

    /// The ID as 22 characters of base64url, for the cookie value or a store key.
    ///
    /// # Security
    ///
    /// This is the session's bearer secret: never log it.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId(<redacted>)")
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The text is not a session ID in canonical form.
///
/// Deliberately says nothing about the input, which may be a (mistyped) secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid session id")]
pub struct InvalidSessionId;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_ids_are_unique_and_round_trip() {
        let ids: HashSet<_> = (0..1000).map(|_| SessionId::generate().unwrap()).collect();
        assert_eq!(ids.len(), 1000);
        for id in ids.iter().take(50) {
            let text = id.encode();
            assert_eq!(text.len(), SessionId::ENCODED_LEN);
            assert!(
                text.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(SessionId::parse(&text).unwrap(), *id);
        }
    }

    #[test]
    fn only_the_canonical_spelling_parses() {
        let id = SessionId::from_bytes([0xFF; 16]);
        let text = id.encode();
        assert_eq!(text, "_____________________w");
        // Same bytes, non-zero trailing bits.
        assert_eq!(
            SessionId::parse("_____________________x"),
            Err(InvalidSessionId)
        );
        // Standard alphabet, padding, length, whitespace.
        assert!(SessionId::parse("/////////////////////w").is_err());
        assert!(SessionId::parse("_____________________w==").is_err());
        assert!(SessionId::parse("____________________w").is_err());
        assert!(SessionId::parse(" _____________________w").is_err());
        assert!(SessionId::parse("").is_err());
        assert!(SessionId::parse("éééééééééééé").is_err());
    }

    #[test]
    fn debug_and_errors_never_show_the_id() {
        let id = SessionId::generate().unwrap();
        let text = id.encode();
        assert!(!format!("{id:?}").contains(&text));
        let err = SessionId::parse("abc").unwrap_err();
        assert!(!err.to_string().contains("abc"));
    }

    #[test]
    fn serde_uses_the_encoded_form() {
        let id = SessionId::from_bytes([0; 16]);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"AAAAAAAAAAAAAAAAAAAAAA\"");
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<SessionId>("\"AAAA\"").is_err());
    }
}
