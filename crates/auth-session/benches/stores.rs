//! Networked store benchmarks against the real servers, each next to its floor in the same run.
//! Function ids follow `cargo xtask bench` (`baseline`, `ours`, peers):
//!
//! - `stores_redis/baseline`: one `GET` of a string holding the same bytes a session keeps
//!   (no decoding), on the store's own connection: the round-trip floor;
//! - `stores_redis/ours`: `RedisStore::load` (one `HMGET` plus JSON decoding) and a read of
//!   one value;
//! - `stores_redis/ours-caching`: the same through `CachingStore<MemoryStore, RedisStore>`
//!   (1 s staleness bound: nearly every load is a cache hit);
//! - `stores_redis/tower-sessions-redis-store`: tower-sessions-redis-store 0.16's
//!   `SessionStore::load` (one `GET` plus MessagePack decoding) and a read of the same value,
//!   of a session holding the same data, on one `fred` client (one pipelined connection, like
//!   ours) connected up front;
//! - `stores_redis_64_in_flight/*`: the same with 64 requests in flight on each one
//!   connection (throughput: elements per second);
//! - `stores_postgres/baseline` vs `stores_postgres/ours`: a bare sqlx
//!   `SELECT data FROM ... WHERE id = $1` vs `PostgresStore::load` and a read.
//!
//! Needs `AUTH_TEST_REDIS_URL` / `AUTH_TEST_POSTGRES_URL` (each group prints a SKIPPED line
//! when its URL is unset). Run with `cargo xtask bench stores` (prints medians, ratios and
//! requests/s), or `cargo bench -p auth-session --features redis,postgres --bench stores`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use auth_core::{CreateOutcome, SessionId, SessionRecord, SessionStore};
use auth_session::redis::{self, aio::ConnectionManager};
use auth_session::sqlx::{self, Row};
use auth_session::{CachingStore, MemoryStore, PostgresStore, RedisStore};
use criterion::{Criterion, Throughput};
use serde_json::json;
use time::OffsetDateTime;
use tokio::runtime::Runtime;
use tower_sessions_core_014::SessionStore as _;
use tower_sessions_core_014::session::{Id as PeerId, Record as PeerRecord};
use tower_sessions_redis_store::RedisStore as PeerStore;
use tower_sessions_redis_store::fred::prelude::{Builder, Client, ClientLike, Config};

const IN_FLIGHT: usize = 64;

fn record() -> SessionRecord {
    let now = OffsetDateTime::now_utc();
    SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::hours(1),
    )
    .with_subject("alice")
    .with_roles(["user"])
    .with_value("user", json!("alice"))
    .with_value("lang", json!("en"))
    .with_value("cart", json!([1, 2, 3]))
}

fn read(record: &SessionRecord) -> usize {
    record
        .data
        .get("user")
        .and_then(|v| v.as_str())
        .map_or(0, str::len)
}

/// The same session for tower-sessions: the same values, and the subject and roles (fields
/// of ours) as two more values.
fn peer_record() -> PeerRecord {
    PeerRecord {
        id: PeerId::default(),
        data: HashMap::from([
            ("subject".to_owned(), json!("alice")),
            ("roles".to_owned(), json!(["user"])),
            ("user".to_owned(), json!("alice")),
            ("lang".to_owned(), json!("en")),
            ("cart".to_owned(), json!([1, 2, 3])),
        ]),
        expiry_date: OffsetDateTime::now_utc() + time::Duration::hours(1),
    }
}

fn peer_read(record: &PeerRecord) -> usize {
    record
        .data
        .get("user")
        .and_then(|v| v.as_str())
        .map_or(0, str::len)
}

fn random_name() -> String {
    SessionId::generate()
        .unwrap()
        .encode()
        .to_lowercase()
        .replace('-', "_")
}

