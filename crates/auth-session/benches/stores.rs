//! Networked store benchmarks against the real servers, each next to its floor in the same run:
//!
//! - `stores_redis/bare_get`: one `GET` of a string holding the same bytes a session keeps
//!   (no decoding): the round-trip floor;
//! - `stores_redis/store_load_read`: `RedisStore::load` (one `HMGET` plus JSON decoding) and
//!   a read of one value;
//! - `stores_redis/caching_load_read`: the same through `CachingStore<MemoryStore,
//!   RedisStore>` (1 s staleness bound: nearly every load is a cache hit);
//! - `stores_redis_64_in_flight/*`: the same with 64 requests in flight on the one
//!   multiplexed connection (throughput: elements per second);
//! - `stores_postgres/bare_select` vs `stores_postgres/store_load_read`: a bare sqlx
//!   `SELECT data FROM ... WHERE id = $1` vs `PostgresStore::load` and a read.
//!
//! tower-sessions-redis-store is not compared: it is built on `fred`, a second Redis client
//! too heavy to build here.
//!
//! Needs `AUTH_TEST_REDIS_URL` / `AUTH_TEST_POSTGRES_URL` (each group prints a SKIPPED line
//! when its URL is unset). Run with
//! `cargo bench -p auth-session --features redis,postgres --bench stores`.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

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
    let (store, mut bare, record, bare_key) = rt.block_on(async {
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
        (store, bare, record, bare_key)
    });

    let mut group = c.benchmark_group("stores_redis");
    group.bench_function("bare_get", |b| {
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
    group.bench_function("store_load_read", |b| {
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
    group.bench_function("caching_load_read", |b| {
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
    group.finish();

    let mut group = c.benchmark_group("stores_redis_64_in_flight");
    group.throughput(Throughput::Elements(IN_FLIGHT as u64));
    group.bench_function("bare_get", |b| {
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
    group.bench_function("store_load_read", |b| {
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
    group.finish();

    rt.block_on(async {
        store.delete(&record.id).await.unwrap();
        let _: i64 = redis::cmd("DEL")
            .arg(&bare_key)
            .query_async(&mut bare)
            .await
            .unwrap();
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
    group.bench_function("bare_select", |b| {
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
    group.bench_function("store_load_read", |b| {
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
