//! Why a token was refused, and the response that says so.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

/// Why [`JwtAuth`](crate::JwtAuth) refused a request.
///
/// Inserted into the extensions of every rejection response, and logged with `tracing` at
/// `debug` (never the token). The response body never says which check failed: the default
/// rejection only distinguishes "no token" (401 without an error code), "bad token" (401
/// `error="invalid_token"`, RFC 6750) and "keys or revocation list unavailable" (503).
#[derive(Clone, PartialEq, Eq)]
pub struct JwtRejection {
    kind: JwtRejectionKind,
    challenge: Option<HeaderValue>,
}

/// The cause of a [`JwtRejection`].
///
/// `#[non_exhaustive]`: causes may be added without a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JwtRejectionKind {
    /// No token in any configured source. 401, no error code.
    Missing,
    /// Not a compact JWS (wrong number of parts, bad base64url, header or claims not a JSON
    /// object, a member name used twice in the header or the claims, a registered claim of
    /// the wrong type, an `Authorization` header that is not a single well-formed bearer
    /// credential).
    Malformed,
    /// Longer than the configured cap; refused before any decoding.
    TooLarge,
    /// The header's `alg` is unsupported (`none` included) or differs from the algorithm the
    /// key is bound to.
    InvalidAlgorithm,
    /// The header carries a `crit` parameter (any value, `null` included); no extension is
    /// understood, so it is refused (RFC 7515, 4.1.11).
    UnsupportedCritical,
    /// The header's `typ` is not the configured one.
    InvalidType,
    /// No key with the token's `kid` (or, for a token without `kid`, no single key of its
    /// algorithm).
    UnknownKey,
    /// The signature does not verify.
    InvalidSignature,
    /// `exp` is missing.
    MissingExpiry,
    /// `sub` is missing or empty.
    MissingSubject,
    /// Past `exp` (plus leeway), or older than the maximum age from `iat`.
    Expired,
    /// Before `nbf`, or `iat` in the future (minus leeway).
    NotYetValid,
    /// `iss` is missing, not a string, or names no trusted issuer.
    InvalidIssuer,
    /// `aud` is missing, not a string or array of strings, or names no accepted audience.
    InvalidAudience,
    /// The token was revoked (its `jti`, its subject before an instant, or its session `sid`;
    /// see [`JwtLayerBuilder::with_revocation`](crate::JwtLayerBuilder::with_revocation)).
    Revoked,
    /// A revocation list is configured and the token has no `jti` (refused by default, see
    /// [`JwtLayerBuilder::with_jti_required`](crate::JwtLayerBuilder::with_jti_required)).
    MissingTokenId,
    /// The keys cannot be loaded (JWKS unreachable with no key cached). 503.
    KeysUnavailable,
    /// The revocation list cannot answer (its feed has been down longer than its staleness
    /// bound and it fails closed). 503.
    RevocationUnavailable,
}

impl JwtRejectionKind {
    /// A short, stable, snake-case name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::InvalidAlgorithm => "invalid_algorithm",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::InvalidType => "invalid_type",
            Self::UnknownKey => "unknown_key",
            Self::InvalidSignature => "invalid_signature",
            Self::MissingExpiry => "missing_expiry",
            Self::MissingSubject => "missing_subject",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::InvalidIssuer => "invalid_issuer",
            Self::InvalidAudience => "invalid_audience",
            Self::Revoked => "revoked",
            Self::MissingTokenId => "missing_token_id",
            Self::KeysUnavailable => "keys_unavailable",
            Self::RevocationUnavailable => "revocation_unavailable",
        }
    }

    /// The status of the default response: 503 for
    /// [`KeysUnavailable`](Self::KeysUnavailable) and
    /// [`RevocationUnavailable`](Self::RevocationUnavailable), 401 otherwise.
    pub fn status(self) -> StatusCode {
        match self {
            Self::KeysUnavailable | Self::RevocationUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

impl fmt::Display for JwtRejectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl JwtRejection {
    pub(crate) fn new(kind: JwtRejectionKind, challenges: &Challenges) -> Self {
        let challenge = match kind {
            JwtRejectionKind::KeysUnavailable | JwtRejectionKind::RevocationUnavailable => None,
            JwtRejectionKind::Missing => Some(challenges.missing.clone()),
            _ => Some(challenges.invalid.clone()),
        };
        Self { kind, challenge }
    }

    /// The cause.
    pub fn kind(&self) -> JwtRejectionKind {
        self.kind
    }

    /// The status of the default response (401, or 503 when keys or the revocation list are
    /// unavailable).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The RFC 6750 `WWW-Authenticate` value for a 401: `Bearer realm="..."` when no token was
    /// sent, `Bearer realm="...", error="invalid_token"` otherwise; `None` for a 503.
    pub fn www_authenticate(&self) -> Option<&HeaderValue> {
        self.challenge.as_ref()
    }
}

impl fmt::Debug for JwtRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtRejection")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for JwtRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bearer token rejected: {}", self.kind)
    }
}

