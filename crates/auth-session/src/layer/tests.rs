//! The layer over a bare `MemoryStore`: the synchronous path (direct store calls, settling
//! without a boxed future, handles that carry nothing over, the `Set-Cookie` written without a jar). The
//! workspace's scenario suite runs the same layer over `Arc<dyn SessionStore>`, the async path.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use auth_cookie::{CookieConfig, CookieKeys, CookieLayer, CookiePrefix};
use auth_core::{
    AuthMethod, Clock, Identity, KeyId, KeyRing, LazyIdentity, ManualClock, SecretKey, SessionId,
    SessionStore,
};
use http::{Request, Response, StatusCode, header};
use time::Duration;
use tower::util::BoxCloneSyncService;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::{
    DEFAULT_COOKIE_NAME, MemoryStore, Session, SessionConflict, SessionExpiry, SessionLayer,
};

type App = BoxCloneSyncService<Request<String>, Response<String>, Infallible>;

fn keys(id: &str, byte: u8) -> CookieKeys {
    CookieKeys::new(KeyRing::new(
        KeyId::new(id).unwrap(),
        SecretKey::from_bytes(&[byte; 32]).unwrap(),
    ))
}

/// Handles kept by a handler past its response.
static KEPT: Mutex<Vec<Session>> = Mutex::new(Vec::new());

/// Routes: `/get/k`, `/set/k/v`, `/remove/k`, `/clear`, `/login/who`, `/logout`, `/cycle`,
/// `/remember`, `/me` (through the lazy identity), `/public`, `/race/k/theirs/ours` (another
/// request saves `k = theirs` between this one's load and save), `/keep/k/v` (sets, and keeps
/// the handle).
async fn handle(store: MemoryStore, req: Request<String>) -> Result<Response<String>, Infallible> {
    let session = Session::from_request(&req).unwrap();
    let path = req.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let body = match parts.as_slice() {
        ["get", key] => format!("{:?}", session.get::<String>(key).await.unwrap()),
        ["set", key, value] => {
            session.insert(key, value).await.unwrap();
            "ok".to_owned()
        }
        ["remove", key] => format!("{:?}", session.remove::<String>(key).await.unwrap()),
        ["clear"] => {
            session.clear().await.unwrap();
            "ok".to_owned()
        }
        ["login", who] => {
            let identity = Identity::builder(*who, AuthMethod::Session).build();
            session.login(&identity).await.unwrap();
            "ok".to_owned()
        }
        ["logout"] => {
            session.logout().await.unwrap();
            "ok".to_owned()
        }
        ["cycle"] => {
            session.cycle_id().await.unwrap();
            "ok".to_owned()
        }
        ["remember"] => {
            let expiry = SessionExpiry::new(Duration::days(14), Duration::days(30));
            session.set_expiry(expiry).await.unwrap();
            "ok".to_owned()
        }
        ["me"] => {
            let lazy = req.extensions().get::<LazyIdentity>().unwrap().clone();
            let identity = lazy.resolve().await.unwrap();
            identity.map(|i| i.subject().to_owned()).unwrap_or_default()
        }
        ["public"] => "public".to_owned(),
        ["race", key, theirs, ours] => {
            let _: Option<String> = session.get(key).await.unwrap();
            save_meanwhile(&store, &req, &[(key, theirs), ("other", "theirs")]).await;
            session.insert(key, ours).await.unwrap();
            "ok".to_owned()
        }
        ["race-remove", key] | ["race-clear", key] => {
            let _: Option<String> = session.get(key).await.unwrap();
            save_meanwhile(&store, &req, &[("other", "theirs")]).await;
            if parts[0] == "race-remove" {
                let _: Option<String> = session.remove(key).await.unwrap();
            } else {
                session.clear().await.unwrap();
                session.insert(key, "mine").await.unwrap();
            }
            "ok".to_owned()
        }
        ["remember", "forever"] => {
            let expiry = SessionExpiry::new(Duration::MAX, Duration::MAX);
            session.set_expiry(expiry).await.unwrap();
            "ok".to_owned()
        }
        ["keep", key, value] => {
            session.insert(key, value).await.unwrap();
            KEPT.lock().unwrap().push(session.clone());
            "ok".to_owned()
        }
        _ => {
            let mut res = Response::new(String::new());
            *res.status_mut() = StatusCode::NOT_FOUND;
            return Ok(res);
        }
    };
    Ok(Response::new(body))
}

