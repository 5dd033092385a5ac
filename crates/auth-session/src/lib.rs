//! Server-side sessions for tower.
//!
//! **Status: skeleton.** This crate is planned, not implemented: it exports nothing yet. The
//! work is tracked in the project's auth-session issue. It will provide:
//!
//! - `SessionLayer` / `SessionManager`: a lazy `Session` handle per request, backed by any
//!   [`auth_core::SessionStore`]; the store is read only when the handler touches the session;
//! - login with ID cycling, logout that deletes server-side, idle and absolute timeouts;
//! - versioned saves that merge concurrent changes and never resurrect a deleted session;
//! - `MemoryStore` (default), Redis, PostgreSQL and SQLite stores behind features;
//! - `testkit`: the conformance suite every store must pass.
