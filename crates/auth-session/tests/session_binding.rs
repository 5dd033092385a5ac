//! What binds a request to its session and a session to its principal, over HTTP (the layer
//! as a tower service, real `Cookie` and `Set-Cookie` headers):
//!
//! - the default cookie is a `__Host-` cookie, so a cookie tossed from a sibling subdomain
//!   under the plain name (`Domain=.example.com`) neither swaps nor ends the victim's session;
//! - a login flushes what was written before it (an anonymous session prepared by an attacker,
//!   or another principal's data), except the keys the layer keeps on login;
//! - the issuer is part of the logged-in principal: it is stored with the session, given back
//!   in the identity, and `bob` of another issuer is another principal.
//!
//! Each runs over a `MemoryStore` (the layer's synchronous path) and over the same store
//! behind `Arc<dyn SessionStore>` (the async path, through `SessionRecord`); the issuer
//! scenario also over Redis, PostgreSQL and SQLite (`AUTH_TEST_REDIS_URL`,
//! `AUTH_TEST_POSTGRES_URL`; unset, those print SKIPPED).
#![cfg(feature = "memory")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::Arc;

use auth_cookie::{CookieConfig, CookieKeys, CookiePrefix};
use auth_core::{AuthMethod, Identity, KeyId, KeyRing, LazyIdentity, SecretKey, SessionStore};
use auth_session::{DEFAULT_COOKIE_NAME, DEV_COOKIE_NAME, MemoryStore, Session, SessionLayer};
use http::{Request, Response, StatusCode, header};
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

type App = BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

fn keys() -> CookieKeys {
    CookieKeys::new(KeyRing::new(
        KeyId::new("k").unwrap(),
        SecretKey::from_bytes(&[9; 32]).unwrap(),
    ))
}

/// `issuer/subject` of an identity (`-` for no issuer); empty when anonymous.
fn principal(identity: Option<&Identity>) -> String {
    identity.map_or_else(String::new, |identity| {
        format!(
            "{}/{}",
            identity.issuer().unwrap_or("-"),
            identity.subject()
        )
    })
}

/// Routes: `/set/k/v`, `/get/k`, `/login/<issuer or ->/<subject>`, `/logout`, `/me` (through
/// `Session::identity`), `/lazy` (through the request's `LazyIdentity`, as guards see it).
async fn handle(req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = Session::from_request(&req).unwrap();
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = match parts.as_slice() {
        ["set", key, value] => {
            session.insert(key, value).await.unwrap();
            "ok".to_owned()
        }
        ["get", key] => format!("{:?}", session.get::<String>(key).await.unwrap()),
        ["login", issuer, subject] => {
            let mut identity = Identity::builder(*subject, AuthMethod::Session);
            if *issuer != "-" {
                identity = identity.issuer(*issuer);
            }
            session.login(&identity.build()).await.unwrap();
            "ok".to_owned()
        }
        ["logout"] => {
            session.logout().await.unwrap();
            "ok".to_owned()
        }
        ["me"] => principal(session.identity().await.unwrap().as_ref()),
        ["lazy"] => {
            let lazy = req.extensions().get::<LazyIdentity>().unwrap().clone();
            principal(lazy.resolve().await.unwrap().as_ref())
        }
        _ => {
            let mut res = Response::new(String::new());
            *res.status_mut() = StatusCode::NOT_FOUND;
            return Ok(res);
        }
    };
    Ok(Response::new(body))
}

fn app(layer: SessionLayer) -> App {
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(handle)),
    )
}

/// The two ways the layer meets a `MemoryStore`: directly (synchronous calls on the
/// layer's own form of the session) and behind the trait (records, as every other store).
fn layers() -> [(&'static str, SessionLayer); 2] {
    let behind_the_trait: Arc<dyn SessionStore> = Arc::new(MemoryStore::new());
    [
        ("memory", SessionLayer::new(MemoryStore::new(), keys())),
        ("dyn", SessionLayer::new(behind_the_trait, keys())),
    ]
}

struct Reply {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
}

async fn send(app: &App, path: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::builder().uri(path);
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let res = app
        .clone()
        .oneshot(req.body(String::new()).unwrap())
        .await
        .unwrap();
    Reply {
        status: res.status(),
        set_cookie: res
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().to_owned()),
        body: res.into_body(),
    }
}

/// A browser with one session cookie (the `name=value` of the last `Set-Cookie`).
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

    async fn send(&mut self, path: &str) -> String {
        let reply = send(&self.app, path, self.cookie.as_deref()).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        if let Some(set_cookie) = reply.set_cookie {
            self.cookie = (!set_cookie.contains("Max-Age=0")).then(|| pair(&set_cookie));
        }
        reply.body
    }
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

