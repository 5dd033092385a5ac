//! `SqliteStore` on a temporary database file: the conformance kit, the HTTP scenarios, two
//! app instances on one file, the per-user index and a restart that keeps the sessions.
//!
//! No server is needed, so these tests always run. Each uses a file of its own in a fresh
//! temporary directory, removed at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::sync::Arc;

use auth_core::{Clock, CreateOutcome, ManualClock, SessionId, SessionRecord, SessionStore};
use auth_session::testkit::{self, ClockHarness};
use auth_session::{SqliteStore, sqlx};
use auth_tests::sessions::{AppOptions, Cleaned, Client, app, principals, send};
use http::StatusCode;
use time::{Duration, OffsetDateTime};

/// A fresh temporary directory, removed when dropped.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        let name = format!(
            "auth-session-sqlite-{}",
            SessionId::generate().unwrap().encode()
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn file(&self) -> PathBuf {
        self.0.join("sessions.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn store_in(dir: &TempDir) -> SqliteStore {
    let store = SqliteStore::open(dir.file()).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn scenario_store() -> Option<Arc<dyn SessionStore>> {
    let dir = TempDir::new();
    let inner = store_in(&dir).await;
    Some(Arc::new(Cleaned::new(inner, move || drop(dir))))
}

/// The HTTP session scenarios against this store, each on a fresh isolated store (64
/// concurrent writers included: conflicting saves back off and retry).
mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(|_| scenario_store());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_store_keeps_the_contract() {
    let dir = TempDir::new();
    let store = store_in(&dir).await;
    let harness = ClockHarness::new(move |clock| store.clone().with_clock(clock));
    testkit::run(&harness).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_expired_rows_are_cleaned_up() {
    let dir = TempDir::new();
    let clock = ManualClock::default();
    let now = clock.now();
    let live = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + Duration::hours(1),
    )
    .with_value("k", serde_json::json!("v"))
    .with_subject("alice");
    {
        let store = store_in(&dir).await.with_clock(Arc::new(clock.clone()));
        assert_eq!(store.create(&live).await.unwrap(), CreateOutcome::Created);
        for _ in 0..3 {
            let short = SessionRecord::new(
                SessionId::generate().unwrap(),
                now,
                now + Duration::seconds(1),
            );
            assert_eq!(store.create(&short).await.unwrap(), CreateOutcome::Created);
        }
        store.pool().close().await;
    }
    // A new process opening the same file.
    let store = store_in(&dir).await.with_clock(Arc::new(clock.clone()));
    assert_eq!(store.load(&live.id).await.unwrap(), Some(live.clone()));
    clock.advance(Duration::seconds(2));
    assert_eq!(store.cleanup_expired().await.unwrap(), 3);
    assert_eq!(store.load(&live.id).await.unwrap(), Some(live));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_lists_and_revokes_a_subjects_sessions() {
    let dir = TempDir::new();
    let store = store_in(&dir).await;
    let now = OffsetDateTime::now_utc();
    let mut alice = Vec::new();
    for subject in ["alice", "alice", "alice", "bob"] {
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::hours(1),
        )
        .with_subject(subject);
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
        if subject == "alice" {
            alice.push(record.id);
        }
    }
    let listed = store.sessions_of(None, "alice", None).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| alice.contains(&r.id)));
    assert_eq!(
        store
            .delete_sessions_of(None, "alice", Some(&alice[0]))
            .await
            .unwrap(),
        2
    );
    assert!(store.load(&alice[0]).await.unwrap().is_some());
    assert!(store.load(&alice[2]).await.unwrap().is_none());
    assert_eq!(
        store.delete_sessions_of(None, "alice", None).await.unwrap(),
        1
    );
    assert_eq!(store.sessions_of(None, "bob", None).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_file_share_login_cycle_and_logout() {
    let dir = TempDir::new();
    let a: Arc<dyn SessionStore> = Arc::new(store_in(&dir).await);
    let b: Arc<dyn SessionStore> = Arc::new(store_in(&dir).await);
    let options = AppOptions::new();
    let (app_a, app_b) = (app(a, &options), app(b, &options));
    let mut on_a = Client::new(app_a);
    assert_eq!(
        on_a.send("POST", "/login/alice").await.status,
        StatusCode::OK
    );
    assert_eq!(on_a.send("POST", "/set/k/v").await.status, StatusCode::OK);
    let mut on_b = on_a.on(app_b.clone());
    assert_eq!(on_b.send("GET", "/me").await.body, "alice");
    assert_eq!(on_b.send("GET", "/get/k").await.body, "v");

    let old = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/cycle").await.status, StatusCode::OK);
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&old)).await.status,
        StatusCode::UNAUTHORIZED
    );
    let current = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/logout").await.status, StatusCode::OK);
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&current)).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_ids_keep_the_contract_and_stay_out_of_the_file() {
    let dir = TempDir::new();
    let store = store_in(&dir).await.with_hashed_ids(&[42; 32]);
    let harness = ClockHarness::new({
        let store = store.clone();
        move |clock| store.clone().with_clock(clock)
    });
    testkit::run(&harness).await;

    let now = OffsetDateTime::now_utc();
    let record = SessionRecord::new(
        SessionId::generate().unwrap(),
        now,
        now + Duration::hours(1),
    )
    .with_subject("carol");
    assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    let ids: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT id FROM auth_sessions")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!ids.is_empty());
    for (id,) in &ids {
        assert_eq!(id.len(), 32);
        assert!(!id.windows(16).any(|w| w == record.id.as_bytes()));
    }
    assert_eq!(
        store
            .delete_sessions_of(None, "carol", Some(&record.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store.delete_sessions_of(None, "carol", None).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_keeps_principals_of_different_issuers_apart() {
    for hashed in [false, true] {
        let dir = TempDir::new();
        let mut store = store_in(&dir).await;
        if hashed {
            store = store.with_hashed_ids(&[7; 32]);
        }
        principals::principals_stay_apart(&store, hashed).await;
    }
}

/// The table as versions before the `issuer` column created it.
const TABLE_WITHOUT_ISSUER: &str = "CREATE TABLE auth_sessions (\
     id blob PRIMARY KEY NOT NULL, version integer NOT NULL, expires_at integer NOT NULL, \
     subject text, data blob NOT NULL) WITHOUT ROWID; \
     CREATE INDEX auth_sessions_expires_at ON auth_sessions (expires_at); \
     CREATE INDEX auth_sessions_subject ON auth_sessions (subject) WHERE subject IS NOT NULL;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_adds_the_issuer_column_to_an_older_table_and_fills_it_from_the_records() {
    let dir = TempDir::new();
    let store = SqliteStore::open(dir.file()).await.unwrap();
    sqlx::raw_sql(TABLE_WITHOUT_ISSUER)
        .execute(store.pool())
        .await
        .unwrap();
    // Rows as an earlier version wrote them: the issuer only in the record JSON.
    let of_a = principals::session_of(Some(principals::ISSUER_A), "bob", "a");
    let local = principals::session_of(None, "bob", "local")
        .with_value("nested", serde_json::json!({"iss": principals::ISSUER_A}));
    let anonymous = SessionRecord::new(
        SessionId::generate().unwrap(),
        of_a.created_at,
        of_a.expires_at,
    );
    for record in [&of_a, &local, &anonymous] {
        let mut stored = record.clone();
        stored.id = SessionId::from_bytes([0; 16]);
        sqlx::query("INSERT INTO auth_sessions VALUES (?1, ?2, ?3, ?4, ?5)")
            .bind(record.id.as_bytes().to_vec())
            .bind(1_i64)
            .bind(record.expires_at.unix_timestamp())
            .bind(record.subject.as_deref())
            .bind(serde_json::to_vec(&stored).unwrap())
            .execute(store.pool())
            .await
            .unwrap();
    }
    // Two processes upgrading at once, then again: idempotent.
    let other = SqliteStore::open(dir.file()).await.unwrap();
    let (first, second) = tokio::join!(store.migrate(), other.migrate());
    first.unwrap();
    second.unwrap();
    store.migrate().await.unwrap();

    let ids = |records: Vec<SessionRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store
            .sessions_of(Some(principals::ISSUER_A), "bob", None)
            .await
            .unwrap()),
        [of_a.id]
    );
    assert_eq!(
        ids(store.sessions_of(None, "bob", None).await.unwrap()),
        [local.id]
    );
    assert_eq!(store.load(&of_a.id).await.unwrap(), Some(of_a.clone()));
    assert_eq!(
        store.load(&anonymous.id).await.unwrap(),
        Some(anonymous.clone())
    );
    assert_eq!(
        store.delete_sessions_of(None, "bob", None).await.unwrap(),
        1
    );
    assert!(store.load(&of_a.id).await.unwrap().is_some());
    assert_eq!(
        store
            .delete_sessions_of(Some(principals::ISSUER_A), "bob", None)
            .await
            .unwrap(),
        1
    );
    assert!(store.load(&of_a.id).await.unwrap().is_none());
    assert!(store.load(&anonymous.id).await.unwrap().is_some());
}
