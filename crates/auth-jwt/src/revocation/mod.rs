//! Revocation: [`MemoryRevocationList`], `RedisRevocationList` (feature `redis`) and the
//! [`Logout`] handle.
//!
//! The user-facing documentation lives on the [crate root](crate#logout-and-revocation).

mod entry;
mod logout;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub use logout::Logout;
#[cfg(feature = "axum")]
pub use logout::LogoutRejection;
pub(crate) use logout::{LogoutContext, LogoutSlot};
pub use memory::MemoryRevocationList;
#[cfg(feature = "redis")]
pub use redis::{RedisRevocationList, RedisRevocationListBuilder, StalePolicy};
