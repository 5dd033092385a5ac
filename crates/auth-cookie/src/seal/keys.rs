//! Keys for signed and private cookies, derived from a key ring.

use std::fmt;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use auth_core::{KeyId, KeyRing, SecretKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use hmac::digest::Output;
use hmac::digest::core_api::{Buffer, FixedOutputCore as _, UpdateCore as _};
use hmac::{Hmac, HmacCore, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;

use crate::ConfigError;

type HmacSha256 = Hmac<Sha256>;

const VERSION: &str = "v1";
const SIGNED_LABEL: &[u8] = b"auth-cookie/v1/signed";
const PRIVATE_LABEL: &[u8] = b"auth-cookie/v1/private";
const TAG_B64_LEN: usize = 43; // 32 bytes
const NONCE_LEN: usize = 12;

/// The keys that seal and open signed and private cookies, built from a [`KeyRing`] of
/// [`SecretKey`]s.
///
/// The ring's current key seals; every key in the ring opens what it sealed, so rotating is:
/// add a new current key ([`KeyRing::rotate`]), deploy, and remove the old one once no cookie
/// sealed by it can still be alive. Cookies sealed by an older key are re-sealed with the
/// current one when read.
///
/// Cheap to clone. `Debug` shows key ids only.
///
/// ```
/// use auth_cookie::CookieKeys;
/// use auth_core::{KeyId, KeyRing, SecretKey};
///
/// // From configuration: base64 key material shared by every instance.
/// let secret = SecretKey::from_base64("dGhpcyBpcyAzMiBieXRlcyBvZiBrZXkgbWF0ZXJpYWwh")?;
/// let keys = CookieKeys::new(KeyRing::new(KeyId::new("2026-11")?, secret));
/// assert_eq!(keys.current_id().as_str(), "2026-11");
///
/// // Or random, for a single-instance development server.
/// let dev_keys = CookieKeys::generate()?;
/// # let _ = dev_keys;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CookieKeys {
    ring: Arc<KeyRing<DerivedKey>>,
}

struct DerivedKey {
    /// The key id, unpadded base64url, as it appears in seals.
    kid: String,
    /// HMAC state with the key and the constant `label ‖ 0 ‖ kid ‖ 0` prefix already
    /// absorbed, cloned per use: the two parts of an [`HmacSha256`] (see [`signed_tag`]).
    mac_core: HmacCore<Sha256>,
    /// The part of the prefix not yet compressed.
    mac_buffer: Buffer<HmacCore<Sha256>>,
    aead: Aes256Gcm,
}

impl CookieKeys {
    /// Derives signing and encryption keys for every key of `ring`.
    pub fn new(ring: KeyRing<SecretKey>) -> Self {
        let ring = ring
            .try_map(|id, secret| Ok::<_, std::convert::Infallible>(derive(id, &secret)))
            .unwrap_or_else(|never| match never {});
        Self {
            ring: Arc::new(ring),
        }
    }

    /// A ring of one random 32-byte key with id `generated`: cookies sealed with it do not
    /// survive a restart and are not understood by other instances.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Key`] when the operating system cannot provide randomness.
    pub fn generate() -> Result<Self, ConfigError> {
        Ok(Self::new(KeyRing::new(
            KeyId::new("generated")?,
            SecretKey::generate(32)?,
        )))
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> &KeyId {
        self.ring.current_id()
    }

    fn current(&self) -> &DerivedKey {
        self.ring.current_key()
    }

    fn find(&self, kid_b64: &str) -> Option<(&DerivedKey, bool)> {
        self.ring
            .iter()
            .enumerate()
            .find(|(_, (_, key))| key.kid == kid_b64)
            .map(|(position, (_, key))| (key, position == 0))
    }

    /// Signs `value` for the cookie called `name` (the full name, prefix included): the
    /// building block of [`SignedCookies`](crate::SignedCookies), for layers that write their
    /// cookie without a jar. The result is made of cookie-octets.
    pub fn seal_signed(&self, name: &str, value: &str) -> String {
        self.sign(name, &crate::parse::encode_value(value))
    }

    /// Verifies a signed cookie value read from a request for the cookie called `name`:
    /// the value and whether it was sealed with the current key (re-seal it if not), or `None`
    /// when it does not verify.
    pub fn open_signed<'s>(
        &self,
        name: &str,
        sealed: &'s str,
    ) -> Option<(std::borrow::Cow<'s, str>, bool)> {
        self.verify(name, sealed)
            .map(|(value, current)| (crate::parse::decode_value(value), current))
    }

    /// `v1.<kid>.<tag>.<value>`; `value` must already be cookie-octets.
    pub(crate) fn sign(&self, name: &str, value: &str) -> String {
        let key = self.current();
        let tag = signed_tag(key, name, value);
        let mut out =
            String::with_capacity(VERSION.len() + key.kid.len() + TAG_B64_LEN + value.len() + 3);
        out.push_str(VERSION);
        out.push('.');
        out.push_str(&key.kid);
        out.push('.');
        // The same unpadded base64url as the `base64` engine, with less work per call.
        base64_simd::URL_SAFE_NO_PAD.encode_append(tag, &mut out);
        out.push('.');
        out.push_str(value);
        out
    }

    /// The signed value if `sealed` verifies for `name`, and whether it was sealed with the
    /// current key.
    pub(crate) fn verify<'s>(&self, name: &str, sealed: &'s str) -> Option<(&'s str, bool)> {
        let rest = sealed.strip_prefix("v1.")?;
        let (kid, rest) = rest.split_once('.')?;
        let (tag_b64, value) = (rest.get(..TAG_B64_LEN)?, rest.get(TAG_B64_LEN..)?);
        let value = value.strip_prefix('.')?;
        let (key, current) = self.find(kid)?;
        // 43 canonical base64url characters are exactly 32 bytes; `base64-simd` decodes them
        // (strictly: no padding, zero trailing bits) in a fraction of the generic engine's work.
        let mut tag = [0u8; 32];
        let decoded = base64_simd::URL_SAFE_NO_PAD
            .decode(tag_b64.as_bytes(), base64_simd::Out::from_slice(&mut tag))
            .ok()?
            .len();
        if decoded != tag.len() {
            return None;
        }
        tags_equal(&signed_tag(key, name, value), &tag).then_some((value, current))
    }

    /// `v1.<kid>.<nonce ‖ ciphertext ‖ tag>`.
    pub(crate) fn encrypt(&self, name: &str, value: &str) -> Option<String> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        auth_core::fill_random(&mut nonce).ok()?;
        let aad = private_aad(key, name);
        let ciphertext = key
            .aead
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: value.as_bytes(),
                    aad: &aad,
                },
            )
            .ok()?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        let mut out = String::with_capacity(4 + key.kid.len() + sealed.len() * 4 / 3 + 4);
        out.push_str(VERSION);
        out.push('.');
        out.push_str(&key.kid);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(&sealed, &mut out);
        Some(out)
    }

    /// The plaintext if `sealed` decrypts and authenticates for `name`, and whether it was
    /// sealed with the current key.
    pub(crate) fn decrypt(&self, name: &str, sealed: &str) -> Option<(String, bool)> {
        let rest = sealed.strip_prefix("v1.")?;
        let (kid, body) = rest.split_once('.')?;
        let (key, current) = self.find(kid)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).ok()?;
        if bytes.len() < NONCE_LEN + 16 {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let aad = private_aad(key, name);
        let plain = key
            .aead
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .ok()?;
        Some((String::from_utf8(plain).ok()?, current))
    }
}

