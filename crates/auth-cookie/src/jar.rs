//! The per-request cookie jar and its `Cookies` handle.

use std::cell::RefCell;
use std::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{COOKIE, SET_COOKIE};
use http::request::Parts;
use http::{Extensions, HeaderMap, HeaderValue, Request};
use smallvec::SmallVec;
use time::Duration;

use crate::parse::{decode_value, encode_value, find_raw_value, find_value, pairs_of};
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
    inner: Arc<Shared>,
}

/// What [`CookieLayer`](crate::CookieLayer) puts into the request extensions: the request's
/// jar, not yet bound to the request's `Cookie` headers. Private, so the only way to a
/// [`Cookies`] handle is through a constructor that binds them ([`Cookies::from_request`],
/// [`Cookies::from_parts`]).
#[derive(Clone)]
pub(crate) struct RequestJar(Arc<Shared>);

/// One request's jar. Small on purpose: a request whose cookies nobody touches allocates
/// only this (no header clones, no index, no change list), the cost of a shared flag, and
/// takes no part in the thread's pool of spare jars.
struct Shared {
    /// Set once any change is recorded, so an untouched request skips the lock on the way out.
    changed: AtomicBool,
    /// `None` until the first handle binds the request's `Cookie` headers.
    jar: Mutex<Slot>,
}

/// The jar behind a request's lock. `ManuallyDrop` because `Shared`'s `Drop` always takes the
/// jar out (to keep it as a spare), so the field needs no drop code of its own: without it an
/// unbound jar's drop pays a second, out-of-line check.
type Slot = ManuallyDrop<Option<Box<Jar>>>;

struct Jar {
    headers: RequestHeaders,
    /// Built on first read: where every pair's name and raw value sit in the headers.
    index: Option<SmallVec<[Entry; 8]>>,
    changes: Vec<Change>,
}

/// The request's `Cookie` header values, kept as clones rather than copied: a server's header
/// values are slices of the buffer the request was read into (hyper's HTTP/1 parser shares one
/// `Bytes` between them), so a clone is a reference-count increment. Taken when the jar is
/// bound, dropped when the last handle goes (before the jar is kept as a spare), so a spare
/// jar keeps no request's buffer alive.
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
    /// Jars whose request is done, emptied, kept for the next request on this thread that
    /// binds one. Only the boxed jar is pooled, never the shared `Arc`: a `Box` is unique, so
    /// taking and returning one needs no atomic operation, and an untouched request never
    /// gets here.
    #[allow(clippy::vec_box)] // a jar moves between the pool and a request without a copy
    static SPARE: RefCell<Vec<Box<Jar>>> = const { RefCell::new(Vec::new()) };
}

/// At most this many spare jars per thread.
const SPARE_MAX: usize = 32;
/// A jar that held more `Cookie` headers or changes than this is freed, not kept.
const SPARE_MAX_HEADERS: usize = 8;
const SPARE_MAX_CHANGES: usize = 16;

impl Shared {
    fn new(jar: Option<Box<Jar>>) -> Self {
        Self {
            changed: AtomicBool::new(false),
            jar: Mutex::new(ManuallyDrop::new(jar)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // A panic while holding the lock cannot leave the jar half-written (every mutation
        // is a single push or replace), so a poisoned lock is safe to use.
        self.jar
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends the recorded changes to `headers` as `Set-Cookie` and forgets them (see
    /// [`Cookies::write_changes`]); no lock when nothing changed.
    #[inline]
    fn write_changes(&self, headers: &mut HeaderMap) {
        if self.changed.load(Ordering::Acquire) {
            self.write_recorded(headers);
        }
    }

    fn write_recorded(&self, headers: &mut HeaderMap) {
        // Drained, not taken: the list keeps its buffer for the jar's next request.
        if let Some(jar) = self.lock().as_deref_mut() {
            for change in jar.changes.drain(..) {
                headers.append(SET_COOKIE, change.header);
            }
        }
    }
}

impl Drop for Shared {
    /// The last handle is gone: the jar, emptied, becomes a spare for this thread. Inlined so
    /// an unbound jar's drop is one branch.
    #[inline]
    fn drop(&mut self) {
        let slot: &mut Option<Box<Jar>> = self
            .jar
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(jar) = slot.take() {
            jar.recycle();
        }
    }
}

impl Jar {
    /// A jar bound to `headers` with no changes: a spare one when this thread has one.
    fn bound(headers: &HeaderMap) -> Box<Self> {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok()?.pop())
            .ok()
            .flatten();
        let mut jar = spare.unwrap_or_else(|| {
            Box::new(Self {
                headers: RequestHeaders::default(),
                index: None,
                changes: Vec::new(),
            })
        });
        // A spare was emptied when kept: only the headers are left to set.
        jar.headers.fill(headers);
        jar
    }

    /// Empties the jar (the request's header values and changes go now) and keeps it as a
    /// spare unless the pool is full or the jar grew unusually large.
    fn recycle(mut self: Box<Self>) {
        self.headers.first = None;
        self.headers.rest.clear();
        self.index = None;
        self.changes.clear();
        if self.headers.rest.capacity() > SPARE_MAX_HEADERS
            || self.changes.capacity() > SPARE_MAX_CHANGES
        {
            return;
        }
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut()
                && spare.len() < SPARE_MAX
            {
                spare.push(self);
            }
        });
    }
}

impl RequestJar {
    /// A fresh, unbound jar for one request.
    #[inline]
    pub(crate) fn new() -> Self {
        Self(Arc::new(Shared::new(None)))
    }

