//! Remote JWKS key sources: fetched over HTTPS, cached pre-parsed, refreshed in the background,
//! refetched on an unknown `kid` at most once per interval (single flight), last-known-good
//! keys kept through outages.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::keyset::LookupError;
use crate::{Algorithm, ConfigError, Jwk, VerifyingKey};

/// The largest JWKS or discovery document accepted: 1 MiB.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// A remote JWK Set (`jwks_uri`), or an OIDC issuer whose discovery document names one.
///
/// Add it to a key set with [`KeySetBuilder::add_jwks`](crate::KeySetBuilder::add_jwks), and
/// the key set to the [`TrustedIssuer`](crate::TrustedIssuer) that publishes it
/// ([`TrustedIssuer::discover`](crate::TrustedIssuer::discover) does both for an OpenID
/// provider).
///
/// - Keys are fetched when the key set is built inside a tokio runtime (else at the first
///   request), parsed once and cached; a background task refreshes them every
///   [`with_refresh_interval`](Self::with_refresh_interval) (or sooner when the response's
///   `Cache-Control: max-age` says so).
/// - A token with an unknown `kid` triggers a refetch, at most once per
///   [`with_min_refetch_interval`](Self::with_min_refetch_interval); concurrent requests share
///   that one fetch (single flight) and wait for it.
/// - When the endpoint fails, the last good keys stay in use. When no key was ever loaded,
///   bearer requests get **503**, never 500 and never "accept anything".
/// - Symmetric (`oct`) keys from a URL are never used; keys with `use` other than `sig`,
///   `key_ops` without `verify` or an algorithm outside
///   [`with_algorithms`](Self::with_algorithms) are skipped.
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
            refresh: Duration::from_secs(300),
            min_refetch: Duration::from_secs(30),
            timeout: Duration::from_secs(5),
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
    /// than the [minimum refetch interval](Self::with_min_refetch_interval): every fetch,
    /// background or for an unknown `kid`, is at least that far from the previous one.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh = interval;
        self
    }

    /// The shortest time between two fetches triggered by unknown `kid`s or failures.
    /// Default: 30 seconds.
    #[must_use]
    pub fn with_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// The timeout of one HTTP request (connect included). Default: 5 seconds.
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
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn check_url(url: &str) -> Result<(), ConfigError> {
    let ok = if let Some(rest) = url.strip_prefix("https://") {
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
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError::InvalidUrl {
            url: url.chars().take(256).collect(),
        })
    }
}

/// The keys of one source at one moment.
pub(crate) struct Snapshot {
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) loaded: bool,
}

#[derive(Default)]
struct FetchState {
    in_flight: bool,
    last_attempt: Option<Instant>,
    /// When the background loop should fetch next, set by every fetch (whoever started it),
    /// so a refetch for an unknown `kid` also postpones the scheduled refresh.
    next_refresh: Option<Instant>,
}

/// A running remote source.
pub(crate) struct RemoteJwks {
    source: JwksSource,
    client: reqwest::Client,
    snapshot: RwLock<Arc<Snapshot>>,
    fetch: Mutex<FetchState>,
    done: watch::Sender<u64>,
    started: AtomicBool,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("RemoteJwks")
            .field("source", &self.source)
            .field("loaded", &snapshot.loaded)
            .field("keys", &snapshot.keys)
            .finish_non_exhaustive()
    }
}

