//! `SessionLayer`, `SessionManager` and their response future.

mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use future::ResponseFuture;
pub use layer::SessionLayer;
pub use service::SessionManager;

#[cfg(all(test, feature = "memory"))]
mod tests;