// ---- 1. The `__Host-` cookie name: no cookie tossing -------------------------------------

/// A cookie a sibling subdomain tossed with `Domain=.example.com` (it cannot set a `__Host-`
/// cookie: the browser refuses one with a `Domain`), sent *before* the victim's own, with the
/// value of the attacker's own valid session: the victim keeps their session. Alone, it is
/// ignored entirely; a garbage one does not log the victim out either.
#[tokio::test]
async fn a_cookie_tossed_from_a_sibling_subdomain_neither_swaps_nor_ends_the_session() {
    for unsigned in [false, true] {
        let mut layer = SessionLayer::new(MemoryStore::new(), keys());
        if unsigned {
            layer = layer.with_unsigned_cookie();
        }
        let app = app(layer);
        let mut mallory = Browser::new(&app);
        mallory.send("/login/-/mallory").await;
        let mut alice = Browser::new(&app);
        alice.send("/login/-/alice").await;
        let (mallory, alice) = (mallory.cookie.unwrap(), alice.cookie.unwrap());
        let value = mallory.split_once('=').unwrap().1;
        // The attacker's session ID, and a value for the plain name `id` made with the layer's
        // own keys (the strongest tossed cookie there can be: signed cookies bind their name).
        let id = value.rsplit('.').next().unwrap();
        let sealed_for_id = if unsigned {
            id.to_owned()
        } else {
            keys().seal_signed("id", id)
        };
        for tossed in [format!("id={value}"), format!("id={sealed_for_id}")] {
            let both = format!("{tossed}; {alice}");
            assert_eq!(
                send(&app, "/me", Some(&both)).await.body,
                "-/alice",
                "unsigned: {unsigned}: {both}"
            );
            assert_eq!(
                send(&app, "/lazy", Some(&both)).await.body,
                "-/alice",
                "unsigned: {unsigned}: {both}"
            );
            assert_eq!(
                send(&app, "/me", Some(&tossed)).await.body,
                "",
                "unsigned: {unsigned}: a tossed cookie alone is ignored: {tossed}"
            );
        }
        let garbage = format!("id=x; {alice}");
        assert_eq!(
            send(&app, "/me", Some(&garbage)).await.body,
            "-/alice",
            "unsigned: {unsigned}: a tossed garbage cookie does not log out"
        );
        // The attacker's own cookie, under its real name, is still the attacker's.
        assert_eq!(send(&app, "/me", Some(&mallory)).await.body, "-/mallory");
    }
}

/// The default definition: `__Host-id`, `Secure`, `Path=/`, no `Domain`, for the cookie and
/// for its removal.
#[tokio::test]
async fn the_default_session_cookie_is_a_host_cookie() {
    assert_eq!(DEFAULT_COOKIE_NAME, "__Host-id");
    for (store, layer) in layers() {
        let app = app(layer);
        let created = send(&app, "/set/n/1", None).await.set_cookie.unwrap();
        assert!(created.starts_with("__Host-id=v1."), "{store}: {created}");
        assert!(
            created.ends_with("; HttpOnly; SameSite=Lax; Secure; Path=/"),
            "{store}: {created}"
        );
        assert!(!created.contains("Domain"), "{store}: {created}");
        let removal = send(&app, "/logout", Some(&pair(&created)))
            .await
            .set_cookie
            .unwrap();
        assert!(removal.starts_with("__Host-id=;"), "{store}: {removal}");
        assert!(
            removal.contains("Secure") && removal.contains("Path=/"),
            "{store}: {removal}"
        );
        assert!(!removal.contains("Domain"), "{store}: {removal}");
    }
}

