//! Minting tokens: `Issuer` and `SigningKey`.

use std::fmt;
use std::sync::Arc;

use auth_core::{Audience, Clock, KeyRing, REGISTERED_CLAIMS, SecretKey, SharedClock, SystemClock};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use serde::Serialize;
use serde_json::{Map, Value};
use time::Duration;

use crate::algorithm::Family;
use crate::{Algorithm, ConfigError, IssueError, Jwk, JwkSet, KeySet, TrustedIssuer, VerifyingKey};

/// A private key (or HMAC secret) that signs tokens, bound to one [`Algorithm`].
///
/// The key is checked when it is built (a probe signature is made), so a bad key fails at
/// start-up, not at the first login. `Debug` never shows key material.
///
/// ```
/// use auth_core::SecretKey;
/// use auth_jwt::{Algorithm, SigningKey};
///
/// let key = SigningKey::hmac(Algorithm::HS256, SecretKey::generate(32)?)?;
/// assert_eq!(key.algorithm(), Algorithm::HS256);
/// assert!(key.public_jwk().is_none()); // HMAC keys are never published
/// # Ok::<(), auth_jwt::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct SigningKey {
    alg: Algorithm,
    key: EncodingKey,
    secret: Option<SecretKey>,
    public: Option<Jwk>,
}

impl SigningKey {
    /// An HMAC secret (`HS256`, `HS384`, `HS512`).
    ///
    /// # Errors
    ///
    /// As for [`VerifyingKey::hmac`]: wrong algorithm, secret shorter than the hash output,
    /// or a secret that looks like a public key.
    pub fn hmac(alg: Algorithm, secret: SecretKey) -> Result<Self, ConfigError> {
        VerifyingKey::hmac(alg, &secret)?;
        Ok(Self {
            alg,
            key: EncodingKey::from_secret(secret.expose_secret()),
            secret: Some(secret),
            public: None,
        })
    }

    /// A private key from PEM: RSA (`RSA PRIVATE KEY` or PKCS#8), EC or Ed25519 (PKCS#8,
    /// `PRIVATE KEY`; SEC1 `EC PRIVATE KEY` for EC).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidKey`] when the PEM is not a private key for `alg`;
    /// [`ConfigError::UnsupportedAlgorithm`] for HMAC (use [`hmac`](Self::hmac)) or ES512.
    pub fn from_pem(alg: Algorithm, pem: &[u8]) -> Result<Self, ConfigError> {
        let key = match alg.family() {
            Family::Hmac => Err(unsupported(alg)),
            Family::Rsa => EncodingKey::from_rsa_pem(pem)
                .map_err(|_| invalid(alg, "not an RSA private key PEM")),
            Family::Ec => {
                EncodingKey::from_ec_pem(pem).map_err(|_| invalid(alg, "not an EC private key PEM"))
            }
            Family::Ed => EncodingKey::from_ed_pem(pem)
                .map_err(|_| invalid(alg, "not an Ed25519 private key PEM")),
        }?;
        Self::asymmetric(alg, key)
    }

    /// A private key from DER: PKCS#1 `RSAPrivateKey` for RSA, PKCS#8 for EC and Ed25519.
    ///
    /// # Errors
    ///
    /// As for [`from_pem`](Self::from_pem).
    pub fn from_der(alg: Algorithm, der: &[u8]) -> Result<Self, ConfigError> {
        let key = match alg.family() {
            Family::Hmac => return Err(unsupported(alg)),
            Family::Rsa => EncodingKey::from_rsa_der(der),
            Family::Ec => EncodingKey::from_ec_der(der),
            Family::Ed => EncodingKey::from_ed_der(der),
        };
        Self::asymmetric(alg, key)
    }

    fn asymmetric(alg: Algorithm, key: EncodingKey) -> Result<Self, ConfigError> {
        let jalg = alg.to_jsonwebtoken().ok_or_else(|| unsupported(alg))?;
        jsonwebtoken::crypto::sign(b"probe", &key, jalg)
            .map_err(|_| invalid(alg, "the crypto backend cannot sign with this key"))?;
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, jalg)
            .map_err(|_| invalid(alg, "no public key can be derived"))?;
        let value = serde_json::to_value(&jwk).map_err(|_| invalid(alg, "no public JWK"))?;
        let mut public: Jwk =
            serde_json::from_value(value).map_err(|_| invalid(alg, "no public JWK"))?;
        public.kid = None;
        public.k = None;
        public.alg = Some(alg.as_str().to_owned());
        public.use_ = Some("sig".to_owned());
        public.key_ops = None;
        Ok(Self {
            alg,
            key,
            secret: None,
            public: Some(public),
        })
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The public half as a JWK (without `kid`), or `None` for an HMAC secret.
    pub fn public_jwk(&self) -> Option<&Jwk> {
        self.public.as_ref()
    }

