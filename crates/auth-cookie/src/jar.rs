//! The per-request cookie jar and its `Cookies` handle.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use smallvec::SmallVec;
use time::Duration;

use crate::parse::{decode_value, encode_value, find_value, pairs_of};
use crate::{CookieConfig, CookieError};

/// The longest cookie browsers keep: name plus value, in bytes (RFC 6265bis, section 5.6).
pub const MAX_COOKIE_SIZE: usize = 4096;

/// A handle to the request's cookies and the cookies the response will set.
///
/// [`CookieLayer`](crate::CookieLayer) puts one into the request extensions; every clone refers
/// to the same jar, so a handler, a session layer and a JWT layer can all read and write it.
/// On the way out the layer writes one `Set-Cookie` per changed cookie, in the order of the
/// changes (a cookie changed twice keeps its first position and its last value).
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
    inner: Arc<Shared>,
}

struct Shared {
    /// Set once any change is recorded, so an untouched request skips the lock on the way out.
    changed: AtomicBool,
    jar: Mutex<Jar>,
}

struct Jar {
    headers: RequestHeaders,
    /// Built on first read: where every pair's name and raw value sit in the headers.
    index: Option<SmallVec<[Entry; 8]>>,
    changes: Vec<Change>,
}

/// The request's `Cookie` header values, kept as clones rather than copied: a server's header
/// values are slices of the buffer the request was read into (hyper's HTTP/1 parser shares one
/// `Bytes` between them), so a clone is a reference-count increment. Dropped when the jar is
/// recycled, so a pooled jar keeps no request's buffer alive.
#[derive(Default)]
struct RequestHeaders {
    /// The first `Cookie` header (usually the only one).
    first: Option<HeaderValue>,
    /// Any further `Cookie` headers, in order.
    rest: Vec<HeaderValue>,
}

impl RequestHeaders {
    fn fill(&mut self, headers: &HeaderMap) {
        let mut values = headers.get_all(COOKIE).into_iter();
        self.first = values.next().cloned();
        self.rest.clear();
        if let Some(second) = values.next() {
            self.rest.push(second.clone());
            self.rest.extend(values.cloned());
        }
    }

    fn clear(&mut self) {
        self.first = None;
        self.rest.clear();
    }

    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// The bytes of header `i` (empty when out of range).
    fn get(&self, i: usize) -> &[u8] {
        let value = match i.checked_sub(1) {
            None => self.first.as_ref(),
            Some(i) => self.rest.get(i),
        };
        value.map(HeaderValue::as_bytes).unwrap_or_default()
    }
}

