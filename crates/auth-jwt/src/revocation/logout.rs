//! `Logout`: revoking the current token, or every token of the current subject, from a
//! handler.

use std::fmt;
use std::sync::Arc;

use auth_core::{Claims, RevocationError, RevocationList, SharedClock};
use http::Extensions;
use time::{Duration, OffsetDateTime};

/// What the layer leaves in the extensions of an authenticated request when it has a
/// revocation list: the list, and how to read the current token's claims.
#[derive(Clone)]
pub(crate) struct LogoutSlot {
    ctx: Arc<LogoutContext>,
    /// The index of the trust entry that verified the token, in `ctx.issuers`.
    entry: usize,
    current: fn(&Extensions) -> Option<Current>,
}

impl LogoutSlot {
    pub(crate) fn new<C: Send + Sync + 'static>(ctx: &Arc<LogoutContext>, entry: usize) -> Self {
        Self {
            ctx: Arc::clone(ctx),
            entry,
            current: current_of::<C>,
        }
    }
}

/// The per-layer part of [`Logout`].
pub(crate) struct LogoutContext {
    pub(crate) list: Arc<dyn RevocationList>,
    pub(crate) clock: SharedClock,
    /// How long a subject revocation is remembered.
    pub(crate) retention: Duration,
    /// Each trust entry's issuer and leeway, in the layer's order.
    pub(crate) issuers: Box<[(Arc<str>, Duration)]>,
}

#[derive(Clone)]
struct Current {
    jti: Option<String>,
    subject: String,
    expires_at: Option<i64>,
}

fn current_of<C: Send + Sync + 'static>(ext: &Extensions) -> Option<Current> {
    let claims = ext.get::<Claims<C>>()?;
    Some(Current {
        jti: claims.jti.clone(),
        subject: claims.sub.clone()?,
        expires_at: claims.exp.map(|d| d.unix()),
    })
}

/// Logs out the bearer of the current request: revokes its token, or every token of its
/// subject ("log out everywhere").
///
/// Available on requests that a [`JwtLayer`](crate::JwtLayer) with a revocation list
/// ([`JwtLayerBuilder::with_revocation`](crate::JwtLayerBuilder::with_revocation)) has
/// authenticated: from plain tower with [`Logout::from_extensions`], from axum as an
/// extractor (feature `axum`; see [`LogoutRejection`]).
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
///
/// use auth_core::{KeyId, KeyRing, ManualClock, SecretKey};
/// use auth_jwt::{Algorithm, Issuer, JwtLayer, Logout, MemoryRevocationList, SigningKey};
/// use http::{Request, Response, StatusCode, header};
/// use tower::{ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let secret = SecretKey::generate(32)?;
/// let clock = Arc::new(ManualClock::at_unix(1_700_000_000));
/// let issuer = Issuer::new(
///     KeyRing::new(KeyId::new("k1")?, SigningKey::hmac(Algorithm::HS256, secret.clone())?),
///     "https://auth.example.com",
///     "api",
/// )?
/// .with_clock(clock.clone());
/// let revoked = Arc::new(MemoryRevocationList::new().with_clock(clock.clone()));
/// let layer = JwtLayer::builder(issuer.trusted()?)
///     .with_clock(clock)
///     .with_revocation(revoked)
///     .build()?;
///
/// // POST /logout revokes the token it was called with.
/// let service = ServiceBuilder::new().layer(layer).service_fn(|req: Request<String>| async move {
///     if req.uri().path() == "/logout" {
///         let logout = Logout::from_extensions(req.extensions()).expect("behind the layer");
///         logout.revoke_token().await.expect("recorded");
///     }
///     Ok::<_, Infallible>(Response::new(String::new()))
/// });
/// let bearer = format!("Bearer {}", issuer.mint("alice")?);
/// let call = |path: &'static str| {
///     Request::post(path).header(header::AUTHORIZATION, &bearer).body(String::new())
/// };
///
/// assert_eq!(service.clone().oneshot(call("/me")?).await?.status(), StatusCode::OK);
/// assert_eq!(service.clone().oneshot(call("/logout")?).await?.status(), StatusCode::OK);
/// assert_eq!(service.oneshot(call("/me")?).await?.status(), StatusCode::UNAUTHORIZED);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Logout {
    ctx: Arc<LogoutContext>,
    issuer: Arc<str>,
    leeway: Duration,
    current: Current,
}

