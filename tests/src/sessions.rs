//! The HTTP-level session scenarios, written once and run against every store.
//!
//! Each scenario takes a store (`Arc<dyn SessionStore>`), builds the same small axum app
//! around it, and drives it with a cookie-keeping [`Client`]. The store tests of each backend
//! call them through [`session_scenarios!`](crate::session_scenarios).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_debug_implementations
)] // test support: a panic is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use auth_cookie::CookieKeys;
use auth_core::{
    AuthMethod, CreateOutcome, Identity, RequireAuthLayer, SaveOutcome, SessionId, SessionRecord,
    SessionStore, SharedClock, StoreError, StoreFuture, StoreResult, SystemClock,
};
use auth_session::{Session, SessionError, SessionExpiry, SessionLayer};
use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::{get, post};
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, VARY};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use time::{Duration, OffsetDateTime};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Options of the scenario app.
#[derive(Clone)]
pub struct AppOptions {
    /// Cookie keys (share them between two apps to model two instances).
    pub keys: CookieKeys,
    /// The clock of the session layer.
    pub clock: SharedClock,
    /// Released when a `/slow-set` request may finish.
    pub gate: Arc<Notify>,
    /// Signals that a `/slow-set` request has loaded its session.
    pub entered: Arc<Notify>,
    /// Send the bare session ID instead of a signed one.
    pub unsigned: bool,
}

impl AppOptions {
    /// Random keys and the system clock (the clock stores without a clock of their own use).
    /// Tests that move time give the layer and the store the same `ManualClock`.
    pub fn new() -> Self {
        Self {
            keys: CookieKeys::generate().unwrap(),
            clock: Arc::new(SystemClock),
            gate: Arc::new(Notify::new()),
            entered: Arc::new(Notify::new()),
            unsigned: false,
        }
    }
}

impl Default for AppOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The scenario app: login, guarded pages, data access and logout over `store`.
pub fn app(store: Arc<dyn SessionStore>, options: &AppOptions) -> Router {
    let mut layer = SessionLayer::new(store, options.keys.clone())
        .with_clock(options.clock.clone())
        .with_keep_on_login(["lang"]);
    if options.unsigned {
        layer = layer.with_unsigned_cookie();
    }
    let (gate, entered) = (options.gate.clone(), options.entered.clone());
    let admin = Router::new()
        .route(
            "/admin",
            get(|id: Identity| async move { format!("admin {}", id.subject()) }),
        )
        .route_layer(RequireAuthLayer::role("admin"));
    Router::new()
        .route("/public", get(|| async { "public" }))
        .route("/login/{user}", post(login))
        .route("/login-via/{issuer}/{user}", post(login_via))
        .route("/other-sessions", get(other_sessions))
        .route("/logout-others", post(logout_others))
        .route("/logout", post(logout))
        .route(
            "/me",
            get(|id: Identity| async move { id.subject().to_owned() }),
        )
        .route("/set/{key}/{value}", post(set))
        .route("/get/{key}", get(get_value))
        .route(
            "/cycle",
            post(|s: Session| async move { s.cycle_id().await.map(|()| "cycled") }),
        )
        .route("/remember", post(remember))
        .route(
            "/slow-set/{key}/{value}",
            post(
                move |s: Session, Path((key, value)): Path<(String, String)>| {
                    let (gate, entered) = (gate.clone(), entered.clone());
                    async move {
                        s.get::<String>(&key).await?;
                        entered.notify_one();
                        gate.notified().await;
                        s.insert(&key, &value).await?;
                        Ok::<_, SessionError>("set")
                    }
                },
            ),
        )
        .route("/slow-cycle", {
            let (gate, entered) = (options.gate.clone(), options.entered.clone());
            post(move |s: Session| {
                let (gate, entered) = (gate.clone(), entered.clone());
                async move {
                    s.identity().await?;
                    entered.notify_one();
                    gate.notified().await;
                    s.cycle_id().await?;
                    Ok::<_, SessionError>("cycled")
                }
            })
        })
        .merge(admin)
        .layer(layer)
}

async fn login(session: Session, Path(user): Path<String>) -> Result<&'static str, SessionError> {
    let mut identity = Identity::builder(user.as_str(), AuthMethod::Session).role("user");
    if user == "bob" {
        identity = identity.role("admin");
    }
    session.login(&identity.build()).await?;
    Ok("logged in")
}

