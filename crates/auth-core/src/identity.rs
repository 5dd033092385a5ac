//! The authenticated principal that every authenticating layer produces.
//!
//! Whatever authenticated a request (a session cookie, a bearer JWT, an API key checked by
//! your own middleware), the result is one [`Identity`] in the request extensions. Guards such
//! as [`RequireAuthLayer`](crate::RequireAuthLayer) and handlers read only this type, so a
//! route does not care how its user logged in.

use std::fmt;
use std::sync::Arc;

use time::OffsetDateTime;

/// How an [`Identity`] was authenticated.
///
/// `#[non_exhaustive]`: new methods may be added without a breaking change.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// A server-side session, found through a session cookie.
    Session,
    /// A bearer JSON Web Token, verified without a store lookup.
    Jwt,
    /// Any other mechanism, named by the layer that produced the identity
    /// (for example `"api-key"` or `"mtls"`).
    Other(Arc<str>),
}

impl AuthMethod {
    /// A short, stable, lower-case name: `"session"`, `"jwt"` or the `Other` name.
    ///
    /// ```
    /// use auth_core::AuthMethod;
    /// assert_eq!(AuthMethod::Jwt.as_str(), "jwt");
    /// assert_eq!(AuthMethod::other("api-key").as_str(), "api-key");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Session => "session",
            Self::Jwt => "jwt",
            Self::Other(name) => name,
        }
    }

    /// An [`AuthMethod::Other`] with the given name.
    pub fn other(name: impl Into<Arc<str>>) -> Self {
        Self::Other(name.into())
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authenticated principal: who, how, who vouches for it, with which rights, for how long.
///
/// A principal is the pair ([`issuer`](Self::issuer), [`subject`](Self::subject)): two
/// issuers may both have a user called `bob`, and they are different people. Compare
/// identities with [`same_principal`](Self::same_principal), never on the subject alone. A
/// bearer token's identity names the `iss` of the trust entry that verified it; an identity
/// logged in locally (a password form) usually has no issuer.
///
/// Cloning is one atomic increment (the data sits behind an [`Arc`]). Authenticating layers
/// insert it into the request extensions; read it with
/// `req.extensions().get::<Identity>()` or, with the `axum` feature, as an extractor.
///
/// The `Debug` output shows the subject, method, roles and scopes but never the raw claims,
/// which may carry personal data.
///
/// # Example
///
/// ```
/// use auth_core::{AuthMethod, Identity};
///
/// let identity = Identity::builder("alice", AuthMethod::Session)
///     .role("user")
///     .scopes(["read", "write"])
///     .build();
///
/// assert_eq!(identity.subject(), "alice");
/// assert_eq!(identity.issuer(), None);
/// assert!(identity.has_role("user"));
/// assert!(!identity.has_role("admin"));
/// assert!(identity.has_scope("write"));
///
/// // The same subject from another issuer is another principal.
/// let external = Identity::builder("alice", AuthMethod::Jwt)
///     .issuer("https://accounts.example.com")
///     .build();
/// assert_eq!(external.issuer(), Some("https://accounts.example.com"));
/// assert!(!external.same_principal(&identity));
/// ```
#[derive(Clone)]
pub struct Identity {
    inner: Arc<Inner>,
}

#[derive(PartialEq)]
struct Inner {
    subject: String,
    issuer: Option<Arc<str>>,
    method: AuthMethod,
    roles: Vec<String>,
    scopes: Vec<String>,
    issued_at: Option<OffsetDateTime>,
    expires_at: Option<OffsetDateTime>,
    claims: Option<serde_json::Value>,
}

impl Identity {
    /// Starts building an identity for `subject`, authenticated by `method`.
    pub fn builder(subject: impl Into<String>, method: AuthMethod) -> IdentityBuilder {
        IdentityBuilder {
            inner: Inner {
                subject: subject.into(),
                issuer: None,
                method,
                roles: Vec::new(),
                scopes: Vec::new(),
                issued_at: None,
                expires_at: None,
                claims: None,
            },
        }
    }

    /// Who this is: the session's user id or the token's `sub`.
    pub fn subject(&self) -> &str {
        &self.inner.subject
    }

    /// Who vouches for this identity: for a bearer token, the `iss` of the trust entry that
    /// verified it; for a session, the issuer of the identity that logged in (none for a local
    /// login). `None` when the authenticating layer is its own authority.
    pub fn issuer(&self) -> Option<&str> {
        self.inner.issuer.as_deref()
    }

    /// Whether `other` is the same principal: the same issuer (or both none) and the same
    /// subject. Roles, scopes and times are not compared.
    pub fn same_principal(&self, other: &Self) -> bool {
        self.inner.subject == other.inner.subject && self.inner.issuer == other.inner.issuer
    }

    /// How the identity was authenticated.
    pub fn method(&self) -> &AuthMethod {
        &self.inner.method
    }

    /// The roles granted to this identity, in the order they were added, without duplicates.
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// The OAuth-style scopes granted to this identity, without duplicates.
    pub fn scopes(&self) -> &[String] {
        &self.inner.scopes
    }

    /// Whether `role` is among [`roles`](Self::roles) (exact, case-sensitive match).
    pub fn has_role(&self, role: &str) -> bool {
        self.inner.roles.iter().any(|r| r == role)
    }

    /// Whether `scope` is among [`scopes`](Self::scopes) (exact, case-sensitive match).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes.iter().any(|s| s == scope)
    }

    /// When the credential behind this identity was issued (a token's `iat`, a session's
    /// login time), if known.
    pub fn issued_at(&self) -> Option<OffsetDateTime> {
        self.inner.issued_at
    }

    /// When the credential behind this identity stops being valid, if known.
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.inner.expires_at
    }

    /// The raw claims the identity was built from (for a JWT, the whole payload), if the
    /// authenticating layer kept them.
    pub fn claims(&self) -> Option<&serde_json::Value> {
        self.inner.claims.as_ref()
    }
}

