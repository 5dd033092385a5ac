//! `Session::other_sessions` and `Session::logout_other_sessions` through the layer (real
//! `Cookie` and `Set-Cookie` headers): "you are also signed in on..." and "log out everywhere
//! else" for the logged-in principal (issuer and subject), what a login in the same request
//! changes, and what a store without a per-principal index, or a failing one, answers.
//!
//! Each scenario runs over a `MemoryStore` (the layer's synchronous path) and over the same
//! store behind `Arc<dyn SessionStore>`; the HTTP scenario of `auth-tests` runs the same over
//! every store.
#![cfg(feature = "memory")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use auth_cookie::CookieKeys;
use auth_core::{
    AuthMethod, CreateOutcome, Identity, SaveOutcome, SessionId, SessionRecord, SessionStore,
    StoreError, StoreFuture,
};
use auth_session::{MemoryStore, Session, SessionError, SessionLayer};
use http::{Request, Response, StatusCode, header};
use time::OffsetDateTime;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type App = BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

/// The answer to a session error: its status, and its variant as the body.
fn failed(error: &SessionError) -> Response<String> {
    let body = match error {
        SessionError::Unsupported(what) => format!("unsupported {what}"),
        SessionError::Unavailable(_) => "unavailable".to_owned(),
        other => format!("{other}"),
    };
    let mut res = Response::new(body);
    *res.status_mut() = error.status();
    res
}

/// How many others, or a 500 when one carries its ID.
fn count(others: &[SessionRecord]) -> String {
    let zero = SessionId::from_bytes([0; SessionId::LEN]);
    assert!(others.iter().all(|other| other.id == zero), "a listed ID");
    others.len().to_string()
}

fn identity(issuer: &str, subject: &str) -> Identity {
    let mut identity = Identity::builder(subject, AuthMethod::Session);
    if issuer != "-" {
        identity = identity.issuer(issuer.replace("%2F", "/"));
    }
    identity.build()
}

/// Routes: `/login/<issuer or ->/<subject>`, `/login-and-list/<issuer or ->/<subject>` (a
/// login, then `other_sessions`, in one request), `/others` (how many), `/devices` (their
/// `device` values), `/logout-others`, `/logout-everywhere` (the others, then this one),
/// `/quietly-logout-others` (a handler that swallows the error), `/others-then-set/<k>/<v>`
/// (the listing's error ignored, then a write), `/set/<k>/<v>`, `/get/<k>`, `/me`.
async fn handle(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = Session::from_request(&req).unwrap();
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = match parts.as_slice() {
        ["login", issuer, subject] => session
            .login(&identity(issuer, subject))
            .await
            .map(|()| "ok".to_owned()),
        ["login-and-list", issuer, subject] => {
            session.login(&identity(issuer, subject)).await.unwrap();
            session.other_sessions().await.map(|others| count(&others))
        }
        ["others"] => session.other_sessions().await.map(|others| count(&others)),
        ["devices"] => session.other_sessions().await.map(|others| {
            let mut devices: Vec<String> = others
                .iter()
                .map(|other| format!("{:?}", other.data.get("device")))
                .collect();
            devices.sort();
            devices.join(",")
        }),
        ["logout-others"] => session.logout_other_sessions().await.map(|n| n.to_string()),
        ["logout-everywhere"] => {
            let others = session.logout_other_sessions().await.unwrap();
            session.logout().await.unwrap();
            Ok(others.to_string())
        }
        ["quietly-logout-others"] => {
            let _ = session.logout_other_sessions().await;
            Ok("done".to_owned())
        }
        ["others-then-set", key, value] => {
            let _ = session.other_sessions().await;
            session.insert(key, value).await.map(|()| "ok".to_owned())
        }
        ["set", key, value] => session.insert(key, value).await.map(|()| "ok".to_owned()),
        ["get", key] => session
            .get::<String>(key)
            .await
            .map(|value| value.unwrap_or_default()),
        ["me"] => session.identity().await.map(|identity| {
            identity.map_or_else(String::new, |identity| {
                format!(
                    "{}/{}",
                    identity.issuer().unwrap_or("-"),
                    identity.subject()
                )
            })
        }),
        _ => unreachable!("no route {path}"),
    };
    Ok(match body {
        Ok(body) => Response::new(body),
        Err(error) => failed(&error),
    })
}

fn app(store: impl SessionStore) -> App {
    let layer = SessionLayer::new(store, CookieKeys::generate().unwrap());
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(handle)),
    )
}