thread_local! {
    /// Jars whose request and response are done, kept for the next request on this thread.
    static POOL: RefCell<Vec<Arc<Shared>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many idle jars per thread.
const POOL_MAX: usize = 32;
/// A jar that held more `Cookie` headers than this is freed, not kept.
const POOL_MAX_HEADERS: usize = 8;

impl Shared {
    fn new() -> Self {
        Self {
            changed: AtomicBool::new(false),
            jar: Mutex::new(Jar {
                headers: RequestHeaders::default(),
                index: None,
                changes: Vec::new(),
            }),
        }
    }

    /// Empties a jar for the next request (whose cookies then fill it).
    fn reset(&mut self, headers: &HeaderMap) {
        *self.changed.get_mut() = false;
        let jar = self
            .jar
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        jar.headers.fill(headers);
        jar.index = None;
        jar.changes.clear();
    }
}

/// One pair's position: header index and byte ranges (all pairs are valid UTF-8).
#[derive(Clone, Copy)]
struct Entry {
    header: usize,
    name: (usize, usize),
    value: (usize, usize),
}

struct Change {
    config: CookieConfig,
    /// The encoded value, or `None` for a removal.
    value: Option<String>,
    header: HeaderValue,
}

/// The raw (not percent-decoded) value of the first request cookie called `name`, read
/// straight from the `Cookie` header(s) without building a jar, by the same rules as
/// [`Cookies`] (names compared byte for byte, bad pairs skipped).
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

impl Cookies {
    /// A jar holding the `Cookie` headers of a request and no changes.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let recycled = POOL
            .try_with(|pool| pool.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        let mut inner = recycled.unwrap_or_else(|| Arc::new(Shared::new()));
        if let Some(shared) = Arc::get_mut(&mut inner) {
            shared.reset(headers);
        } else {
            // Never pooled while shared; built fresh should that ever change.
            let mut shared = Shared::new();
            shared.reset(headers);
            inner = Arc::new(shared);
        }
        Self { inner }
    }

    /// Gives the jar back to this thread's pool when no other handle to it is left (the
    /// request and every clone are gone), so the next request reuses its buffers.
    pub(crate) fn recycle(self) {
        let Self { mut inner } = self;
        let Some(shared) = Arc::get_mut(&mut inner) else {
            return;
        };
        let jar = shared
            .jar
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The request's header values go now, not when the jar is next used.
        jar.headers.clear();
        if jar.headers.rest.capacity() > POOL_MAX_HEADERS || jar.changes.capacity() > 16 {
            return;
        }
        let _ = POOL.try_with(|pool| {
            if let Ok(mut pool) = pool.try_borrow_mut()
                && pool.len() < POOL_MAX
            {
                pool.push(inner);
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, Jar> {
        // A panic while holding the lock cannot leave the jar half-written (every mutation
        // is a single push or replace), so a poisoned lock is safe to use.
        self.inner
            .jar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let mut jar = self.lock();
        jar.ensure_index();
        jar.entries()
            .filter(|(n, _)| *n == name)
            .map(|(_, value)| decode_value(value).into_owned())
            .collect()
    }

    /// Every (name, value) pair of the request, in header order, values decoded.
    pub fn request_cookies(&self) -> Vec<(String, String)> {
        let mut jar = self.lock();
        jar.ensure_index();
        jar.entries()
            .map(|(name, value)| (name.to_owned(), decode_value(value).into_owned()))
            .collect()
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
        self.lock().push(change);
        self.inner.changed.store(true, Ordering::Release);
    }

    /// Whether this request changed any cookie.
    pub fn has_changes(&self) -> bool {
        self.inner.changed.load(Ordering::Acquire) && !self.lock().changes.is_empty()
    }

    /// Appends one `Set-Cookie` per changed cookie to `headers`, in order, and forgets the
    /// changes (calling it twice writes them once).
    ///
    /// [`CookieLayer`](crate::CookieLayer) calls this for you; call it yourself only when using
    /// a jar without the layer.
    #[inline]
    pub fn write_changes(&self, headers: &mut HeaderMap) {
        if self.inner.changed.load(Ordering::Acquire) {
            self.write_recorded(headers);
        }
    }

    fn write_recorded(&self, headers: &mut HeaderMap) {
        let changes = std::mem::take(&mut self.lock().changes);
        for change in changes {
            headers.append(SET_COOKIE, change.header);
        }
    }

    /// Calls `f` with the raw (encoded) value for `name`: a pending change first, then the
    /// request's first value; `None` when absent or removed. Runs under the jar's lock, so `f`
    /// must not touch the jar.
    pub(crate) fn with_wire<T>(&self, name: &str, f: impl FnOnce(Option<&str>) -> T) -> T {
        let mut jar = self.lock();
        if let Some(change) = jar.changes.iter().rev().find(|c| c.config.name() == name) {
            return f(change.value.as_deref());
        }
        f(jar.first_request_value(name))
    }
}

impl Jar {
    /// Parses the request headers into the index, once.
    fn ensure_index(&mut self) {
        if self.index.is_some() {
            return;
        }
        let headers = &self.headers;
        self.index = Some({
            let mut index = SmallVec::new();
            for i in 0..headers.len() {
                let header = headers.get(i);
                let base = header.as_ptr() as usize;
                for (name, value) in pairs_of(header) {
                    let start = |s: &str| s.as_ptr() as usize - base;
                    index.push(Entry {
                        header: i,
                        name: (start(name), start(name) + name.len()),
                        value: (start(value), start(value) + value.len()),
                    });
                }
            }
            index
        });
    }

    /// Every request pair as raw (name, value); empty until [`ensure_index`](Self::ensure_index).
    fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.index.as_deref().unwrap_or_default().iter().map(|e| {
            (
                Self::slice(&self.headers, e.header, e.name),
                Self::slice(&self.headers, e.header, e.value),
            )
        })
    }

    fn slice(headers: &RequestHeaders, header: usize, range: (usize, usize)) -> &str {
        // Validated when the index was built; re-checked here because this crate has no
        // `unsafe` to skip it.
        std::str::from_utf8(Self::bytes(headers, header, range)).unwrap_or_default()
    }

    fn first_request_value(&mut self, name: &str) -> Option<&str> {
        self.ensure_index();
        let headers = &self.headers;
        let entry = self
            .index
            .as_deref()
            .unwrap_or_default()
            .iter()
            .find(|e| Self::bytes(headers, e.header, e.name) == name.as_bytes())?;
        Some(Self::slice(headers, entry.header, entry.value))
    }

    fn bytes(headers: &RequestHeaders, header: usize, (from, to): (usize, usize)) -> &[u8] {
        headers.get(header).get(from..to).unwrap_or_default()
    }

    /// Records a change; a change to the same cookie (name, path, domain) replaces the earlier
    /// one in place, so each cookie gets one `Set-Cookie`.
    fn push(&mut self, change: Change) {
        let same = |c: &Change| {
            c.config.name() == change.config.name()
                && c.config.path() == change.config.path()
                && c.config.domain() == change.config.domain()
        };
        match self.changes.iter_mut().find(|c| same(c)) {
            Some(existing) => *existing = change,
            None => self.changes.push(change),
        }
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
        let jar = self.lock();
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jar(headers: &[&[u8]]) -> Cookies {
        let mut map = HeaderMap::new();
        for h in headers {
            map.append(COOKIE, HeaderValue::from_bytes(h).unwrap());
        }
        Cookies::from_headers(&map)
    }

    fn config(name: &str) -> CookieConfig {
        CookieConfig::builder(name).build().unwrap()
    }

    #[test]
    fn a_recycled_jar_keeps_nothing_of_its_last_request() {
        let first = jar(&[b"a=1; b=2"]);
        first.add(&config("c"), "3").unwrap();
        assert_eq!(first.get("a").as_deref(), Some("1"));
        assert_eq!(set_cookies(&first).len(), 1);
        first.add(&config("d"), "4").unwrap();
        let reused = Arc::as_ptr(&first.inner);
        first.recycle();
        // The next jar on this thread is the recycled one: only its own request shows.
        let next = jar(&[b"x=9"]);
        assert_eq!(Arc::as_ptr(&next.inner), reused, "the jar was not recycled");
        assert_eq!(next.get("a"), None);
        assert_eq!(next.get("c"), None);
        assert_eq!(next.get("d"), None);
        assert_eq!(next.get("x").as_deref(), Some("9"));
        assert!(!next.has_changes());
        assert!(set_cookies(&next).is_empty());
    }

    #[test]
    fn a_recycled_jar_keeps_no_request_buffer_alive() {
        // A header value sharing a buffer, as a server's share their read buffer.
        let buffer = bytes::Bytes::copy_from_slice(b"a=1; b=2");
        let mut map = HeaderMap::new();
        map.insert(
            COOKIE,
            HeaderValue::from_maybe_shared(buffer.clone()).unwrap(),
        );
        let cookies = Cookies::from_headers(&map);
        drop(map);
        assert!(!buffer.is_unique(), "the jar holds the request's header");
        assert_eq!(cookies.get("b").as_deref(), Some("2"));
        let reused = Arc::as_ptr(&cookies.inner);
        cookies.recycle();
        assert!(
            buffer.is_unique(),
            "a pooled jar still holds the request's header"
        );
        let next = jar(&[b"c=3"]);
        assert_eq!(Arc::as_ptr(&next.inner), reused, "the jar was not recycled");
        assert_eq!(next.get("a"), None);
    }

    #[test]
    fn a_jar_still_held_elsewhere_is_not_recycled() {
        let first = jar(&[b"a=1"]);
        let held = first.clone();
        first.recycle();
        let next = jar(&[b"b=2"]);
        assert!(!Arc::ptr_eq(&next.inner, &held.inner));
        next.add(&config("c"), "3").unwrap();
        // The handle kept elsewhere still sees its own request and no foreign change.
        assert_eq!(held.get("a").as_deref(), Some("1"));
        assert_eq!(held.get("b"), None);
        assert!(!held.has_changes());
        assert_eq!(next.get("a"), None);
    }

    fn set_cookies(cookies: &Cookies) -> Vec<String> {
        let mut headers = HeaderMap::new();
        cookies.write_changes(&mut headers);
        headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
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
