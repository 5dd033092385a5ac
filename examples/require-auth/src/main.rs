//! Role and scope guards on an axum router, driven in-process: no socket, no external server.
//!
//! Run it with `cargo run -p require-auth`. It builds a router with public, user, admin and
//! scope-guarded routes, sends requests as different identities, and prints the status codes.
//!
//! The identity comes from a stand-in authenticator that trusts an `x-demo-user` header.
//! **Never do that in an application**: in real code the identity comes from
//! `auth_session::SessionLayer` or `auth_jwt::JwtLayer`. The guards do not care which.

#![allow(clippy::print_stdout)]

use auth_core::{AuthLayerMarker, AuthMethod, Identity, RequireAuthLayer};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use http::{Request, StatusCode};
use tower::ServiceExt;
use tower::util::MapRequestLayer;

/// Stand-in authentication for this example only (see the module docs).
fn demo_authenticator(mut req: Request<Body>) -> Request<Body> {
    req.extensions_mut()
        .insert(AuthLayerMarker::new("demo_authenticator"));
    let user = req
        .headers()
        .get("x-demo-user")
        .and_then(|v| v.to_str().ok());
    let identity = match user {
        Some("alice") => Some(
            Identity::builder("alice", AuthMethod::Session)
                .role("user")
                .build(),
        ),
        Some("bob") => Some(
            Identity::builder("bob", AuthMethod::Session)
                .roles(["user", "admin"])
                .build(),
        ),
        Some("reporting-bot") => Some(
            Identity::builder("reporting-bot", AuthMethod::Jwt)
                .scope("reports:read")
                .build(),
        ),
        _ => None,
    };
    if let Some(identity) = identity {
        req.extensions_mut().insert(identity);
    }
    req
}

async fn public(identity: Option<Identity>) -> String {
    match identity {
        Some(id) => format!("hello, {}", id.subject()),
        None => "hello, stranger".to_owned(),
    }
}

async fn me(identity: Identity) -> String {
    format!("{} ({})", identity.subject(), identity.method())
}

fn app() -> Router {
    let users = Router::new()
        .route("/me", get(me))
        .route_layer(RequireAuthLayer::authenticated());
    let admins = Router::new()
        .route("/admin", get(me))
        .route_layer(RequireAuthLayer::role("admin"));
    let reports = Router::new()
        .route("/reports", get(me))
        .route_layer(RequireAuthLayer::scope("reports:read"));
    Router::new()
        .route("/", get(public))
        .merge(users)
        .merge(admins)
        .merge(reports)
        .layer(MapRequestLayer::new(demo_authenticator))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = app();
    println!("{:<10} {:<15} status", "path", "as");
    let mut failures = 0;
    for (path, user, expected) in [
        ("/", None, StatusCode::OK),
        ("/me", None, StatusCode::UNAUTHORIZED),
        ("/me", Some("alice"), StatusCode::OK),
        ("/admin", Some("alice"), StatusCode::FORBIDDEN),
        ("/admin", Some("bob"), StatusCode::OK),
        ("/reports", Some("bob"), StatusCode::FORBIDDEN),
        ("/reports", Some("reporting-bot"), StatusCode::OK),
    ] {
        let mut req = Request::get(path);
        if let Some(user) = user {
            req = req.header("x-demo-user", user);
        }
        let res = app.clone().oneshot(req.body(Body::empty())?).await?;
        let mark = if res.status() == expected {
            ""
        } else {
            failures += 1;
            "  <- unexpected"
        };
        println!(
            "{path:<10} {:<15} {}{mark}",
            user.unwrap_or("(anonymous)"),
            res.status()
        );
    }
    if failures > 0 {
        return Err(format!("{failures} unexpected status codes").into());
    }
    Ok(())
}
