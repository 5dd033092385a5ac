//! The untouched-request target as paired, interleaved measurements (see
//! `auth_tests::paired`): criterion's rows run one after the other, and on a shared machine
//! whose speed drifts the few tens of nanoseconds these layers add move by more than the
//! target's margin between rows.
//!
//! Rows, the same services as the `cookie` bench's `cookie_untouched_5` and
//! `cookie_untouched_5_stack` groups (five cookies, a handler that reads none): `baseline`
//! (the Router alone), `noop-layer` (an identity layer through `Router::layer`: what axum
//! charges any layer attached that way), `ours` and `tower-cookies` through `Router::layer`,
//! and `ours-stack` and `tower-cookies-stack` wrapped around the whole Router; `floor` and
//! `floor-stack`, the same two ways, are `auth_tests::floor::HandleLayer`: the cheapest layer
//! that puts a shared handle in the extensions and checks it after the handler, which any
//! layer meeting the design (a jar in the request extensions) pays; `marker` is the
//! noop layer with one insert (`auth_tests::floor::insert_marker`) through `Router::layer`: a
//! zero-sized value put in the extensions and nothing else, what putting anything there costs.
//!
//! A second set, `read_write_5`, serves what the jar pool (a thread's spare emptied jars) is
//! for: the same five cookies and a handler that reads one and sets one, `baseline` (the
//! Router with the untouched handler), `ours` and `tower-cookies` through `Router::layer`.
//!
//! Printed: ours' added cost over tower-cookies' (the target: at most 0.5) in the three
//! readings: `Router::layer` over the baseline (axum's boxing counted in both), over the noop
//! layer (the layers' own cost), and wrapped around the Router; then the floor's added cost
//! over tower-cookies' in the same three readings: what the cheapest known layer with such a
//! handle reaches in this harness.
//!
//! `cargo xtask bench cookie` runs it after the criterion suite; alone:
//! `cargo bench -p auth-cookie --bench cookie_paired [-- ROUNDS]`.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use auth_cookie::{CookieConfig, CookieLayer, Cookies};
use auth_tests::floor::{HandleLayer, insert_marker};
use auth_tests::paired::{self, Row};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::{Request, StatusCode};
use tower::{Layer as _, Service};
use tower_cookies::cookie::Cookie;

use common::{request, untouched, wire};

/// Rounds unless given on the command line.
const ROUNDS: usize = 400;

/// One request through a clone of `service`, checked.
fn call<S>(rt: &tokio::runtime::Runtime, service: &S, header: &Bytes)
where
    S: Service<Request<Body>, Response = http::Response<Body>> + Clone,
    S::Error: std::fmt::Debug,
{
    paired::serve(rt, service, request(header));
}

