//! axum extractors for `Session` and `TypedSession` (feature `axum`).

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Session, SessionError, SessionKey, TypedSession};

/// The [`Session`] extractor failed: no [`SessionLayer`](crate::SessionLayer) covers the route.
/// Answered with 500 and a message naming the layer to add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "auth_session::Session was extracted on a route that no auth_session::SessionLayer covers: add SessionLayer in front of this route"
)]
pub struct MissingSessionLayer;

impl IntoResponse for MissingSessionLayer {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        // The cause is logged by the layer; the body says nothing about it.
        self.status().into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Self::from_extensions(&parts.extensions).ok_or(MissingSessionLayer)
    }
}

impl<S, T> FromRequestParts<S> for TypedSession<T>
where
    S: Send + Sync,
    T: SessionKey + Serialize + DeserializeOwned,
{
    type Rejection = MissingSessionLayer;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Session::from_request_parts(parts, state)
            .await
            .map(Self::new)
    }
}