/// A concurrent request on the session `req`'s cookie names, straight through the store:
/// sets `values` and saves.
async fn save_meanwhile(store: &MemoryStore, req: &Request<String>, values: &[(&str, &str)]) {
    let cookie = req.headers()[header::COOKIE].to_str().unwrap();
    let mut record = store.load(&id_of(cookie, true)).await.unwrap().unwrap();
    for (key, value) in values {
        record.data_mut().insert((*key).to_owned(), (*value).into());
    }
    assert!(matches!(
        store.save(&record).await.unwrap(),
        auth_core::SaveOutcome::Saved { .. }
    ));
}

fn app_with(layer: SessionLayer, store: &MemoryStore) -> App {
    let store = store.clone();
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(layer)
            .service(service_fn(move |req| handle(store.clone(), req))),
    )
}

struct Fixture {
    app: App,
    store: MemoryStore,
    clock: ManualClock,
}

fn fixture() -> Fixture {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let layer = SessionLayer::new(store.clone(), keys("k", 3)).with_clock(Arc::new(clock.clone()));
    Fixture {
        app: app_with(layer, &store),
        store,
        clock,
    }
}

struct Reply {
    status: StatusCode,
    body: String,
    set_cookie: Option<String>,
    headers: http::HeaderMap,
    conflict: Option<SessionConflict>,
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
        headers: res.headers().clone(),
        conflict: res.extensions().get::<SessionConflict>().cloned(),
        body: res.into_body(),
    }
}

