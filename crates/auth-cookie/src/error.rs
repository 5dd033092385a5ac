//! Errors: refused configuration, refused cookies.

/// A cookie definition or layer setting that cannot work, refused at build time.
///
/// Every variant names the input at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The cookie name is empty or not an RFC 9110 token.
    #[error(
        "invalid cookie name {name:?}: use a non-empty token (letters, digits and !#$%&'*+-.^_`|~)"
    )]
    InvalidName {
        /// The refused name.
        name: String,
    },
    /// The path does not start with `/` or holds a control character or `;`.
    #[error(
        "invalid cookie path {path:?}: it must start with '/' and hold no control characters or ';'"
    )]
    InvalidPath {
        /// The refused path.
        path: String,
    },
    /// The domain is empty or holds a character that cannot appear in a host name.
    #[error("invalid cookie domain {domain:?}")]
    InvalidDomain {
        /// The refused domain.
        domain: String,
    },
    /// `__Host-` and `__Secure-` cookies must be `Secure` (so not in development mode).
    #[error(
        "cookie {name:?}: the __Host- and __Secure- prefixes require Secure, which development mode removes"
    )]
    PrefixRequiresSecure {
        /// The full cookie name.
        name: String,
    },
    /// `__Host-` cookies must have `Path=/`.
    #[error("cookie {name:?}: the __Host- prefix requires Path=/, not {path:?}")]
    HostPrefixRequiresRootPath {
        /// The full cookie name.
        name: String,
        /// The configured path.
        path: String,
    },
    /// `__Host-` cookies must not have a `Domain`.
    #[error("cookie {name:?}: the __Host- prefix forbids a Domain attribute")]
    HostPrefixForbidsDomain {
        /// The full cookie name.
        name: String,
    },
    /// Browsers reject `SameSite=None` without `Secure`.
    #[error("cookie {name:?}: SameSite=None requires Secure, which development mode removes")]
    SameSiteNoneRequiresSecure {
        /// The full cookie name.
        name: String,
    },
    /// A trusted origin is not an exact `scheme://host[:port]`.
    #[error(
        "invalid trusted origin {origin:?}: use scheme://host[:port] with no path, query or fragment"
    )]
    InvalidOrigin {
        /// The refused origin.
        origin: String,
    },
    /// An exempt path does not start with `/`.
    #[error("invalid exempt path {path:?}: it must start with '/'")]
    InvalidExemptPath {
        /// The refused path.
        path: String,
    },
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] auth_core::ConfigError),
}

/// A cookie that cannot be written.
///
/// Returned when the cookie is added, so the handler learns about it, instead of the browser
/// silently dropping the cookie later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// Name and encoded value together exceed [`MAX_COOKIE_SIZE`](crate::MAX_COOKIE_SIZE)
    /// bytes; browsers would ignore the cookie.
    #[error(
        "cookie {name:?} is {size} bytes (name + encoded value), over the 4096-byte limit browsers enforce"
    )]
    TooLarge {
        /// The full cookie name.
        name: String,
        /// Name plus encoded value, in bytes.
        size: usize,
    },
    /// The encryption backend failed (practically never).
    #[error("cookie {name:?} could not be sealed")]
    Seal {
        /// The full cookie name.
        name: String,
    },
}
