//! Paired, interleaved timing for benchmarks whose targets are ratios between rows.
//!
//! Criterion measures each row for a few seconds, one row after the other, so a machine that
//! slows down or speeds up between two rows (frequency scaling, a noisy neighbour on a shared
//! VM) moves the ratio between them. [`rounds`] instead times a short burst of every row back
//! to back, in a rotating order, round after round; a ratio computed per round from those
//! bursts alone cancels the drift, and [`summary`] reports its median over the rounds with
//! the interquartile range.
//!
//! ```
//! use std::hint::black_box;
//!
//! let mut rows: Vec<auth_tests::paired::Row<'_>> = vec![
//!     ("cheap", Box::new(|| { black_box(1 + 1); })),
//!     ("dear", Box::new(|| { black_box((0..100).sum::<u64>()); })),
//! ];
//! let per_round = auth_tests::paired::rounds(&mut rows, 20);
//! let ratios: Vec<f64> = per_round.iter().map(|ns| ns[1] / ns[0]).collect();
//! println!("{}", auth_tests::paired::summary("dear / cheap", ratios));
//! ```

use std::time::{Duration, Instant};

/// One measured row: its name and one iteration of the work.
pub type Row<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Each burst lasts about this long, so the timer's resolution and call overhead vanish.
const BURST: Duration = Duration::from_micros(400);

/// Nanoseconds per iteration of `f` over `iters` iterations.
fn burst(iters: u32, f: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_secs_f64() * 1e9 / f64::from(iters)
}

/// How many iterations make one burst of about [`BURST`] (after a warm-up).
fn calibrate(f: &mut dyn FnMut()) -> u32 {
    for _ in 0..50 {
        f();
    }
    let per = burst(200, f).max(1.0);
    let iters = (BURST.as_secs_f64() * 1e9 / per).ceil();
    // At least one iteration; a burst of more than u32::MAX iterations cannot happen here.
    if iters >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        (iters as u32).max(1)
    }
}

/// Times `rows` for `rounds` rounds: one burst of each row per round, the order rotated every
/// round. Returns, per round, each row's nanoseconds per iteration (in the rows' order).
pub fn rounds(rows: &mut [Row<'_>], rounds: usize) -> Vec<Vec<f64>> {
    let iters: Vec<u32> = rows.iter_mut().map(|(_, f)| calibrate(f)).collect();
    let n = rows.len();
    (0..rounds)
        .map(|round| {
            let mut ns = vec![0.0; n];
            for k in 0..n {
                // Rotate the order so no row always runs right after the same other one.
                let i = (round + k) % n;
                if let (Some((_, f)), Some(iters), Some(slot)) =
                    (rows.get_mut(i), iters.get(i), ns.get_mut(i))
                {
                    *slot = burst(*iters, f);
                }
            }
            ns
        })
        .collect()
}

/// The rounds a paired benchmark binary was asked for: the first numeric argument
/// (`cargo bench --bench NAME -- 300`; cargo itself passes `--bench`), else `default`.
pub fn rounds_arg(default: usize) -> usize {
    std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(default)
}

/// The `q` quantile (0..=1) of `values`, by nearest rank; NaN when empty.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let last = values.len().saturating_sub(1);
    // Rounded rank within 0..=last: the cast cannot truncate.
    let rank = (last as f64 * q.clamp(0.0, 1.0)).round() as usize;
    values.get(rank).copied().unwrap_or(f64::NAN)
}

/// `name median (IQR q1-q3)` of `values`.
pub fn summary(name: &str, mut values: Vec<f64>) -> String {
    let median = quantile(&mut values, 0.5);
    let (q1, q3) = (quantile(&mut values, 0.25), quantile(&mut values, 0.75));
    format!("{name} {median:.3} (IQR {q1:.3}-{q3:.3})")
}

/// Each row's median nanoseconds over `per_round`, as `name N ns` joined by commas.
pub fn medians(rows: &[Row<'_>], per_round: &[Vec<f64>]) -> String {
    rows.iter()
        .enumerate()
        .map(|(i, (name, _))| {
            let mut all: Vec<f64> = per_round
                .iter()
                .filter_map(|ns| ns.get(i).copied())
                .collect();
            format!("{name} {:.0} ns", quantile(&mut all, 0.5))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One request through a clone of `service` on `rt`, checked for a 2xx answer: what a row of
/// a paired benchmark of a layered service times.
///
/// # Panics
///
/// When the service fails or answers with another status (the row would time the wrong
/// work).
#[allow(clippy::panic)] // a row that fails must stop the run, as `assert!` does
pub fn serve<S, B, R>(rt: &tokio::runtime::Runtime, service: &S, req: http::Request<B>)
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Clone,
    S::Error: std::fmt::Debug,
{
    use tower::ServiceExt as _;
    let res = rt.block_on(service.clone().oneshot(req));
    let res = res.unwrap_or_else(|e| panic!("the service failed: {e:?}"));
    assert!(res.status().is_success(), "status {}", res.status());
    std::hint::black_box(res);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&mut v, 0.5), 3.0);
        assert_eq!(quantile(&mut v, 0.0), 1.0);
        assert_eq!(quantile(&mut v, 1.0), 5.0);
        assert_eq!(quantile(&mut v, 0.25), 2.0);
        assert!(quantile(&mut [], 0.5).is_nan());
    }

    #[test]
    fn every_row_is_timed_every_round() {
        let mut calls = [0u32; 2];
        {
            let (a, b) = calls.split_at_mut(1);
            let mut rows: Vec<Row<'_>> =
                vec![("a", Box::new(|| a[0] += 1)), ("b", Box::new(|| b[0] += 1))];
            let per_round = rounds(&mut rows, 3);
            assert_eq!(per_round.len(), 3);
            assert!(
                per_round
                    .iter()
                    .all(|ns| ns.len() == 2 && ns.iter().all(|&x| x > 0.0))
            );
        }
        assert!(calls.iter().all(|&c| c > 250), "{calls:?}");
    }
}
