//! Request parts as a server builds them, for benchmarks that must not favour whoever avoids
//! cloning header values.
//!
//! hyper's HTTP/1 parser reads a request into one buffer, freezes it and hands out each header
//! value as a slice of it, so cloning a value is a reference-count increment. A value built
//! with `HeaderValue::from_str` instead owns a `Vec` whose first clone allocates a shared
//! copy, a cost a server never pays.

use bytes::{Bytes, BytesMut};

/// The `Cookie` header value `cookie` as hyper's HTTP/1 parser leaves it: a slice of the
/// shared buffer the request was read into (`BytesMut::split_to(..).freeze()`, then
/// `Bytes::slice` per header), so every clone shares that buffer.
///
/// ```
/// let value = auth_tests::wire::cookie_value("a=1; b=2");
/// assert_eq!(&value[..], b"a=1; b=2");
/// let header = http::HeaderValue::from_maybe_shared(value).unwrap();
/// assert_eq!(header, "a=1; b=2");
/// ```
pub fn cookie_value(cookie: &str) -> Bytes {
    let text = format!("GET / HTTP/1.1\r\nhost: example.com\r\ncookie: {cookie}\r\n\r\n");
    let mut read_buf = BytesMut::from(text.as_bytes());
    let head = read_buf.split_to(text.len()).freeze();
    let start = text.len() - "\r\n\r\n".len() - cookie.len();
    head.slice(start..start + cookie.len())
}
