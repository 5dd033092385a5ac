//! [`Cookies`], the handle to a request's jar that handlers and layers read and write.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, Request};
use time::Duration;

use super::{Change, Jar, RequestJar, Shared};
use crate::parse::{decode_value, encode_value};
use crate::{CookieConfig, CookieError};

/// The longest cookie browsers keep: name plus value, in bytes (RFC 6265bis, section 5.6).
pub const MAX_COOKIE_SIZE: usize = 4096;

/// A handle to the request's cookies and the cookies the response will set.
///
/// [`CookieLayer`](crate::CookieLayer) gives every request a jar; get a handle to it with
/// [`Cookies::from_request`], [`Cookies::from_parts`] or (feature `axum`) the extractor. Every
/// handle to a request's jar refers to the same jar, so a handler, a session layer and a JWT
/// layer can all read and write it. On the way out the layer writes one `Set-Cookie` per
/// changed cookie, in the order of the changes (a cookie changed twice keeps its first
/// position and its last value).
///
/// Reading:
///
/// - the request's `Cookie` header(s) are parsed once, on first read (a request whose cookies
///   are never read costs no parsing);
/// - names are compared byte for byte (see the parsing rules in the crate docs);
/// - with duplicate names the *first* value wins (browsers send the most specific cookie
///   first); [`get_all`](Self::get_all) returns every value;
/// - a cookie added or removed earlier in this request reads as added or removed.
///
/// Writing goes through a [`CookieConfig`], so attributes are always the defined ones and a
/// removal always carries the right `Path` and `Domain`.
///
/// # Example
///
/// ```
/// use auth_cookie::{CookieConfig, Cookies};
/// use http::{HeaderMap, header};
///
/// let mut request_headers = HeaderMap::new();
/// request_headers.insert(header::COOKIE, "theme=dark; theme=light; lang=fr".parse()?);
/// let cookies = Cookies::from_headers(&request_headers);
///
/// assert_eq!(cookies.get("theme").as_deref(), Some("dark"));
/// assert_eq!(cookies.get_all("theme"), ["dark", "light"]);
///
/// let lang = CookieConfig::builder("lang").http_only(false).build()?;
/// cookies.add(&lang, "de; Domain=evil.example")?; // encoded: cannot inject an attribute
///
/// let mut response_headers = HeaderMap::new();
/// cookies.write_changes(&mut response_headers);
/// assert_eq!(
///     response_headers[header::SET_COOKIE],
///     "lang=de%3B%20Domain=evil.example; SameSite=Lax; Secure; Path=/"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Cookies {
    pub(super) inner: Arc<Shared>,
}

