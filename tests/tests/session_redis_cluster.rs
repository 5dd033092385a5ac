//! `RedisStore` on the Redis Cluster of `AUTH_TEST_REDIS_CLUSTER_URL` (one node's URL, or a
//! comma-separated list; `.ci/redis-cluster.sh` starts a 3-primary cluster on
//! 127.0.0.1:7000-7002): the conformance kit (plain and hashed IDs, and under `CachingStore`),
//! the HTTP scenarios, two app instances, the per-user index, where the keys land (one slot per
//! session, sessions over every primary), connections cut mid-traffic, and (replaying the
//! store's scripts) retried creates and saves and an instance whose clock runs ahead.
//!
//! The store's cluster scripts carry a `#!lua` line, so the server refuses any script touching
//! a key outside its declared key's slot: every script the conformance kit and the scenarios
//! run is proven single-slot.
//!
//! Every test uses its own random key prefix and deletes its keys at the end, scanning every
//! primary (`SCAN` is per node) and deleting key by key (a multi-key `DEL` must stay within one
//! slot).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use auth_core::{CreateOutcome, ManualClock, SaveOutcome, SessionId, SessionRecord, SessionStore};
// The re-export: the `redis` that `RedisStore` is built on, with its cluster support.
use auth_session::redis::{self, cluster::ClusterClientBuilder};
use auth_session::testkit::{self, RealTimeHarness};
use auth_session::{CachingStore, MemoryStore, RedisStore};
use auth_tests::sessions::{AppOptions, Cleaned, Client, app, principals, send};
use http::StatusCode;
use time::OffsetDateTime;

fn random_prefix() -> String {
    format!("auth-test-{}", SessionId::generate().unwrap().encode())
}

/// The cluster's primaries as `redis://host:port`, from `CLUSTER NODES` of the first node that
/// answers.
fn primaries(nodes: &[String]) -> Vec<String> {
    let primaries = nodes
        .iter()
        .find_map(|node| primaries_known_to(node))
        .expect("no cluster node answers");
    assert!(!primaries.is_empty(), "no primary in CLUSTER NODES");
    primaries
}

/// The primaries `node` knows of, or `None` when it does not answer.
fn primaries_known_to(node: &str) -> Option<Vec<String>> {
    let client = redis::Client::open(node).ok()?;
    let seed_host = match client.get_connection_info().addr() {
        redis::ConnectionAddr::Tcp(host, _) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let mut connection = client.get_connection().ok()?;
    let text: String = redis::cmd("CLUSTER")
        .arg("NODES")
        .query(&mut connection)
        .ok()?;
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (address, flags) = (fields.get(1)?, fields.get(2)?);
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            // `host:port@cport[,hostname]`; the host is empty when a node does not know its
            // own address.
            let (host, port) = address.split('@').next()?.rsplit_once(':')?;
            let host = if host.is_empty() { &seed_host } else { host };
            Some(format!("redis://{host}:{port}"))
        })
        .collect();
    found.sort();
    Some(found)
}

/// The key of `subject`'s index on a cluster: a sorted set, named apart from a standalone
/// store's index set `{<prefix>:user:<subject>}`.
fn index_key(prefix: &str, subject: &str) -> String {
    format!("{{{prefix}:user:{subject}}}:z")
}

/// A plain (non-cluster) connection to one node.
fn node_connection(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// The keys of `prefix` on each primary, by a `SCAN` of every primary.
fn keys_by_primary(nodes: &[String], prefix: &str) -> BTreeMap<String, Vec<String>> {
    let pattern = format!("{{{prefix}:*");
    primaries(nodes)
        .into_iter()
        .map(|primary| {
            let mut connection = node_connection(&primary);
            let mut keys = Vec::new();
            let mut cursor = 0_u64;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut connection)
                    .unwrap();
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            (primary, keys)
        })
        .collect()
}

/// Deletes every key of `prefix` on every primary (blocking; from `Drop` and test ends).
fn delete_keys(nodes: &[String], prefix: &str) {
    for (primary, keys) in keys_by_primary(nodes, prefix) {
        let mut connection = node_connection(&primary);
        for key in keys {
            // One key per `DEL`, on the node that holds it: no redirect, no cross-slot error.
            let _: i64 = redis::cmd("DEL").arg(key).query(&mut connection).unwrap();
        }
    }
}

fn count_keys(nodes: &[String], prefix: &str) -> usize {
    keys_by_primary(nodes, prefix).values().map(Vec::len).sum()
}

/// Deletes the keys of `prefix` when dropped, also when the test panics.
struct DeleteKeys {
    nodes: Vec<String>,
    prefix: String,
}

impl Drop for DeleteKeys {
    fn drop(&mut self) {
        delete_keys(&self.nodes, &self.prefix);
    }
}

