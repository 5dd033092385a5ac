//! What an identity must have to pass.

use std::sync::Arc;

use crate::Identity;

/// What a refused identity was missing, carried by the [`AuthRejection`](super::AuthRejection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// The identity lacks this role.
    Role(Arc<str>),
    /// The identity lacks this scope.
    Scope(Arc<str>),
    /// The identity was not issued by this issuer (see [`Identity::issuer`]).
    Issuer(Arc<str>),
    /// A custom predicate refused the identity.
    Custom,
}

/// Decides whether an [`Identity`] may pass a [`RequireAuthLayer`](super::RequireAuthLayer).
///
/// Implemented by [`Authenticated`], [`HasRole`], [`HasScope`], [`FromIssuer`], [`Both`] and
/// by every closure `Fn(&Identity) -> bool + Clone + Send + Sync + 'static`.
pub trait AuthPredicate: Clone + Send + Sync + 'static {
    /// `Ok(())` to let the request through, `Err` naming what was missing to refuse it (403).
    ///
    /// # Errors
    ///
    /// The [`Requirement`] the identity does not meet.
    fn check(&self, identity: &Identity) -> Result<(), Requirement>;
}

/// Any identity passes: the route only needs *someone* logged in.
#[derive(Debug, Clone, Copy, Default)]
pub struct Authenticated;

impl AuthPredicate for Authenticated {
    fn check(&self, _identity: &Identity) -> Result<(), Requirement> {
        Ok(())
    }
}

/// The identity must have this role.
#[derive(Debug, Clone)]
pub struct HasRole(pub Arc<str>);

impl AuthPredicate for HasRole {
    fn check(&self, identity: &Identity) -> Result<(), Requirement> {
        if identity.has_role(&self.0) {
            Ok(())
        } else {
            Err(Requirement::Role(self.0.clone()))
        }
    }
}

/// The identity must have this scope.
#[derive(Debug, Clone)]
pub struct HasScope(pub Arc<str>);

impl AuthPredicate for HasScope {
    fn check(&self, identity: &Identity) -> Result<(), Requirement> {
        if identity.has_scope(&self.0) {
            Ok(())
        } else {
            Err(Requirement::Scope(self.0.clone()))
        }
    }
}

/// The identity must come from this issuer ([`Identity::issuer`] equal, exactly).
///
/// Several issuers may use the same subject names: a route that means *your* users should
/// say whose users it means.
///
/// ```
/// use auth_core::{AuthMethod, AuthPredicate, FromIssuer, Identity, Requirement};
///
/// let ours = FromIssuer("https://auth.example.com".into());
/// let bob = Identity::builder("bob", AuthMethod::Jwt).issuer("https://auth.example.com").build();
/// let other_bob = Identity::builder("bob", AuthMethod::Jwt).issuer("https://idp.example").build();
/// assert!(ours.check(&bob).is_ok());
/// assert_eq!(ours.check(&other_bob), Err(Requirement::Issuer("https://auth.example.com".into())));
/// ```
#[derive(Debug, Clone)]
pub struct FromIssuer(pub Arc<str>);

impl AuthPredicate for FromIssuer {
    fn check(&self, identity: &Identity) -> Result<(), Requirement> {
        if identity.issuer() == Some(&*self.0) {
            Ok(())
        } else {
            Err(Requirement::Issuer(self.0.clone()))
        }
    }
}

/// Both predicates must pass; the first one's refusal is reported first. Built by
/// [`RequireAuthLayer::and`](super::RequireAuthLayer::and).
#[derive(Debug, Clone)]
pub struct Both<A, B>(pub A, pub B);

impl<A: AuthPredicate, B: AuthPredicate> AuthPredicate for Both<A, B> {
    fn check(&self, identity: &Identity) -> Result<(), Requirement> {
        self.0.check(identity)?;
        self.1.check(identity)
    }
}

impl<F> AuthPredicate for F
where
    F: Fn(&Identity) -> bool + Clone + Send + Sync + 'static,
{
    fn check(&self, identity: &Identity) -> Result<(), Requirement> {
        if self(identity) {
            Ok(())
        } else {
            Err(Requirement::Custom)
        }
    }
}
