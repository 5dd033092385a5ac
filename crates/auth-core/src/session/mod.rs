//! The session store contract; documented on [`SessionStore`].

mod id;
mod record;
mod store;

pub use id::{InvalidSessionId, SessionId};
pub use record::{SessionData, SessionRecord};
pub use store::{CreateOutcome, SaveOutcome, SessionStore, StoreError, StoreResult};