/// A fresh key prefix for one test, and the guard that deletes its keys on every primary.
fn isolated(nodes: &[String]) -> (String, DeleteKeys) {
    let prefix = random_prefix();
    let cleanup = DeleteKeys {
        nodes: nodes.to_vec(),
        prefix: prefix.clone(),
    };
    (prefix, cleanup)
}

async fn store_on(nodes: &[String], prefix: &str) -> RedisStore {
    let store = RedisStore::connect_cluster(nodes.iter().map(String::as_str))
        .await
        .unwrap()
        .with_prefix(prefix);
    assert!(store.is_cluster());
    store
}

/// A cluster-aware async connection of the test's own.
async fn cluster_connection(nodes: &[String]) -> redis::cluster_async::ClusterConnection {
    ClusterClientBuilder::new(nodes.iter().map(String::as_str))
        .build()
        .unwrap()
        .get_async_connection()
        .await
        .unwrap()
}

async fn scenario_store(test: &str) -> Option<Arc<dyn SessionStore>> {
    let nodes = auth_tests::redis_cluster_url(test)?;
    let inner = store_on(&nodes, &random_prefix()).await;
    let prefix = inner.prefix().to_owned();
    Some(Arc::new(Cleaned::new(inner, move || {
        // A thread of its own: the blocking client must not run on a runtime worker.
        let _ = std::thread::spawn(move || delete_keys(&nodes, &prefix)).join();
    })))
}

