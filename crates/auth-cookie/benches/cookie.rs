//! Cookie layer benchmarks, side by side in one run: no middleware, ours, tower-cookies 0.11
//! and axum-extra 0.12's jars, all behind the same one-route axum `Router`.
//!
//! Run with `cargo xtask bench cookie` (prints medians and the added-cost ratios), or
//! `cargo bench -p auth-cookie --bench cookie`. Group ids start with `cookie_`; function ids are
//! `baseline` (no cookie middleware), `ours`, and the peers' names; the untouched groups also
//! have `floor` (`auth_tests::floor::HandleLayer`, the cheapest layer with a shared handle in
//! the extensions) to read the target against what any such layer costs.
//!
//! Requests carry their `Cookie` header the way hyper's HTTP/1 server builds it: the value is
//! a slice of one shared, reference-counted read buffer ([`wire`]), so cloning it (our jar
//! keeps clones, tower-cookies collects clones, axum-extra's jars parse from the request) is a
//! reference-count increment. A value built with `.header(COOKIE, "...")` (or
//! `HeaderValue::from_str`) is instead a uniquely owned `Vec` whose first clone allocates a
//! shared copy, a cost a server never pays and that would favour whoever avoids cloning.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

mod common;

use std::hint::black_box;
use std::time::Duration;

use auth_cookie::{CookieConfig, CookieKeys, CookieLayer, Cookies};
use auth_core::{KeyId, KeyRing, SecretKey};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use axum_extra::extract::cookie::{
    CookieJar as ExtraJar, PrivateCookieJar as ExtraPrivate, SignedCookieJar as ExtraSigned,
};
use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use tower::{Layer as _, ServiceExt};
use tower_cookies::cookie::{Cookie, CookieJar, Key};

use common::{request, untouched, wire};

const VALUE: &str = "a-typical-value-0123456789";

struct Fixtures {
    ours: CookieKeys,
    peer_key: Key,
    sig: CookieConfig,
    enc: CookieConfig,
}

fn fixtures() -> Fixtures {
    Fixtures {
        ours: CookieKeys::new(KeyRing::new(
            KeyId::new("k1").unwrap(),
            SecretKey::from_bytes(&[7; 32]).unwrap(),
        )),
        peer_key: Key::from(&[7; 64]),
        sig: CookieConfig::builder("sig").build().unwrap(),
        enc: CookieConfig::builder("enc").build().unwrap(),
    }
}

/// Four ordinary cookies plus `extra` (the one the scenario reads), five in all.
fn cookie_header(extra: &str) -> String {
    format!("c1=alpha; c2=bravo-charlie; c3={VALUE}; c4=delta; {extra}")
}