impl Cookies {
    /// A jar of its own holding the `Cookie` headers of a request and no changes, for use
    /// without [`CookieLayer`](crate::CookieLayer) (write its changes with
    /// [`write_changes`](Self::write_changes)). Behind the layer, use
    /// [`from_request`](Self::from_request) or [`from_parts`](Self::from_parts) instead: they
    /// return the request's shared jar, which the layer writes.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        Self {
            inner: Arc::new(Shared::new(Some(Jar::bound(headers)))),
        }
    }

    /// A handle to the jar [`CookieLayer`](crate::CookieLayer) gave `req`, or `None` when no
    /// `CookieLayer` covers the request.
    ///
    /// The first handle taken for a request binds the jar to the request's `Cookie` headers
    /// (a reference-count increment per header, no copy, no parsing); later handles, from
    /// this or any other constructor, share that jar and its binding. A change to the
    /// request's `Cookie` headers after the first handle was taken is therefore not seen;
    /// the cookies the request arrived with are what the jar reads.
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use auth_cookie::{CookieConfig, CookieLayer, Cookies};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let seen = CookieConfig::builder("seen").build()?;
    /// let svc = ServiceBuilder::new()
    ///     .layer(CookieLayer::new())
    ///     .service_fn(move |req: Request<String>| {
    ///         let seen = seen.clone();
    ///         async move {
    ///             let cookies = Cookies::from_request(&req).expect("CookieLayer installed");
    ///             let before = cookies.get("seen").unwrap_or_default();
    ///             cookies.add(&seen, "yes").ok();
    ///             Ok::<_, Infallible>(Response::new(before))
    ///         }
    ///     });
    ///
    /// let req = Request::builder().header(header::COOKIE, "seen=no").body(String::new())?;
    /// let res = svc.oneshot(req).await?;
    /// assert_eq!(res.body(), "no");
    /// assert_eq!(res.headers()[header::SET_COOKIE], "seen=yes; HttpOnly; SameSite=Lax; Secure; Path=/");
    ///
    /// // Without the layer there is no jar.
    /// assert!(Cookies::from_request(&Request::new(())).is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_request<B>(req: &Request<B>) -> Option<Self> {
        Self::bound_to(req.extensions(), req.headers())
    }

    /// As [`from_request`](Self::from_request), from the parts of a request (in an extractor,
    /// or after [`Request::into_parts`]).
    ///
    /// # Example
    ///
    /// ```
    /// use std::convert::Infallible;
    ///
    /// use auth_cookie::{CookieLayer, Cookies};
    /// use http::{Request, Response, header};
    /// use tower::{ServiceBuilder, ServiceExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let svc = ServiceBuilder::new()
    ///     .layer(CookieLayer::new())
    ///     .service_fn(|req: Request<String>| async move {
    ///         let (parts, _body) = req.into_parts();
    ///         let cookies = Cookies::from_parts(&parts).expect("CookieLayer installed");
    ///         Ok::<_, Infallible>(Response::new(cookies.get("lang").unwrap_or_default()))
    ///     });
    ///
    /// let req = Request::builder().header(header::COOKIE, "lang=fr").body(String::new())?;
    /// assert_eq!(svc.oneshot(req).await?.body(), "fr");
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_parts(parts: &Parts) -> Option<Self> {
        Self::bound_to(&parts.extensions, &parts.headers)
    }

    fn bound_to(extensions: &Extensions, headers: &HeaderMap) -> Option<Self> {
        Some(extensions.get::<RequestJar>()?.bind(headers))
    }

    /// Runs `f` on the jar under its lock; `f` must not touch the jar through a handle.
    fn with_jar<T>(&self, f: impl FnOnce(&mut Jar) -> T) -> T {
        let mut jar = self.inner.lock();
        // Every constructor binds the jar, so it is always there; an empty one otherwise.
        f(jar.get_or_insert_with(|| Jar::bound(&HeaderMap::new())))
    }

    /// The value of cookie `name` (the full name, prefix included), percent-decoded.
    ///
    /// A cookie added in this request reads as its new value, a removed one as `None`;
    /// otherwise the first request cookie with that name.
    pub fn get(&self, name: &str) -> Option<String> {
        self.with_wire(name, |raw| raw.map(|raw| decode_value(raw).into_owned()))
    }

    /// Every value the request sent for `name`, in header order (duplicates appear when a
    /// browser holds cookies of the same name for several paths or domains).
    pub fn get_all(&self, name: &str) -> Vec<String> {
        self.with_jar(|jar| {
            jar.ensure_index();
            jar.entries()
                .filter(|(n, _)| *n == name)
                .map(|(_, value)| decode_value(value).into_owned())
                .collect()
        })
    }

    /// Every (name, value) pair of the request, in header order, values decoded.
    pub fn request_cookies(&self) -> Vec<(String, String)> {
        self.with_jar(|jar| {
            jar.ensure_index();
            jar.entries()
                .map(|(name, value)| (name.to_owned(), decode_value(value).into_owned()))
                .collect()
        })
    }

    /// Sets cookie `config` to `value` with the definition's `Max-Age`.
    ///
    /// The value is percent-encoded as needed, so any string is safe.
    ///
    /// # Errors
    ///
    /// [`CookieError::TooLarge`] when name plus encoded value exceed [`MAX_COOKIE_SIZE`];
    /// nothing is changed then.
    pub fn add(&self, config: &CookieConfig, value: &str) -> Result<(), CookieError> {
        self.add_with_max_age(config, value, config.max_age())
    }

    /// Sets cookie `config` to `value` with the given `Max-Age` (capped at 400 days; `None`
    /// for a cookie that ends with the browser session) instead of the definition's.
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub fn add_with_max_age(
        &self,
        config: &CookieConfig,
        value: &str,
        max_age: Option<Duration>,
    ) -> Result<(), CookieError> {
        let encoded = encode_value(value);
        self.add_encoded(config, encoded.into_owned(), max_age)
    }

    /// Adds a value that is already made of cookie-octets (sealed values are base64url).
    pub(crate) fn add_encoded(
        &self,
        config: &CookieConfig,
        encoded: String,
        max_age: Option<Duration>,
    ) -> Result<(), CookieError> {
        let size = config.name().len() + encoded.len();
        if size > MAX_COOKIE_SIZE {
            return Err(CookieError::TooLarge {
                name: config.name().to_owned(),
                size,
            });
        }
        let header = to_header(&config.to_cookie(&encoded, max_age));
        self.record(Change {
            config: config.clone(),
            value: Some(encoded),
            header,
        });
        Ok(())
    }

    /// Tells the browser to delete cookie `config`, whether or not the request sent it: the
    /// removal carries the definition's `Path` and `Domain`, which the browser needs to match.
    pub fn remove(&self, config: &CookieConfig) {
        let mut removal = config.to_cookie("", Some(Duration::ZERO));
        removal.set_expires(time::OffsetDateTime::UNIX_EPOCH);
        let header = to_header(&removal);
        self.record(Change {
            config: config.clone(),
            value: None,
            header,
        });
    }

    fn record(&self, change: Change) {
        self.with_jar(|jar| jar.push(change));
        self.inner.changed.store(true, Ordering::Release);
    }

    /// Whether this request changed any cookie.
    pub fn has_changes(&self) -> bool {
        self.inner.changed.load(Ordering::Acquire) && self.with_jar(|jar| !jar.changes.is_empty())
    }

    /// Appends one `Set-Cookie` per changed cookie to `headers`, in order, and forgets the
    /// changes (calling it twice writes them once).
    ///
    /// [`CookieLayer`](crate::CookieLayer) calls this for you; call it yourself only when using
    /// a jar without the layer.
    #[inline]
    pub fn write_changes(&self, headers: &mut HeaderMap) {
        self.inner.write_changes(headers);
    }

    /// Calls `f` with the raw (encoded) value for `name`: a pending change first, then the
    /// request's first value; `None` when absent or removed. Runs under the jar's lock, so `f`
    /// must not touch the jar.
    pub(crate) fn with_wire<T>(&self, name: &str, f: impl FnOnce(Option<&str>) -> T) -> T {
        self.with_jar(|jar| {
            if let Some(change) = jar.changes.iter().rev().find(|c| c.config.name() == name) {
                return f(change.value.as_deref());
            }
            f(jar.first_request_value(name))
        })
    }
}

