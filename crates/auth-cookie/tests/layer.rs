//! `CookieLayer` end to end: the request's jar and its handles, `Set-Cookie` on the way out, sealed
//! cookies across key rotations, and what a browser-like cookie store makes of our headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys, CookieLayer, CookiePrefix, Cookies, SealedRead};
use auth_core::{KeyId, KeyRing, SecretKey};
use cookie_store::CookieStore;
use http::header::{COOKIE, SET_COOKIE};
use http::{Request, Response, StatusCode};
use tower::{ServiceBuilder, ServiceExt};
use url::Url;

fn keys(spec: &[(&str, u8)]) -> CookieKeys {
    let (first, rest) = spec.split_first().unwrap();
    let mut ring = KeyRing::new(
        KeyId::new(first.0).unwrap(),
        SecretKey::from_bytes(&[first.1; 32]).unwrap(),
    );
    for (id, byte) in rest {
        ring = ring
            .with_verify_only(
                KeyId::new(id).unwrap(),
                SecretKey::from_bytes(&[*byte; 32]).unwrap(),
            )
            .unwrap();
    }
    CookieKeys::new(ring)
}

struct Defs {
    plain: CookieConfig,
    signed: CookieConfig,
    private: CookieConfig,
    scoped: CookieConfig,
    host: CookieConfig,
}

fn defs() -> Arc<Defs> {
    Arc::new(Defs {
        plain: CookieConfig::builder("plain").build().unwrap(),
        signed: CookieConfig::builder("signed").build().unwrap(),
        private: CookieConfig::builder("private").build().unwrap(),
        scoped: CookieConfig::builder("scoped")
            .path("/app")
            .domain("example.com")
            .build()
            .unwrap(),
        host: CookieConfig::builder("sid")
            .prefix(CookiePrefix::Host)
            .build()
            .unwrap(),
    })
}

/// A small app: `/set` writes every kind of cookie, `/remove` removes them, `/read` reports
/// what it can read (one `name=value` line each).
fn app(
    keys: CookieKeys,
) -> impl tower::Service<Request<String>, Response = Response<String>, Error = Infallible> + Clone {
    let defs = defs();
    ServiceBuilder::new()
        .layer(CookieLayer::new())
        .service_fn(move |req: Request<String>| {
            let (keys, defs) = (keys.clone(), defs.clone());
            async move {
                let cookies = Cookies::from_request(&req).unwrap();
                let mut body = String::new();
                match req.uri().path() {
                    "/set" => {
                        cookies.add(&defs.plain, "a b;c,d\"é%").unwrap();
                        cookies.signed(&keys).add(&defs.signed, "user=42").unwrap();
                        cookies
                            .private(&keys)
                            .add(&defs.private, "secret plan")
                            .unwrap();
                        cookies.add(&defs.scoped, "s").unwrap();
                        cookies.signed(&keys).add(&defs.host, "session-id").unwrap();
                    }
                    "/remove" => {
                        cookies.remove(&defs.plain);
                        cookies.signed(&keys).remove(&defs.signed);
                        cookies.private(&keys).remove(&defs.private);
                        cookies.remove(&defs.scoped);
                        cookies.remove(&defs.host);
                    }
                    _ => {
                        let line = |name: &str, read: SealedRead| format!("{name}={read:?}\n");
                        body.push_str(&format!("plain={:?}\n", cookies.get("plain")));
                        body.push_str(&line("signed", cookies.signed(&keys).read(&defs.signed)));
                        body.push_str(&line("private", cookies.private(&keys).read(&defs.private)));
                        body.push_str(&format!("scoped={:?}\n", cookies.get("scoped")));
                        body.push_str(&line("sid", cookies.signed(&keys).read(&defs.host)));
                    }
                }
                Ok::<_, Infallible>(Response::new(body))
            }
        })
}

fn set_cookies(res: &Response<String>) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// A browser-like client: stores `Set-Cookie`s per RFC 6265 and sends them back.
struct Browser {
    store: CookieStore,
}

impl Browser {
    fn new() -> Self {
        Self {
            store: CookieStore::default(),
        }
    }

    async fn visit<S>(&mut self, app: S, url: &str) -> Response<String>
    where
        S: tower::Service<Request<String>, Response = Response<String>, Error = Infallible>,
    {
        let url = Url::parse(url).unwrap();
        let header: Vec<String> = self
            .store
            .get_request_values(&url)
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        let mut req = Request::builder().uri(url.path());
        if !header.is_empty() {
            req = req.header(COOKIE, header.join("; "));
        }
        let res = app.oneshot(req.body(String::new()).unwrap()).await.unwrap();
        for set_cookie in set_cookies(&res) {
            self.store
                .parse(&set_cookie, &url)
                .expect("a browser accepts our Set-Cookie");
        }
        res
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self
            .store
            .iter_unexpired()
            .map(|c| c.name().to_owned())
            .collect();
        names.sort();
        names
    }
}

