//! The store conformance kit: proves that a [`SessionStore`](auth_core::SessionStore) keeps
//! the contract the session layer relies on.
//!
//! Enabled by the `test-util` feature; meant for `[dev-dependencies]`:
//!
//! ```toml
//! [dev-dependencies]
//! auth-session = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! A store author implements [`Harness`] (or uses [`ClockHarness`] for a store that takes a
//! [`Clock`](auth_core::Clock), [`RealTimeHarness`] for one that expires records on real
//! time) and calls [`run`] from a tokio test. Each check is also a public function, so a store
//! can run a subset; every failure panics with the check's name and what went wrong.
//!
//! | Check | What it proves |
//! |---|---|
//! | [`create_refuses_taken_id`] | create-if-absent: `IdTaken`, original untouched; version stored as given |
//! | [`load_of_unknown_id_is_none`] | unknown ID loads as `None` |
//! | [`load_of_expired_id_is_none`] | expired record loads as `None`; its ID may be created again |
//! | [`save_bumps_version_and_persists`] | versioned save writes every field, version + 1 |
//! | [`stale_save_conflicts`] | stale or future version: `Conflict`, nothing written |
//! | [`save_after_delete_is_not_found`] | no resurrection after delete (save and touch) |
//! | [`save_after_expiry_is_not_found`] | no resurrection after expiry (save and touch) |
//! | [`cycle_replaces_old_id`] | cycle: new exists, old gone, data carried; `IdTaken` keeps old |
//! | [`cycle_of_ended_session_is_not_found`] | cycle from a deleted or expired ID: `NotFound`, nothing created |
//! | [`delete_is_idempotent`] | delete of missing records succeeds |
//! | [`touch_never_creates`] | touch moves expiry only, `false` for unknown IDs |
//! | [`idle_expiry_follows_touch`] | idle expiry on the harness clock |
//! | [`absolute_expiry_is_enforced`] | absolute expiry on the harness clock |
//! | [`cleanup_removes_expired_keeps_live`] | cleanup removes expired, keeps live (0 allowed) |
//! | [`concurrent_disjoint_updates_lose_nothing`] | 32 tasks, own keys, retry on conflict: nothing lost |
//! | [`large_values_round_trip`] | a 1 MiB value, a 10,000-key map |
//! | [`unicode_keys_and_values_round_trip`] | unicode keys and values, exactly |
//! | [`subject_round_trips`] | subject set, changed, removed |
//! | [`issuer_round_trips`] | issuer set, changed, removed, carried by a cycle; `bob` of two issuers kept apart |
//! | [`sessions_of_lists_one_principal_only`] | `sessions_of`: bob of A, bob of B, a local bob each list their own live sessions, whole; `except` |
//! | [`delete_sessions_of_ends_one_principal_only`] | `delete_sessions_of` with and without `keep`: that principal's live sessions end for good, counted; no other's |
//! | [`a_relogin_moves_a_session_to_its_new_principal`] | a session is listed and revoked as the principal it has now (re-login, cycle, logout) |
//!
//! The last three check the per-principal index, which a store may leave out: its
//! `sessions_of` and `delete_sessions_of` then both answer
//! [`StoreError::Unsupported`](auth_core::StoreError::Unsupported) (their default
//! implementations), and those checks check only that (one without the other fails).
//!
//! # Example
//!
//! ```
//! use auth_session::MemoryStore;
//! use auth_session::testkit::{self, ClockHarness};
//!
//! // In a store crate's tests: #[tokio::test(flavor = "multi_thread")]
//! async fn memory_store_keeps_the_contract() {
//!     let harness = ClockHarness::new(|clock| MemoryStore::with_clock(clock));
//!     testkit::run(&harness).await;
//!
//!     // Or only some checks:
//!     testkit::stale_save_conflicts(&harness).await;
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { memory_store_keeps_the_contract().await }
//! ```
//!
//! # Panics
//!
//! Every check panics, naming itself, when the store breaks the contract or returns an
//! error. [`concurrent_disjoint_updates_lose_nothing`] (and so [`run`]) needs a tokio
//! runtime.

mod check;
mod concurrency;
mod cycle;
mod data;
mod expiry;
mod harness;
mod index;
mod principal;
mod records;

pub use concurrency::{
    CONCURRENT_ROUNDS, CONCURRENT_TASKS, concurrent_disjoint_updates_lose_nothing,
};
pub use cycle::{cycle_of_ended_session_is_not_found, cycle_replaces_old_id};
pub use data::{large_values_round_trip, unicode_keys_and_values_round_trip};
pub use expiry::{
    absolute_expiry_is_enforced, cleanup_removes_expired_keeps_live, idle_expiry_follows_touch,
    load_of_expired_id_is_none, save_after_expiry_is_not_found,
};
pub use harness::{ClockHarness, Harness, RealTimeHarness};
pub use index::{
    a_relogin_moves_a_session_to_its_new_principal, delete_sessions_of_ends_one_principal_only,
    sessions_of_lists_one_principal_only,
};
pub use principal::{issuer_round_trips, subject_round_trips};
pub use records::{
    create_refuses_taken_id, delete_is_idempotent, load_of_unknown_id_is_none,
    save_after_delete_is_not_found, save_bumps_version_and_persists, stale_save_conflicts,
    touch_never_creates,
};

/// Runs every check against stores from `harness`, one store per check, in the order of the
/// table in the [module docs](self).
///
/// ```
/// use auth_session::MemoryStore;
/// use auth_session::testkit::{self, ClockHarness};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// testkit::run(&ClockHarness::new(MemoryStore::with_clock)).await;
/// # }
/// ```
///
/// # Panics
///
/// At the first failing check, with its name and the reason.
pub async fn run<H: Harness>(harness: &H) {
    create_refuses_taken_id(harness).await;
    load_of_unknown_id_is_none(harness).await;
    load_of_expired_id_is_none(harness).await;
    save_bumps_version_and_persists(harness).await;
    stale_save_conflicts(harness).await;
    save_after_delete_is_not_found(harness).await;
    save_after_expiry_is_not_found(harness).await;
    cycle_replaces_old_id(harness).await;
    cycle_of_ended_session_is_not_found(harness).await;
    delete_is_idempotent(harness).await;
    touch_never_creates(harness).await;
    idle_expiry_follows_touch(harness).await;
    absolute_expiry_is_enforced(harness).await;
    cleanup_removes_expired_keeps_live(harness).await;
    concurrent_disjoint_updates_lose_nothing(harness).await;
    large_values_round_trip(harness).await;
    unicode_keys_and_values_round_trip(harness).await;
    subject_round_trips(harness).await;
    issuer_round_trips(harness).await;
    sessions_of_lists_one_principal_only(harness).await;
    delete_sessions_of_ends_one_principal_only(harness).await;
    a_relogin_moves_a_session_to_its_new_principal(harness).await;
}
