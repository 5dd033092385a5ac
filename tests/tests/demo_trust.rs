//! `DEMO_TRUST_*`: bearer tokens of an external issuer are accepted on `/api/*` and `/whoami`,
//! with keys fetched from its JWKS (served here by a local HTTP server).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use auth_core::{KeyId, KeyRing};
use auth_jwt::{Algorithm, Issuer, SigningKey};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn external_issuer(iss: &str, aud: &str) -> Issuer {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let key = SigningKey::from_der(Algorithm::EdDSA, der.as_ref()).unwrap();
    Issuer::new(KeyRing::new(KeyId::new("ext-1").unwrap(), key), iss, aud).unwrap()
}

async fn get_with(app: &Router, path: &str, token: &str) -> (StatusCode, String) {
    let req = Request::get(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();

    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_of_a_trusted_external_issuer_are_accepted() {
    let external = external_issuer("https://idp.example", "demo-external");
    let jwks = external.jwk_set();
    let server = Router::new().route(
        "/jwks.json",
        get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });

    let config = demo::DemoConfig {
        trust: Some(demo::TrustedIssuer {
            jwks_url: format!("http://{addr}/jwks.json"),
            issuer: "https://idp.example".to_owned(),
            audience: "demo-external".to_owned(),
        }),
        ..demo::DemoConfig::default()
    };
    let app = demo::app(&config).await.unwrap();

    let token = external.mint("carol").unwrap();
    let (status, body) = get_with(&app, "/api/me", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("\"carol\"") && body.contains("\"jwt\""),
        "{body}"
    );
    let (status, body) = get_with(&app, "/whoami", &token).await;
    assert_eq!(
        (status, body.contains("carol")),
        (StatusCode::OK, true),
        "{body}"
    );

    // Same issuer name, another key: refused.
    let impostor = external_issuer("https://idp.example", "demo-external")
        .mint("mallory")
        .unwrap();
    assert_eq!(
        get_with(&app, "/api/me", &impostor).await.0,
        StatusCode::UNAUTHORIZED
    );
    // An issuer that is not trusted: refused.
    let stranger = external_issuer("https://other.example", "demo-external")
        .mint("eve")
        .unwrap();
    assert_eq!(
        get_with(&app, "/api/me", &stranger).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn trust_settings_must_come_together() {
    let output = auth_tests::demo_process::demo_command()
        .unwrap()
        .env("DEMO_ADDR", "127.0.0.1:0")
        .env("DEMO_TRUST_JWKS_URL", "http://127.0.0.1:1/jwks.json")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEMO_TRUST_ISSUER"), "{stderr}");
}
