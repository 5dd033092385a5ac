//! What the cookie benchmarks share: requests whose `Cookie` header is built as a server's
//! would be, and the handler that ignores cookies.
#![allow(dead_code)] // each bench uses its own subset

use axum::body::Body;
use bytes::Bytes;
use http::header::COOKIE;
use http::{HeaderValue, Request};

/// The `Cookie` header value as a server's parser leaves it (see `auth_tests::wire`).
pub(crate) use auth_tests::wire::cookie_value as wire;

/// A request whose `Cookie` header shares `cookie`'s buffer (see [`wire`]).
pub(crate) fn request(cookie: &Bytes) -> Request<Body> {
    Request::builder()
        .uri("/")
        .header(
            COOKIE,
            HeaderValue::from_maybe_shared(cookie.clone()).unwrap(),
        )
        .body(Body::empty())
        .unwrap()
}

pub(crate) async fn untouched() -> &'static str {
    "ok"
}