/// The HTTP session scenarios against the store on the cluster, each on a fresh isolated store
/// (64 concurrent writers included: conflicting saves back off and retry).
mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(scenario_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_store_keeps_the_contract() {
    let Some(nodes) = auth_tests::redis_cluster_url("cluster_store_keeps_the_contract") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let harness = RealTimeHarness::new(|| {
        let store = store.clone();
        async move { store }
    });
    testkit::run(&harness).await;
    delete_keys(&nodes, &prefix);
    assert_eq!(count_keys(&nodes, &prefix), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_ids_on_a_cluster_keep_the_contract_and_stay_out_of_the_keyspace() {
    let Some(nodes) = auth_tests::redis_cluster_url("hashed_ids_on_a_cluster") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await.with_hashed_ids(&[42; 32]);
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
    )
    .with_subject("erin");
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let keys: Vec<String> = keys_by_primary(&nodes, &prefix)
        .into_values()
        .flatten()
        .collect();
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
    let listed = store.sessions_of(None, "erin", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].id,
        SessionId::from_bytes([0; 16]),
        "hashed: no ID"
    );
    // Another key cannot find the session.
    let other = store_on(&nodes, &prefix).await.with_hashed_ids(&[43; 32]);
    assert!(other.load(&record.id).await.unwrap().is_none());
    assert!(store.load(&record.id).await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caching_store_over_a_cluster_keeps_the_contract() {
    let Some(nodes) = auth_tests::redis_cluster_url("caching_store_over_a_cluster") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = CachingStore::new(MemoryStore::new(), store_on(&nodes, &prefix).await);
    let harness = RealTimeHarness::new(|| {
        let store = store.clone();
        async move { store }
    });
    testkit::run(&harness).await;
}

/// `CLUSTER KEYSLOT key` (asked of any node).
fn keyslot(connection: &mut redis::Connection, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(connection)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_key_is_in_one_slot_and_sessions_spread_over_every_primary() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_sessions_key_is_in_one_slot") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let now = OffsetDateTime::now_utc();
    let mut ids = Vec::new();
    for i in 0..48 {
        let subject = if i % 2 == 0 { "alice" } else { "bob" };
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + time::Duration::minutes(10),
        )
        .with_subject(subject)
        .with_value("n", serde_json::json!(i));
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        ids.push(record.id);
    }

    let primaries = primaries(&nodes);
    let by_primary = keys_by_primary(&nodes, &prefix);
    let holder: BTreeMap<&str, &str> = by_primary
        .iter()
        .flat_map(|(primary, keys)| keys.iter().map(|key| (key.as_str(), primary.as_str())))
        .collect();
    // Every session key and the two indexes, each on exactly one primary.
    assert_eq!(holder.len(), ids.len() + 2, "{by_primary:?}");
    assert_eq!(
        by_primary.values().map(Vec::len).sum::<usize>(),
        holder.len(),
        "a key on two primaries"
    );

    let mut any = node_connection(&primaries[0]);
    let mut slots = BTreeSet::new();
    let mut session_primaries = BTreeSet::new();
    for id in &ids {
        // The session's one key is hash-tagged: its slot is its tag's.
        let key = format!("{{{prefix}:{}}}", id.encode());
        let slot = keyslot(&mut any, &key);
        assert_eq!(
            slot,
            keyslot(&mut any, &format!("{prefix}:{}", id.encode()))
        );
        slots.insert(slot);
        // It sits on the primary serving that slot: there, and only there, it is local.
        let primary = holder.get(key.as_str()).expect("session key not found");
        session_primaries.insert(*primary);
        for other in &primaries {
            let exists: redis::RedisResult<i64> = redis::cmd("EXISTS")
                .arg(&key)
                .query(&mut node_connection(other));
            if other == primary {
                assert_eq!(exists.unwrap(), 1);
            } else {
                assert!(exists.is_err(), "{key} answered by {other} too (no MOVED)");
            }
        }
    }
    // Each subject's index is one key in the subject's slot.
    for subject in ["alice", "bob"] {
        let index = index_key(&prefix, subject);
        assert!(holder.contains_key(index.as_str()), "{index} missing");
        assert_eq!(
            keyslot(&mut any, &index),
            keyslot(&mut any, &format!("{prefix}:user:{subject}"))
        );
    }
    // 48 random IDs: many slots, every primary.
    assert!(
        slots.len() > 40,
        "sessions crowd into {} slots",
        slots.len()
    );
    assert_eq!(
        session_primaries.len(),
        primaries.len(),
        "sessions on {session_primaries:?} of {primaries:?}"
    );

    // Listing reads across the primaries; revocation too.
    assert_eq!(
        store.sessions_of(None, "alice", None).await.unwrap().len(),
        24
    );
    assert_eq!(
        store.delete_sessions_of(None, "bob", None).await.unwrap(),
        24
    );
    assert!(
        store
            .sessions_of(None, "bob", None)
            .await
            .unwrap()
            .is_empty()
    );
    for id in ids.iter().skip(1).step_by(2) {
        assert!(store.load(id).await.unwrap().is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_cluster_share_login_cycle_and_logout() {
    let Some(nodes) = auth_tests::redis_cluster_url("two_instances_on_one_cluster") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    // Two stores with connections of their own: two application instances.
    let a: Arc<dyn SessionStore> = Arc::new(store_on(&nodes, &prefix).await);
    let b: Arc<dyn SessionStore> = Arc::new(store_on(&nodes, &prefix).await);
    let options = AppOptions::new();
    let (app_a, app_b) = (app(a, &options), app(b, &options));
    let mut on_a = Client::new(app_a);
    assert_eq!(
        on_a.send("POST", "/login/alice").await.status,
        StatusCode::OK
    );
    assert_eq!(on_a.send("POST", "/set/k/v").await.status, StatusCode::OK);

    // A login on A is seen on B, with its data; a write on B is seen on A.
    let mut on_b = on_a.on(app_b.clone());
    let me = on_b.send("GET", "/me").await;
    assert_eq!((me.status, me.body.as_str()), (StatusCode::OK, "alice"));
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
    assert_eq!(on_a.on(app_b.clone()).send("GET", "/get/k").await.body, "v");

    // A logout on A ends the session on B.
    let current = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/logout").await.status, StatusCode::OK);
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&current)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_lists_and_revokes_a_subjects_sessions_on_a_cluster() {
    let Some(nodes) = auth_tests::redis_cluster_url("the_per_user_index_on_a_cluster") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
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

    // "Log out everywhere else", then everywhere. The moved session left alice's index only
    // in name: it is not revoked as hers (it was carol's, and is gone anyway).
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

    // A session moved to another subject is not revoked with its old one.
    let dave = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::hours(1),
    )
    .with_subject("dave");
    assert_eq!(store.create(&dave).await.unwrap(), CreateOutcome::Created);
    let to_erin = dave.clone().with_subject("erin");
    assert_eq!(
        store.save(&to_erin).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    assert_eq!(
        store.delete_sessions_of(None, "dave", None).await.unwrap(),
        0
    );
    assert!(store.load(&dave.id).await.unwrap().is_some());
    assert_eq!(
        store.delete_sessions_of(None, "erin", None).await.unwrap(),
        1
    );
    assert!(store.load(&dave.id).await.unwrap().is_none());
}

/// The index entry's score (its horizon) and the session's `i` field.
async fn horizons(
    connection: &mut redis::cluster_async::ClusterConnection,
    prefix: &str,
    subject: &str,
    id: &SessionId,
) -> (i64, i64) {
    let member = id.encode();
    let score: f64 = redis::cmd("ZSCORE")
        .arg(index_key(prefix, subject))
        .arg(&member)
        .query_async(connection)
        .await
        .unwrap();
    let field: i64 = redis::cmd("HGET")
        .arg(format!("{{{prefix}:{member}}}"))
        .arg("i")
        .query_async(connection)
        .await
        .unwrap();
    (score as i64, field)
}

/// The store computes its sessions' index horizons by its own clock (the sessions expire by
/// Redis's, and entries are pruned by the servers' clocks): without an absolute deadline a
/// horizon is the expiry plus as much again as is left, at least the headroom, so a clock
/// moved past the expiry leaves only the headroom.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_horizon_follows_the_stores_clock() {
    let Some(nodes) = auth_tests::redis_cluster_url("the_index_horizon_follows_the_stores_clock")
    else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let now = OffsetDateTime::now_utc();
    let clock = ManualClock::new(now);
    let store = store_on(&nodes, &prefix)
        .await
        .with_clock(Arc::new(clock.clone()));
    let mut control = cluster_connection(&nodes).await;
    let expires = now + time::Duration::days(2);
    let session =
        || SessionRecord::new(SessionId::generate().unwrap(), now, expires).with_subject("frank");

    // Two days left by the store's clock: the horizon is two days past the expiry.
    let early = session();
    assert_eq!(store.create(&early).await.unwrap(), CreateOutcome::Created);
    let (score, field) = horizons(&mut control, &prefix, "frank", &early.id).await;
    assert_eq!(score, field);
    assert_eq!(score, expires.unix_timestamp() + 2 * 86_400);

    // Past the expiry by the store's clock: the headroom only. Redis keeps the session.
    clock.advance(time::Duration::days(3));
    let late = session();
    assert_eq!(store.create(&late).await.unwrap(), CreateOutcome::Created);
    let (score, _) = horizons(&mut control, &prefix, "frank", &late.id).await;
    assert_eq!(score, expires.unix_timestamp() + 3600);
    assert!(store.load(&late.id).await.unwrap().is_some());
    assert_eq!(
        store.sessions_of(None, "frank", None).await.unwrap().len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_entry_outlives_its_session_as_the_expiry_slides() {
    let Some(nodes) = auth_tests::redis_cluster_url("the_index_entry_outlives_its_session") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let index = index_key(&prefix, "frank");
    let now = OffsetDateTime::now_utc();

    // No absolute deadline: the horizon is the expiry plus headroom.
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(10),
    )
    .with_subject("frank");
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let (score, field) = horizons(&mut control, &prefix, "frank", &record.id).await;
    assert_eq!(score, field);
    assert!(score >= record.expires_at.unix_timestamp() + 3600);

    // A touch past the horizon raises it (index first), and the session stays listed.
    let later = now + time::Duration::hours(5);
    assert!(store.touch(&record.id, later).await.unwrap());
    let (score, field) = horizons(&mut control, &prefix, "frank", &record.id).await;
    assert_eq!(score, field);
    assert!(score >= later.unix_timestamp(), "{score} < {later}");
    let ttl: i64 = redis::cmd("TTL")
        .arg(&index)
        .query_async(&mut control)
        .await
        .unwrap();
    assert!(ttl >= (later - now).whole_seconds(), "index TTL {ttl}");

    // So does a save past it.
    let loaded = store.load(&record.id).await.unwrap().unwrap();
    let much_later = now + time::Duration::days(3);
    let saved = loaded.clone().with_expires_at(much_later);
    assert_eq!(
        store.save(&saved).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    let (score, field) = horizons(&mut control, &prefix, "frank", &record.id).await;
    assert_eq!(score, field);
    assert!(score >= much_later.unix_timestamp());
    let listed = store.sessions_of(None, "frank", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].expires_at,
        much_later.replace_nanosecond(0).unwrap()
    );

    // With an absolute deadline the horizon is the deadline: touches and saves within it leave
    // the index alone.
    let deadline = now + time::Duration::hours(12);
    let mut bounded = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(30),
    )
    .with_subject("frank");
    bounded.absolute_expires_at = Some(deadline);
    assert_eq!(
        store.create(&bounded).await.unwrap(),
        CreateOutcome::Created
    );
    let first = horizons(&mut control, &prefix, "frank", &bounded.id).await;
    assert_eq!(
        first,
        (deadline.unix_timestamp(), deadline.unix_timestamp())
    );
    assert!(
        store
            .touch(&bounded.id, now + time::Duration::hours(11))
            .await
            .unwrap()
    );
    assert_eq!(
        horizons(&mut control, &prefix, "frank", &bounded.id).await,
        first
    );
    assert_eq!(
        store.sessions_of(None, "frank", None).await.unwrap().len(),
        2
    );
}

/// Makes an ACL user on every primary (ACLs are per node), and removes it (with its
/// connections) when dropped.
struct AclUser {
    primaries: Vec<String>,
    name: String,
    password: String,
}

impl AclUser {
    fn create(primaries: Vec<String>) -> Self {
        let name = random_prefix();
        let password = SessionId::generate().unwrap().encode();
        for primary in &primaries {
            let _: () = redis::cmd("ACL")
                .arg("SETUSER")
                .arg(&name)
                .arg("on")
                .arg(format!(">{password}"))
                .arg("~*")
                .arg("&*")
                .arg("+@all")
                .query(&mut node_connection(primary))
                .unwrap();
        }
        Self {
            primaries,
            name,
            password,
        }
    }

    /// Cuts every connection of the user, on every primary; returns how many.
    async fn cut(&self) -> i64 {
        let mut killed = 0;
        for primary in &self.primaries {
            let client = redis::Client::open(primary.as_str()).unwrap();
            let mut connection = client.get_multiplexed_async_connection().await.unwrap();
            let n: i64 = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("USER")
                .arg(&self.name)
                .query_async(&mut connection)
                .await
                .unwrap();
            killed += n;
        }
        killed
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        for primary in &self.primaries {
            let _: redis::RedisResult<i64> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut node_connection(primary));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connections_reconnect_by_themselves_and_lose_nothing() {
    let Some(nodes) = auth_tests::redis_cluster_url("cut_connections_reconnect") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    // The store connects as a user of its own, so that only its connections are cut (other
    // tests share the cluster).
    let user = AclUser::create(primaries(&nodes));
    let connection = ClusterClientBuilder::new(nodes.iter().map(String::as_str))
        .username(&user.name)
        .password(&user.password)
        .build()
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    let store = RedisStore::new_cluster(connection).with_prefix(prefix.as_str());
    let app = app(Arc::new(store), &AppOptions::new());
    let mut bob = Client::new(app.clone());
    assert_eq!(bob.send("POST", "/login/bob").await.status, StatusCode::OK);
    assert_eq!(bob.send("POST", "/set/k/v").await.status, StatusCode::OK);
    let cookie = bob.cookie.clone().unwrap();

    let mut acknowledged = Vec::new();
    let mut unavailable = 0;
    let mut cut = 0;
    for i in 0..45 {
        if i % 15 == 5 {
            cut += user.cut().await;
        }
        // Reads and writes interleaved, with concurrent reads in flight.
        let path = format!("/set/n{i}/x{i}");
        let (write, read) = tokio::join!(
            send(&app, "POST", &path, Some(&cookie)),
            send(&app, "GET", "/get/k", Some(&cookie)),
        );
        for reply in [&write, &read] {
            unavailable += usize::from(reply.status == StatusCode::SERVICE_UNAVAILABLE);
            // The cluster connection retries after reconnecting: a 503 is allowed, never a
            // wrong answer.
            assert!(
                reply.status == StatusCode::OK || reply.status == StatusCode::SERVICE_UNAVAILABLE,
                "request {i}: {} {:?}",
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
    }
    assert!(cut > 0, "no connection of the store was cut");
    // Traffic goes on: the login survived, and nothing acknowledged was lost.
    assert_eq!(
        send(&app, "GET", "/admin", Some(&cookie)).await.status,
        StatusCode::OK
    );
    assert_eq!(send(&app, "GET", "/get/k", Some(&cookie)).await.body, "v");
    assert!(!acknowledged.is_empty());
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
        "redis cluster fault test: {unavailable} of 90 requests answered 503 around {cut} cut \
         connections"
    );
}

// Regression tests of the cluster index, retried writes and clocks. Some replay one of the
// store's scripts as the cluster connection does when it retries a request whose connection
// dropped (same key, arguments and token: the first execution happened, its reply was lost),
// or as another application instance sends it; the script text is the store's own.

/// The store's cluster scripts' files (`scripts/cluster/<name>.lua`), for their exact text.
const SCRIPTS: [(&str, &str); 4] = [
    (
        "index",
        include_str!("../../crates/auth-session/src/stores/redis/scripts/cluster/index.lua"),
    ),
    (
        "create",
        include_str!("../../crates/auth-session/src/stores/redis/scripts/cluster/create.lua"),
    ),
    (
        "save",
        include_str!("../../crates/auth-session/src/stores/redis/scripts/cluster/save.lua"),
    ),
    (
        "touch",
        include_str!("../../crates/auth-session/src/stores/redis/scripts/cluster/touch.lua"),
    ),
];

/// The store's cluster script `scripts/cluster/<name>.lua`, after the `#!lua` line the store
/// gives it (so it is the very script the store runs, under the same SHA).
fn cluster_script(name: &str) -> redis::Script {
    let (_, body) = SCRIPTS
        .iter()
        .find(|(file, _)| *file == name)
        .expect("script not found");
    redis::Script::new(&format!("#!lua\n{body}"))
}

/// The key of the session whose member (encoded ID) is `member`.
fn session_key(prefix: &str, member: &str) -> String {
    format!("{{{prefix}:{member}}}")
}

/// The record as the store keeps it in the field `d`: JSON, with a zero ID.
fn stored_data(record: &SessionRecord) -> Vec<u8> {
    let mut stored = record.clone();
    stored.id = SessionId::from_bytes([0; 16]);
    serde_json::to_vec(&stored).unwrap()
}

async fn hget(
    connection: &mut redis::cluster_async::ClusterConnection,
    key: &str,
    field: &str,
) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(connection)
        .await
        .unwrap()
}

/// The token of the newest write recorded in a session's `n` field (a list of
/// `<version>:<token>`, newest first).
async fn newest_token(
    connection: &mut redis::cluster_async::ClusterConnection,
    key: &str,
) -> String {
    let tokens = hget(connection, key, "n").await.expect("no token");
    let newest = tokens.split(' ').next().unwrap();
    newest.rsplit(':').next().unwrap().to_owned()
}

/// The members of `subject`'s index, sorted.
async fn index_members(
    connection: &mut redis::cluster_async::ClusterConnection,
    prefix: &str,
    subject: &str,
) -> Vec<String> {
    let mut members: Vec<String> = redis::cmd("ZRANGE")
        .arg(index_key(prefix, subject))
        .arg(0)
        .arg(-1)
        .query_async(connection)
        .await
        .unwrap();
    members.sort();
    members
}

/// Adds `member` to `subject`'s index with `horizon`, as an instance does before creating a
/// session (its clock only enters the horizon: the script prunes by the server's clock).
async fn raise_index(
    connection: &mut redis::cluster_async::ClusterConnection,
    prefix: &str,
    subject: &str,
    member: &str,
    horizon: i64,
) {
    let _: i64 = cluster_script("index")
        .key(index_key(prefix, subject))
        .arg(member)
        .arg(horizon)
        .arg(300)
        .invoke_async(connection)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_cycled_and_revoked_sessions_leave_the_subjects_index() {
    let Some(nodes) = auth_tests::redis_cluster_url("sessions_leave_the_index") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let now = OffsetDateTime::now_utc();
    let remember_me = || {
        SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + time::Duration::days(30),
        )
        .with_subject("mallory")
        .with_absolute_expiry(now + time::Duration::days(90))
    };

    // "Remember me" logins, each logged out: nothing piles up until the 90-day horizons.
    for _ in 0..20 {
        let record = remember_me();
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        store.delete(&record.id).await.unwrap();
    }
    assert_eq!(
        index_members(&mut control, &prefix, "mallory").await,
        Vec::<String>::new()
    );

    // A cycle's old ID leaves the index; its new one is in it.
    let old = remember_me();
    assert_eq!(store.create(&old).await.unwrap(), CreateOutcome::Created);
    let mut new = old.clone();
    new.id = SessionId::generate().unwrap();
    assert_eq!(
        store.cycle(&old.id, &new).await.unwrap(),
        CreateOutcome::Created
    );
    assert_eq!(
        index_members(&mut control, &prefix, "mallory").await,
        [new.id.encode()]
    );

    // Revoked sessions leave it too; the kept one stays.
    for _ in 0..3 {
        assert_eq!(
            store.create(&remember_me()).await.unwrap(),
            CreateOutcome::Created
        );
    }
    assert_eq!(
        store
            .delete_sessions_of(None, "mallory", Some(&new.id))
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        index_members(&mut control, &prefix, "mallory").await,
        [new.id.encode()]
    );
    assert_eq!(
        store
            .delete_sessions_of(None, "mallory", None)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        index_members(&mut control, &prefix, "mallory").await,
        Vec::<String>::new()
    );

    // An entry whose session is not written yet (a create between its index step and its
    // session script) is pruned neither by a listing nor by a revocation.
    let pending = SessionId::generate().unwrap().encode();
    raise_index(
        &mut control,
        &prefix,
        "mallory",
        &pending,
        (now + time::Duration::hours(1)).unix_timestamp(),
    )
    .await;
    assert!(
        store
            .sessions_of(None, "mallory", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .delete_sessions_of(None, "mallory", None)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        index_members(&mut control, &prefix, "mallory").await,
        [pending]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_save_is_saved_although_other_saves_followed_it() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_retried_save_is_saved") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(30),
    );
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let key = session_key(&prefix, &record.id.encode());

    // Request X saves version 1 as 2; its reply is lost.
    let x = store
        .load(&record.id)
        .await
        .unwrap()
        .unwrap()
        .with_value("a", serde_json::json!(1));
    assert_eq!(
        store.save(&x).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    let token_x = newest_token(&mut control, &key).await;
    // Other requests save versions 3 to 5 meanwhile.
    for i in 0..3_u64 {
        let other = store
            .load(&record.id)
            .await
            .unwrap()
            .unwrap()
            .with_value(format!("b{i}"), serde_json::json!(i));
        assert_eq!(
            store.save(&other).await.unwrap(),
            SaveOutcome::Saved { version: 3 + i }
        );
    }
    // X's script again (the cluster connection's retry), or another save claiming X's token.
    let save = |expected: u64, token: String| {
        let (script, key, data) = (cluster_script("save"), key.clone(), stored_data(&x));
        let expires_at = x.expires_at.unix_timestamp();
        let mut connection = control.clone();
        async move {
            script
                .key(&key)
                .arg(expected)
                .arg(expected + 1)
                .arg(expires_at)
                .arg(data)
                .arg("")
                .arg("")
                .arg(token)
                .invoke_async::<i64>(&mut connection)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        save(1, token_x.clone()).await,
        1,
        "X's write happened: a retry must report it saved, not a conflict"
    );
    // A token only counts for the write it made: X's token does not make a save of version 2
    // (which another request made 3) succeed, nor does an unknown token.
    assert_eq!(save(2, token_x.clone()).await, 0);
    assert_eq!(save(1, "0123456789abcdef01234567".to_owned()).await, 0);
    let stored = store.load(&record.id).await.unwrap().unwrap();
    assert_eq!(stored.version, 5, "a retry wrote again");
    assert_eq!(stored.data.get("a"), Some(&serde_json::json!(1)));
    assert_eq!(stored.data.get("b2"), Some(&serde_json::json!(2)));
    // A session remembers its last 4 writes: after a fourth other save, X's retry is told
    // `Conflict` (the safe answer: the caller reloads and finds its changes there).
    assert_eq!(
        store.save(&stored).await.unwrap(),
        SaveOutcome::Saved { version: 6 }
    );
    assert_eq!(save(1, token_x).await, 0);

    // A retried create recognises its write after a save too (not `IdTaken`).
    let created = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(30),
    );
    assert_eq!(
        store.create(&created).await.unwrap(),
        CreateOutcome::Created
    );
    let created_key = session_key(&prefix, &created.id.encode());
    let token = newest_token(&mut control, &created_key).await;
    let saved = store
        .load(&created.id)
        .await
        .unwrap()
        .unwrap()
        .with_value("c", serde_json::json!(1));
    assert_eq!(
        store.save(&saved).await.unwrap(),
        SaveOutcome::Saved { version: 2 }
    );
    let retried: i64 = cluster_script("create")
        .key(&created_key)
        .arg(created.version)
        .arg(created.expires_at.unix_timestamp())
        .arg(stored_data(&created))
        .arg("")
        .arg(0)
        .arg(&token)
        .invoke_async(&mut control)
        .await
        .unwrap();
    assert_eq!(retried, 1, "a retried create reported IdTaken after a save");
    assert_eq!(
        store.load(&created.id).await.unwrap().unwrap(),
        saved.with_version(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_create_does_not_bring_back_a_deleted_session() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_retried_create_does_not_bring_back") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let now = OffsetDateTime::now_utc();
    let login = || {
        SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + time::Duration::minutes(30),
        )
        .with_subject("alice")
    };
    // A login's create ran, its reply was lost; the session ends before the retry.
    for how in ["logout", "revocation", "cycle"] {
        let record = login();
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        let key = session_key(&prefix, &record.id.encode());
        let token = newest_token(&mut control, &key).await;
        let horizon = hget(&mut control, &key, "i").await.unwrap();
        match how {
            "logout" => store.delete(&record.id).await.unwrap(),
            "revocation" => {
                assert_eq!(
                    store.delete_sessions_of(None, "alice", None).await.unwrap(),
                    1
                );
            }
            _ => {
                let mut new = record.clone();
                new.id = SessionId::generate().unwrap();
                assert_eq!(
                    store.cycle(&record.id, &new).await.unwrap(),
                    CreateOutcome::Created
                );
                store.delete(&new.id).await.unwrap();
            }
        }
        let retried: i64 = cluster_script("create")
            .key(&key)
            .arg(record.version)
            .arg(record.expires_at.unix_timestamp())
            .arg(stored_data(&record))
            .arg("alice")
            .arg(&horizon)
            .arg(&token)
            .invoke_async(&mut control)
            .await
            .unwrap();
        // The create did happen (then the session ended): `Created`, and nothing written.
        assert_eq!(retried, 1, "{how}");
        assert!(
            store.load(&record.id).await.unwrap().is_none(),
            "{how}: the retried create brought the session back"
        );
        assert!(
            store
                .sessions_of(None, "alice", None)
                .await
                .unwrap()
                .is_empty(),
            "{how}"
        );
    }

    // A deleted ID stays taken for a while (another create is `IdTaken`); a save or touch of it
    // still finds nothing.
    let record = login();
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    store.delete(&record.id).await.unwrap();
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::IdTaken);
    assert!(
        !store
            .touch(&record.id, now + time::Duration::hours(1))
            .await
            .unwrap()
    );
    assert_eq!(store.save(&record).await.unwrap(), SaveOutcome::NotFound);
    assert!(store.load(&record.id).await.unwrap().is_none());
    store.delete(&record.id).await.unwrap();
    assert!(
        store
            .sessions_of(None, "alice", None)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_clock_running_ahead_prunes_no_live_session_from_the_index() {
    let Some(nodes) = auth_tests::redis_cluster_url("an_instance_clock_running_ahead") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let now = OffsetDateTime::now_utc();
    // A session in the last two minutes of its absolute lifetime.
    let end = now + time::Duration::minutes(2);
    let victim = SessionRecord::new(
        SessionId::generate().unwrap(),
        now - time::Duration::hours(12),
        end,
    )
    .with_subject("carol")
    .with_absolute_expiry(end);
    assert_eq!(store.create(&victim).await.unwrap(), CreateOutcome::Created);

    // Another instance, its clock 10 minutes ahead, logs carol in elsewhere.
    let ahead = now.unix_timestamp() + 600;
    let elsewhere = SessionId::generate().unwrap().encode();
    raise_index(&mut control, &prefix, "carol", &elsewhere, ahead + 3600).await;
    // "Log out everywhere" still finds the live session.
    assert_eq!(
        store.delete_sessions_of(None, "carol", None).await.unwrap(),
        1,
        "the live session's entry was pruned"
    );
    assert!(store.load(&victim.id).await.unwrap().is_none());
    // The index lives until its highest horizon plus the skew allowance, by the servers'
    // clocks.
    let index_expiry: i64 = redis::cmd("EXPIRETIME")
        .arg(index_key(&prefix, "carol"))
        .query_async(&mut control)
        .await
        .unwrap();
    assert_eq!(index_expiry, ahead + 3600 + 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_touch_told_to_raise_the_index_first_writes_nothing() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_touch_told_to_raise_the_index") else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(10),
    )
    .with_subject("gina");
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let key = session_key(&prefix, &record.id.encode());
    let (_, horizon) = horizons(&mut control, &prefix, "gina", &record.id).await;

    // A touch far past the horizon, its index entry raised only part of the way.
    let far = horizon + 86_400;
    let (outcome, subject): (i64, String) = cluster_script("touch")
        .key(&key)
        .arg(far)
        .arg("gina")
        .arg(horizon + 3600)
        .invoke_async(&mut control)
        .await
        .unwrap();
    assert_eq!((outcome, subject.as_str()), (-2, "gina"));
    assert_eq!(
        hget(&mut control, &key, "i").await,
        Some(horizon.to_string())
    );
    assert_eq!(
        hget(&mut control, &key, "e").await,
        Some(record.expires_at.unix_timestamp().to_string())
    );
    // The store's own touch raises the index, then the session.
    let later = now + time::Duration::days(1);
    assert!(store.touch(&record.id, later).await.unwrap());
    let (score, field) = horizons(&mut control, &prefix, "gina", &record.id).await;
    assert_eq!(score, field);
    assert!(field >= later.unix_timestamp());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_index_of_the_same_subject_does_not_break_the_cluster_index() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_standalone_index_of_the_same_subject")
    else {
        return;
    };
    let (prefix, _cleanup) = isolated(&nodes);
    let store = store_on(&nodes, &prefix).await;
    let mut control = cluster_connection(&nodes).await;
    // The set a standalone `RedisStore` keeps as hank's index, e.g. from before a migration.
    let standalone_index = format!("{{{prefix}:user:hank}}");
    let _: i64 = redis::cmd("SADD")
        .arg(&standalone_index)
        .arg("left-over")
        .query_async(&mut control)
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + time::Duration::minutes(10),
    )
    .with_subject("hank");
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    assert_eq!(
        store.sessions_of(None, "hank", None).await.unwrap().len(),
        1
    );
    assert_eq!(
        store.delete_sessions_of(None, "hank", None).await.unwrap(),
        1
    );
    let left: Vec<String> = redis::cmd("SMEMBERS")
        .arg(&standalone_index)
        .query_async(&mut control)
        .await
        .unwrap();
    assert_eq!(left, ["left-over"]);
}

/// A brace in the prefix would end (or confuse) the keys' hash tag, crowding every session
/// into one slot: a debug assertion refuses it on a cluster.
#[cfg(debug_assertions)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brace_in_the_prefix_is_refused_on_a_cluster() {
    let Some(nodes) = auth_tests::redis_cluster_url("a_brace_in_the_prefix") else {
        return;
    };
    let store = RedisStore::connect_cluster(nodes.iter().map(String::as_str))
        .await
        .unwrap();
    for prefix in ["app}", "a{b", "{app}"] {
        let store = store.clone();
        let refused =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.with_prefix(prefix)));
        assert!(refused.is_err(), "prefix {prefix:?} accepted");
    }
    assert_eq!(store.with_prefix("app-1.x").prefix(), "app-1.x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_keeps_principals_of_different_issuers_apart_on_a_cluster() {
    let Some(nodes) = auth_tests::redis_cluster_url("the_per_user_index_keeps_principals_apart")
    else {
        return;
    };
    for hashed in [false, true] {
        let (prefix, _cleanup) = isolated(&nodes);
        let mut store = store_on(&nodes, &prefix).await;
        if hashed {
            store = store.with_hashed_ids(&[7; 32]);
        }
        principals::principals_stay_apart(&store, hashed).await;
        // The revoked sessions left bob's index; only tombstones and alice's index remain
        // until they expire.
        let index: Vec<String> = redis::cmd("ZRANGE")
            .arg(index_key(&prefix, "bob"))
            .arg(0)
            .arg(-1)
            .query_async(&mut cluster_connection(&nodes).await)
            .await
            .unwrap();
        assert!(
            index.is_empty(),
            "revoked sessions still indexed: {index:?}"
        );
    }
}