/// The stored value of `key` in session `id` (the session must exist).
async fn stored(store: &MemoryStore, id: &SessionId, key: &str) -> serde_json::Value {
    let record = store
        .load(id)
        .await
        .unwrap()
        .expect("the session is stored");
    record.data.get(key).cloned().expect("the key is stored")
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

fn id_of(pair: &str, signed: bool) -> SessionId {
    let value = pair.split_once('=').unwrap().1;
    let id = if signed {
        value.rsplit('.').next().unwrap()
    } else {
        value
    };
    SessionId::parse(id).unwrap()
}

#[tokio::test]
async fn create_read_modify_and_headers() {
    let f = fixture();
    let created = send(&f.app, "/set/n/1", None).await;
    assert_eq!(created.status, StatusCode::OK);
    let set_cookie = created.set_cookie.unwrap();
    assert!(set_cookie.starts_with("__Host-id=v1."), "{set_cookie}");
    assert!(
        set_cookie.ends_with("; HttpOnly; SameSite=Lax; Secure; Path=/"),
        "{set_cookie}"
    );
    assert_eq!(created.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(created.headers[header::VARY], "Cookie");
    let cookie = pair(&set_cookie);
    let id = id_of(&cookie, true);
    assert_eq!(f.store.load(&id).await.unwrap().unwrap().version, 1);

    let read = send(&f.app, "/get/n", Some(&cookie)).await;
    assert_eq!(read.body, "Some(\"1\")");
    assert!(read.set_cookie.is_none());
    assert!(read.headers.get(header::CACHE_CONTROL).is_none());

    let modified = send(&f.app, "/set/n/2", Some(&cookie)).await;
    assert!(modified.set_cookie.is_none(), "same ID, same cookie");
    let stored = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(stored.data.get("n").unwrap(), "2");
    assert_eq!(
        send(&f.app, "/get/n", Some(&cookie)).await.body,
        "Some(\"2\")"
    );

    assert_eq!(
        send(&f.app, "/remove/n", Some(&cookie)).await.body,
        "Some(\"2\")"
    );
    assert_eq!(send(&f.app, "/get/n", Some(&cookie)).await.body, "None");
    assert_eq!(f.store.load(&id).await.unwrap().unwrap().version, 3);
}

#[tokio::test]
async fn untouched_and_read_only_anonymous_requests_create_nothing() {
    let f = fixture();
    for path in ["/public", "/get/n", "/me", "/remove/n", "/clear", "/cycle"] {
        let reply = send(&f.app, path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert!(reply.set_cookie.is_none(), "{path}");
    }
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn unknown_tampered_and_expired_ids_are_never_adopted() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/n/1", None).await.set_cookie.unwrap());
    let id = id_of(&cookie, true);

    // Tampered: one character of the ID changed.
    let mut tampered = cookie.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(send(&f.app, "/get/n", Some(&tampered)).await.body, "None");
    let written = send(&f.app, "/set/n/9", Some(&tampered)).await;
    let fresh = id_of(&pair(&written.set_cookie.unwrap()), true);
    assert_ne!(fresh, id);
    assert_eq!(
        stored(&f.store, &id, "n").await,
        "1",
        "the real session is untouched"
    );

    // Unknown: signed correctly, but no such session (another layer's keys sign the same).
    let unknown_id = SessionId::generate().unwrap().encode();
    let unknown = keys("k", 3).seal_signed(DEFAULT_COOKIE_NAME, &unknown_id);
    let unknown = format!("{DEFAULT_COOKIE_NAME}={unknown}");
    assert_eq!(send(&f.app, "/get/n", Some(&unknown)).await.body, "None");
    let written = send(&f.app, "/set/n/9", Some(&unknown)).await;
    assert_ne!(
        pair(&written.set_cookie.unwrap()),
        unknown,
        "a new ID, never the one sent"
    );

    // Expired: 30 minutes idle.
    f.clock.advance(Duration::minutes(31));
    assert_eq!(send(&f.app, "/get/n", Some(&cookie)).await.body, "None");
    let written = send(&f.app, "/set/n/2", Some(&cookie)).await;
    assert_ne!(id_of(&pair(&written.set_cookie.unwrap()), true), id);
}

#[tokio::test]
async fn logout_deletes_and_a_late_save_does_not_resurrect() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/n/1", None).await.set_cookie.unwrap());
    let id = id_of(&cookie, true);
    let stale = f.store.load(&id).await.unwrap().unwrap();

    let out = send(&f.app, "/logout", Some(&cookie)).await;
    let removal = out.set_cookie.unwrap();
    assert!(removal.starts_with("__Host-id=;"), "{removal}");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(f.store.load(&id).await.unwrap().is_none());
    assert_eq!(
        f.store.save(&stale).await.unwrap(),
        auth_core::SaveOutcome::NotFound
    );
    assert_eq!(send(&f.app, "/get/n", Some(&cookie)).await.body, "None");
    assert!(f.store.is_empty());

    // Logout without a session still clears the cookie, and creates nothing.
    let out = send(&f.app, "/logout", None).await;
    assert!(out.set_cookie.unwrap().starts_with("__Host-id=;"));
    assert!(f.store.is_empty());
}

#[tokio::test]
async fn login_and_cycle_always_change_the_id() {
    let f = fixture();
    let anonymous = pair(&send(&f.app, "/set/cart/3", None).await.set_cookie.unwrap());
    let first = id_of(&anonymous, true);

    let login = send(&f.app, "/login/alice", Some(&anonymous)).await;
    let cookie = pair(&login.set_cookie.unwrap());
    let second = id_of(&cookie, true);
    assert_ne!(first, second);
    assert!(f.store.load(&first).await.unwrap().is_none(), "old ID gone");
    assert_eq!(send(&f.app, "/me", Some(&cookie)).await.body, "alice");
    assert_eq!(send(&f.app, "/me", Some(&anonymous)).await.body, "");
    // What the anonymous session held is not carried into the login (no keep-on-login keys).
    assert_eq!(send(&f.app, "/get/cart", Some(&cookie)).await.body, "None");

    let cycled = send(&f.app, "/cycle", Some(&cookie)).await;
    let third = id_of(&pair(&cycled.set_cookie.unwrap()), true);
    assert_ne!(third, second);
    assert!(f.store.load(&second).await.unwrap().is_none());
    assert_eq!(f.store.len(), 1);
}

#[tokio::test]
async fn reads_touch_at_most_once_per_interval_and_remember_me_sets_max_age() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/n/1", None).await.set_cookie.unwrap());
    let id = id_of(&cookie, true);
    let at = |store: &MemoryStore| {
        let store = store.clone();
        async move { store.load(&id).await.unwrap().unwrap().expires_at }
    };
    let created = at(&f.store).await;

    f.clock.advance(Duration::seconds(30));
    assert!(
        send(&f.app, "/get/n", Some(&cookie))
            .await
            .set_cookie
            .is_none()
    );
    assert_eq!(at(&f.store).await, created, "within the touch interval");

    f.clock.advance(Duration::seconds(31));
    assert!(
        send(&f.app, "/get/n", Some(&cookie))
            .await
            .set_cookie
            .is_none()
    );
    assert_eq!(at(&f.store).await, f.clock.now() + Duration::minutes(30));

    let remembered = send(&f.app, "/remember", Some(&cookie)).await;
    let set_cookie = remembered.set_cookie.unwrap();
    assert!(
        set_cookie.ends_with(&format!("; Max-Age={}", 14 * 24 * 3600)),
        "{set_cookie}"
    );
    f.clock.advance(Duration::minutes(5));
    let touched = send(&f.app, "/get/n", Some(&cookie)).await;
    assert!(
        touched.set_cookie.unwrap().contains("Max-Age="),
        "a persistent cookie follows its touches"
    );
}

#[tokio::test]
async fn a_lost_race_is_merged_key_by_key() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/k/0", None).await.set_cookie.unwrap());
    let id = id_of(&cookie, true);

    let raced = send(&f.app, "/race/k/theirs/ours", Some(&cookie)).await;
    assert_eq!(raced.status, StatusCode::OK);
    assert_eq!(raced.conflict.unwrap().keys, ["k"]);
    let stored = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.data.get("k").unwrap(), "ours", "last writer wins");
    assert_eq!(
        stored.data.get("other").unwrap(),
        "theirs",
        "their other key is kept"
    );
    assert_eq!(stored.version, 3);
}