impl std::error::Error for JwtRejection {}

/// The two precomputed `WWW-Authenticate` values of a layer.
#[derive(Clone, Debug)]
pub(crate) struct Challenges {
    missing: HeaderValue,
    invalid: HeaderValue,
}

impl Challenges {
    pub(crate) fn new(realm: Option<&str>) -> Option<Self> {
        match realm {
            None => Some(Self {
                missing: HeaderValue::from_static("Bearer"),
                invalid: HeaderValue::from_static(r#"Bearer error="invalid_token""#),
            }),
            Some(realm) => {
                let quotable = !realm.is_empty()
                    && realm
                        .bytes()
                        .all(|b| (0x20..=0x7E).contains(&b) && b != b'"' && b != b'\\');
                if !quotable {
                    return None;
                }
                Some(Self {
                    missing: HeaderValue::from_str(&format!(r#"Bearer realm="{realm}""#)).ok()?,
                    invalid: HeaderValue::from_str(&format!(
                        r#"Bearer realm="{realm}", error="invalid_token""#
                    ))
                    .ok()?,
                })
            }
        }
    }
}

/// Builds the response for a rejected request.
///
/// Implemented by [`DefaultRejection`] and by every closure
/// `Fn(&JwtRejection) -> Response<B> + Clone + Send + Sync + 'static`. The layer inserts the
/// [`JwtRejection`] into whatever response you build.
///
/// # Security
///
/// Do not tell the client which check failed beyond what RFC 6750 says: log
/// [`JwtRejection::kind`] instead.
pub trait RejectionResponse<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &JwtRejection) -> Response<B>;
}

impl<F, B> RejectionResponse<B> for F
where
    F: Fn(&JwtRejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self, rejection: &JwtRejection) -> Response<B> {
        self(rejection)
    }
}

/// The default rejection: an empty body, the rejection's status and, for a 401, its
/// `WWW-Authenticate` challenge; a 503 carries `Retry-After: 5`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultRejection;

impl<B: Default> RejectionResponse<B> for DefaultRejection {
    fn response(&self, rejection: &JwtRejection) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = rejection.status();
        if let Some(challenge) = rejection.www_authenticate() {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge.clone());
        }
        if rejection.status() == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_token_challenge_has_no_error_code() {
        let c = Challenges::new(Some("api")).unwrap();
        let r = JwtRejection::new(JwtRejectionKind::Missing, &c);
        assert_eq!(r.www_authenticate().unwrap(), r#"Bearer realm="api""#);
        let r = JwtRejection::new(JwtRejectionKind::Expired, &c);
        assert_eq!(
            r.www_authenticate().unwrap(),
            r#"Bearer realm="api", error="invalid_token""#
        );
    }

    #[test]
    fn unquotable_realm_is_refused() {
        assert!(Challenges::new(Some("a\"b")).is_none());
        assert!(Challenges::new(Some("")).is_none());
        assert!(Challenges::new(Some("caf\u{e9}")).is_none());
    }
}
