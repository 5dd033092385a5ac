//! Key sets: the keys a layer verifies with, static or fetched from JWKS endpoints.

use std::fmt;
use std::sync::Arc;

use crate::{Algorithm, ConfigError, JwkSet, VerifyingKey};

/// The verification keys of a [`JwtLayer`](crate::JwtLayer): static keys and, with the `jwks`
/// feature, remote JWKS sources.
///
/// Cheap to clone (one `Arc`). Lookup is by the token's `kid` header; a key is used only if
/// the token's `alg` equals the algorithm the key is bound to. A token without `kid` is
/// matched only when exactly one key of its algorithm has no `kid` either. A key set belongs
/// to one [`TrustedIssuer`](crate::TrustedIssuer): keys of different issuers live in
/// different sets, so their `kid`s never meet.
///
/// ```
/// use auth_core::SecretKey;
/// use auth_jwt::{Algorithm, KeySet, VerifyingKey};
///
/// let keys = KeySet::builder()
///     .add_key(VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?.with_kid("a")?)?
///     .add_key(VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?.with_kid("b")?)?
///     .build()?;
/// assert_eq!(keys.static_keys().count(), 2);
///
/// // Two keys with one id: refused.
/// let dup = KeySet::builder()
///     .add_key(VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?.with_kid("a")?)?
///     .add_key(VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?.with_kid("a")?);
/// assert!(dup.is_err());
/// # Ok::<(), auth_jwt::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct KeySet {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Vec<VerifyingKey>,
    #[cfg(feature = "jwks")]
    remote: Vec<Arc<crate::jwks::RemoteJwks>>,
}

/// Builds a [`KeySet`]; created by [`KeySet::builder`].
#[must_use]
pub struct KeySetBuilder {
    keys: Vec<VerifyingKey>,
    #[cfg(feature = "jwks")]
    remote: Vec<crate::JwksSource>,
}

impl KeySet {
    /// Starts an empty key set.
    pub fn builder() -> KeySetBuilder {
        KeySetBuilder {
            keys: Vec::new(),
            #[cfg(feature = "jwks")]
            remote: Vec::new(),
        }
    }

    /// A key set holding one key.
    pub fn single(key: VerifyingKey) -> Self {
        Self {
            inner: Arc::new(Inner {
                keys: vec![key],
                #[cfg(feature = "jwks")]
                remote: Vec::new(),
            }),
        }
    }

    /// The statically configured keys.
    pub fn static_keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.inner.keys.iter()
    }

    /// Finds the key for a token and runs `f` with it.
    pub(crate) fn with_key<R>(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        f: impl FnOnce(&VerifyingKey) -> R,
    ) -> Result<R, LookupError> {
        let mut wrong_alg = false;
        match select(&self.inner.keys, kid, alg) {
            Select::Key(key) => return Ok(f(key)),
            Select::WrongAlg => wrong_alg = true,
            Select::None => {}
        }
        #[cfg(feature = "jwks")]
        {
            for remote in &self.inner.remote {
                match select(&remote.snapshot().keys, kid, alg) {
                    Select::Key(key) => return Ok(f(key)),
                    Select::WrongAlg => wrong_alg = true,
                    Select::None => {}
                }
            }
            // No source has the key: every one of them hears of the unknown `kid` (each
            // refetches within its own cool-down); the request waits on the first that answers.
            let mut outcome = None;
            for remote in &self.inner.remote {
                let heard = remote.on_unknown_key(remote.snapshot().loaded);
                if outcome.is_none() {
                    outcome = heard;
                }
            }
            if let Some(outcome) = outcome {
                return Err(outcome);
            }
        }
        Err(if wrong_alg {
            LookupError::WrongAlgorithm
        } else {
            LookupError::Unknown
        })
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("KeySet");
        d.field("keys", &self.inner.keys);
        #[cfg(feature = "jwks")]
        d.field("remote", &self.inner.remote);
        d.finish()
    }
}

impl From<VerifyingKey> for KeySet {
    fn from(key: VerifyingKey) -> Self {
        Self::single(key)
    }
}

