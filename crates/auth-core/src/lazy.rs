//! Identities that need I/O to resolve, such as a session that lives in a store.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{BoxError, Identity};

/// The future an [`IdentityResolver`] returns.
pub type ResolveFuture =
    Pin<Box<dyn Future<Output = Result<Option<Identity>, BoxError>> + Send + 'static>>;

/// Produces the request's [`Identity`] when first asked, for authenticating layers that avoid
/// I/O until someone needs the answer (the session layer reads its store only then).
///
/// Implemented by closures returning a [`ResolveFuture`]. A layer whose per-request state is
/// the resolver can find that state again from the [`LazyIdentity`] alone
/// ([`LazyIdentity::downcast_resolver`]) and so put one value in the extensions, not two.
pub trait IdentityResolver: Any + Send + Sync {
    /// Resolves the identity: `Ok(None)` for an anonymous request, `Err` when the backend
    /// could not answer (guards then answer 503, never 401: a logged-in user is not silently
    /// treated as anonymous).
    ///
    /// Takes the shared resolver itself, so the returned (`'static`) future can own it: a
    /// per-request state needs no reference to itself.
    fn resolve(self: Arc<Self>) -> ResolveFuture;
}

impl<F> IdentityResolver for F
where
    F: Fn() -> ResolveFuture + Send + Sync + 'static,
{
    fn resolve(self: Arc<Self>) -> ResolveFuture {
        self()
    }
}

/// An [`Identity`] that is resolved on demand, put into the request extensions by a lazy
/// authenticating layer instead of the `Identity` itself.
///
/// [`RequireAuthLayer`](crate::RequireAuthLayer) and the axum extractors resolve it when there
/// is no `Identity` yet; `RequireAuth` then inserts the resolved `Identity` into the request
/// extensions, so the handler behind a guard finds it there as usual. The resolver should
/// cache its answer: several parties may ask during one request.
///
/// ```
/// use auth_core::{AuthMethod, Identity, LazyIdentity, ResolveFuture};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let lazy = LazyIdentity::new(|| -> ResolveFuture {
///     Box::pin(async { Ok(Some(Identity::builder("alice", AuthMethod::Session).build())) })
/// });
/// let identity = lazy.resolve().await.unwrap();
/// assert_eq!(identity.map(|id| id.subject().to_owned()).as_deref(), Some("alice"));
/// # }
/// ```
#[derive(Clone)]
pub struct LazyIdentity {
    resolver: Arc<dyn IdentityResolver>,
}

impl LazyIdentity {
    /// Wraps a resolver.
    pub fn new(resolver: impl IdentityResolver) -> Self {
        Self {
            resolver: Arc::new(resolver),
        }
    }

    /// Wraps a shared resolver without another allocation (a layer can hand over the `Arc`
    /// of its per-request state).
    pub fn from_arc(resolver: Arc<dyn IdentityResolver>) -> Self {
        Self { resolver }
    }

    /// The resolver, if it is a `T`.
    ///
    /// A layer that hands its per-request state over as the resolver ([`LazyIdentity::from_arc`])
    /// finds it here again, so it need not insert a second extension for its own handle
    /// (auth-session's `Session` is found this way). `None` when the resolver is anything else.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_core::{IdentityResolver, LazyIdentity, ResolveFuture};
    ///
    /// struct RequestState { user: &'static str }
    ///
    /// impl IdentityResolver for RequestState {
    ///     fn resolve(self: Arc<Self>) -> ResolveFuture {
    ///         Box::pin(std::future::ready(Ok(None)))
    ///     }
    /// }
    ///
    /// let lazy = LazyIdentity::from_arc(Arc::new(RequestState { user: "alice" }));
    /// assert_eq!(lazy.downcast_resolver::<RequestState>().map(|s| s.user), Some("alice"));
    /// ```
    #[must_use]
    pub fn downcast_resolver<T: IdentityResolver>(&self) -> Option<Arc<T>> {
        let resolver: &dyn Any = &*self.resolver;
        if !resolver.is::<T>() {
            return None;
        }
        let resolver: Arc<dyn IdentityResolver> = Arc::clone(&self.resolver);
        let any: Arc<dyn Any + Send + Sync> = resolver;
        any.downcast::<T>().ok()
    }

    /// Resolves the identity.
    ///
    /// # Errors
    ///
    /// [`IdentityUnavailable`] when the backend behind the resolver failed.
    pub fn resolve(
        &self,
    ) -> impl Future<Output = Result<Option<Identity>, IdentityUnavailable>> + Send + 'static {
        let future = Arc::clone(&self.resolver).resolve();
        async move { future.await.map_err(IdentityUnavailable) }
    }
}

impl fmt::Debug for LazyIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyIdentity").finish_non_exhaustive()
    }
}

/// The identity could not be resolved because a backend failed; answer 503.
#[derive(Debug, thiserror::Error)]
#[error("identity unavailable: {0}")]
pub struct IdentityUnavailable(#[source] pub BoxError);

#[cfg(test)]
mod tests {
    use super::*;

    struct State(u32);

    impl IdentityResolver for State {
        fn resolve(self: Arc<Self>) -> ResolveFuture {
            Box::pin(std::future::ready(Ok(None)))
        }
    }

    #[test]
    fn downcast_finds_the_same_state_and_nothing_else() {
        let state = Arc::new(State(7));
        let lazy = LazyIdentity::from_arc(state.clone());
        let found = lazy.downcast_resolver::<State>().unwrap();
        assert!(Arc::ptr_eq(&found, &state));
        assert_eq!(found.0, 7);

        let closure =
            LazyIdentity::new(|| -> ResolveFuture { Box::pin(std::future::ready(Ok(None))) });
        assert!(closure.downcast_resolver::<State>().is_none());
        assert!(lazy.downcast_resolver::<fn() -> ResolveFuture>().is_none());
    }
}