/// A login through an identity provider: `bob` of `https://<issuer>.example`.
async fn login_via(
    session: Session,
    Path((issuer, user)): Path<(String, String)>,
) -> Result<&'static str, SessionError> {
    let identity = Identity::builder(user.as_str(), AuthMethod::Session)
        .issuer(format!("https://{issuer}.example"))
        .role("user")
        .build();
    session.login(&identity).await?;
    Ok("logged in")
}

/// How many other sessions the principal has; a 500 if a listed record carries an ID.
async fn other_sessions(session: Session) -> Result<(StatusCode, String), SessionError> {
    let others = session.other_sessions().await?;
    if others
        .iter()
        .any(|other| other.id != SessionId::from_bytes([0; SessionId::LEN]))
    {
        return Ok((StatusCode::INTERNAL_SERVER_ERROR, "a listed ID".to_owned()));
    }
    Ok((StatusCode::OK, others.len().to_string()))
}

/// "Log out everywhere else": how many sessions ended.
async fn logout_others(session: Session) -> Result<String, SessionError> {
    Ok(session.logout_other_sessions().await?.to_string())
}

async fn logout(session: Session) -> Result<&'static str, SessionError> {
    session.logout().await?;
    Ok("logged out")
}

async fn set(
    session: Session,
    Path((key, value)): Path<(String, String)>,
) -> Result<&'static str, SessionError> {
    session.insert(&key, &value).await?;
    Ok("set")
}

async fn get_value(session: Session, Path(key): Path<String>) -> Result<String, SessionError> {
    Ok(session
        .get::<String>(&key)
        .await?
        .unwrap_or_else(|| "none".to_owned()))
}

async fn remember(session: Session) -> Result<&'static str, SessionError> {
    session
        .set_expiry(SessionExpiry::new(Duration::days(14), Duration::days(30)))
        .await?;
    Ok("remembered")
}

/// A browser stand-in: keeps the session cookie between requests.
#[derive(Clone)]
pub struct Client {
    app: Router,
    /// The `name=value` of the session cookie, if any.
    pub cookie: Option<String>,
}

/// What a request returned.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body as text.
    pub body: String,
    /// The response headers.
    pub headers: http::HeaderMap,
}

impl Client {
    /// A client without cookies.
    pub fn new(app: Router) -> Self {
        Self { app, cookie: None }
    }

    /// The same cookie, another app (a second instance).
    pub fn on(&self, app: Router) -> Self {
        Self {
            app,
            cookie: self.cookie.clone(),
        }
    }

    /// Sends a request and updates the cookie from `Set-Cookie`.
    pub async fn send(&mut self, method: &str, path: &str) -> Reply {
        let reply = send(&self.app, method, path, self.cookie.as_deref()).await;
        if let Some(set_cookie) = reply.headers.get(SET_COOKIE) {
            let set_cookie = set_cookie.to_str().unwrap();
            if set_cookie.contains("Max-Age=0") {
                self.cookie = None;
            } else {
                self.cookie = Some(set_cookie.split(';').next().unwrap().to_owned());
            }
        }
        reply
    }
}

/// One request with an explicit cookie, without client state.
pub async fn send(app: &Router, method: &str, path: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(cookie) = cookie {
        req = req.header(COOKIE, cookie);
    }
    let res: Response<Body> = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }
}

/// Counts the calls a store receives.
#[derive(Debug, Default)]
pub struct Calls {
    /// `load` calls.
    pub load: AtomicU64,
    /// Every other call.
    pub write: AtomicU64,
}

impl Calls {
    /// Total calls.
    pub fn total(&self) -> u64 {
        self.load.load(Ordering::SeqCst) + self.write.load(Ordering::SeqCst)
    }
}

/// A store wrapper that counts calls and can be made to fail (a backend outage).
#[derive(Debug)]
pub struct Instrumented {
    inner: Arc<dyn SessionStore>,
    /// The calls so far.
    pub calls: Calls,
    /// While set, every call fails with a backend error.
    pub down: AtomicBool,
}

impl Instrumented {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn SessionStore>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            calls: Calls::default(),
            down: AtomicBool::new(false),
        })
    }

    fn check(&self, load: bool) -> StoreResult<()> {
        let counter = if load {
            &self.calls.load
        } else {
            &self.calls.write
        };
        counter.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::backend("injected outage"))
        } else {
            Ok(())
        }
    }
}

