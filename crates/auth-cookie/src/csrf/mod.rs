//! CSRF protection for cookie-authenticated routes; documented on [`CsrfLayer`].

mod decision;
mod form;
mod layer;
mod rejection;
mod service;
mod token;

/// The response future of [`Csrf`]: the inner future, or the rejection at once.
pub type ResponseFuture<F, B> = auth_core::future::ResponseFuture<F, B>;
pub use form::{FORM_LIMIT, FormField, FormResponseFuture, HeaderOnly};
pub use layer::CsrfLayer;
pub use rejection::{
    CsrfRejection, CsrfRejectionKind, CsrfRejectionResponse, DefaultCsrfRejection,
};
pub use service::Csrf;
pub use token::{CsrfBinding, CsrfTokens};
