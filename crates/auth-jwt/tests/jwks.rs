//! JWKS caching and refetching against a real HTTP server on 127.0.0.1 that counts fetches:
//! single flight, cool-down, bounded waits, key pick-up, outages. The fetch itself (redirect
//! hops, body cap) is tested in `jwks_fetch.rs`.
#![cfg(feature = "jwks")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_jwt::{JwkSet, JwksSource, JwtLayer, JwtRejectionKind as K, KeySet};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use common::*;
use serde_json::json;

#[derive(Clone, Default)]
struct Server {
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
    /// Documents sent (counted after the body is built, so a key published after this count
    /// moved is not in that document).
    served: Arc<AtomicUsize>,
    down: Arc<AtomicBool>,
    /// How long the JWKS endpoint waits before it answers.
    delay: Arc<Mutex<Duration>>,
    /// A `Cache-Control` header for the JWKS responses.
    cache_control: Arc<Mutex<Option<String>>>,
    base: Arc<Mutex<String>>,
}

impl Server {
    async fn start() -> Self {
        let server = Self::default();
        let app = Router::new()
            .route("/jwks", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(server.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *server.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        server
    }

    fn url(&self) -> String {
        format!("{}/jwks", self.base.lock().unwrap())
    }

    fn publish(&self, signer: &Signer, kid: &str) {
        let point = signer.public_raw();
        self.keys.lock().unwrap().keys.push(
            serde_json::from_value(json!({
                "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
                "x": b64(point.get(1..33).unwrap()), "y": b64(point.get(33..).unwrap())
            }))
            .unwrap(),
        );
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn served(&self) -> usize {
        self.served.load(Ordering::SeqCst)
    }

    fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap() = delay;
    }
}

async fn jwks(State(server): State<Server>) -> axum::response::Response {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = *server.delay.lock().unwrap();
    tokio::time::sleep(delay).await;
    if server.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = serde_json::to_string(&*server.keys.lock().unwrap()).unwrap();
    server.served.fetch_add(1, Ordering::SeqCst);
    let mut response = ([("content-type", "application/json")], body).into_response();
    if let Some(value) = server.cache_control.lock().unwrap().as_deref() {
        response
            .headers_mut()
            .insert("cache-control", value.parse().unwrap());
    }
    response
}

async fn discovery(State(server): State<Server>) -> axum::response::Response {
    let base = server.base.lock().unwrap().clone();
    let doc = json!({"issuer": base, "jwks_uri": format!("{base}/jwks")});
    ([("content-type", "application/json")], doc.to_string()).into_response()
}

fn layer_for(source: JwksSource) -> JwtLayer {
    builder(KeySet::builder().add_jwks(source).build().unwrap())
        .build()
        .unwrap()
}

fn es_token(signer: &Signer, kid: &str) -> String {
    craft(&header_for(signer, kid), &good_claims(), signer)
}

/// The documented default cool-down of `JwksSource::with_min_refetch_interval`.
const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(5);

/// The pick-up promise: a key that the issuer publishes and uses at once is accepted within
/// this long, with default settings.
const PICK_UP: Duration = Duration::from_secs(10);

/// Sends `token` every 250 ms until it is accepted (401 and 503 meanwhile); fails if that
/// takes longer than `within`. Returns how long it took.
async fn accepted_within(layer: &JwtLayer, token: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let left = within.saturating_sub(started.elapsed());
        let out = tokio::time::timeout(left, call(layer.clone(), Some(token))).await;
        assert!(out.is_ok(), "not accepted within {within:?}");
        let out = out.unwrap();
        if out.status == 200 {
            return started.elapsed();
        }
        assert!(
            matches!(out.kind, Some(K::UnknownKey | K::KeysUnavailable)),
            "{out:?}"
        );
        assert!(
            started.elapsed() < within,
            "not accepted within {within:?}: {out:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One call, failing the test if it takes longer than `limit` (a bound on the outcome, not a
/// speed measurement).
async fn call_within(layer: &JwtLayer, token: &str, limit: Duration) -> Outcome {
    let out = tokio::time::timeout(limit, call(layer.clone(), Some(token))).await;
    assert!(out.is_ok(), "no answer within {limit:?}");
    out.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_added_later_is_accepted_after_an_unknown_kid_refetch() {
    let server = Server::start().await;
    let (a, b) = (Signer::ec(), Signer::ec());
    server.publish(&a, "a");
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_min_refetch_interval(Duration::from_millis(1)),
    );
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    let before = server.fetches();

    server.publish(&b, "b");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let out = call(layer.clone(), Some(&es_token(&b, "b"))).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(server.fetches(), before + 1);
    // Old key still works, no fetch needed.
    assert_eq!(call(layer, Some(&es_token(&a, "a"))).await.status, 200);
    assert_eq!(server.fetches(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_causes_at_most_one_fetch_per_interval() {
    let server = Server::start().await;
    let a = Signer::ec();
    server.publish(&a, "a");
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_min_refetch_interval(Duration::from_millis(300)),
    );
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    let before = server.fetches();
    // Let the interval pass once, then flood.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let attacker = Signer::ec();
    let started = Instant::now();
    // The spec: at most one fetch per interval, so allow one more per interval that passed.
    let allowed =
        |started: Instant| 1 + usize::try_from(started.elapsed().as_millis() / 300).unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let layer = layer.clone();
        let token = es_token(&attacker, &format!("unknown-{i}"));
        tasks.push(tokio::spawn(async move { call(layer, Some(&token)).await }));
    }
    for task in tasks {
        assert_invalid(&task.await.unwrap(), K::UnknownKey);
    }
    let fetched = server.fetches() - before;
    assert!(
        fetched >= 1 && fetched <= allowed(started),
        "{fetched} fetches"
    );
    // And again: 20 more unknown kids, still bounded by the interval.
    for i in 0..20 {
        let token = es_token(&attacker, &format!("again-{i}"));
        assert_invalid(&call(layer.clone(), Some(&token)).await, K::UnknownKey);
    }
    let fetched = server.fetches() - before;
    assert!(fetched <= allowed(started), "{fetched} fetches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_keeps_the_last_known_good_keys() {
    let server = Server::start().await;
    let a = Signer::ec();
    server.publish(&a, "a");
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_refresh_interval(Duration::from_millis(20))
            .with_min_refetch_interval(Duration::from_millis(1)),
    );
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    server.down.store(true, Ordering::SeqCst);
    let before = server.fetches();
    // An unknown kid forces a (failing) refetch; background refreshes fail too.
    let out = call(layer.clone(), Some(&es_token(&Signer::ec(), "zzz"))).await;
    assert_invalid(&out, K::UnknownKey);
    while server.fetches() < before + 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    // Recovery: the endpoint returns with a new key.
    let b = Signer::ec();
    server.publish(&b, "b");
    server.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(call(layer, Some(&es_token(&b, "b"))).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_unreachable_at_startup_is_503_not_500_or_accept() {
    let closed = {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let layer = layer_for(
        JwksSource::new(&format!("http://{closed}/jwks"))
            .unwrap()
            .with_timeout(Duration::from_millis(500)),
    );
    let signer = Signer::ec();
    for _ in 0..3 {
        let out = call(layer.clone(), Some(&es_token(&signer, "a"))).await;
        assert_eq!(out.status, 503, "{out:?}");
        assert_eq!(out.kind, Some(K::KeysUnavailable));
        assert!(out.identity.is_none());
    }
    // No token at all is still a plain 401.
    assert_eq!(call(layer, None).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_discovery_finds_the_jwks_of_its_issuer() {
    let server = Server::start().await;
    let a = Signer::ec();
    server.publish(&a, "a");
    let base = server.base.lock().unwrap().clone();
    let layer = builder_with(TrustedIssuer::discover(&base).unwrap().add_audience(AUD))
        .build()
        .unwrap();
    let mut claims = good_claims();
    claims["iss"] = json!(base);
    let t = craft(&header_for(&a, "a"), &claims, &a);
    assert_eq!(call(layer.clone(), Some(&t)).await.status, 200);
    // The same key under another issuer: refused, the provider's keys verify only its tokens.
    let t = craft(&header_for(&a, "a"), &good_claims(), &a);
    assert_invalid(&call(layer, Some(&t)).await, K::InvalidIssuer);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_published_right_after_start_up_is_accepted_within_ten_seconds() {
    let server = Server::start().await;
    let (a, b) = (Signer::ec(), Signer::ec());
    server.publish(&a, "a");
    // Default settings throughout.
    let layer = layer_for(JwksSource::new(&server.url()).unwrap());
    // The start-up fetch.
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    // The issuer publishes a key and uses it at once.
    server.publish(&b, "b");
    let took = accepted_within(&layer, &es_token(&b, "b"), PICK_UP).await;
    // Not a speed check: the bound is the pick-up promise, asserted inside.
    assert!(took < PICK_UP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_published_right_after_a_refetch_is_accepted_within_ten_seconds() {
    let server = Server::start().await;
    let (a, b) = (Signer::ec(), Signer::ec());
    server.publish(&a, "a");
    let layer = layer_for(JwksSource::new(&server.url()).unwrap());
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    // An unknown kid causes a refetch (during the start-up cool-down: at its end).
    let before = server.served();
    let unknown = es_token(&Signer::ec(), "unknown");
    let started = Instant::now();
    while server.served() == before {
        assert!(
            started.elapsed() < PICK_UP,
            "an unknown kid caused no refetch within {PICK_UP:?}"
        );
        assert_invalid(&call(layer.clone(), Some(&unknown)).await, K::UnknownKey);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Right after that refetch served its document, the issuer publishes a key and uses it.
    server.publish(&b, "b");
    let took = accepted_within(&layer, &es_token(&b, "b"), PICK_UP).await;
    assert!(took < PICK_UP);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_with_default_settings_fetches_once_per_cool_down() {
    let server = Server::start().await;
    let a = Signer::ec();
    server.publish(&a, "a");
    let layer = layer_for(JwksSource::new(&server.url()).unwrap());
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    let before = server.fetches();
    let started = Instant::now();
    // Fetches start at least one cool-down apart, the start-up fetch included: at most one
    // more per cool-down that passed.
    let allowed = |started: Instant| {
        1 + usize::try_from(started.elapsed().as_millis() / DEFAULT_COOL_DOWN.as_millis()).unwrap()
    };
    // 20 new kids every 100 ms for 6 s (1200 requests), past the end of the first cool-down.
    let attacker = Signer::ec();
    let mut tasks = Vec::new();
    let mut i = 0;
    while started.elapsed() < Duration::from_secs(6) {
        for _ in 0..20 {
            let layer = layer.clone();
            let token = es_token(&attacker, &format!("flood-{i}"));
            i += 1;
            tasks.push(tokio::spawn(async move { call(layer, Some(&token)).await }));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tasks.len() >= 200, "{} requests", tasks.len());
    for task in tasks {
        assert_invalid(&task.await.unwrap(), K::UnknownKey);
    }
    let fetched = server.fetches() - before;
    // At least one: the cool-down ended during the flood, and an unknown kid seen in it
    // schedules a fetch at its end. At most one per cool-down.
    assert!(
        fetched >= 1 && fetched <= allowed(started),
        "{fetched} fetches in {:?}",
        started.elapsed()
    );
    // The key still works, with no fetch for it.
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    assert!(server.fetches() - before <= allowed(started));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_waits_for_a_slow_refetch_at_most_the_refetch_wait() {
    let server = Server::start().await;
    let (a, b) = (Signer::ec(), Signer::ec());
    server.publish(&a, "a");
    // The default refetch wait (2 s); a timeout longer than the server's delay (5 s) so the
    // slow fetch succeeds; a short cool-down so the refetch can start at once.
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_timeout(Duration::from_secs(10))
            .with_min_refetch_interval(Duration::from_millis(200)),
    );
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a"))).await.status,
        200
    );
    server.set_delay(Duration::from_secs(5));
    server.publish(&b, "b");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.fetches();

    let started = Instant::now();
    let out = call_within(&layer, &es_token(&b, "b"), Duration::from_secs(10)).await;
    let waited = started.elapsed();
    // 401 after the 2 s wait, not the key after the 5 s delay.
    assert_invalid(&out, K::UnknownKey);
    assert!(waited < Duration::from_secs(4), "answered after {waited:?}");
    // Known keys are not held up by the fetch in flight.
    let out = call_within(&layer, &es_token(&a, "a"), Duration::from_millis(1500)).await;
    assert_eq!(out.status, 200);
    // The fetch went on: once it delivered, the new key is accepted.
    accepted_within(&layer, &es_token(&b, "b"), Duration::from_secs(10)).await;
    // One fetch served every request.
    assert_eq!(server.fetches(), before + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_first_fetch_is_503_after_the_refetch_wait_then_keys_arrive() {
    let server = Server::start().await;
    let a = Signer::ec();
    server.publish(&a, "a");
    server.set_delay(Duration::from_secs(5));
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_timeout(Duration::from_secs(10)),
    );
    let started = Instant::now();
    let out = call_within(&layer, &es_token(&a, "a"), Duration::from_secs(10)).await;
    let waited = started.elapsed();
    // No key loaded yet, the fetch still in flight after the wait: 503, never 401 or 500.
    assert_eq!(out.status, 503, "{out:?}");
    assert_eq!(out.kind, Some(K::KeysUnavailable));
    assert!(waited < Duration::from_secs(4), "answered after {waited:?}");
    accepted_within(&layer, &es_token(&a, "a"), Duration::from_secs(10)).await;
    assert_eq!(server.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_max_age_from_the_endpoint_does_not_stop_refetching() {
    let server = Server::start().await;
    let (a, b) = (Signer::ec(), Signer::ec());
    server.publish(&a, "a");
    // A max-age whose 4/5 overflowed a `Duration` multiplication (a panic in the fetch task,
    // leaving the single flight claimed for ever).
    *server.cache_control.lock().unwrap() = Some(format!("max-age={}", u64::MAX));
    let layer = layer_for(JwksSource::new(&server.url()).unwrap());
    assert_eq!(
        call_within(&layer, &es_token(&a, "a"), Duration::from_secs(10))
            .await
            .status,
        200
    );
    server.publish(&b, "b");
    accepted_within(&layer, &es_token(&b, "b"), PICK_UP).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_jwks_source_of_an_entry_refetches_for_an_unknown_kid() {
    // One issuer publishing at two endpoints (a key rotation across two documents).
    let (first, second) = (Server::start().await, Server::start().await);
    let (a, b) = (Signer::ec(), Signer::ec());
    first.publish(&a, "a");
    second.publish(&a, "a2");
    let keys = KeySet::builder()
        .add_jwks(JwksSource::new(&first.url()).unwrap())
        .add_jwks(JwksSource::new(&second.url()).unwrap())
        .build()
        .unwrap();
    let layer = builder(keys).build().unwrap();
    assert_eq!(
        call(layer.clone(), Some(&es_token(&a, "a2"))).await.status,
        200
    );
    // The new key appears in the second document only.
    second.publish(&b, "b");
    accepted_within(&layer, &es_token(&b, "b"), PICK_UP).await;
}