fn our_sealed(f: &Fixtures, private: bool) -> String {
    let jar = Cookies::from_headers(&http::HeaderMap::new());
    if private {
        jar.private(&f.ours).add(&f.enc, VALUE).unwrap();
    } else {
        jar.signed(&f.ours).add(&f.sig, VALUE).unwrap();
    }
    let mut headers = http::HeaderMap::new();
    jar.write_changes(&mut headers);
    headers[http::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

fn peer_sealed(f: &Fixtures, private: bool) -> String {
    let mut jar = CookieJar::new();
    if private {
        jar.private_mut(&f.peer_key).add(Cookie::new("enc", VALUE));
        format!("enc={}", jar.get("enc").unwrap().value())
    } else {
        jar.signed_mut(&f.peer_key).add(Cookie::new("sig", VALUE));
        format!("sig={}", jar.get("sig").unwrap().value())
    }
}

fn run(c: &mut Criterion, group: &str, cases: Vec<(&str, Router, String)>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut g = c.benchmark_group(group);
    g.warm_up_time(Duration::from_millis(800));
    g.measurement_time(Duration::from_secs(3));
    for (name, router, header) in cases {
        let header = wire(&header);
        // Every implementation must actually do the work: check the response once.
        let res = rt
            .block_on(router.clone().oneshot(request(&header)))
            .unwrap();
        assert!(
            res.status().is_success(),
            "{group}/{name}: {}",
            res.status()
        );
        g.bench_function(name, |b| {
            b.iter_batched(
                || (router.clone(), request(&header)),
                |(router, req)| black_box(rt.block_on(router.oneshot(req)).unwrap()),
                BatchSize::SmallInput,
            );
        });
    }
    g.finish();
}

/// Like [`run`], for layers wrapped around the whole `Router` (`ServiceBuilder` style) instead
/// of added with `Router::layer`, which makes axum box the layered route once more per request.
fn run_stack(c: &mut Criterion, group: &str, header: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let app = || Router::new().route("/", get(untouched));
    let header = &wire(header);
    let mut g = c.benchmark_group(group);
    g.warm_up_time(Duration::from_millis(800));
    g.measurement_time(Duration::from_secs(3));
    bench_service(&mut g, &rt, "baseline", &app(), header);
    bench_service(
        &mut g,
        &rt,
        "ours",
        &CookieLayer::new().layer(app()),
        header,
    );
    bench_service(
        &mut g,
        &rt,
        "tower-cookies",
        &tower_cookies::CookieManagerLayer::new().layer(app()),
        header,
    );
    bench_service(
        &mut g,
        &rt,
        "floor",
        &auth_tests::floor::HandleLayer.layer(app()),
        header,
    );
    g.finish();
}

fn bench_service<S>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    service: &S,
    header: &Bytes,
) where
    S: tower::Service<Request<Body>, Response = http::Response<Body>> + Clone,
    S::Error: std::fmt::Debug,
{
    let res = rt
        .block_on(service.clone().oneshot(request(header)))
        .unwrap();
    assert!(res.status().is_success(), "{name}: {}", res.status());
    g.bench_function(name, |b| {
        b.iter_batched(
            || (service.clone(), request(header)),
            |(service, req)| black_box(rt.block_on(service.oneshot(req)).unwrap()),
            BatchSize::SmallInput,
        );
    });
}

#[allow(clippy::needless_pass_by_value)] // takes what the jars return
fn check(found: Option<String>) -> &'static str {
    assert_eq!(found.as_deref(), Some(VALUE));
    "ok"
}