    /// The matching [`VerifyingKey`] (for an HMAC secret, the same secret), without `kid`.
    ///
    /// # Errors
    ///
    /// Only if the derived public key is refused, which does not happen for a key that
    /// built.
    pub fn verifying_key(&self) -> Result<VerifyingKey, ConfigError> {
        match (&self.secret, &self.public) {
            (Some(secret), _) => VerifyingKey::hmac(self.alg, secret),
            (None, Some(public)) => VerifyingKey::from_jwk(public, Some(self.alg)),
            (None, None) => Err(ConfigError::InvalidJwk {
                reason: "no public key",
            }),
        }
    }
}

fn unsupported(alg: Algorithm) -> ConfigError {
    ConfigError::UnsupportedAlgorithm {
        alg,
        purpose: "signing",
    }
}

fn invalid(alg: Algorithm, reason: &'static str) -> ConfigError {
    ConfigError::InvalidKey {
        kid: String::new(),
        alg,
        reason,
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// Mints tokens with the current key of a [`KeyRing`] and publishes the ring's public keys.
///
/// Every token carries `iss`, `aud`, `sub`, `iat`, `exp` (`iat` + lifetime) and a random
/// 128-bit `jti` (the revocation key), plus your own claims; its header names the signing
/// key's `kid`. Rotate by building a new issuer from a rotated ring: tokens signed by the
/// older keys still verify as long as the keys stay in the published set.
///
/// ```
/// use std::sync::Arc;
///
/// use auth_core::{KeyId, KeyRing, ManualClock};
/// use auth_jwt::{Algorithm, Issuer, SigningKey};
/// # fn ed25519_pkcs8_pem() -> Vec<u8> {
/// #     use aws_lc_rs::encoding::AsDer;
/// #     use base64::Engine as _;
/// #     let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
/// #     let der = pair.to_pkcs8v1().unwrap();
/// #     let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
/// #     format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").into_bytes()
/// # }
///
/// let key = SigningKey::from_pem(Algorithm::EdDSA, &ed25519_pkcs8_pem())?;
/// let ring = KeyRing::new(KeyId::new("2026-01")?, key);
/// let issuer = Issuer::new(ring, "https://auth.example.com", "api")?
///     .with_clock(Arc::new(ManualClock::default()));
///
/// let token = issuer.mint("alice")?;
/// assert_eq!(token.split('.').count(), 3);
///
/// // Serve this at /.well-known/jwks.json:
/// let jwks = serde_json::to_string(&issuer.jwk_set())?;
/// assert!(jwks.contains(r#""kid":"2026-01""#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Issuer {
    ring: KeyRing<SigningKey>,
    issuer: Arc<str>,
    audience: Audience,
    lifetime: Duration,
    clock: SharedClock,
}

impl Issuer {
    /// The default token lifetime: 15 minutes.
    pub const DEFAULT_LIFETIME: Duration = Duration::minutes(15);

    /// An issuer named `issuer` minting tokens for `audience`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::EmptyValue`] when the issuer or an audience is empty.
    pub fn new(
        ring: KeyRing<SigningKey>,
        issuer: impl Into<Arc<str>>,
        audience: impl Into<Audience>,
    ) -> Result<Self, ConfigError> {
        let issuer = issuer.into();
        let audience = audience.into();
        if issuer.is_empty() {
            return Err(ConfigError::EmptyValue { field: "issuer" });
        }
        if audience.iter().next().is_none() || audience.iter().any(str::is_empty) {
            return Err(ConfigError::EmptyValue { field: "audience" });
        }
        Ok(Self {
            ring,
            issuer,
            audience,
            lifetime: Self::DEFAULT_LIFETIME,
            clock: Arc::new(SystemClock),
        })
    }

    /// How long minted tokens live. Default: 15 minutes.
    #[must_use]
    pub fn with_lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The clock for `iat` and `exp`. Default: [`SystemClock`].
    #[must_use]
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// A token for `subject` without custom claims.
    ///
    /// # Errors
    ///
    /// [`IssueError::Signing`] or [`IssueError::Random`].
    pub fn mint(&self, subject: &str) -> Result<String, IssueError> {
        self.mint_with(subject, &())
    }

    /// A token for `subject` with your own claims `custom` (a struct or map serialized next
    /// to the registered claims; `()` for none).
    ///
    /// # Errors
    ///
    /// [`IssueError::Claims`] when `custom` is not a JSON object or sets a registered claim
    /// (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`); [`IssueError::Signing`];
    /// [`IssueError::Random`].
    pub fn mint_with<T: Serialize>(&self, subject: &str, custom: &T) -> Result<String, IssueError> {
        let mut claims = match serde_json::to_value(custom)
            .map_err(|_| IssueError::Claims("custom claims cannot be serialized"))?
        {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            _ => {
                return Err(IssueError::Claims(
                    "custom claims must serialize to an object",
                ));
            }
        };
        if REGISTERED_CLAIMS
            .iter()
            .any(|name| claims.contains_key(*name))
        {
            return Err(IssueError::Claims(
                "custom claims must not set a registered claim",
            ));
        }
        let now = self.clock.unix_timestamp();
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|_| IssueError::Random)?;
        claims.insert("iss".into(), Value::from(&*self.issuer));
        claims.insert("sub".into(), Value::from(subject));
        claims.insert(
            "aud".into(),
            serde_json::to_value(&self.audience).map_err(|_| IssueError::Claims("aud"))?,
        );
        claims.insert("iat".into(), Value::from(now));
        claims.insert(
            "exp".into(),
            Value::from(now.saturating_add(self.lifetime.whole_seconds())),
        );
        claims.insert("jti".into(), Value::from(URL_SAFE_NO_PAD.encode(jti)));

        let (kid, key) = self.ring.current();
        let jalg = key.alg.to_jsonwebtoken().ok_or(IssueError::Signing)?;
        let mut header = jsonwebtoken::Header::new(jalg);
        header.kid = Some(kid.as_str().to_owned());
        jsonwebtoken::encode(&header, &claims, &key.key).map_err(|_| IssueError::Signing)
    }

    /// The public keys of every key in the ring (current and verify-only), each with its
    /// `kid`, `alg` and `use: sig`. HMAC secrets are never included.
    pub fn jwk_set(&self) -> JwkSet {
        JwkSet {
            keys: self
                .ring
                .iter()
                .filter_map(|(kid, key)| {
                    let mut jwk = key.public.clone()?;
                    jwk.kid = Some(kid.as_str().to_owned());
                    Some(jwk)
                })
                .collect(),
        }
    }

    /// A [`KeySet`] that verifies what this issuer mints (every key of the ring, bound to its
    /// `kid`), for services that verify their own tokens.
    ///
    /// # Errors
    ///
    /// Only if a derived key is refused, which does not happen for keys that built.
    pub fn key_set(&self) -> Result<KeySet, ConfigError> {
        let mut builder = KeySet::builder();
        for (kid, key) in self.ring.iter() {
            builder = builder.add_key(key.verifying_key()?.with_kid(kid.as_str())?)?;
        }
        builder.build()
    }

    /// The trust entry for this issuer's own tokens: its `iss`, its [`key_set`](Self::key_set)
    /// and every audience it mints for. Adjust it (leeway, maximum age, ...) before handing it
    /// to [`JwtLayer::builder`](crate::JwtLayer::builder).
    ///
    /// ```
    /// use auth_core::{KeyId, KeyRing, SecretKey};
    /// use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey};
    ///
    /// let issuer = Issuer::new(
    ///     KeyRing::new(KeyId::new("k1")?, SigningKey::hmac(Algorithm::HS256, SecretKey::generate(32)?)?),
    ///     "https://auth.example.com",
    ///     "api",
    /// )?;
    /// let layer = JwtLayer::builder(issuer.trusted()?).build()?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`key_set`](Self::key_set).
    pub fn trusted(&self) -> Result<TrustedIssuer, ConfigError> {
        let mut trusted = TrustedIssuer::new(Arc::clone(&self.issuer), self.key_set()?);
        for audience in self.audience.iter() {
            trusted = trusted.add_audience(audience);
        }
        Ok(trusted)
    }

    /// The `iss` of minted tokens.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .field("ring", &self.ring)
            .finish_non_exhaustive()
    }
}
