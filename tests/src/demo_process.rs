//! The `demo` binary as real processes, for black-box tests of the demo's contract.
//!
//! An integration test of this package cannot name another package's binary
//! (`CARGO_BIN_EXE_<name>` covers the package's own binaries only), so [`demo_binary`] builds it
//! with `cargo build --package demo --bin demo`, into the target directory and profile the
//! running test was built in (derived from the test executable's path), and takes the path
//! from cargo's JSON messages. The build runs once per test process; an up-to-date binary
//! costs a cargo no-op. `AUTH_TEST_DEMO_BIN` names a prebuilt binary instead.
//!
//! [`DemoProcess::start`] runs the binary on `DEMO_ADDR=127.0.0.1:0`, reads the URL the demo
//! prints once it listens (the bound address, so the port is the real one), and kills the
//! process when dropped, also when the test panics.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

/// Names a prebuilt `demo` binary to use instead of building one.
pub const DEMO_BIN_VAR: &str = "AUTH_TEST_DEMO_BIN";

/// How long a demo may take from spawn to its "listening" line before [`DemoProcess::start`]
/// gives up (it hashes the demo passwords with argon2 and connects to its backends first).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The path of the `demo` binary: `AUTH_TEST_DEMO_BIN`, or built once per process with cargo.
///
/// # Errors
///
/// A message with cargo's output when the build fails or names no executable.
pub fn demo_binary() -> Result<PathBuf, String> {
    static BINARY: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BINARY
        .get_or_init(|| match std::env::var_os(DEMO_BIN_VAR) {
            Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
            _ => build_demo(),
        })
        .clone()
}

/// A [`Command`] for the demo binary, without any `DEMO_*` variable of the caller's
/// environment (so a developer's settings cannot leak into a test).
///
/// # Errors
///
/// As [`demo_binary`].
pub fn demo_command() -> Result<Command, String> {
    let mut command = Command::new(demo_binary()?);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DEMO_") {
            command.env_remove(name);
        }
    }
    Ok(command)
}

/// Where the running test executable was built: `<target>[/<triple>]/<profile>/deps/<exe>`.
struct Layout {
    target_dir: PathBuf,
    triple: Option<String>,
    profile_dir: String,
}

fn layout() -> Result<Layout, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let unexpected = || {
        format!(
            "{} is not in a cargo target directory (<target>/<profile>/deps/); \
             set {DEMO_BIN_VAR} to a demo binary",
            exe.display()
        )
    };
    let deps = exe.parent().ok_or_else(unexpected)?;
    if deps.file_name().and_then(|n| n.to_str()) != Some("deps") {
        return Err(unexpected());
    }
    let profile_dir = deps.parent().ok_or_else(unexpected)?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(unexpected)?
        .to_owned();
    let above = profile_dir.parent().ok_or_else(unexpected)?;
    // Cargo marks the root of a target directory with CACHEDIR.TAG; one level further up means
    // the test was built with `--target <triple>`.
    let is_root = |dir: &Path| dir.join("CACHEDIR.TAG").is_file();
    if !is_root(above)
        && let Some(root) = above.parent().filter(|dir| is_root(dir))
    {
        return Ok(Layout {
            target_dir: root.to_owned(),
            triple: above.file_name().map(|n| n.to_string_lossy().into_owned()),
            profile_dir: profile,
        });
    }
    Ok(Layout {
        target_dir: above.to_owned(),
        triple: None,
        profile_dir: profile,
    })
}

fn build_demo() -> Result<PathBuf, String> {
    let layout = layout()?;
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&workspace)
        .args(["build", "--package", "demo", "--bin", "demo"])
        .args(["--message-format", "json-render-diagnostics"])
        .arg("--target-dir")
        .arg(&layout.target_dir);
    if let Some(triple) = &layout.triple {
        command.args(["--target", triple]);
    }
    match layout.profile_dir.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo to build the demo: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "`cargo build --package demo` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message.get("reason").and_then(serde_json::Value::as_str) == Some("compiler-artifact")
                && message
                    .pointer("/target/name")
                    .and_then(serde_json::Value::as_str)
                    == Some("demo")
        })
        .find_map(|message| {
            message
                .get("executable")
                .and_then(serde_json::Value::as_str)
                .map(PathBuf::from)
        })
        .ok_or_else(|| {
            format!(
                "`cargo build --package demo` named no demo executable:\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        })
}

/// A running demo process; killed (and reaped) when dropped.
#[derive(Debug)]
pub struct DemoProcess {
    name: String,
    child: Child,
    url: String,
    stderr: Arc<Mutex<String>>,
}

impl DemoProcess {
    /// Starts the demo with `env` (on top of `DEMO_ADDR=127.0.0.1:0`, which `env` may override)
    /// and waits for the URL it prints once it listens. `name` labels its output in errors.
    ///
    /// # Errors
    ///
    /// A message with the demo's stderr when it cannot be built or started, exits before
    /// listening, or does not listen within [`START_TIMEOUT`].
    pub fn start(name: &str, env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = demo_command()?;
        command
            .env("DEMO_ADDR", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| format!("demo {name}: cannot start: {e}"))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = child.stderr.take().map(|pipe| {
            let log = Arc::clone(&stderr);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    if let Ok(mut log) = log.lock() {
                        log.push_str(&line);
                        log.push('\n');
                    }
                }
            })
        });
        let (lines, received) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            // Reads stdout to the end, so the demo never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = lines.send(line);
                }
            });
        }
        // From here on, dropping `process` kills the child.
        let mut process = Self {
            name: name.to_owned(),
            child,
            url: String::new(),
            stderr,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some((_, url)) = line.split_once("listening on ") {
                        process.url = url.trim().trim_end_matches('/').to_owned();
                        return Ok(process);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = process.child.wait().ok();
                    // The process is gone: its stderr reader reaches the end.
                    if let Some(reader) = stderr_reader {
                        let _ = reader.join();
                    }
                    return Err(format!(
                        "demo {name} exited before listening ({status:?}); stderr:\n{}",
                        process.stderr()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "demo {name} printed no URL within {START_TIMEOUT:?}; stderr:\n{}",
                        process.stderr()
                    ));
                }
            }
        }
    }

    /// The base URL the demo printed, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `url()` followed by `path`.
    pub fn url_for(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    /// What the demo wrote to stderr so far (its logs), for assertion messages.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .map(|log| format!("[demo {}]\n{log}", self.name))
            .unwrap_or_default()
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
