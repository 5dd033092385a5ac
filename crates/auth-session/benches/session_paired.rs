//! The session targets as paired, interleaved measurements (see `auth_tests::paired`):
//! criterion's rows run one after the other, and on a shared machine whose speed drifts the
//! ratio between two rows moves by more than the targets' margins.
//!
//! Per scenario, the same apps as the `session` bench (`common`): `baseline` (the Router
//! alone), `noop-layer` (an identity layer through `Router::layer`: axum's own cost for any
//! layer attached that way), `ours` (signed cookie, the default), `ours-unsigned`,
//! `tower-sessions` and `tower-sessions-signed` (0.15, `MemoryStore`). Printed: ours' added
//! cost over tower-sessions' (the target: at most one third), signed against signed
//! and unsigned against unsigned, over the baseline and over the noop layer. The untouched
//! scenarios also run `floor` (`auth_tests::floor::HandleLayer`: the cheapest layer that puts
//! a shared handle in the extensions and checks it after the handler) and print its ratios:
//! what the cheapest known layer with a handle in the extensions reaches in this harness. The
//! create scenario runs its own `floor` and `floor-signed` (`auth_tests::create_floor`: a
//! create stripped of expiry, versions and bound, into an unsharded map; the second signs its
//! cookie as ours does), printed the same way (signed rows against `floor-signed`).
//! Where the scenario sends a session cookie, `baseline`, `noop-layer` and `floor` get the
//! same request as `ours` (its cookie; the other rows send their own, of another length, which
//! costs the same to build: a header value is a slice of one shared buffer).
//!
//! `cargo xtask bench session` runs it after the criterion suite; alone:
//! `cargo bench -p auth-session --bench session_paired --all-features [-- ROUNDS] [SCENARIO...]`
//! (scenarios whose name contains one of the words given, e.g. `create`).
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

mod common;

use auth_tests::floor::HandleLayer;
use auth_tests::paired::{self, Row};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::Request;

use common::{Handler, create_floor, ours, peer, request, seeded, wire};

/// Rounds per scenario unless given on the command line.
const ROUNDS: usize = 200;

/// One request through a clone of `app`, checked.
fn call(rt: &tokio::runtime::Runtime, app: &Router, cookie: Option<&Bytes>) {
    paired::serve(rt, app, request(cookie));
}

fn main() {
    let rounds = paired::rounds_arg(ROUNDS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let baseline = || Router::new().route("/", get(|| async { "ok" }));
    let scenarios = [
        ("no_cookie_untouched", Handler::Untouched, false),
        ("cookie_untouched", Handler::Untouched, true),
        ("load_read", Handler::Read, true),
        ("load_modify_save", Handler::Modify, true),
        ("create", Handler::Create, false),
    ];
    // Other arguments than the rounds filter scenarios by name (`-- 300 create`).
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-') && a.parse::<usize>().is_err())
        .collect();
    for (scenario, handler, with_cookie) in scenarios {
        if !filters.is_empty() && !filters.iter().any(|f| scenario.contains(f.as_str())) {
            continue;
        }
        let apps = [
            ("ours", ours(handler, true)),
            ("ours-unsigned", ours(handler, false)),
            ("tower-sessions", peer(handler, false)),
            ("tower-sessions-signed", peer(handler, true)),
        ];
        let cookies: Vec<Option<Bytes>> = apps
            .iter()
            .map(|(_, app)| with_cookie.then(|| wire(&seeded(&rt, app))))
            .collect();
        // The rows without a session layer get the same request as `ours` (its cookie).
        let same = cookies.first().cloned().flatten();
        let untouched = matches!(handler, Handler::Untouched);
        let create = matches!(handler, Handler::Create);
        let (base, noop) = (
            baseline(),
            baseline().layer(tower::util::MapRequestLayer::new(|req: Request<Body>| req)),
        );
        // The untouched scenarios' floor serves both cookie kinds (it writes none); the
        // create scenario's comes unsigned and signed.
        let floors: Vec<(&str, Router)> = if create {
            vec![
                ("floor", create_floor(false)),
                ("floor-signed", create_floor(true)),
            ]
        } else if untouched {
            vec![("floor", baseline().layer(HandleLayer))]
        } else {
            Vec::new()
        };
        let mut rows: Vec<Row<'_>> = vec![
            ("baseline", Box::new(|| call(&rt, &base, same.as_ref()))),
            ("noop-layer", Box::new(|| call(&rt, &noop, same.as_ref()))),
        ];
        for ((name, app), cookie) in apps.iter().zip(&cookies) {
            rows.push((name, Box::new(|| call(&rt, app, cookie.as_ref()))));
        }
        for (name, floor) in &floors {
            rows.push((name, Box::new(|| call(&rt, floor, same.as_ref()))));
        }
        let per_round = paired::rounds(&mut rows, rounds);
        let mut ratios: [Vec<f64>; 4] = Default::default();
        let mut floor_ratios: [Vec<f64>; 4] = Default::default();
        for ns in &per_round {
            let Some((&[base, noop, ours, ours_u, ts, ts_signed], rest)) = ns.split_at_checked(6)
            else {
                continue;
            };
            let [signed, unsigned, signed_noop, unsigned_noop] = &mut ratios;
            signed.push((ours - base) / (ts_signed - base));
            unsigned.push((ours_u - base) / (ts - base));
            signed_noop.push((ours - noop) / (ts_signed - noop));
            unsigned_noop.push((ours_u - noop) / (ts - noop));
            let (floor, floor_signed) = match *rest {
                [floor] => (floor, floor),
                [floor, floor_signed] => (floor, floor_signed),
                _ => continue,
            };
            {
                let [signed, unsigned, signed_noop, unsigned_noop] = &mut floor_ratios;
                signed.push((floor_signed - base) / (ts_signed - base));
                unsigned.push((floor - base) / (ts - base));
                signed_noop.push((floor_signed - noop) / (ts_signed - noop));
                unsigned_noop.push((floor - noop) / (ts - noop));
            }
        }
        println!(
            "session_paired/{scenario}: {rounds} rounds; medians: {}",
            paired::medians(&rows, &per_round)
        );
        let [signed, unsigned, signed_noop, unsigned_noop] = ratios;
        println!(
            "session_paired/{scenario}: {}; {}; {}; {}",
            paired::summary("signed: ours added / tower-sessions-signed added", signed),
            paired::summary("unsigned: ours-unsigned / tower-sessions", unsigned),
            paired::summary("over noop-layer: signed", signed_noop),
            paired::summary("unsigned", unsigned_noop)
        );
        if !floors.is_empty() {
            let [signed, unsigned, signed_noop, unsigned_noop] = floor_ratios;
            let signed_floor = floors.last().map_or("floor", |(name, _)| *name);
            println!(
                "session_paired/{scenario}: {}; {}; {}; {}",
                paired::summary(
                    &format!("{signed_floor} added / tower-sessions-signed added"),
                    signed
                ),
                paired::summary("floor / tower-sessions", unsigned),
                paired::summary(
                    &format!("over noop-layer: {signed_floor} / tower-sessions-signed"),
                    signed_noop
                ),
                paired::summary("floor / tower-sessions", unsigned_noop)
            );
        }
    }
}
