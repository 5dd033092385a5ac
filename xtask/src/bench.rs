//! `cargo xtask bench <suite>`: run a criterion suite, then tabulate its results.
//!
//! Conventions the suites follow: one criterion group per scenario, whose id starts with the
//! suite name; inside it, the function id `baseline` is the same stack without the middleware,
//! `ours` is this project's implementation, and every other id is a peer. Rows are read from
//! criterion's `target/criterion/**/new/{benchmark,estimates}.json`, keeping only files written
//! by this run.
//!
//! `stores` measures the networked stores against their servers (`AUTH_TEST_REDIS_URL`,
//! `AUTH_TEST_POSTGRES_URL`; it prints a SKIPPED line when neither is set, and the bench skips
//! the group of an unset one). Its `baseline` is the bare round trip, so its table shows each
//! median over the baseline's, ours over each peer's, and requests per second.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

/// Suite name, package, and extra (non-criterion) bench targets that print their own figures.
const SUITES: &[(&str, &str, &[&str])] = &[
    ("cookie", "auth-cookie", &["cookie_paired"]),
    ("session", "auth-session", &["memory", "session_paired"]),
    ("jwt", "auth-jwt", &["jwt_paired"]),
    ("stores", "auth-session", &[]),
];

/// Suites that need servers: the variables naming them (the suite is skipped when none is set)
/// and whose tables compare medians rather than costs added over the baseline.
const SERVER_SUITES: &[(&str, &[&str])] =
    &[("stores", &["AUTH_TEST_REDIS_URL", "AUTH_TEST_POSTGRES_URL"])];

struct Row {
    function: String,
    median: f64,
    low: f64,
    high: f64,
    /// Requests per iteration (criterion's `Throughput::Elements`), 1 when unset.
    elements: f64,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let Some((suite, extra)) = args.split_first() else {
        return Err(
            "usage: cargo xtask bench <cookie|session|jwt|stores> [criterion args]".to_owned(),
        );
    };
    let Some((_, package, extra_benches)) = SUITES.iter().find(|(name, _, _)| name == suite) else {
        return Err(format!(
            "unknown suite `{suite}`; known: cookie, session, jwt, stores"
        ));
    };
    let servers = SERVER_SUITES.iter().find(|(name, _)| name == suite);
    if let Some((_, vars)) = servers
        && vars.iter().all(|var| std::env::var_os(var).is_none())
    {
        println!("SKIPPED: bench {suite}: set {}", vars.join(" and/or "));
        return Ok(());
    }
    let started = SystemTime::now();
    let mut command = vec![
        "cargo",
        "bench",
        "--package",
        package,
        "--bench",
        suite.as_str(),
        "--all-features",
        "--",
    ];
    command.extend(extra.iter().map(String::as_str));
    crate::run_step(&format!("bench {suite}"), &command, &[])?;
    for bench in *extra_benches {
        crate::run_step(
            &format!("bench {suite}/{bench}"),
            &[
                "cargo",
                "bench",
                "--package",
                package,
                "--bench",
                bench,
                "--all-features",
            ],
            &[],
        )?;
    }

    let groups = collect(&criterion_dir(), suite, started)?;
    if groups.is_empty() {
        return Err(format!(
            "no criterion results for `{suite}` were written by this run"
        ));
    }
    if servers.is_some() {
        println!("\n{}", ratio_table(&groups));
    } else {
        println!("\n{}", table(&groups));
        let notes = layer_only(&groups);
        if !notes.is_empty() {
            println!("{notes}");
        }
    }
    Ok(())
}

fn criterion_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        },
        PathBuf::from,
    );
    target.join("criterion")
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn collect(
    root: &Path,
    suite: &str,
    since: SystemTime,
) -> Result<BTreeMap<String, Vec<Row>>, String> {
    let mut groups: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let entries = std::fs::read_dir(root).map_err(|e| format!("{}: {e}", root.display()))?;
    for group_dir in entries.flatten() {
        let Ok(functions) = std::fs::read_dir(group_dir.path()) else {
            continue;
        };
        for function_dir in functions.flatten() {
            let new = function_dir.path().join("new");
            let estimates_path = new.join("estimates.json");
            let fresh = std::fs::metadata(&estimates_path)
                .and_then(|m| m.modified())
                .is_ok_and(|modified| modified >= since);
            if !fresh {
                continue;
            }
            let (Some(meta), Some(estimates)) = (
                read_json(&new.join("benchmark.json")),
                read_json(&estimates_path),
            ) else {
                continue;
            };
            let text = |v: &Value, at: &str| {
                v.pointer(at)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let number =
                |v: &Value, at: &str| v.pointer(at).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let group = text(&meta, "/group_id");
            if !group.starts_with(suite) {
                continue;
            }
            groups.entry(group).or_default().push(Row {
                function: text(&meta, "/function_id"),
                median: number(&estimates, "/median/point_estimate"),
                low: number(&estimates, "/median/confidence_interval/lower_bound"),
                high: number(&estimates, "/median/confidence_interval/upper_bound"),
                elements: meta
                    .pointer("/throughput/Elements")
                    .and_then(Value::as_f64)
                    .unwrap_or(1.0),
            });
        }
    }
    for rows in groups.values_mut() {
        rows.sort_by_key(|r| match r.function.as_str() {
            "baseline" => (0, String::new()),
            "ours" => (1, String::new()),
            other => (2, other.to_owned()),
        });
    }
    Ok(groups)
}

/// The median of `function` in one group's rows.
fn median_of(rows: &[Row], function: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.function == function)
        .map(|r| r.median)
}