impl PartialEq for Identity {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner) || self.inner == other.inner
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("subject", &self.inner.subject)
            .field("issuer", &self.inner.issuer)
            .field("method", &self.inner.method)
            .field("roles", &self.inner.roles)
            .field("scopes", &self.inner.scopes)
            .field("issued_at", &self.inner.issued_at)
            .field("expires_at", &self.inner.expires_at)
            .field("claims", &self.inner.claims.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Builds an [`Identity`]; created by [`Identity::builder`].
#[must_use]
pub struct IdentityBuilder {
    inner: Inner,
}

impl IdentityBuilder {
    /// Names the issuer that vouches for this identity (a token's `iss`). Default: none.
    pub fn issuer(mut self, issuer: impl Into<Arc<str>>) -> Self {
        self.inner.issuer = Some(issuer.into());
        self
    }

    /// Adds one role (ignored if already present).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        push_unique(&mut self.inner.roles, role.into());
        self
    }

    /// Adds several roles (duplicates are ignored).
    pub fn roles<I>(mut self, roles: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        extend_unique(&mut self.inner.roles, roles);
        self
    }

    /// Adds one scope (ignored if already present).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        push_unique(&mut self.inner.scopes, scope.into());
        self
    }

    /// Adds several scopes (duplicates are ignored).
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        extend_unique(&mut self.inner.scopes, scopes);
        self
    }

    /// Sets when the credential was issued. Default: unknown.
    pub fn issued_at(mut self, at: OffsetDateTime) -> Self {
        self.inner.issued_at = Some(at);
        self
    }

    /// Sets when the credential expires. Default: unknown.
    pub fn expires_at(mut self, at: OffsetDateTime) -> Self {
        self.inner.expires_at = Some(at);
        self
    }

    /// Keeps the raw claims. Default: none.
    pub fn claims(mut self, claims: serde_json::Value) -> Self {
        self.inner.claims = Some(claims);
        self
    }

    /// Finishes the identity.
    pub fn build(self) -> Identity {
        Identity {
            inner: Arc::new(self.inner),
        }
    }
}

impl fmt::Debug for IdentityBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityBuilder")
            .field("subject", &self.inner.subject)
            .field("method", &self.inner.method)
            .finish_non_exhaustive()
    }
}

