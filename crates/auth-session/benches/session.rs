//! Session layer benchmarks, side by side in one run: no middleware, ours (`MemoryStore`,
//! signed cookie by default, and unsigned) and tower-sessions 0.15 with its `MemoryStore`
//! (plain and signed cookies), identical handlers behind the same one-route axum `Router`.
//! Compare `ours` with `tower-sessions-signed` and `ours-unsigned` with `tower-sessions`.
//! Each group also has a `noop-layer` row: the baseline with an identity layer added through
//! `Router::layer`, i.e. axum's own per-request cost for any layer attached that way; the
//! untouched groups a `floor` row: `auth_tests::floor::HandleLayer`, the cheapest layer that
//! puts a shared handle in the extensions and checks it after the handler; the create group a
//! `floor` and `floor-signed` row of its own: `auth_tests::create_floor`, a create stripped
//! of expiry, versions and bound, unsigned and signed (its store, like tower-sessions', grows
//! without bound, past the million `ours` keeps: only the paired bench's creates stay below
//! that, so read its floor there). In the scenarios
//! with a session cookie, `baseline`, `noop-layer` and `floor` get the same request as `ours`
//! (its cookie), so every row's added cost is over an identical request.
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

mod common;

use std::hint::black_box;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use tower::ServiceExt;

use common::{Handler, ours, peer, request, seeded, wire};

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
        let apps = [
            ("ours", ours(handler, true)),
            ("ours-unsigned", ours(handler, false)),
            ("tower-sessions", peer(handler, false)),
            ("tower-sessions-signed", peer(handler, true)),
        ];
        let cookies: Vec<Option<String>> = apps
            .iter()
            .map(|(_, app)| with_cookie.then(|| seeded(&rt, app)))
            .collect();
        // The rows without a session layer get the same request as `ours`: "added" is what
        // the layer adds to an identical request, not the cost of a Cookie header.
        let same_request = cookies.first().cloned().flatten();
        let mut cases: Vec<(&str, Router, Option<String>)> = vec![
            ("baseline", baseline(), same_request.clone()),
            // What any layer costs through `Router::layer` (axum boxes the layered route once
            // more per request): `cargo xtask bench session` also prints each row over it.
            (
                "noop-layer",
                baseline().layer(tower::util::MapRequestLayer::new(|req: Request<Body>| req)),
                same_request.clone(),
            ),
        ];
        if matches!(handler, Handler::Untouched) {
            // The cheapest layer with a shared handle in the extensions (`auth_tests::floor`):
            // what any design with a `Session` in the extensions pays on an untouched request.
            cases.push((
                "floor",
                baseline().layer(auth_tests::floor::HandleLayer),
                same_request,
            ));
        } else if matches!(handler, Handler::Create) {
            // A create stripped of expiry, versions and bound (`auth_tests::create_floor`),
            // unsigned and signed. Its store grows without bound here (criterion creates
            // millions of sessions), so this row is no floor: see the paired bench.
            cases.push(("floor", common::create_floor(false), same_request.clone()));
            cases.push(("floor-signed", common::create_floor(true), same_request));
        }
        cases.extend(
            apps.into_iter()
                .zip(cookies)
                .map(|((name, app), c)| (name, app, c)),
        );
        run(c, group, cases);
    }
}

criterion_group!(session, benches);
criterion_main!(session);
