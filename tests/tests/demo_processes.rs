//! The demo as real processes (the `demo` binary, see `auth_tests::demo_process`), driven over
//! TCP with a plain HTTP client.
//!
//! - One process on `DEMO_ADDR=127.0.0.1:0`: it prints the URL it really listens on, serves
//!   the contract there, checks CSRF against the real `Host`, and logs to stderr.
//! - Two processes sharing Redis (`DEMO_STORE` and `DEMO_REVOCATION`), a cookie key and a JWT
//!   key file: a session and a revocation made through one are honoured by the other. Skipped
//!   (with a SKIPPED line) when `AUTH_TEST_REDIS_URL` is unset; each run uses its own Redis key
//!   prefix and deletes its keys at the end, also when it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use auth_core::{SecretKey, SessionId};
use auth_tests::demo_process::DemoProcess;
use base64::Engine as _;
use reqwest::StatusCode;
use reqwest::header::{
    CACHE_CONTROL, CONTENT_TYPE, COOKIE, HeaderMap, HeaderName, LOCATION, ORIGIN, SET_COOKIE,
    WWW_AUTHENTICATE,
};
use serde_json::{Value, json};

/// How long to poll for something that propagates asynchronously (a revocation reaching the
/// other process through Redis, a log line reaching the pipe) before failing. Not a latency
/// requirement: only a bound so that something that never happens fails instead of hanging.
const POLL_LIMIT: Duration = Duration::from_secs(10);

const FORM: &str = "application/x-www-form-urlencoded";