impl KeySetBuilder {
    /// Adds a static key.
    ///
    /// # Errors
    ///
    /// [`ConfigError::DuplicateKey`] when the set already holds a key with the same `kid`.
    pub fn add_key(mut self, key: VerifyingKey) -> Result<Self, ConfigError> {
        if self.keys.iter().any(|k| k.kid() == key.kid()) {
            return Err(ConfigError::DuplicateKey {
                kid: key.kid().unwrap_or_default().to_owned(),
            });
        }
        self.keys.push(key);
        Ok(self)
    }

    /// Adds every key of a JWK set, each bound to its own `alg` (required).
    ///
    /// # Errors
    ///
    /// Whatever [`VerifyingKey::from_jwk`] or [`add_key`](Self::add_key) refuses, for the
    /// first bad key.
    pub fn add_jwk_set(mut self, set: &JwkSet) -> Result<Self, ConfigError> {
        for jwk in &set.keys {
            self = self.add_key(VerifyingKey::from_jwk(jwk, None)?)?;
        }
        Ok(self)
    }

    /// Adds a remote JWKS source, fetched and refreshed in the background.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn add_jwks(mut self, source: crate::JwksSource) -> Self {
        self.remote.push(source);
        self
    }

    /// Finishes the key set. With the `jwks` feature and inside a tokio runtime, remote
    /// sources start fetching at once; otherwise at the first request.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoKeys`] when the set holds no key and no remote source;
    /// [`ConfigError::HttpClient`] when the HTTP client for JWKS cannot be built.
    pub fn build(self) -> Result<KeySet, ConfigError> {
        #[cfg(feature = "jwks")]
        let remote = self
            .remote
            .into_iter()
            .map(crate::jwks::RemoteJwks::start)
            .collect::<Result<Vec<_>, _>>()?;
        #[cfg(feature = "jwks")]
        let empty = self.keys.is_empty() && remote.is_empty();
        #[cfg(not(feature = "jwks"))]
        let empty = self.keys.is_empty();
        if empty {
            return Err(ConfigError::NoKeys);
        }
        Ok(KeySet {
            inner: Arc::new(Inner {
                keys: self.keys,
                #[cfg(feature = "jwks")]
                remote,
            }),
        })
    }
}

impl fmt::Debug for KeySetBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySetBuilder")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

/// Why no key was found.
pub(crate) enum LookupError {
    /// No key with this `kid` (and issuer).
    Unknown,
    /// A key with this `kid` exists but is bound to another algorithm.
    WrongAlgorithm,
    /// A remote source has never loaded and cannot now.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    Unavailable,
    /// A refetch is under way; retry the lookup when it completes.
    #[cfg(feature = "jwks")]
    Refetch(KeyWait),
}

enum Select<'k> {
    Key(&'k VerifyingKey),
    WrongAlg,
    None,
}

/// The one key with this `kid` and algorithm. Several keys sharing both (possible in a
/// fetched JWK set) are ambiguous: none is used.
fn select<'k>(keys: &'k [VerifyingKey], kid: Option<&str>, alg: Algorithm) -> Select<'k> {
    let mut found = None;
    let mut count = 0usize;
    let mut wrong_alg = false;
    for key in keys.iter().filter(|k| k.kid() == kid) {
        if key.algorithm() != alg {
            wrong_alg = true;
            continue;
        }
        count += 1;
        found = Some(key);
    }
    match (count, found) {
        (1, Some(key)) => Select::Key(key),
        (0, _) if wrong_alg => Select::WrongAlg,
        _ => Select::None,
    }
}

/// A wait for a JWKS refetch; uninhabited without the `jwks` feature.
#[cfg(feature = "jwks")]
pub(crate) use crate::jwks::KeyWait;

/// A wait for a JWKS refetch; uninhabited without the `jwks` feature.
#[cfg(not(feature = "jwks"))]
pub(crate) enum KeyWait {}

#[cfg(not(feature = "jwks"))]
impl KeyWait {
    pub(crate) fn poll(&mut self, _cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        match *self {}
    }
}