fn derive(id: &KeyId, secret: &SecretKey) -> DerivedKey {
    let hkdf = Hkdf::<Sha256>::new(None, secret.expose_secret());
    let mut mac_key = zeroize::Zeroizing::new([0u8; 32]);
    let mut enc_key = zeroize::Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot fail.
    let _ = hkdf.expand(SIGNED_LABEL, &mut *mac_key);
    let _ = hkdf.expand(PRIVATE_LABEL, &mut *enc_key);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&*mac_key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    let kid = URL_SAFE_NO_PAD.encode(id.as_str());
    // Key ids are base64url: no NUL, so the framing is unambiguous.
    mac.update(SIGNED_LABEL);
    mac.update(b"\0");
    mac.update(kid.as_bytes());
    mac.update(b"\0");
    let (mac_core, mac_buffer) = mac.decompose();
    DerivedKey {
        kid,
        mac_core,
        mac_buffer,
        aead: Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(&*enc_key)),
    }
}

/// The HMAC of `name ‖ 0 ‖ value` under a state that has absorbed `label ‖ 0 ‖ kid ‖ 0`
/// (names are tokens: no NUL).
///
/// This is exactly what [`HmacSha256`]'s `update` and `finalize` do (`CoreWrapper` in `digest`:
/// feed the block buffer into the HMAC core, then finalize the core over the buffer), spelled
/// out over its two parts because `finalize` takes the wrapper by value: that move of the whole
/// ~190-byte state, right after cloning it, was a measurable share of signing and verifying.
/// All HMAC and SHA-256 work stays in the `hmac` and `sha2` crates.
fn signed_tag(key: &DerivedKey, name: &str, value: &str) -> [u8; 32] {
    let mut core = key.mac_core.clone();
    let mut buffer = key.mac_buffer.clone();
    for part in [name.as_bytes(), b"\0", value.as_bytes()] {
        buffer.digest_blocks(part, |blocks| core.update_blocks(blocks));
    }
    let mut tag = Output::<HmacCore<Sha256>>::default();
    core.finalize_fixed_core(&mut buffer, &mut tag);
    tag.into()
}

