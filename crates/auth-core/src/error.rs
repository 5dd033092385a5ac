//! Configuration errors shared by every crate of the workspace.

/// A setting that cannot work, refused when the layer or key is built rather than at the
/// first request.
///
/// Every variant names the input at fault. Key material never appears in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key id is empty, too long or holds a character outside visible ASCII.
    #[error(
        "invalid key id {id:?}: use 1 to 128 visible ASCII characters other than '\"' and '\\'"
    )]
    InvalidKeyId {
        /// The refused id (truncated to 128 characters).
        id: String,
    },
    /// Two keys of one ring share an id.
    #[error("duplicate key id {id:?} in the key ring")]
    DuplicateKeyId {
        /// The repeated id.
        id: String,
    },
    /// No key of the ring has this id.
    #[error("no key with id {id:?} in the key ring")]
    UnknownKeyId {
        /// The id that was looked for.
        id: String,
    },
    /// The current key cannot be removed: rotate to a new key first.
    #[error("key {id:?} is the ring's current key and cannot be removed; rotate first")]
    RemovesCurrentKey {
        /// The current key's id.
        id: String,
    },
    /// Key material is shorter than the algorithm needs.
    #[error("key too short: {actual} bytes, at least {min} required")]
    KeyTooShort {
        /// The minimum length in bytes.
        min: usize,
        /// The length given.
        actual: usize,
    },
    /// Key material is not valid base64.
    #[error("key material is not valid base64")]
    InvalidKeyEncoding,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(#[from] RandomError),
}

/// The operating system could not provide random bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RandomError(pub(crate) String);
