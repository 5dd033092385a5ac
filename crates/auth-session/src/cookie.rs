//! The session cookie's `Set-Cookie` header, written without a jar.
//!
//! When no [`CookieLayer`](auth_cookie::CookieLayer) is installed, the session layer writes its
//! one cookie itself. Its attributes never change for a layer, so they are rendered once, by
//! an `auth_cookie` jar (the same code that renders every other cookie), and each response
//! only joins name, value, those attributes and the `Max-Age`.

use auth_cookie::{CookieConfig, Cookies, MAX_AGE_CAP, MAX_COOKIE_SIZE};
use bytes::Bytes;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue};
use time::Duration;

/// The rendered attributes of one cookie definition.
#[derive(Debug, Clone)]
pub(crate) struct SetCookie {
    /// Everything after `name=value`, e.g. `; HttpOnly; SameSite=Lax; Secure; Path=/`; `None`
    /// when the jar's rendering could not be split (the jar is used instead then).
    attributes: Option<Box<str>>,
}

impl SetCookie {
    pub(crate) fn new(cookie: &CookieConfig) -> Self {
        Self {
            attributes: render(cookie, "x", None).and_then(|header| {
                let rest = header.strip_prefix(cookie.name())?.strip_prefix("=x")?;
                // `Max-Age` is the last attribute the jar writes when there is no
                // `Expires`; anything after it would be out of order once it is appended.
                (!rest.contains("Max-Age") && !rest.contains("Expires")).then(|| rest.into())
            }),
        }
    }

    /// `Set-Cookie: name=value; <attributes>[; Max-Age=<seconds>]`, exactly as the jar writes
    /// it, or `None` to use the jar (no rendering, or a cookie over [`MAX_COOKIE_SIZE`], which
    /// the jar turns into its error).
    pub(crate) fn header(
        &self,
        name: &str,
        value: &[u8],
        max_age: Option<Duration>,
    ) -> Option<HeaderValue> {
        let attributes = self.attributes.as_deref()?;
        if name.len() + value.len() > MAX_COOKIE_SIZE {
            return None;
        }
        let seconds = max_age.map(|age| age.clamp(Duration::ZERO, MAX_AGE_CAP).whole_seconds());
        // Exactly the length: a `String` whose length is its capacity becomes the header's
        // bytes as is (otherwise `Bytes` allocates again).
        let len = name.len()
            + 1
            + value.len()
            + attributes.len()
            + seconds.map_or(0, |s| MAX_AGE.len() + digits(s));
        let mut line = Vec::with_capacity(len);
        line.extend_from_slice(name.as_bytes());
        line.push(b'=');
        line.extend_from_slice(value);
        line.extend_from_slice(attributes.as_bytes());
        if let Some(seconds) = seconds {
            line.extend_from_slice(MAX_AGE.as_bytes());
            push_int(&mut line, seconds);
        }
        // Checked again here (any byte outside a header's range is refused).
        HeaderValue::from_maybe_shared(Bytes::from(line)).ok()
    }
}

/// What the jar writes for `cookie` set to `value` (already made of cookie-octets).
fn render(cookie: &CookieConfig, value: &str, max_age: Option<Duration>) -> Option<String> {
    let jar = Cookies::from_headers(&HeaderMap::new());
    jar.add_with_max_age(cookie, value, max_age).ok()?;
    let mut headers = HeaderMap::new();
    jar.write_changes(&mut headers);
    Some(headers.get(SET_COOKIE)?.to_str().ok()?.to_owned())
}

const MAX_AGE: &str = "; Max-Age=";

/// How many decimal digits `n` has.
fn digits(n: i64) -> usize {
    let mut n = n.unsigned_abs();
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

/// Appends `n` in decimal (`Max-Age` is clamped to `0..=400 days`, so never negative).
fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n.unsigned_abs();
    loop {
        at -= 1;
        if let Some(slot) = digits.get_mut(at) {
            // `n % 10` is a single digit.
            *slot = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend_from_slice(digits.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use auth_cookie::{CookiePrefix, SameSite};

    use super::*;

    fn definitions() -> Vec<CookieConfig> {
        vec![
            CookieConfig::builder("id").build().unwrap(),
            CookieConfig::builder("sid")
                .prefix(CookiePrefix::Host)
                .same_site(SameSite::Strict)
                .build()
                .unwrap(),
            CookieConfig::builder("s")
                .prefix(CookiePrefix::Secure)
                .domain("example.com")
                .path("/app")
                .same_site(SameSite::None)
                .http_only(false)
                .build()
                .unwrap(),
            CookieConfig::builder("dev")
                .domain(".example.com")
                .insecure_dev_mode()
                .build()
                .unwrap(),
        ]
    }

    #[test]
    fn the_header_is_what_the_jar_writes() {
        let values = [
            "AAAAAAAAAAAAAAAAAAAAAA",
            "v1.k.abc-_.AAAAAAAAAAAAAAAAAAAAAA",
        ];
        let ages = [
            None,
            Some(Duration::ZERO),
            Some(Duration::seconds(1)),
            Some(Duration::seconds(-5)),
            Some(Duration::minutes(30) + Duration::milliseconds(999)),
            Some(Duration::days(14)),
            Some(Duration::days(500)),
        ];
        for cookie in definitions() {
            let fast = SetCookie::new(&cookie);
            for value in values {
                for max_age in ages {
                    let ours = fast
                        .header(cookie.name(), value.as_bytes(), max_age)
                        .unwrap();
                    let jar = render(&cookie, value, max_age).unwrap();
                    assert_eq!(ours.to_str().unwrap(), jar, "{cookie:?} {max_age:?}");
                }
            }
        }
    }

    #[test]
    fn an_oversized_cookie_is_left_to_the_jar() {
        let cookie = CookieConfig::builder("id").build().unwrap();
        let fast = SetCookie::new(&cookie);
        let value = |len| vec![b'a'; len];
        assert!(fast.header("id", &value(MAX_COOKIE_SIZE), None).is_none());
        assert!(
            fast.header("id", &value(MAX_COOKIE_SIZE - 2), None)
                .is_some()
        );
        // A byte that cannot be in a header is refused, not written.
        assert!(fast.header("id", b"a\nb", None).is_none());
    }

    #[test]
    fn integers_print_in_decimal() {
        for n in [0, 7, 10, 59, 1800, 34_560_000, i64::MAX] {
            let mut out = Vec::new();
            push_int(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
            assert_eq!(digits(n), out.len());
        }
    }
}
