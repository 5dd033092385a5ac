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
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use tower::{ServiceBuilder, service_fn};

use common::{Case, cases, handler, run};

/// One measured row: its name and one iteration.
type Row<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Rounds per algorithm unless given on the command line.
const ROUNDS: usize = 300;
/// Each burst lasts about this long, so the timer's resolution and call overhead vanish.
const BURST: Duration = Duration::from_micros(400);

/// Nanoseconds per iteration of `f` over `iters` iterations.
fn burst(iters: u32, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(iters)
}

/// How many iterations make one burst of about [`BURST`].
fn calibrate(f: &mut dyn FnMut()) -> u32 {
    for _ in 0..50 {
        f();
    }
    let per = burst(200, f).max(1.0);
    ((BURST.as_nanos() as f64 / per).ceil() as u32).max(1)
}

/// The `q` quantile (0..=1) of `values`, by nearest rank.
fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * q).round() as usize;
    values.get(rank).copied().unwrap_or(f64::NAN)
}

fn summary(name: &str, mut values: Vec<f64>) -> String {
    let median = quantile(&mut values, 0.5);
    let (q1, q3) = (quantile(&mut values, 0.25), quantile(&mut values, 0.75));
    format!("{name} {median:.3} (IQR {q1:.3}-{q3:.3})")
}

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
    let iters: Vec<u32> = rows.iter_mut().map(|(_, f)| calibrate(f)).collect();

    let mut per_row: [Vec<f64>; 5] = Default::default();
    let (mut vs_raw, mut vs_peer, mut floor_vs_raw) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut ns = [0.0; 5];
        for k in 0..rows.len() {
            // Rotate the order so no row always runs right after the same other one.
            let i = (round + k) % rows.len();
            if let (Some((_, f)), Some(n), Some(slot)) =
                (rows.get_mut(i), iters.get(i), ns.get_mut(i))
            {
                *slot = burst(*n, f);
            }
        }
        let [base, ours, peer, raw, floor] = ns;
        vs_raw.push((ours - base) / raw);
        vs_peer.push((ours - base) / (peer - base));
        floor_vs_raw.push((floor - base) / raw);
        for (all, v) in per_row.iter_mut().zip(ns) {
            all.push(v);
        }
    }
    let medians: Vec<String> = rows
        .iter()
        .zip(per_row.iter_mut())
        .map(|((name, _), all)| format!("{name} {:.0} ns", quantile(all, 0.5)))
        .collect();
    println!(
        "jwt_paired/{}: {rounds} rounds; medians: {}",
        case.alg,
        medians.join(", ")
    );
    println!(
        "jwt_paired/{}: {}; {}; {}",
        case.alg,
        summary("ours added / raw verify", vs_raw),
        summary("ours added / jwt-authorizer added", vs_peer),
        summary("floor added / raw verify", floor_vs_raw)
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a bare number sets the rounds.
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(ROUNDS);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for case in cases() {
        measure(&case, rounds, &rt);
    }
}
