//! The demo app: the three approaches side by side on one axum router.
//!
//! - **Cookie sessions** (`/`, `/login`, `/logout`, `/me`, `/admin`): an HTML login form, a
//!   server-side session in a `MemoryStore`, CSRF protection on unsafe methods.
//! - **Bearer JWTs** (`/api/token`, `/api/me`, `/api/admin`, `/api/logout`, `/api/logout-all`,
//!   `/.well-known/jwks.json`): EdDSA tokens minted by an `Issuer`, verified by a `JwtLayer`
//!   with an in-memory revocation list (logout without a store lookup per request).
//! - **Either** (`/whoami`): a session cookie or a bearer token.
//!
//! Configuration comes from the environment ([`DemoConfig::from_env`]); everything has an
//! embedded default, so `cargo run -p demo` needs no server; `DEMO_STORE` and
//! `DEMO_REVOCATION` move sessions and revocations to Redis / PostgreSQL / SQLite so several
//! instances share them; `DEMO_TRUST_*` also accepts bearer tokens of an external issuer,
//! with keys from its JWKS.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use auth_cookie::{CookieKeys, CsrfLayer};
use auth_core::{
    AuthMethod, Claims, FromIssuer, Identity, KeyId, KeyRing, RequireAuthLayer, RevocationList,
    SecretKey, SessionStore,
};
use auth_jwt::{
    Algorithm, Issuer, JwkSet, JwksSource, JwtLayer, KeySet, Logout, MemoryRevocationList,
    SigningKey, TrustedIssuer,
};
use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Form, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use time::Duration;

/// The token lifetime: 15 minutes.
pub const TOKEN_LIFETIME: Duration = Duration::minutes(15);

/// The `iss` of the demo's own tokens.
pub const ISSUER: &str = "demo";

/// The `aud` of the demo's own tokens.
pub const AUDIENCE: &str = "demo-api";

/// The clock skew tolerated on the demo's own tokens: every instance reads an NTP-synced
/// clock, so a few seconds. (A "log out everywhere" also refuses tokens minted within this
/// window after it, since it must cover tokens dated that far ahead.) External issuers keep
/// the default 30 s.
pub const OWN_LEEWAY: Duration = Duration::seconds(5);

/// A configuration error: which variable, and what is wrong with it.
#[derive(Debug)]
pub struct DemoError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for DemoError {}

fn error(variable: &'static str, message: impl Into<String>) -> DemoError {
    DemoError {
        variable,
        message: message.into(),
    }
}

/// Where sessions are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreChoice {
    /// The embedded `MemoryStore` (default).
    Memory,
    /// `RedisStore` at this URL.
    Redis(String),
    /// `PostgresStore` at this URL (the table is created if missing).
    Postgres(String),
    /// `SqliteStore` in this file.
    Sqlite(String),
}

/// Where token revocations are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RevocationChoice {
    /// In this process only (default).
    Memory,
    /// Written to Redis at this URL and mirrored by every instance.
    Redis(String),
}

/// An external token issuer whose tokens the bearer routes accept too: one more trust entry,
/// sharing nothing with the demo's own (its audience, keys, revocations and identities are
/// its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIssuer {
    /// `DEMO_TRUST_JWKS_URL`: where its public keys are published.
    pub jwks_url: String,
    /// `DEMO_TRUST_ISSUER`: its `iss`.
    pub issuer: String,
    /// `DEMO_TRUST_AUDIENCE`: the `aud` its tokens carry for this app.
    pub audience: String,
}

/// The demo's settings.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// `DEMO_ADDR`, default `127.0.0.1:3000`.
    pub addr: SocketAddr,
    /// `DEMO_STORE`: `memory` (default), `redis://...`, `postgres://...` or `sqlite://PATH`.
    pub store: StoreChoice,
    /// `DEMO_REVOCATION`: `memory` (default) or `redis://...`.
    pub revocation: RevocationChoice,
    /// `DEMO_COOKIE_KEY`: base64 key material shared by instances; random when unset.
    pub cookie_key: Option<SecretKey>,
    /// `DEMO_JWT_KEY_FILE`: a PEM Ed25519 (PKCS#8) private key; generated when unset.
    pub jwt_key_pem: Option<Vec<u8>>,
    /// `DEMO_INSECURE_COOKIES=1`: leave out `Secure` for plain-http testing.
    pub insecure_cookies: bool,
    /// `DEMO_REDIS_PREFIX`: the key prefix (and channel name) in Redis, default `demo`.
    pub redis_prefix: String,
    /// `DEMO_TRUST_JWKS_URL` + `DEMO_TRUST_ISSUER` + `DEMO_TRUST_AUDIENCE` (all three or none).
    pub trust: Option<ExternalIssuer>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            store: StoreChoice::Memory,
            revocation: RevocationChoice::Memory,
            cookie_key: None,
            jwt_key_pem: None,
            insecure_cookies: false,
            redis_prefix: "demo".to_owned(),
            trust: None,
        }
    }
}

