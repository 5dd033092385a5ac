//! The layer runs one algorithm over the `SessionStore` trait, whatever the store's type: a
//! `MemoryStore`, the same store behind an `Arc` or a `Box<dyn SessionStore>`, or a
//! `CachingStore` over it (issue #18). Before, the layer picked a faster, separate path when the
//! store *was* a `MemoryStore`, so `Arc<MemoryStore>` silently took the other one.
//!
//! Two checks, each run as one test in its own binary (a counting global allocator sees
//! every allocation of the process, so nothing may run beside it):
//!
//! - the allocations a request makes are the same for `MemoryStore`, `Arc<MemoryStore>` and
//!   `Box<dyn SessionStore>`, request kind by request kind (create, read, modify, untouched);
//! - a store that records the calls the layer makes sees the same calls, in the same order,
//!   whether it wraps a `MemoryStore` or a `CachingStore<MemoryStore, MemoryStore>`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::alloc::System;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use auth_cookie::CookieKeys;
use auth_core::{CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreFuture};
use auth_session::{CachingStore, MemoryStore, Session, SessionLayer};
use http::{Request, Response, header};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use time::OffsetDateTime;
use tower::{Service, ServiceBuilder, ServiceExt};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The request kinds, each answered by the same handler.
const KINDS: [&str; 4] = ["/create", "/read", "/modify", "/untouched"];

async fn handler(req: Request<()>) -> Result<Response<()>, Infallible> {
    let session = Session::from_request(&req).expect("behind the layer");
    match req.uri().path() {
        "/create" | "/modify" => session.insert("n", &1_u32).await.unwrap(),
        "/read" => {
            let _: Option<u32> = session.get("n").await.unwrap();
        }
        _ => {}
    }
    Ok(Response::new(()))
}

/// The `Cookie` header value of a response's `Set-Cookie`.
fn cookie_of(res: &Response<()>) -> String {
    let set = res.headers()[header::SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Allocations of one request of each kind: the fewest over 20 rounds after a warm-up (a
/// store map or expiry queue growing, or the ID generator reseeding, adds a few now and then;
/// the path itself allocates the same every time).
fn allocations_per_kind(store: impl SessionStore) -> Vec<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let layer = SessionLayer::new(store, CookieKeys::generate().unwrap());
        let mut app = ServiceBuilder::new()
            .layer(layer)
            .service_fn(handler)
            .boxed_clone();
        let mut counts = vec![u64::MAX; KINDS.len()];
        for round in 0..30 {
            let created = app
                .ready()
                .await
                .unwrap()
                .call(Request::get("/create").body(()).unwrap())
                .await
                .unwrap();
            let cookie = cookie_of(&created);
            for (k, kind) in KINDS.into_iter().enumerate() {
                let req = || {
                    let mut req = Request::get(kind);
                    if kind != "/create" && kind != "/untouched" {
                        req = req.header(header::COOKIE, &cookie);
                    }
                    req.body(()).unwrap()
                };
                let request = req();
                let service = app.ready().await.unwrap();
                let region = Region::new(GLOBAL);
                let res = service.call(request).await.unwrap();
                let allocations = region.change().allocations;
                drop(res);
                if round >= 10 {
                    counts[k] = counts[k].min(allocations as u64);
                }
            }
        }
        counts
    })
}

/// Records the names of the trait methods the layer calls, then forwards them.
#[derive(Debug)]
struct Recorder<S> {
    inner: S,
    calls: Arc<Mutex<Vec<&'static str>>>,
}

impl<S> Recorder<S> {
    fn note(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }
}

impl<S: SessionStore> SessionStore for Recorder<S> {
    fn load<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, Option<SessionRecord>> {
        StoreFuture::pending(async move {
            self.note("load");
            self.inner.load(id).await
        })
    }
    fn create<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            self.note("create");
            self.inner.create(record).await
        })
    }
    fn save<'a>(&'a self, record: &'a SessionRecord) -> StoreFuture<'a, SaveOutcome> {
        StoreFuture::pending(async move {
            self.note("save");
            self.inner.save(record).await
        })
    }
    fn touch<'a>(&'a self, id: &'a SessionId, expires_at: OffsetDateTime) -> StoreFuture<'a, bool> {
        StoreFuture::pending(async move {
            self.note("touch");
            self.inner.touch(id, expires_at).await
        })
    }
    fn delete<'a>(&'a self, id: &'a SessionId) -> StoreFuture<'a, ()> {
        StoreFuture::pending(async move {
            self.note("delete");
            self.inner.delete(id).await
        })
    }
    fn cycle<'a>(
        &'a self,
        old: &'a SessionId,
        new: &'a SessionRecord,
    ) -> StoreFuture<'a, CreateOutcome> {
        StoreFuture::pending(async move {
            self.note("cycle");
            self.inner.cycle(old, new).await
        })
    }
}

fn calls_made(store: impl SessionStore) -> Vec<&'static str> {
    let calls = Arc::new(Mutex::new(Vec::new()));
    let recorder = Recorder {
        inner: store,
        calls: Arc::clone(&calls),
    };
    let _ = allocations_per_kind(recorder);
    calls.lock().unwrap().clone()
}

#[test]
fn every_store_type_takes_the_same_path() {
    let direct = allocations_per_kind(MemoryStore::new());
    let shared = allocations_per_kind(Arc::new(MemoryStore::new()));
    let boxed: Box<dyn SessionStore> = Box::new(MemoryStore::new());
    let boxed = allocations_per_kind(Arc::<dyn SessionStore>::from(boxed));
    println!("allocations per request ({KINDS:?}): {direct:?}");
    assert_eq!(direct, shared, "Arc<MemoryStore> vs MemoryStore");
    assert_eq!(direct, boxed, "Box<dyn SessionStore> vs MemoryStore");

    // The layer makes the same calls, in the same order, over a CachingStore.
    let plain = calls_made(MemoryStore::new());
    let cached = calls_made(CachingStore::new(MemoryStore::new(), MemoryStore::new()));
    assert!(!plain.is_empty());
    assert_eq!(plain, cached);
}