impl Logout {
    /// The logout handle of an authenticated request, or `None` when no
    /// [`JwtLayer`](crate::JwtLayer) with a revocation list authenticated it.
    ///
    /// ```
    /// let ext = http::Extensions::new();
    /// assert!(auth_jwt::Logout::from_extensions(&ext).is_none());
    /// ```
    pub fn from_extensions(extensions: &Extensions) -> Option<Self> {
        let slot = extensions.get::<LogoutSlot>()?;
        let (issuer, leeway) = slot.ctx.issuers.get(slot.entry)?;
        Some(Self {
            issuer: Arc::clone(issuer),
            leeway: *leeway,
            ctx: Arc::clone(&slot.ctx),
            current: (slot.current)(extensions)?,
        })
    }

    /// The issuer of the current token: every revocation made through this handle is in
    /// its namespace.
    ///
    /// ```
    /// # fn f(logout: auth_jwt::Logout) {
    /// println!("logging out {} of {}", logout.subject(), logout.issuer());
    /// # }
    /// ```
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The subject of the current token.
    ///
    /// ```
    /// # fn f(logout: auth_jwt::Logout) {
    /// println!("logging out {}", logout.subject());
    /// # }
    /// ```
    pub fn subject(&self) -> &str {
        &self.current.subject
    }

    /// The `jti` of the current token, if it has one.
    ///
    /// ```
    /// # fn f(logout: auth_jwt::Logout) {
    /// let revocable_alone = logout.jti().is_some();
    /// # }
    /// ```
    pub fn jti(&self) -> Option<&str> {
        self.current.jti.as_deref()
    }

    /// The revocation list, for other revocations (a session: `revoke_session`, with
    /// [`issuer`](Self::issuer)).
    ///
    /// ```
    /// # fn f(logout: auth_jwt::Logout) {
    /// let list = logout.list();
    /// # }
    /// ```
    pub fn list(&self) -> &Arc<dyn RevocationList> {
        &self.ctx.list
    }

    /// Revokes the current token (by its `jti`, until its `exp`).
    ///
    /// ```
    /// # async fn f(logout: auth_jwt::Logout) -> Result<(), auth_core::RevocationError> {
    /// logout.revoke_token().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// What the list answers; [`RevocationError::Unsupported`] when the token has no `jti`
    /// (possible only with [`with_jti_required(false)`](crate::JwtLayerBuilder::with_jti_required):
    /// use [`revoke_subject`](Self::revoke_subject) then).
    pub async fn revoke_token(&self) -> Result<(), RevocationError> {
        let jti = self
            .current
            .jti
            .as_deref()
            .ok_or(RevocationError::Unsupported("revoking a token without jti"))?;
        let until = match self.current.expires_at {
            Some(exp) => OffsetDateTime::from_unix_timestamp(exp)
                .unwrap_or_else(|_| self.ctx.clock.now() + self.ctx.retention),
            None => self.ctx.clock.now() + self.ctx.retention,
        };
        self.ctx.list.revoke_token(&self.issuer, jti, until).await
    }

