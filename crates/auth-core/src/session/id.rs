//! Session identifiers.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::RandomError;

/// The base64url alphabet (RFC 4648, section 5).
const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Each byte's value in [`ALPHABET`], or `INVALID`.
#[allow(clippy::indexing_slicing)] // within the arrays' fixed sizes
const DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};
const INVALID: u8 = 0xFF;

/// A session identifier: 128 bits from the operating system's CSPRNG, carried as 22 characters
/// of unpadded base64url.
///
/// The ID is a bearer secret: whoever holds it holds the session. So it has no `Display`,
/// its `Debug` is redacted, and the only way to get its text is the explicitly named
/// [`encode`](Self::encode) (or [`encode_into`](Self::encode_into)). Parsing accepts only the
/// canonical encoding, so one ID has exactly one spelling.
///
/// The codec is written for exactly this size (the session layer encodes and parses an ID on
/// every request that carries or sets its cookie): one pass over the text, four characters
/// to three bytes, no allocation but [`encode`](Self::encode)'s `String`; a property test
/// checks it against the `base64` crate's `URL_SAFE_NO_PAD`.
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
    #[inline]
    pub fn parse(text: &str) -> Result<Self, InvalidSessionId> {
        Self::parse_bytes(text.as_bytes())
    }

    /// [`parse`](Self::parse) of raw bytes, for text not yet checked to be UTF-8 (a cookie
    /// value straight from a header): the same answers, and bytes that are not ASCII never
    /// parse.
    ///
    /// # Errors
    ///
    /// As [`parse`](Self::parse).
    ///
    /// # Example
    ///
    /// ```
    /// use auth_core::SessionId;
    ///
    /// let id = SessionId::from_bytes([0xFF; 16]);
    /// assert_eq!(SessionId::parse_bytes(b"_____________________w")?, id);
    /// assert!(SessionId::parse_bytes(b"_____________________\xff").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    // Every index is into a fixed-size array, in range by construction (constants, bytes into
    // a 256-entry table, and `chunks_exact` of known sizes).
    #[allow(clippy::indexing_slicing)]
    #[inline]
    pub fn parse_bytes(text: &[u8]) -> Result<Self, InvalidSessionId> {
        let text: &[u8; Self::ENCODED_LEN] = text.try_into().map_err(|_| InvalidSessionId)?;
        let value = |c: u8| u32::from(DECODE[usize::from(c)]);
        // Invalid characters decode to 0xFF, the only values with the top bits set: OR-ed into
        // `invalid`, they are checked once at the end (one pass, no early exit per character).
        let mut invalid = 0u32;
        let mut bytes = [0u8; Self::LEN];
        // Five groups of four characters make fifteen bytes...
        for (chars, group) in text.chunks_exact(4).zip(bytes.chunks_exact_mut(3)) {
            let (a, b, c, d) = (
                value(chars[0]),
                value(chars[1]),
                value(chars[2]),
                value(chars[3]),
            );
            invalid |= a | b | c | d;
            let n = (a << 18) | (b << 12) | (c << 6) | d;
            group[0] = (n >> 16) as u8;
            group[1] = (n >> 8) as u8;
            group[2] = n as u8;
        }
        // ...and the last two characters the sixteenth, whose unused low four bits must be
        // zero (one ID, one spelling).
        let (a, b) = (value(text[20]), value(text[21]));
        invalid |= a | b;
        if invalid & 0xC0 != 0 || b & 0x0F != 0 {
            return Err(InvalidSessionId);
        }
        bytes[15] = ((a << 2) | (b >> 4)) as u8;
        Ok(Self(bytes))
    }

    /// The ID as 22 characters of base64url, for the cookie value or a store key.
    ///
    /// # Security
    ///
    /// This is the session's bearer secret: never log it.
    pub fn encode(&self) -> String {
        let mut text = [0u8; Self::ENCODED_LEN];
        self.encode_into(&mut text);
        // Always ASCII from the alphabet.
        std::str::from_utf8(&text).unwrap_or_default().to_owned()
    }

    /// [`encode`](Self::encode) into `out`, without an allocation. The bytes are always ASCII
    /// (from the base64url alphabet), so `std::str::from_utf8(out)` never fails.
    ///
    /// # Security
    ///
    /// As [`encode`](Self::encode).
    ///
    /// # Example
    ///
    /// ```
    /// use auth_core::SessionId;
    ///
    /// let id = SessionId::from_bytes([0; 16]);
    /// let mut text = [0u8; SessionId::ENCODED_LEN];
    /// id.encode_into(&mut text);
    /// assert_eq!(&text, b"AAAAAAAAAAAAAAAAAAAAAA");
    /// assert_eq!(std::str::from_utf8(&text)?, id.encode());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    // Every index is in range by construction (constants, masked sextets, and `chunks_exact`
    // of known sizes).
    #[allow(clippy::indexing_slicing)]
    #[inline]
    pub fn encode_into(&self, out: &mut [u8; Self::ENCODED_LEN]) {
        let bytes = &self.0;
        let sextet = |n: u32| ALPHABET[(n & 0x3F) as usize];
        // Five groups of three bytes make twenty characters...
        for (group, chars) in bytes.chunks_exact(3).zip(out.chunks_exact_mut(4)) {
            let n = (u32::from(group[0]) << 16) | (u32::from(group[1]) << 8) | u32::from(group[2]);
            chars[0] = sextet(n >> 18);
            chars[1] = sextet(n >> 12);
            chars[2] = sextet(n >> 6);
            chars[3] = sextet(n);
        }
        // ...and the last byte two more, its low four bits padded with zeros.
        let last = u32::from(bytes[15]);
        out[20] = sextet(last >> 2);
        out[21] = sextet(last << 4);
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

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

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

    /// The `base64` crate's reading of `text`, which `parse` used before it had its own codec:
    /// exactly 22 bytes, then its strict unpadded base64url decode.
    fn base64_crate_parse(text: &[u8]) -> Option<SessionId> {
        if text.len() != SessionId::ENCODED_LEN {
            return None;
        }
        let mut bytes = [0u8; SessionId::LEN];
        match URL_SAFE_NO_PAD.decode_slice(text, &mut bytes) {
            Ok(SessionId::LEN) => Some(SessionId::from_bytes(bytes)),
            _ => None,
        }
    }

    /// Mostly the alphabet; sometimes a character a spelling might try instead (padding, the
    /// standard alphabet's, white space, NUL, the bytes of a non-ASCII character) or any byte.
    fn id_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            8 => proptest::sample::select(ALPHABET.to_vec()),
            1 => proptest::sample::select(b"=+/ .\x00\xC3\xA9".to_vec()),
            1 => any::<u8>(),
        ]
    }

    proptest! {
        #[test]
        fn encoding_matches_the_base64_crate(bytes in any::<[u8; 16]>()) {
            let id = SessionId::from_bytes(bytes);
            let expected = URL_SAFE_NO_PAD.encode(bytes);
            let mut text = [0u8; SessionId::ENCODED_LEN];
            id.encode_into(&mut text);
            prop_assert_eq!(&text[..], expected.as_bytes());
            prop_assert_eq!(id.encode(), expected);
            prop_assert_eq!(SessionId::parse_bytes(&text), Ok(id));
        }

        #[test]
        fn parsing_matches_the_base64_crate(text in proptest::collection::vec(id_byte(), 20..=24)) {
            let ours = SessionId::parse_bytes(&text).ok();
            prop_assert_eq!(ours, base64_crate_parse(&text));
            if let Ok(text) = std::str::from_utf8(&text) {
                prop_assert_eq!(SessionId::parse(text).ok(), ours);
            }
        }

        #[test]
        fn an_id_with_one_character_changed_parses_as_the_base64_crate_reads_it(
            bytes in any::<[u8; 16]>(),
            at in 0..SessionId::ENCODED_LEN,
            byte in id_byte(),
        ) {
            let mut text = [0u8; SessionId::ENCODED_LEN];
            SessionId::from_bytes(bytes).encode_into(&mut text);
            text[at] = byte;
            prop_assert_eq!(SessionId::parse_bytes(&text).ok(), base64_crate_parse(&text));
        }
    }

    #[test]
    fn every_last_character_parses_as_the_base64_crate_reads_it() {
        let mut text = [0u8; SessionId::ENCODED_LEN];
        SessionId::from_bytes([0xAB; 16]).encode_into(&mut text);
        for byte in 0..=255u8 {
            text[21] = byte;
            assert_eq!(
                SessionId::parse_bytes(&text).ok(),
                base64_crate_parse(&text),
                "{byte:#04x}"
            );
        }
        assert_eq!(SessionId::parse_bytes(b""), Err(InvalidSessionId));
        assert_eq!(
            SessionId::parse_bytes("é".repeat(11).as_bytes()),
            Err(InvalidSessionId)
        );
    }
}
