//! `SignedCookies` and `PrivateCookies`: sealed views of a `Cookies` jar.

use std::fmt;
use std::marker::PhantomData;

use time::Duration;

use super::CookieKeys;
use crate::parse::{decode_value, encode_value};
use crate::{CookieConfig, CookieError, Cookies};

/// How a sealed view seals and opens values: [`Signed`] or [`Private`].
pub trait SealMode: sealed::Sealed + Send + Sync + 'static {}

/// Signed cookies: readable by the client, tamper-proof.
#[derive(Debug, Clone, Copy)]
pub enum Signed {}

/// Private cookies: encrypted and authenticated, unreadable by the client.
#[derive(Debug, Clone, Copy)]
pub enum Private {}

impl SealMode for Signed {}
impl SealMode for Private {}

mod sealed {
    use super::{CookieKeys, decode_value, encode_value};

    pub trait Sealed {
        /// The wire value (cookie-octets) for `value`.
        fn seal(keys: &CookieKeys, name: &str, value: &str) -> Option<String>;
        /// The plaintext of a wire value and whether its key is current.
        fn open(keys: &CookieKeys, name: &str, wire: &str) -> Option<(String, bool)>;
    }

    impl Sealed for super::Signed {
        fn seal(keys: &CookieKeys, name: &str, value: &str) -> Option<String> {
            Some(keys.sign(name, &encode_value(value)))
        }

        fn open(keys: &CookieKeys, name: &str, wire: &str) -> Option<(String, bool)> {
            keys.verify(name, wire)
                .map(|(value, current)| (decode_value(value).into_owned(), current))
        }
    }

    impl Sealed for super::Private {
        fn seal(keys: &CookieKeys, name: &str, value: &str) -> Option<String> {
            keys.encrypt(name, value)
        }

        fn open(keys: &CookieKeys, name: &str, wire: &str) -> Option<(String, bool)> {
            keys.decrypt(name, wire)
        }
    }
}

/// A view of a [`Cookies`] jar that seals what it writes and opens what it reads with
/// [`CookieKeys`]. Get one with [`Cookies::signed`] or [`Cookies::private`].
///
/// Reads look at the first cookie of the name (see [`Cookies`]); a cookie that fails
/// verification reads as absent ([`SealedRead::Invalid`] tells it apart), never as an error.
/// A cookie sealed by an older key of the ring is re-sealed with the current key and written
/// back with the definition's attributes, so rotations complete as users come back.
///
/// # Example
///
/// ```
/// use auth_cookie::{CookieConfig, CookieKeys, Cookies, SealedRead};
/// use http::{HeaderMap, header};
///
/// let keys = CookieKeys::generate()?;
/// let prefs = CookieConfig::builder("prefs").build()?;
///
/// // Response 1 sets a private cookie.
/// let first = Cookies::from_headers(&HeaderMap::new());
/// first.private(&keys).add(&prefs, "theme=dark")?;
/// let mut response = HeaderMap::new();
/// first.write_changes(&mut response);
/// let set_cookie = response[header::SET_COOKIE].to_str()?;
/// assert!(!set_cookie.contains("dark"));
///
/// // Request 2 sends it back.
/// let mut request = HeaderMap::new();
/// request.insert(header::COOKIE, set_cookie.split(';').next().unwrap().parse()?);
/// let second = Cookies::from_headers(&request);
/// assert_eq!(second.private(&keys).get(&prefs).as_deref(), Some("theme=dark"));
///
/// // Under another name, or tampered with, it is absent.
/// let forged = Cookies::from_headers(&{
///     let mut h = HeaderMap::new();
///     h.insert(header::COOKIE, set_cookie.replacen("prefs=", "other=", 1).split(';').next().unwrap().parse()?);
///     h
/// });
/// let other = CookieConfig::builder("other").build()?;
/// assert_eq!(forged.private(&keys).read(&other), SealedRead::Invalid);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SealedCookies<'a, M> {
    cookies: &'a Cookies,
    keys: &'a CookieKeys,
    mode: PhantomData<M>,
}

