//! axum extractors for `Identity` (feature `axum`); documented on [`IdentityRejection`].

use std::fmt;

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};

use crate::{AuthLayerMarker, Identity, LazyIdentity};

/// Why the [`Identity`] extractor failed (feature `axum`).
///
/// The extractors:
///
/// - [`Identity`]: the authenticated identity; 401 when nobody is logged in.
/// - `Option<Identity>`: `None` when nobody is logged in.
///
/// When the layer left a [`LazyIdentity`](crate::LazyIdentity) (the session layer does),
/// the extractors resolve it, answering **503** if its backend fails.
///
/// Both answer **500** when no authenticating layer ran on the route (no
/// [`AuthLayerMarker`] in the extensions): that is a wiring bug, not an anonymous user, and
/// the message says which layer to add.
///
/// ```
/// use auth_core::{AuthLayerMarker, AuthMethod, Identity};
/// use axum::{Router, routing::get};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// async fn me(identity: Identity) -> String {
///     identity.subject().to_owned()
/// }
///
/// async fn greet(identity: Option<Identity>) -> String {
///     identity.map_or_else(|| "hello, stranger".to_owned(), |id| format!("hello, {}", id.subject()))
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let app = Router::new().route("/me", get(me)).route("/greet", get(greet));
///
/// // A request seen by an authenticating layer that found nobody.
/// let mut anonymous = Request::get("/me").body(axum::body::Body::empty()).unwrap();
/// anonymous.extensions_mut().insert(AuthLayerMarker::new("SessionLayer"));
/// let res = app.clone().oneshot(anonymous).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // No authenticating layer at all: a configuration error.
/// let unguarded = Request::get("/greet").body(axum::body::Body::empty()).unwrap();
/// let res = app.clone().oneshot(unguarded).await.unwrap();
/// assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
///
/// // A logged-in identity.
/// let mut req = Request::get("/me").body(axum::body::Body::empty()).unwrap();
/// req.extensions_mut().insert(AuthLayerMarker::new("SessionLayer"));
/// req.extensions_mut().insert(Identity::builder("alice", AuthMethod::Session).build());
/// let res = app.oneshot(req).await.unwrap();
/// assert_eq!(res.status(), StatusCode::OK);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdentityRejection {
    /// An authenticating layer ran but found no identity: 401.
    Unauthenticated,
    /// No authenticating layer ran on this route: 500, a configuration error.
    MissingAuthLayer,
    /// The identity could not be resolved because a backend failed: 503.
    Unavailable,
}

const MISSING_LAYER: &str = "auth_core::Identity was extracted on a route that no authenticating \
layer covers: add auth_session::SessionLayer, auth_jwt::JwtLayer, or your own layer that inserts \
auth_core::AuthLayerMarker, in front of this route";

impl IdentityRejection {
    /// 401 or 500.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::MissingAuthLayer => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl fmt::Display for IdentityRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthenticated => f.write_str("authentication required"),
            Self::MissingAuthLayer => f.write_str(MISSING_LAYER),
            Self::Unavailable => f.write_str("authentication backend unavailable"),
        }
    }
}

impl std::error::Error for IdentityRejection {}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        let mut res = (self.status(), self.to_string()).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        res
    }
}

/// The identity in the extensions, resolving a [`LazyIdentity`] (and caching the answer in the
/// extensions) when that is all there is.
async fn identity(parts: &mut Parts) -> Result<Option<Identity>, IdentityRejection> {
    if let Some(identity) = parts.extensions.get::<Identity>() {
        return Ok(Some(identity.clone()));
    }
    check_layer(parts)?;
    let Some(lazy) = parts.extensions.get::<LazyIdentity>().cloned() else {
        return Ok(None);
    };
    let identity = lazy
        .resolve()
        .await
        .map_err(|_| IdentityRejection::Unavailable)?;
    if let Some(identity) = &identity {
        parts.extensions.insert(identity.clone());
    }
    Ok(identity)
}

fn check_layer(parts: &Parts) -> Result<(), IdentityRejection> {
    // A lazy identity proves an authenticating layer ran, like the marker.
    if parts.extensions.get::<AuthLayerMarker>().is_some()
        || parts.extensions.get::<LazyIdentity>().is_some()
    {
        Ok(())
    } else {
        Err(IdentityRejection::MissingAuthLayer)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        identity(parts)
            .await?
            .ok_or(IdentityRejection::Unauthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = IdentityRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        identity(parts).await
    }
}