#[tokio::test]
async fn a_rotated_key_reseals_the_cookie() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let old = SessionLayer::new(store.clone(), keys("old", 1)).with_clock(Arc::new(clock.clone()));
    let cookie = pair(
        &send(&app_with(old, &store), "/set/n/1", None)
            .await
            .set_cookie
            .unwrap(),
    );
    let ring = KeyRing::new(
        KeyId::new("new").unwrap(),
        SecretKey::from_bytes(&[2; 32]).unwrap(),
    )
    .with_verify_only(
        KeyId::new("old").unwrap(),
        SecretKey::from_bytes(&[1; 32]).unwrap(),
    )
    .unwrap();
    let rotated =
        SessionLayer::new(store.clone(), CookieKeys::new(ring)).with_clock(Arc::new(clock.clone()));
    let app = app_with(rotated, &store);
    let read = send(&app, "/get/n", Some(&cookie)).await;
    assert_eq!(read.body, "Some(\"1\")");
    let resealed = pair(&read.set_cookie.unwrap());
    assert_ne!(resealed, cookie);
    assert_eq!(id_of(&resealed, true), id_of(&cookie, true));
}

#[tokio::test]
async fn unsigned_cookies_and_custom_definitions() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let layer = SessionLayer::new(store.clone(), keys("k", 3))
        .with_unsigned_cookie()
        .with_cookie(
            CookieConfig::builder("sid")
                .prefix(CookiePrefix::Host)
                .build()
                .unwrap(),
        )
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    let app = app_with(layer, &store);
    let set_cookie = send(&app, "/set/n/1", None).await.set_cookie.unwrap();
    assert!(set_cookie.starts_with("__Host-sid="), "{set_cookie}");
    let cookie = pair(&set_cookie);
    assert_eq!(cookie.len(), "__Host-sid=".len() + SessionId::ENCODED_LEN);
    let id = id_of(&cookie, false);
    assert!(store.load(&id).await.unwrap().is_some());
    assert_eq!(
        send(&app, "/get/n", Some(&cookie)).await.body,
        "Some(\"1\")"
    );
}

#[tokio::test]
async fn with_a_cookie_layer_the_jar_writes_the_cookie() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let layer = SessionLayer::new(store.clone(), keys("k", 3)).with_clock(Arc::new(clock.clone()));
    let inner = store.clone();
    let app: App = BoxCloneSyncService::new(
        ServiceBuilder::new()
            .layer(CookieLayer::new())
            .layer(layer)
            .service(service_fn(move |req| handle(inner.clone(), req))),
    );
    let created = send(&app, "/set/n/1", None).await;
    let cookie = pair(&created.set_cookie.unwrap());
    assert_eq!(
        send(&app, "/get/n", Some(&cookie)).await.body,
        "Some(\"1\")"
    );
    assert_eq!(
        created.headers.get_all(header::SET_COOKIE).iter().count(),
        1
    );
}

