//! The `RequireAuth` service.

use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::future::RequireAuthFuture;
use super::{AuthPredicate, AuthRejection, RejectionResponse, RequireAuthLayer};
use crate::{Identity, LazyIdentity};

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

/// Checks `identity` against `predicate`.
pub(super) fn authorize<P: AuthPredicate>(
    predicate: &P,
    identity: Option<&Identity>,
) -> Result<(), AuthRejection> {
    match identity {
        None => Err(AuthRejection::unauthenticated()),
        Some(identity) => predicate
            .check(identity)
            .map_err(|missing| AuthRejection::forbidden(missing, identity.method().clone())),
    }
}

pub(super) fn reject<B, R: RejectionResponse<B>>(rejection: &R, why: AuthRejection) -> Response<B> {
    let mut response = rejection.response(&why);
    response.extensions_mut().insert(why);
    response
}

impl<S, P, R, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuth<S, P, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    P: AuthPredicate,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireAuthFuture<S, ReqBody, ResBody, P, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let identity = req.extensions().get::<Identity>();
        if identity.is_none()
            && let Some(lazy) = req.extensions().get::<LazyIdentity>()
        {
            // The identity needs I/O (a session store read): resolve it, then decide. The
            // ready inner service goes with the future (tower's "clone, then swap" rule).
            let resolve = Box::pin(lazy.resolve());
            let clone = self.inner.clone();
            let inner = std::mem::replace(&mut self.inner, clone);
            return RequireAuthFuture::resolving(
                resolve,
                req,
                inner,
                self.predicate.clone(),
                self.rejection.clone(),
            );
        }
        match authorize(&self.predicate, identity) {
            Ok(()) => RequireAuthFuture::future(self.inner.call(req)),
            Err(why) => RequireAuthFuture::rejected(reject(&self.rejection, why)),
        }
    }
}
