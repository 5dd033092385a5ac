//! The `JwtAuth` service.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::AuthLayerMarker;
use http::{Request, Response};
use serde::de::DeserializeOwned;
use tower_service::Service;

use super::config::Config;
use super::future::{Pending, ResponseFuture};
use super::verify::{Failure, Verified};
use super::{DefaultRejection, JwtLayer, JwtRejection, JwtRejectionKind, RejectionResponse};
use crate::keyset::KeyWait;
use crate::revocation::LogoutSlot;
use crate::source::Found;

/// The service built by [`JwtLayer`]: verifies the token, then calls the inner service or
/// answers with a rejection.
#[must_use]
pub struct JwtAuth<S, C = (), R = DefaultRejection> {
    inner: S,
    config: Arc<Config>,
    rejection: R,
    _claims: PhantomData<fn() -> C>,
}

impl<S, C, R> JwtAuth<S, C, R> {
    /// Wraps `inner` with the configuration of `layer`.
    pub fn new(inner: S, layer: JwtLayer<C, R>) -> Self {
        Self {
            inner,
            config: layer.config,
            rejection: layer.rejection,
            _claims: PhantomData,
        }
    }

    /// The layer that builds this service; the same as `layer` itself.
    pub fn layer(layer: JwtLayer<C, R>) -> JwtLayer<C, R> {
        layer
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

impl<S: Clone, C, R: Clone> Clone for JwtAuth<S, C, R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: Arc::clone(&self.config),
            rejection: self.rejection.clone(),
            _claims: PhantomData,
        }
    }
}

impl<S: fmt::Debug, C, R> fmt::Debug for JwtAuth<S, C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtAuth")
            .field("inner", &self.inner)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, C, R, ReqBody, ResBody> Service<Request<ReqBody>> for JwtAuth<S, C, R>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    C: DeserializeOwned + Clone + Send + Sync + 'static,
    R: RejectionResponse<ResBody>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, C, R>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        // Take the service that was driven to readiness; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // The request stays here (verified in place): only the verdict moves.
        match authenticate::<C, _>(&self.config, &mut req, true) {
            Step::Call => ResponseFuture::future(inner.call(req)),
            Step::Reject(kind) => {
                ResponseFuture::rejected(reject(&self.config, &self.rejection, kind))
            }
            Step::Wait(wait) => ResponseFuture::waiting(
                wait,
                Pending {
                    service: inner,
                    request: req,
                    config: Arc::clone(&self.config),
                    rejection: self.rejection.clone(),
                    claims: PhantomData,
                },
            ),
        }
    }
}

/// What to do with a request.
pub(super) enum Step {
    /// Call the inner service (claims and identity, or the marker, are in the extensions).
    Call,
    Reject(JwtRejectionKind),
    /// Park the request until the keys are refetched, then authenticate again.
    #[cfg_attr(not(feature = "jwks"), allow(dead_code))]
    Wait(KeyWait),
}

/// Marks the request, finds and verifies its token, and inserts the claims and identity.
pub(super) fn authenticate<C, B>(config: &Config, req: &mut Request<B>, allow_wait: bool) -> Step
where
    C: DeserializeOwned + Clone + Send + Sync + 'static,
{
    let verdict = match config.source.find(req) {
        Found::Missing if config.optional => {
            // No identity: the marker tells extractors the layer ran (401, not a wiring 500).
            req.extensions_mut()
                .insert(AuthLayerMarker::new("JwtLayer"));
            return Step::Call;
        }
        Found::Missing => Err(Failure::Reject(JwtRejectionKind::Missing)),
        Found::Malformed => Err(Failure::Reject(JwtRejectionKind::Malformed)),
        Found::Borrowed(token) => config.verify::<C>(token, allow_wait),
        Found::Owned(token) => config.verify::<C>(token.as_bytes(), allow_wait),
    };
    match verdict {
        Ok(Verified {
            claims,
            identity,
            entry,
        }) => {
            if let Some(revocation) = &config.revocation {
                req.extensions_mut()
                    .insert(LogoutSlot::new::<C>(&revocation.logout, entry));
            }
            req.extensions_mut().insert(claims);
            req.extensions_mut().insert(identity);
            Step::Call
        }
        Err(Failure::Reject(kind)) => Step::Reject(kind),
        #[cfg(feature = "jwks")]
        Err(Failure::Wait(wait)) => Step::Wait(wait),
    }
}

/// Builds the rejection response, with the [`JwtRejection`] in its extensions.
pub(super) fn reject<R, B>(config: &Config, rejection: &R, kind: JwtRejectionKind) -> Response<B>
where
    R: RejectionResponse<B>,
{
    tracing::debug!(reason = kind.as_str(), "bearer token rejected");
    let rejection_value = JwtRejection::new(kind, &config.challenges);
    let mut response = rejection.response(&rejection_value);
    response.extensions_mut().insert(rejection_value);
    response
}