#[tokio::test]
async fn what_we_set_a_browser_sends_back_and_we_read() {
    let app = app(keys(&[("k1", 1)]));
    let mut browser = Browser::new();
    let res = browser
        .visit(app.clone(), "https://www.example.com/set")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(set_cookies(&res).len(), 5);
    assert_eq!(
        browser.names(),
        ["__Host-sid", "plain", "private", "scoped", "signed"]
    );

    // At /app the scoped cookie is sent too.
    let res = browser
        .visit(app.clone(), "https://www.example.com/app/read")
        .await;
    assert_eq!(
        res.body(),
        "plain=Some(\"a b;c,d\\\"é%\")\n\
         signed=Valid(\"user=42\")\n\
         private=Valid(\"secret plan\")\n\
         scoped=Some(\"s\")\n\
         sid=Valid(\"session-id\")\n"
    );
    assert!(set_cookies(&res).is_empty(), "reading changes nothing");

    // Elsewhere the path-scoped cookie stays in the browser.
    let res = browser.visit(app, "https://www.example.com/read").await;
    assert!(res.body().contains("scoped=None"), "{}", res.body());
}

#[tokio::test]
async fn removal_cookies_delete_every_cookie_in_a_browser() {
    let app = app(keys(&[("k1", 1)]));
    let mut browser = Browser::new();
    browser
        .visit(app.clone(), "https://www.example.com/set")
        .await;
    assert_eq!(browser.names().len(), 5);
    // Removed from a page that does not even see the scoped cookie: the definition
    // supplies its Path and Domain.
    let res = browser.visit(app, "https://www.example.com/remove").await;
    assert_eq!(set_cookies(&res).len(), 5);
    assert!(browser.names().is_empty(), "left: {:?}", browser.names());
}

#[tokio::test]
async fn a_cookie_sealed_with_an_old_key_is_read_and_resealed_with_the_new_key() {
    let mut browser = Browser::new();
    browser
        .visit(app(keys(&[("old", 1)])), "https://www.example.com/set")
        .await;

    let rotated = app(keys(&[("new", 2), ("old", 1)]));
    let res = browser
        .visit(rotated.clone(), "https://www.example.com/read")
        .await;
    assert!(
        res.body().contains("signed=Valid(\"user=42\")"),
        "{}",
        res.body()
    );
    assert!(
        res.body().contains("private=Valid(\"secret plan\")"),
        "{}",
        res.body()
    );
    let resealed = set_cookies(&res);
    assert_eq!(resealed.len(), 3, "{resealed:?}");
    let new_kid = "v1.bmV3."; // base64url("new")
    assert!(resealed.iter().all(|c| c.contains(new_kid)), "{resealed:?}");

    // Once re-sealed, the old key can go: the browser's cookies still verify.
    let res = browser
        .visit(app(keys(&[("new", 2)])), "https://www.example.com/read")
        .await;
    assert!(res.body().contains("signed=Valid"), "{}", res.body());
    assert!(res.body().contains("private=Valid"), "{}", res.body());
    assert!(set_cookies(&res).is_empty());
}

#[tokio::test]
async fn a_removed_key_no_longer_verifies_and_reads_as_invalid() {
    let mut browser = Browser::new();
    browser
        .visit(app(keys(&[("old", 1)])), "https://www.example.com/set")
        .await;
    let res = browser
        .visit(app(keys(&[("new", 2)])), "https://www.example.com/read")
        .await;
    assert_eq!(res.status(), StatusCode::OK, "never a 500");
    assert!(res.body().contains("signed=Invalid"), "{}", res.body());
    assert!(res.body().contains("private=Invalid"), "{}", res.body());
    assert!(res.body().contains("sid=Invalid"), "{}", res.body());
}