/// Development over plain HTTP: the cookie is `id`, without `Secure`, both ways; the same
/// value under the default name means nothing to it, and a definition given later replaces it.
#[tokio::test]
async fn the_insecure_dev_cookie_is_a_plain_id_cookie_without_secure() {
    assert_eq!(DEV_COOKIE_NAME, "id");
    for (store, layer) in layers() {
        let dev = layer.with_insecure_dev_cookie();
        let app = app(dev.clone());
        let created = send(&app, "/login/-/alice", None).await.set_cookie.unwrap();
        assert!(created.starts_with("id=v1."), "{store}: {created}");
        assert!(
            created.ends_with("; HttpOnly; SameSite=Lax; Path=/"),
            "{store}: {created}"
        );
        assert!(!created.contains("Secure"), "{store}: {created}");
        let cookie = pair(&created);
        assert_eq!(send(&app, "/me", Some(&cookie)).await.body, "-/alice");
        let renamed = format!("__Host-{cookie}");
        assert_eq!(send(&app, "/me", Some(&renamed)).await.body, "", "{store}");
        let removal = send(&app, "/logout", Some(&cookie))
            .await
            .set_cookie
            .unwrap();
        assert!(removal.starts_with("id=;"), "{store}: {removal}");
        assert!(!removal.contains("Secure"), "{store}: {removal}");

        let sid = CookieConfig::builder("sid")
            .prefix(CookiePrefix::Host)
            .build()
            .unwrap();
        let app = self::app(dev.with_cookie(sid).unwrap());
        let created = send(&app, "/set/n/1", None).await.set_cookie.unwrap();
        assert!(created.starts_with("__Host-sid="), "{store}: {created}");
    }
    // A prefixed name cannot go without `Secure`: auth-cookie refuses the definition.
    let prefixed = CookieConfig::builder(DEFAULT_COOKIE_NAME).insecure_dev_mode();
    assert!(prefixed.build().is_err());
}

// ---- 2. Login flushes what was written before it ------------------------------------------

/// An attacker prepares an anonymous session with chosen keys and gets the victim to log in
/// over it: by default nothing written while anonymous survives the login; with a keep-list,
/// only its keys do.
#[tokio::test]
async fn data_written_while_anonymous_does_not_survive_login() {
    for (store, layer) in layers() {
        for keep in [false, true] {
            let layer = if keep {
                layer.clone().with_keep_on_login(["cart"])
            } else {
                layer.clone()
            };
            let mut browser = Browser::new(&app(layer));
            browser.send("/set/cart/3").await;
            browser.send("/set/role_override/admin").await;
            let planted = browser.cookie.clone().unwrap();
            browser.send("/login/-/alice").await;
            assert_ne!(browser.cookie.as_ref(), Some(&planted), "{store}: a new ID");
            assert_eq!(browser.send("/me").await, "-/alice", "{store}");
            assert_eq!(
                browser.send("/get/role_override").await,
                "None",
                "{store}, keep: {keep}: anonymous data is flushed at login"
            );
            let cart = if keep { "Some(\"3\")" } else { "None" };
            assert_eq!(
                browser.send("/get/cart").await,
                cart,
                "{store}, keep: {keep}: only kept keys survive"
            );
        }
    }
}

/// A login as the principal already logged in keeps everything; another subject's login
/// flushes all but the kept keys.
#[tokio::test]
async fn a_relogin_keeps_the_data_and_another_subject_flushes_it() {
    for (store, layer) in layers() {
        let mut browser = Browser::new(&app(layer.with_keep_on_login(["cart"])));
        browser.send("/login/-/alice").await;
        browser.send("/set/draft/alice-private").await;
        browser.send("/set/cart/3").await;
        browser.send("/login/-/alice").await;
        assert_eq!(
            browser.send("/get/draft").await,
            "Some(\"alice-private\")",
            "{store}: the same principal keeps its data"
        );
        browser.send("/login/-/bob").await;
        assert_eq!(browser.send("/me").await, "-/bob", "{store}");
        assert_eq!(browser.send("/get/draft").await, "None", "{store}");
        assert_eq!(browser.send("/get/cart").await, "Some(\"3\")", "{store}");
    }
}

// ---- 3. The issuer is part of the principal -----------------------------------------------

/// `bob` of issuer A logs in, then `bob` of issuer B over the same session: another
/// principal, so the data is flushed (but the kept keys), and the identity names B.
pub async fn bob_of_another_issuer_is_another_principal(store: &str, layer: SessionLayer) {
    let mut browser = Browser::new(&app(layer.with_keep_on_login(["cart"])));
    browser.send("/set/cart/3").await;
    browser.send("/login/idp-a/bob").await;
    assert_eq!(browser.send("/me").await, "idp-a/bob", "{store}");
    assert_eq!(browser.send("/lazy").await, "idp-a/bob", "{store}");
    browser.send("/set/draft/a-private").await;
    browser.send("/login/idp-a/bob").await;
    assert_eq!(
        browser.send("/get/draft").await,
        "Some(\"a-private\")",
        "{store}: the same issuer and subject keep their data"
    );

    let before = browser.cookie.clone();
    browser.send("/login/idp-b/bob").await;
    assert_ne!(browser.cookie, before, "{store}: a new ID");
    assert_eq!(browser.send("/me").await, "idp-b/bob", "{store}");
    assert_eq!(browser.send("/lazy").await, "idp-b/bob", "{store}");
    assert_eq!(
        browser.send("/get/draft").await,
        "None",
        "{store}: another issuer's bob gets none of A's bob's data"
    );
    assert_eq!(browser.send("/get/cart").await, "Some(\"3\")", "{store}");

    // No issuer (a local login) is yet another principal.
    browser.send("/set/draft/b-private").await;
    browser.send("/login/-/bob").await;
    assert_eq!(browser.send("/me").await, "-/bob", "{store}");
    assert_eq!(browser.send("/get/draft").await, "None", "{store}");
}

