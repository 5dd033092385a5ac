//! The HTTP session scenarios and the layer-level acceptance tests against `MemoryStore`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use auth_core::{Clock, ManualClock, SessionStore};
use auth_session::MemoryStore;
use auth_tests::sessions::{AppOptions, Client, Instrumented, app, assert_no_store, send};
use http::StatusCode;
use http::header::SET_COOKIE;
use time::Duration;

async fn memory() -> Option<Arc<dyn SessionStore>> {
    Some(Arc::new(MemoryStore::new()))
}

mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(memory());
}

fn clocked(options: &AppOptions) -> (Arc<MemoryStore>, ManualClock) {
    let clock = ManualClock::default();
    let store = Arc::new(MemoryStore::with_clock(Arc::new(clock.clone())));
    let _ = options;
    (store, clock)
}

#[tokio::test]
async fn a_cookieless_flood_that_never_writes_leaves_the_store_empty() {
    let store = Arc::new(MemoryStore::new());
    let counted = Instrumented::new(store.clone());
    let app = app(counted.clone(), &AppOptions::new());
    for i in 0..10_000 {
        let path = match i % 3 {
            0 => "/public",
            1 => "/get/anything",
            _ => "/me",
        };
        let reply = send(&app, "GET", path, None).await;
        assert!(
            reply.headers.get(SET_COOKIE).is_none(),
            "{path} set a cookie"
        );
    }
    assert!(store.is_empty(), "{} sessions created", store.len());
    assert_eq!(counted.calls.write.load(Ordering::SeqCst), 0);
    assert_eq!(
        counted.calls.load.load(Ordering::SeqCst),
        0,
        "no cookie, nothing to load"
    );
}

#[tokio::test]
async fn a_request_that_never_touches_the_session_costs_no_store_call() {
    let counted = Instrumented::new(Arc::new(MemoryStore::new()));
    let app = app(counted.clone(), &AppOptions::new());
    let mut client = Client::new(app);
    client.send("POST", "/login/alice").await;
    let before = counted.calls.total();
    for _ in 0..100 {
        let reply = client.send("GET", "/public").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.headers.get(SET_COOKIE).is_none());
    }
    assert_eq!(
        counted.calls.total(),
        before,
        "untouched requests made store calls"
    );
    // A read loads once and, within the touch interval, writes nothing.
    client.send("GET", "/me").await;
    assert_eq!(counted.calls.total(), before + 1);
}

#[tokio::test]
async fn store_failure_is_503_never_anonymous_and_recovers() {
    let counted = Instrumented::new(Arc::new(MemoryStore::new()));
    let app = app(counted.clone(), &AppOptions::new());
    let mut client = Client::new(app);
    client.send("POST", "/login/bob").await;
    client.send("POST", "/set/k/v").await;

    counted.down.store(true, Ordering::SeqCst);
    for path in ["/me", "/admin", "/get/k"] {
        let reply = client.send("GET", path).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    let reply = client.send("POST", "/set/k/w").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        client.cookie.is_some(),
        "the session cookie survives an outage"
    );
    // Public routes never touch the store and keep working.
    assert_eq!(client.send("GET", "/public").await.status, StatusCode::OK);

    counted.down.store(false, Ordering::SeqCst);
    assert_eq!(client.send("GET", "/admin").await.status, StatusCode::OK);
    assert_eq!(client.send("GET", "/get/k").await.body, "v", "nothing lost");
}

#[tokio::test]
async fn idle_timeout_ends_a_session_and_reads_extend_it() {
    let options = AppOptions::new();
    let (store, clock) = clocked(&options);
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        ..options
    };
    let app = app(store, &options);
    let mut client = Client::new(app);
    client.send("POST", "/login/alice").await;
    // Activity every 20 minutes keeps the 30-minute idle timeout at bay.
    for _ in 0..5 {
        clock.advance(Duration::minutes(20));
        assert_eq!(client.send("GET", "/me").await.status, StatusCode::OK);
    }
    clock.advance(Duration::minutes(31));
    assert_eq!(
        client.send("GET", "/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn absolute_timeout_ends_even_an_active_session() {
    let options = AppOptions::new();
    let (store, clock) = clocked(&options);
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        ..options
    };
    let app = app(store, &options);
    let mut client = Client::new(app);
    client.send("POST", "/login/alice").await;
    let start = clock.now();
    while clock.now() - start < Duration::hours(11) {
        clock.advance(Duration::minutes(20));
        assert_eq!(client.send("GET", "/me").await.status, StatusCode::OK);
    }
    clock.advance(Duration::hours(1) + Duration::minutes(1));
    assert_eq!(
        client.send("GET", "/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn remember_me_overrides_expiry_and_sets_max_age() {
    let options = AppOptions::new();
    let (store, clock) = clocked(&options);
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        ..options
    };
    let app = app(store, &options);
    let mut client = Client::new(app);
    let reply = client.send("POST", "/login/alice").await;
    assert!(
        !reply.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age"),
        "a browser-session cookie by default"
    );
    let reply = client.send("POST", "/remember").await;
    let set_cookie = reply.headers[SET_COOKIE].to_str().unwrap();
    assert!(
        set_cookie.contains(&format!("Max-Age={}", 14 * 86_400)),
        "{set_cookie}"
    );
    assert_no_store(&reply);
    clock.advance(Duration::days(10));
    assert_eq!(
        client.send("GET", "/me").await.status,
        StatusCode::OK,
        "idle 14 days now"
    );
    clock.advance(Duration::days(15));
    assert_eq!(
        client.send("GET", "/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn works_under_a_cookie_layer_too() {
    let options = AppOptions::new();
    let app = app(Arc::new(MemoryStore::new()), &options).layer(auth_cookie::CookieLayer::new());
    let mut client = Client::new(app);
    let reply = client.send("POST", "/login/alice").await;
    assert_eq!(reply.headers.get_all(SET_COOKIE).iter().count(), 1);
    assert_eq!(client.send("GET", "/me").await.body, "alice");
    let reply = client.send("POST", "/logout").await;
    assert!(
        reply.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}
