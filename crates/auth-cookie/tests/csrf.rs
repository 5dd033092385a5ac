//! The CSRF decision table, driven through the layer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;

use auth_cookie::{CsrfBinding, CsrfLayer, CsrfRejection, CsrfRejectionKind, CsrfTokens};
use auth_core::SecretKey;
use http::{Method, Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};

const HOST: &str = "app.example.com";

#[derive(Clone, Copy, Debug)]
struct Case {
    name: &'static str,
    path: &'static str,
    sec_fetch_site: Option<&'static str>,
    origin: Option<&'static str>,
    get: StatusCode,
    post: StatusCode,
}

const OK: StatusCode = StatusCode::OK;
const NO: StatusCode = StatusCode::FORBIDDEN;

const TABLE: &[Case] = &[
    Case {
        name: "same-origin",
        path: "/x",
        sec_fetch_site: Some("same-origin"),
        origin: Some("https://app.example.com"),
        get: OK,
        post: OK,
    },
    Case {
        name: "none (typed URL)",
        path: "/x",
        sec_fetch_site: Some("none"),
        origin: None,
        get: OK,
        post: OK,
    },
    Case {
        name: "same-site sibling",
        path: "/x",
        sec_fetch_site: Some("same-site"),
        origin: Some("https://blog.example.com"),
        get: OK,
        post: NO,
    },
    Case {
        name: "cross-site",
        path: "/x",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        get: OK,
        post: NO,
    },
    Case {
        name: "unknown fetch site value",
        path: "/x",
        sec_fetch_site: Some("weird"),
        origin: Some("https://app.example.com"),
        get: OK,
        post: NO,
    },
    Case {
        name: "no header, matching Origin",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("https://app.example.com"),
        get: OK,
        post: OK,
    },
    Case {
        name: "no header, matching Origin other scheme",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("http://app.example.com"),
        get: OK,
        post: OK,
    },
    Case {
        name: "no header, mismatching Origin",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("https://evil.example"),
        get: OK,
        post: NO,
    },
    Case {
        name: "no header, Origin with other port",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("https://app.example.com:8443"),
        get: OK,
        post: NO,
    },
    Case {
        name: "no header, null Origin",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("null"),
        get: OK,
        post: NO,
    },
    Case {
        name: "no header, no Origin (non-browser)",
        path: "/x",
        sec_fetch_site: None,
        origin: None,
        get: OK,
        post: OK,
    },
    Case {
        name: "trusted origin, cross-site",
        path: "/x",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://admin.example.net"),
        get: OK,
        post: OK,
    },
    Case {
        name: "trusted origin, no header",
        path: "/x",
        sec_fetch_site: None,
        origin: Some("https://admin.example.net"),
        get: OK,
        post: OK,
    },
    Case {
        name: "trusted host over the wrong scheme",
        path: "/x",
        sec_fetch_site: Some("cross-site"),
        origin: Some("http://admin.example.net"),
        get: OK,
        post: NO,
    },
    Case {
        name: "exempt path, cross-site",
        path: "/webhooks/stripe",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://stripe.example"),
        get: OK,
        post: OK,
    },
    Case {
        name: "exempt prefix, mismatching Origin",
        path: "/hooks/github/push",
        sec_fetch_site: None,
        origin: Some("https://github.example"),
        get: OK,
        post: OK,
    },
    Case {
        name: "traversal out of an exempt prefix",
        path: "/hooks/../transfer",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        get: OK,
        post: NO,
    },
    Case {
        name: "traversal into an exempt path",
        path: "/x/../webhooks/stripe",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        get: OK,
        post: OK,
    },
    Case {
        name: "prefix look-alike",
        path: "/hooksmith",
        sec_fetch_site: Some("cross-site"),
        origin: Some("https://evil.example"),
        get: OK,
        post: NO,
    },
];

fn layer() -> CsrfLayer {
    CsrfLayer::new()
        .with_trusted_origin("https://admin.example.net")
        .unwrap()
        .with_exempt_path("/webhooks/stripe")
        .unwrap()
        .with_exempt_prefix("/hooks")
        .unwrap()
}

async fn ok(_req: Request<String>) -> Result<Response<String>, Infallible> {
    Ok(Response::new("handled".to_owned()))
}

fn request(method: Method, case: &Case) -> Request<String> {
    let mut builder = Request::builder()
        .method(method)
        .uri(case.path)
        .header("host", HOST);
    if let Some(site) = case.sec_fetch_site {
        builder = builder.header("sec-fetch-site", site);
    }
    if let Some(origin) = case.origin {
        builder = builder.header("origin", origin);
    }
    builder.body(String::new()).unwrap()
}