#[tokio::test]
async fn bob_of_another_issuer_is_another_principal_in_memory() {
    for (store, layer) in layers() {
        bob_of_another_issuer_is_another_principal(store, layer).await;
    }
}

/// The issuer through the stores that keep records (JSON) rather than the layer's own form: the
/// kit's check, and the scenario over the layer, on each store and on a `CachingStore` over it.
#[cfg(all(
    feature = "test-util",
    feature = "redis",
    feature = "postgres",
    feature = "sqlite"
))]
mod shared_stores {
    use auth_core::SessionId;
    use auth_session::testkit::{self, RealTimeHarness};
    use auth_session::{CachingStore, PostgresStore, RedisStore, SqliteStore, redis, sqlx};

    use super::*;

    fn random_name() -> String {
        let id = SessionId::generate().unwrap().encode().to_lowercase();
        format!("auth_test_{}", id.replace('-', "_"))
    }

    /// The kit's check and the layer scenario over `store`, then over a cache in front of it.
    async fn prove<S: SessionStore + Clone>(name: &str, store: S) {
        let direct = store.clone();
        testkit::issuer_round_trips(&RealTimeHarness::new(move || {
            let store = direct.clone();
            async move { store }
        }))
        .await;
        let behind = store.clone();
        testkit::issuer_round_trips(&RealTimeHarness::new(move || {
            let store = behind.clone();
            async move { CachingStore::new(MemoryStore::new(), store) }
        }))
        .await;
        bob_of_another_issuer_is_another_principal(name, SessionLayer::new(store.clone(), keys()))
            .await;
        let cached = CachingStore::new(MemoryStore::new(), store);
        bob_of_another_issuer_is_another_principal(name, SessionLayer::new(cached, keys())).await;
    }

    /// Runs `cleanup` when dropped (also when the test panics), on a thread of its own.
    struct Cleanup(Option<Box<dyn FnOnce() + Send>>);

    impl Drop for Cleanup {
        fn drop(&mut self) {
            if let Some(cleanup) = self.0.take() {
                let _ = std::thread::spawn(cleanup).join();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_keeps_the_issuer() {
        let Some(url) = auth_tests::redis_url("redis_keeps_the_issuer") else {
            return;
        };
        let prefix = random_name();
        let _cleanup = Cleanup(Some(Box::new({
            let (url, prefix) = (url.clone(), prefix.clone());
            move || {
                let client = redis::Client::open(url).unwrap();
                let mut connection = client.get_connection().unwrap();
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{{{prefix}:*"))
                    .query(&mut connection)
                    .unwrap();
                if !keys.is_empty() {
                    let _: i64 = redis::cmd("DEL").arg(keys).query(&mut connection).unwrap();
                }
            }
        })));
        let store = RedisStore::connect(&url).await.unwrap().with_prefix(prefix);
        prove("redis", store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_keeps_the_issuer() {
        let Some(url) = auth_tests::postgres_url("postgres_keeps_the_issuer") else {
            return;
        };
        let schema = random_name();
        let _cleanup = Cleanup(Some(Box::new({
            let (url, schema) = (url.clone(), schema.clone());
            move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let pool = sqlx::PgPool::connect(&url).await.unwrap();
                    let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
                    sqlx::query(&drop).execute(&pool).await.unwrap();
                    pool.close().await;
                });
            }
        })));
        let store = PostgresStore::connect(&url)
            .await
            .unwrap()
            .with_table(&schema, "sessions");
        store.migrate().await.unwrap();
        prove("postgres", store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_keeps_the_issuer() {
        let dir = std::env::temp_dir().join(random_name());
        std::fs::create_dir_all(&dir).unwrap();
        let _cleanup = Cleanup(Some(Box::new({
            let dir = dir.clone();
            move || {
                let _ = std::fs::remove_dir_all(dir);
            }
        })));
        let store = SqliteStore::open(dir.join("sessions.db")).await.unwrap();
        store.migrate().await.unwrap();
        prove("sqlite", store).await;
    }
}
