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