impl DemoConfig {
    /// Reads the `DEMO_*` variables.
    ///
    /// # Errors
    ///
    /// [`DemoError`] naming the variable that cannot be used.
    pub fn from_env() -> Result<Self, DemoError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let mut config = Self::default();
        if let Some(addr) = var("DEMO_ADDR") {
            config.addr = addr
                .parse()
                .map_err(|e| error("DEMO_ADDR", format!("not an address: {e}")))?;
        }
        if let Some(store) = var("DEMO_STORE") {
            config.store = if store == "memory" {
                StoreChoice::Memory
            } else if store.starts_with("redis://") || store.starts_with("rediss://") {
                StoreChoice::Redis(store)
            } else if store.starts_with("postgres://") || store.starts_with("postgresql://") {
                StoreChoice::Postgres(store)
            } else if let Some(path) = store.strip_prefix("sqlite://") {
                StoreChoice::Sqlite(path.to_owned())
            } else {
                return Err(error(
                    "DEMO_STORE",
                    "use memory, redis://..., postgres://... or sqlite://PATH",
                ));
            };
        }
        if let Some(revocation) = var("DEMO_REVOCATION") {
            config.revocation = if revocation == "memory" {
                RevocationChoice::Memory
            } else if revocation.starts_with("redis://") || revocation.starts_with("rediss://") {
                RevocationChoice::Redis(revocation)
            } else {
                return Err(error("DEMO_REVOCATION", "use memory or redis://..."));
            };
        }
        if let Some(key) = var("DEMO_COOKIE_KEY") {
            config.cookie_key = Some(
                SecretKey::from_base64(&key)
                    .map_err(|e| error("DEMO_COOKIE_KEY", e.to_string()))?,
            );
        }
        if let Some(path) = var("DEMO_JWT_KEY_FILE") {
            config.jwt_key_pem = Some(
                std::fs::read(&path)
                    .map_err(|e| error("DEMO_JWT_KEY_FILE", format!("cannot read {path}: {e}")))?,
            );
        }
        config.insecure_cookies = var("DEMO_INSECURE_COOKIES").as_deref() == Some("1");
        if let Some(prefix) = var("DEMO_REDIS_PREFIX") {
            config.redis_prefix = prefix;
        }
        let trust = [
            ("DEMO_TRUST_JWKS_URL", var("DEMO_TRUST_JWKS_URL")),
            ("DEMO_TRUST_ISSUER", var("DEMO_TRUST_ISSUER")),
            ("DEMO_TRUST_AUDIENCE", var("DEMO_TRUST_AUDIENCE")),
        ];
        if trust.iter().any(|(_, v)| v.is_some()) {
            if let Some((name, _)) = trust.iter().find(|(_, v)| v.is_none()) {
                return Err(error(
                    name,
                    "set DEMO_TRUST_JWKS_URL, DEMO_TRUST_ISSUER and DEMO_TRUST_AUDIENCE together",
                ));
            }
            let [(_, Some(jwks_url)), (_, Some(issuer)), (_, Some(audience))] = trust else {
                return Err(error("DEMO_TRUST_JWKS_URL", "incomplete trust settings"));
            };
            config.trust = Some(ExternalIssuer {
                jwks_url,
                issuer,
                audience,
            });
        }
        Ok(config)
    }
}

/// A demo user.
struct User {
    name: &'static str,
    hash: String,
    roles: &'static [&'static str],
}

/// The users, with argon2 password hashes computed at startup.
struct Users {
    users: Vec<User>,
    /// Verified against when the user is unknown, so timing does not reveal which names exist.
    dummy: String,
}

