//! What the session benchmarks share: the identical apps (ours and tower-sessions', one
//! handler per scenario), the seeded session cookie, and requests whose `Cookie` header is
//! built as a server's would be.
#![allow(dead_code)] // each bench uses its own subset

use auth_cookie::CookieKeys;
use auth_core::{KeyId, KeyRing, SecretKey};
use auth_session::{MemoryStore, Session, SessionLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bytes::Bytes;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderValue, Request, StatusCode};
use tower::ServiceExt;

/// What the route does with the session.
#[derive(Clone, Copy)]
pub(crate) enum Handler {
    Untouched,
    Read,
    Modify,
    Create,
}

/// The signing keys of `ours` (and of the signed create floor).
fn keys() -> CookieKeys {
    CookieKeys::new(KeyRing::new(
        KeyId::new("k").unwrap(),
        SecretKey::from_bytes(&[3; 32]).unwrap(),
    ))
}

pub(crate) fn ours(handler: Handler, signed: bool) -> Router {
    let mut layer = SessionLayer::new(MemoryStore::new(), keys());
    if !signed {
        layer = layer.with_unsigned_cookie();
    }
    let route = match handler {
        Handler::Untouched => get(|| async { "ok" }),
        Handler::Read => get(|s: Session| async move {
            let n: Option<u64> = s.get("n").await.unwrap();
            assert!(n.is_some());
            "ok"
        }),
        Handler::Modify => get(|s: Session| async move {
            let n: u64 = s.get("n").await.unwrap().unwrap_or(0);
            s.insert("n", &(n + 1)).await.unwrap();
            "ok"
        }),
        Handler::Create => get(|s: Session| async move {
            s.insert("n", &1_u64).await.unwrap();
            "ok"
        }),
    };
    Router::new()
        .route("/", route)
        .route(
            "/seed",
            get(|s: Session| async move {
                s.insert("n", &1_u64).await.unwrap();
                "ok"
            }),
        )
        .layer(layer)
}

pub(crate) fn peer(handler: Handler, signed: bool) -> Router {
    let layer = tower_sessions::SessionManagerLayer::new(tower_sessions::MemoryStore::default());
    let route = match handler {
        Handler::Untouched => get(|| async { "ok" }),
        Handler::Read => get(|s: tower_sessions::Session| async move {
            let n: Option<u64> = s.get("n").await.unwrap();
            assert!(n.is_some());
            "ok"
        }),
        Handler::Modify => get(|s: tower_sessions::Session| async move {
            let n: u64 = s.get("n").await.unwrap().unwrap_or(0);
            s.insert("n", n + 1).await.unwrap();
            "ok"
        }),
        Handler::Create => get(|s: tower_sessions::Session| async move {
            s.insert("n", 1_u64).await.unwrap();
            "ok"
        }),
    };
    let router = Router::new().route("/", route).route(
        "/seed",
        get(|s: tower_sessions::Session| async move {
            s.insert("n", 1_u64).await.unwrap();
            "ok"
        }),
    );
    if signed {
        router.layer(layer.with_signed(tower_sessions::cookie::Key::from(&[3; 64])))
    } else {
        router.layer(layer)
    }
}

/// The create scenario's floor (`auth_tests::create_floor`): the same handler's insert, on
/// the stripped-down create layer.
pub(crate) fn create_floor(signed: bool) -> Router {
    use auth_tests::create_floor::{CreateFloorLayer, FloorSession};
    use axum::Extension;
    let layer = if signed {
        CreateFloorLayer::signed(keys())
    } else {
        CreateFloorLayer::default()
    };
    Router::new()
        .route(
            "/",
            get(|Extension(s): Extension<FloorSession>| async move {
                s.insert("n", 1_u64.into());
                "ok"
            }),
        )
        .layer(layer)
}

/// The `Cookie` header value as a server's parser leaves it (see `auth_tests::wire`).
pub(crate) use auth_tests::wire::cookie_value as wire;

/// A request, with a `Cookie` header sharing `cookie`'s buffer (see [`wire`]) if given.
pub(crate) fn request(cookie: Option<&Bytes>) -> Request<Body> {
    let mut req = Request::builder().uri("/");
    if let Some(cookie) = cookie {
        req = req.header(
            COOKIE,
            HeaderValue::from_maybe_shared(cookie.clone()).unwrap(),
        );
    }
    req.body(Body::empty()).unwrap()
}

/// A session cookie for `app`, from its `/seed` route (same store as `/`).
pub(crate) fn seeded(rt: &tokio::runtime::Runtime, app: &Router) -> String {
    let req = Request::builder().uri("/seed").body(Body::empty()).unwrap();
    let res = rt.block_on(app.clone().oneshot(req)).unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}
