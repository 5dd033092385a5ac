//! Where a request carries its token.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, Request, header};

use crate::ConfigError;

/// Where the layer looks for the token; several sources are tried in order.
///
/// - [`bearer`](Self::bearer) (the default): `Authorization: Bearer <token>`, scheme
///   case-insensitive (RFC 6750, 2.1). More than one `Authorization` header, or a `Bearer`
///   credential that is not a `b64token`, is a malformed request (401 `invalid_token`).
///   Another scheme (`Basic ...`) counts as "no token here".
/// - [`header`](Self::header): the whole value of a custom header.
/// - [`cookie`](Self::cookie): the value of a cookie.
/// - [`custom`](Self::custom): your closure.
///
/// The first source that finds a token wins; a later source is not tried when that token is
/// invalid.
///
/// ```
/// use auth_jwt::TokenSource;
///
/// let source = TokenSource::bearer().or(TokenSource::cookie("access_token")?);
/// # let _ = source;
/// # Ok::<(), auth_jwt::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct TokenSource {
    sources: Arc<[Kind]>,
}

#[derive(Clone)]
enum Kind {
    Bearer,
    Header(HeaderName),
    Cookie(Arc<str>),
    Custom(Arc<CustomFn>),
}

type CustomFn = dyn Fn(&HeaderMap) -> Option<String> + Send + Sync;

/// What a source found.
pub(crate) enum Found<'a> {
    /// No token in any source.
    Missing,
    /// A credential is present but cannot be a token.
    Malformed,
    /// A token, borrowed from the request (bytes: the verifier only needs base64url and
    /// dots, so no UTF-8 validation is spent on it).
    Borrowed(&'a [u8]),
    /// A token returned by a custom source.
    Owned(String),
}

impl TokenSource {
    /// `Authorization: Bearer <token>`.
    pub fn bearer() -> Self {
        Self::one(Kind::Bearer)
    }

    /// The whole value of header `name` (for example `X-Access-Token`).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeaderName`] when `name` is not a valid header name.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            ConfigError::InvalidHeaderName {
                name: name.chars().take(64).collect(),
            }
        })?;
        Ok(Self::one(Kind::Header(name)))
    }

    /// The value of the cookie `name`, read from the `Cookie` header(s).
    ///
    /// Names are compared byte for byte: never percent-decoded, never trimmed beyond the
    /// `; ` separators, so `__%48ost-token` is not `__Host-token`. The first cookie with the
    /// name wins; pairs that are not UTF-8 are skipped.
    ///
    /// # Security
    ///
    /// A token in a cookie is sent by the browser on cross-site requests too: protect unsafe
    /// methods with a CSRF check (auth-cookie's CSRF layer) when you use this source.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidCookieName`] when `name` is empty or holds a character that is
    /// not allowed in a cookie name (RFC 6265 token).
    pub fn cookie(name: &str) -> Result<Self, ConfigError> {
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !valid {
            return Err(ConfigError::InvalidCookieName {
                name: name.chars().take(64).collect(),
            });
        }
        Ok(Self::one(Kind::Cookie(name.into())))
    }

    /// A closure that reads the token from the request headers (`None`: no token).
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&HeaderMap) -> Option<String> + Send + Sync + 'static,
    {
        Self::one(Kind::Custom(Arc::new(f)))
    }

    /// Tries `self`, then `next`.
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // builder-style chaining reads better by value
    pub fn or(self, next: Self) -> Self {
        let sources: Vec<Kind> = self
            .sources
            .iter()
            .chain(next.sources.iter())
            .cloned()
            .collect();
        Self {
            sources: sources.into(),
        }
    }

    fn one(kind: Kind) -> Self {
        Self {
            sources: Arc::new([kind]),
        }
    }

    pub(crate) fn find<'r, B>(&self, req: &'r Request<B>) -> Found<'r> {
        let headers = req.headers();
        for source in self.sources.iter() {
            let found = match source {
                Kind::Bearer => bearer(headers),
                Kind::Header(name) => header_value(headers, name),
                Kind::Cookie(name) => cookie(headers, name),
                Kind::Custom(f) => f(headers).map_or(Found::Missing, Found::Owned),
            };
            if !matches!(found, Found::Missing) {
                return found;
            }
        }
        Found::Missing
    }
}

impl Default for TokenSource {
    fn default() -> Self {
        Self::bearer()
    }
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for source in self.sources.iter() {
            match source {
                Kind::Bearer => list.entry(&"bearer"),
                Kind::Header(name) => list.entry(&format_args!("header({name})")),
                Kind::Cookie(name) => list.entry(&format_args!("cookie({name})")),
                Kind::Custom(_) => list.entry(&"custom"),
            };
        }
        list.finish()
    }
}

