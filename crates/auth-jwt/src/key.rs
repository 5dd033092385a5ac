//! Verification keys, parsed once and bound to a `kid` and an algorithm.

use std::fmt;

use auth_core::{KeyId, SecretKey};
use aws_lc_rs::hmac;
use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::algorithm::Family;
use crate::{Algorithm, ConfigError, Jwk};

/// One key that verifies token signatures, pre-parsed at configuration time.
///
/// A `VerifyingKey` is bound to exactly one [`Algorithm`] and optionally to a `kid` (the
/// lookup key in a token's header); it belongs to the [`TrustedIssuer`](crate::TrustedIssuer)
/// whose key set holds it, so it verifies only that issuer's tokens. The binding is checked
/// before any signature math: a token whose `alg` header differs
/// is refused, so an RSA public key can never be used as an HMAC secret.
///
/// Public keys are parsed once (RSA modulus and exponent, EC point, Ed25519 key) so the
/// request path does no key parsing.
///
/// ```
/// use auth_core::SecretKey;
/// use auth_jwt::{Algorithm, VerifyingKey};
///
/// let secret = SecretKey::from_bytes(&[7u8; 32])?;
/// let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?
///     .with_kid("2026-01")?;
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert_eq!(key.kid(), Some("2026-01"));
///
/// // Too short for HS512 (64 bytes needed): refused at build time.
/// assert!(VerifyingKey::hmac(Algorithm::HS512, &secret).is_err());
/// # Ok::<(), auth_jwt::ConfigError>(())
/// ```
pub struct VerifyingKey {
    kid: Option<KeyId>,
    alg: Algorithm,
    verifier: Verifier,
}

// Keys live as long as the layer and are never moved on the request path.
#[allow(clippy::large_enum_variant)]
enum Verifier {
    Hmac(hmac::Key),
    Public(ParsedPublicKey),
}

impl VerifyingKey {
    /// An HMAC key (`HS256`, `HS384`, `HS512`).
    ///
    /// # Errors
    ///
    /// - [`ConfigError::UnsupportedAlgorithm`] when `alg` is not an HMAC algorithm;
    /// - [`ConfigError::Core`] with `KeyTooShort` when the secret is shorter than the hash
    ///   output (32, 48 or 64 bytes);
    /// - [`ConfigError::SecretLooksLikePublicKey`] when the secret is a PEM block or a JSON
    ///   object (a public key pasted where a secret belongs).
    pub fn hmac(alg: Algorithm, secret: &SecretKey) -> Result<Self, ConfigError> {
        let algorithm = alg
            .hmac_algorithm()
            .ok_or(ConfigError::UnsupportedAlgorithm {
                alg,
                purpose: "HMAC verification",
            })?;
        check_hmac_secret(alg, secret.expose_secret(), "")?;
        Ok(Self {
            kid: None,
            alg,
            verifier: Verifier::Hmac(hmac::Key::new(algorithm, secret.expose_secret())),
        })
    }