#[tokio::test]
async fn handles_carry_nothing_over() {
    let f = fixture();
    let a = pair(&send(&f.app, "/set/n/a", None).await.set_cookie.unwrap());
    let b = pair(&send(&f.app, "/set/n/b", None).await.set_cookie.unwrap());
    for _ in 0..50 {
        assert_eq!(send(&f.app, "/get/n", Some(&a)).await.body, "Some(\"a\")");
        assert_eq!(send(&f.app, "/get/n", None).await.body, "None");
        assert_eq!(send(&f.app, "/get/n", Some(&b)).await.body, "Some(\"b\")");
        assert_eq!(send(&f.app, "/public", Some(&a)).await.body, "public");
        assert_eq!(send(&f.app, "/me", Some(&b)).await.body, "");
    }
    // A handle kept past its response stays usable.
    let kept = send(&f.app, "/keep/x/1", Some(&a)).await;
    assert!(kept.set_cookie.is_none());
    for _ in 0..5 {
        assert_eq!(send(&f.app, "/get/x", Some(&b)).await.body, "None");
    }
    // (Settled: its record went to the store, so it reads as it did before this change.)
    let session = KEPT.lock().unwrap().pop().unwrap();
    assert!(session.get::<String>("x").await.is_ok());
    let id = id_of(&a, true);
    assert_eq!(stored(&f.store, &id, "x").await, "1");
    assert_eq!(f.store.len(), 2);
}

/// The handle keeps the request's `Cookie` values (clones sharing the request's buffer) only
/// while it serves the request: a finished handle holds none, used or not.
#[tokio::test]
async fn a_finished_handle_keeps_no_request_buffer_alive() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/n/a", None).await.set_cookie.unwrap());
    for path in ["/public", "/get/n"] {
        // Shared, as a server's header values share its read buffer.
        let buffer = bytes::Bytes::copy_from_slice(cookie.as_bytes());
        let value = http::HeaderValue::from_maybe_shared(buffer.clone()).unwrap();
        let req = Request::builder()
            .uri(path)
            .header(header::COOKIE, value)
            .body(String::new())
            .unwrap();
        let res = f.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert!(
            buffer.is_unique(),
            "{path}: the request's Cookie value is still held"
        );
    }
}

/// The session cookie is looked up (lazily) in every `Cookie` field, by the jar's rules.
#[tokio::test]
async fn the_session_cookie_is_found_in_any_cookie_field() {
    session_cookie_found_in_any_cookie_field(fixture()).await;
}

/// The same with an unsigned cookie, which is looked up without checking UTF-8 first (and
/// looked up again, by the jar's rules, when the first pair of its name does not parse).
#[tokio::test]
async fn the_unsigned_session_cookie_is_found_by_the_same_rules() {
    let clock = ManualClock::default();
    let store = MemoryStore::with_clock(Arc::new(clock.clone()));
    let layer = SessionLayer::new(store.clone(), keys("k", 3))
        .with_unsigned_cookie()
        .with_clock(Arc::new(clock.clone()));
    let f = Fixture {
        app: app_with(layer, &store),
        store,
        clock,
    };
    session_cookie_found_in_any_cookie_field(f).await;
}