impl Users {
    fn new() -> Result<Self, DemoError> {
        let hash = |password: &str| {
            let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| error("users", e.to_string()))
        };
        Ok(Self {
            users: vec![
                User {
                    name: "alice",
                    hash: hash("alice-password")?,
                    roles: &["user"],
                },
                User {
                    name: "bob",
                    hash: hash("bob-password")?,
                    roles: &["user", "admin"],
                },
            ],
            dummy: hash("no such user")?,
        })
    }

    /// The user if the password matches (argon2 verification compares in constant time).
    fn check(&self, name: &str, password: &str) -> Option<&User> {
        let user = self.users.iter().find(|u| u.name == name);
        let hash = user.map_or(self.dummy.as_str(), |u| u.hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        user.filter(|_| ok)
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
struct AppState {
    users: Arc<Users>,
    issuer: Arc<Issuer>,
}

/// How long connecting to a configured backend may take at start-up.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

async fn within<T, E: std::fmt::Display>(
    variable: &'static str,
    future: impl Future<Output = Result<T, E>>,
) -> Result<T, DemoError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(error(variable, format!("unreachable: {e}"))),
        Err(_) => Err(error(variable, "unreachable: no answer within 5 s")),
    }
}

async fn session_store(config: &DemoConfig) -> Result<Arc<dyn SessionStore>, DemoError> {
    Ok(match &config.store {
        StoreChoice::Memory => Arc::new(MemoryStore::new()),
        StoreChoice::Redis(url) => Arc::new(
            within("DEMO_STORE", auth_session::RedisStore::connect(url))
                .await?
                .with_prefix(format!("{}:session", config.redis_prefix)),
        ),
        StoreChoice::Postgres(url) => {
            let store = within("DEMO_STORE", auth_session::PostgresStore::connect(url)).await?;
            within("DEMO_STORE", store.migrate()).await?;
            Arc::new(store)
        }
        StoreChoice::Sqlite(path) => {
            let store = within("DEMO_STORE", auth_session::SqliteStore::open(path)).await?;
            within("DEMO_STORE", store.migrate()).await?;
            Arc::new(store)
        }
    })
}

async fn revocation_list(config: &DemoConfig) -> Result<Arc<dyn RevocationList>, DemoError> {
    Ok(match &config.revocation {
        RevocationChoice::Memory => Arc::new(MemoryRevocationList::new()),
        RevocationChoice::Redis(url) => {
            let client = auth_jwt::redis::Client::open(url.as_str())
                .map_err(|e| error("DEMO_REVOCATION", e.to_string()))?;
            let list = within(
                "DEMO_REVOCATION",
                auth_jwt::RedisRevocationList::builder(client)
                    .with_prefix(format!("{}:revoked:", config.redis_prefix))
                    .with_channel(format!("{}:revocations", config.redis_prefix))
                    .start(),
            )
            .await?;
            if !list.wait_synced(CONNECT_TIMEOUT).await {
                return Err(error(
                    "DEMO_REVOCATION",
                    "unreachable: the revocation feed did not sync within 5 s",
                ));
            }
            Arc::new(list)
        }
    })
}