/// Proof that an authenticating layer ran on this request, whether or not it found an
/// identity.
///
/// Every authenticating layer of this workspace inserts one into the request extensions before
/// calling its inner service, or an [`Identity`] or a [`LazyIdentity`](crate::LazyIdentity)
/// instead (either proves the same, so a layer that found an identity may skip the marker). Extractors use it to tell "nobody is logged in" (401)
/// from "no authenticating layer is installed on this route" (a configuration bug: 500 with a
/// message naming the layer to add). If you write your own authenticating layer, insert one
/// too.
///
/// ```
/// use auth_core::AuthLayerMarker;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(AuthLayerMarker::new("MyApiKeyLayer"));
/// assert_eq!(req.extensions().get::<AuthLayerMarker>().map(|m| m.layer()), Some("MyApiKeyLayer"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthLayerMarker {
    layer: &'static str,
}

impl AuthLayerMarker {
    /// A marker naming the layer that inserted it.
    pub const fn new(layer: &'static str) -> Self {
        Self { layer }
    }

    /// The name of the (last) layer that inserted the marker.
    pub const fn layer(&self) -> &'static str {
        self.layer
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// Adds `items` to `list`, skipping duplicates. Into an empty list, a `Vec<String>` is taken
/// over in place (no new allocation), then deduplicated keeping first occurrences.
fn extend_unique<I>(list: &mut Vec<String>, items: I)
where
    I: IntoIterator,
    I::Item: Into<String>,
{
    if list.is_empty() {
        // For `Vec<String>` input, collecting through an identity map reuses its buffer.
        *list = items.into_iter().map(Into::into).collect();
        let mut seen = 0;
        for i in 0..list.len() {
            let fresh = list
                .get(i)
                .is_some_and(|item| !list.get(..seen).unwrap_or_default().contains(item));
            if fresh {
                list.swap(seen, i);
                seen += 1;
            }
        }
        list.truncate(seen);
    } else {
        for item in items {
            push_unique(list, item.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_allocation() {
        let a = Identity::builder("alice", AuthMethod::Jwt).build();
        let b = a.clone();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert_eq!(a, b);
    }

    #[test]
    fn roles_and_scopes_are_deduplicated_and_exact() {
        let id = Identity::builder("bob", AuthMethod::Session)
            .roles(["user", "admin", "user"])
            .scope("read")
            .scope("read")
            .build();
        assert_eq!(id.roles(), ["user", "admin"]);
        assert_eq!(id.scopes(), ["read"]);
        assert!(!id.has_role("Admin"));
        assert!(!id.has_scope("rea"));
    }

    #[test]
    fn bulk_grants_keep_first_occurrences_in_order() {
        let owned = vec!["b", "a", "b", "c", "a", "a", "d"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        let id = Identity::builder("dan", AuthMethod::Jwt)
            .scopes(owned)
            .scopes(["c", "e", "e"])
            .roles(Vec::<String>::new())
            .roles(["x", "x"])
            .build();
        assert_eq!(id.scopes(), ["b", "a", "c", "d", "e"]);
        assert_eq!(id.roles(), ["x"]);
    }

    #[test]
    fn principals_differ_by_issuer() {
        let local = Identity::builder("bob", AuthMethod::Jwt).build();
        let ours = Identity::builder("bob", AuthMethod::Jwt)
            .issuer("demo")
            .build();
        let theirs = Identity::builder("bob", AuthMethod::Jwt)
            .issuer("https://idp.example")
            .role("admin")
            .build();
        assert!(!ours.same_principal(&theirs));
        assert!(!ours.same_principal(&local));
        assert!(
            ours.same_principal(
                &Identity::builder("bob", AuthMethod::Session)
                    .issuer("demo")
                    .build()
            )
        );
        assert_ne!(ours, theirs);
        assert!(format!("{theirs:?}").contains("idp.example"));
    }

    #[test]
    fn debug_redacts_raw_claims() {
        let id = Identity::builder("carol", AuthMethod::other("api-key"))
            .claims(serde_json::json!({ "email": "carol@example.com" }))
            .build();
        let debug = format!("{id:?}");
        assert!(debug.contains("carol"));
        assert!(debug.contains("api-key"));
        assert!(!debug.contains("example.com"), "{debug}");
    }
}