async fn session_cookie_found_in_any_cookie_field(f: Fixture) {
    let cookie = pair(&send(&f.app, "/set/n/a", None).await.set_cookie.unwrap());
    let get = |fields: Vec<&[u8]>| {
        let mut req = Request::builder().uri("/get/n");
        for field in fields {
            req = req.header(
                header::COOKIE,
                http::HeaderValue::from_bytes(field).unwrap(),
            );
        }
        let app = f.app.clone();
        async move {
            app.oneshot(req.body(String::new()).unwrap())
                .await
                .unwrap()
                .into_body()
        }
    };
    let found = "Some(\"a\")";
    let name = DEFAULT_COOKIE_NAME.as_bytes();
    let value = cookie.strip_prefix("__Host-id=").unwrap();
    let spaced = format!(" __Host-id = {value} ");
    // A second field, after other cookies and bad pairs; a half pair at the end of one field
    // never joins the next.
    let first_field = [b"a=1; ", name, b"; bad=\xff; =x; ", name].concat();
    assert_eq!(get(vec![&first_field, cookie.as_bytes()]).await, found);
    assert_eq!(get(vec![b"x=1", b"y=2", spaced.as_bytes()]).await, found);
    // The first valid pair wins; an invalid one before it is skipped.
    let mut later = [name, b"=\xff; "].concat();
    later.extend_from_slice(format!("{cookie}; __Host-id=other").as_bytes());
    assert_eq!(get(vec![&later]).await, found);
    // ... also when the valid one is in a later field.
    assert_eq!(
        get(vec![&[name, b"=\xff"].concat(), cookie.as_bytes()]).await,
        found
    );
    assert_eq!(
        get(vec![b"__Host-id=other", cookie.as_bytes()]).await,
        "None"
    );
    // Names are compared byte for byte: never case-folded, trimmed inside or percent-decoded,
    // and the unprefixed name is another cookie.
    for renamed in [
        format!("__HOST-ID={value}"),
        format!("__Host-i d={value}"),
        format!("__%48ost-id={value}"),
        format!("\u{2000}__Host-id={value}"),
        format!("id={value}"),
    ] {
        assert_eq!(get(vec![renamed.as_bytes()]).await, "None", "{renamed}");
    }
    assert_eq!(get(vec![b"", name]).await, "None");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_on_one_session_lose_no_key() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/start/0", None).await.set_cookie.unwrap());
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let (app, cookie) = (f.app.clone(), cookie.clone());
            tokio::spawn(async move { send(&app, &format!("/set/k{i}/{i}"), Some(&cookie)).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().status, StatusCode::OK);
    }
    let record = f.store.load(&id_of(&cookie, true)).await.unwrap().unwrap();
    for i in 0..32 {
        assert_eq!(*record.data.get(&format!("k{i}")).unwrap(), i.to_string());
    }
}

#[tokio::test]
async fn a_session_expired_by_the_layers_clock_is_not_adopted() {
    // The store runs on the system clock; the layer's clock is an hour ahead of it.
    let store = MemoryStore::new();
    let ahead = ManualClock::new(time::OffsetDateTime::now_utc() + Duration::hours(1));
    let layer = SessionLayer::new(store.clone(), keys("k", 3)).with_clock(Arc::new(ahead));
    let app = app_with(layer, &store);
    let created = send(&app, "/set/n/1", None).await;
    let cookie = pair(&created.set_cookie.unwrap());
    // Live for the store (it expires 30 minutes after the layer's "now", half an hour from
    // now), expired for the layer's clock once it moves 31 minutes on.
    assert!(store.load(&id_of(&cookie, true)).await.unwrap().is_some());
    assert_eq!(
        send(&app, "/get/n", Some(&cookie)).await.body,
        "Some(\"1\")"
    );
    let later = ManualClock::new(time::OffsetDateTime::now_utc() + Duration::minutes(91));
    let layer = SessionLayer::new(store.clone(), keys("k", 3)).with_clock(Arc::new(later));
    let app = app_with(layer, &store);
    assert_eq!(send(&app, "/get/n", Some(&cookie)).await.body, "None");
}

/// A layer and store on one clock, and a service
/// whose requests take 31 minutes (past the default 30-minute idle timeout): `/read` reads
/// `n` first, `/write` writes it first, `/late-write` reads it first and writes it last.
fn slow_fixture() -> (Fixture, App) {
    let clock = ManualClock::default();
    let shared: auth_core::SharedClock = Arc::new(clock.clone());
    let store = MemoryStore::with_clock(shared.clone());
    let layer = SessionLayer::new(store.clone(), keys("k", 3)).with_clock(shared);
    let tick = clock.clone();
    let slow: App = BoxCloneSyncService::new(ServiceBuilder::new().layer(layer.clone()).service(
        service_fn(move |req: Request<String>| {
            let tick = tick.clone();
            async move {
                let session = Session::from_request(&req).unwrap();
                match req.uri().path() {
                    "/read" | "/late-write" => {
                        let _: Option<String> = session.get("n").await.unwrap();
                    }
                    "/write" => session.insert("n", "2").await.unwrap(),
                    _ => {}
                }
                tick.advance(Duration::minutes(31));
                if req.uri().path() == "/late-write" {
                    session.insert("n", "late").await.unwrap();
                }
                Ok::<_, Infallible>(Response::new(String::new()))
            }
        }),
    ));
    let app = app_with(layer, &store);
    (Fixture { app, store, clock }, slow)
}