/// A client that does not follow redirects (the 303s are part of the contract) and keeps no
/// cookies (each request says which cookie it sends).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn json(&self) -> Value {
        assert_eq!(
            self.header(CONTENT_TYPE),
            Some("application/json"),
            "{self:?}"
        );
        serde_json::from_str(&self.body).unwrap()
    }

    /// `name=value` of the `Set-Cookie` header.
    fn cookie(&self) -> String {
        self.header(SET_COOKIE)
            .expect("a Set-Cookie header")
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

async fn get(demo: &DemoProcess, path: &str, cookie: Option<&str>, token: Option<&str>) -> Reply {
    let mut request = client().get(demo.url_for(path));
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    send(request).await
}

/// A same-origin form post, as a browser sends it from the demo's own page.
async fn form_post(demo: &DemoProcess, path: &str, body: &str, cookie: Option<&str>) -> Reply {
    let mut request = client()
        .post(demo.url_for(path))
        .header(CONTENT_TYPE, FORM)
        .header("sec-fetch-site", "same-origin")
        .body(body.to_owned());
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    send(request).await
}

async fn login(demo: &DemoProcess, user: &str) -> Reply {
    let reply = form_post(
        demo,
        "/login",
        &format!("username={user}&password={user}-password"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
    assert_eq!(reply.header(LOCATION), Some("/"));
    reply
}

async fn token(demo: &DemoProcess, user: &str) -> String {
    let reply = send(
        client()
            .post(demo.url_for("/api/token"))
            .header(CONTENT_TYPE, "application/json")
            .body(format!(
                r#"{{"username":"{user}","password":"{user}-password"}}"#
            )),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.header(CACHE_CONTROL), Some("no-store"));
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

async fn post_bearer(demo: &DemoProcess, path: &str, token: &str) -> Reply {
    send(client().post(demo.url_for(path)).bearer_auth(token)).await
}

/// Polls `GET /api/me` on `demo` with `token` until it is refused; the refusal.
async fn until_refused(demo: &DemoProcess, token: &str, what: &str) -> Reply {
    let started = Instant::now();
    loop {
        let reply = get(demo, "/api/me", None, Some(token)).await;
        if reply.status == StatusCode::UNAUTHORIZED {
            return reply;
        }
        assert_eq!(reply.status, StatusCode::OK, "{what}: {reply:?}");
        assert!(
            started.elapsed() < POLL_LIMIT,
            "{what}: still accepted after polling for {POLL_LIMIT:?}\n{}",
            demo.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_demo_process_prints_its_bound_url_and_serves_the_contract_there() {
    let demo = DemoProcess::start("solo", &[("DEMO_ADDR", "127.0.0.1:0")]).unwrap();

    // The printed URL is the bound address: port 0 was replaced by the real one.
    let port = demo
        .url()
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected URL {:?}", demo.url()))
        .parse::<u16>()
        .unwrap();
    assert_ne!(port, 0);

    let reply = get(&demo, "/", None, None).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header(CONTENT_TYPE).unwrap().starts_with("text/html"));
    assert!(reply.body.contains("action=\"/login\""), "{}", reply.body);

    // CSRF against the real Host header: the demo's own origin passes, a foreign one does not.
    let login_with_origin = |origin: String| {
        client()
            .post(demo.url_for("/login"))
            .header(CONTENT_TYPE, FORM)
            .header(ORIGIN, origin)
            .body("username=alice&password=alice-password")
    };
    let reply = send(login_with_origin("http://evil.example".to_owned())).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.headers.get(SET_COOKIE).is_none());
    let reply = send(login_with_origin(demo.url().to_owned())).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
    assert_eq!(reply.header(LOCATION), Some("/"));
    // Secure by default (no DEMO_INSECURE_COOKIES here).
    let set_cookie = reply.header(SET_COOKIE).unwrap();
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = reply.cookie();
    let reply = get(&demo, "/me", Some(&cookie), None).await;
    assert_eq!(
        reply.json(),
        json!({"sub": "alice", "method": "session", "roles": ["user"]})
    );

    // Logs go to stderr through tracing.
    let reply = form_post(&demo, "/login", "username=alice&password=wrong", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let started = Instant::now();
    while !demo.stderr().contains("failed login") {
        assert!(
            started.elapsed() < POLL_LIMIT,
            "no log line for a failed login on stderr:\n{}",
            demo.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Deletes every Redis key containing `prefix` when dropped, also when the test panics.
struct RedisKeys {
    url: String,
    prefix: String,
}

impl RedisKeys {
    fn connection(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn list(&self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg(format!("*{}*", self.prefix))
            .query(&mut self.connection())
            .unwrap()
    }

    fn delete(&self) {
        let keys = self.list();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(keys)
                .query(&mut self.connection())
                .unwrap();
        }
    }
}

impl Drop for RedisKeys {
    fn drop(&mut self) {
        // Never panic while unwinding from a failed assertion.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.delete()));
    }
}

/// A file deleted when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A fresh Ed25519 private key, PEM-encoded PKCS#8 (what `DEMO_JWT_KEY_FILE` holds).
fn ed25519_pem() -> Vec<u8> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n").into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_processes_share_sessions_and_revocations_through_redis() {
    let Some(url) =
        auth_tests::redis_url("two_demo_processes_share_sessions_and_revocations_through_redis")
    else {
        return;
    };
    let run = SessionId::generate().unwrap().encode();
    let prefix = format!("demo-proc-{run}");
    // Declared before the processes, so it is dropped after they are killed.
    let keys = RedisKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let key_file = TempFile(std::env::temp_dir().join(format!("demo-jwt-{run}.pem")));
    std::fs::write(&key_file.0, ed25519_pem()).unwrap();
    let cookie_key = base64::engine::general_purpose::STANDARD
        .encode(SecretKey::generate(32).unwrap().expose_secret());
    let key_path = key_file.0.to_str().unwrap();
    let env = [
        ("DEMO_STORE", url.as_str()),
        ("DEMO_REVOCATION", url.as_str()),
        ("DEMO_REDIS_PREFIX", prefix.as_str()),
        ("DEMO_COOKIE_KEY", cookie_key.as_str()),
        ("DEMO_JWT_KEY_FILE", key_path),
        ("DEMO_INSECURE_COOKIES", "1"),
    ];
    let a = DemoProcess::start("A", &env).unwrap();
    let b = DemoProcess::start("B", &env).unwrap();
    assert_ne!(a.url(), b.url());

    // Sessions: a login through A is a session on B, with the same identity.
    let reply = login(&a, "bob").await;
    let set_cookie = reply.header(SET_COOKIE).unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && !set_cookie.contains("Secure"),
        "DEMO_INSECURE_COOKIES=1 leaves out Secure only: {set_cookie}"
    );
    let bob = reply.cookie();
    let on_a = get(&a, "/me", Some(&bob), None).await;
    let on_b = get(&b, "/me", Some(&bob), None).await;
    assert_eq!(on_b.status, StatusCode::OK, "{on_b:?}\n{}", b.stderr());
    assert_eq!(
        on_b.json(),
        json!({"sub": "bob", "method": "session", "roles": ["user", "admin"]})
    );
    assert_eq!(on_b.json()["sub"], on_a.json()["sub"]);
    assert_eq!(
        get(&b, "/admin", Some(&bob), None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        get(&b, "/whoami", Some(&bob), None).await.json(),
        json!({"sub": "bob", "method": "session"})
    );
    let page = get(&b, "/", Some(&bob), None).await;
    assert!(page.body.contains("Signed in as bob"), "{}", page.body);

    // A logout through A ends the session on B: the old cookie is refused there.
    let reply = form_post(&a, "/logout", "", Some(&bob)).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header(LOCATION), Some("/"));
    assert!(reply.header(SET_COOKIE).unwrap().contains("Max-Age=0"));
    let reply = get(&b, "/me", Some(&bob), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
    assert_eq!(reply.json(), json!({"error": "unauthenticated"}));
    assert_eq!(
        get(&b, "/admin", Some(&bob), None).await.status,
        StatusCode::UNAUTHORIZED
    );

    // And the other way round: a login through B is a session on A.
    let alice = login(&b, "alice").await.cookie();
    assert_eq!(
        get(&a, "/me", Some(&alice), None).await.json()["sub"],
        "alice"
    );

    // Tokens: both publish the same key, and a token from A works on B.
    let jwks_a = get(&a, "/.well-known/jwks.json", None, None).await.json();
    let jwks_b = get(&b, "/.well-known/jwks.json", None, None).await.json();
    assert_eq!(jwks_a, jwks_b);
    let token_a = token(&a, "alice").await;
    let reply = get(&b, "/api/me", None, Some(&token_a)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}\n{}", b.stderr());
    let me = reply.json();
    assert_eq!(
        (me["sub"].as_str(), me["method"].as_str()),
        (Some("alice"), Some("jwt"))
    );
    assert_eq!(
        get(&a, "/api/me", None, Some(&token_a)).await.json()["jti"],
        me["jti"]
    );

    // A token revoked through A (POST /api/logout) is refused by B.
    let other_a = token(&a, "alice").await;
    let reply = post_bearer(&a, "/api/logout", &token_a).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let refused = until_refused(&b, &token_a, "B, token revoked through A").await;
    assert_eq!(
        refused.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo", error="invalid_token""#)
    );
    until_refused(&a, &token_a, "A, token revoked through A").await;
    assert_eq!(
        get(&b, "/api/me", None, Some(&other_a)).await.status,
        StatusCode::OK,
        "only that token is revoked"
    );

    // Every token of a subject revoked through A (POST /api/logout-all), also those minted by B.
    let bob_from_b = token(&b, "bob").await;
    let bob_from_a = token(&a, "bob").await;
    assert_eq!(
        get(&b, "/api/me", None, Some(&bob_from_b)).await.status,
        StatusCode::OK
    );
    let reply = post_bearer(&a, "/api/logout-all", &bob_from_a).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    let refused = until_refused(&b, &bob_from_b, "B, bob's tokens revoked through A").await;
    assert_eq!(
        refused.header(WWW_AUTHENTICATE),
        Some(r#"Bearer realm="demo", error="invalid_token""#)
    );
    assert_eq!(
        get(&b, "/api/me", None, Some(&other_a)).await.status,
        StatusCode::OK,
        "other subjects keep theirs"
    );

    // Everything above went through Redis, under this run's prefix.
    assert!(
        !keys.list().is_empty(),
        "no Redis keys under the prefix {prefix}"
    );
    drop((a, b));
    keys.delete();
    assert_eq!(keys.list(), Vec::<String>::new());
}
