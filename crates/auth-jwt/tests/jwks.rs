//! JWKS against a real HTTP server on 127.0.0.1 that counts fetches.
#![cfg(feature = "jwks")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    down: Arc<AtomicBool>,
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
}

async fn jwks(State(server): State<Server>) -> axum::response::Response {
    server.fetches.fetch_add(1, Ordering::SeqCst);
    if server.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body = serde_json::to_string(&*server.keys.lock().unwrap()).unwrap();
    ([("content-type", "application/json")], body).into_response()
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
    let started = std::time::Instant::now();
    // The spec: at most one fetch per interval, so allow one more per interval that passed.
    let allowed = |started: std::time::Instant| {
        1 + usize::try_from(started.elapsed().as_millis() / 300).unwrap()
    };
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
