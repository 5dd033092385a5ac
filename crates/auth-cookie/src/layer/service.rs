use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{CookieLayer, ResponseFuture};
use crate::Cookies;

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
        // One map operation on the usual path: insert, and look at what was there.
        let cookies = Cookies::from_headers(req.headers());
        let writer = match req.extensions_mut().insert(cookies.clone()) {
            None => Some(cookies),
            Some(outer) => {
                // An outer CookieLayer owns the jar and writes it: put it back.
                req.extensions_mut().insert(outer);
                cookies.recycle();
                None
            }
        };
        ResponseFuture::new(self.inner.call(req), writer)
    }
}