impl SessionStore for Instrumented {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(async move {
            self.check(true)?;
            self.inner.load(id).await
        })
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.create(record).await
        })
    }
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.save(record).await
        })
    }
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.touch(id, expires_at).await
        })
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.delete(id).await
        })
    }
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.cycle(old, new).await
        })
    }
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        StoreFuture::pending(async move {
            self.check(true)?;
            self.inner.sessions_of(issuer, subject, except).await
        })
    }
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        StoreFuture::pending(async move {
            self.check(false)?;
            self.inner.delete_sessions_of(issuer, subject, keep).await
        })
    }
}

/// A store that runs a clean-up (drop a schema, delete a key prefix, remove a directory) when
/// the last handle to it is dropped, so each test leaves its backend as it found it.
pub struct Cleaned<S> {
    inner: S,
    cleanup: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl<S> Cleaned<S> {
    /// Wraps `inner`; `cleanup` runs on drop (on a thread of its own if it must block).
    pub fn new(inner: S, cleanup: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self {
            inner,
            cleanup: Some(Box::new(cleanup)),
        }
    }
}

impl<S> Drop for Cleaned<S> {
    fn drop(&mut self) {
        if let Some(cleanup) = self.cleanup.take() {
            cleanup();
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for Cleaned<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Cleaned").field(&self.inner).finish()
    }
}

impl<S: SessionStore> SessionStore for Cleaned<S> {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(async move { self.inner.load(id).await })
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move { self.inner.create(record).await })
    }
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move { self.inner.save(record).await })
    }
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move { self.inner.touch(id, expires_at).await })
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move { self.inner.delete(id).await })
    }
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move { self.inner.cycle(old, new).await })
    }
    fn cleanup_expired(&self) -> StoreFuture<'_, u64> {
        StoreFuture::pending(async move { self.inner.cleanup_expired().await })
    }
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        self.inner.sessions_of(issuer, subject, except)
    }
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        self.inner.delete_sessions_of(issuer, subject, keep)
    }
}

/// The session ID inside a `name=value` cookie cannot be read (it is signed but the ID part
/// is plain): returns the value part, for comparing cookies.
pub fn cookie_value(cookie: &str) -> &str {
    cookie.split_once('=').map_or("", |(_, v)| v)
}

