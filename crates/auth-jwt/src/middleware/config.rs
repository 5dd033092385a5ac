//! The layer's configuration and the verification of one token.

use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::sync::Arc;

use auth_core::{
    AuthMethod, Claims, Identity, RevocationList, RevocationStatus, SharedClock, SystemClock,
    TokenRef,
};
use serde::de::{DeserializeOwned, IgnoredAny};
use time::Duration;

use super::parse::{self, GrantNames, Parsed, PayloadError};
use super::rejection::Challenges;
use super::{DefaultRejection, JwtLayer, JwtRejectionKind};
use crate::keyset::{IssuerHint, LookupError};
use crate::revocation::LogoutContext;
use crate::{Algorithm, ConfigError, KeySet, TokenSource};

/// The default token length cap: 8 KiB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
/// The default leeway for `exp`, `nbf` and `iat`: 30 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::seconds(30);

/// Builds a [`JwtLayer`]; created by [`JwtLayer::builder`].
///
/// [`add_issuer`](Self::add_issuer) and [`add_audience`](Self::add_audience) are required:
/// [`build`](Self::build) refuses a layer that would accept any issuer or audience.
#[must_use]
pub struct JwtLayerBuilder<C = ()> {
    keys: KeySet,
    source: TokenSource,
    issuers: Vec<Arc<str>>,
    audiences: Vec<Arc<str>>,
    leeway: Duration,
    max_age: Option<Duration>,
    max_token_len: usize,
    typ: Option<String>,
    roles_claim: Option<String>,
    scope_claims: Vec<String>,
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
    pub(super) fn new(keys: KeySet) -> Self {
        Self {
            keys,
            source: TokenSource::bearer(),
            issuers: Vec::new(),
            audiences: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            max_age: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            typ: None,
            roles_claim: Some("roles".to_owned()),
            scope_claims: vec!["scope".to_owned(), "scp".to_owned()],
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
    /// Accepts tokens whose `iss` equals `issuer` exactly. Call once per issuer; at least one
    /// is required.
    pub fn add_issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.issuers.push(issuer.into());
        self
    }

    /// Accepts tokens whose `aud` (a string or an array of strings) contains `audience`. Call
    /// once per audience; at least one is required.
    pub fn add_audience(mut self, audience: impl Into<Arc<str>>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Where to find the token. Default: [`TokenSource::bearer`].
    pub fn with_source(mut self, source: TokenSource) -> Self {
        self.source = source;
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default: 30 seconds; at most 5 minutes.
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

    /// Refuses tokens longer than `len` bytes before decoding anything. Default: 8 KiB;
    /// allowed 64 bytes to 64 KiB.
    pub fn with_max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
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

    /// Keeps the whole payload as JSON in [`Identity::claims`]. Default: `false` (it costs a
    /// second, untyped parse per request).
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
    /// [`Revoked`](JwtRejectionKind::Revoked); a list that cannot answer
    /// ([`RevocationStatus::Unavailable`]) gives 503, kind
    /// [`RevocationUnavailable`](JwtRejectionKind::RevocationUnavailable). The check reads the
    /// list's local memory only (no network call per request), keyed on `jti`, `sub` (with
    /// `iat`) and `sid`, never on the token string. Authenticated requests also get a
    /// [`Logout`](crate::Logout) handle. Default: no list.
    ///
    /// With a list, a token without `jti` is refused (kind
    /// [`MissingTokenId`](JwtRejectionKind::MissingTokenId)) unless
    /// [`with_jti_required(false)`](Self::with_jti_required).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_jwt::{Algorithm, JwtLayer, MemoryRevocationList, VerifyingKey};
    ///
    /// let secret = auth_core::SecretKey::generate(32)?;
    /// let revoked = Arc::new(MemoryRevocationList::new());
    /// let layer = JwtLayer::builder(VerifyingKey::hmac(Algorithm::HS256, &secret)?)
    ///     .add_issuer("https://auth.example.com")
    ///     .add_audience("api")
    ///     .with_revocation(revoked.clone())
    ///     .build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    /// # use auth_jwt::{Algorithm, JwtLayer, VerifyingKey};
    /// let builder = JwtLayer::builder(VerifyingKey::hmac(Algorithm::HS256, &secret)?)
    ///     .with_jti_required(false);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_jti_required(mut self, required: bool) -> Self {
        self.jti_required = required;
        self
    }

    /// How long a "log out everywhere" made through
    /// [`Logout::revoke_subject`](crate::Logout::revoke_subject) is remembered: at least the
    /// longest lifetime of the tokens this layer accepts. Default: the
    /// [maximum age](Self::with_max_age) plus leeway when set, else
    /// [`DEFAULT_SUBJECT_REVOCATION_RETENTION`] (24 hours).
    ///
    /// ```
    /// # let secret = auth_core::SecretKey::generate(32)?;
    /// # use auth_jwt::{Algorithm, JwtLayer, VerifyingKey};
    /// let builder = JwtLayer::builder(VerifyingKey::hmac(Algorithm::HS256, &secret)?)
    ///     .with_subject_revocation_retention(time::Duration::hours(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn with_subject_revocation_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Parses your own claims into `C2` (flattened next to the registered claims of
    /// [`Claims`]). Default: `()`.
    pub fn with_claims<C2>(self) -> JwtLayerBuilder<C2> {
        JwtLayerBuilder {
            keys: self.keys,
            source: self.source,
            issuers: self.issuers,
            audiences: self.audiences,
            leeway: self.leeway,
            max_age: self.max_age,
            max_token_len: self.max_token_len,
            typ: self.typ,
            roles_claim: self.roles_claim,
            scope_claims: self.scope_claims,
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
    /// [`ConfigError::MissingIssuer`], [`ConfigError::MissingAudience`],
    /// [`ConfigError::EmptyValue`], [`ConfigError::LeewayOutOfRange`],
    /// [`ConfigError::MaxAgeOutOfRange`], [`ConfigError::MaxTokenLengthOutOfRange`],
    /// [`ConfigError::InvalidRealm`]: each names the setting at fault.
    pub fn build(self) -> Result<JwtLayer<C, DefaultRejection>, ConfigError> {
        if self.issuers.is_empty() {
            return Err(ConfigError::MissingIssuer);
        }
        if self.audiences.is_empty() {
            return Err(ConfigError::MissingAudience);
        }
        if self.issuers.iter().any(|i| i.is_empty()) {
            return Err(ConfigError::EmptyValue { field: "issuer" });
        }
        if self.audiences.iter().any(|a| a.is_empty()) {
            return Err(ConfigError::EmptyValue { field: "audience" });
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
        if !(64..=65_536).contains(&self.max_token_len) {
            return Err(ConfigError::MaxTokenLengthOutOfRange {
                len: self.max_token_len,
            });
        }
        let challenges =
            Challenges::new(self.realm.as_deref()).ok_or_else(|| ConfigError::InvalidRealm {
                realm: self.realm.clone().unwrap_or_default(),
            })?;
        let typ = self.typ.map(|t| {
            let t = t.to_ascii_lowercase();
            t.strip_prefix("application/")
                .map(str::to_owned)
                .unwrap_or(t)
                .into_boxed_str()
        });
        let retention = self
            .retention
            .or_else(|| self.max_age.map(|a| a + self.leeway))
            .unwrap_or(DEFAULT_SUBJECT_REVOCATION_RETENTION);
        let revocation = self.revocation.map(|list| Revocation {
            logout: Arc::new(LogoutContext {
                list: Arc::clone(&list),
                clock: Arc::clone(&self.clock),
                retention,
            }),
            list,
            jti_required: self.jti_required,
        });
        let config = Config {
            keys: self.keys,
            source: self.source,
            issuers: self.issuers.into(),
            audiences: self.audiences.into(),
            leeway: self.leeway.whole_seconds(),
            max_age: self.max_age.map(|a| a.whole_seconds()),
            max_token_len: self.max_token_len,
            typ,
            roles_claim: self.roles_claim.map(String::into_boxed_str),
            scope_claims: self
                .scope_claims
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
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
            .field("keys", &self.keys)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("optional", &self.optional)
            .field("revocation", &self.revocation)
            .finish_non_exhaustive()
    }
}

/// The revocation check of a layer.
pub(crate) struct Revocation {
    list: Arc<dyn RevocationList>,
    jti_required: bool,
    pub(crate) logout: Arc<LogoutContext>,
}

/// Reads only the `sid` claim (serde path, for payloads the fast scanner leaves to serde).
#[derive(serde::Deserialize)]
struct SidOnly {
    #[serde(default)]
    sid: Option<String>,
}

/// The immutable, shared configuration of a layer.
pub(crate) struct Config {
    pub(crate) keys: KeySet,
    pub(crate) source: TokenSource,
    issuers: Box<[Arc<str>]>,
    audiences: Box<[Arc<str>]>,
    leeway: i64,
    max_age: Option<i64>,
    max_token_len: usize,
    typ: Option<Box<str>>,
    roles_claim: Option<Box<str>>,
    scope_claims: Box<[Box<str>]>,
    raw_claims: bool,
    pub(crate) optional: bool,
    pub(crate) challenges: Challenges,
    clock: SharedClock,
    pub(crate) revocation: Option<Revocation>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("keys", &self.keys)
            .field("source", &self.source)
            .field("issuers", &self.issuers)
            .field("audiences", &self.audiences)
            .field("leeway", &self.leeway)
            .field("max_age", &self.max_age)
            .field("max_token_len", &self.max_token_len)
            .field("typ", &self.typ)
            .field("optional", &self.optional)
            .field("revocation", &self.revocation.as_ref().map(|r| &r.list))
            .finish_non_exhaustive()
    }
}

/// Why verification did not produce an identity.
pub(crate) enum Failure {
    Reject(JwtRejectionKind),
    #[cfg(feature = "jwks")]
    Wait(crate::jwks::KeyWait),
}

impl From<JwtRejectionKind> for Failure {
    fn from(kind: JwtRejectionKind) -> Self {
        Self::Reject(kind)
    }
}

// Stack buffers for the decoded parts, left uninitialised (the decoder writes before anything
// reads): sized for the usual token (an RSA-4096 signature is 512 bytes); anything larger is
// decoded into a heap buffer (`security.rs` has a 9 KB token taking that path).
const STACK_HEADER: usize = 256;
const STACK_SIGNATURE: usize = 512;
const STACK_PAYLOAD: usize = 1024;

/// Decodes base64url (no padding, canonical) into `stack` when it fits, else into `heap`.
fn decode<'b>(
    input: &[u8],
    stack: &'b mut [MaybeUninit<u8>],
    heap: &'b mut Vec<u8>,
) -> Option<&'b [u8]> {
    let len = parse::decoded_len(input.len())?;
    let buf = if len <= stack.len() {
        stack
    } else {
        heap.reserve_exact(len);
        heap.spare_capacity_mut()
    };
    parse::b64url_decode(input, buf)
}

/// Splits at the first `.`: the part before it and the rest after it.
fn split_dot(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let dot = memchr::memchr(b'.', bytes)?;
    Some((bytes.get(..dot)?, bytes.get(dot + 1..)?))
}

fn json_object(bytes: &[u8]) -> bool {
    bytes.trim_ascii_start().first() == Some(&b'{')
}

impl Config {
    /// Verifies `token` completely: size, structure, header, key, signature, claims.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &[u8],
        allow_wait: bool,
    ) -> Result<(Claims<C>, Identity), Failure> {
        use JwtRejectionKind as K;
        if token.len() > self.max_token_len {
            return Err(K::TooLarge.into());
        }
        // Exactly three parts; memchr keeps the scan of a long RSA signature cheap.
        let (h64, rest) = split_dot(token).ok_or(K::Malformed)?;
        let (p64, s64) = split_dot(rest).ok_or(K::Malformed)?;
        if memchr::memchr(b'.', s64).is_some() {
            return Err(K::Malformed.into());
        }
        if h64.is_empty() || p64.is_empty() || s64.is_empty() {
            return Err(K::Malformed.into());
        }

        let (mut stack, mut heap) = ([MaybeUninit::uninit(); STACK_HEADER], Vec::new());
        let header_json = decode(h64, &mut stack, &mut heap).ok_or(K::Malformed)?;
        if !json_object(header_json) {
            return Err(K::Malformed.into());
        }
        let header = parse::parse_header(header_json).ok_or(K::Malformed)?;
        let alg: Algorithm = header.alg.parse().map_err(|_| K::InvalidAlgorithm)?;
        if header.crit {
            return Err(K::UnsupportedCritical.into());
        }
        if let Some(expected) = &self.typ {
            let typ = header.typ.as_deref().unwrap_or_default();
            let typ = typ
                .get(..12)
                .filter(|p| p.eq_ignore_ascii_case("application/"))
                .and_then(|_| typ.get(12..))
                .unwrap_or(typ);
            if !typ.eq_ignore_ascii_case(expected) {
                return Err(K::InvalidType.into());
            }
        }

        // Every part is decoded before the signature is checked, so any byte outside the
        // base64url alphabet anywhere in the token is `Malformed` (the bearer source leaves
        // this check to the decoders, whose alphabet is stricter than RFC 6750's b64token).
        let (mut pay_stack, mut pay_heap) = ([MaybeUninit::uninit(); STACK_PAYLOAD], Vec::new());
        let payload = decode(p64, &mut pay_stack, &mut pay_heap).ok_or(K::Malformed)?;
        let (mut sig_stack, mut sig_heap) = ([MaybeUninit::uninit(); STACK_SIGNATURE], Vec::new());
        let signature = decode(s64, &mut sig_stack, &mut sig_heap).ok_or(K::Malformed)?;
        let signing_input = token.get(..h64.len() + 1 + p64.len()).ok_or(K::Malformed)?;
        let mut hint = IssuerHint::new(payload);
        let kid = header.kid.as_deref();
        let checked = self.keys.with_key(kid, alg, &mut hint, |key| {
            (
                key.verify_signature(signing_input, signature),
                key.bound_issuer().cloned(),
            )
        });
        let bound_issuer = match checked {
            Ok((true, issuer)) => issuer,
            Ok((false, _)) => return Err(K::InvalidSignature.into()),
            Err(LookupError::Unknown) => return Err(K::UnknownKey.into()),
            Err(LookupError::WrongAlgorithm) => return Err(K::InvalidAlgorithm.into()),
            Err(LookupError::Unavailable) => return Err(K::KeysUnavailable.into()),
            #[cfg(feature = "jwks")]
            Err(LookupError::Refetch(wait)) => {
                return Err(if allow_wait {
                    Failure::Wait(wait)
                } else {
                    K::UnknownKey.into()
                });
            }
        };
        #[cfg(not(feature = "jwks"))]
        let _ = allow_wait;

        if !json_object(payload) {
            return Err(K::Malformed.into());
        }
        let Parsed {
            claims,
            roles,
            scopes,
            sid,
        } = self.parse_claims::<C>(payload)?;
        self.check_claims(&claims, bound_issuer.as_deref())?;
        if let Some(revocation) = &self.revocation {
            let sid = match sid {
                Some(sid) => sid,
                None => {
                    serde_json::from_slice::<SidOnly>(payload)
                        .map_err(|_| K::Malformed)?
                        .sid
                }
            };
            Self::check_revocation(revocation, &claims, sid.as_deref())?;
        }

        let subject = claims.sub.clone().unwrap_or_default();
        let mut identity = Identity::builder(subject, AuthMethod::Jwt);
        if !roles.is_empty() {
            identity = identity.roles(roles);
        }
        if !scopes.is_empty() {
            identity = identity.scopes(scopes);
        }
        if let Some(at) = claims.iat.and_then(|d| d.to_datetime()) {
            identity = identity.issued_at(at);
        }
        if let Some(at) = claims.exp.and_then(|d| d.to_datetime()) {
            identity = identity.expires_at(at);
        }
        if self.raw_claims {
            let raw = serde_json::from_slice(payload).map_err(|_| K::Malformed)?;
            identity = identity.claims(raw);
        }
        Ok((claims, identity.build()))
    }

    /// The typed claims plus the roles and scopes, in one pass when `C` allows it.
    fn parse_claims<C: DeserializeOwned>(
        &self,
        payload: &[u8],
    ) -> Result<Parsed<C>, JwtRejectionKind> {
        use JwtRejectionKind as K;
        let names = GrantNames {
            roles: self.roles_claim.as_deref(),
            scopes: &self.scope_claims,
            sid: self.revocation.is_some(),
        };
        let kind = |e| match e {
            PayloadError::Claim("iss") => K::InvalidIssuer,
            PayloadError::Claim("aud") => K::InvalidAudience,
            _ => K::Malformed,
        };
        match parse::parse_payload::<C>(payload, &names) {
            Err(PayloadError::Unsupported) => {}
            other => return other.map_err(kind),
        }
        // A custom claims type of a shape the one-pass parser does not stream (an enum, a
        // tuple...): serde's own `flatten`, then a second pass for roles and scopes.
        let claims = Claims::<C>::from_json(payload).map_err(|e| match e.claim() {
            Some("iss") => K::InvalidIssuer,
            Some("aud") => K::InvalidAudience,
            _ => K::Malformed,
        })?;
        let grants = parse::parse_payload::<IgnoredAny>(payload, &names).map_err(kind)?;
        Ok(Parsed {
            claims,
            roles: grants.roles,
            scopes: grants.scopes,
            sid: None,
        })
    }

    /// The revocation check: local memory only, keyed on claims.
    fn check_revocation<C>(
        revocation: &Revocation,
        claims: &Claims<C>,
        sid: Option<&str>,
    ) -> Result<(), JwtRejectionKind> {
        use JwtRejectionKind as K;
        let token = TokenRef {
            jti: claims.jti.as_deref(),
            subject: claims.sub.as_deref(),
            session_id: sid,
            issued_at: claims.iat.map(|d| d.unix()),
        };
        if token.jti.is_none() && revocation.jti_required {
            return Err(K::MissingTokenId);
        }
        match revocation.list.status(&token) {
            RevocationStatus::Active => Ok(()),
            RevocationStatus::Revoked(by) => {
                tracing::debug!(by = ?by, "bearer token revoked");
                Err(K::Revoked)
            }
            // `Unavailable`, and any future status this layer does not know: fail closed.
            _ => Err(K::RevocationUnavailable),
        }
    }

    fn check_claims<C>(
        &self,
        claims: &Claims<C>,
        bound_issuer: Option<&str>,
    ) -> Result<(), JwtRejectionKind> {
        use JwtRejectionKind as K;
        let now = self.clock.unix_timestamp();
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
        let iss = claims.iss.as_deref().ok_or(K::InvalidIssuer)?;
        if !self.issuers.iter().any(|i| &**i == iss) || bound_issuer.is_some_and(|b| b != iss) {
            return Err(K::InvalidIssuer);
        }
        let aud = claims.aud.as_ref().ok_or(K::InvalidAudience)?;
        if !self.audiences.iter().any(|a| aud.contains(a)) {
            return Err(K::InvalidAudience);
        }
        if claims.sub.is_none() {
            return Err(K::MissingSubject);
        }
        Ok(())
    }
}
