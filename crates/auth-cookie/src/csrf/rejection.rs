//! Why the CSRF check refused a request, and the response that says so.

use std::fmt;

use http::{Response, StatusCode};

/// Why [`Csrf`](super::Csrf) refused a request. Inserted into the rejection's response
/// extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfRejection {
    kind: CsrfRejectionKind,
}

/// The kind of a [`CsrfRejection`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfRejectionKind {
    /// `Sec-Fetch-Site` said the request came from another site (or was unknown).
    CrossSite,
    /// No `Sec-Fetch-Site`, and `Origin` named another host (or was `null`).
    CrossOrigin,
    /// Token mode: neither header, and no token.
    MissingToken,
    /// Token mode: a token that does not match the session.
    InvalidToken,
}

impl CsrfRejection {
    pub(super) fn new(kind: CsrfRejectionKind) -> Self {
        Self { kind }
    }

    /// The kind of rejection.
    pub fn kind(&self) -> CsrfRejectionKind {
        self.kind
    }

    /// Always 403 Forbidden.
    pub fn status(&self) -> StatusCode {
        StatusCode::FORBIDDEN
    }
}

impl fmt::Display for CsrfRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            CsrfRejectionKind::CrossSite => "cross-site request refused",
            CsrfRejectionKind::CrossOrigin => "cross-origin request refused",
            CsrfRejectionKind::MissingToken => "CSRF token missing",
            CsrfRejectionKind::InvalidToken => "CSRF token invalid",
        })
    }
}

impl std::error::Error for CsrfRejection {}

/// Builds the response for a request refused by the CSRF check.
///
/// Implemented by [`DefaultCsrfRejection`] and by every closure
/// `Fn(&CsrfRejection) -> Response<B> + Clone + Send + Sync + 'static`.
pub trait CsrfRejectionResponse<B>: Clone + Send + Sync + 'static {
    /// The response for `rejection`.
    fn response(&self, rejection: &CsrfRejection) -> Response<B>;
}

impl<F, B> CsrfRejectionResponse<B> for F
where
    F: Fn(&CsrfRejection) -> Response<B> + Clone + Send + Sync + 'static,
{
    fn response(&self, rejection: &CsrfRejection) -> Response<B> {
        self(rejection)
    }
}

/// The default: 403 with an empty body (the cause goes to the response extensions and to
/// `tracing`, not to the client).
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultCsrfRejection;

impl<B: Default> CsrfRejectionResponse<B> for DefaultCsrfRejection {
    fn response(&self, rejection: &CsrfRejection) -> Response<B> {
        let mut res = Response::new(B::default());
        *res.status_mut() = rejection.status();
        res
    }
}
