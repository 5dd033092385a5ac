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
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::System;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_cookie::CookieKeys;
use auth_core::{CreateOutcome, SaveOutcome, SessionId, SessionRecord, SessionStore, StoreResult};
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

/// Allocations of one request of each kind, after a warm-up round (pools filled, maps grown).
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
        let mut counts = Vec::new();
        for round in 0..3 {
            let created = app
                .ready()
                .await
                .unwrap()
                .call(Request::get("/create").body(()).unwrap())
                .await
                .unwrap();
            let cookie = cookie_of(&created);
            for kind in KINDS {
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
                if round == 2 {
                    counts.push(allocations as u64);
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

#[async_trait]
impl<S: SessionStore> SessionStore for Recorder<S> {
    async fn load(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        self.note("load");
        self.inner.load(id).await
    }
    async fn create(&self, record: &SessionRecord) -> StoreResult<CreateOutcome> {
        self.note("create");
        self.inner.create(record).await
    }
    async fn save(&self, record: &SessionRecord) -> StoreResult<SaveOutcome> {
        self.note("save");
        self.inner.save(record).await
    }
    async fn touch(&self, id: &SessionId, expires_at: OffsetDateTime) -> StoreResult<bool> {
        self.note("touch");
        self.inner.touch(id, expires_at).await
    }
    async fn delete(&self, id: &SessionId) -> StoreResult<()> {
        self.note("delete");
        self.inner.delete(id).await
    }
    async fn cycle(&self, old: &SessionId, new: &SessionRecord) -> StoreResult<CreateOutcome> {
        self.note("cycle");
        self.inner.cycle(old, new).await
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