/// Builds the demo router from `config`, connecting to the configured backends.
///
/// # Errors
///
/// [`DemoError`] when a key cannot be used or a backend cannot be reached.
pub async fn app(config: &DemoConfig) -> Result<Router, DemoError> {
    let cookie_secret = match &config.cookie_key {
        Some(key) => key.clone(),
        None => SecretKey::generate(32).map_err(|e| error("DEMO_COOKIE_KEY", e.to_string()))?,
    };
    let kid = |id: &str| KeyId::new(id).map_err(|e| error("keys", e.to_string()));
    let cookie_keys = CookieKeys::new(KeyRing::new(kid("cookie-1")?, cookie_secret));
    // The default session cookie, `__Host-id`: Secure, Path=/, no Domain, so a sibling
    // subdomain cannot plant a look-alike. Plain `id` without Secure only in development mode.
    let mut sessions = SessionLayer::new(session_store(config).await?, cookie_keys);
    if config.insecure_cookies {
        sessions = sessions.with_insecure_dev_cookie();
    }

    let signing = match &config.jwt_key_pem {
        Some(pem) => SigningKey::from_pem(Algorithm::EdDSA, pem)
            .map_err(|e| error("DEMO_JWT_KEY_FILE", e.to_string()))?,
        None => generated_ed25519()?,
    };
    let key_id = kid(&signing_kid(&signing))?;
    let issuer = Issuer::new(KeyRing::new(key_id, signing), ISSUER, AUDIENCE)
        .map_err(|e| error("DEMO_JWT_KEY_FILE", e.to_string()))?
        .with_lifetime(TOKEN_LIFETIME);
    // Trust: the demo's own issuer, plus the external one when configured. Each entry has its
    // own audience and keys; a token is checked against the entry its `iss` names only.
    let own = TrustedIssuer::new(
        ISSUER,
        KeySet::builder()
            .add_jwk_set(&issuer.jwk_set())
            .and_then(auth_jwt::KeySetBuilder::build)
            .map_err(|e| error("DEMO_JWT_KEY_FILE", e.to_string()))?,
    )
    .add_audience(AUDIENCE)
    .with_leeway(OWN_LEEWAY);
    let external = match &config.trust {
        Some(trust) => {
            let source = JwksSource::new(&trust.jwks_url)
                .map_err(|e| error("DEMO_TRUST_JWKS_URL", e.to_string()))?;
            let keys = KeySet::builder()
                .add_jwks(source)
                .build()
                .map_err(|e| error("DEMO_TRUST_JWKS_URL", e.to_string()))?;
            Some(
                TrustedIssuer::new(trust.issuer.as_str(), keys)
                    .add_audience(trust.audience.as_str()),
            )
        }
        None => None,
    };
    let revocations = revocation_list(config).await?;
    let jwt = |optional: bool| {
        let builder = JwtLayer::builder(own.clone())
            .with_realm("demo")
            .with_revocation(revocations.clone())
            .with_subject_revocation_retention(TOKEN_LIFETIME);
        let builder = match &external {
            Some(external) => builder.add_issuer(external.clone()),
            None => builder,
        };
        let builder = if optional {
            builder.optional()
        } else {
            builder
        };
        builder
            .build()
            .map_err(|e| error("DEMO_TRUST_ISSUER", e.to_string()))
    };

    let state = AppState {
        users: Arc::new(Users::new()?),
        issuer: Arc::new(issuer),
    };

    let pages = Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/me", get(me_session))
        .route(
            "/admin",
            get(|id: Identity| async move { Json(json!({ "admin": id.subject() })) })
                .route_layer(RequireAuthLayer::role("admin")),
        )
        .layer(CsrfLayer::new());
    let api = Router::new()
        .route("/api/me", get(me_jwt))
        .route(
            "/api/admin",
            // The demo's own admins: an `admin` scope from an external issuer means nothing here.
            get(|id: Identity| async move { Json(json!({ "admin": id.subject() })) })
                .route_layer(RequireAuthLayer::scope("admin").and(FromIssuer(ISSUER.into()))),
        )
        .route("/api/logout", post(api_logout))
        .route("/api/logout-all", post(api_logout_all))
        .layer(jwt(false)?);
    let either = Router::new()
        .route("/whoami", get(whoami))
        .layer(jwt(true)?);
    Ok(Router::new()
        .merge(pages)
        .merge(api)
        .merge(either)
        .route("/api/token", post(token))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(state)
        .layer(sessions))
}

/// A fresh Ed25519 key (PKCS#8 v1), for a single-instance demo.
fn generated_ed25519() -> Result<SigningKey, DemoError> {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
        .map_err(|_| error("DEMO_JWT_KEY_FILE", "cannot generate an Ed25519 key"))?;
    SigningKey::from_der(Algorithm::EdDSA, pkcs8.as_ref())
        .map_err(|e| error("DEMO_JWT_KEY_FILE", e.to_string()))
}

