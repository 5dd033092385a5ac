//! Bytes per session in `MemoryStore` at one million sessions.
//!
//! A counting global allocator (`stats_alloc` around the system allocator) measures the net
//! bytes still allocated after one million sessions are created, divided by one million, for:
//!
//! - `idle_session_bytes`: a session as the layer creates it for a visitor, with an idle and an
//!   absolute deadline and no subject or data (the target: at most 200 bytes), all
//!   created at one instant (so they share one deadline second);
//! - `idle_session_bytes_over_a_day`: the same sessions created over a simulated day (the
//!   clock advances a second every 12 creates, idle timeout 24 hours), so that nearly every
//!   session of a shard has a deadline second of its own, as in a store filled by real
//!   traffic;
//! - `session_with_data_bytes`: the same plus a small data map (a user ID, a CSRF token and a
//!   theme), and `data_bytes` the part of it that is the map itself;
//! - `logged_in_session_bytes`: a subject and the same data.
//!
//! `cargo bench -p auth-session --bench memory`. Run as a test (`cargo test --benches`), it
//! measures 10,000 sessions instead, to stay quick.
#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::cast_precision_loss
)]

use std::alloc::System;
use std::time::Instant;

use auth_core::{ManualClock, SessionData, SessionId, SessionRecord, SessionStore};
use auth_session::MemoryStore;
use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use time::Duration;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Net bytes allocated right now. (`stats_alloc` already books a `realloc`'s growth under
/// `bytes_allocated` and its shrinking under `bytes_deallocated`.)
fn live_bytes() -> i128 {
    let stats = GLOBAL.stats();
    stats.bytes_allocated as i128 - stats.bytes_deallocated as i128
}

/// Distinct, random-looking IDs without a syscall each (splitmix64 is a bijection on `u64`).
fn id(n: u64) -> SessionId {
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let bits = (u128::from(mix(n)) << 64) | u128::from(mix(n ^ 0xA5A5_A5A5_A5A5_A5A5));
    SessionId::from_bytes(bits.to_le_bytes())
}

#[derive(Clone, Copy)]
enum Kind {
    Idle,
    IdleOverADay,
    WithData,
    LoggedIn,
}

fn data(n: u64) -> SessionData {
    let mut data = SessionData::new();
    data.insert("user_id".to_owned(), json!(n));
    data.insert(
        "csrf".to_owned(),
        json!(format!("{:032x}", u128::from(n) * 7919)),
    );
    data.insert("theme".to_owned(), json!("dark"));
    data
}

/// Creates `count` sessions of `kind`; returns net bytes per session still allocated.
fn measure(runtime: &tokio::runtime::Runtime, count: u64, kind: Kind) -> f64 {
    let clock = std::sync::Arc::new(ManualClock::default());
    let mut now = auth_core::Clock::now(&*clock);
    let store = MemoryStore::with_clock(clock.clone())
        // Room for all: the default bound is kept per shard, so exactly 1M would evict a few.
        .with_max_sessions(2 * count as usize);
    let before = live_bytes();
    let started = Instant::now();
    runtime.block_on(async {
        for n in 0..count {
            let idle = if matches!(kind, Kind::IdleOverADay) {
                if n % 12 == 11 {
                    clock.advance(Duration::SECOND);
                    now += Duration::SECOND;
                }
                Duration::hours(24)
            } else {
                Duration::minutes(30)
            };
            let mut record = SessionRecord::new(id(n), now, now + idle)
                .with_absolute_expiry(now + Duration::hours(48));
            match kind {
                Kind::Idle | Kind::IdleOverADay => {}
                Kind::WithData => record = record.with_data(data(n)),
                Kind::LoggedIn => {
                    record = record.with_data(data(n)).with_subject(format!("user-{n}"));
                }
            }
            let _ = store.create(&record).await.unwrap();
        }
    });
    let elapsed = started.elapsed();
    let bytes = (live_bytes() - before) as f64 / count as f64;
    assert_eq!(store.len() as u64, count);
    assert_eq!(store.evictions(), 0);
    println!(
        "# {count} sessions created in {:.2} s ({:.0} ns each)",
        elapsed.as_secs_f64(),
        elapsed.as_nanos() as f64 / count as f64
    );
    drop(store);
    bytes
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let count: u64 = if full { 1_000_000 } else { 10_000 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");

    let idle = measure(&runtime, count, Kind::Idle);
    let idle_over_a_day = measure(&runtime, count, Kind::IdleOverADay);
    let with_data = measure(&runtime, count, Kind::WithData);
    let logged_in = measure(&runtime, count, Kind::LoggedIn);
    // One map like the bench's, measured alone: what a session's data costs by itself.
    let before = live_bytes();
    let maps: Vec<_> = (0..1000).map(|n| std::sync::Arc::new(data(n))).collect();
    let map_bytes = (live_bytes() - before) as f64 / 1000.0 - size_of::<usize>() as f64;
    drop(maps);

    println!("memory/sessions: {count}");
    println!("memory/idle_session_bytes: {idle:.1}");
    println!("memory/idle_session_bytes_over_a_day: {idle_over_a_day:.1}");
    println!("memory/session_with_data_bytes: {with_data:.1}");
    println!("memory/data_bytes: {map_bytes:.1}");
    println!(
        "memory/session_with_data_overhead_bytes: {:.1}",
        with_data - map_bytes
    );
    println!("memory/logged_in_session_bytes: {logged_in:.1}");
}
