//! Remote JWKS key sources: fetched over HTTPS, cached pre-parsed, refreshed in the background,
//! refetched on an unknown `kid` at most once per cool-down (single flight), last-known-good
//! keys kept through outages.
//!
//! What a fetch refuses, whatever the endpoint answers:
//!
//! - **Every URL fetched obeys one rule**: `https`, or `http` to a loopback host
//!   (`127.0.0.1`, `localhost`, `[::1]`). It is checked on the configured URL, on the
//!   discovery document's `jwks_uri` and on **every redirect hop** (a reqwest redirect policy),
//!   with the parser that the request itself uses. A step from `https` to `http` (a redirect,
//!   or an `https` discovery document naming an `http` `jwks_uri`) is refused too. At most
//!   3 redirects are followed for one document.
//! - **Documents are capped at 1 MiB while streaming**: a larger `Content-Length` is refused
//!   before the body is read, and a body without one is read chunk by chunk and dropped (the
//!   connection with it) as soon as it passes the cap. Responses are never decompressed.
//!
//! How an unknown `kid` is handled (see [`JwksSource`] for the defaults):
//!
//! - Outside the cool-down, the first request naming it starts a refetch; concurrent requests
//!   share that fetch and wait for it, each at most the [refetch
//!   wait](JwksSource::with_refetch_wait), then get 401 (`UnknownKey`) while the fetch goes on
//!   (503 `KeysUnavailable` when no key was ever loaded).
//! - Inside the cool-down, the request gets its 401 at once, and one fetch is scheduled for
//!   the end of the cool-down (one at a time), so a key that the issuer publishes and uses at
//!   once is picked up within one cool-down without waiting for the background refresh.
//! - Fetches of one source, whoever starts them (background refresh, unknown `kid`, the
//!   scheduled one), start at least one cool-down apart, so a flood of unknown `kid`s costs at
//!   most one fetch per cool-down.

mod remote;
mod url;

use std::fmt;
use std::time::Duration;

use crate::{Algorithm, ConfigError};

pub(crate) use remote::{KeyWait, RemoteJwks};
use url::check_url;

/// Default of [`JwksSource::with_refresh_interval`].
const DEFAULT_REFRESH: Duration = Duration::from_secs(300);
/// Default of [`JwksSource::with_min_refetch_interval`].
const DEFAULT_MIN_REFETCH: Duration = Duration::from_secs(5);
/// Default of [`JwksSource::with_refetch_wait`].
const DEFAULT_REFETCH_WAIT: Duration = Duration::from_secs(2);
/// Default of [`JwksSource::with_timeout`].
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A remote JWK Set (`jwks_uri`), or an OIDC issuer whose discovery document names one.
///
/// Add it to a key set with [`KeySetBuilder::add_jwks`](crate::KeySetBuilder::add_jwks), and
/// the key set to the [`TrustedIssuer`](crate::TrustedIssuer) that publishes it
/// ([`TrustedIssuer::discover`](crate::TrustedIssuer::discover) does both for an OpenID
/// provider).
///
/// - Keys are fetched when the key set is built inside a tokio runtime (else at the first
///   request), parsed once and cached; a background task refreshes them every
///   [refresh interval](Self::with_refresh_interval) (default 5 minutes, or sooner when the
///   response's `Cache-Control: max-age` says so).
/// - A token with an unknown `kid` triggers a refetch, at most once per
///   [cool-down](Self::with_min_refetch_interval) (default 5 seconds); concurrent requests
///   share that one fetch (single flight) and wait for it at most the
///   [refetch wait](Self::with_refetch_wait) (default 2 seconds), then get 401 while the
///   fetch goes on. An unknown `kid` seen during the cool-down gets its 401 at once and
///   schedules one fetch for the end of the cool-down, so a key that the issuer publishes and
///   uses at once is accepted within about one cool-down, also right after start-up or right
///   after another fetch. However many unknown `kid`s arrive, fetches start at least one
///   cool-down apart.
/// - When the endpoint fails, the last good keys stay in use. When no key was ever loaded,
///   bearer requests get **503**, never 500 and never "accept anything".
/// - Symmetric (`oct`) keys from a URL are never used; keys with `use` other than `sig`,
///   `key_ops` without `verify` or an algorithm outside
///   [`with_algorithms`](Self::with_algorithms) are skipped.
///
/// # Security
///
/// - Every URL fetched must be `https`, or `http` to a loopback host (`127.0.0.1`,
///   `localhost`, `[::1]`): the configured URL, the discovered `jwks_uri`, and **every
///   redirect hop**. Redirects are followed (at most 3 for one document) only while each hop
///   obeys that rule and never from `https` to `http`; a refused hop fails the fetch (the
///   last good keys stay in use). Redirects are followed at all because providers and CDNs
///   do move key sets; a redirect within the rule trusts no more than the configured endpoint
///   already is trusted (it could serve any keys itself).
/// - A JWKS or discovery document larger than 1 MiB is refused: by its `Content-Length`
///   before the body is read, and otherwise while streaming, as soon as the body passes the
///   cap. Bodies are never decompressed. Each request (connect, headers and body) is bounded
///   by the [timeout](Self::with_timeout) (default 5 seconds).
///
/// ```no_run
/// use auth_jwt::{JwksSource, JwtLayer, KeySet, TrustedIssuer};
///
/// # fn main() -> Result<(), auth_jwt::ConfigError> {
/// let keys = KeySet::builder()
///     .add_jwks(JwksSource::new("https://accounts.example.com/jwks.json")?)
///     .build()?;
/// let layer = JwtLayer::builder(
///     TrustedIssuer::new("https://accounts.example.com", keys).add_audience("my-api"),
/// )
/// .build()?;
/// # let _ = layer;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct JwksSource {
    location: Location,
    algorithms: Vec<Algorithm>,
    refresh: Duration,
    min_refetch: Duration,
    refetch_wait: Duration,
    timeout: Duration,
}

