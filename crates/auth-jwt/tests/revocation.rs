//! Revocation through the layer: jti, subject epochs, sessions, expiry, the malleated ES256
//! twin, the jti policy, an unavailable list, and the logout helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::convert::Infallible;
use std::sync::Arc;

use async_trait::async_trait;
use auth_core::{Clock, ManualClock, RevocationError, RevocationList, RevocationStatus, TokenRef};
use auth_jwt::{JwtLayer, JwtRejectionKind, Logout, MemoryRevocationList, TrustedIssuer};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUD, ISS, NOW, Signer, assert_invalid, call, craft, good_claims, header_for};
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tower::{ServiceBuilder, ServiceExt};

fn clock() -> ManualClock {
    ManualClock::at_unix(NOW)
}

fn list(clock: &ManualClock) -> Arc<MemoryRevocationList> {
    Arc::new(MemoryRevocationList::new().with_clock(Arc::new(clock.clone())))
}

fn layer(signer: &Signer, clock: &ManualClock, list: Arc<dyn RevocationList>) -> JwtLayer {
    JwtLayer::builder(TrustedIssuer::new(ISS, signer.verifying_key("k1")).add_audience(AUD))
        .with_clock(Arc::new(clock.clone()))
        .with_revocation(list)
        .build()
        .unwrap()
}

/// A token of `good_claims` with some claims replaced (`null` removes one).
fn token_with(signer: &Signer, changes: &Value) -> String {
    let mut claims = good_claims();
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    craft(&header_for(signer, "k1"), &claims, signer)
}

fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

#[tokio::test]
async fn revoked_jti_is_401_and_another_token_of_the_same_subject_is_200() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    let first = token_with(&signer, &json!({"jti": "first"}));
    let second = token_with(&signer, &json!({"jti": "second"}));
    assert_eq!(
        call(layer.clone(), Some(&first)).await.status,
        StatusCode::OK
    );

    list.revoke_token(ISS, "first", at(NOW + 600))
        .await
        .unwrap();
    assert_invalid(
        &call(layer.clone(), Some(&first)).await,
        JwtRejectionKind::Revoked,
    );
    assert_eq!(call(layer, Some(&second)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn subject_epoch_revokes_earlier_tokens_and_not_later_ones() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    let old = token_with(&signer, &json!({"jti": "a", "iat": NOW - 100}));
    let same_second = token_with(&signer, &json!({"jti": "b", "iat": NOW - 5}));
    let later = token_with(&signer, &json!({"jti": "c", "iat": NOW - 4}));
    let bob = token_with(
        &signer,
        &json!({"jti": "d", "sub": "bob", "iat": NOW - 100}),
    );

    list.revoke_subject(ISS, "alice", at(NOW - 5), at(NOW + 3_600))
        .await
        .unwrap();
    assert_invalid(
        &call(layer.clone(), Some(&old)).await,
        JwtRejectionKind::Revoked,
    );
    assert_invalid(
        &call(layer.clone(), Some(&same_second)).await,
        JwtRejectionKind::Revoked,
    );
    assert_eq!(
        call(layer.clone(), Some(&later)).await.status,
        StatusCode::OK
    );
    assert_eq!(call(layer, Some(&bob)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn destroying_a_session_revokes_the_tokens_minted_for_it() {
    let (signer, clock) = (Signer::ec(), clock());
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    let s1 = token_with(&signer, &json!({"jti": "a", "sid": "session-1"}));
    let s1_again = token_with(&signer, &json!({"jti": "b", "sid": "session-1"}));
    let s2 = token_with(&signer, &json!({"jti": "c", "sid": "session-2"}));
    assert_eq!(call(layer.clone(), Some(&s1)).await.status, StatusCode::OK);

    // The session store's destroy hook calls this.
    list.revoke_session(ISS, "session-1", at(NOW + 3_600))
        .await
        .unwrap();
    assert_invalid(
        &call(layer.clone(), Some(&s1)).await,
        JwtRejectionKind::Revoked,
    );
    assert_invalid(
        &call(layer.clone(), Some(&s1_again)).await,
        JwtRejectionKind::Revoked,
    );
    assert_eq!(call(layer, Some(&s2)).await.status, StatusCode::OK);
}

#[derive(Clone, serde::Deserialize)]
struct Tenant {
    #[allow(dead_code)]
    tenant: String,
}

#[tokio::test]
async fn sid_is_read_on_the_serde_path_too() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let typed =
        JwtLayer::builder(TrustedIssuer::new(ISS, signer.verifying_key("k1")).add_audience(AUD))
            .with_clock(Arc::new(clock.clone()))
            .with_revocation(list.clone())
            .with_claims::<Tenant>()
            .build()
            .unwrap();
    // A typed claims struct, and an escaped sid the fast scanner leaves to serde.
    let token = token_with(&signer, &json!({"tenant": "t", "sid": "s\u{e9}ssion"}));
    let escaped = {
        let header = URL_SAFE_NO_PAD.encode(header_for(&signer, "k1").to_string());
        let mut claims = good_claims();
        claims["sid"] = json!("PLACEHOLDER");
        let payload = claims.to_string().replace("PLACEHOLDER", r"s\u00e9ssion");
        let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let sig = URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()));
        format!("{input}.{sig}")
    };
    let untyped = layer(&signer, &clock, list.clone());
    assert_eq!(
        call(typed.clone(), Some(&token)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        call(untyped.clone(), Some(&escaped)).await.status,
        StatusCode::OK
    );

    list.revoke_session(ISS, "s\u{e9}ssion", at(NOW + 3_600))
        .await
        .unwrap();
    assert_invalid(&call(typed, Some(&token)).await, JwtRejectionKind::Revoked);
    assert_invalid(
        &call(untyped.clone(), Some(&escaped)).await,
        JwtRejectionKind::Revoked,
    );
    // A sid of the wrong type is a malformed token when revocation reads it.
    let bad = token_with(&signer, &json!({"sid": 7}));
    assert_invalid(
        &call(untyped, Some(&bad)).await,
        JwtRejectionKind::Malformed,
    );
}

#[tokio::test]
async fn entries_are_gone_after_the_token_expires() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = Arc::new(
        MemoryRevocationList::new()
            .with_clock(Arc::new(clock.clone()))
            .with_grace(Duration::seconds(30)),
    );
    let layer = layer(&signer, &clock, list.clone());
    for i in 0..10 {
        list.revoke_token(ISS, &format!("short-{i}"), at(NOW + 60))
            .await
            .unwrap();
    }
    list.revoke_token(ISS, "j1", at(NOW + 600)).await.unwrap();
    list.revoke_subject(ISS, "bob", at(NOW), at(NOW + 600))
        .await
        .unwrap();
    assert_eq!(list.len(), 12);
    assert_invalid(
        &call(layer, Some(&common::token(&signer))).await,
        JwtRejectionKind::Revoked,
    );

    clock.advance(Duration::seconds(91));
    assert_eq!(list.purge_expired(), 10);
    assert_eq!(list.len(), 2);
    clock.advance(Duration::seconds(600));
    assert_eq!(list.purge_expired(), 2);
    assert!(list.is_empty());
}

/// P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// `n - s` for 32-byte big-endian numbers, `s < n`.
fn n_minus(s: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        borrow = i16::from(d < 0);
        if d < 0 {
            d += 256;
        }
        out[i] = u8::try_from(d).unwrap();
    }
    assert_eq!(borrow, 0, "s must be below n");
    out
}

