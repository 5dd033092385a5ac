//! Layer cost per algorithm, in one run: no middleware, ours, jwt-authorizer 0.15 (static
//! keys), raw `jsonwebtoken::decode`, and the raw signature check with a pre-parsed key.
//!
//! Groups are `jwt/layer_<ALG>`; function ids `baseline`, `ours`, `jwt-authorizer`,
//! `jsonwebtoken-decode`, `raw-verify` (`cargo xtask bench jwt` reads these names).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use auth_core::SecretKey;
use auth_jwt::{Algorithm, JwtLayer, VerifyingKey};
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
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
