//! The `JwtLayer`.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use tower_layer::Layer;

use super::config::{Config, JwtLayerBuilder};
use super::{DefaultRejection, JwtAuth};
use crate::TrustedIssuer;

/// A [`Layer`] that verifies bearer JWTs and inserts [`Claims<C>`](auth_core::Claims) and an
/// [`Identity`](auth_core::Identity) into the request extensions.
///
/// See the [module documentation](crate#example) for the full picture; build one with
/// [`JwtLayer::builder`].
#[must_use]
pub struct JwtLayer<C = (), R = DefaultRejection> {
    pub(super) config: Arc<Config>,
    pub(super) rejection: R,
    _claims: PhantomData<fn() -> C>,
}

impl JwtLayer {
    /// Starts configuring a layer that trusts `issuer` (more with
    /// [`add_issuer`](JwtLayerBuilder::add_issuer)).
    pub fn builder(issuer: TrustedIssuer) -> JwtLayerBuilder<()> {
        JwtLayerBuilder::new(issuer)
    }
}

impl<C> JwtLayer<C, DefaultRejection> {
    pub(super) fn from_config(config: Arc<Config>) -> Self {
        Self {
            config,
            rejection: DefaultRejection,
            _claims: PhantomData,
        }
    }
}

impl<C, R> JwtLayer<C, R> {
    /// Builds rejection responses with `rejection` (a [`RejectionResponse`](crate::RejectionResponse),
    /// for example a closure) instead of [`DefaultRejection`].
    pub fn with_rejection<R2>(self, rejection: R2) -> JwtLayer<C, R2> {
        JwtLayer {
            config: self.config,
            rejection,
            _claims: PhantomData,
        }
    }
}

impl<C, R: Clone> Clone for JwtLayer<C, R> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            rejection: self.rejection.clone(),
            _claims: PhantomData,
        }
    }
}

impl<C, R> fmt::Debug for JwtLayer<C, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtLayer")
            .field("config", &self.config)
            .field("claims", &std::any::type_name::<C>())
            .finish_non_exhaustive()
    }
}

impl<S, C, R: Clone> Layer<S> for JwtLayer<C, R> {
    type Service = JwtAuth<S, C, R>;

    fn layer(&self, inner: S) -> Self::Service {
        JwtAuth::new(inner, self.clone())
    }
}