fn redis(c: &mut Criterion, rt: &Runtime) {
    let Some(url) = std::env::var("AUTH_TEST_REDIS_URL").ok() else {
        eprintln!("SKIPPED: stores_redis: AUTH_TEST_REDIS_URL is not set");
        return;
    };
    let prefix = format!("auth-bench-{}", random_name());
    let (store, mut bare, record, bare_key, peer, peer_id) = rt.block_on(async {
        let client = redis::Client::open(url.as_str()).unwrap();
        let manager = ConnectionManager::new(client).await.unwrap();
        let store = RedisStore::new(manager.clone()).with_prefix(prefix.as_str());
        let record = record();
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        let bare_key = format!("{{{prefix}:bare}}");
        let mut bare = manager.clone();
        let bytes = serde_json::to_vec(&record).unwrap();
        let () = redis::cmd("SET")
            .arg(&bare_key)
            .arg(bytes)
            .query_async(&mut bare)
            .await
            .unwrap();

        // The peer, on its own connection to the same server, connected now. Its keys are the
        // bare session IDs (it has no prefix): one random 128-bit ID, deleted at the end.
        let fred: Client = Builder::from_config(Config::from_url(&url).unwrap())
            .build()
            .unwrap();
        fred.init().await.unwrap();
        let peer = PeerStore::new(fred.clone());
        let mut peer_record = peer_record();
        peer.create(&mut peer_record).await.unwrap();

        // Both read once before measuring, and the sizes at rest, for the report.
        assert_eq!(read(&store.load(&record.id).await.unwrap().unwrap()), 5);
        let loaded = peer.load(&peer_record.id).await.unwrap().unwrap();
        assert_eq!(loaded.data, peer_record.data);
        let ours_bytes: usize = redis::cmd("HSTRLEN")
            .arg(format!("{{{prefix}:{}}}", record.id.encode()))
            .arg("d")
            .query_async(&mut bare)
            .await
            .unwrap();
        let peer_bytes: usize = redis::cmd("STRLEN")
            .arg(peer_record.id.to_string())
            .query_async(&mut bare)
            .await
            .unwrap();
        eprintln!(
            "stores_redis: session at rest: ours {ours_bytes} bytes (JSON, hash field `d`), \
             tower-sessions-redis-store {peer_bytes} bytes (MessagePack string)"
        );
        (store, bare, record, bare_key, (peer, fred), peer_record.id)
    });
    let (peer, fred) = peer;

    let mut group = c.benchmark_group("stores_redis");
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let bytes: Vec<u8> = redis::cmd("GET")
                        .arg(&bare_key)
                        .query_async(&mut bare)
                        .await
                        .unwrap();
                    black_box(bytes);
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let loaded = store.load(&record.id).await.unwrap().unwrap();
                    black_box(read(&loaded));
                }
                start.elapsed()
            })
        });
    });
    let caching = CachingStore::new(MemoryStore::new(), store.clone());
    group.bench_function("ours-caching", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let loaded = caching.load(&record.id).await.unwrap().unwrap();
                    black_box(read(&loaded));
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("tower-sessions-redis-store", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let loaded = peer.load(&peer_id).await.unwrap().unwrap();
                    black_box(peer_read(&loaded));
                }
                start.elapsed()
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("stores_redis_64_in_flight");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..IN_FLIGHT {
                        let (mut connection, key) = (bare.clone(), bare_key.clone());
                        tasks.spawn(async move {
                            let bytes: Vec<u8> = redis::cmd("GET")
                                .arg(&key)
                                .query_async(&mut connection)
                                .await
                                .unwrap();
                            bytes.len()
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        black_box(done.unwrap());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..IN_FLIGHT {
                        let (store, id) = (store.clone(), record.id);
                        tasks.spawn(async move {
                            let loaded = store.load(&id).await.unwrap().unwrap();
                            read(&loaded)
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        black_box(done.unwrap());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("tower-sessions-redis-store", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut tasks = tokio::task::JoinSet::new();
                    for _ in 0..IN_FLIGHT {
                        let peer = peer.clone();
                        tasks.spawn(async move {
                            let loaded = peer.load(&peer_id).await.unwrap().unwrap();
                            peer_read(&loaded)
                        });
                    }
                    while let Some(done) = tasks.join_next().await {
                        black_box(done.unwrap());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.finish();

    rt.block_on(async {
        store.delete(&record.id).await.unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(&bare_key)
            .query_async(&mut bare)
            .await
            .unwrap();
        peer.delete(&peer_id).await.unwrap();
        fred.quit().await.unwrap();
    });
}

fn postgres(c: &mut Criterion, rt: &Runtime) {
    let Some(url) = std::env::var("AUTH_TEST_POSTGRES_URL").ok() else {
        eprintln!("SKIPPED: stores_postgres: AUTH_TEST_POSTGRES_URL is not set");
        return;
    };
    let schema = format!("auth_bench_{}", random_name());
    let (store, record, select) = rt.block_on(async {
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .with_table(&schema, "sessions");
        store.migrate().await.unwrap();
        let record = record();
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        let select = format!("SELECT data FROM \"{schema}\".sessions WHERE id = $1");
        (store, record, select)
    });

    let mut group = c.benchmark_group("stores_postgres");
    group.bench_function("baseline", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let row = sqlx::query(&select)
                        .bind(record.id.as_bytes().as_slice())
                        .fetch_one(store.pool())
                        .await
                        .unwrap();
                    let data: Vec<u8> = row.get(0);
                    black_box(data);
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("ours", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let loaded = store.load(&record.id).await.unwrap().unwrap();
                    black_box(read(&loaded));
                }
                start.elapsed()
            })
        });
    });
    group.finish();

    rt.block_on(async {
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(store.pool())
            .await
            .unwrap();
    });
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    redis(&mut c, &rt);
    postgres(&mut c, &rt);
    c.final_summary();
}
