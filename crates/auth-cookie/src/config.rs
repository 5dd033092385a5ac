//! Cookie definitions with secure defaults, validated when built.

use std::fmt;
use std::sync::Arc;

use time::Duration;

use crate::ConfigError;

/// The longest lifetime browsers honour (RFC 6265bis caps `Max-Age` and `Expires` at 400
/// days); longer `max_age` settings are capped to it.
pub const MAX_AGE_CAP: Duration = Duration::days(400);

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SameSite {
    /// Sent on same-site requests only.
    Strict,
    /// Sent on same-site requests and top-level cross-site navigations with safe methods
    /// (the default).
    Lax,
    /// Sent on every request; requires `Secure`.
    None,
}

impl SameSite {
    fn to_cookie(self) -> cookie::SameSite {
        match self {
            Self::Strict => cookie::SameSite::Strict,
            Self::Lax => cookie::SameSite::Lax,
            Self::None => cookie::SameSite::None,
        }
    }
}

/// A cookie name prefix that browsers enforce (RFC 6265bis, section 4.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CookiePrefix {
    /// No prefix.
    #[default]
    None,
    /// `__Secure-`: the browser only accepts the cookie with `Secure` from a secure origin.
    Secure,
    /// `__Host-`: as `__Secure-`, plus `Path=/` and no `Domain`, so no subdomain can set or
    /// shadow it. The strongest choice for session cookies.
    Host,
}

impl CookiePrefix {
    /// The prefix text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Secure => "__Secure-",
            Self::Host => "__Host-",
        }
    }

    /// The prefix a full cookie name carries, compared case-insensitively as browsers do.
    fn of(full_name: &str) -> Self {
        let starts = |prefix: &str| {
            full_name
                .get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        };
        if starts("__Host-") {
            Self::Host
        } else if starts("__Secure-") {
            Self::Secure
        } else {
            Self::None
        }
    }
}

/// The definition of one cookie: its name and attributes.
///
/// Every write and every removal goes through the definition, so a removal cookie always
/// carries the right `Path` and `Domain` (browsers only delete a cookie when both match), even
/// when the request did not send the cookie or its seal no longer verifies.
///
/// Defaults: `HttpOnly`, `Secure`, `SameSite=Lax`, `Path=/`, no `Domain`, no `Max-Age` (a
/// session cookie). Contradictions are refused by [`CookieConfigBuilder::build`]:
///
/// - `__Host-` with a `Domain` or a `Path` other than `/`;
/// - `SameSite=None` or a prefix without `Secure`.
///
/// `Secure` can only be removed by the explicit
/// [`insecure_dev_mode`](CookieConfigBuilder::insecure_dev_mode), for plain-http localhost
/// development, which logs a warning when built.
///
/// Cheap to clone.
///
/// # Example
///
/// ```
/// use auth_cookie::{CookieConfig, CookiePrefix, SameSite};
/// use time::Duration;
///
/// let session = CookieConfig::builder("sid")
///     .prefix(CookiePrefix::Host)
///     .same_site(SameSite::Strict)
///     .max_age(Duration::days(7))
///     .build()?;
/// assert_eq!(session.name(), "__Host-sid");
///
/// // Contradictions are refused when the definition is built.
/// assert!(CookieConfig::builder("sid").prefix(CookiePrefix::Host).path("/app").build().is_err());
/// assert!(CookieConfig::builder("sid").same_site(SameSite::None).insecure_dev_mode().build().is_err());
/// # Ok::<(), auth_cookie::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CookieConfig {
    inner: Arc<Inner>,
}

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    name: String,
    path: String,
    domain: Option<String>,
    same_site: SameSite,
    secure: bool,
    http_only: bool,
    max_age: Option<Duration>,
}

impl CookieConfig {
    /// Starts a definition for a cookie called `name` (the prefix, if any, is added with
    /// [`CookieConfigBuilder::prefix`]).
    pub fn builder(name: impl Into<String>) -> CookieConfigBuilder {
        CookieConfigBuilder {
            name: name.into(),
            prefix: CookiePrefix::None,
            path: "/".to_owned(),
            domain: None,
            same_site: SameSite::Lax,
            http_only: true,
            insecure_dev_mode: false,
            max_age: None,
        }
    }

    /// The full cookie name, prefix included, as it appears on the wire.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The `Path` attribute.
    pub fn path(&self) -> &str {
        &self.inner.path
    }

    /// The `Domain` attribute, if any.
    pub fn domain(&self) -> Option<&str> {
        self.inner.domain.as_deref()
    }

    /// The `SameSite` attribute.
    pub fn same_site(&self) -> SameSite {
        self.inner.same_site
    }

    /// Whether the cookie is `Secure` (always, outside development mode).
    pub fn secure(&self) -> bool {
        self.inner.secure
    }