/// The two ways the layer meets a `MemoryStore`: directly, and behind the trait.
fn apps() -> [(&'static str, App); 2] {
    let behind_the_trait: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    [
        ("memory", app(MemoryStore::new())),
        ("dyn", app(behind_the_trait)),
    ]
}

/// A browser with one session cookie.
struct Browser {
    app: App,
    cookie: Option<String>,
}

impl Browser {
    fn new(app: &App) -> Self {
        Self {
            app: app.clone(),
            cookie: None,
        }
    }

    /// A browser logged in as `issuer/subject` (`-`: no issuer), its `device` set.
    async fn logged_in(app: &App, principal: &str, device: &str) -> Self {
        let mut browser = Self::new(app);
        assert_eq!(browser.ok(&format!("/login/{principal}")).await, "ok");
        assert_eq!(browser.ok(&format!("/set/device/{device}")).await, "ok");
        browser
    }

    /// The status and body of a request, keeping the cookie it sets.
    async fn send(&mut self, path: &str) -> (StatusCode, String) {
        let mut req = Request::builder().uri(path);
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        let res = self
            .app
            .clone()
            .oneshot(req.body(String::new()).unwrap())
            .await
            .unwrap();
        if let Some(set_cookie) = res.headers().get(header::SET_COOKIE) {
            let set_cookie = set_cookie.to_str().unwrap();
            self.cookie = (!set_cookie.contains("Max-Age=0"))
                .then(|| set_cookie.split(';').next().unwrap().to_owned());
        }
        (res.status(), res.into_body())
    }

    /// The body of a request that must succeed.
    async fn ok(&mut self, path: &str) -> String {
        let (status, body) = self.send(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }
}

const IDP: &str = "https:%2F%2Fidp.example";

#[tokio::test]
async fn the_other_sessions_are_the_principals_but_this_one_without_their_ids() {
    for (name, app) in apps() {
        let mut laptop = Browser::logged_in(&app, &format!("{IDP}/bob"), "laptop").await;
        let mut phone = Browser::logged_in(&app, &format!("{IDP}/bob"), "phone").await;
        let _tablet = Browser::logged_in(&app, &format!("{IDP}/bob"), "tablet").await;
        let mut other_issuer = Browser::logged_in(&app, "https:%2F%2Fother/bob", "b").await;
        let mut local = Browser::logged_in(&app, "-/bob", "local").await;
        let mut anonymous = Browser::new(&app);

        assert_eq!(
            laptop.ok("/devices").await,
            r#"Some(String("phone")),Some(String("tablet"))"#,
            "{name}"
        );
        assert_eq!(
            phone.ok("/devices").await,
            r#"Some(String("laptop")),Some(String("tablet"))"#,
            "{name}"
        );
        assert_eq!(other_issuer.ok("/others").await, "0", "{name}");
        assert_eq!(local.ok("/others").await, "0", "{name}: not any issuer");
        assert_eq!(anonymous.ok("/others").await, "0", "{name}");
        assert!(anonymous.cookie.is_none(), "{name}: nothing created");
    }
}

#[tokio::test]
async fn after_a_login_in_the_same_request_the_new_principals_others_are_listed() {
    for (name, app) in apps() {
        let mut laptop = Browser::logged_in(&app, &format!("{IDP}/bob"), "laptop").await;
        let _phone = Browser::logged_in(&app, &format!("{IDP}/bob"), "phone").await;
        // An anonymous visitor logs in as bob: bob's two sessions are its others.
        let mut visitor = Browser::new(&app);
        visitor.ok("/set/device/new").await;
        assert_eq!(
            visitor.ok(&format!("/login-and-list/{IDP}/bob")).await,
            "2",
            "{name}"
        );
        // bob logging in again on the laptop: the laptop is not one of its own others.
        assert_eq!(
            laptop.ok(&format!("/login-and-list/{IDP}/bob")).await,
            "2",
            "{name}"
        );
        // Someone else over bob's laptop session: alice's others (none).
        assert_eq!(laptop.ok("/login-and-list/-/alice").await, "0", "{name}");
        assert_eq!(visitor.ok("/others").await, "1", "{name}: the phone");
    }
}

#[tokio::test]
async fn logout_other_sessions_ends_the_others_of_the_principal_only() {
    for (name, app) in apps() {
        let mut laptop = Browser::logged_in(&app, &format!("{IDP}/bob"), "laptop").await;
        let mut phone = Browser::logged_in(&app, &format!("{IDP}/bob"), "phone").await;
        let mut other_issuer = Browser::logged_in(&app, "https:%2F%2Fother/bob", "b").await;
        let mut local = Browser::logged_in(&app, "-/bob", "local").await;
        let phone_cookie = phone.cookie.clone();

        assert_eq!(laptop.ok("/logout-others").await, "1", "{name}");
        assert_eq!(laptop.ok("/me").await, "https://idp.example/bob", "{name}");
        assert_eq!(phone.ok("/me").await, "", "{name}: the phone is logged out");
        phone.cookie = phone_cookie;
        assert_eq!(
            phone.ok("/get/device").await,
            "",
            "{name}: its data is gone"
        );
        assert_eq!(other_issuer.ok("/me").await, "https://other/bob", "{name}");
        assert_eq!(local.ok("/me").await, "-/bob", "{name}");
        assert_eq!(laptop.ok("/logout-others").await, "0", "{name}");
        assert_eq!(Browser::new(&app).ok("/logout-others").await, "0", "{name}");
    }
}

#[tokio::test]
async fn logging_out_everywhere_is_the_others_then_this_one() {
    for (name, app) in apps() {
        let mut laptop = Browser::logged_in(&app, &format!("{IDP}/bob"), "laptop").await;
        let mut phone = Browser::logged_in(&app, &format!("{IDP}/bob"), "phone").await;
        let mut local = Browser::logged_in(&app, "-/bob", "local").await;
        assert_eq!(laptop.ok("/logout-everywhere").await, "1", "{name}");
        assert!(laptop.cookie.is_none(), "{name}: a removal cookie");
        assert_eq!(laptop.ok("/me").await, "", "{name}");
        assert_eq!(phone.ok("/me").await, "", "{name}");
        assert_eq!(local.ok("/me").await, "-/bob", "{name}");
    }
}

/// What the test store does for `sessions_of` and `delete_sessions_of`.
const INDEXED: u8 = 0;
const NO_INDEX: u8 = 1;
const FAILING: u8 = 2;

/// A `MemoryStore` whose per-principal index can be missing (the trait's defaults) or
/// failing (a backend error).
#[derive(Debug)]
struct Switched {
    inner: MemoryStore,
    mode: AtomicU8,
}

impl Switched {
    fn new(mode: u8) -> Arc<Self> {
        Arc::new(Self {
            inner: MemoryStore::new(),
            mode: AtomicU8::new(mode),
        })
    }

    fn index(&self, what: &'static str) -> Option<StoreError> {
        match self.mode.load(Ordering::SeqCst) {
            NO_INDEX => Some(StoreError::Unsupported(what)),
            FAILING => Some(StoreError::backend("injected outage")),
            _ => None,
        }
    }
}

impl SessionStore for Switched {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        self.inner.load(id)
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        self.inner.create(record)
    }
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        self.inner.save(record)
    }
    fn touch<'a>(&'a self, id: &'a SessionId, at: OffsetDateTime) -> StoreFuture<'a, bool> {
        self.inner.touch(id, at)
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        self.inner.delete(id)
    }
    fn sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        except: Option<&'a SessionId>,
    ) -> StoreFuture<'a, Vec<SessionRecord>> {
        match self.index("sessions_of") {
            Some(error) => StoreFuture::ready(Err(error)),
            None => self.inner.sessions_of(issuer, subject, except),
        }
    }
    fn delete_sessions_of<'a>(
        &'a self,
        issuer: Option<&'a str>,
        subject: &'a str,
        keep: Option<&'a SessionId>,
    ) -> StoreFuture<'a, u64> {
        match self.index("delete_sessions_of") {
            Some(error) => StoreFuture::ready(Err(error)),
            None => self.inner.delete_sessions_of(issuer, subject, keep),
        }
    }
}