#[tokio::test]
async fn removal_of_a_cookie_that_failed_verification_carries_path_and_domain() {
    let scoped = CookieConfig::builder("scoped-signed")
        .path("/app")
        .domain("example.com")
        .build()
        .unwrap();
    let keys = keys(&[("k", 1)]);
    let svc = ServiceBuilder::new().layer(CookieLayer::new()).service_fn({
        let (scoped, keys) = (scoped.clone(), keys.clone());
        move |req: Request<String>| {
            let (scoped, keys) = (scoped.clone(), keys.clone());
            async move {
                let cookies = Cookies::from_request(&req).unwrap();
                let signed = cookies.signed(&keys);
                assert_eq!(signed.read(&scoped), SealedRead::Invalid);
                signed.remove(&scoped);
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        }
    });
    let req = Request::builder()
        .uri("/app/x")
        .header(COOKIE, "scoped-signed=v1.aw.forged-tag.admin")
        .body(String::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    let [removal] = set_cookies(&res).try_into().unwrap();
    assert!(removal.starts_with("scoped-signed=;"), "{removal}");
    assert!(removal.contains("Path=/app"), "{removal}");
    assert!(removal.contains("Domain=example.com"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
}

#[tokio::test]
async fn a_signed_value_moved_to_another_name_fails() {
    let keys = keys(&[("k", 1)]);
    let signed = CookieConfig::builder("role").build().unwrap();
    let other = CookieConfig::builder("other").build().unwrap();
    let jar = Cookies::from_headers(&http::HeaderMap::new());
    jar.signed(&keys).add(&signed, "admin").unwrap();
    let mut headers = http::HeaderMap::new();
    jar.write_changes(&mut headers);
    let sealed = headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap();
    let value = sealed.strip_prefix("role=").unwrap();

    let mut request = http::HeaderMap::new();
    request.insert(
        COOKIE,
        format!("other={value}; role={value}").parse().unwrap(),
    );
    let next = Cookies::from_headers(&request);
    assert_eq!(next.signed(&keys).read(&other), SealedRead::Invalid);
    assert_eq!(next.signed(&keys).get(&signed).as_deref(), Some("admin"));
}

#[tokio::test]
async fn spoofed_host_prefix_names_are_not_honoured_by_the_layer() {
    let keys = keys(&[("k", 1)]);
    let host = CookieConfig::builder("sid")
        .prefix(CookiePrefix::Host)
        .build()
        .unwrap();
    // A genuinely sealed value for __Host-sid, planted under look-alike names.
    let jar = Cookies::from_headers(&http::HeaderMap::new());
    jar.signed(&keys).add(&host, "attacker-session").unwrap();
    let mut headers = http::HeaderMap::new();
    jar.write_changes(&mut headers);
    let value = headers[SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()["__Host-sid=".len()..]
        .to_owned();

    for planted in [
        format!("__%48ost-sid={value}"),
        format!("\u{2000}__Host-sid={value}"),
        format!("__host-sid={value}"),
    ] {
        let mut request = http::HeaderMap::new();
        request.insert(
            COOKIE,
            http::HeaderValue::from_bytes(planted.as_bytes()).unwrap(),
        );
        let next = Cookies::from_headers(&request);
        assert_eq!(
            next.signed(&keys).read(&host),
            SealedRead::Absent,
            "{planted}"
        );
        assert_eq!(next.get("__Host-sid"), None, "{planted}");
    }
}

#[tokio::test]
async fn nested_layers_share_one_jar_and_write_once() {
    let config = CookieConfig::builder("a").build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(CookieLayer::new())
        .layer(CookieLayer::new())
        .service_fn(move |req: Request<String>| {
            let config = config.clone();
            async move {
                Cookies::from_request(&req)
                    .unwrap()
                    .add(&config, "1")
                    .unwrap();
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        });
    let res = svc.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(
        set_cookies(&res),
        ["a=1; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
}

#[tokio::test]
async fn cookies_are_written_on_error_responses_too() {
    let config = CookieConfig::builder("flash").build().unwrap();
    let svc =
        ServiceBuilder::new()
            .layer(CookieLayer::new())
            .service_fn(move |req: Request<String>| {
                let config = config.clone();
                async move {
                    Cookies::from_request(&req)
                        .unwrap()
                        .add(&config, "oops")
                        .unwrap();
                    let mut res = Response::new(String::new());
                    *res.status_mut() = StatusCode::SEE_OTHER;
                    Ok::<_, Infallible>(res)
                }
            });
    let res = svc.oneshot(Request::new(String::new())).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(set_cookies(&res).len(), 1);
}

fn request(cookie: Option<&str>) -> Request<String> {
    let mut req = Request::builder().uri("/");
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    req.body(String::new()).unwrap()
}

#[tokio::test]
async fn a_handle_from_the_request_reads_its_cookies() {
    let svc = ServiceBuilder::new().layer(CookieLayer::new()).service_fn(
        |req: Request<String>| async move {
            let cookies = Cookies::from_request(&req).unwrap();
            let body = format!("{:?}", cookies.request_cookies());
            Ok::<_, Infallible>(Response::new(body))
        },
    );
    let res = svc.oneshot(request(Some("a=1; b=2"))).await.unwrap();
    assert_eq!(res.body(), r#"[("a", "1"), ("b", "2")]"#);
    assert!(set_cookies(&res).is_empty());
}

#[tokio::test]
async fn a_write_by_a_handler_that_never_read_is_written() {
    let config = CookieConfig::builder("w").build().unwrap();
    let svc =
        ServiceBuilder::new()
            .layer(CookieLayer::new())
            .service_fn(move |req: Request<String>| {
                let config = config.clone();
                async move {
                    // Taken from the parts, written, never read.
                    let (parts, _) = req.into_parts();
                    Cookies::from_parts(&parts)
                        .unwrap()
                        .add(&config, "1")
                        .unwrap();
                    Ok::<_, Infallible>(Response::new(String::new()))
                }
            });
    let res = svc.oneshot(request(Some("w=0"))).await.unwrap();
    assert_eq!(
        set_cookies(&res),
        ["w=1; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
}

#[tokio::test]
async fn two_handles_bind_once_and_share_the_jar() {
    let config = CookieConfig::builder("b").build().unwrap();
    let svc = ServiceBuilder::new().layer(CookieLayer::new()).service_fn(
        move |mut req: Request<String>| {
            let config = config.clone();
            async move {
                let first = Cookies::from_request(&req).unwrap();
                // Changed after the first binding: not what the jar reads.
                req.headers_mut()
                    .insert(COOKIE, "a=changed; c=3".parse().unwrap());
                let second = Cookies::from_request(&req).unwrap();
                assert_eq!(second.get("a").as_deref(), Some("1"));
                assert_eq!(second.get("c"), None);
                assert_eq!(first.get("a").as_deref(), Some("1"));
                second.add(&config, "2").unwrap();
                assert_eq!(first.get("b").as_deref(), Some("2"));
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        },
    );
    let res = svc.oneshot(request(Some("a=1"))).await.unwrap();
    assert_eq!(
        set_cookies(&res),
        ["b=2; HttpOnly; SameSite=Lax; Secure; Path=/"]
    );
}

#[test]
fn from_request_without_the_layer_is_none() {
    let req = request(Some("a=1"));
    assert!(Cookies::from_request(&req).is_none());
    let (parts, _) = req.into_parts();
    assert!(Cookies::from_parts(&parts).is_none());
    // A jar inserted by hand is not the layer's either.
    let mut req = request(Some("a=1"));
    req.extensions_mut()
        .insert(Cookies::from_headers(&http::HeaderMap::new()));
    assert!(Cookies::from_request(&req).is_none());
}

#[tokio::test]
async fn a_nested_layer_keeps_the_outer_jar() {
    let outer_def = CookieConfig::builder("outer").build().unwrap();
    let inner_def = CookieConfig::builder("inner").build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(CookieLayer::new())
        // Between the layers: binds the outer jar and writes to it before any read.
        .map_request(move |req: Request<String>| {
            Cookies::from_request(&req)
                .unwrap()
                .add(&outer_def, "o")
                .unwrap();
            req
        })
        .layer(CookieLayer::new())
        .service_fn(move |req: Request<String>| {
            let inner_def = inner_def.clone();
            async move {
                let cookies = Cookies::from_request(&req).unwrap();
                // The outer layer's jar: its pending change and its binding.
                assert_eq!(cookies.get("outer").as_deref(), Some("o"));
                assert_eq!(cookies.get("a").as_deref(), Some("1"));
                cookies.add(&inner_def, "i").unwrap();
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        });
    let res = svc.oneshot(request(Some("a=1"))).await.unwrap();
    assert_eq!(
        set_cookies(&res),
        [
            "outer=o; HttpOnly; SameSite=Lax; Secure; Path=/",
            "inner=i; HttpOnly; SameSite=Lax; Secure; Path=/"
        ]
    );
}

mod axum_extractor {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use http_body_util::BodyExt;

    use super::*;

    async fn handler(cookies: Cookies) -> String {
        cookies.get("a").unwrap_or_default()
    }

    #[tokio::test]
    async fn the_extractor_reads_the_jar_and_is_500_without_the_layer() {
        let app = Router::new().route("/", get(handler));
        let req = || {
            Request::builder()
                .uri("/")
                .header(COOKIE, "a=1")
                .body(Body::empty())
                .unwrap()
        };
        let res = app
            .clone()
            .layer(CookieLayer::new())
            .oneshot(req())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.into_body().collect().await.unwrap().to_bytes(), "1");

        let res = app.oneshot(req()).await.unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains("CookieLayer"));
    }
}