/// A signed view; see [`SealedCookies`].
pub type SignedCookies<'a> = SealedCookies<'a, Signed>;
/// A private (encrypted) view; see [`SealedCookies`].
pub type PrivateCookies<'a> = SealedCookies<'a, Private>;

/// What reading a sealed cookie found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedRead {
    /// No cookie of that name (or it was removed earlier in this request).
    Absent,
    /// A cookie of that name that does not verify: tampered with, sealed for another name, or
    /// sealed by a key no longer in the ring. Treat it as absent.
    Invalid,
    /// The verified value.
    Valid(String),
}

impl SealedRead {
    /// The value when valid.
    pub fn into_value(self) -> Option<String> {
        match self {
            Self::Valid(value) => Some(value),
            Self::Absent | Self::Invalid => None,
        }
    }
}

impl Cookies {
    /// A signed view of this jar.
    pub fn signed<'a>(&'a self, keys: &'a CookieKeys) -> SignedCookies<'a> {
        SealedCookies {
            cookies: self,
            keys,
            mode: PhantomData,
        }
    }

    /// A private (encrypted) view of this jar.
    pub fn private<'a>(&'a self, keys: &'a CookieKeys) -> PrivateCookies<'a> {
        SealedCookies {
            cookies: self,
            keys,
            mode: PhantomData,
        }
    }
}

impl<M: SealMode> SealedCookies<'_, M> {
    /// The verified value of cookie `config`, or `None` when absent or invalid.
    pub fn get(&self, config: &CookieConfig) -> Option<String> {
        self.read(config).into_value()
    }

    /// Reads cookie `config`, telling an absent cookie from one that failed verification.
    ///
    /// A valid cookie sealed with an older key is re-sealed with the current key (a
    /// `Set-Cookie` on the response).
    pub fn read(&self, config: &CookieConfig) -> SealedRead {
        let opened = self.cookies.with_wire(config.name(), |wire| {
            wire.map(|wire| M::open(self.keys, config.name(), wire))
        });
        let Some(opened) = opened else {
            return SealedRead::Absent;
        };
        match opened {
            Some((value, true)) => SealedRead::Valid(value),
            Some((value, false)) => {
                if let Err(error) = self.add(config, &value) {
                    tracing::warn!(cookie = config.name(), %error, "could not re-seal a cookie sealed by an old key");
                }
                SealedRead::Valid(value)
            }
            None => {
                tracing::debug!(
                    cookie = config.name(),
                    "sealed cookie failed verification; treated as absent"
                );
                SealedRead::Invalid
            }
        }
    }

    /// Seals `value` with the current key and sets cookie `config` to it, with the
    /// definition's `Max-Age`.
    ///
    /// # Errors
    ///
    /// [`CookieError::TooLarge`] when the sealed cookie would exceed 4096 bytes;
    /// [`CookieError::Seal`] when encryption fails.
    pub fn add(&self, config: &CookieConfig, value: &str) -> Result<(), CookieError> {
        self.add_with_max_age(config, value, config.max_age())
    }

    /// As [`add`](Self::add) with an explicit `Max-Age` (`None`: ends with the browser
    /// session).
    ///
    /// # Errors
    ///
    /// As [`add`](Self::add).
    pub fn add_with_max_age(
        &self,
        config: &CookieConfig,
        value: &str,
        max_age: Option<Duration>,
    ) -> Result<(), CookieError> {
        let sealed = M::seal(self.keys, config.name(), value).ok_or_else(|| CookieError::Seal {
            name: config.name().to_owned(),
        })?;
        self.cookies.add_encoded(config, sealed, max_age)
    }

    /// Deletes cookie `config` (see [`Cookies::remove`]): works whether or not the request's
    /// cookie verified.
    pub fn remove(&self, config: &CookieConfig) {
        self.cookies.remove(config);
    }
}

impl<M> fmt::Debug for SealedCookies<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedCookies")
            .field("mode", &std::any::type_name::<M>())
            .field("keys", self.keys)
            .finish_non_exhaustive()
    }
}
