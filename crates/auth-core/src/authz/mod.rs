//! Authorization guards: `RequireAuthLayer`, predicates and rejections.
//!
//! The user-facing documentation lives on [`RequireAuthLayer`].

mod future;
mod layer;
mod predicate;
mod rejection;
mod service;

pub use future::{RequireAuthFuture, ResponseFuture};
pub use layer::RequireAuthLayer;
pub use predicate::{
    AuthPredicate, Authenticated, Both, FromIssuer, HasRole, HasScope, Requirement,
};
pub use rejection::{AuthRejection, AuthRejectionKind, DefaultRejection, RejectionResponse};
pub use service::RequireAuth;
