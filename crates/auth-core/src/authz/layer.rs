//! The `RequireAuthLayer`.

use std::sync::Arc;

use tower_layer::Layer;

use super::{
    AuthPredicate, Authenticated, Both, DefaultRejection, FromIssuer, HasRole, HasScope,
    RequireAuth,
};

/// A [`Layer`] that lets a request through only if its [`Identity`](crate::Identity) may pass.
///
/// [`RequireAuthLayer`] reads nothing but the `Identity` in the request extensions, so the same
/// guard works behind a session layer, a JWT layer, both, or your own authenticating layer.
///
/// - no `Identity` -> **401 Unauthorized**;
/// - an `Identity` the [`AuthPredicate`] refuses -> **403 Forbidden** (for a bearer token that
///   lacks a scope, with `WWW-Authenticate: Bearer error="insufficient_scope"`, RFC 6750);
/// - otherwise the inner service runs.
///
/// Every rejection is an [`AuthRejection`](crate::AuthRejection), inserted into the response extensions so outer
/// layers and logs can tell the causes apart. The response itself comes from a
/// [`RejectionResponse`](crate::RejectionResponse): [`DefaultRejection`] unless you pass your own (a closure works).
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use auth_core::{AuthMethod, Identity, RequireAuthLayer};
/// use http::{Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Infallible> {
/// let admin_only = ServiceBuilder::new()
///     .layer(RequireAuthLayer::role("admin"))
///     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
///
/// // No identity: 401.
/// let res = admin_only.clone().oneshot(Request::new(String::new())).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
///
/// // An identity without the role: 403.
/// let mut req = Request::new(String::new());
/// req.extensions_mut().insert(Identity::builder("alice", AuthMethod::Session).role("user").build());
/// let res = admin_only.clone().oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
///
/// // An identity with the role: the handler runs.
/// let mut req = Request::new(String::new());
/// req.extensions_mut().insert(Identity::builder("bob", AuthMethod::Session).role("admin").build());
/// let res = admin_only.oneshot(req).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
///
/// A customised rejection, as a closure:
///
/// ```
/// use std::convert::Infallible;
///
/// use auth_core::{AuthRejection, RequireAuthLayer};
/// use http::{Request, Response, StatusCode, header};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Infallible> {
/// let redirect_to_login = |rejection: &AuthRejection| {
///     let mut res = Response::new(String::new());
///     if rejection.status() == StatusCode::UNAUTHORIZED {
///         *res.status_mut() = StatusCode::SEE_OTHER;
///         res.headers_mut().insert(header::LOCATION, "/login".parse().unwrap());
///     } else {
///         *res.status_mut() = rejection.status();
///     }
///     res
/// };
/// let svc = ServiceBuilder::new()
///     .layer(RequireAuthLayer::authenticated().with_rejection(redirect_to_login))
///     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
///
/// let res = svc.oneshot(Request::new(String::new())).await?;
/// assert_eq!(res.status(), StatusCode::SEE_OTHER);
/// assert!(res.extensions().get::<AuthRejection>().is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireAuthLayer<P, R = DefaultRejection> {
    pub(super) predicate: P,
    pub(super) rejection: R,
}

impl RequireAuthLayer<Authenticated> {
    /// Any authenticated identity passes.
    pub fn authenticated() -> Self {
        Self::predicate(Authenticated)
    }
}

impl RequireAuthLayer<HasRole> {
    /// Identities with `role` pass; others get 403.
    pub fn role(role: impl Into<Arc<str>>) -> Self {
        Self::predicate(HasRole(role.into()))
    }
}

impl RequireAuthLayer<HasScope> {
    /// Identities with `scope` pass; others get 403 (with `insufficient_scope` for bearer
    /// tokens).
    pub fn scope(scope: impl Into<Arc<str>>) -> Self {
        Self::predicate(HasScope(scope.into()))
    }
}

impl RequireAuthLayer<FromIssuer> {
    /// Identities issued by `issuer` ([`Identity::issuer`](crate::Identity::issuer)) pass;
    /// others get 403. Combine with a role or scope through [`and`](Self::and).
    pub fn issuer(issuer: impl Into<Arc<str>>) -> Self {
        Self::predicate(FromIssuer(issuer.into()))
    }
}

impl<P: AuthPredicate> RequireAuthLayer<P> {
    /// Identities that `predicate` accepts pass; others get 403. A closure
    /// `Fn(&Identity) -> bool` is a predicate.
    ///
    /// ```
    /// use auth_core::{Identity, RequireAuthLayer};
    ///
    /// let staff = RequireAuthLayer::predicate(|id: &Identity| {
    ///     id.has_role("admin") || id.subject().ends_with("@staff")
    /// });
    /// # let _ = staff;
    /// ```
    pub fn predicate(predicate: P) -> Self {
        Self {
            predicate,
            rejection: DefaultRejection::default(),
        }
    }
}

impl<P, R> RequireAuthLayer<P, R> {
    /// Also requires `other`: an identity passes only if both predicates accept it.
    ///
    /// ```
    /// use auth_core::{FromIssuer, RequireAuthLayer};
    ///
    /// // Admins of our own issuer only: an `admin` scope from another issuer means nothing here.
    /// let ours = RequireAuthLayer::scope("admin").and(FromIssuer("https://auth.example.com".into()));
    /// # let _ = ours;
    /// ```
    pub fn and<Q: AuthPredicate>(self, other: Q) -> RequireAuthLayer<Both<P, Q>, R> {
        RequireAuthLayer {
            predicate: Both(self.predicate, other),
            rejection: self.rejection,
        }
    }

    /// Builds rejection responses with `rejection` instead of [`DefaultRejection`].
    pub fn with_rejection<R2>(self, rejection: R2) -> RequireAuthLayer<P, R2> {
        RequireAuthLayer {
            predicate: self.predicate,
            rejection,
        }
    }
}

impl<S, P: Clone, R: Clone> Layer<S> for RequireAuthLayer<P, R> {
    type Service = RequireAuth<S, P, R>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth::new(inner, self.predicate.clone(), self.rejection.clone())
    }
}