/// Asserts the cache headers a response that sets or clears the session cookie carries.
pub fn assert_no_store(reply: &Reply) {
    assert_eq!(
        reply
            .headers
            .get(CACHE_CONTROL)
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    assert!(
        reply
            .headers
            .get_all(VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("Cookie")),
        "Vary: Cookie missing: {:?}",
        reply.headers
    );
}

/// The scenarios, each an async fn taking a fresh store.
pub mod scenarios {
    use super::*;

    /// login -> read -> modify -> logout, with identity, guards and cache headers.
    pub async fn login_read_modify_logout(store: Arc<dyn SessionStore>) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut alice = Client::new(app.clone());

        assert_eq!(
            alice.send("GET", "/me").await.status,
            StatusCode::UNAUTHORIZED
        );
        let reply = alice.send("POST", "/login/alice").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(alice.cookie.is_some(), "login sets the cookie");
        assert_no_store(&reply);
        let set_cookie = reply.headers[SET_COOKIE].to_str().unwrap();
        assert!(
            set_cookie.contains("HttpOnly") && set_cookie.contains("Secure"),
            "{set_cookie}"
        );
        assert!(
            set_cookie.contains("SameSite=Lax") && set_cookie.contains("Path=/"),
            "{set_cookie}"
        );

        let reply = alice.send("GET", "/me").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "alice")
        );
        assert_eq!(
            alice.send("GET", "/admin").await.status,
            StatusCode::FORBIDDEN
        );

        assert_eq!(
            alice.send("POST", "/set/color/blue").await.status,
            StatusCode::OK
        );
        assert_eq!(alice.send("GET", "/get/color").await.body, "blue");
        assert_eq!(
            alice.send("POST", "/set/color/green").await.status,
            StatusCode::OK
        );
        assert_eq!(alice.send("GET", "/get/color").await.body, "green");

        let reply = alice.send("POST", "/logout").await;
        assert_eq!(reply.status, StatusCode::OK);
        let removal = reply.headers[SET_COOKIE].to_str().unwrap();
        assert!(removal.contains("Max-Age=0"), "{removal}");
        assert_no_store(&reply);
        assert_eq!(
            alice.send("GET", "/me").await.status,
            StatusCode::UNAUTHORIZED
        );

        let mut bob = Client::new(app);
        bob.send("POST", "/login/bob").await;
        let reply = bob.send("GET", "/admin").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (StatusCode::OK, "admin bob")
        );
    }

    /// The cookie from before a logout is worthless afterwards (replay).
    pub async fn replayed_cookie_after_logout_is_anonymous(store: Arc<dyn SessionStore>) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut client = Client::new(app.clone());
        client.send("POST", "/login/alice").await;
        client.send("POST", "/set/secret/x").await;
        let stolen = client.cookie.clone().unwrap();
        client.send("POST", "/logout").await;

        let reply = send(&app, "GET", "/me", Some(&stolen)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let reply = send(&app, "GET", "/get/secret", Some(&stolen)).await;
        assert_eq!(reply.body, "none");
        // Writing with the dead cookie starts a new anonymous session, never the old one.
        let reply = send(&app, "POST", "/set/a/b", Some(&stolen)).await;
        let new_cookie = reply.headers[SET_COOKIE].to_str().unwrap();
        assert_ne!(
            cookie_value(new_cookie.split(';').next().unwrap()),
            cookie_value(&stolen)
        );
    }

    /// Login cycles the ID: a planted (fixated) pre-login cookie does not become logged in.
    pub async fn login_cycles_the_id_against_fixation(store: Arc<dyn SessionStore>) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut victim = Client::new(app.clone());
        victim.send("POST", "/set/lang/fr").await;
        let planted = victim.cookie.clone().unwrap();
        victim.send("POST", "/login/alice").await;
        let after = victim.cookie.clone().unwrap();
        assert_ne!(after, planted, "login must issue a new session ID");

        assert_eq!(
            send(&app, "GET", "/me", Some(&planted)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&app, "GET", "/get/lang", Some(&planted)).await.body,
            "none"
        );
        assert_eq!(victim.send("GET", "/me").await.body, "alice");
        assert_eq!(
            victim.send("GET", "/get/lang").await.body,
            "fr",
            "a key kept on login (`with_keep_on_login`) survives it"
        );
    }

    /// Another subject logging in over a session flushes its data but the kept keys.
    pub async fn login_as_another_subject_flushes_data(store: Arc<dyn SessionStore>) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut client = Client::new(app);
        client.send("POST", "/login/alice").await;
        client.send("POST", "/set/lang/de").await;
        client.send("POST", "/set/draft/alice-private").await;
        client.send("POST", "/login/alice").await;
        assert_eq!(
            client.send("GET", "/get/draft").await.body,
            "alice-private",
            "same subject keeps data"
        );
        client.send("POST", "/login/bob").await;
        assert_eq!(client.send("GET", "/me").await.body, "bob");
        assert_eq!(
            client.send("GET", "/get/draft").await.body,
            "none",
            "flushed"
        );
        assert_eq!(
            client.send("GET", "/get/lang").await.body,
            "de",
            "kept on login"
        );
    }

    /// `n` concurrent requests on one session, each setting its own key: all keys stick.
    pub async fn concurrent_requests_lose_no_key(store: Arc<dyn SessionStore>, n: usize) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut client = Client::new(app.clone());
        client.send("POST", "/login/alice").await;
        let cookie = client.cookie.clone().unwrap();
        let mut tasks = Vec::new();
        for i in 0..n {
            let (app, cookie) = (app.clone(), cookie.clone());
            tasks.push(tokio::spawn(async move {
                send(
                    &app,
                    "POST",
                    &format!("/set/key{i}/value{i}"),
                    Some(&cookie),
                )
                .await
                .status
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), StatusCode::OK);
        }
        for i in 0..n {
            let reply = send(&app, "GET", &format!("/get/key{i}"), Some(&cookie)).await;
            assert_eq!(reply.body, format!("value{i}"), "key{i} was lost");
        }
    }

    /// A logout while a slow request is in flight: the slow request's save does not bring
    /// the session back.
    pub async fn logout_during_slow_request_stays_deleted(store: Arc<dyn SessionStore>) {
        logout_while_in_flight(store, "/slow-set/k/v").await;
    }

    /// A logout while a slow request that changes the session ID is in flight: the ID change
    /// does not revive the session under the new ID (the store's cycle answers `NotFound`).
    pub async fn logout_during_slow_cycle_stays_deleted(store: Arc<dyn SessionStore>) {
        logout_while_in_flight(store, "/slow-cycle").await;
    }

    /// Logs alice in, starts `slow_path` (which waits on the gate after loading the session),
    /// logs out meanwhile, then lets it finish: the session stays ended, whatever the slow
    /// request did.
    async fn logout_while_in_flight(store: Arc<dyn SessionStore>, slow_path: &'static str) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut client = Client::new(app.clone());
        client.send("POST", "/login/alice").await;
        let cookie = client.cookie.clone().unwrap();

        let slow = {
            let (app, cookie) = (app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, "POST", slow_path, Some(&cookie)).await })
        };
        options.entered.notified().await;
        assert_eq!(client.send("POST", "/logout").await.status, StatusCode::OK);
        options.gate.notify_one();
        let slow = slow.await.unwrap();
        assert_eq!(slow.status, StatusCode::OK);
        let set_cookie = slow
            .headers
            .get(SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(
            set_cookie
                .as_deref()
                .is_none_or(|c| c.contains("Max-Age=0")),
            "the slow request must not hand out a live cookie: {set_cookie:?}"
        );
        if let Some(new_cookie) = set_cookie.as_deref().and_then(|c| c.split(';').next()) {
            assert_eq!(
                send(&app, "GET", "/me", Some(new_cookie)).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        assert_eq!(
            send(&app, "GET", "/me", Some(&cookie)).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            send(&app, "GET", "/get/k", Some(&cookie)).await.body,
            "none"
        );
    }

    /// "Log out everywhere else" through the layer: bob of one issuer on a laptop and a phone,
    /// bob of another issuer and a local bob. Each lists only its principal's other sessions
    /// (without their IDs); the laptop's `logout_other_sessions` ends the phone's session
    /// only, also for a slow request of the phone still in flight (its save does not bring the
    /// session back), and the laptop stays logged in. An anonymous visitor has no other
    /// sessions to list or end.
    pub async fn logout_other_sessions_ends_the_principals_other_sessions_only(
        store: Arc<dyn SessionStore>,
    ) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let login = async |path: &str| {
            let mut client = Client::new(app.clone());
            assert_eq!(client.send("POST", path).await.status, StatusCode::OK);
            client
        };
        let mut laptop = login("/login-via/idp-a/bob").await;
        let mut phone = login("/login-via/idp-a/bob").await;
        let mut other_issuer = login("/login-via/idp-b/bob").await;
        let mut local = login("/login/bob").await;
        let mut anonymous = Client::new(app.clone());
        let count = async |client: &mut Client, method: &str, path: &str| {
            let reply = client.send(method, path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            reply.body
        };

        assert_eq!(count(&mut laptop, "GET", "/other-sessions").await, "1");
        assert_eq!(count(&mut phone, "GET", "/other-sessions").await, "1");
        assert_eq!(
            count(&mut other_issuer, "GET", "/other-sessions").await,
            "0"
        );
        assert_eq!(count(&mut local, "GET", "/other-sessions").await, "0");
        assert_eq!(count(&mut anonymous, "GET", "/other-sessions").await, "0");
        assert_eq!(count(&mut anonymous, "POST", "/logout-others").await, "0");
        assert!(anonymous.cookie.is_none(), "nothing created for a visitor");

        // The phone has a slow request in flight when the laptop logs it out.
        let slow = {
            let (app, cookie) = (app.clone(), phone.cookie.clone());
            tokio::spawn(
                async move { send(&app, "POST", "/slow-set/k/v", cookie.as_deref()).await },
            )
        };
        options.entered.notified().await;
        assert_eq!(count(&mut laptop, "POST", "/logout-others").await, "1");
        options.gate.notify_one();
        let slow = slow.await.unwrap();
        if let Some(set_cookie) = slow.headers.get(SET_COOKIE) {
            let set_cookie = set_cookie.to_str().unwrap();
            assert!(
                set_cookie.contains("Max-Age=0")
                    || cookie_value(set_cookie.split(';').next().unwrap())
                        != cookie_value(phone.cookie.as_deref().unwrap()),
                "the slow request revived the phone's session: {set_cookie}"
            );
        }

        assert_eq!(
            phone.send("GET", "/me").await.status,
            StatusCode::UNAUTHORIZED,
            "the phone is logged out"
        );
        assert_eq!(phone.send("GET", "/get/k").await.body, "none");
        for (client, what) in [
            (&mut laptop, "the laptop"),
            (&mut other_issuer, "bob of another issuer"),
            (&mut local, "the local bob"),
        ] {
            let reply = client.send("GET", "/me").await;
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (StatusCode::OK, "bob"),
                "{what} stays logged in"
            );
        }
        assert_eq!(count(&mut laptop, "GET", "/other-sessions").await, "0");
        assert_eq!(count(&mut laptop, "POST", "/logout-others").await, "0");
        assert_eq!(
            count(&mut other_issuer, "POST", "/logout-others").await,
            "0"
        );
    }

    /// A tampered or unknown cookie is anonymous and never adopted.
    pub async fn tampered_or_unknown_cookies_are_anonymous(store: Arc<dyn SessionStore>) {
        let options = AppOptions::new();
        let app = app(store, &options);
        let mut client = Client::new(app.clone());
        client.send("POST", "/login/alice").await;
        let cookie = client.cookie.clone().unwrap();
        let (name, value) = cookie.split_once('=').unwrap();
        let mut tampered = value.to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        for bad in [
            format!("{name}={tampered}"),
            format!("{name}=v1.aw.{}", "A".repeat(43)),
            format!("{name}=not-a-session"),
            format!("{name}="),
        ] {
            assert_eq!(
                send(&app, "GET", "/me", Some(&bad)).await.status,
                StatusCode::UNAUTHORIZED,
                "{bad}"
            );
            let reply = send(&app, "POST", "/set/a/b", Some(&bad)).await;
            let fresh = reply.headers[SET_COOKIE]
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            assert_ne!(fresh, bad, "a bad cookie is never adopted");
        }
        // A validly signed cookie for an ID the store does not know: anonymous too.
        let other = AppOptions {
            keys: options.keys.clone(),
            ..AppOptions::new()
        };
        let _ = other;
    }
}

