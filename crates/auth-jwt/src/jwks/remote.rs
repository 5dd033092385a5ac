//! A running remote source: the fetch (single flight, cool-down, bounded wait, capped body),
//! the published snapshot and the background refresh.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::url::{HopRefused, check_hop, redirect_policy, url_allowed};
use super::{JwksSource, Location};
use crate::keyset::LookupError;
use crate::{Algorithm, ConfigError, Jwk, VerifyingKey};

/// The largest JWKS or discovery document accepted: 1 MiB.
const MAX_DOCUMENT: usize = 1024 * 1024;

/// The keys of one source at one moment.
pub(crate) struct Snapshot {
    pub(crate) keys: Vec<VerifyingKey>,
    pub(crate) loaded: bool,
}

#[derive(Default)]
struct FetchState {
    in_flight: bool,
    /// When the last fetch started (the one in flight, if any): the cool-down runs from here.
    last_attempt: Option<Instant>,
    /// When the background loop should fetch next, set by every fetch (whoever started it),
    /// so a refetch for an unknown `kid` also postpones the scheduled refresh.
    next_refresh: Option<Instant>,
    /// When the last fetch scheduled for the end of a cool-down (an unknown `kid` was seen
    /// during it) is due: one per cool-down. Keyed on the due time, so a task that never ran
    /// (its runtime gone) blocks no later cool-down.
    scheduled: Option<Instant>,
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
            .redirect(redirect_policy())
            // Even if another crate enables reqwest's decompression features: the cap is on
            // the bytes received.
            .no_gzip()
            .no_brotli()
            .no_zstd()
            .no_deflate()
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
    ///
    /// The layer calls this twice for a request that waited: once before the wait, once
    /// after it (and then treats a second `Refetch` as unknown).
    pub(crate) fn on_unknown_key(self: &Arc<Self>, loaded: bool) -> Option<LookupError> {
        self.ensure_started();
        let give_up = || (!loaded).then_some(LookupError::Unavailable);
        let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
        if state.in_flight {
            // Nothing loaded yet and the fetch has run for the whole wait: this is the second
            // look of a request whose wait ran out (or a request arriving that late), and the
            // keys are unavailable, not unknown.
            if !loaded
                && state
                    .last_attempt
                    .is_some_and(|at| at.elapsed() >= self.source.refetch_wait)
            {
                return Some(LookupError::Unavailable);
            }
            return Some(LookupError::Refetch(self.waiter()));
        }
        if let Some(at) = state.last_attempt
            && at.elapsed() < self.source.min_refetch
        {
            self.schedule_after_cool_down(&mut state, at);
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

    /// Schedules one fetch for the end of the cool-down that started at `at`, unless one is
    /// scheduled for it already.
    fn schedule_after_cool_down(self: &Arc<Self>, state: &mut FetchState, at: Instant) {
        let due = later(at, self.source.min_refetch);
        if state.scheduled.is_some_and(|scheduled| scheduled >= due) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        state.scheduled = Some(due);
        let weak = Arc::downgrade(self);
        handle.spawn(async move {
            tokio::time::sleep_until(due).await;
            if let Some(this) = weak.upgrade() {
                this.scheduled_fetch(at).await;
            }
        });
    }

    /// The fetch scheduled at the end of the cool-down that started at `at`: skipped when
    /// another fetch has started since (it began after the unknown `kid` was seen).
    async fn scheduled_fetch(&self, at: Instant) {
        {
            let mut state = self.fetch.lock().unwrap_or_else(PoisonError::into_inner);
            if state.in_flight || state.last_attempt != Some(at) {
                return;
            }
            state.in_flight = true;
            state.last_attempt = Some(Instant::now());
        }
        self.fetch_and_publish().await;
    }

    fn waiter(&self) -> KeyWait {
        let mut rx = self.done.subscribe();
        let limit = self.source.refetch_wait;
        // Boxed: this future exists only on the rare unknown-kid path.
        KeyWait(Box::pin(async move {
            let _ = tokio::time::timeout(limit, rx.changed()).await;
        }))
    }

    /// Claims the single flight (if free and due) and fetches. Returns the delay to the next
    /// look. Never fetches within the cool-down of another fetch, whoever started it.
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

    /// Fetches (the single flight is already claimed), publishes, releases the flight and
    /// wakes waiters. Returns the delay to the next background refresh.
    async fn fetch_and_publish(&self) -> Duration {
        // Released however this ends: also if the task panics or is dropped (its runtime
        // shut down), so the single flight is never left claimed.
        let mut flight = Flight {
            jwks: self,
            delay: self.source.min_refetch,
        };
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
                    // Saturating: `max-age` comes from the network.
                    (age.saturating_mul(4) / 5).clamp(
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
        flight.delay = delay.max(self.source.min_refetch);
        let delay = flight.delay;
        drop(flight);
        delay
    }

    /// One document: the URL rule on `url` (every redirect hop is checked by the client's
    /// policy), the status, and the body read chunk by chunk up to [`MAX_DOCUMENT`].
    async fn get(&self, url: &str) -> Result<(Vec<u8>, Option<Duration>), &'static str> {
        let parsed = reqwest::Url::parse(url).map_err(|_| "invalid URL")?;
        if !url_allowed(&parsed) {
            return Err("URL is neither https nor loopback http");
        }
        let mut response = self
            .client
            .get(parsed)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| {
                if err.is_redirect() {
                    "redirect refused"
                } else {
                    "request failed"
                }
            })?;
        if !response.status().is_success() {
            return Err("non-success status");
        }
        let announced = response.content_length();
        if announced.is_some_and(|len| len > MAX_DOCUMENT as u64) {
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
        let capacity = announced
            .and_then(|len| usize::try_from(len).ok())
            .unwrap_or(0)
            .min(MAX_DOCUMENT);
        let mut body = Vec::with_capacity(capacity);
        // Chunk by chunk, so a body without `Content-Length` (or one longer than announced)
        // is dropped, connection and all, as soon as it passes the cap.
        while let Some(chunk) = response.chunk().await.map_err(|_| "body failed")? {
            if chunk.len() > MAX_DOCUMENT.saturating_sub(body.len()) {
                return Err("document too large");
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
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
                let (Ok(from), Ok(next)) = (
                    reqwest::Url::parse(&url),
                    reqwest::Url::parse(&doc.jwks_uri),
                ) else {
                    return Err("invalid jwks_uri");
                };
                check_hop(&next, &[from]).map_err(HopRefused::as_str)?;
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

/// The claimed single flight of one fetch. Dropping it releases the flight, schedules the
/// next background refresh `delay` later, and wakes the waiting requests.
struct Flight<'a> {
    jwks: &'a RemoteJwks,
    delay: Duration,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        {
            let mut state = self
                .jwks
                .fetch
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.in_flight = false;
            state.next_refresh = Some(later(Instant::now(), self.delay));
        }
        self.jwks
            .done
            .send_modify(|generation| *generation = generation.wrapping_add(1));
    }
}

/// `at + by`, or far in the future when that overflows (durations are configurable).
fn later(at: Instant, by: Duration) -> Instant {
    at.checked_add(by)
        .or_else(|| at.checked_add(Duration::from_secs(365 * 24 * 3600)))
        .unwrap_or(at)
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