#[tokio::test]
async fn the_malleated_es256_twin_of_a_revoked_token_is_revoked_too() {
    let (signer, clock) = (Signer::ec(), clock());
    let token = common::token(&signer);
    let (input, sig64) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig64).unwrap();
    assert_eq!(sig.len(), 64);
    let mut twin_sig = sig[..32].to_vec();
    twin_sig.extend(n_minus(&sig[32..]));
    assert_ne!(twin_sig, sig);
    let twin = format!("{input}.{}", URL_SAFE_NO_PAD.encode(&twin_sig));
    assert_ne!(twin, token);

    // The twin is a valid token in its own right (ECDSA accepts (r, n - s))...
    let plain = common::builder(signer.verifying_key("k1")).build().unwrap();
    assert_eq!(call(plain, Some(&twin)).await.status, StatusCode::OK);

    // ...so revocation is keyed on the jti, and revoking one string revokes both.
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    assert_eq!(
        call(layer.clone(), Some(&twin)).await.status,
        StatusCode::OK
    );
    list.revoke_token(ISS, "j1", at(NOW + 600)).await.unwrap();
    assert_invalid(
        &call(layer.clone(), Some(&token)).await,
        JwtRejectionKind::Revoked,
    );
    assert_invalid(&call(layer, Some(&twin)).await, JwtRejectionKind::Revoked);
}

#[tokio::test]
async fn a_token_without_jti_is_refused_unless_subject_epochs_are_enough() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let no_jti = token_with(&signer, &json!({"jti": null}));
    let strict = layer(&signer, &clock, list.clone());
    assert_invalid(
        &call(strict, Some(&no_jti)).await,
        JwtRejectionKind::MissingTokenId,
    );

    let lenient =
        JwtLayer::builder(TrustedIssuer::new(ISS, signer.verifying_key("k1")).add_audience(AUD))
            .with_clock(Arc::new(clock.clone()))
            .with_revocation(list.clone())
            .with_jti_required(false)
            .build()
            .unwrap();
    assert_eq!(
        call(lenient.clone(), Some(&no_jti)).await.status,
        StatusCode::OK
    );
    list.revoke_subject(ISS, "alice", at(NOW), at(NOW + 3_600))
        .await
        .unwrap();
    assert_invalid(
        &call(lenient, Some(&no_jti)).await,
        JwtRejectionKind::Revoked,
    );
}