fn to_header(cookie: &cookie::Cookie<'_>) -> HeaderValue {
    // Every part is validated: names are tokens, values cookie-octets, attributes visible
    // ASCII, so the header is always valid.
    HeaderValue::try_from(cookie.to_string())
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

impl fmt::Debug for Cookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.with_jar(|jar| {
            f.debug_struct("Cookies")
                .field("request_headers", &jar.headers.len())
                .field(
                    "changed",
                    &jar.changes
                        .iter()
                        .map(|c| c.config.name())
                        .collect::<Vec<_>>(),
                )
                .finish_non_exhaustive()
        })
    }
}

#[cfg(test)]
mod tests {
    use http::header::COOKIE;

    use super::*;
    use crate::jar::tests::{config, set_cookies};

    fn jar(headers: &[&[u8]]) -> Cookies {
        let mut map = HeaderMap::new();
        for h in headers {
            map.append(COOKIE, HeaderValue::from_bytes(h).unwrap());
        }
        Cookies::from_headers(&map)
    }

    #[test]
    fn duplicate_names_keep_the_first_and_expose_all() {
        let cookies = jar(&[b"a=1; a=2"]);
        assert_eq!(cookies.get("a").as_deref(), Some("1"));
        assert_eq!(cookies.get_all("a"), ["1", "2"]);
    }

    #[test]
    fn several_cookie_headers_are_read_in_order() {
        let cookies = jar(&[b"a=1", b"b=2; a=3"]);
        assert_eq!(cookies.get("a").as_deref(), Some("1"));
        assert_eq!(cookies.get("b").as_deref(), Some("2"));
        assert_eq!(
            cookies.request_cookies(),
            [
                ("a".into(), "1".into()),
                ("b".into(), "2".into()),
                ("a".into(), "3".into())
            ]
        );
    }

    #[test]
    fn spoofed_prefix_names_are_not_honoured() {
        let cookies = jar(&["__%48ost-sid=evil; \u{2000}__Host-sid=evil2".as_bytes()]);
        assert_eq!(cookies.get("__Host-sid"), None);
        assert_eq!(cookies.get("__%48ost-sid").as_deref(), Some("evil"));
    }