/// Runs every HTTP scenario against a store, one `#[tokio::test]` each.
///
/// `$make` is a closure from the test's name to a future yielding
/// `Option<Arc<dyn SessionStore>>` (`None`: skipped, the factory has printed why), called once
/// per scenario so each gets a fresh, isolated store.
#[macro_export]
macro_rules! session_scenarios {
    ($make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn login_read_modify_logout() {
            if let Some(store) = ($make)(stringify!(login_read_modify_logout)).await {
                $crate::sessions::scenarios::login_read_modify_logout(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn replayed_cookie_after_logout_is_anonymous() {
            if let Some(store) =
                ($make)(stringify!(replayed_cookie_after_logout_is_anonymous)).await
            {
                $crate::sessions::scenarios::replayed_cookie_after_logout_is_anonymous(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn login_cycles_the_id_against_fixation() {
            if let Some(store) = ($make)(stringify!(login_cycles_the_id_against_fixation)).await {
                $crate::sessions::scenarios::login_cycles_the_id_against_fixation(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn login_as_another_subject_flushes_data() {
            if let Some(store) = ($make)(stringify!(login_as_another_subject_flushes_data)).await {
                $crate::sessions::scenarios::login_as_another_subject_flushes_data(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn sixty_four_concurrent_requests_lose_no_key() {
            if let Some(store) =
                ($make)(stringify!(sixty_four_concurrent_requests_lose_no_key)).await
            {
                $crate::sessions::scenarios::concurrent_requests_lose_no_key(store, 64).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn logout_during_slow_request_stays_deleted() {
            if let Some(store) = ($make)(stringify!(logout_during_slow_request_stays_deleted)).await
            {
                $crate::sessions::scenarios::logout_during_slow_request_stays_deleted(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn logout_during_slow_cycle_stays_deleted() {
            if let Some(store) = ($make)(stringify!(logout_during_slow_cycle_stays_deleted)).await {
                $crate::sessions::scenarios::logout_during_slow_cycle_stays_deleted(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn logout_other_sessions_ends_the_principals_other_sessions_only() {
            if let Some(store) = ($make)(stringify!(
                logout_other_sessions_ends_the_principals_other_sessions_only
            ))
            .await
            {
                $crate::sessions::scenarios::logout_other_sessions_ends_the_principals_other_sessions_only(store).await;
            }
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn tampered_or_unknown_cookies_are_anonymous() {
            if let Some(store) =
                ($make)(stringify!(tampered_or_unknown_cookies_are_anonymous)).await
            {
                $crate::sessions::scenarios::tampered_or_unknown_cookies_are_anonymous(store).await;
            }
        }
    };
}

/// The per-principal index of the stores (`SessionStore::sessions_of`,
/// `SessionStore::delete_sessions_of`), one scenario for every store: a principal is an issuer
/// and a subject, and `bob` of one issuer is never listed or logged out with `bob` of another
/// or a local `bob`.
pub mod principals {
    use super::*;
    use serde_json::json;

    /// An issuer with non-ASCII characters (kept apart from [`ISSUER_A_PREFIX`]).
    pub const ISSUER_A: &str = "https://idp-a.example/t\u{e9}nant/\u{2713}";
    /// A prefix of [`ISSUER_A`]: another issuer.
    pub const ISSUER_A_PREFIX: &str = "https://idp-a.example";
    /// Another issuer.
    pub const ISSUER_B: &str = "https://idp-b.example";

    /// A live session of `issuer` + `subject`, tagged `tag` (its data's `tag` value, which
    /// tells listed records apart also when the store lists them without their IDs).
    pub fn session_of(issuer: Option<&str>, subject: &str, tag: &str) -> SessionRecord {
        let now = OffsetDateTime::now_utc();
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        )
        .with_subject(subject)
        .with_value("tag", json!(tag));
        match issuer {
            Some(issuer) => record.with_issuer(issuer),
            None => record,
        }
    }

    /// The sorted tags of `records`, after checking that each is of `issuer` + `subject` (and,
    /// with `ids`, that its ID is one of `ids`; `None`: hashed IDs, listed as zeros).
    fn tags(
        records: &[SessionRecord],
        issuer: Option<&str>,
        subject: &str,
        ids: Option<&[SessionId]>,
    ) -> Vec<String> {
        let mut tags: Vec<String> = records
            .iter()
            .map(|record| {
                assert_eq!(
                    record.issuer.as_deref(),
                    issuer,
                    "listed with another issuer"
                );
                assert_eq!(
                    record.subject.as_deref(),
                    Some(subject),
                    "listed with another subject"
                );
                match ids {
                    Some(ids) => assert!(ids.contains(&record.id), "listed with a wrong ID"),
                    None => assert_eq!(record.id, SessionId::from_bytes([0; 16]), "hashed: no ID"),
                }
                record
                    .data
                    .get("tag")
                    .and_then(|tag| tag.as_str())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        tags.sort();
        tags
    }

    /// `bob` of two issuers (and of a prefix of one, and of the empty issuer), a local `bob`
    /// and `alice` of one issuer in one store: each principal's listing holds its sessions
    /// only; revoking one principal (also "everywhere else", with `keep`) ends its sessions
    /// and leaves every other loadable and still listed; a session whose issuer changed under
    /// the same ID (a re-login) is revoked as its new principal's only; a login that cycles an
    /// anonymous session's ID makes the new ID that principal's. Some records hold a NUL
    /// character and a nested look-alike `{"subject": "bob", "iss": A}` in their data.
    /// `hashed`: the store hashes IDs (listed IDs are zeros; revocation works all the same).
    pub async fn principals_stay_apart<S: SessionStore>(store: &S, hashed: bool) {
        let (a, b) = (Some(ISSUER_A), Some(ISSUER_B));
        let a0 = session_of(a, "bob", "a0");
        let a1 = session_of(a, "bob", "a1");
        // The anonymous session that bob of A logs in over, into `a1`.
        let before_login =
            SessionRecord::new(SessionId::generate().unwrap(), a1.created_at, a1.expires_at);
        let of_b = session_of(b, "bob", "b").with_value("nul", json!("x\u{0}y"));
        let local = session_of(None, "bob", "local")
            .with_value("nul", json!("\u{0}"))
            .with_value("nested", json!({"subject": "bob", "iss": ISSUER_A}));
        let empty = session_of(Some(""), "bob", "empty");
        let prefix = session_of(Some(ISSUER_A_PREFIX), "bob", "prefix");
        let alice = session_of(a, "alice", "alice");
        let all = [&a0, &a1, &of_b, &local, &empty, &prefix, &alice];
        for record in all {
            if record.id == a1.id {
                // A login cycles the ID: the new ID is A's bob's.
                assert_eq!(
                    store.create(&before_login).await.unwrap(),
                    CreateOutcome::Created
                );
                let cycled = store.cycle(&before_login.id, record).await.unwrap();
                assert_eq!(cycled, CreateOutcome::Created);
            } else {
                assert_eq!(store.create(record).await.unwrap(), CreateOutcome::Created);
            }
        }
        let ids: Vec<SessionId> = all.iter().map(|record| record.id).collect();
        let ids = (!hashed).then_some(ids.as_slice());
        let listed = async |issuer: Option<&str>, subject: &str| {
            tags(
                &store.sessions_of(issuer, subject, None).await.unwrap(),
                issuer,
                subject,
                ids,
            )
        };
        let loadable =
            async |record: &SessionRecord| store.load(&record.id).await.unwrap().is_some();

        // Each principal lists its own sessions only.
        assert_eq!(listed(a, "bob").await, ["a0", "a1"]);
        assert_eq!(listed(b, "bob").await, ["b"]);
        assert_eq!(
            listed(None, "bob").await,
            ["local"],
            "None is a local login, not any issuer"
        );
        assert_eq!(listed(Some(""), "bob").await, ["empty"]);
        assert_eq!(listed(Some(ISSUER_A_PREFIX), "bob").await, ["prefix"]);
        assert_eq!(listed(a, "alice").await, ["alice"]);
        assert!(listed(None, "alice").await.is_empty());
        assert!(listed(b, "alice").await.is_empty());
        assert!(
            listed(Some("https://idp-c.example"), "bob")
                .await
                .is_empty()
        );

        // "Log out everywhere else" for bob of A, then everywhere: only A's bob.
        assert_eq!(
            store
                .delete_sessions_of(a, "bob", Some(&a0.id))
                .await
                .unwrap(),
            1
        );
        assert!(loadable(&a0).await, "the kept session");
        assert!(!loadable(&a1).await);
        assert_eq!(store.delete_sessions_of(a, "bob", None).await.unwrap(), 1);
        assert!(!loadable(&a0).await);
        for other in [&of_b, &local, &empty, &prefix, &alice] {
            assert!(loadable(other).await, "another principal's session ended");
        }
        assert_eq!(store.delete_sessions_of(a, "bob", None).await.unwrap(), 0);
        // The other principals' sessions are still listed (their index entries stay).
        assert!(listed(a, "bob").await.is_empty());
        assert_eq!(listed(b, "bob").await, ["b"]);
        assert_eq!(listed(None, "bob").await, ["local"]);

        // A re-login as bob of A over B's session, without a new ID: it is A's now.
        let mut relogin = store.load(&of_b.id).await.unwrap().unwrap();
        relogin.issuer = Some(ISSUER_A.to_owned());
        assert!(matches!(
            store.save(&relogin).await.unwrap(),
            SaveOutcome::Saved { .. }
        ));
        assert!(listed(b, "bob").await.is_empty());
        assert_eq!(listed(a, "bob").await, ["b"]);
        assert_eq!(store.delete_sessions_of(b, "bob", None).await.unwrap(), 0);
        assert!(loadable(&of_b).await, "revoked as its former principal's");
        assert_eq!(store.delete_sessions_of(a, "bob", None).await.unwrap(), 1);
        assert!(!loadable(&of_b).await);

        // The local bob, then the empty issuer's and the prefix's: one each.
        assert_eq!(
            store.delete_sessions_of(None, "bob", None).await.unwrap(),
            1,
            "None revoked more than the local login"
        );
        assert!(!loadable(&local).await);
        assert!(loadable(&empty).await && loadable(&prefix).await);
        assert_eq!(
            store
                .delete_sessions_of(Some(""), "bob", None)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .delete_sessions_of(Some(ISSUER_A_PREFIX), "bob", None)
                .await
                .unwrap(),
            1
        );
        for issuer in [a, b, None, Some(""), Some(ISSUER_A_PREFIX)] {
            assert!(listed(issuer, "bob").await.is_empty());
        }
        assert!(loadable(&alice).await, "alice of A is not bob of A");
        assert_eq!(store.delete_sessions_of(a, "alice", None).await.unwrap(), 1);
        assert!(!loadable(&alice).await);
    }
}
