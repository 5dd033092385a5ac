//! Every route of the demo's contract, over HTTP semantics (status codes, headers, JSON shapes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use axum::Router;
use axum::body::Body;
use base64_decode::decode_segment;
use http::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

mod base64_decode {
    /// Decodes one unpadded base64url JWT segment into JSON.
    pub(crate) fn decode_segment(segment: &str) -> serde_json::Value {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut bits = 0u32;
        let mut count = 0;
        let mut out = Vec::new();
        for c in segment.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
            bits = (bits << 6) | v;
            count += 6;
            if count >= 8 {
                count -= 8;
                out.push((bits >> count) as u8);
                bits &= (1 << count) - 1;
            }
        }
        serde_json::from_slice(&out).unwrap()
    }
}

async fn app() -> Router {
    demo::app(&demo::DemoConfig::default()).await.unwrap()
}

struct Reply {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    fn cookie(&self) -> Option<String> {
        self.headers
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
    }
}

async fn call(app: &Router, req: Request<Body>) -> Reply {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

fn get(path: &str, cookie: Option<&str>, bearer: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    if let Some(token) = bearer {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    req.body(Body::empty()).unwrap()
}

fn form_post(path: &str, body: &str, cookie: Option<&str>) -> Request<Body> {
    let mut req = Request::post(path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header("origin", "http://127.0.0.1:3000")
        .header("host", "127.0.0.1:3000");
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    req.body(Body::from(body.to_owned())).unwrap()
}

async fn login(app: &Router, user: &str) -> String {
    let reply = call(
        app,
        form_post(
            "/login",
            &format!("username={user}&password={user}-password"),
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    reply.cookie().expect("login sets the session cookie")
}

async fn token(app: &Router, user: &str, password: &str) -> Reply {
    let req = Request::post("/api/token")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(format!(
            r#"{{"username":"{user}","password":"{password}"}}"#
        )))
        .unwrap();
    call(app, req).await
}

#[tokio::test]
async fn index_shows_the_login_form_then_the_signed_in_page() {
    let app = app().await;
    let reply = call(&app, get("/", None, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.headers[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    for needle in [
        "<form",
        "method=\"post\"",
        "action=\"/login\"",
        "name=\"username\"",
        "name=\"password\"",
    ] {
        assert!(reply.body.contains(needle), "{needle}");
    }
    let cookie = login(&app, "alice").await;
    let reply = call(&app, get("/", Some(&cookie), None)).await;
    assert!(reply.body.contains("Signed in as alice"), "{}", reply.body);
    assert!(reply.body.contains("action=\"/logout\""));
}

#[tokio::test]
async fn login_success_redirects_with_a_new_secure_cookie_and_failure_is_401_without_cookie() {
    let app = app().await;
    let reply = call(
        &app,
        form_post("/login", "username=alice&password=alice-password", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[LOCATION], "/");
    let set_cookie = reply.headers[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let reply = call(
        &app,
        form_post("/login", "username=alice&password=wrong", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    assert!(reply.body.contains("<form"));
    let reply = call(
        &app,
        form_post("/login", "username=mallory&password=x", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn me_admin_and_logout_over_the_session() {
    let app = app().await;
    let reply = call(&app, get("/me", None, None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "unauthenticated");
    assert_eq!(
        call(&app, get("/admin", None, None)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let alice = login(&app, "alice").await;
    let reply = call(&app, get("/me", Some(&alice), None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.json(),
        serde_json::json!({"sub": "alice", "method": "session", "roles": ["user"]})
    );
    assert_eq!(
        call(&app, get("/admin", Some(&alice), None)).await.status,
        StatusCode::FORBIDDEN
    );

    let bob = login(&app, "bob").await;
    assert_eq!(
        call(&app, get("/admin", Some(&bob), None)).await.status,
        StatusCode::OK
    );

    let reply = call(&app, form_post("/logout", "", Some(&alice))).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[LOCATION], "/");
    assert!(
        reply.headers[SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        call(&app, get("/me", Some(&alice), None)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let app = app().await;
    let alice = login(&app, "alice").await;
    let cross_site = Request::post("/logout")
        .header("sec-fetch-site", "cross-site")
        .header("origin", "https://evil.example")
        .header(COOKIE, &alice)
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, cross_site).await.status, StatusCode::FORBIDDEN);
    let foreign_origin = Request::post("/login")
        .header("host", "127.0.0.1:3000")
        .header("origin", "https://evil.example")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=alice-password"))
        .unwrap();
    assert_eq!(
        call(&app, foreign_origin).await.status,
        StatusCode::FORBIDDEN
    );
    // Still logged in: the forged logout did nothing.
    assert_eq!(
        call(&app, get("/me", Some(&alice), None)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_endpoint_mints_eddsa_tokens_with_the_contract_claims() {
    let app = app().await;
    let reply = token(&app, "bob", "bob-password").await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let token = body["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = decode_segment(parts[0]);
    assert_eq!(header["alg"], "EdDSA");
    assert!(header["kid"].is_string());
    let claims = decode_segment(parts[1]);
    assert_eq!(claims["iss"], "demo");
    assert_eq!(claims["aud"], "demo-api");
    assert_eq!(claims["sub"], "bob");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert!(claims["jti"].is_string());
    assert_eq!(claims["roles"], serde_json::json!(["user", "admin"]));

    assert_eq!(
        token_status(&app, "bob", "nope").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        token_status(&app, "eve", "eve-password").await,
        StatusCode::UNAUTHORIZED
    );
}

async fn token_status(app: &Router, user: &str, password: &str) -> StatusCode {
    token(app, user, password).await.status
}

#[tokio::test]
async fn api_routes_follow_rfc_6750() {
    let app = app().await;
    let alice = token(&app, "alice", "alice-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = token(&app, "bob", "bob-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let reply = call(&app, get("/api/me", None, Some(&alice))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let me = reply.json();
    assert_eq!(
        (me["sub"].as_str(), me["method"].as_str()),
        (Some("alice"), Some("jwt"))
    );
    assert_eq!(me["roles"], serde_json::json!(["user"]));
    assert!(me["jti"].is_string());

    let reply = call(&app, get("/api/me", None, None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let challenge = reply.headers[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(
        challenge.starts_with("Bearer") && !challenge.contains("error="),
        "{challenge}"
    );

    let mut tampered = alice.clone();
    tampered.pop();
    let reply = call(&app, get("/api/me", None, Some(&tampered))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    let reply = call(&app, get("/api/admin", None, Some(&alice))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    assert_eq!(
        call(&app, get("/api/admin", None, Some(&bob))).await.status,
        StatusCode::OK
    );
}

fn post_bearer(path: &str, token: &str) -> Request<Body> {
    Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn api_logout_revokes_that_token_and_logout_all_every_earlier_one() {
    let app = app().await;
    let first = token(&app, "alice", "alice-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = token(&app, "alice", "alice-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let bob = token(&app, "bob", "bob-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    assert_eq!(
        call(&app, post_bearer("/api/logout", &first)).await.status,
        StatusCode::NO_CONTENT
    );
    let reply = call(&app, get("/api/me", None, Some(&first))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(
        call(&app, get("/api/me", None, Some(&second))).await.status,
        StatusCode::OK,
        "only that token"
    );

    assert_eq!(
        call(&app, post_bearer("/api/logout-all", &second))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&app, get("/api/me", None, Some(&second))).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&app, get("/api/me", None, Some(&bob))).await.status,
        StatusCode::OK,
        "other subjects keep theirs"
    );
    assert_eq!(
        call(&app, post_bearer("/api/logout", "not-a-token"))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    let app = app().await;
    let reply = call(&app, get("/.well-known/jwks.json", None, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let jwks = reply.json();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key["kid"].is_string(), "{key}");
        assert!(key.get("d").is_none(), "private material: {key}");
        assert_eq!(key["kty"], "OKP");
    }
    // The published kid is the one in the tokens.
    let token = token(&app, "alice", "alice-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let kid = decode_segment(token.split('.').next().unwrap())["kid"].clone();
    assert!(keys.iter().any(|k| k["kid"] == kid));
}

#[tokio::test]
async fn whoami_accepts_a_session_or_a_bearer_token() {
    let app = app().await;
    assert_eq!(
        call(&app, get("/whoami", None, None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let cookie = login(&app, "alice").await;
    let reply = call(&app, get("/whoami", Some(&cookie), None)).await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"sub": "alice", "method": "session"})
    );
    let bob = token(&app, "bob", "bob-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = call(&app, get("/whoami", None, Some(&bob))).await;
    assert_eq!(
        reply.json(),
        serde_json::json!({"sub": "bob", "method": "jwt"})
    );
}

#[test]
fn bad_configuration_is_a_one_line_error_naming_the_variable_and_exit_code_2() {
    for (variable, value) in [
        ("DEMO_STORE", "bogus://x"),
        ("DEMO_STORE", "redis://127.0.0.1:1"),
        ("DEMO_STORE", "postgres://postgres@127.0.0.1:1/test"),
        ("DEMO_REVOCATION", "redis://127.0.0.1:1"),
        ("DEMO_JWT_KEY_FILE", "/nonexistent/key.pem"),
        ("DEMO_COOKIE_KEY", "not base64!"),
        ("DEMO_ADDR", "not-an-address"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
            .env(variable, value)
            .env(
                "DEMO_ADDR",
                if variable == "DEMO_ADDR" {
                    value
                } else {
                    "127.0.0.1:0"
                },
            )
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    }
}
