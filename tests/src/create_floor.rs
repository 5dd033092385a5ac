//! A floor under the create-session benchmark: a session layer stripped down to what creating
//! a session cannot do without, to show how much of a create's cost is left to optimise.
//!
//! [`CreateFloorLayer`] does, per request: a shared handle in the request's extensions (as
//! [`floor::HandleLayer`](crate::floor::HandleLayer) does), the handler's one insert into it
//! (a key `String` and a `serde_json::Value` in a `Vec`), and, after the inner service, when
//! the handler wrote something: a 128-bit ID from a per-thread ChaCha20 generator, the data
//! behind an `Arc` in a mutex-guarded `HashMap` (no sharding, no bound, a hash that is the
//! ID's first eight bytes), and the three response headers a session layer must write
//! (`Set-Cookie` with the ID in base64url and fixed attributes, `Cache-Control: no-store`,
//! `Vary: Cookie`).
//!
//! [`CreateFloorLayer::signed`] also signs the ID, with auth-cookie's
//! [`CookieKeys::seal_signed`] (the session layer's own signing), for the signed rows.
//!
//! It leaves out much of what the issue requires of a real store and layer: expiry (no clock
//! reading, no deadlines, no expiry queue), versions, an eviction bound, configuration, the
//! lazy load and the error paths (and, unless asked, signing). Benchmarks run it as `floor`
//! and `floor-signed` rows in the create scenario, beside `ours` and the peer, in the same
//! run. Like [`floor`](crate::floor), it is a reference point, not a proof of a lower bound:
//! the ratio it reaches is what the cheapest create we know how to write costs against the
//! peer in that harness. Its store is never emptied, so it only serves as a floor where the
//! run creates fewer sessions than `ours` keeps (the paired bench: about 10^5 per row);
//! criterion's create rows create millions, and there its store, like tower-sessions', grows
//! past the million `ours` stops at.
//!
//! ```
//! use auth_tests::create_floor::{CreateFloorLayer, FloorSession};
//! use axum::{Extension, Router, routing::get};
//! use http::{Request, header};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let layer = CreateFloorLayer::default();
//! let app: Router = Router::new()
//!     .route("/", get(|Extension(session): Extension<FloorSession>| async move {
//!         session.insert("n", 1_u64.into());
//!         "ok"
//!     }))
//!     .layer(layer.clone());
//! let res = app.oneshot(Request::new(axum::body::Body::empty())).await.unwrap();
//! assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().starts_with("id="));
//! assert_eq!(layer.len(), 1);
//! # }
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use auth_cookie::CookieKeys;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderValue, Request, Response};
use pin_project_lite::pin_project;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use serde_json::Value;
use tower::{Layer, Service};

/// The attributes after `id=<ID>` in the floor's `Set-Cookie`.
const ATTRIBUTES: &[u8] = b"; HttpOnly; Secure; SameSite=Lax; Path=/";

thread_local! {
    /// Fixed seed: the floor is a cost reference, its IDs guard nothing.
    static RNG: RefCell<ChaCha20Rng> = RefCell::new(ChaCha20Rng::from_seed([7; 32]));
}

/// The data a [`FloorSession`] collected in one request.
type Data = Vec<(String, Value)>;

/// The floor's store: every session created, never removed.
type Store = Mutex<HashMap<[u8; 16], Arc<Data>, BuildHasherDefault<FirstBytes>>>;

/// Hashes a random 16-byte ID as its first eight bytes (XOR the length prefix a slice's
/// `Hash` writes first).
#[derive(Default)]
struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut first = [0u8; 8];
        for (to, from) in first.iter_mut().zip(bytes) {
            *to = *from;
        }
        self.0 ^= u64::from_le_bytes(first);
    }
}

/// The handle the handler writes to (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct FloorSession(Arc<Mutex<Data>>);

impl FloorSession {
    /// Sets `key` to `value` (a repeated key is stored twice: the floor does not look).
    pub fn insert(&self, key: &str, value: Value) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((key.to_owned(), value));
    }
}

/// The layer (see the module docs). Clones share one store.
#[derive(Debug, Clone, Default)]
pub struct CreateFloorLayer {
    store: Arc<Store>,
    keys: Option<Arc<CookieKeys>>,
}

impl CreateFloorLayer {
    /// The floor with its cookie signed by `keys`.
    pub fn signed(keys: CookieKeys) -> Self {
        Self {
            store: Arc::default(),
            keys: Some(Arc::new(keys)),
        }
    }