fn main() {
    let rounds = paired::rounds_arg(ROUNDS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let header =
        wire("c1=alpha; c2=bravo-charlie; c3=a-typical-value-0123456789; c4=delta; c5=echo");
    let app = || Router::new().route("/", get(untouched));
    let baseline = app();
    let noop = app().layer(tower::util::MapRequestLayer::new(|req: Request<Body>| req));
    let ours = app().layer(CookieLayer::new());
    let peer = app().layer(tower_cookies::CookieManagerLayer::new());
    let ours_stack = CookieLayer::new().layer(app());
    let peer_stack = tower_cookies::CookieManagerLayer::new().layer(app());
    let floor = app().layer(HandleLayer);
    let marker = app().layer(tower::util::MapRequestLayer::new(insert_marker::<Body>));
    let floor_stack = HandleLayer.layer(app());

    let mut rows: Vec<Row<'_>> = vec![
        ("baseline", Box::new(|| call(&rt, &baseline, &header))),
        ("noop-layer", Box::new(|| call(&rt, &noop, &header))),
        ("ours", Box::new(|| call(&rt, &ours, &header))),
        ("tower-cookies", Box::new(|| call(&rt, &peer, &header))),
        ("ours-stack", Box::new(|| call(&rt, &ours_stack, &header))),
        (
            "tower-cookies-stack",
            Box::new(|| call(&rt, &peer_stack, &header)),
        ),
        ("floor", Box::new(|| call(&rt, &floor, &header))),
        ("floor-stack", Box::new(|| call(&rt, &floor_stack, &header))),
        ("marker", Box::new(|| call(&rt, &marker, &header))),
    ];
    let per_round = paired::rounds(&mut rows, rounds);
    let (mut layer, mut over_noop, mut stack) = (Vec::new(), Vec::new(), Vec::new());
    let (mut floor_layer, mut floor_noop, mut floor_stack) = (Vec::new(), Vec::new(), Vec::new());
    let (mut noop_layer, mut marker_layer) = (Vec::new(), Vec::new());
    for ns in &per_round {
        let &[
            base,
            noop,
            ours,
            peer,
            ours_stack,
            peer_stack,
            floor,
            floor_s,
            marker,
        ] = ns.as_slice()
        else {
            continue;
        };
        noop_layer.push((noop - base) / (peer - base));
        marker_layer.push((marker - base) / (peer - base));
        layer.push((ours - base) / (peer - base));
        over_noop.push((ours - noop) / (peer - noop));
        stack.push((ours_stack - base) / (peer_stack - base));
        floor_layer.push((floor - base) / (peer - base));
        floor_noop.push((floor - noop) / (peer - noop));
        floor_stack.push((floor_s - base) / (peer_stack - base));
    }
    println!(
        "cookie_paired/untouched_5: {rounds} rounds; medians: {}",
        paired::medians(&rows, &per_round)
    );
    println!(
        "cookie_paired/untouched_5: {}; {}; {}",
        paired::summary("ours added / tower-cookies added (Router::layer)", layer),
        paired::summary("over noop-layer", over_noop),
        paired::summary("stack", stack)
    );
    println!(
        "cookie_paired/untouched_5: {}; {}; {}",
        paired::summary(
            "floor added / tower-cookies added (Router::layer)",
            floor_layer
        ),
        paired::summary("over noop-layer", floor_noop),
        paired::summary("stack", floor_stack)
    );
    println!(
        "cookie_paired/untouched_5: {}; {}",
        paired::summary(
            "noop-layer added / tower-cookies added (Router::layer)",
            noop_layer
        ),
        paired::summary(
            "marker (a zero-sized extension, nothing else)",
            marker_layer
        )
    );
    read_write(&rt, &header, rounds);
}

/// The `read_write_5` set: a handler that reads `c3` and sets `theme`, ours against
/// tower-cookies, both through `Router::layer`, over the untouched baseline; a handler that
/// misses `c3` answers 500, which stops the run.
fn read_write(rt: &tokio::runtime::Runtime, header: &Bytes, rounds: usize) {
    let theme = CookieConfig::builder("theme").build().unwrap();
    let baseline = Router::new().route("/", get(untouched));
    let ours = Router::new()
        .route(
            "/",
            get(move |jar: Cookies| async move {
                let seen = jar.get("c3").is_some();
                jar.add(&theme, "dark").unwrap();
                if seen {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        )
        .layer(CookieLayer::new());
    let peer = Router::new()
        .route(
            "/",
            get(|jar: tower_cookies::Cookies| async move {
                let seen = jar.get("c3").is_some();
                jar.add(Cookie::new("theme", "dark"));
                if seen {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }),
        )
        .layer(tower_cookies::CookieManagerLayer::new());
    let mut rows: Vec<Row<'_>> = vec![
        ("baseline", Box::new(|| call(rt, &baseline, header))),
        ("ours", Box::new(|| call(rt, &ours, header))),
        ("tower-cookies", Box::new(|| call(rt, &peer, header))),
    ];
    let per_round = paired::rounds(&mut rows, rounds);
    let ratios = per_round
        .iter()
        .filter_map(|ns| match ns.as_slice() {
            &[base, ours, peer] => Some((ours - base) / (peer - base)),
            _ => None,
        })
        .collect();
    println!(
        "cookie_paired/read_write_5: {rounds} rounds; medians: {}",
        paired::medians(&rows, &per_round)
    );
    println!(
        "cookie_paired/read_write_5: {}",
        paired::summary("ours added / tower-cookies added (Router::layer)", ratios)
    );
}
