//! What the cookie benchmarks share: requests whose `Cookie` header is built as a server's
//! would be, and the handler that ignores cookies.
#![allow(dead_code)] // each bench uses its own subset

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use http::header::COOKIE;
use http::{HeaderValue, Request};

/// The `Cookie` header value `cookie` as hyper's HTTP/1 parser leaves it: a slice of the
/// shared buffer the request was read into (`BytesMut::split_to(..).freeze()`, then
/// `Bytes::slice` per header), so every clone shares that buffer.
pub(crate) fn wire(cookie: &str) -> Bytes {
    let text = format!("GET / HTTP/1.1\r\nhost: example.com\r\ncookie: {cookie}\r\n\r\n");
    let mut read_buf = BytesMut::from(text.as_bytes());
    let head = read_buf.split_to(text.len()).freeze();
    let start = text.find("cookie: ").unwrap() + "cookie: ".len();
    head.slice(start..start + cookie.len())
}

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
