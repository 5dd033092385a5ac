//! The session and JWT layers on a bare hyper 1.x server: no axum, only tower.
//!
//! - `GET /visits` counts visits in a cookie session;
//! - `GET /whoami` answers with the bearer token's subject, or the session's, or 401.
//!
//! `cargo run -p hyper-only`, then `curl -i 127.0.0.1:3002/visits` (the program prints a
//! token to try `/whoami` with).

#![allow(clippy::print_stdout)]

use std::convert::Infallible;

use auth_cookie::CookieKeys;
use auth_core::{Identity, KeyId, KeyRing, LazyIdentity, SecretKey};
use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey};
use auth_session::{MemoryStore, Session, SessionLayer};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::ServiceBuilder;
use tower::util::BoxCloneService;

type Body = Full<Bytes>;

/// The app, type-erased.
pub type App<B> = BoxCloneService<Request<B>, Response<Body>, Infallible>;

/// The whole app as a tower service over any request body.
pub fn service<B: Send + 'static>(issuer: &Issuer) -> Result<App<B>, Box<dyn std::error::Error>> {
    let sessions = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    let jwt = JwtLayer::builder(issuer.trusted()?).optional().build()?;
    let svc = ServiceBuilder::new()
        .layer(sessions)
        .layer(jwt)
        .service_fn(handle::<B>);
    Ok(BoxCloneService::new(svc))
}

async fn handle<B>(req: Request<B>) -> Result<Response<Body>, Infallible> {
    let text = |status: StatusCode, body: String| {
        let mut res = Response::new(Full::new(Bytes::from(body)));
        *res.status_mut() = status;
        res
    };
    match req.uri().path() {
        "/visits" => {
            let Some(session) = Session::from_request(&req) else {
                return Ok(text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "no session layer".into(),
                ));
            };
            let visits: u64 = match session.get("visits").await {
                Ok(v) => v.unwrap_or(0) + 1,
                Err(e) => return Ok(text(e.status(), String::new())),
            };
            if let Err(e) = session.insert("visits", &visits).await {
                return Ok(text(e.status(), String::new()));
            }
            Ok(text(StatusCode::OK, format!("visit {visits}")))
        }
        "/whoami" => {
            // A bearer token's identity is already there; a session's is resolved on demand.
            let identity = match req.extensions().get::<Identity>() {
                Some(id) => Some(id.clone()),
                None => match req.extensions().get::<LazyIdentity>() {
                    Some(lazy) => match lazy.resolve().await {
                        Ok(id) => id,
                        Err(_) => return Ok(text(StatusCode::SERVICE_UNAVAILABLE, String::new())),
                    },
                    None => None,
                },
            };
            Ok(match identity {
                Some(id) => text(
                    StatusCode::OK,
                    format!("{} via {}", id.subject(), id.method()),
                ),
                None => text(StatusCode::UNAUTHORIZED, String::new()),
            })
        }
        _ => Ok(text(StatusCode::NOT_FOUND, String::new())),
    }
}

/// An HMAC issuer for the example.
pub fn issuer() -> Result<Issuer, Box<dyn std::error::Error>> {
    let key = SigningKey::hmac(Algorithm::HS256, SecretKey::generate(32)?)?;
    Ok(Issuer::new(
        KeyRing::new(KeyId::new("k1")?, key),
        "hyper-only",
        "api",
    )?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = issuer()?;
    println!(
        "try: curl -H 'authorization: Bearer {}' 127.0.0.1:3002/whoami",
        issuer.mint("carol")?
    );
    let svc = service::<hyper::body::Incoming>(&issuer)?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002").await?;
    println!("hyper-only listening on http://127.0.0.1:3002");
    loop {
        let (stream, _) = listener.accept().await?;
        let svc = hyper_util::service::TowerToHyperService::new(svc.clone());
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use http::header;
    use tower::ServiceExt;

    use super::*;

    fn request(path: &str, headers: &[(http::HeaderName, String)]) -> Request<Body> {
        let mut req = Request::get(path);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        req.body(Full::new(Bytes::new())).unwrap()
    }

    #[tokio::test]
    async fn sessions_and_tokens_work_without_axum() {
        let issuer = issuer().unwrap();
        let svc = service::<Body>(&issuer).unwrap();

        let res = svc.clone().oneshot(request("/visits", &[])).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let cookie = res.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let res = svc
            .clone()
            .oneshot(request("/visits", &[(header::COOKIE, cookie)]))
            .await
            .unwrap();
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, "visit 2");

        let res = svc.clone().oneshot(request("/whoami", &[])).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let token = issuer.mint("carol").unwrap();
        let res = svc
            .oneshot(request(
                "/whoami",
                &[(header::AUTHORIZATION, format!("Bearer {token}"))],
            ))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(body, "carol via jwt");
    }
}
