//! Errors a handler sees when it uses the session.

use std::sync::Arc;

use auth_core::StoreError;

/// A session operation failed.
///
/// When the store failed, the session layer also replaces the response with a 503 (see
/// [`SessionLayer::with_unavailable_response`](crate::SessionLayer::with_unavailable_response)),
/// so a handler may simply propagate the error with `?`.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The session store failed to load the session (the cause is logged by the layer).
    #[error("session store unavailable")]
    Unavailable(#[source] Arc<StoreError>),
    /// A value could not be serialized.
    #[error("session value for key {key:?} could not be serialized")]
    Serialize {
        /// The key.
        key: String,
        /// The cause.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// A stored value does not have the requested type.
    #[error("session value for key {key:?} has another type")]
    Deserialize {
        /// The key.
        key: String,
        /// The cause.
        #[source]
        source: Arc<serde_json::Error>,
    },
    /// The operating system could not provide randomness for a new session ID.
    #[error("no randomness for a session id")]
    Random,
    /// The session store does not offer what was asked: a store without a per-principal
    /// index, for [`Session::other_sessions`](crate::Session::other_sessions) and
    /// [`Session::logout_other_sessions`](crate::Session::logout_other_sessions) (it names the
    /// store method, e.g. `"sessions_of"`). A matter of configuration, not an outage: the
    /// session itself works, and asking again will not help.
    #[error("the session store does not support {0}")]
    Unsupported(&'static str),
}

impl SessionError {
    /// 503 for [`Unavailable`](Self::Unavailable) and [`Random`](Self::Random), 501 for
    /// [`Unsupported`](Self::Unsupported), 500 otherwise.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Self::Unavailable(_) | Self::Random => http::StatusCode::SERVICE_UNAVAILABLE,
            Self::Unsupported(_) => http::StatusCode::NOT_IMPLEMENTED,
            Self::Serialize { .. } | Self::Deserialize { .. } => {
                http::StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }
}

/// A session layer setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The session cookie's definition sets a `Max-Age`; the layer derives it from the
    /// session's expiry instead.
    #[error(
        "the session cookie definition must not set Max-Age: the layer derives it from the session's expiry"
    )]
    CookieMaxAge,
}
