//! Two demo app instances in one process sharing Redis: a session and a revocation made
//! through one are honoured by the other. Skipped (with a SKIPPED line) when
//! `AUTH_TEST_REDIS_URL` is unset. `demo_processes.rs` does the same with two real processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use auth_core::SecretKey;
use axum::Router;
use axum::body::Body;
use base64::Engine as _;
use http::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, http::HeaderMap, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

fn get(path: &str, cookie: Option<&str>, token: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Body::empty()).unwrap()
}

/// How long to poll for a revocation to reach the other instance before failing. Not a
/// latency requirement: only a bound so that a revocation that never arrives fails the test.
const REVOCATION_POLL_LIMIT: Duration = Duration::from_secs(10);

fn ed25519_pem() -> Vec<u8> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_sessions_and_revocations_through_redis() {
    let Some(url) =
        auth_tests::redis_url("two_instances_share_sessions_and_revocations_through_redis")
    else {
        return;
    };
    let prefix = format!(
        "demo-test-{}",
        SecretKey::generate(32).unwrap().expose_secret()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let config = demo::DemoConfig {
        store: demo::StoreChoice::Redis(url.clone()),
        revocation: demo::RevocationChoice::Redis(url.clone()),
        cookie_key: Some(SecretKey::generate(32).unwrap()),
        jwt_key_pem: Some(ed25519_pem()),
        redis_prefix: prefix.clone(),
        ..demo::DemoConfig::default()
    };
    let a = demo::app(&config).await.unwrap();
    let b = demo::app(&config).await.unwrap();

    // A session made on A is seen on B; a logout on B ends it on A.
    let login = Request::post("/login")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .body(Body::from("username=bob&password=bob-password"))
        .unwrap();
    let (status, headers, _) = call(&a, login).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, body) = call(&b, get("/me", Some(&cookie), None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("\"bob\""), "{body}");
    assert_eq!(
        call(&b, get("/admin", Some(&cookie), None)).await.0,
        StatusCode::OK
    );
    let logout = Request::post("/logout")
        .header("sec-fetch-site", "same-origin")
        .header(COOKIE, &cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&b, logout).await.0, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&a, get("/me", Some(&cookie), None)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A token minted on A is accepted on B; revoked on A, B refuses it once the revocation has
    // reached it through Redis (asynchronously: poll, with a generous bound so a hang fails).
    let token_request = Request::post("/api/token")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(
            r#"{"username":"alice","password":"alice-password"}"#,
        ))
        .unwrap();
    let (_, _, body) = call(&a, token_request).await;
    let token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&b, get("/api/me", None, Some(&token))).await.0,
        StatusCode::OK
    );
    let revoke = Request::post("/api/logout")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&a, revoke).await.0, StatusCode::NO_CONTENT);
    let started = Instant::now();
    loop {
        let status = call(&b, get("/api/me", None, Some(&token))).await.0;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < REVOCATION_POLL_LIMIT,
            "B still accepts the revoked token after polling for {REVOCATION_POLL_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("revocation seen by B after {:?}", started.elapsed());

    // Clean up this test's keys.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("*{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
