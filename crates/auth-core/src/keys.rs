//! Key rings for rotation, shared by the cookie and JWT crates.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::ConfigError;

/// The longest key id accepted, in bytes.
pub const MAX_KEY_ID_LEN: usize = 128;

/// The name of one key in a [`KeyRing`]: 1 to 128 visible ASCII characters, excluding `"` and
/// `\`.
///
/// Key ids are not secret: they travel in cookie seals and JWT headers. They are only ever
/// compared for equality, never used as paths or queries.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Arc<str>);

impl KeyId {
    /// Validates and wraps a key id.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKeyId`] when `id` is empty, longer than [`MAX_KEY_ID_LEN`] or
    /// contains a character outside `!`..=`~` or one of `"` and `\`.
    ///
    /// ```
    /// use auth_core::KeyId;
    /// assert!(KeyId::new("2026-11.a").is_ok());
    /// assert!(KeyId::new("").is_err());
    /// assert!(KeyId::new("has space").is_err());
    /// ```
    pub fn new(id: &str) -> Result<Self, ConfigError> {
        let valid = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if valid {
            Ok(Self(Arc::from(id)))
        } else {
            Err(ConfigError::InvalidKeyId {
                id: id.chars().take(MAX_KEY_ID_LEN).collect(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for KeyId {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<&str> for KeyId {
    type Error = ConfigError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl AsRef<str> for KeyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Symmetric key material (for HMAC or AEAD): at least [`SecretKey::MIN_LEN`] bytes, wiped
/// from memory on drop, compared in constant time, never printed.
#[derive(Clone)]
pub struct SecretKey(Arc<Zeroizing<Vec<u8>>>);

impl SecretKey {
    /// The shortest key accepted: 32 bytes, the output size of SHA-256.
    pub const MIN_LEN: usize = 32;

    /// Wraps existing key material.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`] when `bytes` is shorter than [`MIN_LEN`](Self::MIN_LEN).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(ConfigError::KeyTooShort {
                min: Self::MIN_LEN,
                actual: bytes.len(),
            });
        }
        Ok(Self(Arc::new(Zeroizing::new(bytes.to_vec()))))
    }

    /// Decodes key material from standard or URL-safe base64 (padding optional), as found in
    /// an environment variable or a secrets manager.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKeyEncoding`] when `text` is not base64;
    /// [`ConfigError::KeyTooShort`] when it decodes to fewer than 32 bytes.
    ///
    /// ```
    /// use auth_core::SecretKey;
    /// let key = SecretKey::from_base64("S2V5TWF0ZXJpYWxLZXlNYXRlcmlhbEtleU1hdGVyaWFs")?;
    /// assert_eq!(key.len(), 33);
    /// assert!(SecretKey::from_base64("c2hvcnQ=").is_err());
    /// # Ok::<(), auth_core::ConfigError>(())
    /// ```
    pub fn from_base64(text: &str) -> Result<Self, ConfigError> {
        let text = text.trim();
        let decoded = if text.contains(['-', '_']) {
            URL_SAFE_NO_PAD.decode(text.trim_end_matches('='))
        } else {
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        };
        let bytes = Zeroizing::new(decoded.map_err(|_| ConfigError::InvalidKeyEncoding)?);
        Self::from_bytes(&bytes)
    }

    /// Fresh random key material of `len` bytes from the operating system's CSPRNG.
    ///
    /// # Errors
    ///
    /// [`ConfigError::KeyTooShort`] when `len` is below 32; [`ConfigError::Random`] when the
    /// operating system cannot provide randomness.
    pub fn generate(len: usize) -> Result<Self, ConfigError> {
        if len < Self::MIN_LEN {
            return Err(ConfigError::KeyTooShort {
                min: Self::MIN_LEN,
                actual: len,
            });
        }
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        crate::random::fill(&mut bytes)?;
        Ok(Self(Arc::new(bytes)))
    }

    /// The key bytes.
    ///
    /// # Security
    ///
    /// Hand these only to a cryptographic primitive; never log, print or send them.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The key length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always `false`: a key has at least 32 bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for SecretKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for SecretKey {}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

/// One current key that signs and any number of older keys that only verify.
///
/// A [`KeyRing`] holds one *current* key, which signs (or encrypts), and any number of older,
/// *verify-only* keys, which still verify what they signed before a rotation. Every key has a
/// [`KeyId`] so a signature names the key that made it and verification needs one lookup, not
/// a trial of every key.
///
/// The ring is generic over the key type: the cookie crate keeps [`SecretKey`]s, the JWT crate
/// keeps its own key types. Rotating is three steps spread over deployments:
///
/// 1. deploy with a new current key ([`KeyRing::rotate`]); the old one becomes verify-only;
/// 2. wait until nothing signed by the old key is still in use (cookie or token lifetime);
/// 3. deploy without it ([`KeyRing::remove`]).
///
/// ```
/// use auth_core::{KeyId, KeyRing, SecretKey};
///
/// let ring = KeyRing::new(KeyId::new("2026-10")?, SecretKey::generate(32)?)
///     .rotate(KeyId::new("2026-11")?, SecretKey::generate(32)?)?;
///
/// assert_eq!(ring.current_id().as_str(), "2026-11");
/// assert!(ring.get("2026-10").is_some()); // still verifies
///
/// let ring = ring.remove("2026-10")?;
/// assert!(ring.get("2026-10").is_none()); // no longer verifies
///
/// // Debug never shows key material.
/// assert_eq!(format!("{ring:?}"), r#"KeyRing { current: "2026-11", verify_only: [] }"#);
/// # Ok::<(), auth_core::ConfigError>(())
/// ```
///
/// `Debug` prints the key ids only, never key material, whatever `K` is.
#[derive(Clone)]
pub struct KeyRing<K> {
    current: (KeyId, K),
    /// Verify-only keys, newest first.
    older: Vec<(KeyId, K)>,
}

impl<K> KeyRing<K> {
    /// A ring with one key, which is current.
    pub fn new(id: KeyId, key: K) -> Self {
        Self {
            current: (id, key),
            older: Vec::new(),
        }
    }

    /// Adds an older key that still verifies but never signs (appended after the keys
    /// already in the ring).
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKeyId`] when the ring already holds a key with this id.
    pub fn with_verify_only(mut self, id: KeyId, key: K) -> Result<Self, ConfigError> {
        self.ensure_absent(&id)?;
        self.older.push((id, key));
        Ok(self)
    }

    /// Makes `key` the current key; the previous current key becomes verify-only.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKeyId`] when the ring already holds a key with this id.
    pub fn rotate(mut self, id: KeyId, key: K) -> Result<Self, ConfigError> {
        self.ensure_absent(&id)?;
        let previous = std::mem::replace(&mut self.current, (id, key));
        self.older.insert(0, previous);
        Ok(self)
    }

    /// Removes a verify-only key: whatever it signed no longer verifies.
    ///
    /// # Errors
    ///
    /// [`ConfigError::UnknownKeyId`] when no key has this id;
    /// [`ConfigError::RemovesCurrentKey`] when `id` is the current key (rotate first).
    pub fn remove(mut self, id: &str) -> Result<Self, ConfigError> {
        if self.current.0.as_str() == id {
            return Err(ConfigError::RemovesCurrentKey { id: id.to_owned() });
        }
        match self.older.iter().position(|(kid, _)| kid.as_str() == id) {
            None => Err(ConfigError::UnknownKeyId { id: id.to_owned() }),
            Some(index) => {
                self.older.remove(index);
                Ok(self)
            }
        }
    }

    /// The current key and its id: sign or encrypt with this.
    pub fn current(&self) -> (&KeyId, &K) {
        (&self.current.0, &self.current.1)
    }

    /// The current key's id.
    pub fn current_id(&self) -> &KeyId {
        &self.current.0
    }

    /// The current key.
    pub fn current_key(&self) -> &K {
        &self.current.1
    }

    /// The key with this id, current or verify-only: verify with this.
    pub fn get(&self, id: &str) -> Option<&K> {
        self.iter()
            .find(|(kid, _)| kid.as_str() == id)
            .map(|(_, key)| key)
    }

    /// Whether `id` names the current key (a value sealed with any other key should be
    /// re-sealed).
    pub fn is_current(&self, id: &str) -> bool {
        self.current.0.as_str() == id
    }

    /// Every key, the current one first, then verify-only keys newest first.
    pub fn iter(&self) -> impl Iterator<Item = (&KeyId, &K)> {
        std::iter::once(&self.current)
            .chain(&self.older)
            .map(|(id, key)| (id, key))
    }

    /// The number of keys (at least one).
    pub fn len(&self) -> usize {
        1 + self.older.len()
    }

    /// Always `false`: a ring has a current key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Converts every key, keeping ids and order (for example, raw secrets into prepared
    /// HMAC keys).
    ///
    /// # Errors
    ///
    /// The first error `f` returns.
    pub fn try_map<L, E>(
        self,
        mut f: impl FnMut(&KeyId, K) -> Result<L, E>,
    ) -> Result<KeyRing<L>, E> {
        let (id, key) = self.current;
        let current = (f(&id, key)?, id);
        let older = self
            .older
            .into_iter()
            .map(|(id, key)| f(&id, key).map(|key| (id, key)))
            .collect::<Result<Vec<_>, E>>()?;
        Ok(KeyRing {
            current: (current.1, current.0),
            older,
        })
    }

    fn ensure_absent(&self, id: &KeyId) -> Result<(), ConfigError> {
        if self.iter().any(|(kid, _)| kid == id) {
            Err(ConfigError::DuplicateKeyId {
                id: id.as_str().to_owned(),
            })
        } else {
            Ok(())
        }
    }
}

impl<K> fmt::Debug for KeyRing<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("current", self.current_id())
            .field(
                "verify_only",
                &self.older.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::*;

    type HmacSha256 = Hmac<Sha256>;

    fn kid(id: &str) -> KeyId {
        KeyId::new(id).unwrap()
    }

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes(&[byte; 32]).unwrap()
    }

    /// Signs with the ring's current key, the way the cookie and JWT crates do.
    fn sign(ring: &KeyRing<SecretKey>, message: &[u8]) -> (String, Vec<u8>) {
        let (id, key) = ring.current();
        let mut mac = HmacSha256::new_from_slice(key.expose_secret()).unwrap();
        mac.update(message);
        (id.to_string(), mac.finalize().into_bytes().to_vec())
    }

    /// Verifies with whichever key the signature names.
    fn verify(ring: &KeyRing<SecretKey>, message: &[u8], id: &str, tag: &[u8]) -> bool {
        let Some(key) = ring.get(id) else {
            return false;
        };
        let mut mac = HmacSha256::new_from_slice(key.expose_secret()).unwrap();
        mac.update(message);
        mac.verify_slice(tag).is_ok()
    }

    #[test]
    fn current_key_signs() {
        let ring = KeyRing::new(kid("old"), key(1))
            .rotate(kid("new"), key(2))
            .unwrap();
        let (id, tag) = sign(&ring, b"hello");
        assert_eq!(id, "new");
        assert!(verify(&ring, b"hello", &id, &tag));
        assert!(!verify(&ring, b"hellO", &id, &tag));
        assert!(ring.is_current("new"));
        assert!(!ring.is_current("old"));
    }

    #[test]
    fn old_key_still_verifies_after_rotation() {
        let before = KeyRing::new(kid("old"), key(1));
        let (id, tag) = sign(&before, b"session");
        let after = before.rotate(kid("new"), key(2)).unwrap();
        assert!(verify(&after, b"session", &id, &tag));
        assert_eq!(
            after.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(),
            ["new", "old"]
        );
    }

    #[test]
    fn removed_key_no_longer_verifies() {
        let before = KeyRing::new(kid("old"), key(1));
        let (id, tag) = sign(&before, b"session");
        let after = before
            .rotate(kid("new"), key(2))
            .unwrap()
            .remove("old")
            .unwrap();
        assert!(!verify(&after, b"session", &id, &tag));
        assert_eq!(after.len(), 1);
    }

    #[test]
    fn a_signature_names_its_key_so_another_key_cannot_verify_it() {
        let ring = KeyRing::new(kid("a"), key(1))
            .with_verify_only(kid("b"), key(2))
            .unwrap();
        let (_, tag) = sign(&ring, b"x");
        assert!(!verify(&ring, b"x", "b", &tag));
        assert!(!verify(&ring, b"x", "missing", &tag));
    }

    #[test]
    fn ring_refuses_duplicates_unknown_ids_and_removing_the_current_key() {
        let ring = KeyRing::new(kid("a"), key(1));
        assert!(matches!(
            ring.clone().rotate(kid("a"), key(2)),
            Err(ConfigError::DuplicateKeyId { .. })
        ));
        assert!(matches!(
            ring.clone().with_verify_only(kid("a"), key(2)),
            Err(ConfigError::DuplicateKeyId { .. })
        ));
        assert!(matches!(
            ring.clone().remove("zz"),
            Err(ConfigError::UnknownKeyId { .. })
        ));
        assert!(matches!(
            ring.remove("a"),
            Err(ConfigError::RemovesCurrentKey { .. })
        ));
    }

    #[test]
    fn debug_prints_no_key_bytes() {
        let material = [0xAB_u8; 32];
        let secret = SecretKey::from_bytes(&material).unwrap();
        let ring = KeyRing::new(kid("k2"), secret.clone())
            .with_verify_only(kid("k1"), key(7))
            .unwrap();
        for text in [
            format!("{ring:?}"),
            format!("{ring:#?}"),
            format!("{secret:?}"),
        ] {
            assert!(!text.contains("171"), "{text}"); // 0xAB as decimal
            assert!(!text.to_lowercase().contains("ab, ab"), "{text}");
            assert!(!text.contains(&URL_SAFE_NO_PAD.encode(material)), "{text}");
        }
        assert_eq!(
            format!("{ring:?}"),
            r#"KeyRing { current: "k2", verify_only: ["k1"] }"#
        );
        assert_eq!(format!("{secret:?}"), "SecretKey(<redacted>)");
    }

    #[test]
    fn key_ids_are_validated() {
        for bad in [
            "",
            "a b",
            "tab\t",
            "quote\"",
            "back\\slash",
            "é",
            &"x".repeat(129),
        ] {
            assert!(
                matches!(KeyId::new(bad), Err(ConfigError::InvalidKeyId { .. })),
                "{bad:?}"
            );
        }
        for good in ["1", "2026-11", "kid:with/odd+chars=", &"x".repeat(128)] {
            assert_eq!(KeyId::new(good).unwrap().as_str(), good);
        }
    }

    #[test]
    fn secret_keys_must_be_long_enough() {
        assert!(matches!(
            SecretKey::from_bytes(&[]),
            Err(ConfigError::KeyTooShort { min: 32, actual: 0 })
        ));
        assert!(SecretKey::from_bytes(&[0; 31]).is_err());
        assert!(SecretKey::generate(16).is_err());
        let a = SecretKey::generate(64).unwrap();
        let b = SecretKey::generate(64).unwrap();
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(a, a.clone());
    }

    #[test]
    fn secret_keys_decode_from_either_base64_alphabet() {
        let bytes: Vec<u8> = (0..48).map(|i| i * 5).collect();
        let standard = STANDARD.encode(&bytes);
        let url = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(
            SecretKey::from_base64(&standard).unwrap().expose_secret(),
            bytes
        );
        assert_eq!(SecretKey::from_base64(&url).unwrap().expose_secret(), bytes);
        assert!(matches!(
            SecretKey::from_base64("not base64!"),
            Err(ConfigError::InvalidKeyEncoding)
        ));
    }

    #[test]
    fn try_map_keeps_ids_and_order() {
        let ring = KeyRing::new(kid("a"), 1)
            .with_verify_only(kid("b"), 2)
            .unwrap();
        let mapped: KeyRing<String> = ring
            .try_map(|id, n| Ok::<_, ()>(format!("{id}{n}")))
            .unwrap();
        assert_eq!(mapped.current_key(), "a1");
        assert_eq!(mapped.get("b").map(String::as_str), Some("b2"));
    }
}
