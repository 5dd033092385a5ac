//! The floor under the untouched-request benchmarks: the cheapest layer we know that does
//! what the cookie and session layers must do on a request whose handler ignores them.
//!
//! Both layers must place per-request state in the request's extensions (auth-cookie's jar,
//! auth-session's session, reached through its `LazyIdentity`) that every handle the handler
//! takes shares, and must find out after the inner service whether the handler changed
//! anything. [`HandleLayer`] does exactly that and nothing else: one `Arc<AtomicBool>` per
//! request, a clone of it inserted into the extensions, the flag read when the response comes
//! back. It parses no header, has no configuration and writes nothing.
//!
//! It is a reference point, not a proof of a lower bound: the one alternative measured, a
//! thread-local pool of handles instead of an allocation per request (auth-cookie's design
//! before this floor existed), costs more in wall time (its `Arc::get_mut` checks are atomic
//! operations; an allocation of a few bytes is not). What no such layer avoids is what the
//! `noop-layer` rows show for `Router::layer` (axum boxes the layered route again) plus one
//! extensions insert. Benchmarks run it as a `floor` row beside `ours` and the peer, in the
//! same run.
//!
//! ```
//! use auth_tests::floor::{Handle, HandleLayer};
//! use axum::{Router, routing::get};
//! use axum::extract::Request;
//!
//! let app: Router = Router::new()
//!     .route("/", get(|req: Request| async move {
//!         // The handle a real layer would give the handler.
//!         assert!(req.extensions().get::<Handle>().is_some());
//!         "ok"
//!     }))
//!     .layer(HandleLayer);
//! # let _ = app;
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use http::Request;
use pin_project_lite::pin_project;
use tower::{Layer, Service};

/// The shared per-request handle [`HandleLayer`] inserts: a "changed" flag.
#[derive(Debug, Clone, Default)]
pub struct Handle(Arc<AtomicBool>);

impl Handle {
    /// Marks the request's handle as changed, as a handler writing a cookie would.
    pub fn mark_changed(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Adds [`HandleService`]: the floor layer (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct HandleLayer;

impl<S> Layer<S> for HandleLayer {
    type Service = HandleService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HandleService { inner }
    }
}

/// The service of [`HandleLayer`].
#[derive(Debug, Clone)]
pub struct HandleService<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for HandleService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = HandleFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let handle = Handle::default();
        req.extensions_mut().insert(handle.clone());
        HandleFuture {
            future: self.inner.call(req),
            handle,
        }
    }
}

pin_project! {
    /// The response future of [`HandleService`]: reads the flag once the response is ready.
    #[derive(Debug)]
    pub struct HandleFuture<F> {
        #[pin]
        future: F,
        handle: Handle,
    }
}

impl<F: Future> Future for HandleFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let output = ready!(this.future.poll(cx));
        // What a real layer branches on: whether to write anything to the response.
        std::hint::black_box(this.handle.0.load(Ordering::Acquire));
        Poll::Ready(output)
    }
}

/// The zero-sized value [`insert_marker`] puts in the extensions.
#[derive(Debug, Clone, Copy, Default)]
pub struct Marker;

/// Inserts a zero-sized [`Marker`] into the request: with
/// `tower::util::MapRequestLayer::new(insert_marker)` (the `noop-layer` rows' layer, with
/// this one insert), a layer that puts a value in the extensions and does nothing else: no
/// allocation for the value, no shared state, no response future of its own. What putting
/// *anything* in the extensions costs, below any layer that gives a handler a handle.
///
/// ```
/// use auth_tests::floor::{Marker, insert_marker};
/// use axum::{Router, routing::get};
/// use axum::body::Body;
/// use axum::extract::Request;
/// use tower::util::MapRequestLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|req: Request| async move {
///         assert!(req.extensions().get::<Marker>().is_some());
///         "ok"
///     }))
///     .layer(MapRequestLayer::new(insert_marker::<Body>));
/// # let _ = app;
/// ```
pub fn insert_marker<B>(mut req: Request<B>) -> Request<B> {
    req.extensions_mut().insert(Marker);
    req
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request as AxumRequest;
    use axum::routing::get;
    use tower::ServiceExt;

    /// The body `app` answers `GET /` with.
    async fn body_of(app: Router) -> bytes::Bytes {
        let res = app
            .oneshot(Request::builder().uri("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes()
    }

    #[tokio::test]
    async fn the_handler_sees_the_marker() {
        let app = Router::new()
            .route(
                "/",
                get(|req: AxumRequest| async move {
                    if req.extensions().get::<Marker>().is_some() {
                        "marker"
                    } else {
                        "none"
                    }
                }),
            )
            .layer(tower::util::MapRequestLayer::new(insert_marker::<Body>));
        assert_eq!(&body_of(app).await[..], b"marker");
    }

    #[tokio::test]
    async fn the_handler_sees_the_handle() {
        let app = Router::new()
            .route(
                "/",
                get(|req: AxumRequest| async move {
                    let handle = req.extensions().get::<Handle>().cloned();
                    handle.as_ref().map(Handle::mark_changed);
                    if handle.is_some() { "handle" } else { "none" }
                }),
            )
            .layer(HandleLayer);
        assert_eq!(&body_of(app).await[..], b"handle");
    }
}