/// A session whose idle deadline passes while a request is in flight is neither extended by
/// the touch a read triggers nor revived by a write: both read the clock afresh when settling
/// (only the decision whether a touch is due may use the reading taken at load).
#[tokio::test]
async fn a_session_that_idles_out_during_a_request_is_not_extended() {
    let (f, slow) = slow_fixture();
    let (seed, store, clock) = (&f.app, &f.store, &f.clock);
    for path in ["/read", "/write"] {
        let cookie = pair(&send(seed, "/set/n/1", None).await.set_cookie.unwrap());
        let id = id_of(&cookie, true);
        // Past the touch interval: a read is due to touch.
        clock.advance(Duration::seconds(61));
        let reply = send(&slow, path, Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let set_cookie = reply
            .set_cookie
            .expect("the browser is told the session is gone");
        assert!(set_cookie.contains("Max-Age=0"), "{path}: {set_cookie}");
        assert!(store.load(&id).await.unwrap().is_none(), "{path}");
        assert!(
            send(seed, "/get/n", Some(&cookie)).await.body == "None",
            "{path}: anonymous afterwards"
        );
    }
}

/// A request whose cookie names a dead session, and which creates one only after taking a
/// while: the new session's deadlines count from its creation, not from the cookie's lookup.
#[tokio::test]
async fn a_session_created_late_in_a_request_counts_from_its_creation() {
    let (f, slow) = slow_fixture();
    let stale = pair(&send(&f.app, "/set/n/1", None).await.set_cookie.unwrap());
    f.clock.advance(Duration::minutes(31));
    let created = send(&slow, "/late-write", Some(&stale)).await;
    let cookie = pair(&created.set_cookie.expect("a new session"));
    let record = f.store.load(&id_of(&cookie, true)).await.unwrap().unwrap();
    assert_eq!(record.created_at, f.clock.now());
    assert_eq!(record.expires_at, f.clock.now() + Duration::minutes(30));
    assert_eq!(
        send(&f.app, "/get/n", Some(&cookie)).await.body,
        "Some(\"late\")"
    );
}

/// A concurrent save of another key is no conflict for a request that removes a key, or
/// clears the data and writes again: the merge compares with what the request loaded.
#[tokio::test]
async fn removing_or_clearing_during_a_race_conflicts_with_nothing() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/k/0", None).await.set_cookie.unwrap());
    let id = id_of(&cookie, true);
    let removed = send(&f.app, "/race-remove/k", Some(&cookie)).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert!(removed.conflict.is_none(), "{:?}", removed.conflict);
    let stored = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.data.get("k"), None);
    assert_eq!(stored.data.get("other").unwrap(), "theirs");

    let cleared = send(&f.app, "/race-clear/k", Some(&cookie)).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert!(cleared.conflict.is_none(), "{:?}", cleared.conflict);
    let stored = f.store.load(&id).await.unwrap().unwrap();
    assert_eq!(stored.data.get("k").unwrap(), "mine");
    assert_eq!(stored.data.get("other"), None, "cleared");
}

/// "Remember me" for ever: the deadlines stay within what a record can hold, in the store
/// and in the cookie.
#[tokio::test]
async fn an_unbounded_expiry_is_clamped_not_lost() {
    let f = fixture();
    let cookie = pair(&send(&f.app, "/set/n/1", None).await.set_cookie.unwrap());
    let remembered = send(&f.app, "/remember/forever", Some(&cookie)).await;
    assert_eq!(remembered.status, StatusCode::OK);
    let set_cookie = remembered.set_cookie.unwrap();
    assert!(set_cookie.contains("Max-Age="), "{set_cookie}");
    let id = id_of(&pair(&set_cookie), true);
    let record = f.store.load(&id).await.unwrap().unwrap();
    let last = time::PrimitiveDateTime::MAX
        .assume_utc()
        .replace_nanosecond(0)
        .unwrap();
    assert_eq!(record.absolute_expires_at, Some(last));
    assert_eq!(record.expires_at, last);
    // A touch keeps it there.
    f.clock.advance(Duration::minutes(5));
    assert_eq!(
        send(&f.app, "/get/n", Some(&pair(&set_cookie)))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(f.store.load(&id).await.unwrap().unwrap().expires_at, last);
}
