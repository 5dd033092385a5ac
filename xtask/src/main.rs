//! Project automation, run as `cargo xtask <command>` (alias in `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: the gates `.ci/run` runs, in the same order: format check, clippy with
//!   `-D warnings` on every target and feature, rustdoc with `-D warnings`, the README's test
//!   command, then the browser end-to-end test.
//! - `cargo xtask e2e`: only the browser end-to-end test of the demo.
//! - `cargo xtask test`: only the README's test command.
//! - `cargo xtask bench <suite> [criterion args]`: runs one benchmark suite (`cookie`,
//!   `session`, `jwt`) and prints a table of medians, the cost each implementation adds over the
//!   `baseline` row, and the ratio of our added cost to each other row's. `stores` (the Redis
//!   and Postgres stores; needs `AUTH_TEST_REDIS_URL` / `AUTH_TEST_POSTGRES_URL`, else it prints
//!   SKIPPED) prints medians over the bare round trip's, ours over each peer's, and requests/s.
//!
//! Its only dependency is `serde_json` (to read criterion's results), so it builds in seconds.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod e2e;

use std::process::{Command, ExitCode};
use std::time::Instant;

/// The README's test command. Keep the two in sync: `readme_test_command_matches` checks it.
const TEST_COMMAND: &[&str] = &["cargo", "test", "--workspace", "--all-features"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("test") => run_step("tests (README command)", TEST_COMMAND, &[]),
        Some("bench") => bench::run(args.get(1..).unwrap_or_default()),
        Some("e2e") => e2e::run(),
        Some("help" | "--help" | "-h") | None => {
            usage();
            Ok(())
        }
        Some(other) => {
            usage();
            Err(format!("unknown command `{other}`"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() {
    println!(
        "usage: cargo xtask <command>\n\n\
         commands:\n  \
         ci      format check, clippy, rustdoc, tests (what .ci/run runs)\n  \
         test    the README's test command: {}\n  \
         bench   <cookie|session|jwt|stores> [criterion args]: run a benchmark suite and print medians and ratios\n  \
         e2e     the demo app driven by headless Chromium (tests/e2e)",
        TEST_COMMAND.join(" ")
    );
}

fn ci() -> Result<(), String> {
    let started = Instant::now();
    run_step("format", &["cargo", "fmt", "--all", "--check"], &[])?;
    run_step(
        "clippy",
        &[
            "cargo",
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    run_step(
        "rustdoc",
        &["cargo", "doc", "--workspace", "--all-features", "--no-deps"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    run_step("tests (README command)", TEST_COMMAND, &[])?;
    println!("\n==> e2e: the demo in headless Chromium");
    e2e::run()?;
    println!("xtask ci: all gates passed in {:.0?}", started.elapsed());
    Ok(())
}

pub(crate) fn run_step(name: &str, command: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else {
        return Err(format!("{name}: empty command"));
    };
    println!("\n==> {name}: {}", command.join(" "));
    let started = Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .status()
        .map_err(|e| format!("{name}: could not start `{program}`: {e}"))?;
    if status.success() {
        println!("==> {name}: ok ({:.1?})", started.elapsed());
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_test_command_matches() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
            .expect("README.md at the workspace root");
        let command = TEST_COMMAND.join(" ");
        assert!(
            readme.contains(&command),
            "README.md must show the test command `{command}` that `cargo xtask ci` runs"
        );
    }
}
