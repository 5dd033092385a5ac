//! The per-request cookie jar behind [`Cookies`]: bound to the request's `Cookie` headers on
//! first use, indexed on first read, its changes recorded in order. The handle itself, what
//! handlers use, is in `handle`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use smallvec::SmallVec;

use crate::CookieConfig;
use crate::parse::pairs_of;

mod handle;

pub use handle::{Cookies, MAX_COOKIE_SIZE};

/// What [`CookieLayer`](crate::CookieLayer) puts into the request extensions: the request's
/// jar, not yet bound to the request's `Cookie` headers. Private, so the only way to a
/// [`Cookies`] handle is through a constructor that binds them ([`Cookies::from_request`],
/// [`Cookies::from_parts`]).
#[derive(Clone)]
pub(crate) struct RequestJar(Arc<Shared>);

/// One request's jar. Small on purpose: a request whose cookies nobody touches allocates
/// only this (no header clones, no index, no change list), the cost of a shared flag.
struct Shared {
    /// Set once any change is recorded, so an untouched request skips the lock on the way out.
    changed: AtomicBool,
    /// `None` until the first handle binds the request's `Cookie` headers.
    jar: Mutex<Option<Box<Jar>>>,
}

struct Jar {
    headers: RequestHeaders,
    /// Built on first read: where every pair's name and raw value sit in the headers.
    index: Option<SmallVec<[Entry; 8]>>,
    changes: Vec<Change>,
}

/// The request's `Cookie` header values, kept as clones rather than copied: a server's header
/// values are slices of the buffer the request was read into (hyper's HTTP/1 parser shares one
/// `Bytes` between them), so a clone is a reference-count increment. Taken when the jar is
/// bound, dropped with the jar when the last handle goes.
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

impl Shared {
    fn new(jar: Option<Box<Jar>>) -> Self {
        Self {
            changed: AtomicBool::new(false),
            jar: Mutex::new(jar),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Box<Jar>>> {
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
        if let Some(jar) = self.lock().as_deref_mut() {
            for change in jar.changes.drain(..) {
                headers.append(SET_COOKIE, change.header);
            }
        }
    }
}

impl Jar {
    /// A jar bound to `headers` with no changes.
    fn bound(headers: &HeaderMap) -> Box<Self> {
        let mut jar = Box::new(Self {
            headers: RequestHeaders::default(),
            index: None,
            changes: Vec::new(),
        });
        jar.headers.fill(headers);
        jar
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
                *jar = Some(Jar::bound(headers));
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn config(name: &str) -> CookieConfig {
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

    #[test]
    fn a_jar_held_after_its_request_sees_only_its_own() {
        let slot = RequestJar::new();
        let held = slot.bind(&headers(&["a=1"]));
        drop(slot);
        let next = RequestJar::new().bind(&headers(&["b=2"]));
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

    pub(super) fn set_cookies(cookies: &Cookies) -> Vec<String> {
        let mut headers = HeaderMap::new();
        cookies.write_changes(&mut headers);
        headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }
}
