//! The axum extractor for `Cookies` (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::Cookies;

/// The [`Cookies`] extractor failed: no [`CookieLayer`](crate::CookieLayer) covers the route.
///
/// A configuration error, answered with 500 and a message naming the layer to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "auth_cookie::Cookies was extracted on a route that no auth_cookie::CookieLayer covers: add CookieLayer::new() in front of this route"
)]
pub struct MissingCookieLayer;

impl IntoResponse for MissingCookieLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = MissingCookieLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_parts(parts).ok_or(MissingCookieLayer)
    }
}