    #[test]
    fn a_pair_with_invalid_bytes_skips_only_itself() {
        let cookies = jar(&[b"a=1; bad=\xff\x80; b=2"]);
        assert_eq!(cookies.get("a").as_deref(), Some("1"));
        assert_eq!(cookies.get("bad"), None);
        assert_eq!(cookies.get("b").as_deref(), Some("2"));
    }

    #[test]
    fn a_value_with_a_semicolon_cannot_add_an_attribute() {
        let cookies = jar(&[]);
        cookies
            .add(&config("a"), "x; Domain=evil.example; Max-Age=999999")
            .unwrap();
        let [header] = set_cookies(&cookies).try_into().unwrap();
        assert_eq!(
            header,
            "a=x%3B%20Domain=evil.example%3B%20Max-Age=999999; HttpOnly; SameSite=Lax; Secure; Path=/"
        );
        let attributes: Vec<_> = header.split("; ").skip(1).collect();
        assert_eq!(attributes, ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"]);
    }

    #[test]
    fn a_4097_byte_cookie_is_an_error_at_write_time() {
        let cookies = jar(&[]);
        let name = config("n");
        assert!(cookies.add(&name, &"v".repeat(4095)).is_ok());
        assert_eq!(
            cookies.add(&name, &"v".repeat(4096)),
            Err(CookieError::TooLarge {
                name: "n".into(),
                size: 4097
            })
        );
        // Measured after encoding: 1366 spaces are 4098 bytes once encoded.
        assert!(matches!(
            cookies.add(&name, &" ".repeat(1366)),
            Err(CookieError::TooLarge { size: 4099, .. })
        ));
        // The failed writes changed nothing.
        assert_eq!(cookies.get("n").map(|v| v.len()), Some(4095));
    }

    #[test]
    fn removal_uses_the_definition_even_when_the_request_did_not_send_it() {
        let cookies = jar(&[]);
        let scoped = CookieConfig::builder("pref")
            .path("/app")
            .domain("example.com")
            .build()
            .unwrap();
        cookies.remove(&scoped);
        let [header] = set_cookies(&cookies).try_into().unwrap();
        assert!(header.starts_with("pref=; "), "{header}");
        assert!(header.contains("Path=/app"), "{header}");
        assert!(header.contains("Domain=example.com"), "{header}");
        assert!(header.contains("Max-Age=0"), "{header}");
        assert!(
            header.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"),
            "{header}"
        );
    }

    #[test]
    fn changes_are_written_once_in_order_with_last_value_per_cookie() {
        let cookies = jar(&[b"a=old"]);
        cookies.add(&config("b"), "1").unwrap();
        cookies.add(&config("a"), "2").unwrap();
        cookies.add(&config("b"), "3").unwrap();
        cookies.remove(&config("c"));
        assert_eq!(cookies.get("a").as_deref(), Some("2"));
        assert_eq!(cookies.get("b").as_deref(), Some("3"));
        assert_eq!(cookies.get("c"), None);
        let written = set_cookies(&cookies);
        let names: Vec<_> = written
            .iter()
            .map(|h| h.split('=').next().unwrap())
            .collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert!(written[0].starts_with("b=3;"));
        assert!(set_cookies(&cookies).is_empty());
    }

    #[test]
    fn removal_then_read_is_absent() {
        let cookies = jar(&[b"a=1"]);
        cookies.remove(&config("a"));
        assert_eq!(cookies.get("a"), None);
        assert_eq!(
            cookies.get_all("a"),
            ["1"],
            "get_all shows what the request sent"
        );
    }

    #[test]
    fn values_round_trip_through_encoding() {
        let cookies = jar(&[]);
        let value = "é; ,\"\\%";
        cookies.add(&config("v"), value).unwrap();
        let [header] = set_cookies(&cookies).try_into().unwrap();
        let wire = header.split("; ").next().unwrap();
        let next = jar(&[wire.as_bytes()]);
        assert_eq!(next.get("v").as_deref(), Some(value));
    }

    #[test]
    fn debug_shows_names_but_no_values() {
        let cookies = jar(&[b"sid=secret-value"]);
        cookies.add(&config("token"), "another-secret").unwrap();
        let text = format!("{cookies:?}");
        assert!(text.contains("token"));
        assert!(!text.contains("secret"));
    }
}
