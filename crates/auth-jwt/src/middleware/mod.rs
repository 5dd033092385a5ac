//! The JWT verification middleware: [`JwtLayer`], [`JwtAuth`], their future and rejections.
//!
//! The user-facing documentation lives on the [crate root](crate).

mod config;
pub(crate) mod future;
mod layer;
mod parse;
mod rejection;
mod service;
mod trust;
mod verify;

pub use config::{DEFAULT_MAX_TOKEN_LEN, DEFAULT_SUBJECT_REVOCATION_RETENTION, JwtLayerBuilder};
pub use layer::JwtLayer;
pub use rejection::{DefaultRejection, JwtRejection, JwtRejectionKind, RejectionResponse};
pub use service::JwtAuth;
pub use trust::{DEFAULT_LEEWAY, TrustedIssuer};
