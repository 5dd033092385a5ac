//! The layer's configuration: the builder and the immutable [`Config`] it builds (the
//! verification of one token against it is in `verify`).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use auth_core::{RevocationList, SharedClock, SystemClock};
use time::Duration;

use super::rejection::Challenges;
use super::trust::{Entry, TrustedIssuer};
use super::{DefaultRejection, JwtLayer};
use crate::revocation::LogoutContext;
use crate::{ConfigError, TokenSource};

/// The default token length cap: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;

/// Builds a [`JwtLayer`]; created by [`JwtLayer::builder`] with the first
/// [`TrustedIssuer`].
///
/// Each [`TrustedIssuer`] brings its own audiences, keys and claim rules; what is set here
/// applies to every token: where it is read from, its size cap, optional mode, the realm, the
/// clock, the revocation list.
#[must_use]
pub struct JwtLayerBuilder<C = ()> {
    trusted: Vec<TrustedIssuer>,
    source: TokenSource,
    max_token_len: usize,
    raw_claims: bool,
    optional: bool,
    realm: Option<String>,
    clock: SharedClock,
    revocation: Option<Arc<dyn RevocationList>>,
    jti_required: bool,
    retention: Option<Duration>,
    _claims: PhantomData<fn() -> C>,
}

/// How long subject revocations made through [`Logout`](crate::Logout) are remembered when
/// neither a retention nor a maximum age is configured: 24 hours.
pub const DEFAULT_SUBJECT_REVOCATION_RETENTION: Duration = Duration::hours(24);

impl JwtLayerBuilder<()> {
    pub(super) fn new(first: TrustedIssuer) -> Self {
        Self {
            trusted: vec![first],
            source: TokenSource::bearer(),
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            raw_claims: false,
            optional: false,
            realm: None,
            clock: Arc::new(SystemClock),
            revocation: None,
            jti_required: true,
            retention: None,
            _claims: PhantomData,
        }
    }
}

impl<C> JwtLayerBuilder<C> {
    /// Trusts one more issuer. A token is checked against the entry its `iss` names and no
    /// other; two entries may not name the same issuer.
    ///
    /// ```
    /// use auth_core::SecretKey;
    /// use auth_jwt::{Algorithm, JwtLayer, TrustedIssuer, VerifyingKey};
    ///
    /// let ours = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?;
    /// let partner = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?;
    /// let layer = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", ours).add_audience("api"))
    ///     .add_issuer(TrustedIssuer::new("https://partner.example", partner).add_audience("partner-api"))
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_issuer(mut self, trusted: TrustedIssuer) -> Self {
        self.trusted.push(trusted);
        self
    }

    /// Where to find the token. Default: [`TokenSource::bearer`].
    pub fn with_source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Refuses tokens longer than `len` bytes before decoding anything. Default: 8 KiB;
    /// allowed 64 bytes to 64 KiB.
    pub fn with_max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Keeps the whole payload as JSON in [`Identity::claims`]. Default: `false` (it costs a
    /// second, untyped parse per request).
    ///
    /// [`Identity::claims`]: auth_core::Identity::claims
    pub fn with_raw_claims(mut self, keep: bool) -> Self {
        self.raw_claims = keep;
        self
    }

    /// Optional mode: a request *without* a token passes through unauthenticated (no
    /// `Identity`); a request with an invalid token is still refused. Default: required.
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// The `realm` of the `WWW-Authenticate` challenge. Default: none.
    pub fn with_realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The clock for `exp`, `nbf` and `iat`. Default: [`SystemClock`].
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks every verified token against `list` (after the signature and claims checks):
    /// a revoked token is refused with 401 `invalid_token`, kind
    /// [`Revoked`](crate::JwtRejectionKind::Revoked); a list that cannot answer
    /// ([`RevocationStatus::Unavailable`]) gives 503, kind
    /// [`RevocationUnavailable`](crate::JwtRejectionKind::RevocationUnavailable). The check
    /// reads the list's local memory only (no network call per request), keyed on the token's
    /// issuer plus its `jti`, `sub` (with `iat`) and `sid`, never on the token string.
    /// Authenticated requests also get a [`Logout`](crate::Logout) handle. Default: no list.
    ///
    /// With a list, a token without `jti` is refused (kind
    /// [`MissingTokenId`](crate::JwtRejectionKind::MissingTokenId)) unless
    /// [`with_jti_required(false)`](Self::with_jti_required).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_jwt::{Algorithm, JwtLayer, MemoryRevocationList, TrustedIssuer, VerifyingKey};
    ///
    /// let secret = auth_core::SecretKey::generate(32)?;
    /// let revoked = Arc::new(MemoryRevocationList::new());
    /// let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?;
    /// let layer = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
    ///     .with_revocation(revoked.clone())
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`RevocationStatus::Unavailable`]: auth_core::RevocationStatus::Unavailable
    pub fn with_revocation(mut self, list: Arc<dyn RevocationList>) -> Self {
        self.revocation = Some(list);
        self
    }