#[tokio::test]
async fn a_store_without_an_index_answers_501_and_the_session_keeps_working() {
    let store = Switched::new(NO_INDEX);
    let app = app(Arc::clone(&store));
    let mut laptop = Browser::logged_in(&app, "-/bob", "laptop").await;
    let mut phone = Browser::logged_in(&app, "-/bob", "phone").await;

    assert_eq!(
        laptop.send("/others").await,
        (
            StatusCode::NOT_IMPLEMENTED,
            "unsupported sessions_of".to_owned()
        )
    );
    assert_eq!(
        laptop.send("/logout-others").await,
        (
            StatusCode::NOT_IMPLEMENTED,
            "unsupported delete_sessions_of".to_owned()
        )
    );
    // Not an outage: the session is not poisoned, and nothing was deleted.
    assert_eq!(laptop.ok("/others-then-set/k/v").await, "ok");
    assert_eq!(laptop.ok("/get/k").await, "v");
    assert_eq!(phone.ok("/me").await, "-/bob");
}

#[tokio::test]
async fn a_store_failure_while_revoking_is_a_503_never_a_success() {
    let store = Switched::new(INDEXED);
    let app = app(Arc::clone(&store));
    let mut laptop = Browser::logged_in(&app, "-/bob", "laptop").await;
    let mut phone = Browser::logged_in(&app, "-/bob", "phone").await;

    store.mode.store(FAILING, Ordering::SeqCst);
    // The layer's own 503 replaces the handler's answer.
    assert_eq!(
        laptop.send("/logout-others").await,
        (StatusCode::SERVICE_UNAVAILABLE, String::new())
    );
    // A handler that swallows the error does not turn the failure into a success.
    assert_eq!(
        laptop.send("/quietly-logout-others").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        laptop.send("/others").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // A write in the same request as a failed listing is not kept (as after a failed load).
    assert_eq!(
        laptop.send("/others-then-set/k/v").await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );

    store.mode.store(INDEXED, Ordering::SeqCst);
    assert_eq!(laptop.ok("/get/k").await, "");
    assert_eq!(laptop.ok("/me").await, "-/bob", "the cookie survives");
    assert_eq!(laptop.ok("/logout-others").await, "1", "it recovers");
    assert_eq!(phone.ok("/me").await, "");
}
