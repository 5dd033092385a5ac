//! Layer cost per algorithm, in one run: no middleware, ours, jwt-authorizer 0.15 (static
//! keys), raw `jsonwebtoken::decode`, and the raw signature check with a pre-parsed key.
//!
//! Groups are `jwt/layer_<ALG>`; function ids `baseline`, `ours`, `jwt-authorizer`,
//! `jsonwebtoken-decode`, `raw-verify` (`cargo xtask bench jwt` reads these names), and
//! `floor-in-service`: the raw check (signature decoded, pre-parsed key) done inside the
//! benchmarked service, so the same harness as `ours`. It is the floor any layer can reach
//! here; its distance to `raw-verify` is what running the check between other work costs
//! (caches, allocator) compared with a hot loop that does nothing else.
//!
//! Revocation cost: groups `jwt/revocation_HS256` and `jwt/revocation_EdDSA`, ids `baseline`,
//! `ours` (layer without a list), `ours-memory` (with a `MemoryRevocationList` holding 10k
//! revoked jtis, 1k revoked subjects and 1k revoked sessions), `ours-redis` (the same
//! entries in a Redis-mirrored list; needs `--features redis` and `AUTH_TEST_REDIS_URL`,
//! skipped with a printed line otherwise) and `status-memory` (the list's `status` call
//! alone).
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout
)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use auth_jwt::{Algorithm, MemoryRevocationList};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tower::{ServiceBuilder, service_fn};

use common::{AUD, ISS, SECRET, cases, handler, run};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for case in cases() {
        let bearer = format!("Bearer {}", case.token);
        let mut group = c.benchmark_group(format!("jwt/layer_{}", case.alg));
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(50);

        let mut baseline = service_fn(handler);
        group.bench_function("baseline", |b| {
            b.iter(|| rt.block_on(run(&mut baseline, &bearer)));
        });

        let mut ours = ServiceBuilder::new()
            .layer(case.our_layer())
            .service_fn(handler);
        group.bench_function("ours", |b| b.iter(|| rt.block_on(run(&mut ours, &bearer))));
        // Right after `ours` (and `baseline` right before it): the rows a target compares run
        // back to back, so a machine drifting during the run moves them least.
        let (input, sig) = case.raw_parts();
        group.bench_function("raw-verify", |b| {
            b.iter(|| assert!(case.raw.verify(black_box(input.as_bytes()), &sig)));
        });

        let mut peer = ServiceBuilder::new()
            .layer(case.authorizer_layer(&rt))
            .service_fn(handler);
        group.bench_function("jwt-authorizer", |b| {
            b.iter(|| rt.block_on(run(&mut peer, &bearer)));
        });

        let (jalg, decoding) = match case.alg {
            Algorithm::HS256 => (
                jsonwebtoken::Algorithm::HS256,
                jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
            ),
            Algorithm::RS256 => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::DecodingKey::from_rsa_pem(case.public_pem.as_bytes()).unwrap(),
            ),
            Algorithm::ES256 => (
                jsonwebtoken::Algorithm::ES256,
                jsonwebtoken::DecodingKey::from_ec_pem(case.public_pem.as_bytes()).unwrap(),
            ),
            _ => (
                jsonwebtoken::Algorithm::EdDSA,
                jsonwebtoken::DecodingKey::from_ed_pem(case.public_pem.as_bytes()).unwrap(),
            ),
        };
        let mut validation = jsonwebtoken::Validation::new(jalg);
        validation.set_issuer(&[ISS]);
        validation.set_audience(&[AUD]);
        group.bench_function("jsonwebtoken-decode", |b| {
            b.iter(|| {
                let data = jsonwebtoken::decode::<auth_core::Claims>(
                    black_box(&case.token),
                    &decoding,
                    &validation,
                )
                .unwrap();
                black_box(data);
            });
        });

        // The floor: the raw check inside a service, same harness as `ours`.
        let mut floor = case.floor_service();
        group.bench_function("floor-in-service", |b| {
            b.iter(|| rt.block_on(run(&mut floor, &bearer)));
        });
        group.finish();
    }
}

async fn fill(list: &dyn auth_core::RevocationList) {
    let until = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    let now = time::OffsetDateTime::now_utc();
    for i in 0..10_000 {
        list.revoke_token(ISS, &format!("revoked-jti-{i:05}"), until)
            .await
            .unwrap();
    }
    for i in 0..1_000 {
        list.revoke_subject(ISS, &format!("user-{i}"), now, until)
            .await
            .unwrap();
        list.revoke_session(ISS, &format!("session-{i}"), until)
            .await
            .unwrap();
    }
}

