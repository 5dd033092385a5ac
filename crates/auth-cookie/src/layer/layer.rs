use tower_layer::Layer;

use super::CookieManager;

/// A [`Layer`] that gives every request a [`Cookies`](crate::Cookies) jar and writes the jar's
/// changes to the response as `Set-Cookie` headers.
///
/// Inner services get a handle to the jar with
/// [`Cookies::from_request`](crate::Cookies::from_request) or
/// [`Cookies::from_parts`](crate::Cookies::from_parts) (or the axum extractor, feature `axum`);
/// the jar kept in the request extensions is private, so a handle always comes through them.
/// The first handle binds the jar to the request's `Cookie` headers *as they are then* (a
/// layer between this one and the first handle that rewrites or strips `Cookie` changes what
/// the jar reads; `auth_session::SessionLayer` takes a handle in its own `call`), and the
/// headers are only parsed when something reads a cookie, so on routes that touch no cookie
/// the layer costs one small allocation and a flag check. Changes are written on every response the inner
/// service returns, error pages and redirects included. If an outer `CookieLayer` already
/// gave the request a jar, this one keeps it and leaves the writing to the outer one.
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use auth_cookie::{CookieConfig, CookieLayer, Cookies};
/// use http::{Request, Response, header};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let visits = CookieConfig::builder("visits").build()?;
/// let svc = ServiceBuilder::new()
///     .layer(CookieLayer::new())
///     .service_fn(move |req: Request<String>| {
///         let visits = visits.clone();
///         async move {
///             let cookies = Cookies::from_request(&req).expect("CookieLayer");
///             let n: u32 = cookies.get("visits").and_then(|v| v.parse().ok()).unwrap_or(0);
///             cookies.add(&visits, &(n + 1).to_string()).ok();
///             Ok::<_, Infallible>(Response::new(format!("visit {}", n + 1)))
///         }
///     });
///
/// let req = Request::builder().header(header::COOKIE, "visits=41").body(String::new())?;
/// let res = svc.oneshot(req).await?;
/// assert_eq!(res.body(), "visit 42");
/// assert_eq!(res.headers()[header::SET_COOKIE], "visits=42; HttpOnly; SameSite=Lax; Secure; Path=/");
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct CookieLayer {
    _private: (),
}

impl CookieLayer {
    /// A cookie layer.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for CookieLayer {
    type Service = CookieManager<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CookieManager::new(inner)
    }
}
