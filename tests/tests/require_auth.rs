//! `RequireAuthLayer` behind plain tower and behind an axum `Router`, with the identity coming
//! from an upstream authenticating layer as it would in an application.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a panic is a failed test

use std::convert::Infallible;

use auth_core::{
    AuthLayerMarker, AuthMethod, AuthRejection, AuthRejectionKind, Identity, RequireAuthLayer,
    Requirement,
};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use tower::util::MapRequestLayer;
use tower::{Service, ServiceBuilder, ServiceExt};

/// A stand-in authenticating layer: reads `x-test-user: sub;method;roles;scopes` and inserts
/// the marker plus, when the header is present, an `Identity`.
fn authenticate<B>(mut req: Request<B>) -> Request<B> {
    req.extensions_mut().insert(AuthLayerMarker::new("test"));
    let header = req
        .headers()
        .get("x-test-user")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(spec) = header {
        let mut parts = spec.split(';');
        let sub = parts.next().unwrap_or_default();
        let method = match parts.next() {
            Some("jwt") => AuthMethod::Jwt,
            _ => AuthMethod::Session,
        };
        let list = |s: Option<&str>| {
            s.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let roles = list(parts.next());
        let scopes = list(parts.next());
        req.extensions_mut().insert(
            Identity::builder(sub, method)
                .roles(roles)
                .scopes(scopes)
                .build(),
        );
    }
    req
}

fn request(user: Option<&str>) -> Request<Body> {
    let mut builder = Request::get("/");
    if let Some(user) = user {
        builder = builder.header("x-test-user", user);
    }
    builder.body(Body::empty()).unwrap()
}

async fn ok_handler(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let sub = req
        .extensions()
        .get::<Identity>()
        .map(|id| id.subject().to_owned())
        .unwrap_or_default();
    Ok(Response::new(Body::from(sub)))
}

async fn body_text(res: Response<Body>) -> String {
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn rejection(res: &Response<Body>) -> &AuthRejection {
    res.extensions()
        .get::<AuthRejection>()
        .expect("the rejection is in the response extensions")
}

mod plain_tower {
    use super::*;

    #[tokio::test]
    async fn no_identity_is_401_with_the_rejection_in_extensions() {
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::authenticated())
            .service_fn(ok_handler);
        let res = svc.oneshot(request(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(rejection(&res).kind(), AuthRejectionKind::Unauthenticated);
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());
        assert_eq!(body_text(res).await, "");
    }

    #[tokio::test]
    async fn identity_without_the_role_is_403_and_with_it_200() {
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::role("admin"))
            .service_fn(ok_handler);

        let res = svc
            .clone()
            .oneshot(request(Some("alice;session;user")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let rejected = rejection(&res);
        assert_eq!(rejected.kind(), AuthRejectionKind::Forbidden);
        assert_eq!(
            rejected.requirement(),
            Some(&Requirement::Role("admin".into()))
        );
        assert_eq!(rejected.method(), Some(&AuthMethod::Session));
        // A session user missing a role gets no bearer challenge.
        assert!(res.headers().get(header::WWW_AUTHENTICATE).is_none());

        let res = svc
            .oneshot(request(Some("bob;session;user,admin")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.extensions().get::<AuthRejection>().is_none());
        assert_eq!(body_text(res).await, "bob");
    }

    #[tokio::test]
    async fn bearer_identity_without_the_scope_is_403_insufficient_scope() {
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::scope("orders:write"))
            .service_fn(ok_handler);

        let res = svc
            .clone()
            .oneshot(request(Some("svc;jwt;;orders:read")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="insufficient_scope", scope="orders:write""#
        );
        assert_eq!(
            rejection(&res).requirement(),
            Some(&Requirement::Scope("orders:write".into()))
        );

        let res = svc
            .oneshot(request(Some("svc;jwt;;orders:read,orders:write")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn a_custom_closure_predicate_decides() {
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::predicate(|id: &Identity| {
                id.subject().starts_with("staff-")
            }))
            .service_fn(ok_handler);

        let res = svc
            .clone()
            .oneshot(request(Some("staff-ann;session")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let res = svc.oneshot(request(Some("guest;session"))).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(rejection(&res).requirement(), Some(&Requirement::Custom));
    }

    #[tokio::test]
    async fn a_custom_rejection_closure_builds_the_response() {
        let custom = |rejection: &AuthRejection| {
            let mut res = Response::new(Body::from(format!("custom: {rejection}")));
            *res.status_mut() = rejection.status();
            res.headers_mut()
                .insert("x-rejected-by", HeaderValue::from_static("test"));
            res
        };
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::role("admin").with_rejection(custom))
            .service_fn(ok_handler);

        let res = svc.clone().oneshot(request(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.headers()["x-rejected-by"], "test");
        assert!(res.extensions().get::<AuthRejection>().is_some());
        assert_eq!(body_text(res).await, "custom: authentication required");

        let res = svc
            .oneshot(request(Some("eve;session;user")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(rejection(&res).kind(), AuthRejectionKind::Forbidden);
        assert_eq!(
            body_text(res).await,
            "custom: forbidden: missing role `admin`"
        );
    }

    #[tokio::test]
    async fn the_inner_service_is_not_called_on_rejection() {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = calls.clone();
        let mut svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::role("admin"))
            .service_fn(move |req: Request<Body>| {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                ok_handler(req)
            });
        for user in [None, Some("a;session;user"), Some("b;session;admin")] {
            let svc = svc.ready().await.unwrap();
            let _ = svc.call(request(user)).await.unwrap();
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_default_challenge_can_be_set_for_401() {
        let rejection = auth_core::DefaultRejection::new()
            .with_challenge(HeaderValue::from_static(r#"Bearer realm="api""#));
        let svc = ServiceBuilder::new()
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::authenticated().with_rejection(rejection))
            .service_fn(ok_handler);
        let res = svc.oneshot(request(None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="api""#
        );
    }
}

mod axum_router {
    use super::*;

    async fn whoami(identity: Identity) -> String {
        format!("{} via {}", identity.subject(), identity.method())
    }

    async fn maybe(identity: Option<Identity>) -> String {
        identity.map_or_else(|| "anonymous".to_owned(), |id| id.subject().to_owned())
    }

    fn app() -> Router {
        let admin = Router::new()
            .route("/admin", get(whoami))
            .route_layer(RequireAuthLayer::role("admin"));
        let reports = Router::new()
            .route("/reports", get(whoami))
            .route_layer(RequireAuthLayer::scope("reports:read"));
        Router::new()
            .route("/me", get(whoami))
            .route("/maybe", get(maybe))
            .merge(admin)
            .merge(reports)
            .layer(MapRequestLayer::new(authenticate))
    }

    fn get_as(path: &str, user: Option<&str>) -> Request<Body> {
        let mut builder = Request::get(path);
        if let Some(user) = user {
            builder = builder.header("x-test-user", user);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn role_guard_gives_401_403_200() {
        let res = app().oneshot(get_as("/admin", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(rejection(&res).kind(), AuthRejectionKind::Unauthenticated);

        let res = app()
            .oneshot(get_as("/admin", Some("alice;session;user")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(rejection(&res).kind(), AuthRejectionKind::Forbidden);

        let res = app()
            .oneshot(get_as("/admin", Some("bob;session;admin")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, "bob via session");
    }

    #[tokio::test]
    async fn scope_guard_gives_403_then_200() {
        let res = app()
            .oneshot(get_as("/reports", Some("c;jwt;;other")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert!(
            res.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("insufficient_scope")
        );
        let res = app()
            .oneshot(get_as("/reports", Some("c;jwt;;reports:read")))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, "c via jwt");
    }

    #[tokio::test]
    async fn identity_extractor_is_401_when_anonymous() {
        let res = app().oneshot(get_as("/me", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let res = app()
            .oneshot(get_as("/me", Some("dan;session")))
            .await
            .unwrap();
        assert_eq!(body_text(res).await, "dan via session");
    }

    #[tokio::test]
    async fn optional_identity_extractor_is_none_when_anonymous() {
        let res = app().oneshot(get_as("/maybe", None)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, "anonymous");
        let res = app()
            .oneshot(get_as("/maybe", Some("erin;jwt")))
            .await
            .unwrap();
        assert_eq!(body_text(res).await, "erin");
    }

    #[tokio::test]
    async fn extractors_without_an_auth_layer_are_500_naming_the_layer() {
        let unwired = Router::new()
            .route("/me", get(whoami))
            .route("/maybe", get(maybe));
        for path in ["/me", "/maybe"] {
            let res = unwired.clone().oneshot(get_as(path, None)).await.unwrap();
            assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
            let text = body_text(res).await;
            assert!(text.contains("SessionLayer"), "{text}");
            assert!(text.contains("JwtLayer"), "{text}");
        }
    }
}

mod lazy_identity {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use auth_core::{LazyIdentity, ResolveFuture};

    use super::*;

    /// Inserts a `LazyIdentity` whose resolver answers per the `x-lazy` header and counts calls.
    fn lazy_layer(
        calls: Arc<AtomicUsize>,
    ) -> MapRequestLayer<impl Fn(Request<Body>) -> Request<Body> + Clone> {
        MapRequestLayer::new(move |mut req: Request<Body>| {
            let mode = req
                .headers()
                .get("x-lazy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let calls = calls.clone();
            req.extensions_mut()
                .insert(LazyIdentity::new(move || -> ResolveFuture {
                    calls.fetch_add(1, Ordering::SeqCst);
                    let mode = mode.clone();
                    Box::pin(async move {
                        match mode.as_str() {
                            "admin" => Ok(Some(
                                Identity::builder("root", AuthMethod::Session)
                                    .role("admin")
                                    .build(),
                            )),
                            "user" => Ok(Some(Identity::builder("u", AuthMethod::Session).build())),
                            "down" => Err("store down".into()),
                            _ => Ok(None),
                        }
                    })
                }));
            req.extensions_mut().insert(AuthLayerMarker::new("lazy"));
            req
        })
    }

    fn req(mode: &str) -> Request<Body> {
        Request::get("/")
            .header("x-lazy", mode)
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_lazy_identity_is_resolved_checked_and_inserted() {
        let calls = Arc::new(AtomicUsize::new(0));
        let svc = ServiceBuilder::new()
            .layer(lazy_layer(calls.clone()))
            .layer(RequireAuthLayer::role("admin"))
            .service_fn(ok_handler);

        let res = svc.clone().oneshot(req("admin")).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            body_text(res).await,
            "root",
            "the handler sees the resolved Identity"
        );

        let res = svc.clone().oneshot(req("user")).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        let res = svc.clone().oneshot(req("anonymous")).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

        let res = svc.oneshot(req("down")).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(rejection(&res).kind(), AuthRejectionKind::Unavailable);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn an_identity_already_present_is_used_without_resolving() {
        let calls = Arc::new(AtomicUsize::new(0));
        let svc = ServiceBuilder::new()
            .layer(lazy_layer(calls.clone()))
            .layer(MapRequestLayer::new(authenticate))
            .layer(RequireAuthLayer::authenticated())
            .service_fn(ok_handler);
        let mut request = req("down");
        request
            .headers_mut()
            .insert("x-test-user", HeaderValue::from_static("eager;session"));
        let res = svc.oneshot(request).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
}
