//! Trust entries: one issuer, with its own audiences, keys, algorithms and claim rules.

use std::fmt;
use std::sync::Arc;

use auth_core::Claims;
use time::Duration;

use super::JwtRejectionKind;
use super::parse::GrantNames;
use crate::{Algorithm, ConfigError, KeySet};

/// The default leeway for `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);

/// One issuer that a [`JwtLayer`](crate::JwtLayer) trusts, and everything its tokens are
/// checked against: its audiences, its keys (static or JWKS), its algorithms and its claim
/// rules.
///
/// A layer holds a list of entries. A token is checked against **the entry its `iss` names
/// and no other**: its signature only with that entry's keys, its `aud` only against that
/// entry's audiences, its times with that entry's leeway. Nothing is shared between
/// entries, so an external identity provider can never mint a token for your own audience,
/// and its `bob` is not your `bob`: the [`Identity`](auth_core::Identity) names the issuer
/// ([`Identity::issuer`](auth_core::Identity::issuer)), and revocation entries are kept per
/// issuer.
///
/// Settings are checked when the layer is built ([`JwtLayerBuilder::build`](crate::JwtLayerBuilder::build)).
///
/// ```
/// use auth_core::SecretKey;
/// use auth_jwt::{Algorithm, JwtLayer, TrustedIssuer, VerifyingKey};
///
/// let key = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?;
/// let layer = JwtLayer::builder(
///     TrustedIssuer::new("https://auth.example.com", key)
///         .add_audience("api")
///         .with_leeway(time::Duration::seconds(5)),
/// )
/// .build()?;
/// # let _ = layer;
///
/// // An entry without an audience is refused when the layer is built.
/// let key = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::generate(32)?)?;
/// assert!(JwtLayer::builder(TrustedIssuer::new("https://auth.example.com", key)).build().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct TrustedIssuer {
    issuer: Arc<str>,
    keys: KeySet,
    audiences: Vec<Arc<str>>,
    algorithms: Option<Vec<Algorithm>>,
    leeway: Duration,
    max_age: Option<Duration>,
    typ: Option<String>,
    roles_claim: Option<String>,
    scope_claims: Vec<String>,
}

impl TrustedIssuer {
    /// Trusts tokens whose `iss` is exactly `issuer`, signed by one of `keys` (a
    /// [`KeySet`], or one [`VerifyingKey`](crate::VerifyingKey)). Add at least one audience.
    pub fn new(issuer: impl Into<Arc<str>>, keys: impl Into<KeySet>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: keys.into(),
            audiences: Vec::new(),
            algorithms: None,
            leeway: DEFAULT_LEEWAY,
            max_age: None,
            typ: None,
            roles_claim: Some("roles".to_owned()),
            scope_claims: vec!["scope".to_owned(), "scp".to_owned()],
        }
    }

    /// Trusts the OpenID provider `issuer`: its keys come from the `jwks_uri` of its
    /// `/.well-known/openid-configuration` (which must name the same issuer), refreshed in the
    /// background and refetched when a token names a new `kid` (feature `jwks`). Add at
    /// least one audience (for an OpenID provider's access tokens, usually your API's
    /// identifier; for ID tokens, your client id).
    ///
    /// ```no_run
    /// use auth_jwt::{JwtLayer, TrustedIssuer};
    ///
    /// let layer = JwtLayer::builder(
    ///     TrustedIssuer::discover("https://accounts.example.com")?.add_audience("my-api"),
    /// )
    /// .build()?;
    /// # let _ = layer;
    /// # Ok::<(), auth_jwt::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`] when `issuer` is not an `https` URL (or `http` on a
    /// loopback address); [`ConfigError::HttpClient`] when the HTTP client cannot be built.
    #[cfg(feature = "jwks")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwks")))]
    pub fn discover(issuer: &str) -> Result<Self, ConfigError> {
        let keys = KeySet::builder()
            .add_jwks(crate::JwksSource::discover(issuer)?)
            .build()?;
        Ok(Self::new(issuer, keys))
    }

    /// Accepts this entry's tokens whose `aud` (a string or an array of strings) contains
    /// `audience`. Call once per audience; at least one is required.
    pub fn add_audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Accepts only these algorithms from this issuer (on top of every key's own pinned
    /// algorithm). Default: whatever algorithm each key is bound to.
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algorithms.into_iter().collect());
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default: [`DEFAULT_LEEWAY`] (30
    /// seconds); at most 5 minutes. A "log out everywhere" for this issuer also revokes tokens
    /// whose `iat` lies up to this far ahead of the clock.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuses tokens issued longer ago than `max_age` (from `iat`, which becomes required).
    /// Default: no limit beyond `exp`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Requires the header `typ` to be `typ` (compared case-insensitively, with or without an
    /// `application/` prefix, RFC 7515 4.1.9), for example `"at+jwt"` (RFC 9068). Default: not
    /// checked.
    pub fn with_typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// The claim whose strings become the identity's roles (an array of strings, or one
    /// string). Default: `roles`; `None` maps no roles.
    pub fn with_roles_claim(mut self, claim: Option<&str>) -> Self {
        self.roles_claim = claim.map(str::to_owned);
        self
    }

    /// The claims whose values become the identity's scopes (a space-separated string or an
    /// array of strings). Default: `scope` and `scp`.
    pub fn with_scope_claims<I>(mut self, claims: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.scope_claims = claims.into_iter().map(Into::into).collect();
        self
    }

    /// The `iss` this entry trusts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Checks the settings and compiles the entry.
    pub(super) fn compile(self) -> Result<Entry, ConfigError> {
        let issuer = &self.issuer;
        if issuer.is_empty() {
            return Err(ConfigError::EmptyValue { field: "issuer" });
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::MissingAudience {
                issuer: issuer.to_string(),
            });
        }
        if self.audiences.iter().any(|a| a.is_empty()) {
            return Err(ConfigError::EmptyValue { field: "audience" });
        }
        if self.algorithms.as_ref().is_some_and(Vec::is_empty) {
            return Err(ConfigError::EmptyValue {
                field: "algorithms",
            });
        }
        if self.typ.as_deref() == Some("") {
            return Err(ConfigError::EmptyValue { field: "typ" });
        }
        if self.roles_claim.as_deref() == Some("") || self.scope_claims.iter().any(String::is_empty)
        {
            return Err(ConfigError::EmptyValue {
                field: "claim name",
            });
        }
        if self.leeway.is_negative() || self.leeway > Duration::minutes(5) {
            return Err(ConfigError::LeewayOutOfRange {
                seconds: self.leeway.whole_seconds(),
            });
        }
        if let Some(age) = self.max_age
            && !age.is_positive()
        {
            return Err(ConfigError::MaxAgeOutOfRange {
                seconds: age.whole_seconds(),
            });
        }
        let typ = self.typ.map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(str::to_owned)
                .unwrap_or(t)
                .into_boxed_str()
        });
        Ok(Entry {
            issuer: self.issuer,
            keys: self.keys,
            audiences: self.audiences.into(),
            algorithms: self.algorithms.map(Into::into),
            leeway: self.leeway.whole_seconds(),
            max_age: self.max_age.map(|a| a.whole_seconds()),
            typ,
            roles_claim: self.roles_claim.map(String::into_boxed_str),
            scope_claims: self
                .scope_claims
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        })
    }
}

