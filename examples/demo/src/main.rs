//! `cargo run -p demo`: serves the demo app (see the crate docs) on `DEMO_ADDR`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match demo::DemoConfig::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let app = match demo::app(&config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("demo: DEMO_ADDR: cannot listen on {}: {e}", config.addr);
            return ExitCode::from(2);
        }
    };
    // The bound address, not the configured one: with `DEMO_ADDR=127.0.0.1:0` the OS picks the
    // port, and this line is how a caller (a test, a script) learns it.
    let addr = listener.local_addr().unwrap_or(config.addr);
    println!("demo listening on http://{addr}");
    if config.insecure_cookies {
        tracing::warn!("DEMO_INSECURE_COOKIES=1: cookies are sent without Secure");
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: server error: {e}");
            ExitCode::FAILURE
        }
    }
}
