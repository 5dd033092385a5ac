use std::sync::Arc;
use std::task::{Context, Poll};

use auth_cookie::Cookies;
use auth_core::LazyIdentity;
use http::{Request, Response};
use tower_service::Service;

use super::ResponseFuture;
use crate::Session;
use crate::config::Config;

/// The service built by [`SessionLayer`](super::SessionLayer).
#[derive(Debug, Clone)]
#[must_use]
pub struct SessionManager<S, R> {
    inner: S,
    config: Arc<Config>,
    unavailable: R,
}

impl<S, R> SessionManager<S, R> {
    pub(super) fn from_parts(inner: S, config: Arc<Config>, unavailable: R) -> Self {
        Self {
            inner,
            config,
            unavailable,
        }
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

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for SessionManager<S, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: crate::UnavailableResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let session = Session::new(&self.config, req.headers());
        let jar = Cookies::from_request(&req);
        // One extension for both: `Session::from_extensions` finds the handle through the
        // `LazyIdentity` (its resolver is the session's state).
        req.extensions_mut()
            .insert(LazyIdentity::from_arc(session.inner.clone()));
        ResponseFuture::new(self.inner.call(req), session, jar, self.unavailable.clone())
    }
}
