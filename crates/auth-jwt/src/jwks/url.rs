//! The one URL rule of every fetch: the configured URL, the discovered `jwks_uri`, and every
//! redirect hop.

use std::fmt;

use crate::ConfigError;

/// The most redirects followed for one document.
pub(super) const MAX_REDIRECTS: usize = 3;

/// The URL rule for the configured URL (and the issuer of a discovery source): the textual
/// rule, and the same rule on the URL as the HTTP client parses it.
pub(super) fn check_url(url: &str) -> Result<(), ConfigError> {
    let textual = if let Some(rest) = url.strip_prefix("https://") {
        !rest.is_empty()
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        is_loopback_host(host)
    } else {
        false
    };
    if textual && reqwest::Url::parse(url).is_ok_and(|parsed| url_allowed(&parsed)) {
        Ok(())
    } else {
        Err(ConfigError::InvalidUrl {
            url: url.chars().take(256).collect(),
        })
    }
}

fn is_loopback_host(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// The URL rule on a parsed URL: `https` to any host, or `http` to a loopback host.
pub(super) fn url_allowed(url: &reqwest::Url) -> bool {
    match url.scheme() {
        "https" => url.host_str().is_some_and(|host| !host.is_empty()),
        "http" => url.host_str().is_some_and(is_loopback_host),
        _ => false,
    }
}

/// Why a step to another URL (a redirect hop, or a discovered `jwks_uri`) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HopRefused {
    /// The URL rule refuses the next URL.
    Url,
    /// From `https` to `http`.
    Downgrade,
    /// More than [`MAX_REDIRECTS`] redirects.
    TooMany,
}

impl HopRefused {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Url => "redirect or jwks_uri to a URL that is neither https nor loopback http",
            Self::Downgrade => "redirect or jwks_uri from https to http",
            Self::TooMany => "too many redirects",
        }
    }
}

impl fmt::Display for HopRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for HopRefused {}

/// The rule for one step to `next` after the URLs in `previous` (first the one requested,
/// then every redirect target so far): the URL rule, no `https` to `http`, and at most
/// [`MAX_REDIRECTS`] redirects.
pub(super) fn check_hop(next: &reqwest::Url, previous: &[reqwest::Url]) -> Result<(), HopRefused> {
    // `previous` starts with the URL first requested, which is no redirect.
    if previous.len() > MAX_REDIRECTS {
        return Err(HopRefused::TooMany);
    }
    if !url_allowed(next) {
        return Err(HopRefused::Url);
    }
    if next.scheme() != "https" && previous.iter().any(|url| url.scheme() == "https") {
        return Err(HopRefused::Downgrade);
    }
    Ok(())
}

/// The client's redirect policy: [`check_hop`] on every hop.
pub(super) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        match check_hop(attempt.url(), attempt.previous()) {
            Ok(()) => attempt.follow(),
            Err(refused) => attempt.error(refused),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::JwksSource;
    use super::*;

    fn url(s: &str) -> reqwest::Url {
        reqwest::Url::parse(s).unwrap()
    }

    fn urls(list: &[&str]) -> Vec<reqwest::Url> {
        list.iter().map(|s| url(s)).collect()
    }

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        assert!(JwksSource::new("https://example.com/jwks.json").is_ok());
        assert!(JwksSource::new("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(JwksSource::new("http://localhost/jwks").is_ok());
        assert!(JwksSource::new("http://[::1]:8080/jwks").is_ok());
        assert!(JwksSource::new("http://example.com/jwks.json").is_err());
        assert!(JwksSource::new("http://127.0.0.1.evil.com/jwks").is_err());
        assert!(JwksSource::new("http://127.0.0.2/jwks").is_err());
        assert!(JwksSource::new("http://127.0.0.1@evil.com/jwks").is_err());
        assert!(JwksSource::new("http://localhost:99999/jwks").is_err());
        assert!(JwksSource::new("https://").is_err());
        assert!(JwksSource::new("file:///etc/passwd").is_err());
        assert!(JwksSource::discover("ftp://x").is_err());
    }

    #[test]
    fn redirect_from_https_to_http_is_refused_even_to_loopback() {
        let from = urls(&["https://idp.example/jwks"]);
        for next in [
            "http://127.0.0.1/jwks",
            "http://localhost:8080/jwks",
            "http://[::1]/jwks",
        ] {
            assert_eq!(check_hop(&url(next), &from), Err(HopRefused::Downgrade));
        }
        // Also when an earlier hop was https and the last one is not.
        let chain = urls(&["https://idp.example/jwks", "https://cdn.example/jwks"]);
        assert_eq!(
            check_hop(&url("http://127.0.0.1/jwks"), &chain),
            Err(HopRefused::Downgrade)
        );
        assert_eq!(check_hop(&url("https://cdn.example/jwks"), &from), Ok(()));
    }

    #[test]
    fn redirect_hops_obey_the_url_rule() {
        let local = urls(&["http://127.0.0.1:8080/jwks"]);
        assert_eq!(check_hop(&url("http://localhost:9/jwks"), &local), Ok(()));
        assert_eq!(check_hop(&url("https://idp.example/jwks"), &local), Ok(()));
        for next in [
            "http://127.0.0.2:8080/jwks",
            "http://10.0.0.1/jwks",
            "http://169.254.169.254/latest/meta-data",
            "http://example.com/jwks",
            "ftp://127.0.0.1/jwks",
            "file:///etc/passwd",
        ] {
            assert_eq!(
                check_hop(&url(next), &local),
                Err(HopRefused::Url),
                "{next}"
            );
        }
    }

    #[test]
    fn at_most_three_redirects_are_followed() {
        let next = url("https://idp.example/jwks");
        let mut previous = urls(&["https://idp.example/0"]);
        for hop in 1..=MAX_REDIRECTS {
            assert_eq!(check_hop(&next, &previous), Ok(()), "redirect {hop}");
            previous.push(url(&format!("https://idp.example/{hop}")));
        }
        assert_eq!(check_hop(&next, &previous), Err(HopRefused::TooMany));
    }
}
