//! The HTTP session scenarios and the layer-level acceptance tests against `MemoryStore`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::Ordering;

use auth_core::{Clock, ManualClock, SessionStore};
use auth_session::{CachingStore, MemoryStore};
use auth_tests::sessions::{
    AppOptions, Client, Instrumented, app, assert_no_store, principals, send,
};
use http::StatusCode;
use http::header::SET_COOKIE;
use time::Duration;

async fn memory() -> Option<Arc<dyn SessionStore>> {
    Some(Arc::new(MemoryStore::new()))
}

mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(|_| memory());
}

/// The same scenarios through a `CachingStore` (a `MemoryStore` in front of another).
mod caching_scenarios {
    use super::*;
    auth_tests::session_scenarios!(|_| async {
        let store: Arc<dyn SessionStore> =
            Arc::new(CachingStore::new(MemoryStore::new(), MemoryStore::new()));
        Some(store)
    });
}

#[tokio::test]
async fn the_per_user_index_keeps_principals_of_different_issuers_apart() {
    principals::principals_stay_apart(&MemoryStore::new(), false).await;
    let caching = CachingStore::new(MemoryStore::new(), MemoryStore::new());
    principals::principals_stay_apart(&caching, false).await;
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

mod conflicts {
    use auth_session::{ConflictPolicy, Session, SessionConflict, SessionError, SessionLayer};
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    use http::Request;
    use http::header::COOKIE;
    use tokio::sync::Notify;
    use tower::ServiceExt;

    use super::*;

    /// `/seed` writes `k=seed`; `/slow` reads `k`, waits for the gate, then writes `k=slow` and
    /// `a=slow`; `/fast` writes `k=fast` and `b=fast`.
    fn app(
        policy: ConflictPolicy,
        gate: Arc<Notify>,
        entered: Arc<Notify>,
    ) -> (Router, AppOptions) {
        let options = AppOptions::new();
        let layer = SessionLayer::new(MemoryStore::new(), options.keys.clone())
            .with_conflict_policy(policy);
        let router = Router::new()
            .route(
                "/slow",
                post(move |s: Session| {
                    let (gate, entered) = (gate.clone(), entered.clone());
                    async move {
                        s.get::<String>("k").await?;
                        entered.notify_one();
                        gate.notified().await;
                        s.insert("k", "slow").await?;
                        s.insert("a", "slow").await?;
                        Ok::<_, SessionError>("slow")
                    }
                }),
            )
            .route(
                "/seed",
                post(|s: Session| async move {
                    s.insert("k", "seed").await?;
                    Ok::<_, SessionError>("seed")
                }),
            )
            .route(
                "/fast",
                post(|s: Session| async move {
                    s.insert("k", "fast").await?;
                    s.insert("b", "fast").await?;
                    Ok::<_, SessionError>("fast")
                }),
            )
            .route(
                "/read",
                post(|s: Session| async move {
                    let get = |k: &'static str| {
                        let s = s.clone();
                        async move { s.get::<String>(k).await.map(Option::unwrap_or_default) }
                    };
                    Ok::<_, SessionError>(format!(
                        "{} {} {}",
                        get("k").await?,
                        get("a").await?,
                        get("b").await?
                    ))
                }),
            )
            .layer(layer);
        (router, options)
    }

    async fn race(policy: ConflictPolicy) -> (String, Option<SessionConflict>) {
        let (gate, entered) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let (router, _) = app(policy, gate.clone(), entered.clone());
        let mut client = Client::new(router.clone());
        client.send("POST", "/seed").await;
        let cookie = client.cookie.clone().unwrap();
        let request = |path: &str| {
            Request::post(path)
                .header(COOKIE, cookie.clone())
                .body(Body::empty())
                .unwrap()
        };
        let slow = tokio::spawn(router.clone().oneshot(request("/slow")));
        entered.notified().await;
        let fast = router.clone().oneshot(request("/fast")).await.unwrap();
        assert_eq!(fast.status(), StatusCode::OK);
        gate.notify_one();
        let slow = slow.await.unwrap().unwrap();
        assert_eq!(slow.status(), StatusCode::OK);
        let conflict = slow.extensions().get::<SessionConflict>().cloned();
        let read = client.send("POST", "/read").await.body;
        (read, conflict)
    }

    #[tokio::test]
    async fn same_key_conflict_last_writer_wins_and_is_reported() {
        let (read, conflict) = race(ConflictPolicy::LastWriterWins).await;
        assert_eq!(
            read, "slow slow fast",
            "different keys both stick; the later write wins k"
        );
        assert_eq!(
            conflict,
            Some(SessionConflict {
                keys: vec!["k".to_owned()]
            })
        );
    }

    #[tokio::test]
    async fn same_key_conflict_first_writer_wins_when_configured() {
        let (read, conflict) = race(ConflictPolicy::FirstWriterWins).await;
        assert_eq!(read, "fast slow fast");
        assert_eq!(
            conflict,
            Some(SessionConflict {
                keys: vec!["k".to_owned()]
            })
        );
    }
}

#[tokio::test]
async fn reads_refresh_the_idle_deadline_at_most_once_per_touch_interval() {
    let clock = ManualClock::default();
    let store = Instrumented::new(Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))));
    let options = AppOptions {
        clock: Arc::new(clock.clone()),
        ..AppOptions::new()
    };
    let app = app(store.clone(), &options);
    let mut client = Client::new(app);
    client.send("POST", "/login/alice").await;
    let writes = || store.calls.write.load(Ordering::SeqCst);
    let after_login = writes();
    for _ in 0..10 {
        clock.advance(Duration::seconds(5));
        client.send("GET", "/me").await;
    }
    assert_eq!(
        writes(),
        after_login,
        "50 s of reads: within the 1-minute interval, no touch"
    );
    clock.advance(Duration::seconds(15));
    client.send("GET", "/me").await;
    assert_eq!(
        writes(),
        after_login + 1,
        "one touch once the interval has passed"
    );
    client.send("GET", "/me").await;
    assert_eq!(writes(), after_login + 1);
}

#[tokio::test]
async fn unsigned_cookie_mode_carries_the_bare_id_and_refuses_unknown_ones() {
    let options = AppOptions {
        unsigned: true,
        ..AppOptions::new()
    };
    let app = app(Arc::new(MemoryStore::new()), &options);
    let mut client = Client::new(app.clone());
    client.send("POST", "/login/alice").await;
    let cookie = client.cookie.clone().unwrap();
    let value = auth_tests::sessions::cookie_value(&cookie);
    assert_eq!(value.len(), 22, "the bare 22-character ID: {cookie}");
    assert_eq!(client.send("GET", "/me").await.body, "alice");
    // Another well-formed ID that the store does not know is anonymous, and is not adopted.
    let forged = format!(
        "{}={}",
        auth_session::DEFAULT_COOKIE_NAME,
        auth_core::SessionId::generate().unwrap().encode()
    );
    assert_eq!(
        send(&app, "GET", "/me", Some(&forged)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = send(&app, "POST", "/set/a/b", Some(&forged)).await;
    let fresh = reply.headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert_ne!(fresh, forged);
}
