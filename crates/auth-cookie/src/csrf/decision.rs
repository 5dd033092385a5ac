//! The decision itself, as a pure function of the request head.

use std::sync::Arc;

use http::header::{HOST, ORIGIN};
use http::{HeaderMap, Method, Uri};

use super::{CsrfRejectionKind, CsrfTokens};
use crate::ConfigError;

/// Everything the decision depends on besides the request.
#[derive(Debug, Clone, Default)]
pub(super) struct Policy {
    /// Exact, lower-cased `scheme://host[:port]`.
    pub(super) trusted_origins: Vec<Arc<str>>,
    pub(super) exempt_paths: Vec<Arc<str>>,
    /// Prefixes ending in `/`.
    pub(super) exempt_prefixes: Vec<Arc<str>>,
    pub(super) tokens: Option<CsrfTokens>,
    /// The form field a token may come in (form mode only).
    pub(super) form_field: Option<Arc<str>>,
}

/// Why a request passed (for tests and tracing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pass {
    SafeMethod,
    FetchMetadata,
    NoOrigin,
    SameHost,
    TrustedOrigin,
    ExemptPath,
    Token,
}

impl Policy {
    pub(super) fn decide(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        binding: Option<&str>,
    ) -> Result<Pass, CsrfRejectionKind> {
        if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            return Ok(Pass::SafeMethod);
        }
        match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"same-origin" | b"none") => return Ok(Pass::FetchMetadata),
            Some(_) => {
                // `same-site`, `cross-site` or anything unknown: only exemptions help.
                return self
                    .exemption(uri, headers)
                    .ok_or(CsrfRejectionKind::CrossSite);
            }
            None => {}
        }
        let Some(origin) = headers.get(ORIGIN) else {
            // Neither header: a non-browser client, or a very old browser.
            return match &self.tokens {
                None => Ok(Pass::NoOrigin),
                Some(tokens) => {
                    if let Some(pass) = self.exempt_path(uri) {
                        return Ok(pass);
                    }
                    let token = headers
                        .get(tokens.header_name())
                        .and_then(|v| v.to_str().ok())
                        .ok_or(CsrfRejectionKind::MissingToken)?;
                    let binding = binding.ok_or(CsrfRejectionKind::InvalidToken)?;
                    if tokens.verify(binding, token) {
                        Ok(Pass::Token)
                    } else {
                        Err(CsrfRejectionKind::InvalidToken)
                    }
                }
            };
        };
        let origin = origin.to_str().unwrap_or_default();
        if let Some(host) = origin_host(origin)
            && let Some(request_host) = request_host(uri, headers)
            && host.eq_ignore_ascii_case(request_host)
        {
            return Ok(Pass::SameHost);
        }
        self.exemption(uri, headers)
            .ok_or(CsrfRejectionKind::CrossOrigin)
    }

    fn exemption(&self, uri: &Uri, headers: &HeaderMap) -> Option<Pass> {
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        if let Some(origin) = origin
            && self
                .trusted_origins
                .iter()
                .any(|trusted| trusted.eq_ignore_ascii_case(origin))
        {
            return Some(Pass::TrustedOrigin);
        }
        self.exempt_path(uri)
    }

    fn exempt_path(&self, uri: &Uri) -> Option<Pass> {
        if self.exempt_paths.is_empty() && self.exempt_prefixes.is_empty() {
            return None;
        }
        let path = clean_path(uri.path());
        let exempt = self.exempt_paths.iter().any(|p| **p == *path)
            || self.exempt_prefixes.iter().any(|p| path.starts_with(&**p));
        exempt.then_some(Pass::ExemptPath)
    }
}

/// The `host[:port]` of an `Origin` value, or `None` for `null` and anything malformed.
fn origin_host(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() || rest.contains(['/', '?', '#', '@']) {
        return None;
    }
    Some(rest)
}

/// The host the request was sent to: the URI authority (HTTP/2, absolute-form) or `Host`.
fn request_host<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(http::uri::Authority::as_str)
        .or_else(|| headers.get(HOST).and_then(|v| v.to_str().ok()))
}

/// Validates a trusted origin: exactly `scheme://host[:port]`.
pub(super) fn parse_trusted_origin(origin: &str) -> Result<Arc<str>, ConfigError> {
    let invalid = || ConfigError::InvalidOrigin {
        origin: origin.to_owned(),
    };
    let host = origin_host(origin).ok_or_else(invalid)?;
    let scheme = origin.split("://").next().unwrap_or_default();
    let scheme_ok = scheme
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !scheme_ok || !host_ok || origin.eq_ignore_ascii_case("null") {
        return Err(invalid());
    }
    Ok(Arc::from(origin.to_ascii_lowercase()))
}

/// Resolves `.` and `..` segments and repeated slashes, so `/a/../webhooks/x` cannot pose as
/// something else and `/webhooks/../admin` cannot pose as an exempt path.
pub(super) fn clean_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut cleaned = String::with_capacity(path.len());
    for segment in &segments {
        cleaned.push('/');
        cleaned.push_str(segment);
    }
    if cleaned.is_empty() || (path.ends_with('/') && !segments.is_empty()) {
        cleaned.push('/');
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn paths_are_cleaned() {
        for (raw, clean) in [
            ("/", "/"),
            ("", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("//a///b", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/../b", "/b"),
            ("/../../b", "/b"),
            ("/webhooks/../admin", "/admin"),
        ] {
            assert_eq!(clean_path(raw), clean, "{raw}");
        }
    }

    #[test]
    fn trusted_origins_must_be_exact() {
        assert_eq!(
            &*parse_trusted_origin("https://App.example.com:8443").unwrap(),
            "https://app.example.com:8443"
        );
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://app.example.com?q",
            "https://user@app.example.com",
            "null",
            "https://",
            "://x",
            "https://a b",
        ] {
            assert!(parse_trusted_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origin_host_rejects_null_and_paths() {
        assert_eq!(origin_host("https://a.example:1"), Some("a.example:1"));
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("https://a/x"), None);
    }

    #[test]
    fn host_comes_from_the_authority_when_present() {
        let uri: Uri = "https://h2.example/x".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("other.example"));
        assert_eq!(request_host(&uri, &headers), Some("h2.example"));
        let uri: Uri = "/x".parse().unwrap();
        assert_eq!(request_host(&uri, &headers), Some("other.example"));
    }
}