/// Rows measured as a bare function call rather than a request through a service (the JWT
/// suite's `raw-verify` and `jsonwebtoken-decode`): their whole median is what they cost, so
/// their "added" figure is the median itself, not the median minus the baseline's harness.
const BARE_ROWS: &[&str] = &["raw-verify", "jsonwebtoken-decode"];

fn table(groups: &BTreeMap<String, Vec<Row>>) -> String {
    let mut out = String::from(
        "| scenario | implementation | median ns [95% CI] | added vs baseline (ns) | ours added / this added | ours added / this median |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for (group, rows) in groups {
        let baseline = median_of(rows, "baseline");
        let added = |r: &Row| {
            if BARE_ROWS.contains(&r.function.as_str()) {
                Some(r.median)
            } else {
                baseline.map(|b| r.median - b)
            }
        };
        let ours_added = rows.iter().find(|r| r.function == "ours").and_then(added);
        for row in rows {
            let this_added = added(row);
            let ratio_added = match (ours_added, this_added) {
                (Some(o), Some(t))
                    if row.function != "baseline" && row.function != "ours" && t > 0.0 =>
                {
                    format!("{:.2}", o / t)
                }
                _ => String::new(),
            };
            let ratio_median = match ours_added {
                Some(o) if row.function != "baseline" && row.function != "ours" => {
                    format!("{:.2}", o / row.median)
                }
                _ => String::new(),
            };
            out.push_str(&format!(
                "| {group} | {} | {:.0} [{:.0}–{:.0}] | {} | {ratio_added} | {ratio_median} |\n",
                row.function,
                row.median,
                row.low,
                row.high,
                this_added
                    .filter(|_| row.function != "baseline")
                    .map(|a| format!("{a:+.0}"))
                    .unwrap_or_default(),
            ));
        }
    }
    if groups
        .values()
        .flatten()
        .any(|r| BARE_ROWS.contains(&r.function.as_str()))
    {
        out.push_str(&format!(
            "\n{} are bare calls (no request, no service): their added cost is their median.\n",
            BARE_ROWS.join(", ")
        ));
    }
    out
}

/// For groups with a `noop-layer` row (an identity layer added the same way, e.g. through
/// axum's `Router::layer`, which boxes the layered route once more per request): each layer's
/// cost over that row, i.e. what the layer itself adds once the way it is attached is paid.
fn layer_only(groups: &BTreeMap<String, Vec<Row>>) -> String {
    let mut out = String::new();
    for (group, rows) in groups {
        let (Some(noop), Some(ours)) = (median_of(rows, "noop-layer"), median_of(rows, "ours"))
        else {
            continue;
        };
        for row in rows {
            if matches!(row.function.as_str(), "baseline" | "ours" | "noop-layer") {
                continue;
            }
            let (o, t) = (ours - noop, row.median - noop);
            out.push_str(&format!(
                "{group}: over noop-layer: ours {o:+.0} ns, {} {t:+.0} ns, ratio {}\n",
                row.function,
                if t > 0.0 {
                    format!("{:.2}", o / t)
                } else {
                    "n/a".to_owned()
                },
            ));
        }
    }
    out
}

/// Medians against the `baseline` round trip and against each peer, and requests per second
/// (requests per iteration over the median).
fn ratio_table(groups: &BTreeMap<String, Vec<Row>>) -> String {
    let mut out = String::from(
        "| scenario | implementation | median ns [95% CI] | median / baseline | ours / this | requests/s |\n\
         |---|---|---:|---:|---:|---:|\n",
    );
    for (group, rows) in groups {
        let (baseline, ours) = (median_of(rows, "baseline"), median_of(rows, "ours"));
        for row in rows {
            let over_baseline = baseline
                .filter(|_| row.function != "baseline")
                .map(|b| format!("{:.2}", row.median / b))
                .unwrap_or_default();
            let ours_over = ours
                .filter(|_| row.function != "baseline" && row.function != "ours")
                .map(|o| format!("{:.2}", o / row.median))
                .unwrap_or_default();
            out.push_str(&format!(
                "| {group} | {} | {:.0} [{:.0}–{:.0}] | {over_baseline} | {ours_over} | {:.0} |\n",
                row.function,
                row.median,
                row.low,
                row.high,
                row.elements * 1e9 / row.median,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(function: &str, median: f64) -> Row {
        Row {
            function: function.to_owned(),
            median,
            low: median,
            high: median,
            elements: 1.0,
        }
    }

    #[test]
    fn bare_rows_cost_their_median_and_service_rows_their_median_over_the_baseline() {
        let mut groups = BTreeMap::new();
        groups.insert(
            "jwt/layer_RS256".to_owned(),
            vec![
                row("baseline", 300.0),
                row("ours", 16_500.0),
                row("jwt-authorizer", 24_600.0),
                row("raw-verify", 15_000.0),
            ],
        );
        let out = table(&groups);
        // ours adds 16,200: against raw-verify's whole 15,000, and against the peer's 24,300.
        assert!(
            out.contains("| raw-verify | 15000 [15000–15000] | +15000 | 1.08 | 1.08 |"),
            "{out}"
        );
        assert!(
            out.contains("| jwt-authorizer | 24600 [24600–24600] | +24300 | 0.67 | 0.66 |"),
            "{out}"
        );
        assert!(out.contains("are bare calls"), "{out}");
    }
}