    /// Appends the changes any handle recorded to `headers` as `Set-Cookie` (see
    /// [`Cookies::write_changes`]); an untouched jar is one atomic load.
    #[inline]
    pub(crate) fn write_changes(&self, headers: &mut HeaderMap) {
        self.0.write_changes(headers);
    }

    /// A handle to this jar, binding it to `headers` unless a handle already did.
    fn bind(&self, headers: &HeaderMap) -> Cookies {
        {
            let mut jar = self.0.lock();
            if jar.is_none() {
                **jar = Some(Jar::bound(headers));
            }
        }
        Cookies {
            inner: Arc::clone(&self.0),
        }
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

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(COOKIE, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn a_layer_jar_is_unbound_and_empty_until_a_handle_binds_it() {
        let slot = RequestJar::new();
        assert!(
            slot.0.lock().is_none(),
            "nothing allocated before first use"
        );
        let mut response = HeaderMap::new();
        slot.write_changes(&mut response);
        assert!(response.is_empty());
        let cookies = slot.bind(&headers(&["a=1"]));
        assert!(slot.0.lock().is_some());
        assert_eq!(cookies.get("a").as_deref(), Some("1"));
    }

    #[test]
    fn the_first_binding_wins_and_later_handles_share_it() {
        let slot = RequestJar::new();
        let first = slot.bind(&headers(&["a=1"]));
        let second = slot.bind(&headers(&["a=2; b=3"]));
        assert!(Arc::ptr_eq(&first.inner, &second.inner));
        assert_eq!(second.get("a").as_deref(), Some("1"));
        assert_eq!(second.get("b"), None);
        second.add(&config("c"), "4").unwrap();
        assert_eq!(first.get("c").as_deref(), Some("4"));
        let mut response = HeaderMap::new();
        slot.write_changes(&mut response);
        assert_eq!(response.get_all(SET_COOKIE).iter().count(), 1);
    }

    #[test]
    fn a_jar_keeps_the_request_buffer_only_while_a_handle_lives() {
        // A header value sharing a buffer, as a server's share their read buffer.
        let buffer = bytes::Bytes::copy_from_slice(b"a=1; b=2");
        let mut map = HeaderMap::new();
        map.insert(
            COOKIE,
            HeaderValue::from_maybe_shared(buffer.clone()).unwrap(),
        );
        let slot = RequestJar::new();
        let cookies = slot.bind(&map);
        drop(map);
        assert!(!buffer.is_unique(), "the jar holds the request's header");
        assert_eq!(cookies.get("b").as_deref(), Some("2"));
        drop(cookies);
        drop(slot);
        assert!(buffer.is_unique(), "a finished jar still holds the header");
    }

    fn jar_address(cookies: &Cookies) -> *const Jar {
        cookies
            .inner
            .lock()
            .as_deref()
            .map(std::ptr::from_ref)
            .unwrap()
    }

    #[test]
    fn a_recycled_jar_keeps_nothing_of_its_last_request() {
        let first = RequestJar::new().bind(&headers(&["a=1; b=2"]));
        first.add(&config("c"), "3").unwrap();
        assert_eq!(first.get("a").as_deref(), Some("1"));
        let reused = jar_address(&first);
        drop(first);
        // The next jar bound on this thread is the spare: only its own request shows.
        let next = RequestJar::new().bind(&headers(&["x=9"]));
        assert_eq!(jar_address(&next), reused, "the jar was not recycled");
        assert_eq!(next.get("a"), None);
        assert_eq!(next.get("c"), None);
        assert_eq!(next.get("x").as_deref(), Some("9"));
        assert_eq!(next.request_cookies(), [("x".into(), "9".into())]);
        assert!(!next.has_changes());
        assert!(set_cookies(&next).is_empty());
    }

    #[test]
    fn a_jar_still_held_elsewhere_is_not_recycled() {
        let slot = RequestJar::new();
        let held = slot.bind(&headers(&["a=1"]));
        drop(slot);
        let next = RequestJar::new().bind(&headers(&["b=2"]));
        assert_ne!(jar_address(&next), jar_address(&held));
        next.add(&config("c"), "3").unwrap();
        // The handle kept elsewhere still sees its own request and no foreign change.
        assert_eq!(held.get("a").as_deref(), Some("1"));
        assert_eq!(held.get("b"), None);
        assert!(!held.has_changes());
    }

    #[test]
    fn each_request_gets_its_own_jar() {
        let first = RequestJar::new().bind(&headers(&["a=1"]));
        let next = RequestJar::new().bind(&headers(&["b=2"]));
        assert!(!Arc::ptr_eq(&next.inner, &first.inner));
        next.add(&config("c"), "3").unwrap();
        assert_eq!(first.get("a").as_deref(), Some("1"));
        assert_eq!(first.get("b"), None);
        assert_eq!(first.get("c"), None);
        assert!(!first.has_changes());
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
