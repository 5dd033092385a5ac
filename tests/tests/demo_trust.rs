//! `DEMO_TRUST_*`: bearer tokens of an external issuer are accepted on `/api/*` and `/whoami`,
//! with keys fetched from its JWKS (served here by a local HTTP server), as one more trust
//! entry that shares no audience, identity or revocation with the demo's own issuer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use auth_core::{KeyId, KeyRing};
use auth_jwt::{Algorithm, Issuer, SigningKey};
use aws_lc_rs::signature::Ed25519KeyPair;
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

fn external_issuer(iss: &str, aud: &str) -> Issuer {
    external_signer(iss, aud).0
}

/// An external issuer, and its raw key to sign tokens with any claims (a `jti` of our
/// choosing, another audience).
fn external_signer(iss: &str, aud: &str) -> (Issuer, Ed25519KeyPair) {
    use aws_lc_rs::rand::SystemRandom;
    let der = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new()).unwrap();
    let key = SigningKey::from_der(Algorithm::EdDSA, der.as_ref()).unwrap();
    let issuer = Issuer::new(KeyRing::new(KeyId::new("ext-1").unwrap(), key), iss, aud).unwrap();
    (issuer, Ed25519KeyPair::from_pkcs8(der.as_ref()).unwrap())
}

/// A token signed by `key` (kid `ext-1`) with exactly `claims`, `iat`/`exp` filled in.
fn sign_raw(key: &Ed25519KeyPair, claims: Value) -> String {
    sign_with_kid(key, "ext-1", claims)
}

/// A token signed by `key` under `kid` with exactly `claims`, `exp` (and `iat`, unless given)
/// filled in.
fn sign_with_kid(key: &Ed25519KeyPair, kid: &str, mut claims: Value) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if claims.get("iat").is_none() {
        claims["iat"] = json!(now);
    }
    claims["exp"] = json!(now + 600);
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = URL_SAFE_NO_PAD.encode(key.sign(input.as_bytes()));
    format!("{input}.{signature}")
}

/// A PEM block of `der`.
fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// Serves `issuer`'s JWKS on a loopback port; the JWKS URL.
async fn serve_jwks(issuer: &Issuer) -> String {
    let jwks = issuer.jwk_set();
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
    format!("http://{addr}/jwks.json")
}

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, String) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn post_with(app: &Router, path: &str, token: &str) -> StatusCode {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    send(app, req).await.0
}