#[derive(Clone, Debug)]
enum Location {
    Jwks(String),
    Discovery { issuer: String },
}

impl JwksSource {
    /// Keys from the JWK Set at `url` (`https`, or `http` on a loopback address).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`] for any other URL.
    pub fn new(url: &str) -> Result<Self, ConfigError> {
        check_url(url)?;
        Ok(Self::with_location(Location::Jwks(url.to_owned())))
    }

    /// Keys of the OIDC issuer `issuer`: its `/.well-known/openid-configuration` names the
    /// `jwks_uri`, and must name the same issuer (else the fetch fails and no key is used).
    /// The `jwks_uri` obeys the same URL rule, and is refused when it is `http` while the
    /// issuer is `https`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidUrl`] when `issuer` is not an `https` URL (or `http` on a
    /// loopback address).
    pub fn discover(issuer: &str) -> Result<Self, ConfigError> {
        check_url(issuer)?;
        Ok(Self::with_location(Location::Discovery {
            issuer: issuer.to_owned(),
        }))
    }

    fn with_location(location: Location) -> Self {
        Self {
            location,
            algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
            refresh: DEFAULT_REFRESH,
            min_refetch: DEFAULT_MIN_REFETCH,
            refetch_wait: DEFAULT_REFETCH_WAIT,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The algorithms accepted from this source. A key naming another `alg` is skipped; a key
    /// without `alg` gets the first accepted algorithm of its type (RSA, EC curve, OKP).
    /// Default: `RS256`, `ES256`, `EdDSA`. HMAC algorithms are ignored.
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().filter(|a| !a.is_hmac()).collect();
        self
    }

    /// How often keys are refreshed in the background. Default: 5 minutes. Never more often
    /// than the [cool-down](Self::with_min_refetch_interval): every fetch, background or for
    /// an unknown `kid`, starts at least that long after the previous one.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// The cool-down: the shortest time between the starts of two fetches, whatever triggers
    /// them (an unknown `kid`, a failure's retry, the background refresh). An unknown `kid`
    /// seen during the cool-down schedules one fetch at its end. After a failed fetch, the
    /// next one is tried one cool-down later. Default: 5 seconds.
    #[must_use]
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// The longest a request naming an unknown `kid` waits for the refetch in flight. When the
    /// wait runs out, the request gets 401 (`UnknownKey`), or 503 (`KeysUnavailable`) when no
    /// key was ever loaded, while the fetch goes on; requests after it completes see its keys.
    /// Default: 2 seconds.
    #[must_use]
    pub fn with_refetch_wait(mut self, wait: Duration) -> Self {
        self.refetch_wait = wait;
        self
    }

    /// The timeout of one HTTP request: connecting, the response headers and the whole body.
    /// A discovery source makes two requests per fetch. Default: 5 seconds.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for JwksSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksSource")
            .field("location", &self.location)
            .field("algorithms", &self.algorithms)
            .field("refresh", &self.refresh)
            .field("min_refetch", &self.min_refetch)
            .field("refetch_wait", &self.refetch_wait)
            .field("timeout", &self.timeout)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_ones() {
        let source = JwksSource::new("https://example.com/jwks.json").unwrap();
        assert_eq!(source.refresh, Duration::from_secs(300));
        assert_eq!(source.min_refetch, Duration::from_secs(5));
        assert_eq!(source.refetch_wait, Duration::from_secs(2));
        assert_eq!(source.timeout, Duration::from_secs(5));
    }
}
