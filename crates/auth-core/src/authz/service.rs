//! The `RequireAuth` service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::{AuthPredicate, AuthRejection, RejectionResponse, RequireAuthLayer, ResponseFuture};
use crate::Identity;

/// The service built by [`RequireAuthLayer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireAuth<S, P, R> {
    inner: S,
    predicate: P,
    rejection: R,
}

impl<S, P, R> RequireAuth<S, P, R> {
    /// Wraps `inner`.
    pub fn new(inner: S, predicate: P, rejection: R) -> Self {
        Self {
            inner,
            predicate,
            rejection,
        }
    }

    /// A layer that wraps services with this predicate and rejection.
    pub fn layer(predicate: P, rejection: R) -> RequireAuthLayer<P, R> {
        RequireAuthLayer {
            predicate,
            rejection,
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

impl<S, P, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuth<S, P, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    P: AuthPredicate,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let verdict = match req.extensions().get::<Identity>() {
            None => Err(AuthRejection::unauthenticated()),
            Some(identity) => self
                .predicate
                .check(identity)
                .map_err(|missing| AuthRejection::forbidden(missing, identity.method().clone())),
        };
        match verdict {
            Ok(()) => ResponseFuture::future(self.inner.call(req)),
            Err(rejection) => {
                let mut response = self.rejection.response(&rejection);
                response.extensions_mut().insert(rejection);
                ResponseFuture::rejected(response)
            }
        }
    }
}