fn benches(c: &mut Criterion) {
    let f = fixtures();
    let plain = cookie_header("c5=echo");

    run(
        c,
        "cookie_untouched_5",
        vec![
            (
                "baseline",
                Router::new().route("/", get(untouched)),
                plain.clone(),
            ),
            (
                // What any layer costs through `Router::layer` (axum boxes the layered route
                // again), to read the other rows against.
                "noop-layer",
                Router::new()
                    .route("/", get(untouched))
                    .layer(tower::util::MapRequestLayer::new(|req: Request<Body>| req)),
                plain.clone(),
            ),
            (
                "ours",
                Router::new()
                    .route("/", get(untouched))
                    .layer(CookieLayer::new()),
                plain.clone(),
            ),
            (
                "tower-cookies",
                Router::new()
                    .route("/", get(untouched))
                    .layer(tower_cookies::CookieManagerLayer::new()),
                plain.clone(),
            ),
            (
                // The cheapest layer with a shared handle in the extensions
                // (`auth_tests::floor`): what any jar-in-the-extensions design pays.
                "floor",
                Router::new()
                    .route("/", get(untouched))
                    .layer(auth_tests::floor::HandleLayer),
                plain.clone(),
            ),
        ],
    );

    run_stack(c, "cookie_untouched_5_stack", &plain);

    run(
        c,
        "cookie_read_plain",
        vec![
            (
                "baseline",
                Router::new().route("/", get(untouched)),
                plain.clone(),
            ),
            (
                "ours",
                Router::new()
                    .route("/", get(|jar: Cookies| async move { check(jar.get("c3")) }))
                    .layer(CookieLayer::new()),
                plain.clone(),
            ),
            (
                "tower-cookies",
                Router::new()
                    .route(
                        "/",
                        get(|jar: tower_cookies::Cookies| async move {
                            check(jar.get("c3").map(|c| c.value().to_owned()))
                        }),
                    )
                    .layer(tower_cookies::CookieManagerLayer::new()),
                plain.clone(),
            ),
            (
                "axum-extra",
                Router::new().route(
                    "/",
                    get(|jar: ExtraJar| async move {
                        check(jar.get("c3").map(|c| c.value().to_owned()))
                    }),
                ),
                plain.clone(),
            ),
        ],
    );

    for (group, private) in [("cookie_read_signed", false), ("cookie_read_private", true)] {
        let ours_header = cookie_header(&our_sealed(&f, private));
        let peer_header = cookie_header(&peer_sealed(&f, private));
        let (keys, config) = (
            f.ours.clone(),
            if private {
                f.enc.clone()
            } else {
                f.sig.clone()
            },
        );
        let name = config.name().to_owned();
        let ours = Router::new()
            .route(
                "/",
                get(move |jar: Cookies| async move {
                    let value = if private {
                        jar.private(&keys).get(&config)
                    } else {
                        jar.signed(&keys).get(&config)
                    };
                    check(value)
                }),
            )
            .layer(CookieLayer::new());
        let key = f.peer_key.clone();
        let peer_name = name.clone();
        let tower_cookies = Router::new()
            .route(
                "/",
                get(move |jar: tower_cookies::Cookies| async move {
                    let value = if private {
                        jar.private(&key).get(&peer_name)
                    } else {
                        jar.signed(&key).get(&peer_name)
                    };
                    check(value.map(|c| c.value().to_owned()))
                }),
            )
            .layer(tower_cookies::CookieManagerLayer::new());
        let extra = if private {
            Router::new()
                .route(
                    "/",
                    get(move |jar: ExtraPrivate| async move {
                        check(jar.get("enc").map(|c| c.value().to_owned()))
                    }),
                )
                .with_state(f.peer_key.clone())
        } else {
            Router::new()
                .route(
                    "/",
                    get(move |jar: ExtraSigned| async move {
                        check(jar.get("sig").map(|c| c.value().to_owned()))
                    }),
                )
                .with_state(f.peer_key.clone())
        };
        run(
            c,
            group,
            vec![
                (
                    "baseline",
                    Router::new().route("/", get(untouched)),
                    peer_header.clone(),
                ),
                ("ours", ours, ours_header),
                ("tower-cookies", tower_cookies, peer_header.clone()),
                ("axum-extra", extra, peer_header),
            ],
        );
    }

    let (keys, sig) = (f.ours.clone(), f.sig.clone());
    let key = f.peer_key.clone();
    run(
        c,
        "cookie_write_signed",
        vec![
            (
                "baseline",
                Router::new().route("/", get(untouched)),
                plain.clone(),
            ),
            (
                "ours",
                Router::new()
                    .route(
                        "/",
                        get(move |jar: Cookies| async move {
                            jar.signed(&keys).add(&sig, VALUE).unwrap();
                            "ok"
                        }),
                    )
                    .layer(CookieLayer::new()),
                plain.clone(),
            ),
            (
                "tower-cookies",
                Router::new()
                    .route(
                        "/",
                        get(move |jar: tower_cookies::Cookies| async move {
                            jar.signed(&key).add(Cookie::new("sig", VALUE));
                            "ok"
                        }),
                    )
                    .layer(tower_cookies::CookieManagerLayer::new()),
                plain.clone(),
            ),
            (
                "axum-extra",
                Router::new()
                    .route(
                        "/",
                        get(|jar: ExtraSigned| async move {
                            (jar.add(Cookie::new("sig", VALUE)), "ok")
                        }),
                    )
                    .with_state(f.peer_key),
                plain,
            ),
        ],
    );
}

criterion_group!(cookie, benches);
criterion_main!(cookie);