impl fmt::Debug for TrustedIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedIssuer")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// A checked trust entry, as the layer uses it.
pub(crate) struct Entry {
    pub(crate) issuer: Arc<str>,
    pub(crate) keys: KeySet,
    audiences: Box<[Arc<str>]>,
    algorithms: Option<Box<[Algorithm]>>,
    /// Seconds.
    pub(crate) leeway: i64,
    /// Seconds.
    pub(crate) max_age: Option<i64>,
    typ: Option<Box<str>>,
    roles_claim: Option<Box<str>>,
    scope_claims: Box<[Box<str>]>,
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys)
            .field("algorithms", &self.algorithms)
            .field("leeway", &self.leeway)
            .field("max_age", &self.max_age)
            .field("typ", &self.typ)
            .finish_non_exhaustive()
    }
}

impl Entry {
    /// Where this entry's roles and scopes come from.
    pub(super) fn names(&self, sid: bool) -> GrantNames<'_> {
        GrantNames {
            roles: self.roles_claim.as_deref(),
            scopes: &self.scope_claims,
            sid,
        }
    }

    /// The header checks that depend on the entry: the algorithm list and `typ`.
    pub(super) fn check_header(
        &self,
        alg: Algorithm,
        typ: Option<&str>,
    ) -> Result<(), JwtRejectionKind> {
        if let Some(allowed) = &self.algorithms
            && !allowed.contains(&alg)
        {
            return Err(JwtRejectionKind::InvalidAlgorithm);
        }
        if let Some(expected) = &self.typ {
            let typ = typ.unwrap_or_default();
            let typ = typ
                .get(..12)
                .filter(|p| p.eq_ignore_ascii_case("application/"))
                .and_then(|_| typ.get(12..))
                .unwrap_or(typ);
            if !typ.eq_ignore_ascii_case(expected) {
                return Err(JwtRejectionKind::InvalidType);
            }
        }
        Ok(())
    }

    /// The claim checks: times (with this entry's leeway), `iss`, `aud`, `sub`.
    pub(super) fn check_claims<C>(
        &self,
        claims: &Claims<C>,
        now: i64,
    ) -> Result<(), JwtRejectionKind> {
        use JwtRejectionKind as K;
        let leeway = self.leeway;
        let exp = claims.exp.ok_or(K::MissingExpiry)?.unix();
        if now >= exp.saturating_add(leeway) {
            return Err(K::Expired);
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(leeway) < nbf.unix()
        {
            return Err(K::NotYetValid);
        }
        if let Some(iat) = claims.iat
            && iat.unix() > now.saturating_add(leeway)
        {
            return Err(K::NotYetValid);
        }
        if let Some(max_age) = self.max_age {
            let iat = claims.iat.ok_or(K::Expired)?.unix();
            if now.saturating_sub(iat) > max_age.saturating_add(leeway) {
                return Err(K::Expired);
            }
        }
        if claims.iss.as_deref() != Some(&*self.issuer) {
            return Err(K::InvalidIssuer);
        }
        let aud = claims.aud.as_ref().ok_or(K::InvalidAudience)?;
        if !self.audiences.iter().any(|a| aud.contains(a)) {
            return Err(K::InvalidAudience);
        }
        // `sub` becomes the identity's subject: an empty one names nobody.
        if claims.sub.as_deref().is_none_or(str::is_empty) {
            return Err(K::MissingSubject);
        }
        Ok(())
    }
}
