//! Quick start: per-route authentication on one axum router.
//!
//! - `/` is public;
//! - `/login` and `/logout` use a cookie session; `/account` needs a logged-in session user;
//! - `/api/orders` needs a bearer JWT with scope `orders:read`;
//! - `/admin` needs role `admin`, whether the user came with a session or a token.
//!
//! `cargo run -p per-route`, then `curl -i -X POST 127.0.0.1:3001/login` and so on.

#![allow(clippy::print_stdout)]

use auth_cookie::CookieKeys;
use auth_core::{AuthMethod, Identity, KeyId, KeyRing, RequireAuthLayer, SecretKey};
use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey};
use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
use axum::Router;
use axum::routing::{get, post};

/// The app; `issuer` mints the tokens the JWT routes accept.
pub fn app(issuer: &Issuer) -> Result<Router, Box<dyn std::error::Error>> {
    let sessions = SessionLayer::new(MemoryStore::new(), CookieKeys::generate()?);
    let jwt = JwtLayer::builder(issuer.trusted()?)
        .optional() // a route guard decides; requests without a token fall back to the session
        .build()?;

    Ok(Router::new()
        .route("/", get(|| async { "public" }))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route(
            "/account",
            get(|id: Identity| async move { format!("account of {}", id.subject()) }).route_layer(
                RequireAuthLayer::predicate(|id: &Identity| *id.method() == AuthMethod::Session),
            ),
        )
        .route(
            "/api/orders",
            get(|| async { "orders" }).route_layer(RequireAuthLayer::scope("orders:read")),
        )
        .route(
            "/admin",
            get(|id: Identity| async move { format!("admin {}", id.subject()) })
                .route_layer(RequireAuthLayer::role("admin")),
        )
        .layer(jwt)
        .layer(sessions))
}

async fn login(session: Session) -> Result<&'static str, SessionError> {
    // A real app checks credentials here.
    let identity = Identity::builder("alice", AuthMethod::Session)
        .role("admin")
        .build();
    session.login(&identity).await?;
    Ok("logged in")
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.logout().await?;
    Ok("logged out")
}

/// An HMAC issuer for the example (use asymmetric keys across services).
pub fn issuer() -> Result<Issuer, Box<dyn std::error::Error>> {
    let key = SigningKey::hmac(Algorithm::HS256, SecretKey::generate(32)?)?;
    Ok(Issuer::new(
        KeyRing::new(KeyId::new("k1")?, key),
        "per-route",
        "api",
    )?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = issuer()?;
    println!(
        "a token with scope orders:read: {}",
        issuer.mint_with("svc", &serde_scope())?
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("per-route listening on http://127.0.0.1:3001");
    axum::serve(listener, app(&issuer)?).await?;
    Ok(())
}

/// `{"scope": "orders:read"}`.
fn serde_scope() -> std::collections::BTreeMap<&'static str, &'static str> {
    std::collections::BTreeMap::from([("scope", "orders:read")])
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use http::{Request, StatusCode, header};
    use tower::ServiceExt;

    use super::*;

    async fn status(
        app: &Router,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Option<String>) {
        let mut req = Request::builder().method(method).uri(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = app
            .clone()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cookie = res
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (res.status(), cookie)
    }

    #[tokio::test]
    async fn each_route_uses_its_own_rule() {
        let issuer = issuer().unwrap();
        let app = app(&issuer).unwrap();
        assert_eq!(status(&app, "GET", "/", &[]).await.0, StatusCode::OK);
        assert_eq!(
            status(&app, "GET", "/account", &[]).await.0,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(&app, "GET", "/api/orders", &[]).await.0,
            StatusCode::UNAUTHORIZED
        );

        let (_, cookie) = status(&app, "POST", "/login", &[]).await;
        let cookie = cookie.unwrap();
        let with_cookie = [("cookie", cookie.as_str())];
        assert_eq!(
            status(&app, "GET", "/account", &with_cookie).await.0,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, "GET", "/admin", &with_cookie).await.0,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, "GET", "/api/orders", &with_cookie).await.0,
            StatusCode::FORBIDDEN
        );

        let token = issuer.mint_with("svc", &serde_scope()).unwrap();
        let bearer = format!("Bearer {token}");
        let with_token = [("authorization", bearer.as_str())];
        assert_eq!(
            status(&app, "GET", "/api/orders", &with_token).await.0,
            StatusCode::OK
        );
        assert_eq!(
            status(&app, "GET", "/account", &with_token).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status(&app, "GET", "/admin", &with_token).await.0,
            StatusCode::FORBIDDEN
        );
    }
}