    /// Whether a token must carry a `jti` when a revocation list is set. Default: `true`.
    /// With `false`, a token without `jti` is accepted and revocable only through its subject
    /// epoch (and its `sid`, if any).
    ///
    /// ```
    /// # let secret = auth_core::SecretKey::generate(32)?;
    /// # use auth_jwt::{Algorithm, JwtLayer, TrustedIssuer, VerifyingKey};
    /// # let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?;
    /// let builder = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
    ///     .with_jti_required(false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_jti_required(mut self, required: bool) -> Self {
        self.jti_required = required;
        self
    }

    /// How long a "log out everywhere" made through
    /// [`Logout::revoke_subject`](crate::Logout::revoke_subject) is remembered: at least the
    /// longest lifetime of the tokens this layer accepts. Default: the longest
    /// [maximum age](TrustedIssuer::with_max_age) plus leeway when every entry sets one, else
    /// [`DEFAULT_SUBJECT_REVOCATION_RETENTION`] (24 hours).
    ///
    /// ```
    /// # let secret = auth_core::SecretKey::generate(32)?;
    /// # use auth_jwt::{Algorithm, JwtLayer, TrustedIssuer, VerifyingKey};
    /// # let key = VerifyingKey::hmac(Algorithm::HS256, &secret)?;
    /// let builder = JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key).add_audience("api"))
    ///     .with_subject_revocation_retention(time::Duration::hours(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_subject_revocation_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Parses your own claims into `C2` (flattened next to the registered claims of
    /// [`Claims`](auth_core::Claims)). Default: `()`.
    pub fn with_claims<C2>(self) -> JwtLayerBuilder<C2> {
        JwtLayerBuilder {
            trusted: self.trusted,
            source: self.source,
            max_token_len: self.max_token_len,
            raw_claims: self.raw_claims,
            optional: self.optional,
            realm: self.realm,
            clock: self.clock,
            revocation: self.revocation,
            jti_required: self.jti_required,
            retention: self.retention,
            _claims: PhantomData,
        }
    }

    /// Finishes the layer.
    ///
    /// # Errors
    ///
    /// For an entry: [`ConfigError::MissingAudience`], [`ConfigError::EmptyValue`],
    /// [`ConfigError::LeewayOutOfRange`], [`ConfigError::MaxAgeOutOfRange`],
    /// [`ConfigError::DuplicateIssuer`]; for the layer:
    /// [`ConfigError::MaxTokenLengthOutOfRange`], [`ConfigError::InvalidRealm`]. Each names the
    /// setting at fault.
    pub fn build(self) -> Result<JwtLayer<C, DefaultRejection>, ConfigError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(self.trusted.len());
        for trusted in self.trusted {
            let entry = trusted.compile()?;
            if entries.iter().any(|e| e.issuer == entry.issuer) {
                return Err(ConfigError::DuplicateIssuer {
                    issuer: entry.issuer.to_string(),
                });
            }
            entries.push(entry);
        }
        if !(64..=65_536).contains(&self.max_token_len) {
            return Err(ConfigError::MaxTokenLengthOutOfRange {
                len: self.max_token_len,
            });
        }
        let challenges =
            Challenges::new(self.realm.as_deref()).ok_or_else(|| ConfigError::InvalidRealm {
                realm: self.realm.clone().unwrap_or_default(),
            })?;
        let longest_age = entries
            .iter()
            .map(|e| e.max_age.map(|age| age.saturating_add(e.leeway)))
            .collect::<Option<Vec<i64>>>()
            .and_then(|ages| ages.into_iter().max())
            .map(Duration::seconds);
        let retention = self
            .retention
            .or(longest_age)
            .unwrap_or(DEFAULT_SUBJECT_REVOCATION_RETENTION);
        let revocation = self.revocation.map(|list| Revocation {
            logout: Arc::new(LogoutContext {
                list: Arc::clone(&list),
                clock: Arc::clone(&self.clock),
                retention,
                issuers: entries
                    .iter()
                    .map(|e| (Arc::clone(&e.issuer), Duration::seconds(e.leeway)))
                    .collect(),
            }),
            list,
            jti_required: self.jti_required,
        });
        let config = Config {
            entries: entries.into(),
            source: self.source,
            max_token_len: self.max_token_len,
            raw_claims: self.raw_claims,
            optional: self.optional,
            challenges,
            clock: self.clock,
            revocation,
        };
        Ok(JwtLayer::from_config(Arc::new(config)))
    }
}

impl<C> fmt::Debug for JwtLayerBuilder<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayerBuilder")
            .field("trusted", &self.trusted)
            .field("optional", &self.optional)
            .field("revocation", &self.revocation)
            .finish_non_exhaustive()
    }
}

/// The revocation check of a layer.
pub(crate) struct Revocation {
    pub(super) list: Arc<dyn RevocationList>,
    pub(super) jti_required: bool,
    pub(crate) logout: Arc<LogoutContext>,
}

/// The immutable, shared configuration of a layer.
pub(crate) struct Config {
    /// The trust entries; a token is checked against the one its `iss` names.
    pub(super) entries: Box<[Entry]>,
    pub(crate) source: TokenSource,
    pub(super) max_token_len: usize,
    pub(super) raw_claims: bool,
    pub(crate) optional: bool,
    pub(crate) challenges: Challenges,
    pub(super) clock: SharedClock,
    pub(crate) revocation: Option<Revocation>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("entries", &self.entries)
            .field("source", &self.source)
            .field("max_token_len", &self.max_token_len)
            .field("optional", &self.optional)
            .field("revocation", &self.revocation.as_ref().map(|r| &r.list))
            .finish_non_exhaustive()
    }
}