/// A list whose feed is down: it cannot answer.
#[derive(Debug)]
struct Down;

#[async_trait]
impl RevocationList for Down {
    fn status(&self, _: &TokenRef<'_>) -> RevocationStatus {
        RevocationStatus::Unavailable
    }

    async fn revoke_token(
        &self,
        _: &str,
        _: &str,
        _: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        Err(RevocationError::Backend("down".into()))
    }

    async fn revoke_subject(
        &self,
        _: &str,
        _: &str,
        _: OffsetDateTime,
        _: OffsetDateTime,
    ) -> Result<(), RevocationError> {
        Err(RevocationError::Backend("down".into()))
    }
}

#[tokio::test]
async fn an_unavailable_list_is_a_503_without_challenge() {
    let (signer, clock) = (Signer::hmac(), clock());
    let layer = layer(&signer, &clock, Arc::new(Down));
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new(String::new()))
        });
    let req = Request::builder()
        .header(
            header::AUTHORIZATION,
            format!("Bearer {}", common::token(&signer)),
        )
        .body(String::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers()[header::RETRY_AFTER], "5");
    assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
    let kind = res
        .extensions()
        .get::<auth_jwt::JwtRejection>()
        .map(auth_jwt::JwtRejection::kind);
    assert_eq!(kind, Some(JwtRejectionKind::RevocationUnavailable));
}

/// A plain tower service: `/logout` revokes the current token, `/logout-everywhere` the
/// subject, anything else answers 200.
async fn app(req: Request<String>) -> Result<Response<String>, Infallible> {
    let logout = Logout::from_extensions(req.extensions());
    let result = match req.uri().path() {
        "/logout" => Some(logout.unwrap().revoke_token().await),
        "/logout-everywhere" => Some(logout.unwrap().revoke_subject().await),
        _ => None,
    };
    let mut res = Response::new(String::new());
    if let Some(Err(_)) = result {
        *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    Ok(res)
}

async fn send(layer: &JwtLayer, path: &str, token: &str) -> StatusCode {
    let svc = ServiceBuilder::new().layer(layer.clone()).service_fn(app);
    let req = Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    svc.oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn logout_helpers_revoke_the_current_token_or_every_token_of_the_subject() {
    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    let phone = token_with(&signer, &json!({"jti": "phone"}));
    let laptop = token_with(&signer, &json!({"jti": "laptop"}));
    let tablet = token_with(&signer, &json!({"jti": "tablet"}));
    // From an issuer whose clock runs 20 s fast: accepted within the 30 s leeway.
    let ahead = token_with(&signer, &json!({"jti": "ahead", "iat": NOW + 20}));
    assert_eq!(send(&layer, "/me", &ahead).await, StatusCode::OK);

    assert_eq!(send(&layer, "/logout", &phone).await, StatusCode::OK);
    assert_eq!(send(&layer, "/me", &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&layer, "/me", &laptop).await, StatusCode::OK);

    assert_eq!(
        send(&layer, "/logout-everywhere", &laptop).await,
        StatusCode::OK
    );
    assert_eq!(send(&layer, "/me", &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&layer, "/me", &tablet).await, StatusCode::UNAUTHORIZED);
    // "Everywhere" covers the leeway: the token dated ahead of the clock is revoked too.
    assert_eq!(send(&layer, "/me", &ahead).await, StatusCode::UNAUTHORIZED);

    // A token minted once the leeway has passed is fine.
    clock.advance(auth_jwt::DEFAULT_LEEWAY + Duration::seconds(1));
    let fresh = token_with(
        &signer,
        &json!({"jti": "fresh", "iat": clock.unix_timestamp()}),
    );
    assert_eq!(send(&layer, "/me", &fresh).await, StatusCode::OK);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_extractor_logs_out() {
    use axum::routing::{get, post};

    let (signer, clock) = (Signer::hmac(), clock());
    let list = list(&clock);
    let layer = layer(&signer, &clock, list.clone());
    let app = axum::Router::new()
        .route(
            "/logout",
            post(|logout: Logout| async move {
                logout.revoke_token().await.unwrap();
                StatusCode::NO_CONTENT
            }),
        )
        .route("/me", get(|| async { "me" }))
        .layer(layer);
    let token = common::token(&signer);
    let req = |method: &str, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let res = app.clone().oneshot(req("POST", "/logout")).await.unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app.oneshot(req("GET", "/me")).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Without the layer, extracting Logout is a wiring error.
    let unguarded = axum::Router::new().route(
        "/logout",
        post(|_: Logout| async { StatusCode::NO_CONTENT }),
    );
    let res = unguarded
        .oneshot(
            Request::post("/logout")
                .body(axum::body::Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