#[tokio::test]
async fn decision_table_for_get_and_post() {
    let svc = ServiceBuilder::new().layer(layer()).service_fn(ok);
    let mut failures = Vec::new();
    for case in TABLE {
        for (method, expected) in [(Method::GET, case.get), (Method::POST, case.post)] {
            let res = svc
                .clone()
                .oneshot(request(method.clone(), case))
                .await
                .unwrap();
            if res.status() != expected {
                failures.push(format!(
                    "{} {method}: got {}, want {expected}",
                    case.name,
                    res.status()
                ));
            }
            assert_eq!(
                res.extensions().get::<CsrfRejection>().is_some(),
                expected == NO,
                "{}",
                case.name
            );
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn every_unsafe_method_is_checked_and_safe_ones_pass() {
    let svc = ServiceBuilder::new().layer(CsrfLayer::new()).service_fn(ok);
    let cross = Case {
        name: "cross",
        path: "/",
        sec_fetch_site: Some("cross-site"),
        origin: None,
        get: OK,
        post: NO,
    };
    for method in [
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::TRACE,
        Method::CONNECT,
    ] {
        let res = svc
            .clone()
            .oneshot(request(method.clone(), &cross))
            .await
            .unwrap();
        assert_eq!(res.status(), NO, "{method}");
    }
    for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let res = svc
            .clone()
            .oneshot(request(method.clone(), &cross))
            .await
            .unwrap();
        assert_eq!(res.status(), OK, "{method}");
    }
}

#[tokio::test]
async fn rejection_kinds_say_why() {
    let svc = ServiceBuilder::new().layer(CsrfLayer::new()).service_fn(ok);
    let kind = |res: &Response<String>| {
        res.extensions()
            .get::<CsrfRejection>()
            .map(CsrfRejection::kind)
    };
    let res = svc
        .clone()
        .oneshot(request(Method::POST, &TABLE[3]))
        .await
        .unwrap();
    assert_eq!(kind(&res), Some(CsrfRejectionKind::CrossSite));
    assert_eq!(res.body(), "", "the default body says nothing");
    let res = svc.oneshot(request(Method::POST, &TABLE[7])).await.unwrap();
    assert_eq!(kind(&res), Some(CsrfRejectionKind::CrossOrigin));
}

#[tokio::test]
async fn rejection_response_is_replaceable() {
    let custom = |rejection: &CsrfRejection| {
        let mut res = Response::new(format!("refused: {rejection}"));
        *res.status_mut() = StatusCode::FORBIDDEN;
        res
    };
    let svc = ServiceBuilder::new()
        .layer(CsrfLayer::new().with_rejection(custom))
        .service_fn(ok);
    let res = svc.oneshot(request(Method::POST, &TABLE[3])).await.unwrap();
    assert_eq!(res.status(), NO);
    assert_eq!(res.body(), "refused: cross-site request refused");
    assert!(res.extensions().get::<CsrfRejection>().is_some());
}

mod tokens {
    use super::*;

    fn tokens() -> CsrfTokens {
        CsrfTokens::new(&SecretKey::from_bytes(&[9; 32]).unwrap())
    }

    fn post(binding: Option<&str>, token: Option<&str>) -> Request<String> {
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri("/x")
            .header("host", HOST);
        if let Some(token) = token {
            builder = builder.header("x-csrf-token", token);
        }
        let mut req = builder.body(String::new()).unwrap();
        if let Some(binding) = binding {
            req.extensions_mut().insert(CsrfBinding(binding.to_owned()));
        }
        req
    }

    fn kind(res: &Response<String>) -> Option<CsrfRejectionKind> {
        res.extensions()
            .get::<CsrfRejection>()
            .map(CsrfRejection::kind)
    }

    #[tokio::test]
    async fn neither_header_requires_a_token_bound_to_the_session() {
        let svc = ServiceBuilder::new()
            .layer(CsrfLayer::new().with_tokens(tokens()))
            .service_fn(ok);
        let token = tokens().generate("session-a").unwrap();

        let res = svc
            .clone()
            .oneshot(post(Some("session-a"), Some(&token)))
            .await
            .unwrap();
        assert_eq!(res.status(), OK);

        let res = svc
            .clone()
            .oneshot(post(Some("session-a"), None))
            .await
            .unwrap();
        assert_eq!(kind(&res), Some(CsrfRejectionKind::MissingToken));

        let res = svc
            .clone()
            .oneshot(post(Some("session-b"), Some(&token)))
            .await
            .unwrap();
        assert_eq!(kind(&res), Some(CsrfRejectionKind::InvalidToken));

        let res = svc.clone().oneshot(post(None, Some(&token))).await.unwrap();
        assert_eq!(kind(&res), Some(CsrfRejectionKind::InvalidToken));

        let res = svc
            .oneshot(post(Some("session-a"), Some("garbage")))
            .await
            .unwrap();
        assert_eq!(kind(&res), Some(CsrfRejectionKind::InvalidToken));
    }

    #[tokio::test]
    async fn browsers_sending_fetch_metadata_need_no_token() {
        let svc = ServiceBuilder::new()
            .layer(CsrfLayer::new().with_tokens(tokens()))
            .service_fn(ok);
        let same = Case {
            name: "same",
            path: "/x",
            sec_fetch_site: Some("same-origin"),
            origin: None,
            get: OK,
            post: OK,
        };
        let res = svc
            .clone()
            .oneshot(request(Method::POST, &same))
            .await
            .unwrap();
        assert_eq!(res.status(), OK);
        // A cross-site request is refused even with a valid token for some session.
        let res = svc.oneshot(request(Method::POST, &TABLE[3])).await.unwrap();
        assert_eq!(res.status(), NO);
    }

    #[tokio::test]
    async fn a_custom_header_name_is_used() {
        let svc = ServiceBuilder::new()
            .layer(
                CsrfLayer::new()
                    .with_tokens(tokens().with_header(http::HeaderName::from_static("x-xsrf"))),
            )
            .service_fn(ok);
        let token = tokens().generate("s").unwrap();
        let mut req = post(Some("s"), None);
        req.headers_mut().insert("x-xsrf", token.parse().unwrap());
        assert_eq!(svc.oneshot(req).await.unwrap().status(), OK);
    }
}

#[test]
fn invalid_configuration_is_refused() {
    assert!(
        CsrfLayer::new()
            .with_trusted_origin("admin.example.net")
            .is_err()
    );
    assert!(
        CsrfLayer::new()
            .with_trusted_origin("https://a.example/path")
            .is_err()
    );
    assert!(CsrfLayer::new().with_exempt_path("webhooks").is_err());
    assert!(CsrfLayer::new().with_exempt_prefix("").is_err());
}

mod form_field {
    use auth_cookie::FORM_LIMIT;
    use axum::body::Body;
    use http_body_util::BodyExt;

    use super::*;

    fn tokens() -> CsrfTokens {
        CsrfTokens::new(&SecretKey::from_bytes(&[9; 32]).unwrap())
    }

    fn form(binding: &str, body: String) -> Request<Body> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/transfer")
            .header("host", HOST)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        req.extensions_mut().insert(CsrfBinding(binding.to_owned()));
        req
    }

    /// Echoes the body it received, to prove it was handed on intact.
    async fn echo(req: Request<Body>) -> Result<Response<Body>, Infallible> {
        let bytes = req.into_body().collect().await.unwrap().to_bytes();
        Ok(Response::new(Body::from(bytes)))
    }

    async fn text(res: Response<Body>) -> String {
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    fn svc()
    -> impl tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone
    {
        ServiceBuilder::new()
            .layer(
                CsrfLayer::new()
                    .with_tokens(tokens())
                    .with_form_field("csrf_token"),
            )
            .service_fn(echo)
    }

    #[tokio::test]
    async fn a_valid_token_in_the_form_passes_and_the_body_reaches_the_handler() {
        let token = tokens().generate("s1").unwrap();
        let body = format!("amount=10&csrf_token={token}&to=bob");
        let res = svc().oneshot(form("s1", body.clone())).await.unwrap();
        assert_eq!(res.status(), OK);
        assert_eq!(text(res).await, body);
    }

    #[tokio::test]
    async fn missing_wrong_or_foreign_form_tokens_are_refused() {
        let token = tokens().generate("s1").unwrap();
        for (binding, body, kind) in [
            (
                "s1",
                "amount=10".to_owned(),
                CsrfRejectionKind::MissingToken,
            ),
            (
                "s1",
                "csrf_token=garbage".to_owned(),
                CsrfRejectionKind::InvalidToken,
            ),
            (
                "s2",
                format!("csrf_token={token}"),
                CsrfRejectionKind::InvalidToken,
            ),
            (
                "s1",
                format!("csrf_token={token}&pad={}", "x".repeat(FORM_LIMIT)),
                CsrfRejectionKind::MissingToken,
            ),
        ] {
            let res = svc().oneshot(form(binding, body.clone())).await.unwrap();
            assert_eq!(
                res.status(),
                NO,
                "{binding} {}",
                &body[..body.len().min(40)]
            );
            assert_eq!(
                res.extensions()
                    .get::<CsrfRejection>()
                    .map(CsrfRejection::kind),
                Some(kind)
            );
        }
    }

    #[tokio::test]
    async fn other_requests_are_decided_without_reading_the_body() {
        // A same-origin browser post passes without a token, body untouched.
        let mut req = form("s1", "a=1".to_owned());
        req.headers_mut()
            .insert("sec-fetch-site", "same-origin".parse().unwrap());
        let res = svc().oneshot(req).await.unwrap();
        assert_eq!((res.status(), text(res).await.as_str()), (OK, "a=1"));
        // A JSON post without any header is refused (not a form: no body to read).
        let mut req = form("s1", "{}".to_owned());
        req.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        let res = svc().oneshot(req).await.unwrap();
        assert_eq!(res.status(), NO);
        // Cross-site stays refused whatever the form says.
        let token = tokens().generate("s1").unwrap();
        let mut req = form("s1", format!("csrf_token={token}"));
        req.headers_mut()
            .insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert_eq!(svc().oneshot(req).await.unwrap().status(), NO);
    }
}
