use std::sync::Arc;

use tower_layer::Layer;

use super::decision::{Policy, clean_path, parse_trusted_origin};
use std::marker::PhantomData;

use super::form::{FormField, HeaderOnly};
use super::{Csrf, CsrfTokens, DefaultCsrfRejection};
use crate::ConfigError;

/// A [`Layer`] that refuses cross-site requests with unsafe methods on cookie-authenticated
/// routes (403), the algorithm of Go 1.25's `CrossOriginProtection`:
///
/// 1. `GET`, `HEAD` and `OPTIONS` pass (keep them free of side effects);
/// 2. `Sec-Fetch-Site: same-origin` or `none` (typed URL, bookmark) passes; any other value
///    (`same-site`, `cross-site`) is refused unless an exemption applies;
/// 3. without `Sec-Fetch-Site`: no `Origin` passes (a non-browser client, which a CSRF attack
///    cannot be), an `Origin` whose host equals the request's host passes, any other `Origin`
///    (including `null`) is refused unless an exemption applies;
/// 4. exemptions: an `Origin` in the trusted list (exact `scheme://host[:port]`), or a path
///    declared exempt (compared after resolving `.`, `..` and repeated slashes).
///
/// With [`with_tokens`](Self::with_tokens), a request that sends neither header must instead
/// carry a valid session-bound token (see [`CsrfTokens`]) in a header, or, with
/// [`with_form_field`](Self::with_form_field), in a form field.
///
/// Every refusal is a [`CsrfRejection`](super::CsrfRejection) in the response extensions; the
/// response itself is replaceable with [`with_rejection`](Self::with_rejection).
///
/// # Example
///
/// ```
/// use std::convert::Infallible;
///
/// use auth_cookie::CsrfLayer;
/// use http::{Method, Request, Response, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let svc = ServiceBuilder::new()
///     .layer(CsrfLayer::new().with_trusted_origin("https://admin.example.com")?)
///     .service_fn(|_req: Request<String>| async { Ok::<_, Infallible>(Response::new(String::new())) });
///
/// let post = |site: &str, origin: &str| {
///     Request::builder()
///         .method(Method::POST)
///         .uri("/transfer")
///         .header("host", "bank.example.com")
///         .header("sec-fetch-site", site)
///         .header("origin", origin)
///         .body(String::new())
/// };
/// let res = svc.clone().oneshot(post("same-origin", "https://bank.example.com")?).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// let res = svc.clone().oneshot(post("cross-site", "https://evil.example")?).await?;
/// assert_eq!(res.status(), StatusCode::FORBIDDEN);
/// let res = svc.oneshot(post("same-site", "https://admin.example.com")?).await?;
/// assert_eq!(res.status(), StatusCode::OK);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct CsrfLayer<R = DefaultCsrfRejection, M = HeaderOnly> {
    policy: Arc<Policy>,
    rejection: R,
    mode: PhantomData<M>,
}

impl CsrfLayer {
    /// The check with no trusted origin, no exempt path and no token mode.
    pub fn new() -> Self {
        Self {
            policy: Arc::new(Policy::default()),
            rejection: DefaultCsrfRejection,
            mode: PhantomData,
        }
    }
}

impl Default for CsrfLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> CsrfLayer<R, HeaderOnly> {
    /// Also accepts the token in the form field `field` of `application/x-www-form-urlencoded`
    /// requests, for plain HTML forms (token mode only; see [`with_tokens`](Self::with_tokens)).
    ///
    /// Such a request's body is read (up to 64 KiB) before the inner service runs, and handed
    /// on rebuilt from the same bytes, so the request body type must be buildable from
    /// `Bytes` (axum's `Body` is). Only requests that need it are buffered: unsafe methods
    /// without `Sec-Fetch-Site`, `Origin` or a token header.
    pub fn with_form_field(mut self, field: &str) -> CsrfLayer<R, FormField> {
        self.policy_mut().form_field = Some(Arc::from(field));
        CsrfLayer {
            policy: self.policy,
            rejection: self.rejection,
            mode: PhantomData,
        }
    }
}

impl<R, M> CsrfLayer<R, M> {
    fn policy_mut(&mut self) -> &mut Policy {
        Arc::make_mut(&mut self.policy)
    }

    /// Also accepts requests whose `Origin` is exactly `origin` (`scheme://host[:port]`),
    /// for example a separate admin front end. Adds to the list.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidOrigin`] for anything but `scheme://host[:port]` (no path,
    /// query, fragment, user info or `null`): a host without a scheme would let a plain-http
    /// attacker in.
    pub fn with_trusted_origin(mut self, origin: &str) -> Result<Self, ConfigError> {
        let origin = parse_trusted_origin(origin)?;
        self.policy_mut().trusted_origins.push(origin);
        Ok(self)
    }

    /// Exempts the exact path `path` (after cleaning), for example a webhook authenticated by
    /// its own signature. Adds to the list.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidExemptPath`] when `path` does not start with `/`.
    pub fn with_exempt_path(mut self, path: &str) -> Result<Self, ConfigError> {
        let path = exempt_path(path)?;
        self.policy_mut().exempt_paths.push(Arc::from(path));
        Ok(self)
    }

    /// Exempts every path under `prefix` (a trailing `/` is added if missing, so `/hooks`
    /// exempts `/hooks/a` but not `/hooksmith`). Adds to the list.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidExemptPath`] when `prefix` does not start with `/`.
    pub fn with_exempt_prefix(mut self, prefix: &str) -> Result<Self, ConfigError> {
        let mut prefix = exempt_path(prefix)?;
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        self.policy_mut().exempt_prefixes.push(Arc::from(prefix));
        Ok(self)
    }

    /// Requires a session-bound token from requests that send neither `Sec-Fetch-Site` nor
    /// `Origin`. The binding comes from the [`CsrfBinding`](super::CsrfBinding) in the request
    /// extensions; a request without one cannot have a valid token.
    pub fn with_tokens(mut self, tokens: CsrfTokens) -> Self {
        self.policy_mut().tokens = Some(tokens);
        self
    }

    /// Builds refusals with `rejection` instead of an empty 403.
    pub fn with_rejection<R2>(self, rejection: R2) -> CsrfLayer<R2, M> {
        CsrfLayer {
            policy: self.policy,
            rejection,
            mode: PhantomData,
        }
    }
}

fn exempt_path(path: &str) -> Result<String, ConfigError> {
    if path.starts_with('/') {
        Ok(clean_path(path))
    } else {
        Err(ConfigError::InvalidExemptPath {
            path: path.to_owned(),
        })
    }
}

impl<S, R: Clone, M> Layer<S> for CsrfLayer<R, M> {
    type Service = Csrf<S, R, M>;

    fn layer(&self, inner: S) -> Self::Service {
        Csrf::from_parts(inner, self.policy.clone(), self.rejection.clone())
    }
}