fn bearer(headers: &HeaderMap) -> Found<'_> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Found::Missing;
    };
    if values.next().is_some() {
        return Found::Malformed;
    }
    let bytes = value.as_bytes();
    let (Some(scheme), Some(rest)) = (bytes.get(..6), bytes.get(6..)) else {
        return Found::Missing;
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Found::Missing;
    }
    if rest.first() != Some(&b' ') {
        // `Bearerxyz` is another scheme; `Bearer` alone is a malformed credential.
        return if rest.is_empty() {
            Found::Malformed
        } else {
            Found::Missing
        };
    }
    // The token's characters are not checked against RFC 6750's b64token here: the layer
    // decodes all three parts as base64url, a stricter alphabet, and answers `Malformed` for
    // any other byte (one pass over the token instead of two).
    let token = rest.trim_ascii();
    if token.is_empty() {
        Found::Malformed
    } else {
        Found::Borrowed(token)
    }
}

fn header_value<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Found<'h> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Found::Missing,
        (Some(_), Some(_)) => Found::Malformed,
        (Some(value), None) => value.to_str().map_or(Found::Malformed, |v| {
            let v = v.trim();
            if v.is_empty() {
                Found::Missing
            } else {
                Found::Borrowed(v.as_bytes())
            }
        }),
    }
}

/// The request cookie `name`, by auth-cookie's parsing rules (the same a `CookieLayer` jar
/// uses: names compared byte for byte, only SP/HTAB trimmed, first value wins, bad pairs
/// skipped), without building a jar.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Found<'h> {
    match auth_cookie::request_cookie(headers, name) {
        Some(value) if !value.is_empty() => Found::Borrowed(value.as_bytes()),
        _ => Found::Missing,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn req(headers: &[(&str, &[u8])]) -> Request<()> {
        let mut req = Request::new(());
        for (name, value) in headers {
            req.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        req
    }

    fn found(source: &TokenSource, r: &Request<()>) -> Option<String> {
        match source.find(r) {
            Found::Borrowed(t) => Some(String::from_utf8(t.to_vec()).unwrap()),
            Found::Owned(t) => Some(t),
            Found::Missing => None,
            Found::Malformed => Some("<malformed>".to_owned()),
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let s = TokenSource::bearer();
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let value = format!("{scheme} a.b.c");
            let r = req(&[("authorization", value.as_bytes())]);
            assert_eq!(found(&s, &r).as_deref(), Some("a.b.c"), "{scheme}");
        }
    }

    #[test]
    fn other_schemes_are_no_token_and_junk_is_malformed() {
        let s = TokenSource::bearer();
        assert_eq!(
            found(&s, &req(&[("authorization", b"Basic dXNlcjpwYXNz")])),
            None
        );
        assert_eq!(
            found(&s, &req(&[("authorization", b"Bearerx a.b.c")])),
            None
        );
        for bad in [&b"Bearer"[..], b"Bearer ", b"Bearer  \t "] {
            assert_eq!(
                found(&s, &req(&[("authorization", bad)])).as_deref(),
                Some("<malformed>"),
                "{bad:?}"
            );
        }
        // Characters are the decoders' business (the layer answers `Malformed`, tested in
        // tests/layer.rs): the source hands the credential over as sent.
        for (junk, token) in [(&b"Bearer a b"[..], "a b"), (b"Bearer =ab", "=ab")] {
            assert_eq!(
                found(&s, &req(&[("authorization", junk)])).as_deref(),
                Some(token)
            );
        }
        let two = req(&[
            ("authorization", b"Bearer a.b.c"),
            ("authorization", b"Bearer d.e.f"),
        ]);
        assert_eq!(found(&s, &two).as_deref(), Some("<malformed>"));
    }

    #[test]
    fn cookie_names_are_compared_byte_exactly() {
        let s = TokenSource::cookie("__Host-token").unwrap();
        let r = req(&[(
            "cookie",
            b"__%48ost-token=evil; \xe2\x80\x80__Host-token=evil2; __host-token=evil3; __Host-token=good; __Host-token=second",
        )]);
        assert_eq!(found(&s, &r).as_deref(), Some("good"));
    }

    #[test]
    fn cookie_source_skips_non_utf8_pairs_and_reads_every_cookie_header() {
        let s = TokenSource::cookie("at").unwrap();
        let r = req(&[("cookie", b"x=\xff\xfe; y=1"), ("cookie", b"at=tok")]);
        assert_eq!(found(&s, &r).as_deref(), Some("tok"));
        assert_eq!(found(&s, &req(&[("cookie", b"nameless; =v")])), None);
    }

    #[test]
    fn sources_are_tried_in_order() {
        let s = TokenSource::header("x-token")
            .unwrap()
            .or(TokenSource::custom(|_| Some("from-closure".to_owned())));
        assert_eq!(
            found(&s, &req(&[("x-token", b"hdr")])).as_deref(),
            Some("hdr")
        );
        assert_eq!(found(&s, &req(&[])).as_deref(), Some("from-closure"));
    }

    #[test]
    fn invalid_source_names_are_refused() {
        assert!(TokenSource::cookie("").is_err());
        assert!(TokenSource::cookie("a=b").is_err());
        assert!(TokenSource::cookie("a b").is_err());
        assert!(TokenSource::header("bad header").is_err());
    }
}
