//! The layer in stacks: auth-core guards, axum, token sources, issuers, key rotation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use auth_core::{Identity, KeyId, KeyRing, ManualClock, RequireAuthLayer, SecretKey};
use auth_jwt::{Algorithm, Issuer, JwtRejectionKind as K, KeySet, SigningKey, TokenSource};
use axum::Router;
use axum::routing::get;
use common::*;
use http::{Request, Response, StatusCode, header};
use serde_json::json;
use tower::{ServiceBuilder, ServiceExt};

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope_through_require_auth() {
    let signer = Signer::hmac();
    let layer = builder(signer.verifying_key("k1")).build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .layer(RequireAuthLayer::scope("orders:write"))
        .service_fn(|_req: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
    let req = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {}", token(&signer)))
        .body(String::new())
        .unwrap();
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        res.headers()[header::WWW_AUTHENTICATE],
        r#"Bearer error="insufficient_scope", scope="orders:write""#
    );
    let mut claims = good_claims();
    claims["scp"] = json!(["orders:write"]);
    let t = craft(&header_for(&signer, "k1"), &claims, &signer);
    let req = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {t}"))
        .body(String::new())
        .unwrap();
    assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn works_in_an_axum_router() {
    let signer = Signer::ed();
    let layer = builder(signer.verifying_key("k1")).build().unwrap();
    let app = Router::new()
        .route(
            "/me",
            get(|identity: axum::Extension<Identity>| async move { identity.subject().to_owned() }),
        )
        .layer(layer);
    let req = Request::builder()
        .uri("/me")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(&signer)))
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"alice");
    let res = app
        .oneshot(
            Request::builder()
                .uri("/me")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn missing_token_is_401_without_error_code_and_optional_mode_passes() {
    let signer = Signer::hmac();
    let out = call(
        builder(signer.verifying_key("k1"))
            .with_realm("api")
            .build()
            .unwrap(),
        None,
    )
    .await;
    assert_eq!(out.status, 401);
    assert_eq!(out.kind, Some(K::Missing));
    assert_eq!(out.challenge.as_deref(), Some(r#"Bearer realm="api""#));

    let optional = builder(signer.verifying_key("k1"))
        .optional()
        .build()
        .unwrap();
    let out = call(optional.clone(), None).await;
    assert_eq!(out.status, 200);
    assert!(out.identity.is_none());
    let out = call(optional, Some("garbage")).await;
    assert_invalid(&out, K::Malformed);
}

#[tokio::test]
async fn any_byte_outside_base64url_in_any_part_is_malformed() {
    let signer = Signer::hmac();
    let layer = builder(signer.verifying_key("k1")).build().unwrap();
    let good = token(&signer);
    assert_eq!(call(layer.clone(), Some(&good)).await.status, 200);
    let parts: Vec<&str> = good.split('.').collect();
    for part in 0..3 {
        for junk in [" ", "~", "+", "/", "=", ",", "\"", "%41"] {
            let mut bad: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            // In the middle of the part and at its end (where padding would go).
            let middle = bad[part].len() / 2;
            bad[part].insert_str(middle, junk);
            let t = bad.join(".");
            assert_invalid(&call(layer.clone(), Some(&t)).await, K::Malformed);
            if part == 2 && junk == " " {
                continue; // trailing whitespace of the header value is not the token's
            }
            let mut bad: Vec<String> = parts.iter().map(|p| (*p).to_owned()).collect();
            bad[part].push_str(junk);
            let t = bad.join(".");
            assert_invalid(&call(layer.clone(), Some(&t)).await, K::Malformed);
        }
    }
    for junk in ["a b", "a,b", "=ab", "a.b", "a.b.c.d", "..", "a..c"] {
        assert_invalid(&call(layer.clone(), Some(junk)).await, K::Malformed);
    }
}

#[tokio::test]
async fn cookie_and_header_sources() {
    let signer = Signer::hmac();
    let layer = builder(signer.verifying_key("k1"))
        .with_source(
            TokenSource::header("x-token")
                .unwrap()
                .or(TokenSource::cookie("at").unwrap()),
        )
        .build()
        .unwrap();
    let t = token(&signer);
    let req = Request::builder()
        .header("x-token", &t)
        .body(String::new())
        .unwrap();
    assert_eq!(call_req(layer.clone(), req).await.status, 200);
    let req = Request::builder()
        .header(header::COOKIE, format!("a=1; at={t}"))
        .body(String::new())
        .unwrap();
    assert_eq!(call_req(layer.clone(), req).await.status, 200);
    // The bearer header is not a configured source here.
    assert_eq!(call(layer, Some(&t)).await.kind, Some(K::Missing));
}

#[tokio::test]
async fn two_issuers_with_the_same_kid_are_checked_with_their_own_keys_only() {
    let (a, b) = (Signer::ec(), Signer::ec());
    let other = "https://other.example";
    let layer = builder_with(trusted(a.verifying_key("1")))
        .add_issuer(TrustedIssuer::new(other, b.verifying_key("1")).add_audience(AUD))
        .build()
        .unwrap();
    let t = craft(&header_for(&a, "1"), &good_claims(), &a);
    let out = call(layer.clone(), Some(&t)).await;
    assert_eq!(out.status, 200);
    assert_eq!(out.identity.unwrap().issuer(), Some(ISS));
    let mut theirs = good_claims();
    theirs["iss"] = json!(other);
    let t = craft(&header_for(&b, "1"), &theirs, &b);
    let out = call(layer.clone(), Some(&t)).await;
    assert_eq!(out.status, 200);
    assert_eq!(out.identity.unwrap().issuer(), Some(other));
    // Key of issuer B presenting issuer A's iss: only A's keys are tried.
    let t = craft(&header_for(&b, "1"), &good_claims(), &b);
    assert_invalid(&call(layer.clone(), Some(&t)).await, K::InvalidSignature);
    // An issuer no entry names, whatever the key: refused before any key is tried.
    let mut stranger = good_claims();
    stranger["iss"] = json!("https://stranger.example");
    let t = craft(&header_for(&a, "1"), &stranger, &a);
    assert_invalid(&call(layer, Some(&t)).await, K::InvalidIssuer);
}

#[tokio::test]
async fn issuer_rotation_keeps_old_tokens_valid_and_publishes_public_keys_only() {
    let clock = Arc::new(ManualClock::at_unix(NOW));
    let old = SigningKey::hmac(Algorithm::HS256, SecretKey::generate(32).unwrap()).unwrap();
    let ring = KeyRing::new(KeyId::new("old").unwrap(), old);
    let issuer = Issuer::new(ring.clone(), ISS, AUD)
        .unwrap()
        .with_clock(clock.clone());
    let old_token = issuer.mint("alice").unwrap();
    assert!(
        issuer.jwk_set().keys.is_empty(),
        "HMAC secrets are never published"
    );

    let ed = aws_lc_rs::signature::Ed25519KeyPair::generate().unwrap();
    let der = ed.to_pkcs8v1().unwrap(); // PKCS#8 v1: jsonwebtoken derives the public JWK from it
    let new = SigningKey::from_der(Algorithm::EdDSA, der.as_ref()).unwrap();
    let rotated = Issuer::new(
        ring.rotate(KeyId::new("new").unwrap(), new).unwrap(),
        ISS,
        AUD,
    )
    .unwrap()
    .with_clock(clock.clone());
    let new_token = rotated
        .mint_with("bob", &json!({"roles": ["ops"]}))
        .unwrap();
    let jwks = rotated.jwk_set();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].kid.as_deref(), Some("new"));
    assert!(jwks.keys[0].k.is_none());

    let layer = builder(rotated.key_set().unwrap())
        .with_clock(clock.clone())
        .build()
        .unwrap();
    assert_eq!(call(layer.clone(), Some(&old_token)).await.status, 200);
    let out = call(layer.clone(), Some(&new_token)).await;
    assert_eq!(out.identity.unwrap().roles(), ["ops"]);
    // Lifetime: 15 minutes by default.
    clock.advance(time::Duration::minutes(16));
    assert_invalid(&call(layer, Some(&new_token)).await, K::Expired);
    // Custom claims cannot override registered ones.
    assert!(rotated.mint_with("eve", &json!({"iss": "evil"})).is_err());
    assert!(
        rotated
            .mint_with("eve", &json!(["not", "an", "object"]))
            .is_err()
    );
}

#[tokio::test]
async fn typ_and_max_age_checks() {
    let signer = Signer::hmac();
    let layer = builder_with(trusted(signer.verifying_key("k1")).with_typ("at+jwt"))
        .build()
        .unwrap();
    assert_invalid(
        &call(layer.clone(), Some(&token(&signer))).await,
        K::InvalidType,
    );
    let t = craft(
        &json!({"alg": "HS256", "kid": "k1", "typ": "application/AT+JWT"}),
        &good_claims(),
        &signer,
    );
    assert_eq!(call(layer, Some(&t)).await.status, 200);

    let layer =
        builder_with(trusted(signer.verifying_key("k1")).with_max_age(time::Duration::minutes(5)))
            .build()
            .unwrap();
    assert_eq!(call(layer.clone(), Some(&token(&signer))).await.status, 200);
    let mut old = good_claims();
    old["iat"] = json!(NOW - 3600);
    let t = craft(&header_for(&signer, "k1"), &old, &signer);
    assert_invalid(&call(layer, Some(&t)).await, K::Expired);
}

#[test]
fn unsafe_layer_configs_are_refused_at_build_time() {
    use auth_jwt::{ConfigError, JwtLayer};
    let key = || Signer::hmac().verifying_key("k1");
    assert!(matches!(
        JwtLayer::builder(TrustedIssuer::new("", key()).add_audience(AUD)).build(),
        Err(ConfigError::EmptyValue { field: "issuer" })
    ));
    assert!(matches!(
        JwtLayer::builder(TrustedIssuer::new(ISS, key())).build(),
        Err(ConfigError::MissingAudience { issuer }) if issuer == ISS
    ));
    // Every entry needs its own audience: one entry's does not cover another.
    assert!(matches!(
        JwtLayer::builder(trusted(key()))
            .add_issuer(TrustedIssuer::new("https://other.example", key()))
            .build(),
        Err(ConfigError::MissingAudience { issuer }) if issuer == "https://other.example"
    ));
    assert!(matches!(
        JwtLayer::builder(trusted(key()))
            .add_issuer(trusted(key()))
            .build(),
        Err(ConfigError::DuplicateIssuer { issuer }) if issuer == ISS
    ));
    assert!(matches!(
        JwtLayer::builder(trusted(key()).with_algorithms([])).build(),
        Err(ConfigError::EmptyValue {
            field: "algorithms"
        })
    ));
    let b = || JwtLayer::builder(trusted(key()));
    assert!(matches!(
        JwtLayer::builder(trusted(key()).with_leeway(time::Duration::hours(1))).build(),
        Err(ConfigError::LeewayOutOfRange { .. })
    ));
    assert!(matches!(
        JwtLayer::builder(trusted(key()).with_leeway(time::Duration::seconds(-1))).build(),
        Err(ConfigError::LeewayOutOfRange { .. })
    ));
    assert!(matches!(
        b().with_max_token_len(10).build(),
        Err(ConfigError::MaxTokenLengthOutOfRange { .. })
    ));
    assert!(matches!(
        b().with_realm("a\"b").build(),
        Err(ConfigError::InvalidRealm { .. })
    ));
    assert!(matches!(
        JwtLayer::builder(trusted(key()).add_audience("")).build(),
        Err(ConfigError::EmptyValue { field: "audience" })
    ));
    assert!(matches!(
        KeySet::builder().build(),
        Err(ConfigError::NoKeys)
    ));
}