/// Compares two tags in constant time: `subtle`'s slice comparison (the one `verify_slice`
/// uses) run over the tags read as four 64-bit words instead of 32 bytes. Every word is
/// compared, without a data-dependent branch, behind `subtle`'s optimisation barrier, and the
/// results are combined with `&` on `Choice`; only the final answer is branched on. Four
/// barriers instead of thirty-two: `subtle`'s barrier is an out-of-line call, and was a
/// visible share of verifying a cookie.
fn tags_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    fn words(bytes: &[u8; 32]) -> [u64; 4] {
        let mut words = [0u64; 4];
        for (word, chunk) in words.iter_mut().zip(bytes.as_chunks::<8>().0) {
            *word = u64::from_ne_bytes(*chunk);
        }
        words
    }
    words(a).as_slice().ct_eq(words(b).as_slice()).into()
}

fn private_aad(key: &DerivedKey, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(PRIVATE_LABEL.len() + key.kid.len() + name.len() + 2);
    aad.extend_from_slice(PRIVATE_LABEL);
    aad.push(0);
    aad.extend_from_slice(key.kid.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

impl fmt::Debug for CookieKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CookieKeys")
            .field("current", self.ring.current_id())
            .field(
                "verify_only",
                &self
                    .ring
                    .iter()
                    .skip(1)
                    .map(|(id, _)| id)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[(&str, u8)]) -> CookieKeys {
        let mut iter = ids.iter();
        let (id, byte) = iter.next().unwrap();
        let mut ring = KeyRing::new(
            KeyId::new(id).unwrap(),
            SecretKey::from_bytes(&[*byte; 32]).unwrap(),
        );
        for (id, byte) in iter {
            ring = ring
                .with_verify_only(
                    KeyId::new(id).unwrap(),
                    SecretKey::from_bytes(&[*byte; 32]).unwrap(),
                )
                .unwrap();
        }
        CookieKeys::new(ring)
    }

    #[test]
    fn signed_values_verify_only_under_their_name() {
        let keys = ring(&[("k", 1)]);
        let sealed = keys.sign("sid", "abc");
        assert_eq!(keys.verify("sid", &sealed), Some(("abc", true)));
        assert_eq!(keys.verify("other", &sealed), None);
        assert_eq!(keys.verify("Sid", &sealed), None);
    }

    #[test]
    fn tampering_anywhere_fails() {
        let keys = ring(&[("k", 1)]);
        let sealed = keys.sign("sid", "abc");
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            assert_eq!(keys.verify("sid", &tampered), None, "byte {i}: {tampered}");
        }
        assert_eq!(keys.verify("sid", &sealed[..sealed.len() - 1]), None);
        assert_eq!(keys.verify("sid", &format!("{sealed}x")), None);
        assert_eq!(keys.verify("sid", "abc"), None);
        assert_eq!(keys.verify("sid", ""), None);
    }

    #[test]
    fn a_tag_that_is_not_canonical_base64url_fails() {
        let keys = ring(&[("k", 1)]);
        let sealed = keys.sign("sid", "abc");
        let (head, value) = sealed.rsplit_once('.').unwrap();
        let (prefix, tag) = head.rsplit_once('.').unwrap();
        assert_eq!(tag.len(), TAG_B64_LEN);
        // The last character carries 4 data bits and 2 trailing bits that must be zero:
        // flipping one of those decodes to the same bytes, but is not the canonical encoding.
        let last = tag.as_bytes()[TAG_B64_LEN - 1];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let index = alphabet.iter().position(|&c| c == last).unwrap();
        let sloppy = char::from(alphabet[index | 1]);
        let mut variants = vec![format!("{}{sloppy}", &tag[..TAG_B64_LEN - 1])];
        // Characters of the other alphabet, and padding, anywhere.
        for junk in ['+', '/', '='] {
            variants.push(format!("{junk}{}", &tag[1..]));
            variants.push(format!("{}{junk}", &tag[..TAG_B64_LEN - 1]));
        }
        for bad in variants {
            assert_ne!(bad, tag);
            let forged = format!("{prefix}.{bad}.{value}");
            assert_eq!(keys.verify("sid", &forged), None, "{forged}");
        }
    }

    #[test]
    fn private_values_round_trip_only_under_their_name() {
        let keys = ring(&[("k", 1)]);
        let sealed = keys.encrypt("prefs", "dark;é").unwrap();
        assert!(!sealed.contains("dark"));
        assert_eq!(
            keys.decrypt("prefs", &sealed),
            Some(("dark;é".into(), true))
        );
        assert_eq!(keys.decrypt("prefs2", &sealed), None);
        let again = keys.encrypt("prefs", "dark;é").unwrap();
        assert_ne!(sealed, again, "a fresh nonce per seal");
    }

    #[test]
    fn an_old_key_opens_and_reports_staleness_and_a_removed_key_does_not() {
        let old = ring(&[("old", 1)]);
        let signed = old.sign("a", "v");
        let private = old.encrypt("a", "v").unwrap();
        let rotated = ring(&[("new", 2), ("old", 1)]);
        assert_eq!(rotated.verify("a", &signed), Some(("v", false)));
        assert_eq!(rotated.decrypt("a", &private), Some(("v".into(), false)));
        let removed = ring(&[("new", 2)]);
        assert_eq!(removed.verify("a", &signed), None);
        assert_eq!(removed.decrypt("a", &private), None);
    }

    #[test]
    fn the_same_kid_with_other_key_material_fails() {
        let a = ring(&[("k", 1)]);
        let b = ring(&[("k", 2)]);
        assert_eq!(b.verify("n", &a.sign("n", "v")), None);
        assert_eq!(b.decrypt("n", &a.encrypt("n", "v").unwrap()), None);
    }

    #[test]
    fn signed_and_private_keys_are_separate() {
        let keys = ring(&[("k", 1)]);
        // A private seal is not a valid signed seal and vice versa.
        let private = keys.encrypt("n", "v").unwrap();
        assert_eq!(keys.verify("n", &private), None);
        assert_eq!(keys.decrypt("n", &keys.sign("n", "v")), None);
    }

    #[test]
    fn tags_are_equal_only_when_every_bit_is() {
        let tag: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37));
        assert!(tags_equal(&tag, &tag));
        assert!(tags_equal(&[0; 32], &[0; 32]));
        assert!(!tags_equal(&[0; 32], &[0xff; 32]));
        for byte in 0..32 {
            for bit in 0..8 {
                let mut other = tag;
                other[byte] ^= 1 << bit;
                assert!(!tags_equal(&tag, &other), "byte {byte} bit {bit}");
                assert!(!tags_equal(&other, &tag), "byte {byte} bit {bit}");
            }
        }
    }

    /// Seals made before the signing path was optimised, byte for byte: the wire format must
    /// never change (cookies in browsers must keep verifying after an upgrade).
    const KNOWN_SEALS: [(&str, &str, &str); 4] = [
        (
            "id",
            "AAAAAAAAAAAAAAAAAAAAAA",
            "v1.aw.BmrIu0FfFDSWSHmIMch5QrZPpdh1pOjZvFj7r6QxfSk.AAAAAAAAAAAAAAAAAAAAAA",
        ),
        (
            "id",
            "",
            "v1.aw.8HxHSrGpeiDwC50pBVwf8hKgMF0oKKbpDHVlwlXyJmc.",
        ),
        (
            "__Host-sid",
            "a b;c,d\"e\\f%g\u{e9}\r\n\x7f~",
            "v1.aw.5ZHeGt87nK1EYrLAvlTtTY7Wjz3DrqhCfZzpJFjQbzk.\
             a%20b%3Bc%2Cd%22e%5Cf%25g%C3%A9%0D%0A%7F~",
        ),
        (
            "x",
            "Zm9v-_.!#$&'()*+/:<=>?@[]^`{|}",
            "v1.aw.vi0KZQdbafkyyfj0EbqlxgQdfHuoi64qBdDKLbYxWak.Zm9v-_.!#$&'()*+/:<=>?@[]^`{|}",
        ),
    ];

    #[test]
    fn sealed_signed_output_is_pinned_byte_for_byte() {
        let keys = ring(&[("k", 3)]);
        for (name, value, sealed) in KNOWN_SEALS {
            assert_eq!(keys.seal_signed(name, value), sealed, "{name} {value:?}");
        }
    }

    #[test]
    fn pinned_seals_open_under_the_current_and_a_verify_only_key() {
        let keys = ring(&[("k", 3)]);
        let rotated = ring(&[("new", 4), ("k", 3)]);
        for (name, value, sealed) in KNOWN_SEALS {
            assert_eq!(keys.open_signed(name, sealed), Some((value.into(), true)));
            assert_eq!(
                rotated.open_signed(name, sealed),
                Some((value.into(), false))
            );
            assert_eq!(ring(&[("k", 4)]).open_signed(name, sealed), None);
        }
    }

    #[test]
    fn debug_shows_ids_only() {
        let keys = ring(&[("new", 2), ("old", 1)]);
        assert_eq!(
            format!("{keys:?}"),
            r#"CookieKeys { current: "new", verify_only: ["old"] }"#
        );
    }
}