#[cfg(feature = "redis")]
fn redis_list(
    rt: &tokio::runtime::Runtime,
) -> Option<(Arc<auth_jwt::RedisRevocationList>, String)> {
    let Ok(url) = std::env::var("AUTH_TEST_REDIS_URL") else {
        println!("jwt/revocation ours-redis: SKIPPED (AUTH_TEST_REDIS_URL unset)");
        return None;
    };
    let prefix = format!(
        "bench:auth-jwt:{}:",
        time::OffsetDateTime::now_utc().unix_timestamp_nanos()
    );
    let list = rt.block_on(async {
        let list = auth_jwt::RedisRevocationList::builder(redis::Client::open(url).unwrap())
            .with_prefix(prefix.clone())
            .with_channel(format!("{prefix}channel"))
            .start()
            .await
            .unwrap();
        assert!(list.wait_synced(Duration::from_secs(5)).await);
        fill(&list).await;
        list
    });
    Some((Arc::new(list), prefix))
}

#[cfg(not(feature = "redis"))]
fn redis_list(_: &tokio::runtime::Runtime) -> Option<(Arc<MemoryRevocationList>, String)> {
    println!("jwt/revocation ours-redis: SKIPPED (built without --features redis)");
    None
}

#[cfg(feature = "redis")]
fn redis_cleanup(rt: &tokio::runtime::Runtime, prefix: &str) {
    use redis::AsyncCommands as _;
    let Ok(url) = std::env::var("AUTH_TEST_REDIS_URL") else {
        return;
    };
    rt.block_on(async {
        let mut conn = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
        for chunk in keys.chunks(1_000) {
            let _: () = conn.del(chunk).await.unwrap();
        }
    });
}

#[cfg(not(feature = "redis"))]
fn redis_cleanup(_: &tokio::runtime::Runtime, _: &str) {}

fn bench_revocation(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let memory = Arc::new(MemoryRevocationList::new());
    rt.block_on(fill(&*memory));
    let redis = redis_list(&rt);
    for case in cases()
        .into_iter()
        .filter(|c| matches!(c.alg, Algorithm::HS256 | Algorithm::EdDSA))
    {
        let bearer = format!("Bearer {}", case.token);
        let mut group = c.benchmark_group(format!("jwt/revocation_{}", case.alg));
        group
            .measurement_time(Duration::from_secs(3))
            .warm_up_time(Duration::from_secs(1))
            .sample_size(50);
        let builder = || {
            auth_jwt::JwtLayer::builder(
                auth_jwt::TrustedIssuer::new(ISS, case.our_key()).add_audience(AUD),
            )
        };

        let mut baseline = service_fn(handler);
        group.bench_function("baseline", |b| {
            b.iter(|| rt.block_on(run(&mut baseline, &bearer)));
        });
        let mut ours = ServiceBuilder::new()
            .layer(builder().build().unwrap())
            .service_fn(handler);
        group.bench_function("ours", |b| b.iter(|| rt.block_on(run(&mut ours, &bearer))));
        // Right after `ours` (and `baseline` right before it): the rows a target compares run
        // back to back, so a machine drifting during the run moves them least.
        let (input, sig) = case.raw_parts();
        group.bench_function("raw-verify", |b| {
            b.iter(|| assert!(case.raw.verify(black_box(input.as_bytes()), &sig)));
        });
        let mut with_memory = ServiceBuilder::new()
            .layer(builder().with_revocation(memory.clone()).build().unwrap())
            .service_fn(handler);
        group.bench_function("ours-memory", |b| {
            b.iter(|| rt.block_on(run(&mut with_memory, &bearer)));
        });
        if let Some((list, _)) = &redis {
            let mut with_redis = ServiceBuilder::new()
                .layer(builder().with_revocation(list.clone()).build().unwrap())
                .service_fn(handler);
            group.bench_function("ours-redis", |b| {
                b.iter(|| rt.block_on(run(&mut with_redis, &bearer)));
            });
        }
        let token = auth_core::TokenRef {
            issuer: ISS,
            jti: Some("0123456789abcdef"),
            subject: Some("alice"),
            session_id: None,
            issued_at: Some(1),
        };
        group.bench_function("status-memory", |b| {
            b.iter(|| {
                let status = auth_core::RevocationList::status(&*memory, black_box(&token));
                assert_eq!(status, auth_core::RevocationStatus::Active);
            });
        });
        group.finish();
    }
    if let Some((_, prefix)) = &redis {
        redis_cleanup(&rt, prefix);
    }
}

criterion_group!(benches, bench, bench_revocation);
criterion_main!(benches);
