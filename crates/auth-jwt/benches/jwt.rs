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

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use auth_core::SecretKey;
use auth_jwt::{Algorithm, JwtLayer, MemoryRevocationList, VerifyingKey};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use axum07::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use http::{Request, Response, header};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

const ISS: &str = "https://issuer.example";
const AUD: &str = "api";
const SECRET: &str = "bench-secret-bench-secret-bench!";

struct Case {
    alg: Algorithm,
    token: String,
    public_pem: String,
    raw: Raw,
}

#[allow(clippy::large_enum_variant)]
enum Raw {
    Hmac(aws_lc_rs::hmac::Key),
    Public(ParsedPublicKey),
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn token(alg: Algorithm, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
    let claims = serde_json::json!({
        "iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 365 * 86_400,
        "jti": "0123456789abcdef", "scope": "read write"
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn cases() -> Vec<Case> {
    let rng = SystemRandom::new();
    let hmac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let hs = Case {
        alg: Algorithm::HS256,
        token: token(Algorithm::HS256, |m| {
            aws_lc_rs::hmac::sign(&hmac, m).as_ref().to_vec()
        }),
        public_pem: String::new(),
        raw: Raw::Hmac(hmac),
    };
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rs = Case {
        alg: Algorithm::RS256,
        token: token(Algorithm::RS256, |m| {
            let mut sig = vec![0; rsa.public_modulus_len()];
            rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
                .unwrap();
            sig
        }),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(rsa.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                rsa.public_key().as_ref(),
            )
            .unwrap(),
        ),
    };
    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let es = Case {
        alg: Algorithm::ES256,
        token: token(Algorithm::ES256, |m| {
            ec.sign(&rng, m).unwrap().as_ref().to_vec()
        }),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(ec.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                ec.public_key().as_ref(),
            )
            .unwrap(),
        ),
    };
    let ed = Ed25519KeyPair::generate().unwrap();
    let eddsa = Case {
        alg: Algorithm::EdDSA,
        token: token(Algorithm::EdDSA, |m| ed.sign(m).as_ref().to_vec()),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(ed.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref()).unwrap(),
        ),
    };
    vec![hs, rs, es, eddsa]
}

async fn handler(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

fn request(bearer: &str) -> Request<Body> {
    Request::builder()
        .header(header::AUTHORIZATION, bearer)
        .body(Body::empty())
        .unwrap()
}

/// Drives one request through a ready service and checks the status.
async fn run<S>(svc: &mut S, bearer: &str)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(request(bearer))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    black_box(res);
}

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

        let key = match case.alg {
            Algorithm::HS256 => {
                VerifyingKey::hmac(case.alg, &SecretKey::from_bytes(SECRET.as_bytes()).unwrap())
            }
            alg => VerifyingKey::from_pem(alg, case.public_pem.as_bytes()),
        }
        .unwrap()
        .with_kid("k1")
        .unwrap();
        let layer = JwtLayer::builder(key)
            .add_issuer(ISS)
            .add_audience(AUD)
            .build()
            .unwrap();
        let mut ours = ServiceBuilder::new().layer(layer).service_fn(handler);
        group.bench_function("ours", |b| b.iter(|| rt.block_on(run(&mut ours, &bearer))));

        let validation = jwt_authorizer::Validation::new().iss(&[ISS]).aud(&[AUD]);
        let builder = match case.alg {
            Algorithm::HS256 => {
                jwt_authorizer::JwtAuthorizer::<serde_json::Value>::from_secret(SECRET)
            }
            Algorithm::RS256 => jwt_authorizer::JwtAuthorizer::from_rsa_pem_text(&case.public_pem),
            Algorithm::ES256 => jwt_authorizer::JwtAuthorizer::from_ec_pem_text(&case.public_pem),
            _ => jwt_authorizer::JwtAuthorizer::from_ed_pem_text(&case.public_pem),
        };
        let authorizer = rt.block_on(builder.validation(validation).build()).unwrap();
        let mut peer = ServiceBuilder::new()
            .layer(jwt_authorizer::layer::AuthorizationLayer::new(vec![
                Arc::new(authorizer),
            ]))
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

        let (input, sig) = case.token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        group.bench_function("raw-verify", |b| {
            b.iter(|| {
                let ok = match &case.raw {
                    Raw::Hmac(key) => {
                        aws_lc_rs::hmac::verify(key, black_box(input.as_bytes()), &sig).is_ok()
                    }
                    Raw::Public(key) => key.verify_sig(black_box(input.as_bytes()), &sig).is_ok(),
                };
                assert!(ok);
            });
        });
        // The floor: the raw check inside a service, same harness as `ours`.
        let case_raw = &case.raw;
        let mut floor = service_fn(|req: Request<Body>| {
            let value = req
                .headers()
                .get(header::AUTHORIZATION)
                .unwrap()
                .to_str()
                .unwrap();
            let token = value.strip_prefix("Bearer ").unwrap();
            let (input, sig) = token.rsplit_once('.').unwrap();
            let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
            let ok = match case_raw {
                Raw::Hmac(key) => aws_lc_rs::hmac::verify(key, input.as_bytes(), &sig).is_ok(),
                Raw::Public(key) => key.verify_sig(input.as_bytes(), &sig).is_ok(),
            };
            assert!(ok);
            async move { Ok::<_, Infallible>(Response::new(Body::empty())) }
        });
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
        list.revoke_token(&format!("revoked-jti-{i:05}"), until)
            .await
            .unwrap();
    }
    for i in 0..1_000 {
        list.revoke_subject(&format!("user-{i}"), now, until)
            .await
            .unwrap();
        list.revoke_session(&format!("session-{i}"), until)
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
        let key = || {
            match case.alg {
                Algorithm::HS256 => {
                    VerifyingKey::hmac(case.alg, &SecretKey::from_bytes(SECRET.as_bytes()).unwrap())
                }
                alg => VerifyingKey::from_pem(alg, case.public_pem.as_bytes()),
            }
            .unwrap()
            .with_kid("k1")
            .unwrap()
        };
        let builder = || JwtLayer::builder(key()).add_issuer(ISS).add_audience(AUD);

        let mut baseline = service_fn(handler);
        group.bench_function("baseline", |b| {
            b.iter(|| rt.block_on(run(&mut baseline, &bearer)));
        });
        let mut ours = ServiceBuilder::new()
            .layer(builder().build().unwrap())
            .service_fn(handler);
        group.bench_function("ours", |b| b.iter(|| rt.block_on(run(&mut ours, &bearer))));
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
