use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{CookieLayer, ResponseFuture};
use crate::jar::RequestJar;

/// The service built by [`CookieLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CookieManager<S> {
    inner: S,
}

impl<S> CookieManager<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> Self {
        Self { inner }
    }

    /// A [`CookieLayer`].
    pub fn layer() -> CookieLayer {
        CookieLayer::new()
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CookieManager<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // A small fresh jar, bound to the request's `Cookie` headers only when a handle is
        // first taken (`Cookies::from_request`): an untouched request pays an allocation, one
        // reference-count increment and two decrements, like any shared flag would. One map
        // operation on the usual path: insert, and look at what was there.
        let jar = RequestJar::new();
        let writer = match req.extensions_mut().insert(jar.clone()) {
            None => Some(jar),
            Some(outer) => {
                // An outer CookieLayer owns the jar and writes it: put it back.
                req.extensions_mut().insert(outer);
                None
            }
        };
        ResponseFuture::new(self.inner.call(req), writer)
    }
}
