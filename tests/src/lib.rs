//! Helpers shared by the workspace's integration tests.
//!
//! # Real services
//!
//! Tests that need Redis, a Redis Cluster or PostgreSQL get the server's URL from
//! [`redis_url`], [`redis_cluster_url`] or [`postgres_url`], which read `AUTH_TEST_REDIS_URL`,
//! `AUTH_TEST_REDIS_CLUSTER_URL` and `AUTH_TEST_POSTGRES_URL`:
//!
//! - variable set: the URL is returned and the test runs against that server;
//! - variable unset: the test is skipped, and says so with a `SKIPPED` line written straight to
//!   the process's stderr (not swallowed by the test harness's output capture), so
//!   `cargo test` passes on a laptop with only the Rust toolchain;
//! - variable unset but `AUTH_TEST_REQUIRE_SERVICES=1` (CI): the test fails.
//!
//! ```
//! fn redis_round_trip() {
//!     let Some(url) = auth_tests::redis_url("redis_round_trip") else {
//!         return; // skipped, and the SKIPPED line is already printed
//!     };
//!     // ... connect to `url` ...
//!     # let _ = url;
//! }
//! # redis_round_trip();
//! ```

pub mod create_floor;
pub mod demo_process;
pub mod floor;
pub mod paired;
pub mod sessions;
pub mod wire;

use std::io::Write as _;

/// The environment variable naming the Redis server for tests.
pub const REDIS_URL_VAR: &str = "AUTH_TEST_REDIS_URL";
/// The environment variable naming a Redis Cluster for tests: one node's URL
/// (`redis://127.0.0.1:7000`; the others are discovered) or a comma-separated list of node
/// URLs. `.ci/redis-cluster.sh` starts one on 127.0.0.1:7000-7002.
pub const REDIS_CLUSTER_URL_VAR: &str = "AUTH_TEST_REDIS_CLUSTER_URL";
/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "AUTH_TEST_POSTGRES_URL";
/// Set to `1` to turn a missing service into a test failure instead of a skip.
pub const REQUIRE_SERVICES_VAR: &str = "AUTH_TEST_REQUIRE_SERVICES";

/// A backing service that some tests need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Redis, from `AUTH_TEST_REDIS_URL`.
    Redis,
    /// A Redis Cluster, from `AUTH_TEST_REDIS_CLUSTER_URL`.
    RedisCluster,
    /// PostgreSQL, from `AUTH_TEST_POSTGRES_URL`.
    Postgres,
}

impl Service {
    /// The environment variable that holds this service's URL.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Redis => REDIS_URL_VAR,
            Self::RedisCluster => REDIS_CLUSTER_URL_VAR,
            Self::Postgres => POSTGRES_URL_VAR,
        }
    }
}

/// What to do about a service, decided from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    /// Run against this URL.
    Url(String),
    /// Skip the test (the URL is unset and services are not required).
    Skip,
    /// Fail the test (the URL is unset but services are required).
    Fail,
}

/// Decides from the two variables' values; the pure part of [`service_url`].
pub fn availability(url: Option<String>, require: Option<&str>) -> Availability {
    match url.filter(|u| !u.trim().is_empty()) {
        Some(url) => Availability::Url(url),
        None if require.map(str::trim) == Some("1") => Availability::Fail,
        None => Availability::Skip,
    }
}

/// The URL of `service` for the test named `test`, or `None` after printing a SKIPPED line.
///
/// # Panics
///
/// When the URL is unset and `AUTH_TEST_REQUIRE_SERVICES=1`: in CI a missing service is a
/// failure, never a silent pass.
#[allow(clippy::panic)]
pub fn service_url(service: Service, test: &str) -> Option<String> {
    let var = service.env_var();
    match availability(
        std::env::var(var).ok(),
        std::env::var(REQUIRE_SERVICES_VAR).ok().as_deref(),
    ) {
        Availability::Url(url) => Some(url),
        Availability::Skip => {
            // Straight to the process's stderr: the harness captures `eprintln!` of passing
            // tests, and a skip must be visible.
            let _ = writeln!(
                std::io::stderr().lock(),
                "SKIPPED: {test}: {var} is not set (needs {service:?}; set it to run this test)"
            );
            None
        }
        Availability::Fail => {
            panic!("{test}: {var} is not set but {REQUIRE_SERVICES_VAR}=1 requires {service:?}")
        }
    }
}

/// The Redis URL for `test`; see [`service_url`].
pub fn redis_url(test: &str) -> Option<String> {
    service_url(Service::Redis, test)
}

/// The Redis Cluster node URLs for `test`, from the comma-separated list in
/// `AUTH_TEST_REDIS_CLUSTER_URL` (blanks dropped); see [`service_url`].
///
/// # Panics
///
/// Like [`service_url`]; also when the variable is set but names no node (only commas).
#[allow(clippy::panic)]
pub fn redis_cluster_url(test: &str) -> Option<Vec<String>> {
    let nodes = cluster_nodes(&service_url(Service::RedisCluster, test)?);
    if nodes.is_empty() {
        panic!("{test}: {REDIS_CLUSTER_URL_VAR} is set but names no node URL");
    }
    Some(nodes)
}

/// The node URLs of a comma-separated list.
pub fn cluster_nodes(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The PostgreSQL URL for `test`; see [`service_url`].
pub fn postgres_url(test: &str) -> Option<String> {
    service_url(Service::Postgres, test)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_url_is_used() {
        assert_eq!(
            availability(Some("redis://x".into()), None),
            Availability::Url("redis://x".into())
        );
        assert_eq!(
            availability(Some("redis://x".into()), Some("1")),
            Availability::Url("redis://x".into())
        );
    }

    #[test]
    fn cluster_node_lists_are_split_on_commas() {
        assert_eq!(cluster_nodes("redis://a:7000"), ["redis://a:7000"]);
        assert_eq!(
            cluster_nodes(" redis://a:7000, redis://b:7001 ,,"),
            ["redis://a:7000", "redis://b:7001"]
        );
        assert!(cluster_nodes(" , ").is_empty());
        assert_eq!(
            Service::RedisCluster.env_var(),
            "AUTH_TEST_REDIS_CLUSTER_URL"
        );
    }

    #[test]
    fn an_unset_url_skips_unless_services_are_required() {
        assert_eq!(availability(None, None), Availability::Skip);
        assert_eq!(availability(None, Some("0")), Availability::Skip);
        assert_eq!(availability(Some("  ".into()), None), Availability::Skip);
        assert_eq!(availability(None, Some("1")), Availability::Fail);
        assert_eq!(
            availability(Some(String::new()), Some("1")),
            Availability::Fail
        );
    }
}