impl RemoteJwks {
    pub(crate) fn start(source: JwksSource) -> Result<Arc<Self>, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(source.timeout)
            .connect_timeout(source.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|_| ConfigError::HttpClient)?;
        let this = Arc::new(Self {
            source,
            client,
            snapshot: RwLock::new(Arc::new(Snapshot {
                keys: Vec::new(),
                loaded: false,
            })),
            fetch: Mutex::new(FetchState::default()),
            done: watch::channel(0).0,
            started: AtomicBool::new(false),
        });
        this.ensure_started();
        Ok(this)
    }

    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Starts the background refresh task once a tokio runtime is available.
    fn ensure_started(self: &Arc<Self>) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(self);
        handle.spawn(refresh_loop(weak));
    }

    /// Called when no key matched: a wait for a refetch, "unavailable", or `None` (unknown).
    pub(crate) fn on_unknown_key(self: &Arc<Self>, loaded: bool) -> Option<LookupError> {
        self.ensure_started();
        let give_up = || (!loaded).then_some(LookupError::Unavailable);
        let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
        if state.in_flight {
            return Some(LookupError::Refetch(self.waiter()));
        }
        if state
            .last_attempt
            .is_some_and(|at| at.elapsed() < self.source.min_refetch)
        {
            return give_up();
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return give_up();
        };
        state.in_flight = true;
        state.last_attempt = Some(Instant::now());
        let wait = self.waiter();
        drop(state);
        let this = Arc::clone(self);
        handle.spawn(async move {
            this.fetch_and_publish().await;
        });
        Some(LookupError::Refetch(wait))
    }

    fn waiter(&self) -> KeyWait {
        let mut rx = self.done.subscribe();
        let limit = self.source.timeout.saturating_mul(3);
        // Boxed: this future exists only on the rare unknown-kid path.
        KeyWait(Box::pin(async move {
            let _ = tokio::time::timeout(limit, rx.changed()).await;
        }))
    }

    /// Claims the single flight (if free and due) and fetches. Returns the delay to the next
    /// look. Never fetches within the minimum interval of another fetch, whoever started it.
    async fn refresh_once(self: &Arc<Self>) -> Duration {
        {
            let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            if state.in_flight {
                return self.source.min_refetch;
            }
            let now = Instant::now();
            if let Some(at) = state.next_refresh
                && at > now
            {
                return at - now;
            }
            state.in_flight = true;
            state.last_attempt = Some(Instant::now());
        }
        self.fetch_and_publish().await
    }

    /// Fetches (the single flight is already claimed), publishes, wakes waiters.
    async fn fetch_and_publish(&self) -> Duration {
        let result = self.fetch_keys().await;
        let delay = match result {
            Ok((keys, max_age)) => {
                tracing::debug!(keys = keys.len(), "JWKS refreshed");
                *self
                    .snapshot
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Arc::new(Snapshot { keys, loaded: true });
                max_age.map_or(self.source.refresh, |age| {
                    (age * 4 / 5).clamp(
                        self.source.min_refetch,
                        self.source.refresh.max(self.source.min_refetch),
                    )
                })
            }
            Err(reason) => {
                tracing::warn!(
                    reason,
                    "JWKS fetch failed; keeping the last known good keys"
                );
                self.source.min_refetch
            }
        };
        let delay = delay.max(self.source.min_refetch);
        {
            let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            state.in_flight = false;
            state.next_refresh = Some(Instant::now() + delay);
        }
        self.done
            .send_modify(|generation| *generation = generation.wrapping_add(1));
        delay
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), &'static str> {
        let response = self
            .client
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|_| "request failed")?;
        if !response.status().is_success() {
            return Err("non-success status");
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_DOCUMENT as u64)
        {
            return Err("document too large");
        }
        let max_age = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.split(',').find_map(|d| {
                    d.trim()
                        .strip_prefix("max-age=")
                        .and_then(|s| s.parse::<u64>().ok())
                })
            })
            .map(Duration::from_secs);
        let body = response.bytes().await.map_err(|_| "body failed")?;
        if body.len() > MAX_DOCUMENT {
            return Err("document too large");
        }
        Ok((body.to_vec(), max_age))
    }

    async fn fetch_keys(&self) -> Result<(Vec<VerifyingKey>, Option<Duration>), &'static str> {
        let jwks_url = match &self.source.location {
            Location::Jwks(url) => url.clone(),
            Location::Discovery { issuer } => {
                #[derive(serde::Deserialize)]
                struct Discovery {
                    issuer: String,
                    jwks_uri: String,
                }
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let (body, _) = self.get(&url).await?;
                let doc: Discovery =
                    serde_json::from_slice(&body).map_err(|_| "invalid discovery document")?;
                if doc.issuer != *issuer {
                    return Err("discovery document names another issuer");
                }
                check_url(&doc.jwks_uri).map_err(|_| "jwks_uri is not https")?;
                doc.jwks_uri
            }
        };
        let (body, max_age) = self.get(&jwks_url).await?;
        let set: crate::jwk::LenientJwkSet =
            serde_json::from_slice(&body).map_err(|_| "invalid JWK set")?;
        let mut keys = Vec::with_capacity(set.keys.len());
        for value in set.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            match self.key_from_jwk(&jwk) {
                Some(key) => keys.push(key),
                None => tracing::debug!(kid = ?jwk.kid, kty = %jwk.kty, "JWKS key skipped"),
            }
        }
        if keys.is_empty() {
            return Err("no usable key in the JWK set");
        }
        Ok((keys, max_age))
    }

    fn key_from_jwk(&self, jwk: &Jwk) -> Option<VerifyingKey> {
        let allowed = &self.source.algorithms;
        let alg = match jwk.alg.as_deref() {
            Some(name) => name.parse::<Algorithm>().ok()?,
            None => *allowed.iter().find(|alg| match jwk.kty.as_str() {
                "RSA" => alg.family() == crate::algorithm::Family::Rsa,
                "EC" | "OKP" => alg.curve().is_some() && alg.curve() == jwk.crv.as_deref(),
                _ => false,
            })?,
        };
        if !allowed.contains(&alg) || alg.is_hmac() {
            return None;
        }
        VerifyingKey::from_jwk(jwk, Some(alg)).ok()
    }
}

async fn refresh_loop(weak: Weak<RemoteJwks>) {
    loop {
        let Some(this) = weak.upgrade() else {
            return;
        };
        let delay = this.refresh_once().await;
        drop(this);
        tokio::time::sleep(delay).await;
    }
}

/// A wait for the in-flight JWKS fetch to finish.
pub(crate) struct KeyWait(Pin<Box<dyn Future<Output = ()> + Send>>);

impl KeyWait {
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_urls_are_accepted() {
        assert!(JwksSource::new("https://example.com/jwks.json").is_ok());
        assert!(JwksSource::new("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(JwksSource::new("http://localhost/jwks").is_ok());
        assert!(JwksSource::new("http://example.com/jwks.json").is_err());
        assert!(JwksSource::new("http://127.0.0.1.evil.com/jwks").is_err());
        assert!(JwksSource::new("file:///etc/passwd").is_err());
        assert!(JwksSource::discover("ftp://x").is_err());
    }
}
