//! `RedisStore` (and `CachingStore` over it) against the real Redis server of
//! `AUTH_TEST_REDIS_URL`: the conformance kit,
//! the HTTP scenarios, two app instances on one Redis, and a connection cut mid-traffic.
//!
//! Every test uses its own random key prefix and deletes its keys at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{CreateOutcome, ManualClock, SaveOutcome, SessionId, SessionRecord, SessionStore};
use auth_session::redis::aio::ConnectionManager;
use auth_session::testkit::{self, RealTimeHarness};
use auth_session::{CachingStore, MemoryStore, RedisStore};
use auth_tests::sessions::{AppOptions, Cleaned, Client, app, principals, send};
use http::StatusCode;
use time::OffsetDateTime;

fn random_prefix() -> String {
    format!("auth-test-{}", SessionId::generate().unwrap().encode())
}

/// Deletes every key of `prefix` (blocking; called from `Drop` and at the end of tests).
fn delete_keys(url: &str, prefix: &str) {
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

/// Deletes the keys of `prefix` when dropped, also when the test panics.
struct DeleteKeys {
    url: String,
    prefix: String,
}

impl Drop for DeleteKeys {
    fn drop(&mut self) {
        delete_keys(&self.url, &self.prefix);
    }
}

async fn count_keys(url: &str, prefix: &str) -> usize {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{{{prefix}:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    keys.len()
}

async fn store_at(url: &str, prefix: &str) -> RedisStore {
    RedisStore::connect(url).await.unwrap().with_prefix(prefix)
}

async fn scenario_store(test: &str) -> Option<Arc<dyn SessionStore>> {
    let url = auth_tests::redis_url(test)?;
    let inner = store_at(&url, &random_prefix()).await;
    let prefix = inner.prefix().to_owned();
    Some(Arc::new(Cleaned::new(inner, move || {
        // A thread of its own: the blocking client must not run on a runtime worker.
        let _ = std::thread::spawn(move || delete_keys(&url, &prefix)).join();
    })))
}

/// The HTTP session scenarios against this store, each on a fresh isolated store (64
/// concurrent writers included: conflicting saves back off and retry).
mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(scenario_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_keeps_the_contract() {
    let Some(url) = auth_tests::redis_url("redis_store_keeps_the_contract") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let store = store_at(&url, &prefix).await;
    let harness = RealTimeHarness::new(|| {
        let store = store.clone();
        async move { store }
    });
    testkit::run(&harness).await;
    delete_keys(&url, &prefix);
    assert_eq!(count_keys(&url, &prefix).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_carry_a_native_ttl_and_one_hash_tagged_key() {
    let Some(url) = auth_tests::redis_url("records_carry_a_native_ttl_and_one_hash_tagged_key")
    else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let store = store_at(&url, &prefix).await;
    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(10),
    )
    .with_value("k", serde_json::json!("secret-value"));
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{{{prefix}:{}}}", record.id.encode());
    let ttl: i64 = redis::cmd("TTL")
        .arg(&key)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((595..=601).contains(&ttl), "TTL {ttl}");
    let data: Vec<u8> = redis::cmd("HGET")
        .arg(&key)
        .arg("d")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&data).contains(&record.id.encode()),
        "the stored data repeats the ID"
    );
    assert_eq!(count_keys(&url, &prefix).await, 1);
    store.delete(&record.id).await.unwrap();
    assert_eq!(count_keys(&url, &prefix).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_login_cycle_and_logout() {
    let Some(url) = auth_tests::redis_url("two_instances_on_one_redis") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    // Two stores with connections of their own: two application instances.
    let a: Arc<dyn SessionStore> = Arc::new(store_at(&url, &prefix).await);
    let b: Arc<dyn SessionStore> = Arc::new(store_at(&url, &prefix).await);
    two_instances(a, b).await;
}

/// The two-instance scenario: `a` and `b` are two stores on one backend.
async fn two_instances(a: Arc<dyn SessionStore>, b: Arc<dyn SessionStore>) {
    let options = AppOptions::new();
    let (app_a, app_b) = (app(a, &options), app(b, &options));
    let mut on_a = Client::new(app_a);
    assert_eq!(
        on_a.send("POST", "/login/alice").await.status,
        StatusCode::OK
    );
    assert_eq!(on_a.send("POST", "/set/k/v").await.status, StatusCode::OK);

    // A login on A is seen on B, with its data.
    let mut on_b = on_a.on(app_b.clone());
    let me = on_b.send("GET", "/me").await;
    assert_eq!((me.status, me.body.as_str()), (StatusCode::OK, "alice"));
    assert_eq!(on_b.send("GET", "/get/k").await.body, "v");
    // A write on B is seen on A.
    assert_eq!(on_b.send("POST", "/set/k2/w").await.status, StatusCode::OK);
    assert_eq!(on_a.send("GET", "/get/k2").await.body, "w");

    // A cycle on A invalidates the old ID on B.
    let old = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/cycle").await.status, StatusCode::OK);
    assert_ne!(on_a.cookie.as_deref(), Some(old.as_str()));
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&old)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut on_b = on_a.on(app_b.clone());
    assert_eq!(on_b.send("GET", "/get/k").await.body, "v");

    // A logout on A ends the session on B.
    let current = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/logout").await.status, StatusCode::OK);
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&current)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(on_b.send("GET", "/get/k").await.body, "none");
}

/// The ID of the server-side client of `connection` (changes after a reconnect).
async fn client_id(connection: &mut ConnectionManager) -> redis::RedisResult<i64> {
    redis::cmd("CLIENT").arg("ID").query_async(connection).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_gives_503_loses_nothing_and_recovers() {
    let Some(url) = auth_tests::redis_url("a_cut_connection_gives_503") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut manager = ConnectionManager::new(client.clone()).await.unwrap();
    let store = RedisStore::new(manager.clone()).with_prefix(prefix.as_str());
    let app = app(Arc::new(store), &AppOptions::new());
    let mut user = Client::new(app.clone());
    assert_eq!(user.send("POST", "/login/bob").await.status, StatusCode::OK);
    assert_eq!(user.send("POST", "/set/k/v").await.status, StatusCode::OK);
    let cookie = user.cookie.clone().unwrap();

    // The killer: a connection of its own, cutting only the store's connection (other tests
    // share the server).
    let mut killer = client.get_multiplexed_async_connection().await.unwrap();
    let mut acknowledged = Vec::new();
    let mut statuses = Vec::new();
    let mut cuts = 0;
    for i in 0..60 {
        if i % 20 == 10 {
            let id = client_id(&mut manager).await.unwrap();
            let killed: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("ID")
                .arg(id)
                .query_async(&mut killer)
                .await
                .unwrap();
            assert_eq!(killed, 1);
            cuts += 1;
        }
        // Reads and writes interleaved, with concurrent reads in flight.
        let path = format!("/set/n{i}/x{i}");
        let (write, read) = tokio::join!(
            send(&app, "POST", &path, Some(&cookie)),
            send(&app, "GET", "/get/k", Some(&cookie)),
        );
        for reply in [&write, &read] {
            assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::SERVICE_UNAVAILABLE,
                "request {i}: {} {:?} (never anonymous, never a panic)",
                reply.status,
                reply.body
            );
        }
        if read.status == StatusCode::OK {
            assert_eq!(read.body, "v", "request {i} read another value");
        }
        if write.status == StatusCode::OK {
            acknowledged.push(i);
        }
        statuses.push((write.status, read.status));
    }
    assert_eq!(cuts, 3);
    let unavailable = statuses
        .iter()
        .flat_map(|(w, r)| [w, r])
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    // Traffic recovered by itself: the last requests, long after the last cut, succeeded.
    assert!(
        statuses[51..]
            .iter()
            .all(|(w, r)| *w == StatusCode::OK && *r == StatusCode::OK),
        "no recovery: {statuses:?}"
    );
    assert!(
        unavailable > 0,
        "a cut connection should fail the requests in flight: {statuses:?}"
    );

    // Nothing acknowledged was lost, and the login survived the cuts.
    assert_eq!(
        send(&app, "GET", "/admin", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, "GET", "/get/k", Some(&cookie)).await.body, "v");
    for i in &acknowledged {
        assert_eq!(
            send(&app, "GET", &format!("/get/n{i}"), Some(&cookie))
                .await
                .body,
            format!("x{i}"),
            "acknowledged write {i} lost"
        );
    }
    eprintln!(
        "redis fault test: {} of {} requests answered 503 around {cuts} cuts",
        unavailable,
        statuses.len() * 2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_ids_keep_the_contract_and_stay_out_of_the_keyspace() {
    let Some(url) = auth_tests::redis_url("hashed_ids_keep_the_contract") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let store = store_at(&url, &prefix).await.with_hashed_ids(&[42; 32]);
    let harness = RealTimeHarness::new(|| {
        let store = store.clone();
        async move { store }
    });
    testkit::run(&harness).await;

    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(10),
    );
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(store.key_pattern())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(
            !key.contains(&record.id.encode()),
            "an ID reached the keyspace"
        );
        if !key.contains(":user:") {
            assert_eq!(key.len(), prefix.len() + 64 + 3, "{key}");
        }
    }
    // Another key cannot find the session.
    let other = store_at(&url, &prefix).await.with_hashed_ids(&[43; 32]);
    assert!(other.load(&record.id).await.unwrap().is_none());
    assert!(store.load(&record.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_store_over_redis_keeps_the_contract() {
    let Some(url) = auth_tests::redis_url("caching_store_over_redis_keeps_the_contract") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let shared = store_at(&url, &prefix).await;
    let store = CachingStore::new(MemoryStore::new(), shared);
    let harness = RealTimeHarness::new(|| {
        let store = store.clone();
        async move { store }
    });
    testkit::run(&harness).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_caching_stores_a_delete_on_a_is_seen_on_b_within_the_bound() {
    let Some(url) = auth_tests::redis_url("with_caching_stores_a_delete_on_a") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let bound = time::Duration::milliseconds(300);
    let a: Arc<dyn SessionStore> = Arc::new(
        CachingStore::new(MemoryStore::new(), store_at(&url, &prefix).await)
            .with_max_staleness(bound),
    );
    let b: Arc<dyn SessionStore> = Arc::new(
        CachingStore::new(MemoryStore::new(), store_at(&url, &prefix).await)
            .with_max_staleness(bound),
    );
    let options = AppOptions::new();
    let (app_a, app_b) = (app(a, &options), app(b, &options));
    let mut on_a = Client::new(app_a.clone());
    assert_eq!(
        on_a.send("POST", "/login/alice").await.status,
        StatusCode::OK
    );
    let cookie = on_a.cookie.clone().unwrap();
    // B reads (and caches) the session.
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(on_a.send("POST", "/logout").await.status, StatusCode::OK);
    // Within the bound B may still serve its copy, but a write there cannot bring the
    // session back.
    let write = send(&app_b, "POST", "/set/k/v", Some(&cookie)).await;
    assert!(
        write.status == StatusCode::OK || write.status == StatusCode::UNAUTHORIZED,
        "{}",
        write.status
    );
    tokio::time::sleep(std::time::Duration::try_from(bound).unwrap()).await;
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&cookie)).await.status,
        StatusCode::UNAUTHORIZED,
        "B still serves a deleted session past the staleness bound"
    );
    assert_eq!(
        send(&app_a, "GET", "/get/k", Some(&cookie)).await.body,
        "none",
        "the write on B resurrected the session"
    );
    assert_eq!(count_keys(&url, &prefix).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_lists_and_revokes_a_subjects_sessions() {
    let Some(url) = auth_tests::redis_url("the_per_user_index") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let store = store_at(&url, &prefix).await;
    let now = OffsetDateTime::now_utc();
    let mut alice = Vec::new();
    for subject in ["alice", "alice", "alice", "bob"] {
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + time::Duration::hours(1),
        )
        .with_subject(subject);
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        if subject == "alice" {
            alice.push(record);
        }
    }
    let mut listed: Vec<_> = store
        .sessions_of(None, "alice", None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    listed.sort();
    let mut want: Vec<_> = alice.iter().map(|r| r.id).collect();
    want.sort();
    assert_eq!(listed, want);

    // The index follows saves (a subject change), cycles and deletes.
    let moved = alice[1].clone().with_subject("carol");
    assert_eq!(
        store.save(&moved).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    assert_eq!(
        store.sessions_of(None, "alice", None).await.unwrap().len(),
        2
    );
    assert_eq!(
        store.sessions_of(None, "carol", None).await.unwrap().len(),
        1
    );
    let mut cycled = alice[2].clone();
    cycled.id = SessionId::generate().unwrap();
    assert_eq!(
        store.cycle(&alice[2].id, &cycled).await.unwrap(),
        CreateOutcome::Created
    );
    let ids: Vec<_> = store
        .sessions_of(None, "alice", None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert!(ids.contains(&cycled.id) && !ids.contains(&alice[2].id));
    store.delete(&moved.id).await.unwrap();
    assert!(
        store
            .sessions_of(None, "carol", None)
            .await
            .unwrap()
            .is_empty()
    );

    // "Log out everywhere else", then everywhere.
    assert_eq!(
        store
            .delete_sessions_of(None, "alice", Some(&alice[0].id))
            .await
            .unwrap(),
        1
    );
    assert!(store.load(&alice[0].id).await.unwrap().is_some());
    assert!(store.load(&cycled.id).await.unwrap().is_none());
    assert_eq!(
        store.delete_sessions_of(None, "alice", None).await.unwrap(),
        1
    );
    assert!(
        store
            .sessions_of(None, "alice", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.sessions_of(None, "bob", None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_forgets_expired_sessions() {
    let Some(url) = auth_tests::redis_url("the_per_user_index_forgets_expired") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let store = store_at(&url, &prefix).await.with_hashed_ids(&[9; 32]);
    let now = OffsetDateTime::now_utc();
    let short = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::seconds(1),
    )
    .with_subject("dave");
    assert_eq!(store.create(&short).await.unwrap(), CreateOutcome::Created);
    let listed = store.sessions_of(None, "dave", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].id,
        SessionId::from_bytes([0; 16]),
        "hashed: no ID"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(
        store
            .sessions_of(None, "dave", None)
            .await
            .unwrap()
            .is_empty()
    );
    // The index key itself expires with the subject's last session.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count_keys(&url, &prefix).await, 0);
}

/// The store sizes a subject's index by its own clock (the sessions expire by Redis's): moved
/// past a session's expiry, the clock gives that session's index the shortest TTL, so the
/// index is gone (the session no longer listed) while the session itself still loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_lives_by_the_stores_clock() {
    let Some(url) = auth_tests::redis_url("the_per_user_index_lives_by_the_stores_clock") else {
        return;
    };
    let prefix = random_prefix();
    let _cleanup = DeleteKeys {
        url: url.clone(),
        prefix: prefix.clone(),
    };
    let now = OffsetDateTime::now_utc();
    let clock = ManualClock::new(now);
    let store = store_at(&url, &prefix)
        .await
        .with_clock(Arc::new(clock.clone()));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let session = |subject: &str| {
        SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + time::Duration::hours(1),
        )
        .with_subject(subject)
    };

    // By the store's clock the session has an hour left: so has its index.
    let alice = session("alice");
    assert_eq!(store.create(&alice).await.unwrap(), CreateOutcome::Created);
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{{{prefix}:user:alice}}"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((3590..=3600).contains(&ttl), "TTL {ttl}");

    // Two hours later by the store's clock, a session with the same expiry is already over:
    // its index gets the shortest TTL, though Redis keeps the session for its hour.
    clock.advance(time::Duration::hours(2));
    let bob = session("bob");
    assert_eq!(store.create(&bob).await.unwrap(), CreateOutcome::Created);
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("{{{prefix}:user:bob}}"))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!((0..=1).contains(&ttl), "TTL {ttl}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(
        store
            .sessions_of(None, "bob", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.load(&bob.id).await.unwrap().is_some());
    assert_eq!(
        store.sessions_of(None, "alice", None).await.unwrap().len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_keeps_principals_of_different_issuers_apart() {
    let Some(url) = auth_tests::redis_url("the_per_user_index_keeps_principals_apart") else {
        return;
    };
    for hashed in [false, true] {
        let prefix = random_prefix();
        let _cleanup = DeleteKeys {
            url: url.clone(),
            prefix: prefix.clone(),
        };
        let mut store = store_at(&url, &prefix).await;
        if hashed {
            store = store.with_hashed_ids(&[7; 32]);
        }
        principals::principals_stay_apart(&store, hashed).await;
        // Every session was revoked, and left its subject's index: no key is left behind.
        assert_eq!(count_keys(&url, &prefix).await, 0);
    }
}
