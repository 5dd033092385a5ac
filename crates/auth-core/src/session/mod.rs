//! The session store contract; documented on [`SessionStore`].

mod data;
mod id;
mod record;
mod store;

pub use data::SessionData;
pub use id::{InvalidSessionId, SessionId};
pub use record::SessionRecord;
pub use store::{CreateOutcome, SaveOutcome, SessionStore, StoreError, StoreFuture, StoreResult};