/// A key id derived from the public key, so instances sharing a key file agree on it.
fn signing_kid(key: &SigningKey) -> String {
    key.public_jwk().and_then(|jwk| jwk.x.clone()).map_or_else(
        || "ed25519".to_owned(),
        |x| format!("ed-{}", x.chars().take(16).collect::<String>()),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem;color:#1f2933}\
form{display:grid;gap:.6rem;margin-top:1rem}input,button{font:inherit;padding:.5rem;border:1px solid #9aa5b1;border-radius:.3rem}\
button{background:#1f2933;color:#fff;cursor:pointer}.error{color:#b42318}";

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>auth demo</title>\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><style>{STYLE}</style></head>\
         <body><h1>auth demo</h1>{body}</body></html>"
    ))
}

fn login_form(error: Option<&str>) -> Html<String> {
    let error = error.map_or_else(String::new, |e| format!("<p class=\"error\">{e}</p>"));
    page(&format!(
        "{error}<form method=\"post\" action=\"/login\">\
         <label>Username <input name=\"username\" autocomplete=\"username\" required></label>\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form>"
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn index(session: Session) -> Result<Html<String>, SessionError> {
    Ok(match session.identity().await? {
        Some(id) => page(&format!(
            "<p>Signed in as {}</p><form method=\"post\" action=\"/logout\">\
             <button type=\"submit\">Sign out</button></form>",
            escape(id.subject())
        )),
        None => login_form(None),
    })
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<Credentials>,
) -> Result<Response, SessionError> {
    let Some(user) = state.users.check(&form.username, &form.password) else {
        tracing::info!("failed login");
        return Ok((
            StatusCode::UNAUTHORIZED,
            login_form(Some("Wrong username or password.")),
        )
            .into_response());
    };
    let identity = Identity::builder(user.name, AuthMethod::Session)
        .roles(user.roles.iter().copied())
        .build();
    session.login(&identity).await?;
    Ok(Redirect::to("/").into_response())
}

async fn logout(session: Session) -> Result<Redirect, SessionError> {
    session.logout().await?;
    Ok(Redirect::to("/"))
}

/// Adds `"iss"` to a JSON object when the identity names its issuer.
fn with_issuer(body: &mut serde_json::Value, identity: &Identity) {
    if let (Some(map), Some(iss)) = (body.as_object_mut(), identity.issuer()) {
        map.insert("iss".to_owned(), json!(iss));
    }
}

fn unauthenticated() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "unauthenticated" })),
    )
        .into_response()
}

async fn me_session(session: Session) -> Result<Response, SessionError> {
    Ok(match session.identity().await? {
        Some(id) => {
            let mut body = json!({ "sub": id.subject(), "method": "session", "roles": id.roles() });
            with_issuer(&mut body, &id);
            Json(body).into_response()
        }
        None => unauthenticated(),
    })
}

#[derive(Deserialize)]
struct TokenRequest {
    username: String,
    password: String,
}

async fn token(
    State(state): State<AppState>,
    request: Result<Json<TokenRequest>, JsonRejection>,
) -> Response {
    // A body that is not the expected JSON is the client's error: 400 in JSON, like the rest of
    // the API (axum's default would be a plain-text 415 or 422).
    let Ok(Json(request)) = request else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({ "error": "invalid_request" })),
        )
            .into_response();
    };
    let Some(user) = state.users.check(&request.username, &request.password) else {
        return unauthenticated();
    };
    let claims = json!({ "roles": user.roles, "scope": user.roles.join(" ") });
    match state.issuer.mint_with(user.name, &claims) {
        Ok(token) => (
            [(header::CACHE_CONTROL, "no-store")],
            Json(json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME.whole_seconds(),
            })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not mint a token");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn me_jwt(
    identity: Identity,
    Extension(claims): Extension<Claims>,
) -> Json<serde_json::Value> {
    Json(json!({
        "sub": identity.subject(),
        "iss": identity.issuer(),
        "method": "jwt",
        "roles": identity.roles(),
        "jti": claims.jti,
    }))
}

async fn api_logout(logout: Logout) -> StatusCode {
    match logout.revoke_token().await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(e) => {
            tracing::error!(error = %e, "could not revoke a token");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

async fn api_logout_all(logout: Logout) -> StatusCode {
    match logout.revoke_subject().await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(e) => {
            tracing::error!(error = %e, "could not revoke a subject's tokens");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}

async fn whoami(identity: Option<Identity>) -> Response {
    match identity {
        Some(id) => {
            let mut body = json!({ "sub": id.subject(), "method": id.method().as_str() });
            with_issuer(&mut body, &id);
            Json(body).into_response()
        }
        // This route takes bearer tokens too: say so, as RFC 9110 asks of every 401.
        None => (
            [(header::WWW_AUTHENTICATE, r#"Bearer realm="demo""#)],
            unauthenticated(),
        )
            .into_response(),
    }
}

async fn jwks(State(state): State<AppState>) -> Json<JwkSet> {
    Json(state.issuer.jwk_set())
}
