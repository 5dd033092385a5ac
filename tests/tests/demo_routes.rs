//! Every route of the demo's contract (issue #7), over HTTP semantics: status codes, headers
//! (`Set-Cookie` attributes, `Location`, RFC 6750 `WWW-Authenticate`, `Cache-Control`) and JSON
//! shapes. The app is driven in-process; `demo_processes.rs` drives real demo processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use axum::Router;
use axum::body::Body;
use base64_decode::decode_segment;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
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

    /// The JSON body, after checking the `Content-Type` says so.
    fn json_typed(&self) -> Value {
        assert_eq!(
            self.header(CONTENT_TYPE),
            Some("application/json"),
            "{}",
            self.body
        );
        self.json()
    }

    fn header(&self, name: http::header::HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    /// The sorted keys of a JSON object body.
    fn json_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.json().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
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
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header(CONTENT_TYPE).unwrap().starts_with("text/html"));
    assert!(reply.body.contains("Signed in as alice"), "{}", reply.body);
    assert!(reply.body.contains("action=\"/logout\""));
    assert!(reply.body.contains("method=\"post\""));
    assert!(
        !reply.body.contains("name=\"password\""),
        "no login form once signed in"
    );
    // No external assets: no scripts, stylesheets or images fetched from elsewhere.
    for needle in ["<script", "<link", "src=", "http://", "https://"] {
        assert!(!reply.body.contains(needle), "{needle}");
    }
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
    // A `__Host-` cookie: a sibling subdomain cannot set one, nor a look-alike that wins.
    assert!(set_cookie.starts_with("__Host-id="), "{set_cookie}");
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    assert!(!set_cookie.contains("Max-Age=0"), "{set_cookie}");
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(reply.headers.get_all(SET_COOKIE).iter().count(), 1);
    let reply = call(
        &app,
        form_post("/login", "username=alice&password=wrong", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    assert!(reply.body.contains("<form"));
    assert!(reply.header(CONTENT_TYPE).unwrap().starts_with("text/html"));
    assert!(reply.body.contains("action=\"/login\""));
    assert!(reply.body.contains("name=\"username\"") && reply.body.contains("name=\"password\""));
    let reply = call(
        &app,
        form_post("/login", "username=mallory&password=x", None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    assert!(reply.body.contains("<form"));
}

#[tokio::test]
async fn login_cycles_the_session_id() {
    let app = app().await;
    let alice = login(&app, "alice").await;
    // Logging in again over an existing session: a new ID, and the old one is dead.
    let reply = call(
        &app,
        form_post("/login", "username=bob&password=bob-password", Some(&alice)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.headers[LOCATION], "/");
    let bob = reply.cookie().expect("a new session cookie");
    assert_ne!(bob, alice, "the session ID is cycled on login");
    let reply = call(&app, get("/me", Some(&bob), None)).await;
    assert_eq!(reply.json()["sub"], "bob");
    assert_eq!(
        call(&app, get("/me", Some(&alice), None)).await.status,
        StatusCode::UNAUTHORIZED,
        "the pre-login session ID no longer works"
    );
    // A failed login over a live session neither sets a cookie nor ends the session.
    let reply = call(
        &app,
        form_post("/login", "username=bob&password=wrong", Some(&bob)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    assert_eq!(
        call(&app, get("/me", Some(&bob), None)).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn me_admin_and_logout_over_the_session() {
    let app = app().await;
    let reply = call(&app, get("/me", None, None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json()["error"], "unauthenticated");
    assert_eq!(reply.json_typed(), json!({"error": "unauthenticated"}));
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
    assert_eq!(reply.header(CONTENT_TYPE), Some("application/json"));
    assert_eq!(
        call(&app, get("/admin", Some(&alice), None)).await.status,
        StatusCode::FORBIDDEN
    );

    let bob = login(&app, "bob").await;
    assert_eq!(
        call(&app, get("/admin", Some(&bob), None)).await.status,
        StatusCode::OK
    );
    let reply = call(&app, get("/admin", Some(&bob), None)).await;
    assert_eq!(reply.json_typed(), json!({"admin": "bob"}));
    assert_eq!(
        call(&app, get("/me", Some(&bob), None)).await.json(),
        json!({"sub": "bob", "method": "session", "roles": ["user", "admin"]})
    );
    // A bearer token is not a session: the session routes ignore it.
    let token = token(&app, "bob", "bob-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&app, get("/admin", None, Some(&token))).await.status,
        StatusCode::UNAUTHORIZED
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
    // The removal cookie names the session cookie, with the same scope.
    let removal = reply.header(SET_COOKIE).unwrap();
    assert!(removal.starts_with("__Host-id=;"), "{removal}");
    assert!(removal.contains("Path=/"), "{removal}");
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        call(&app, get("/me", Some(&alice), None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The record is gone from the store: the old cookie shows the login form again...
    let reply = call(&app, get("/", Some(&alice), None)).await;
    assert!(reply.body.contains("action=\"/login\""), "{}", reply.body);
    // ...and other sessions live on.
    assert_eq!(
        call(&app, get("/me", Some(&bob), None)).await.status,
        StatusCode::OK
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
    let cross_site_login = Request::post("/login")
        .header("sec-fetch-site", "cross-site")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=alice-password"))
        .unwrap();
    let reply = call(&app, cross_site_login).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    // A matching Origin (no fetch metadata, as from an older browser) passes.
    let same_origin = Request::post("/login")
        .header("host", "127.0.0.1:3000")
        .header("origin", "http://127.0.0.1:3000")
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("username=alice&password=alice-password"))
        .unwrap();
    assert_eq!(call(&app, same_origin).await.status, StatusCode::SEE_OTHER);
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
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    assert_eq!(
        reply.json_keys(),
        ["access_token", "expires_in", "token_type"]
    );
    let body = reply.json_typed();
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
    assert!(claims["iat"].is_i64() && claims["exp"].is_i64());
    assert!(header["kid"].as_str().is_some_and(|kid| !kid.is_empty()));

    assert_eq!(
        token_status(&app, "bob", "nope").await,
        StatusCode::UNAUTHORIZED
    );
    let reply = crate::token(&app, "bob", "nope").await;
    assert_eq!(reply.json_typed(), json!({"error": "unauthenticated"}));
    assert!(reply.headers.get(SET_COOKIE).is_none());
    assert_eq!(
        token_status(&app, "eve", "eve-password").await,
        StatusCode::UNAUTHORIZED
    );
    // Bodies that are not the expected JSON: 400 with a JSON error, whatever the flaw.
    for (content_type, body) in [
        ("application/json", "{not json"),
        ("application/json", r#"{"username":"bob"}"#),
        ("application/json", r#"{"username":1,"password":2}"#),
        (
            "text/plain",
            r#"{"username":"bob","password":"bob-password"}"#,
        ),
    ] {
        let req = Request::post("/api/token")
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        let reply = call(&app, req).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{content_type} {body}"
        );
        assert_eq!(reply.json_typed(), json!({"error": "invalid_request"}));
    }
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
    assert_eq!(reply.json_keys(), ["iss", "jti", "method", "roles", "sub"]);
    assert_eq!(
        reply.json()["iss"],
        "demo",
        "the demo's own tokens name the demo's issuer"
    );
    let jti = decode_segment(alice.split('.').nth(1).unwrap())["jti"].clone();
    assert_eq!(reply.json_typed()["jti"], jti, "the jti of the token sent");
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
    // RFC 6750 3.1: no credentials, no error code; the realm names the protection space.
    assert_eq!(challenge, r#"Bearer realm="demo""#);
    // A session cookie is not a bearer token.
    let cookie = login(&app, "alice").await;
    let reply = call(&app, get("/api/me", Some(&cookie), None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo""#)
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
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo", error="invalid_token""#)
    );
    for bad in ["not-a-token", "a.b.c"] {
        let reply = call(&app, get("/api/me", None, Some(bad))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(
            reply.header(WWW_AUTHENTICATE),
            Some(r#"Bearer realm="demo", error="invalid_token""#),
            "{bad}"
        );
    }

    let reply = call(&app, get("/api/admin", None, Some(&alice))).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.headers[WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    // RFC 6750 3.1: the error code and the scope needed.
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer error="insufficient_scope", scope="admin""#)
    );
    assert_eq!(
        call(&app, get("/api/admin", None, Some(&bob))).await.status,
        StatusCode::OK
    );
    let reply = call(&app, get("/api/admin", None, Some(&bob))).await;
    assert_eq!(reply.json_typed(), json!({"admin": "bob"}));
    let reply = call(&app, get("/api/admin", None, None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo""#)
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

    let reply = call(&app, post_bearer("/api/logout", &first)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
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
    // Revoked everywhere the bearer token is accepted, and logging out again is refused.
    let reply = call(&app, get("/whoami", None, Some(&first))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo", error="invalid_token""#)
    );
    assert_eq!(
        call(&app, post_bearer("/api/logout", &first)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let third = token(&app, "alice", "alice-password").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reply = call(&app, post_bearer("/api/logout-all", &second)).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
    assert_eq!(
        call(&app, get("/api/me", None, Some(&third))).await.status,
        StatusCode::UNAUTHORIZED,
        "every token of the subject issued so far"
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
    // Without a token: 401 with the bare challenge, for both logout routes.
    for path in ["/api/logout", "/api/logout-all"] {
        let reply = call(&app, Request::post(path).body(Body::empty()).unwrap()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{path}");
        assert_eq!(
            reply.header(WWW_AUTHENTICATE),
            Some(r#"Bearer realm="demo""#),
            "{path}"
        );
    }
}

#[tokio::test]
async fn jwks_publishes_public_keys_only() {
    let app = app().await;
    let reply = call(&app, get("/.well-known/jwks.json", None, None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let jwks = reply.json_typed();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert!(key["kid"].is_string(), "{key}");
        assert!(key.get("d").is_none(), "private material: {key}");
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519", "{key}");
        assert!(key["x"].is_string(), "{key}");
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{private}: {key}");
        }
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
    let reply = call(&app, get("/whoami", None, None)).await;
    assert_eq!(reply.json_typed(), json!({"error": "unauthenticated"}));
    // The route takes bearer tokens, so its 401 carries the challenge (RFC 9110, 15.5.2).
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo""#)
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
        serde_json::json!({"sub": "bob", "method": "jwt", "iss": "demo"})
    );
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header(CONTENT_TYPE), Some("application/json"));
    // A bad bearer token is refused even though the route also takes sessions.
    let reply = call(&app, get("/whoami", None, Some("not-a-token"))).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo", error="invalid_token""#)
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
        let output = auth_tests::demo_process::demo_command()
            .unwrap()
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

/// Issue #17, item 8, on the demo: a session cookie planted by a sibling subdomain
/// (`Domain=.example.com`, so under a plain name: browsers refuse a `__Host-` cookie with a
/// `Domain`) and sent first neither swaps the victim into the attacker's session nor logs the
/// victim out.
#[tokio::test]
async fn a_look_alike_cookie_from_a_sibling_subdomain_is_ignored() {
    let app = app().await;
    let alice = login(&app, "alice").await;
    let mallory = login(&app, "bob").await;
    let value = |cookie: &str| cookie.split_once('=').unwrap().1.to_owned();
    for planted in ["id", "ID", "__host-id", "__%48ost-id"] {
        let cookie = format!("{planted}={}; {alice}", value(&mallory));
        let reply = call(&app, get("/me", Some(&cookie), None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{planted}");
        assert_eq!(reply.json()["sub"], "alice", "{planted}: {}", reply.body);
    }
    // Alone, the planted cookie is no session at all.
    let cookie = format!("id={}", value(&mallory));
    assert_eq!(
        call(&app, get("/me", Some(&cookie), None)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

/// `DEMO_INSECURE_COOKIES=1` (plain-http development): a plain `id` cookie without `Secure`.
#[tokio::test]
async fn insecure_development_cookies_are_plain_id_cookies() {
    let config = demo::DemoConfig {
        insecure_cookies: true,
        ..demo::DemoConfig::default()
    };
    let app = demo::app(&config).await.unwrap();
    let reply = call(
        &app,
        form_post("/login", "username=alice&password=alice-password", None),
    )
    .await;
    let set_cookie = reply.header(SET_COOKIE).unwrap();
    assert!(set_cookie.starts_with("id="), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = reply.cookie().unwrap();
    assert_eq!(
        call(&app, get("/me", Some(&cookie), None)).await.json()["sub"],
        "alice"
    );
}