/// A demo token for a demo user, from `POST /api/token`.
async fn own_token(app: &Router, user: &str) -> String {
    let body = json!({"username": user, "password": format!("{user}-password")});
    let req = Request::post("/api/token")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (status, body) = send(app, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    reply["access_token"].as_str().unwrap().to_owned()
}

/// The claims of a token (unverified), to read its `jti`.
fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
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
        trust: Some(demo::ExternalIssuer {
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

/// Issue #17, items 1 and 3, over the demo's routes: the demo's own issuer plus an external
/// JWKS issuer. Each issuer's audience is refused for the other, identities name their issuer,
/// `/api/admin` requires the demo's issuer, and revocations stay in their issuer's namespace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_issuers_share_no_audience_identity_or_revocation() {
    const IDP: &str = "https://idp.example";
    let (external, key) = external_signer(IDP, "demo-external");
    // The demo's own key from a key file, so that the test can sign with it too.
    let own_der = Ed25519KeyPair::generate_pkcs8v1(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let own_key = Ed25519KeyPair::from_pkcs8(own_der.as_ref()).unwrap();
    let config = demo::DemoConfig {
        trust: Some(demo::ExternalIssuer {
            jwks_url: serve_jwks(&external).await,
            issuer: IDP.to_owned(),
            audience: "demo-external".to_owned(),
        }),
        jwt_key_pem: Some(pem("PRIVATE KEY", own_der.as_ref())),
        ..demo::DemoConfig::default()
    };
    let app = demo::app(&config).await.unwrap();
    let (_, jwks) = send(
        &app,
        Request::get("/.well-known/jwks.json")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let own_kid = serde_json::from_str::<Value>(&jwks).unwrap()["keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    // Sanity: a token the test signs with the demo's key for the demo's audience is accepted.
    let own_raw = sign_with_kid(
        &own_key,
        &own_kid,
        json!({"iss": "demo", "aud": "demo-api", "sub": "dave", "jti": "own-raw"}),
    );
    assert_eq!(get_with(&app, "/api/me", &own_raw).await.0, StatusCode::OK);
    let (alice, bob) = (own_token(&app, "alice").await, own_token(&app, "bob").await);
    let me = |token: String| {
        let app = app.clone();
        async move {
            let (status, body) = get_with(&app, "/api/me", &token).await;
            (
                status,
                serde_json::from_str::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };

    // Identities name their issuer, on /api/me and /whoami.
    let (status, body) = me(bob.clone()).await;
    assert_eq!(
        (status, &body["iss"], &body["sub"]),
        (StatusCode::OK, &json!("demo"), &json!("bob"))
    );
    let external_bob = sign_raw(
        &key,
        json!({"iss": IDP, "aud": "demo-external", "sub": "bob", "jti": "ext-bob",
               "scope": "admin", "roles": ["admin"]}),
    );
    let (status, body) = me(external_bob.clone()).await;
    assert_eq!(
        (status, &body["iss"], &body["sub"]),
        (StatusCode::OK, &json!(IDP), &json!("bob"))
    );
    let (status, body) = get_with(&app, "/whoami", &external_bob).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!((status, &body["iss"]), (StatusCode::OK, &json!(IDP)));
    let (_, body) = get_with(&app, "/whoami", &bob).await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["iss"],
        json!("demo")
    );

    // Each issuer's audience is refused for the other.
    let into_our_audience = sign_raw(
        &key,
        json!({"iss": IDP, "aud": "demo-api", "sub": "carol", "jti": "ext-aud"}),
    );
    assert_eq!(me(into_our_audience).await.0, StatusCode::UNAUTHORIZED);
    let both = sign_raw(
        &key,
        json!({"iss": IDP, "aud": ["demo-api", "demo-external"], "sub": "carol", "jti": "ext-both"}),
    );
    assert_eq!(
        me(both).await.0,
        StatusCode::OK,
        "its own audience, listed with ours"
    );
    let ours_for_them = sign_with_kid(
        &own_key,
        &own_kid,
        json!({"iss": "demo", "aud": "demo-external", "sub": "dave", "jti": "own-aud"}),
    );
    assert_eq!(me(ours_for_them).await.0, StatusCode::UNAUTHORIZED);
    // Nor does a token of one issuer verify with the other's keys.
    let wrong_key = sign_with_kid(
        &own_key,
        "ext-1",
        json!({"iss": IDP, "aud": "demo-external", "sub": "dave", "jti": "wrong-key"}),
    );
    assert_eq!(me(wrong_key).await.0, StatusCode::UNAUTHORIZED);

    // The guard requires the demo's issuer: the external `bob` with an admin scope is not
    // the demo's admin bob.
    assert_eq!(
        get_with(&app, "/api/admin", &external_bob).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(get_with(&app, "/api/admin", &bob).await.0, StatusCode::OK);

    // The external bob logs out everywhere: the demo's bob is untouched.
    assert_eq!(
        post_with(&app, "/api/logout-all", &external_bob).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(external_bob.clone()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(bob.clone()).await.0,
        StatusCode::OK,
        "demo bob survives idp bob's logout-all"
    );

    // An external token carrying alice's `jti` logs out only itself.
    let alice_jti = claims_of(&alice)["jti"].as_str().unwrap().to_owned();
    let same_jti = sign_raw(
        &key,
        json!({"iss": IDP, "aud": "demo-external", "sub": "mallory", "jti": alice_jti}),
    );
    assert_eq!(
        post_with(&app, "/api/logout", &same_jti).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(same_jti).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(alice.clone()).await.0,
        StatusCode::OK,
        "demo alice survives a jti twin"
    );

    // And the other way round: the demo's alice logs out everywhere, the idp's alice stays.
    let external_alice = sign_raw(
        &key,
        json!({"iss": IDP, "aud": "demo-external", "sub": "alice", "jti": "ext-alice"}),
    );
    assert_eq!(
        post_with(&app, "/api/logout-all", &alice).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(alice).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(me(external_alice).await.0, StatusCode::OK);

    // Item 7: "log out everywhere" covers the leeway. A demo token dated 3 s ahead (an
    // instance whose clock runs fast; the demo's own leeway is 5 s) is accepted, then
    // revoked with every other token of its subject.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let ahead = sign_with_kid(
        &own_key,
        &own_kid,
        json!({"iss": "demo", "aud": "demo-api", "sub": "erin", "jti": "ahead", "iat": now + 3}),
    );
    let current = sign_with_kid(
        &own_key,
        &own_kid,
        json!({"iss": "demo", "aud": "demo-api", "sub": "erin", "jti": "current"}),
    );
    assert_eq!(me(ahead.clone()).await.0, StatusCode::OK);
    assert_eq!(
        post_with(&app, "/api/logout-all", &current).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(current).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(ahead).await.0,
        StatusCode::UNAUTHORIZED,
        "dated ahead, within the leeway"
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