    /// Whether the cookie is `HttpOnly`.
    pub fn http_only(&self) -> bool {
        self.inner.http_only
    }

    /// The `Max-Age` (already capped at 400 days), or `None` for a session cookie.
    pub fn max_age(&self) -> Option<Duration> {
        self.inner.max_age
    }

    /// A `cookie::Cookie` with this definition's attributes, `value` (already encoded) and the
    /// given `Max-Age` (capped at 400 days; `None` = session cookie).
    pub(crate) fn to_cookie<'v>(
        &self,
        value: &'v str,
        max_age: Option<Duration>,
    ) -> cookie::Cookie<'v> {
        let inner = &*self.inner;
        let mut c = cookie::Cookie::new(inner.name.clone(), value);
        c.set_path(inner.path.clone());
        if let Some(domain) = &inner.domain {
            c.set_domain(domain.clone());
        }
        c.set_secure(inner.secure);
        c.set_http_only(inner.http_only);
        c.set_same_site(inner.same_site.to_cookie());
        if let Some(max_age) = max_age {
            c.set_max_age(max_age.clamp(Duration::ZERO, MAX_AGE_CAP));
        }
        c
    }
}

impl fmt::Debug for CookieConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("CookieConfig")
            .field("name", &inner.name)
            .field("path", &inner.path)
            .field("domain", &inner.domain)
            .field("same_site", &inner.same_site)
            .field("secure", &inner.secure)
            .field("http_only", &inner.http_only)
            .field("max_age", &inner.max_age)
            .finish()
    }
}

/// Builds a [`CookieConfig`]; created by [`CookieConfig::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CookieConfigBuilder {
    name: String,
    prefix: CookiePrefix,
    path: String,
    domain: Option<String>,
    same_site: SameSite,
    http_only: bool,
    insecure_dev_mode: bool,
    max_age: Option<Duration>,
}

impl CookieConfigBuilder {
    /// Adds a browser-enforced name prefix. Default: none.
    pub fn prefix(mut self, prefix: CookiePrefix) -> Self {
        self.prefix = prefix;
        self
    }

    /// Sets `Path`. Default: `/`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Sets `Domain`, making the cookie visible to subdomains. Default: none (host-only,
    /// the safer choice).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `SameSite`. Default: `Lax`.
    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = same_site;
        self
    }

    /// Sets `HttpOnly`. Default: `true` (scripts cannot read the cookie).
    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = http_only;
        self
    }

    /// Sets `Max-Age`, capped at 400 days. Default: none (the cookie ends with the browser
    /// session).
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Development mode for plain-http localhost: leaves out `Secure`, which browsers other
    /// than Safari would otherwise accept on `http://localhost` anyway. Refused with a prefix
    /// or `SameSite=None`. Building logs a warning.
    ///
    /// # Security
    ///
    /// Never enable this in production: the cookie would travel over plain HTTP.
    pub fn insecure_dev_mode(mut self) -> Self {
        self.insecure_dev_mode = true;
        self
    }

    /// Validates the definition.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the bad input: an invalid name, path or domain, or a
    /// contradiction between prefix, `Path`, `Domain`, `SameSite` and `Secure`.
    pub fn build(self) -> Result<CookieConfig, ConfigError> {
        if !is_token(&self.name) {
            return Err(ConfigError::InvalidName { name: self.name });
        }
        let name = format!("{}{}", self.prefix.as_str(), self.name);
        if !self.path.starts_with('/') || !is_attribute_value(&self.path) {
            return Err(ConfigError::InvalidPath { path: self.path });
        }
        if let Some(domain) = &self.domain {
            let valid = !domain.is_empty()
                && domain
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
            if !valid {
                return Err(ConfigError::InvalidDomain {
                    domain: domain.clone(),
                });
            }
        }
        let secure = !self.insecure_dev_mode;
        // The effective prefix comes from the full name, case-insensitively, so
        // `builder("__host-sid")` is held to the same rules as `prefix(CookiePrefix::Host)`.
        let prefix = CookiePrefix::of(&name);
        if prefix != CookiePrefix::None && !secure {
            return Err(ConfigError::PrefixRequiresSecure { name });
        }
        if prefix == CookiePrefix::Host {
            if self.path != "/" {
                return Err(ConfigError::HostPrefixRequiresRootPath {
                    name,
                    path: self.path,
                });
            }
            if self.domain.is_some() {
                return Err(ConfigError::HostPrefixForbidsDomain { name });
            }
        }
        if self.same_site == SameSite::None && !secure {
            return Err(ConfigError::SameSiteNoneRequiresSecure { name });
        }
        if !secure {
            tracing::warn!(
                cookie = %name,
                "cookie built in insecure development mode: it is sent without Secure, over plain HTTP; never use this in production"
            );
        }
        Ok(CookieConfig {
            inner: Arc::new(Inner {
                name,
                path: self.path,
                domain: self.domain.map(|d| d.to_ascii_lowercase()),
                same_site: self.same_site,
                secure,
                http_only: self.http_only,
                max_age: self
                    .max_age
                    .map(|age| age.clamp(Duration::ZERO, MAX_AGE_CAP)),
            }),
        })
    }
}