    /// A public key from PEM (`-----BEGIN PUBLIC KEY-----` SubjectPublicKeyInfo, or
    /// `-----BEGIN RSA PUBLIC KEY-----` for RSA).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the PEM is not a public key of the algorithm's type;
    /// [`ConfigError::UnsupportedAlgorithm`] for an HMAC algorithm (use [`hmac`](Self::hmac)).
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        use jsonwebtoken::DecodingKey;
        let decoded = match alg.family() {
            Family::Hmac => {
                return Err(ConfigError::UnsupportedAlgorithm {
                    alg,
                    purpose: "PEM keys",
                });
            }
            Family::Rsa => DecodingKey::from_rsa_pem(pem),
            Family::Ec => DecodingKey::from_ec_pem(pem),
            Family::Ed => DecodingKey::from_ed_pem(pem),
        };
        let invalid = |reason| ConfigError::InvalidKey {
            kid: String::new(),
            alg,
            reason,
        };
        let decoded = decoded.map_err(|_| invalid("not a PEM public key of this type"))?;
        let bytes = decoded
            .try_get_as_bytes()
            .map_err(|_| invalid("not a PEM public key of this type"))?;
        Self::public(alg, bytes, "")
    }

    /// A public key from DER: SubjectPublicKeyInfo for every type, PKCS#1 `RSAPublicKey` for
    /// RSA, the uncompressed point for EC, the 32 raw bytes for Ed25519.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the bytes are not a public key for `alg`;
    /// [`ConfigError::UnsupportedAlgorithm`] for an HMAC algorithm.
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
        if alg.is_hmac() {
            return Err(ConfigError::UnsupportedAlgorithm {
                alg,
                purpose: "DER keys",
            });
        }
        Self::public(alg, der, "")
    }

    /// A key from a JWK, bound to `alg`, or to the JWK's own `alg` when `alg` is `None`.
    ///
    /// The JWK's `kid` becomes the key's id.
    ///
    /// # Errors
    ///
    /// - [`ConfigError::AlgorithmMismatch`] when the JWK names another algorithm than `alg`;
    /// - [`ConfigError::InvalidJwk`] when neither gives an algorithm, or a member is missing
    ///   or not base64url;
    /// - [`ConfigError::NotASignatureKey`] for `use` other than `sig` or `key_ops` without
    ///   `verify`;
    /// - [`ConfigError::InvalidKey`] when the key type or curve does not fit the algorithm or
    ///   the key material is invalid (an `oct` key also gets the HMAC length checks).
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<Self, ConfigError> {
        let kid_text = jwk.kid.clone().unwrap_or_default();
        let alg = match (alg, jwk.alg.as_deref()) {
            (Some(alg), None) => alg,
            (Some(alg), Some(found)) if found == alg.as_str() => alg,
            (Some(expected), Some(found)) => {
                return Err(ConfigError::AlgorithmMismatch {
                    kid: kid_text,
                    expected,
                    found: found.chars().take(32).collect(),
                });
            }
            (None, Some(found)) => found.parse().map_err(|_| ConfigError::InvalidJwk {
                reason: "unsupported `alg`",
            })?,
            (None, None) => {
                return Err(ConfigError::InvalidJwk {
                    reason: "no algorithm: the JWK has no `alg` and none was given",
                });
            }
        };
        if jwk.use_.as_deref().is_some_and(|u| u != "sig")
            || jwk
                .key_ops
                .as_ref()
                .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err(ConfigError::NotASignatureKey { kid: kid_text });
        }
        let invalid = |reason| ConfigError::InvalidKey {
            kid: kid_text.clone(),
            alg,
            reason,
        };
        let field = |value: &Option<String>, name: &'static str| {
            let text = value
                .as_deref()
                .ok_or(ConfigError::InvalidJwk { reason: name })?;
            URL_SAFE_NO_PAD
                .decode(text)
                .map(Zeroizing::new)
                .map_err(|_| ConfigError::InvalidJwk { reason: name })
        };
        let key = match (alg.family(), jwk.kty.as_str()) {
            (Family::Hmac, "oct") => {
                let secret = field(&jwk.k, "`k` missing or not base64url")?;
                check_hmac_secret(alg, &secret, &kid_text)?;
                let algorithm = alg
                    .hmac_algorithm()
                    .ok_or(invalid("not an HMAC algorithm"))?;
                Self {
                    kid: None,
                    alg,
                    verifier: Verifier::Hmac(hmac::Key::new(algorithm, &secret)),
                }
            }
            (Family::Rsa, "RSA") => {
                let n = field(&jwk.n, "`n` missing or not base64url")?;
                let e = field(&jwk.e, "`e` missing or not base64url")?;
                Self::public(alg, &rsa_public_key_der(&n, &e), &kid_text)?
            }
            (Family::Ec, "EC") => {
                if jwk.crv.as_deref() != alg.curve() {
                    return Err(invalid("`crv` does not match the algorithm"));
                }
                let x = field(&jwk.x, "`x` missing or not base64url")?;
                let y = field(&jwk.y, "`y` missing or not base64url")?;
                let size = match alg {
                    Algorithm::ES256 => 32,
                    Algorithm::ES384 => 48,
                    _ => 66,
                };
                if x.len() != size || y.len() != size {
                    return Err(invalid("coordinates have the wrong length for the curve"));
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Self::public(alg, &point, &kid_text)?
            }
            (Family::Ed, "OKP") => {
                if jwk.crv.as_deref() != alg.curve() {
                    return Err(invalid("`crv` does not match the algorithm"));
                }
                let x = field(&jwk.x, "`x` missing or not base64url")?;
                Self::public(alg, &x, &kid_text)?
            }
            _ => return Err(invalid("`kty` does not match the algorithm")),
        };
        match jwk.kid.as_deref() {
            Some(kid) => key.with_kid(kid),
            None => Ok(key),
        }
    }

    fn public(alg: Algorithm, bytes: &[u8], kid: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidKey {
            kid: kid.to_owned(),
            alg,
            reason,
        };
        let algorithm = alg
            .verification_algorithm()
            .ok_or(invalid("not a public-key algorithm"))?;
        let parsed = ParsedPublicKey::new(algorithm, bytes)
            .map_err(|_| invalid("the crypto backend refused the public key"))?;
        Ok(Self {
            kid: None,
            alg,
            verifier: Verifier::Public(parsed),
        })
    }

    /// Binds the key to a `kid`: only tokens whose header names this id use it.
    ///
    /// A key without a `kid` is only used for tokens without one, and only when it is the one
    /// key of its algorithm in the set.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Core`] (`InvalidKeyId`) when `kid` is not 1 to 128 visible ASCII
    /// characters.
    pub fn with_kid(mut self, kid: &str) -> Result<Self, ConfigError> {
        self.kid = Some(KeyId::new(kid)?);
        Ok(self)
    }

    /// The algorithm the key is bound to.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The key id, if bound to one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_ref().map(KeyId::as_str)
    }

    /// Checks a raw JWS signature over `signing_input` (`BASE64URL(header) "."
    /// BASE64URL(payload)`), with the bound algorithm. HMAC tags are compared in constant time.
    ///
    /// This is the bare signature check; the layer adds every header and claim check around
    /// it. Use it for test vectors or non-JWT JWS payloads.
    pub fn verify_signature(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        match &self.verifier {
            Verifier::Hmac(key) => hmac::verify(key, signing_input, signature).is_ok(),
            Verifier::Public(key) => key.verify_sig(signing_input, signature).is_ok(),
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Length and shape checks for HMAC secrets.
fn check_hmac_secret(alg: Algorithm, secret: &[u8], kid: &str) -> Result<(), ConfigError> {
    let min = alg.min_hmac_key_len();
    if secret.len() < min {
        return Err(auth_core::ConfigError::KeyTooShort {
            min,
            actual: secret.len(),
        }
        .into());
    }
    // Only material that really is a public key is refused: random secrets start with `{` or
    // 0x30 0x82 about once in 256 draws, and must not be refused for it.
    let trimmed = secret.trim_ascii_start();
    let is_pem = trimmed.starts_with(b"-----BEGIN");
    let is_jwk = trimmed.starts_with(b"{")
        && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(secret)
            .is_ok_and(|jwk| jwk.contains_key("kty"));
    let is_der = matches!(trimmed, [0x30, 0x82, hi, lo, ..]
        if (usize::from(*hi) << 8 | usize::from(*lo)) == trimmed.len() - 4);
    if is_pem || is_jwk || is_der {
        return Err(ConfigError::SecretLooksLikePublicKey {
            kid: kid.to_owned(),
        });
    }
    Ok(())
}

/// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017).
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let n = der_integer(n);
    let e = der_integer(e);
    let mut out = Vec::with_capacity(n.len() + e.len() + 8);
    out.push(0x30);
    der_length(&mut out, n.len() + e.len());
    out.extend_from_slice(&n);
    out.extend_from_slice(&e);
    out
}

fn der_integer(big_endian: &[u8]) -> Vec<u8> {
    let start = big_endian
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(big_endian.len());
    let digits = big_endian.get(start..).unwrap_or_default();
    let pad = digits.first().is_none_or(|&b| b & 0x80 != 0);
    let mut out = Vec::with_capacity(digits.len() + 6);
    out.push(0x02);
    der_length(&mut out, digits.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
    out
}

fn der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_integer_adds_sign_byte_and_strips_leading_zeros() {
        assert_eq!(
            der_integer(&[0x01, 0x00, 0x01]),
            [0x02, 0x03, 0x01, 0x00, 0x01]
        );
        assert_eq!(der_integer(&[0x00, 0x80]), [0x02, 0x02, 0x00, 0x80]);
        let mut long = vec![0x02, 0x82, 0x01, 0x01, 0x00];
        long.extend_from_slice(&[0xFF; 256]);
        assert_eq!(der_integer(&[0xFF; 256]), long);
    }

    #[test]
    fn random_secrets_that_merely_start_like_a_key_are_accepted() {
        let mut brace = [0x42_u8; 32];
        brace[0] = b'{';
        let mut der_like = [0x42_u8; 32];
        der_like[..2].copy_from_slice(&[0x30, 0x82]);
        for secret in [brace, der_like] {
            assert!(check_hmac_secret(Algorithm::HS256, &secret, "k").is_ok());
        }
        let jwk =
            br#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}"#;
        assert!(check_hmac_secret(Algorithm::HS256, jwk, "k").is_err());
        let mut der = vec![0x30, 0x82, 0x00, 0x1c];
        der.extend_from_slice(&[0x42; 0x1c]);
        assert!(check_hmac_secret(Algorithm::HS256, &der, "k").is_err());
    }

    #[test]
    fn hmac_secret_that_is_a_pem_public_key_is_refused() {
        let pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
        let secret = SecretKey::from_bytes(pem).unwrap();
        assert!(matches!(
            VerifyingKey::hmac(Algorithm::HS256, &secret),
            Err(ConfigError::SecretLooksLikePublicKey { .. })
        ));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let secret = SecretKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        let key = VerifyingKey::hmac(Algorithm::HS256, &secret).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains("0123"), "{debug}");
    }
}