    /// Revokes every token of the current subject (of the current issuer) issued up to now,
    /// this one included ("log out everywhere"), remembered for the layer's
    /// [subject revocation retention](crate::JwtLayerBuilder::with_subject_revocation_retention).
    ///
    /// Tokens are compared on `iat` in whole seconds, and the instant covers the issuer's
    /// [leeway](crate::TrustedIssuer::with_leeway): a token whose `iat` lies ahead of this
    /// clock (an issuer whose clock runs fast) is accepted within the leeway, so it is
    /// revoked too. The price: tokens minted for this subject within the leeway after the
    /// call are refused as well; keep the leeway of an issuer that shares your clock small.
    ///
    /// ```
    /// # async fn f(logout: auth_jwt::Logout) -> Result<(), auth_core::RevocationError> {
    /// logout.revoke_subject().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// What the list answers.
    pub async fn revoke_subject(&self) -> Result<(), RevocationError> {
        let now = self.ctx.clock.now();
        let issued_before = now + self.leeway;
        let mut retain_until = issued_before + self.ctx.retention;
        if let Some(exp) = self
            .current
            .expires_at
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
        {
            retain_until = retain_until.max(exp);
        }
        self.ctx
            .list
            .revoke_subject(
                &self.issuer,
                &self.current.subject,
                issued_before,
                retain_until,
            )
            .await
    }
}

impl fmt::Debug for Logout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logout")
            .field("issuer", &self.issuer)
            .field("subject", &self.current.subject)
            .field("list", &self.ctx.list)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "axum")]
mod axum_impl {
    use std::fmt;

    use auth_core::AuthLayerMarker;
    use axum_core::extract::FromRequestParts;
    use axum_core::response::{IntoResponse, Response};
    use http::request::Parts;
    use http::{HeaderValue, StatusCode, header};

    use super::Logout;

    /// Why the [`Logout`] extractor failed (feature `axum`).
    ///
    /// ```
    /// use auth_jwt::LogoutRejection;
    /// use http::StatusCode;
    ///
    /// assert_eq!(LogoutRejection::Unauthenticated.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(LogoutRejection::MissingLayer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum LogoutRejection {
        /// An authenticating layer ran but no token was verified (optional mode): 401.
        Unauthenticated,
        /// No [`JwtLayer`](crate::JwtLayer) with a revocation list covers the route: 500, a
        /// configuration error.
        MissingLayer,
    }

    impl LogoutRejection {
        /// 401 or 500.
        pub fn status(&self) -> StatusCode {
            match self {
                Self::Unauthenticated => StatusCode::UNAUTHORIZED,
                Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
            }
        }
    }

    impl fmt::Display for LogoutRejection {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(match self {
                Self::Unauthenticated => "authentication required",
                Self::MissingLayer => {
                    "auth_jwt::Logout was extracted on a route that no auth_jwt::JwtLayer with a \
                     revocation list (JwtLayerBuilder::with_revocation) covers"
                }
            })
        }
    }

    impl std::error::Error for LogoutRejection {}

    impl IntoResponse for LogoutRejection {
        fn into_response(self) -> Response {
            let mut res = (self.status(), self.to_string()).into_response();
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            if self == Self::Unauthenticated {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            res
        }
    }

    /// The [`Logout`] handle of the request (feature `axum`).
    ///
    /// ```
    /// use auth_jwt::Logout;
    ///
    /// async fn logout(logout: Logout) -> http::StatusCode {
    ///     match logout.revoke_token().await {
    ///         Ok(()) => http::StatusCode::NO_CONTENT,
    ///         Err(_) => http::StatusCode::SERVICE_UNAVAILABLE,
    ///     }
    /// }
    /// let app: axum::Router = axum::Router::new().route("/logout", axum::routing::post(logout));
    /// ```
    impl<S: Send + Sync> FromRequestParts<S> for Logout {
        type Rejection = LogoutRejection;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            if let Some(logout) = Self::from_extensions(&parts.extensions) {
                return Ok(logout);
            }
            if parts.extensions.get::<AuthLayerMarker>().is_some()
                && parts.extensions.get::<super::LogoutSlot>().is_none()
                && parts.extensions.get::<auth_core::Identity>().is_none()
            {
                Err(LogoutRejection::Unauthenticated)
            } else {
                Err(LogoutRejection::MissingLayer)
            }
        }
    }
}

#[cfg(feature = "axum")]
pub use axum_impl::LogoutRejection;