/// An RFC 9110 token (the grammar of cookie names).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Visible ASCII and spaces, without `;` (an attribute value that cannot inject another).
fn is_attribute_value(value: &str) -> bool {
    value.len() <= 1024
        && value
            .bytes()
            .all(|b| (0x20..0x7F).contains(&b) && b != b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_cookie(config: &CookieConfig) -> String {
        config.to_cookie("v", config.max_age()).to_string()
    }

    #[test]
    fn defaults_are_httponly_secure_lax_root_path() {
        let config = CookieConfig::builder("sid").build().unwrap();
        assert_eq!(
            set_cookie(&config),
            "sid=v; HttpOnly; SameSite=Lax; Secure; Path=/"
        );
        assert!(config.secure() && config.http_only());
        assert_eq!(config.same_site(), SameSite::Lax);
        assert_eq!(config.domain(), None);
    }

    #[test]
    fn host_prefix_with_domain_or_other_path_is_refused() {
        let host = || CookieConfig::builder("sid").prefix(CookiePrefix::Host);
        assert!(matches!(
            host().domain("example.com").build(),
            Err(ConfigError::HostPrefixForbidsDomain { .. })
        ));
        assert!(matches!(
            host().path("/app").build(),
            Err(ConfigError::HostPrefixRequiresRootPath { .. })
        ));
        assert_eq!(host().build().unwrap().name(), "__Host-sid");
    }

    #[test]
    fn prefixes_written_into_the_name_are_held_to_the_same_rules() {
        for name in ["__Host-sid", "__host-sid", "__HOST-sid"] {
            assert!(
                matches!(
                    CookieConfig::builder(name).path("/x").build(),
                    Err(ConfigError::HostPrefixRequiresRootPath { .. })
                ),
                "{name}"
            );
        }
        assert!(matches!(
            CookieConfig::builder("__secure-x")
                .insecure_dev_mode()
                .build(),
            Err(ConfigError::PrefixRequiresSecure { .. })
        ));
    }

    #[test]
    fn samesite_none_or_prefix_without_secure_is_refused() {
        assert!(matches!(
            CookieConfig::builder("a")
                .same_site(SameSite::None)
                .insecure_dev_mode()
                .build(),
            Err(ConfigError::SameSiteNoneRequiresSecure { .. })
        ));
        for prefix in [CookiePrefix::Host, CookiePrefix::Secure] {
            assert!(matches!(
                CookieConfig::builder("a")
                    .prefix(prefix)
                    .insecure_dev_mode()
                    .build(),
                Err(ConfigError::PrefixRequiresSecure { .. })
            ));
        }
        let none = CookieConfig::builder("a")
            .same_site(SameSite::None)
            .build()
            .unwrap();
        assert!(set_cookie(&none).contains("SameSite=None"));
        assert!(set_cookie(&none).contains("Secure"));
    }

    #[test]
    fn dev_mode_drops_secure_only() {
        let dev = CookieConfig::builder("a")
            .insecure_dev_mode()
            .build()
            .unwrap();
        assert!(!dev.secure());
        assert_eq!(set_cookie(&dev), "a=v; HttpOnly; SameSite=Lax; Path=/");
    }

    #[test]
    fn invalid_names_paths_and_domains_are_refused() {
        for name in ["", "a b", "a;b", "a=b", "a,b", "é", "a\"b", "a\tb", "(a)"] {
            assert!(
                matches!(
                    CookieConfig::builder(name).build(),
                    Err(ConfigError::InvalidName { .. })
                ),
                "{name:?}"
            );
        }
        for path in ["", "app", "/a;b", "/a\nb", "/a\u{7f}"] {
            assert!(
                matches!(
                    CookieConfig::builder("a").path(path).build(),
                    Err(ConfigError::InvalidPath { .. })
                ),
                "{path:?}"
            );
        }
        for domain in ["", "a b", "a;b", "example.com;Secure", "ex\u{e9}.com"] {
            assert!(
                matches!(
                    CookieConfig::builder("a").domain(domain).build(),
                    Err(ConfigError::InvalidDomain { .. })
                ),
                "{domain:?}"
            );
        }
    }

    #[test]
    fn max_age_is_capped_at_400_days() {
        let config = CookieConfig::builder("a")
            .max_age(Duration::days(1000))
            .build()
            .unwrap();
        assert_eq!(config.max_age(), Some(Duration::days(400)));
        assert!(set_cookie(&config).contains(&format!("Max-Age={}", 400 * 86_400)));
    }
}
