//! Session layer benchmarks, side by side in one run: no middleware, ours (`MemoryStore`,
//! signed cookie by default, and unsigned) and tower-sessions 0.15 with its `MemoryStore`
//! (plain and signed cookies), identical handlers behind the same one-route axum `Router`.
//! Compare `ours` with `tower-sessions-signed` and `ours-unsigned` with `tower-sessions`.
//! Each group also has a `noop-layer` row: the baseline with an identity layer added through
//! `Router::layer`, i.e. axum's own per-request cost for any layer attached that way.
//!
//! Run with `cargo xtask bench session` (prints medians and added-cost ratios), or
//! `cargo bench -p auth-session --bench session`. Group ids start with `session_`.
//!
//! Requests carry their `Cookie` header the way hyper's HTTP/1 server builds it: the value is
//! a slice of one shared, reference-counted read buffer ([`wire`]), so cloning it (our layer
//! keeps a clone for the lazy cookie lookup, tower-sessions' cookie layer collects clones) is a
//! reference-count increment. A value built with `.header(COOKIE, "...")` (or
//! `HeaderValue::from_str`) is instead a uniquely owned `Vec` whose first clone allocates a
//! shared copy, a cost a server never pays and that would favour whoever avoids cloning.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use auth_cookie::CookieKeys;
use auth_core::{KeyId, KeyRing, SecretKey};
use auth_session::{MemoryStore, Session, SessionLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use tower::ServiceExt;

#[derive(Clone, Copy)]
enum Handler {
    Untouched,
    Read,
    Modify,
    Create,
}

fn ours(handler: Handler, signed: bool) -> Router {
    let keys = CookieKeys::new(KeyRing::new(
        KeyId::new("k").unwrap(),
        SecretKey::from_bytes(&[3; 32]).unwrap(),
    ));
    let mut layer = SessionLayer::new(MemoryStore::new(), keys);
    if !signed {
        layer = layer.with_unsigned_cookie();
    }
    let route = match handler {
        Handler::Untouched => get(|| async { "ok" }),
        Handler::Read => get(|s: Session| async move {
            let n: Option<u64> = s.get("n").await.unwrap();
            assert!(n.is_some());
            "ok"
        }),
        Handler::Modify => get(|s: Session| async move {
            let n: u64 = s.get("n").await.unwrap().unwrap_or(0);
            s.insert("n", &(n + 1)).await.unwrap();
            "ok"
        }),
        Handler::Create => get(|s: Session| async move {
            s.insert("n", &1_u64).await.unwrap();
            "ok"
        }),
    };
    Router::new()
        .route("/", route)
        .route(
            "/seed",
            get(|s: Session| async move {
                s.insert("n", &1_u64).await.unwrap();
                "ok"
            }),
        )
        .layer(layer)
}

fn peer(handler: Handler, signed: bool) -> Router {
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default());
    let route = match handler {
        Handler::Untouched => get(|| async { "ok" }),
        Handler::Read => get(|s: tower_sessions::Session| async move {
            let n: Option<u64> = s.get("n").await.unwrap();
            assert!(n.is_some());
            "ok"
        }),
        Handler::Modify => get(|s: tower_sessions::Session| async move {
            let n: u64 = s.get("n").await.unwrap().unwrap_or(0);
            s.insert("n", n + 1).await.unwrap();
            "ok"
        }),
        Handler::Create => get(|s: tower_sessions::Session| async move {
            s.insert("n", 1_u64).await.unwrap();
            "ok"
        }),
    };
    let router = Router::new().route("/", route).route(
        "/seed",
        get(|s: tower_sessions::Session| async move {
            s.insert("n", 1_u64).await.unwrap();
            "ok"
        }),
    );
    if signed {
        router.layer(layer.with_signed(tower_sessions::cookie::Key::from(&[3; 64])))
    } else {
        router.layer(layer)
    }
}

/// The `Cookie` header value `cookie` as hyper's HTTP/1 parser leaves it: a slice of the
/// shared buffer the request was read into (`BytesMut::split_to(..).freeze()`, then
/// `Bytes::slice` per header), so every clone shares that buffer.
fn wire(cookie: &str) -> Bytes {
    let text = format!("GET / HTTP/1.1\r\nhost: example.com\r\ncookie: {cookie}\r\n\r\n");
    let mut read_buf = BytesMut::from(text.as_bytes());
    let head = read_buf.split_to(text.len()).freeze();
    let start = text.find("cookie: ").unwrap() + "cookie: ".len();
    head.slice(start..start + cookie.len())
}

/// A request, with a `Cookie` header sharing `cookie`'s buffer (see [`wire`]) if given.
fn request(cookie: Option<&Bytes>) -> Request<Body> {
    let mut req = Request::builder().uri("/");
    if let Some(cookie) = cookie {
        req = req.header(
            COOKIE,
            HeaderValue::from_maybe_shared(cookie.clone()).unwrap(),
        );
    }
    req.body(Body::empty()).unwrap()
}

/// A session cookie for `app`, from its `/seed` route (same store as `/`).
fn seeded(rt: &tokio::runtime::Runtime, app: &Router) -> String {
    let req = Request::builder().uri("/seed").body(Body::empty()).unwrap();
    let res = rt.block_on(app.clone().oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

fn run(c: &mut Criterion, group: &str, cases: Vec<(&str, Router, Option<String>)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group(group);
    g.warm_up_time(Duration::from_millis(800));
    g.measurement_time(Duration::from_secs(3));
    for (name, router, cookie) in cases {
        let cookie = cookie.as_deref().map(wire);
        let res = rt
            .block_on(router.clone().oneshot(request(cookie.as_ref())))
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{group}/{name}");
        g.bench_function(name, |b| {
            b.iter_batched(
                || (router.clone(), request(cookie.as_ref())),
                |(router, req)| black_box(rt.block_on(router.oneshot(req)).unwrap()),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let baseline = || Router::new().route("/", get(|| async { "ok" }));
    let scenarios = [
        ("session_no_cookie_untouched", Handler::Untouched, false),
        ("session_cookie_untouched", Handler::Untouched, true),
        ("session_load_read", Handler::Read, true),
        ("session_load_modify_save", Handler::Modify, true),
        ("session_create", Handler::Create, false),
    ];
    for (group, handler, with_cookie) in scenarios {
        let mut cases: Vec<(&str, Router, Option<String>)> = vec![
            ("baseline", baseline(), None),
            // What any layer costs through `Router::layer` (axum boxes the layered route once
            // more per request): `cargo xtask bench session` also prints each row over it.
            (
                "noop-layer",
                baseline().layer(tower::util::MapRequestLayer::new(|req: Request<Body>| req)),
                None,
            ),
        ];
        for (name, app) in [
            ("ours", ours(handler, true)),
            ("ours-unsigned", ours(handler, false)),
            ("tower-sessions", peer(handler, false)),
            ("tower-sessions-signed", peer(handler, true)),
        ] {
            let cookie = with_cookie.then(|| seeded(&rt, &app));
            cases.push((name, app, cookie));
        }
        run(c, group, cases);
    }
}

criterion_group!(session, benches);
criterion_main!(session);
