//! One request cookie read straight from the `Cookie` header(s), without a jar: for layers
//! that need only their own cookie (the session and JWT layers) and want no allocation. The
//! rules are the jar's (those of `crate::parse`: names compared byte for byte, bad pairs
//! skipped), so a spoofed name is refused here as it is by [`Cookies`](crate::Cookies).

use http::HeaderMap;
use http::header::COOKIE;

use crate::parse::{find_raw_value, find_value};

/// The raw (not percent-decoded) value of the first request cookie called `name`, read
/// straight from the `Cookie` header(s) without building a jar, by the same rules as
/// [`Cookies`](crate::Cookies) (names compared byte for byte, bad pairs skipped).
///
/// For layers that only need one cookie and want no allocation.
///
/// ```
/// use http::{HeaderMap, header};
///
/// let mut headers = HeaderMap::new();
/// headers.append(header::COOKIE, "a=1; sid=abc".parse()?);
/// headers.append(header::COOKIE, "sid=later".parse()?);
/// assert_eq!(auth_cookie::request_cookie(&headers, "sid"), Some("abc"));
/// assert_eq!(auth_cookie::request_cookie(&headers, "SID"), None);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn request_cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .find_map(|header| find_value(header.as_bytes(), name))
}

/// The raw (not percent-decoded) value of the first cookie called `name` in `header`: the
/// bytes of one `Cookie` header value, or of several joined with `;` (which read the same as
/// the separate fields). The rules of [`request_cookie`].
///
/// For layers that copy the request's `Cookie` bytes and look their cookie up only if needed.
///
/// ```
/// assert_eq!(auth_cookie::header_cookie(b"a=1; sid=abc;sid=later", "sid"), Some("abc"));
/// assert_eq!(auth_cookie::header_cookie(b"a=1;sid=\xff;sid=ok", "sid"), Some("ok"));
/// assert_eq!(auth_cookie::header_cookie(b"a=1", "sid"), None);
/// ```
pub fn header_cookie<'h>(header: &'h [u8], name: &str) -> Option<&'h str> {
    find_value(header, name)
}

/// The raw bytes of the first cookie called `name` in `header`, even when they are not UTF-8:
/// [`header_cookie`] without its UTF-8 check, for a caller that validates the value itself.
///
/// The two differ only when the first pair called `name` is not UTF-8: [`header_cookie`]
/// skips it and answers the next such pair, this answers it. A caller that wants
/// [`header_cookie`]'s answer and finds this one invalid asks [`header_cookie`] again.
///
/// ```
/// use auth_cookie::{header_cookie, header_cookie_bytes};
///
/// assert_eq!(header_cookie_bytes(b"a=1; sid=abc", "sid"), Some(&b"abc"[..]));
/// assert_eq!(header_cookie_bytes(b"a=1;sid=\xff;sid=ok", "sid"), Some(&b"\xff"[..]));
/// assert_eq!(header_cookie(b"a=1;sid=\xff;sid=ok", "sid"), Some("ok"));
/// assert_eq!(header_cookie_bytes(b"a=1", "sid"), None);
/// ```
pub fn header_cookie_bytes<'h>(header: &'h [u8], name: &str) -> Option<&'h [u8]> {
    find_raw_value(header, name)
}
