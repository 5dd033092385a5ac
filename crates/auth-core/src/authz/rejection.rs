//! Why a request was refused, and the response that says so.

use std::fmt;

use http::{HeaderValue, Response, StatusCode, header};

use super::Requirement;
use crate::AuthMethod;

/// Why [`RequireAuth`](super::RequireAuth) refused a request.
///
/// Inserted into the response extensions of every rejected request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRejection {
    kind: AuthRejectionKind,
    requirement: Option<Requirement>,
    method: Option<AuthMethod>,
}

/// The kind of an [`AuthRejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejectionKind {
    /// No identity: nobody is logged in. 401.
    Unauthenticated,
    /// An identity that lacks a right. 403.
    Forbidden,
    /// The identity could not be resolved because a backend (a session store) failed. 503:
    /// a logged-in user is never treated as anonymous because a store is down.
    Unavailable,
}

impl AuthRejection {
    /// The rejection for a request without an identity.
    pub fn unauthenticated() -> Self {
        Self {
            kind: AuthRejectionKind::Unauthenticated,
            requirement: None,
            method: None,
        }
    }

    /// The rejection for an identity (authenticated by `method`) that misses `requirement`.
    pub fn forbidden(requirement: Requirement, method: AuthMethod) -> Self {
        Self {
            kind: AuthRejectionKind::Forbidden,
            requirement: Some(requirement),
            method: Some(method),
        }
    }

    /// The rejection for a request whose identity could not be resolved (backend down).
    pub fn unavailable() -> Self {
        Self {
            kind: AuthRejectionKind::Unavailable,
            requirement: None,
            method: None,
        }
    }

    /// The kind of rejection.
    pub fn kind(&self) -> AuthRejectionKind {
        self.kind
    }

    /// 401 for [`Unauthenticated`](AuthRejectionKind::Unauthenticated), 403 for
    /// [`Forbidden`](AuthRejectionKind::Forbidden), 503 for
    /// [`Unavailable`](AuthRejectionKind::Unavailable).
    pub fn status(&self) -> StatusCode {
        match self.kind {
            AuthRejectionKind::Unauthenticated => StatusCode::UNAUTHORIZED,
            AuthRejectionKind::Forbidden => StatusCode::FORBIDDEN,
            AuthRejectionKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// What the identity was missing, for a 403.
    pub fn requirement(&self) -> Option<&Requirement> {
        self.requirement.as_ref()
    }

    /// How the refused identity was authenticated, for a 403.
    pub fn method(&self) -> Option<&AuthMethod> {
        self.method.as_ref()
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.kind, &self.requirement) {
            (AuthRejectionKind::Unauthenticated, _) => f.write_str("authentication required"),
            (AuthRejectionKind::Unavailable, _) => {
                f.write_str("authentication backend unavailable")
            }
            (AuthRejectionKind::Forbidden, Some(Requirement::Role(role))) => {
                write!(f, "forbidden: missing role `{role}`")
            }
            (AuthRejectionKind::Forbidden, Some(Requirement::Scope(scope))) => {
                write!(f, "forbidden: missing scope `{scope}`")
            }
            (AuthRejectionKind::Forbidden, Some(Requirement::Issuer(issuer))) => {
                write!(f, "forbidden: not issued by `{issuer}`")
            }
            (AuthRejectionKind::Forbidden, _) => f.write_str("forbidden"),
        }
    }
}

impl std::error::Error for AuthRejection {}

/// Builds the response for a rejected request.
///
/// Implemented by [`DefaultRejection`] and by every closure
/// `Fn(&AuthRejection) -> Response<B> + Clone + Send + Sync + 'static`. The layer inserts the
/// [`AuthRejection`] into whatever response you build.
pub trait RejectionResponse<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &AuthRejection) -> Response<B>;
}

impl<F, B> RejectionResponse<B> for F
where
    F: Fn(&AuthRejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self, rejection: &AuthRejection) -> Response<B> {
        self(rejection)
    }
}

/// The default rejection: an empty body with the rejection's status.
///
/// - 401 carries the `WWW-Authenticate` challenge set with
///   [`with_challenge`](Self::with_challenge), if any (none by default, since the guard does
///   not know which scheme the route uses).
/// - 403 for a bearer-token identity missing a scope carries
///   `WWW-Authenticate: Bearer error="insufficient_scope", scope="<scope>"` (RFC 6750, 3.1).
#[derive(Debug, Clone, Default)]
pub struct DefaultRejection {
    challenge: Option<HeaderValue>,
}

impl DefaultRejection {
    /// The default rejection, without a 401 challenge.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `challenge` as `WWW-Authenticate` on 401 responses, for example
    /// `Bearer realm="api"`.
    #[must_use]
    pub fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl<B: Default> RejectionResponse<B> for DefaultRejection {
    fn response(&self, rejection: &AuthRejection) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = rejection.status();
        let challenge = match (rejection.kind, &rejection.requirement, &rejection.method) {
            (AuthRejectionKind::Unauthenticated, _, _) => self.challenge.clone(),
            (AuthRejectionKind::Unavailable, _, _) => None,
            (
                AuthRejectionKind::Forbidden,
                Some(Requirement::Scope(scope)),
                Some(AuthMethod::Jwt),
            ) => Some(insufficient_scope(scope)),
            _ => None,
        };
        if let Some(challenge) = challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        res
    }
}

/// `Bearer error="insufficient_scope", scope="..."`; the scope is left out when it cannot be
/// written as a quoted string (RFC 6749 scope tokens never need escaping).
fn insufficient_scope(scope: &str) -> HeaderValue {
    const BASE: &str = r#"Bearer error="insufficient_scope""#;
    let quotable = scope
        .bytes()
        .all(|b| (0x21..=0x7E).contains(&b) && b != b'"' && b != b'\\');
    if quotable && let Ok(value) = HeaderValue::from_str(&format!(r#"{BASE}, scope="{scope}""#)) {
        return value;
    }
    HeaderValue::from_static(BASE)
}
