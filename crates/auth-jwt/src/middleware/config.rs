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

use super::parse::{self, Parsed, PayloadError};
use super::rejection::Challenges;
use super::trust::{Entry, TrustedIssuer};
use super::{DefaultRejection, JwtLayer, JwtRejectionKind};
use crate::keyset::LookupError;
use crate::revocation::LogoutContext;
use crate::{Algorithm, ConfigError, TokenSource};

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
    /// list's local memory only (no network call per request), keyed on the token's issuer
    /// plus its `jti`, `sub` (with `iat`) and `sid`, never on the token string. Authenticated
    /// requests also get a [`Logout`](crate::Logout) handle. Default: no list.
    ///
    /// With a list, a token without `jti` is refused (kind
    /// [`MissingTokenId`](JwtRejectionKind::MissingTokenId)) unless
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
    /// [`Claims`]). Default: `()`.
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
    /// The trust entries; a token is checked against the one its `iss` names.
    entries: Box<[Entry]>,
    pub(crate) source: TokenSource,
    max_token_len: usize,
    raw_claims: bool,
    pub(crate) optional: bool,
    pub(crate) challenges: Challenges,
    clock: SharedClock,
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

/// A verified token: its claims, its identity, and the index of the entry that verified it.
pub(crate) struct Verified<C> {
    pub(crate) claims: Claims<C>,
    pub(crate) identity: Identity,
    pub(crate) entry: usize,
}

impl Config {
    /// The entry a token's payload names. With several, the `iss` is read (unverified) from
    /// the payload first, so that only that entry's keys are tried; the claims check compares
    /// it again once the token is verified. With one entry there is nothing to choose, and the
    /// claims check alone compares `iss` with it after the signature: skipping the read saves
    /// about 12% of what the layer adds to an HS256 request (`jwt_paired`, 3 x 300 rounds:
    /// 3.64 against 4.13 raw-verify units with the read).
    fn entry_for(&self, payload: &[u8]) -> Result<(usize, &Entry), JwtRejectionKind> {
        if let [only] = &*self.entries {
            return Ok((0, only));
        }
        let iss = parse::issuer_of(payload).ok_or(JwtRejectionKind::Malformed)?;
        let iss = iss.ok_or(JwtRejectionKind::InvalidIssuer)?;
        self.entries
            .iter()
            .enumerate()
            .find(|(_, e)| *e.issuer == *iss)
            .ok_or(JwtRejectionKind::InvalidIssuer)
    }

    /// Verifies `token` completely: size, structure, header, entry, key, signature, claims.
    pub(crate) fn verify<C: DeserializeOwned>(
        &self,
        token: &[u8],
        allow_wait: bool,
    ) -> Result<Verified<C>, Failure> {
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

        // Every part is decoded before the signature is checked, so any byte outside the
        // base64url alphabet anywhere in the token is `Malformed` (the bearer source leaves
        // this check to the decoders, whose alphabet is stricter than RFC 6750's b64token).
        let (mut pay_stack, mut pay_heap) = ([MaybeUninit::uninit(); STACK_PAYLOAD], Vec::new());
        let payload = decode(p64, &mut pay_stack, &mut pay_heap).ok_or(K::Malformed)?;
        let (mut sig_stack, mut sig_heap) = ([MaybeUninit::uninit(); STACK_SIGNATURE], Vec::new());
        let signature = decode(s64, &mut sig_stack, &mut sig_heap).ok_or(K::Malformed)?;
        let signing_input = token.get(..h64.len() + 1 + p64.len()).ok_or(K::Malformed)?;
        if !json_object(payload) {
            return Err(K::Malformed.into());
        }
        let (index, entry) = self.entry_for(payload)?;
        entry.check_header(alg, header.typ.as_deref())?;
        let checked = entry.keys.with_key(header.kid.as_deref(), alg, |key| {
            key.verify_signature(signing_input, signature)
        });
        match checked {
            Ok(true) => {}
            Ok(false) => return Err(K::InvalidSignature.into()),
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
        }
        #[cfg(not(feature = "jwks"))]
        let _ = allow_wait;

        let Parsed {
            claims,
            roles,
            scopes,
            sid,
        } = self.parse_claims::<C>(entry, payload)?;
        entry.check_claims(&claims, self.clock.unix_timestamp())?;
        if let Some(revocation) = &self.revocation {
            let sid = match sid {
                Some(sid) => sid,
                None => {
                    serde_json::from_slice::<SidOnly>(payload)
                        .map_err(|_| K::Malformed)?
                        .sid
                }
            };
            Self::check_revocation(revocation, entry, &claims, sid.as_deref())?;
        }

        let subject = claims.sub.clone().unwrap_or_default();
        let mut identity =
            Identity::builder(subject, AuthMethod::Jwt).issuer(Arc::clone(&entry.issuer));
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
        Ok(Verified {
            claims,
            identity: identity.build(),
            entry: index,
        })
    }

    /// The typed claims plus the roles and scopes, in one pass when `C` allows it.
    fn parse_claims<C: DeserializeOwned>(
        &self,
        entry: &Entry,
        payload: &[u8],
    ) -> Result<Parsed<C>, JwtRejectionKind> {
        use JwtRejectionKind as K;
        let names = entry.names(self.revocation.is_some());
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
        // tuple...): a first pass for the registered claims, roles and scopes (which also
        // refuses duplicate members), then serde's own `flatten`.
        let grants = parse::parse_payload::<IgnoredAny>(payload, &names).map_err(kind)?;
        let claims = Claims::<C>::from_json(payload).map_err(|e| match e.claim() {
            Some("iss") => K::InvalidIssuer,
            Some("aud") => K::InvalidAudience,
            _ => K::Malformed,
        })?;
        Ok(Parsed {
            claims,
            roles: grants.roles,
            scopes: grants.scopes,
            sid: None,
        })
    }

    /// The revocation check: local memory only, keyed on the entry's issuer and the claims.
    fn check_revocation<C>(
        revocation: &Revocation,
        entry: &Entry,
        claims: &Claims<C>,
        sid: Option<&str>,
    ) -> Result<(), JwtRejectionKind> {
        use JwtRejectionKind as K;
        let token = TokenRef {
            issuer: &entry.issuer,
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
                tracing::debug!(by = ?by, issuer = %entry.issuer, "bearer token revoked");
                Err(K::Revoked)
            }
            // `Unavailable`, and any future status this layer does not know: fail closed.
            _ => Err(K::RevocationUnavailable),
        }
    }
}
