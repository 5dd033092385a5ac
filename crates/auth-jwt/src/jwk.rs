//! JSON Web Keys (RFC 7517): the public half of a key set, as published and fetched.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One JSON Web Key (RFC 7517, section 4), with the members this crate reads or writes.
///
/// Unknown members are ignored when parsing. `Debug` never shows the symmetric key value `k`.
/// Turn a `Jwk` into a verifier with [`VerifyingKey::from_jwk`](crate::VerifyingKey::from_jwk).
///
/// ```
/// use auth_jwt::Jwk;
///
/// let jwk: Jwk = serde_json::from_str(
///     r#"{"kty":"OKP","crv":"Ed25519","kid":"ed1","alg":"EdDSA","use":"sig",
///         "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#,
/// )?;
/// assert_eq!(jwk.kid.as_deref(), Some("ed1"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Jwk {
    /// Key type: `RSA`, `EC`, `OKP` or `oct`.
    pub kty: String,
    /// Key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// The algorithm the key is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use: `sig` or `enc`.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// Permitted operations (`verify`, `sign`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_ops: Option<Vec<String>>,
    /// Curve of an `EC` or `OKP` key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// `EC` x coordinate or `OKP` public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// `EC` y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// Symmetric key value (`oct`), base64url. Secret: never published by
    /// [`Issuer::jwk_set`](crate::Issuer::jwk_set) and never shown by `Debug`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<String>,
}

impl Jwk {
    /// An empty JWK of key type `kty`; fill the public members you need.
    pub fn new(kty: impl Into<String>) -> Self {
        Self {
            kty: kty.into(),
            ..Self::default()
        }
    }
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("kty", &self.kty)
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("use", &self.use_)
            .field("crv", &self.crv)
            .field("k", &self.k.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// A JWK Set (RFC 7517, section 5): `{"keys": [...]}`, as served at `/.well-known/jwks.json`.
///
/// [`Issuer::jwk_set`](crate::Issuer::jwk_set) builds one from a signing key ring; serialize it
/// with `serde_json` and serve it. [`KeySetBuilder::add_jwk_set`](crate::KeySetBuilder::add_jwk_set)
/// reads one.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key with this `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
    }
}

#[cfg(feature = "jwks")]
/// A JWK set whose keys are parsed one by one, so one malformed key does not hide the others.
#[derive(Deserialize)]
pub(crate) struct LenientJwkSet {
    pub(crate) keys: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_symmetric_key_value() {
        let mut jwk = Jwk::new("oct");
        jwk.k = Some("c2VjcmV0LXNlY3JldC1zZWNyZXQ".to_owned());
        let debug = format!("{jwk:?}");
        assert!(!debug.contains("c2VjcmV0"), "{debug}");
    }

    #[test]
    fn use_member_round_trips_under_its_json_name() {
        let jwk: Jwk = serde_json::from_str(r#"{"kty":"EC","use":"enc"}"#).unwrap();
        assert_eq!(jwk.use_.as_deref(), Some("enc"));
        let json = serde_json::to_string(&jwk).unwrap();
        assert_eq!(json, r#"{"kty":"EC","use":"enc"}"#);
    }
}