    /// How many sessions the store holds.
    pub fn len(&self) -> usize {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether the store holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<S> Layer<S> for CreateFloorLayer {
    type Service = CreateFloorService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CreateFloorService {
            inner,
            store: self.store.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// The service built by [`CreateFloorLayer`].
#[derive(Debug, Clone)]
pub struct CreateFloorService<S> {
    inner: S,
    store: Arc<Store>,
    keys: Option<Arc<CookieKeys>>,
}

impl<S, B, R> Service<Request<B>> for CreateFloorService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = CreateFloorFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let session = FloorSession::default();
        req.extensions_mut().insert(session.clone());
        CreateFloorFuture {
            future: self.inner.call(req),
            session,
            store: self.store.clone(),
            keys: self.keys.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`CreateFloorService`]: stores what the handler wrote and sets
    /// the cookie.
    #[derive(Debug)]
    pub struct CreateFloorFuture<F> {
        #[pin]
        future: F,
        session: FloorSession,
        store: Arc<Store>,
        keys: Option<Arc<CookieKeys>>,
    }
}

impl<F, R, E> Future for CreateFloorFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = Result<Response<R>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.future.poll(cx))?;
        let data = std::mem::take(
            &mut *this
                .session
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if data.is_empty() {
            return Poll::Ready(Ok(res));
        }
        let mut id = [0u8; 16];
        RNG.with(|rng| rng.borrow_mut().fill_bytes(&mut id));
        this.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, Arc::new(data));
        let mut text = [0u8; 22];
        let text = match URL_SAFE_NO_PAD.encode_slice(id, &mut text) {
            Ok(_) => std::str::from_utf8(&text).unwrap_or_default(),
            Err(_) => "",
        };
        let sealed = this.keys.as_ref().map(|keys| keys.seal_signed("id", text));
        let value = sealed.as_deref().unwrap_or(text);
        let mut line = Vec::with_capacity(3 + value.len() + ATTRIBUTES.len());
        line.extend_from_slice(b"id=");
        line.extend_from_slice(value.as_bytes());
        line.extend_from_slice(ATTRIBUTES);
        let headers = res.headers_mut();
        if let Ok(cookie) = HeaderValue::from_maybe_shared(bytes::Bytes::from(line)) {
            headers.append(SET_COOKIE, cookie);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.append(VARY, HeaderValue::from_static("Cookie"));
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use axum::{Extension, Router};
    use tower::ServiceExt as _;

    /// `/write` inserts one key, `/` leaves the session alone.
    fn app(layer: &CreateFloorLayer) -> Router {
        Router::new()
            .route(
                "/write",
                get(|Extension(s): Extension<FloorSession>| async move {
                    s.insert("n", 1_u64.into());
                    "ok"
                }),
            )
            .route("/", get(|| async { "ok" }))
            .layer(layer.clone())
    }

    #[tokio::test]
    async fn a_write_creates_a_session_and_an_untouched_request_nothing() {
        let layer = CreateFloorLayer::default();
        let app = app(&layer);
        let get_uri = |uri: &'static str| {
            let app = app.clone();
            async move {
                app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
                    .await
                    .unwrap()
            }
        };
        let untouched = get_uri("/").await;
        assert!(untouched.headers().get(SET_COOKIE).is_none());
        assert!(layer.is_empty());
        let mut cookies = Vec::new();
        for _ in 0..3 {
            let res = get_uri("/write").await;
            let cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_owned();
            assert_eq!(
                cookie.len(),
                "id=".len() + 22 + ATTRIBUTES.len(),
                "{cookie}"
            );
            assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
            assert_eq!(res.headers()[VARY], "Cookie");
            cookies.push(cookie);
        }
        cookies.sort();
        cookies.dedup();
        assert_eq!(cookies.len(), 3, "fresh IDs");
        assert_eq!(layer.len(), 3);
    }

    #[tokio::test]
    async fn the_signed_floor_writes_a_cookie_the_keys_open() {
        let keys = CookieKeys::new(auth_core::KeyRing::new(
            auth_core::KeyId::new("k").unwrap(),
            auth_core::SecretKey::from_bytes(&[3; 32]).unwrap(),
        ));
        let layer = CreateFloorLayer::signed(keys.clone());
        let res = app(&layer)
            .oneshot(Request::get("/write").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let cookie = res.headers()[SET_COOKIE].to_str().unwrap();
        let value = cookie
            .strip_prefix("id=")
            .and_then(|rest| rest.split(';').next())
            .unwrap();
        let (id, current) = keys.open_signed("id", value).unwrap();
        assert_eq!(id.len(), 22);
        assert!(current);
        assert!(keys.open_signed("other", value).is_none());
        assert_eq!(layer.len(), 1);
    }
}
