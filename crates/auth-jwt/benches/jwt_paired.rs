//! The JWT targets as paired, interleaved measurements: the ratios criterion's table gives,
//! made robust against a machine whose speed drifts during the run.
//!
//! Criterion measures each implementation for a few seconds, one after the other, so a
//! machine that slows down or speeds up between two groups (frequency scaling, a noisy
//! neighbour on a shared VM) moves the ratio between them. Here every round times a short
//! burst of each row back to back, in a rotating order, and computes the round's ratios from
//! those bursts alone; the printed figure is the median over all rounds, with its
//! interquartile range. Rows and services are exactly those of the `jwt` bench (the shared
//! `common` module): `baseline` (no middleware), `ours`, `jwt-authorizer` (0.15, static keys)
//! and `raw-verify` (the signature check alone with a pre-parsed key), plus
//! `floor-in-service` (that check done inside a service, the same harness as a layer: what
//! any layer pays at least).
//!
//! Printed per algorithm:
//! - `ours added / raw verify`: (ours - baseline) / raw-verify, the 1.1x target for
//!   RS256, ES256 and EdDSA;
//! - `ours added / jwt-authorizer added`: the 0.5 target for HS256;
//! - `floor added / raw verify`: the same ratio for the floor, the least a layer can show.
//!
//! `cargo xtask bench jwt` runs it after the criterion suite; alone:
//! `cargo bench -p auth-jwt --bench jwt_paired --all-features [-- ROUNDS]`.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

mod common;

use std::hint::black_box;

use auth_tests::paired::{self, Row};
use tower::{ServiceBuilder, service_fn};

use common::{Case, cases, handler, run};

/// Rounds per algorithm unless given on the command line.
const ROUNDS: usize = 300;

fn measure(case: &Case, rounds: usize, rt: &tokio::runtime::Runtime) {
    let bearer = format!("Bearer {}", case.token);
    let mut baseline = service_fn(handler);
    let mut ours = ServiceBuilder::new()
        .layer(case.our_layer())
        .service_fn(handler);
    let mut peer = ServiceBuilder::new()
        .layer(case.authorizer_layer(rt))
        .service_fn(handler);
    let mut floor = case.floor_service();
    let (input, sig) = case.raw_parts();

    let mut rows: [Row<'_>; 5] = [
        (
            "baseline",
            Box::new(|| rt.block_on(run(&mut baseline, &bearer))),
        ),
        ("ours", Box::new(|| rt.block_on(run(&mut ours, &bearer)))),
        (
            "jwt-authorizer",
            Box::new(|| rt.block_on(run(&mut peer, &bearer))),
        ),
        (
            "raw-verify",
            Box::new(|| assert!(case.raw.verify(black_box(input.as_bytes()), &sig))),
        ),
        (
            "floor-in-service",
            Box::new(|| rt.block_on(run(&mut floor, &bearer))),
        ),
    ];
    let per_round = paired::rounds(&mut rows, rounds);
    let (mut vs_raw, mut vs_peer, mut floor_vs_raw) = (Vec::new(), Vec::new(), Vec::new());
    for ns in &per_round {
        let &[base, ours, peer, raw, floor] = ns.as_slice() else {
            continue;
        };
        vs_raw.push((ours - base) / raw);
        vs_peer.push((ours - base) / (peer - base));
        floor_vs_raw.push((floor - base) / raw);
    }
    println!(
        "jwt_paired/{}: {rounds} rounds; medians: {}",
        case.alg,
        paired::medians(&rows, &per_round)
    );
    println!(
        "jwt_paired/{}: {}; {}; {}",
        case.alg,
        paired::summary("ours added / raw verify", vs_raw),
        paired::summary("ours added / jwt-authorizer added", vs_peer),
        paired::summary("floor added / raw verify", floor_vs_raw)
    );
}

fn main() {
    let rounds = paired::rounds_arg(ROUNDS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for case in cases() {
        measure(&case, rounds, &rt);
    }
}
