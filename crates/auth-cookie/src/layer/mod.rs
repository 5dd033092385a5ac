//! `CookieLayer`: one jar per request, written back as `Set-Cookie`.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::CookieLayer;
pub use service::CookieManager;
