use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use std::marker::PhantomData;

use super::decision::Policy;
use super::form::HeaderOnly;
use super::{CsrfBinding, CsrfLayer, CsrfRejection, CsrfRejectionResponse, ResponseFuture};

/// The service built by [`CsrfLayer`]. `M` is [`HeaderOnly`] (the default) or
/// [`FormField`](super::FormField).
#[derive(Debug, Clone)]
#[must_use]
pub struct Csrf<S, R, M = HeaderOnly> {
    pub(super) inner: S,
    pub(super) policy: Arc<Policy>,
    pub(super) rejection: R,
    mode: PhantomData<M>,
}

impl<S, R, M> Csrf<S, R, M> {
    pub(super) fn from_parts(inner: S, policy: Arc<Policy>, rejection: R) -> Self {
        Self {
            inner,
            policy,
            rejection,
            mode: PhantomData,
        }
    }

    /// Wraps `inner` with the default check ([`CsrfLayer::new`]).
    pub fn new(inner: S) -> Csrf<S, super::DefaultCsrfRejection> {
        Csrf::from_parts(inner, Arc::default(), super::DefaultCsrfRejection)
    }

    /// A [`CsrfLayer`] with default settings.
    pub fn layer() -> CsrfLayer {
        CsrfLayer::new()
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

impl<S, R, M> Csrf<S, R, M> {
    /// Turns a decision into the inner call or the rejection response.
    pub(super) fn decided<ReqBody, ResBody>(
        &mut self,
        req: Request<ReqBody>,
        decision: Result<super::decision::Pass, super::CsrfRejectionKind>,
    ) -> ResponseFuture<S::Future, ResBody>
    where
        S: Service<Request<ReqBody>, Response = Response<ResBody>>,
        R: CsrfRejectionResponse<ResBody>,
    {
        match decision {
            Ok(_) => ResponseFuture::future(self.inner.call(req)),
            Err(kind) => {
                let rejection = CsrfRejection::new(kind);
                tracing::info!(
                    method = %req.method(),
                    path = req.uri().path(),
                    reason = %rejection,
                    "CSRF check refused the request"
                );
                let mut res = self.rejection.response(&rejection);
                res.extensions_mut().insert(rejection);
                ResponseFuture::rejected(res)
            }
        }
    }
}

impl<S, R, ReqBody, ResBody> Service<Request<ReqBody>> for Csrf<S, R, HeaderOnly>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    R: CsrfRejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let binding = req.extensions().get::<CsrfBinding>().map(|b| b.0.as_str());
        let decision = self
            .policy
            .decide(req.method(), req.uri(), req.headers(), binding);
        self.decided(req, decision)
    }
}
