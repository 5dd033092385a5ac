//! `cargo xtask e2e`: the demo app in a real browser.
//!
//! Builds and starts the demo on a free loopback port, installs `playwright-core` (npm) into
//! `tests/e2e` when missing, and runs `tests/e2e/browser.mjs` against it with Debian's
//! Chromium (`/usr/bin/chromium`, or `$CHROMIUM`). Screenshots go to `e2e-output/`.
//!
//! Without Chromium the run is skipped with a `SKIPPED` line, unless `CI` or
//! `AUTH_TEST_REQUIRE_SERVICES=1` is set: then it fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn run() -> Result<(), String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if !Path::new(&chromium).exists() {
        let required = std::env::var_os("CI").is_some()
            || std::env::var("AUTH_TEST_REQUIRE_SERVICES").as_deref() == Ok("1");
        if required {
            return Err(format!(
                "e2e: {chromium} is missing (install Debian's chromium package)"
            ));
        }
        println!(
            "SKIPPED: e2e: {chromium} is missing (apt-get install chromium to run the browser test)"
        );
        return Ok(());
    }
    let root = root();
    crate::run_step(
        "e2e: build demo",
        &["cargo", "build", "--package", "demo"],
        &[],
    )?;
    let e2e = root.join("tests").join("e2e");
    if !e2e.join("node_modules").join("playwright-core").exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&e2e)
            .status()
            .map_err(|e| format!("e2e: npm: {e}"))?;
        if !status.success() {
            return Err(format!("e2e: npm install failed ({status})"));
        }
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("e2e: no free port: {e}"))?
        .port();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let mut demo = Command::new(target.join("debug").join("demo"))
        .env("DEMO_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("e2e: cannot start the demo: {e}"))?;
    let stdout = demo.stdout.take();
    let demo = KillOnDrop(demo);
    let (ready, listening) = mpsc::channel();
    std::thread::spawn(move || {
        if let Some(stdout) = stdout {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                println!("demo: {line}");
                if line.contains("listening") {
                    let _ = ready.send(());
                }
            }
        }
    });
    listening
        .recv_timeout(Duration::from_secs(60))
        .map_err(|_| "e2e: the demo did not start listening within 60 s".to_owned())?;

    let output = root.join("e2e-output");
    let status = Command::new("node")
        .arg("browser.mjs")
        .current_dir(&e2e)
        .env("DEMO_URL", format!("http://127.0.0.1:{port}"))
        .env("E2E_OUTPUT", &output)
        .env("CHROMIUM", &chromium)
        .status()
        .map_err(|e| format!("e2e: node: {e}"))?;
    drop(demo);
    if status.success() {
        println!("e2e: screenshots in {}", output.display());
        Ok(())
    } else {
        Err(format!("e2e: browser test failed ({status})"))
    }
}
