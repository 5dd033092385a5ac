//! `PostgresStore` against the real PostgreSQL server of `AUTH_TEST_POSTGRES_URL`: the
//! conformance kit, the HTTP scenarios, two app instances on one database, the per-user index
//! and a cut connection.
//!
//! Every test creates its own random schema and drops it at the end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use auth_core::{Clock, CreateOutcome, ManualClock, SessionId, SessionRecord, SessionStore};
use auth_session::PostgresStore;
use auth_session::sqlx::{self, PgPool};
use auth_session::testkit::{self, ClockHarness};
use auth_tests::sessions::{AppOptions, Cleaned, Client, app, principals, send};
use http::StatusCode;
use time::{Duration, OffsetDateTime};

fn random_schema() -> String {
    format!(
        "auth_test_{}",
        SessionId::generate()
            .unwrap()
            .encode()
            .to_lowercase()
            .replace('-', "_")
    )
}

/// A store in a fresh schema (migrated).
async fn store_in(url: &str, schema: &str) -> PostgresStore {
    let store = PostgresStore::connect(url)
        .await
        .unwrap()
        .with_table(schema, "sessions");
    store.migrate().await.unwrap();
    store
}

async fn drop_schema(url: &str, schema: &str) {
    let pool = PgPool::connect(url).await.unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

async fn scenario_store(test: &str) -> Option<Arc<dyn SessionStore>> {
    let url = auth_tests::postgres_url(test)?;
    let inner = store_in(&url, &random_schema()).await;
    let schema = inner.table().0.to_owned();
    Some(Arc::new(Cleaned::new(inner, move || {
        // A runtime of its own on a thread of its own: `Drop` cannot await.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(drop_schema(&url, &schema));
        })
        .join();
    })))
}

/// The HTTP session scenarios against this store, each on a fresh isolated store (64
/// concurrent writers included: conflicting saves back off and retry).
mod scenarios {
    use super::*;
    auth_tests::session_scenarios!(scenario_store);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_keeps_the_contract() {
    let Some(url) = auth_tests::postgres_url("postgres_store_keeps_the_contract") else {
        return;
    };
    let schema = random_schema();
    let store = store_in(&url, &schema).await;
    let harness = ClockHarness::new(move |clock| store.clone().with_clock(clock));
    testkit::run(&harness).await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_rows_are_cleaned_up_and_live_ones_kept() {
    let Some(url) = auth_tests::postgres_url("expired_rows_are_cleaned_up") else {
        return;
    };
    let schema = random_schema();
    let clock = ManualClock::default();
    let store = store_in(&url, &schema)
        .await
        .with_clock(Arc::new(clock.clone()));
    let now = clock.now();
    for ttl in [1, 1, 1, 3600] {
        let record = SessionRecord::new(
            SessionId::generate().unwrap(),
            now,
            now + Duration::seconds(ttl),
        );
        assert_eq!(store.create(&record).await.unwrap(), CreateOutcome::Created);
    }
    clock.advance(Duration::seconds(2));
    assert_eq!(store.cleanup_expired().await.unwrap(), 3);
    assert_eq!(store.cleanup_expired().await.unwrap(), 0);
    let (rows,): (i64,) = sqlx::query_as(&format!("SELECT count(*) FROM \"{schema}\".sessions"))
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1);
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_lists_and_revokes_a_subjects_sessions() {
    let Some(url) = auth_tests::postgres_url("the_per_user_index") else {
        return;
    };
    let schema = random_schema();
    let store = store_in(&url, &schema).await;
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

    // "Log out everywhere else", then everywhere.
    assert_eq!(
        store
            .delete_sessions_of(None, "alice", Some(&alice[0]))
            .await
            .unwrap(),
        2
    );
    assert!(store.load(&alice[0]).await.unwrap().is_some());
    assert!(store.load(&alice[1]).await.unwrap().is_none());
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
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_share_login_cycle_and_logout() {
    let Some(url) = auth_tests::postgres_url("two_instances_on_one_postgres") else {
        return;
    };
    let schema = random_schema();
    // Two stores with pools of their own: two application instances.
    let a: Arc<dyn SessionStore> = Arc::new(store_in(&url, &schema).await);
    let b: Arc<dyn SessionStore> = Arc::new(store_in(&url, &schema).await);

    let options = AppOptions::new();
    let (app_a, app_b) = (app(a, &options), app(b, &options));
    let mut on_a = Client::new(app_a);
    assert_eq!(
        on_a.send("POST", "/login/alice").await.status,
        StatusCode::OK
    );
    assert_eq!(on_a.send("POST", "/set/k/v").await.status, StatusCode::OK);
    let mut on_b = on_a.on(app_b.clone());
    let me = on_b.send("GET", "/me").await;
    assert_eq!((me.status, me.body.as_str()), (StatusCode::OK, "alice"));
    assert_eq!(on_b.send("GET", "/get/k").await.body, "v");

    let old = on_a.cookie.clone().unwrap();
    assert_eq!(on_a.send("POST", "/cycle").await.status, StatusCode::OK);
    assert_ne!(on_a.cookie.as_deref(), Some(old.as_str()));
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&old)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let current = on_a.cookie.clone().unwrap();
    assert_eq!(
        send(&app_b, "GET", "/get/k", Some(&current)).await.body,
        "v"
    );
    assert_eq!(on_a.send("POST", "/logout").await.status, StatusCode::OK);
    assert_eq!(
        send(&app_b, "GET", "/me", Some(&current)).await.status,
        StatusCode::UNAUTHORIZED
    );
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_backends_give_503_and_the_pool_recovers() {
    let Some(url) = auth_tests::postgres_url("terminated_backends_give_503") else {
        return;
    };
    let schema = random_schema();
    let store = store_in(&url, &schema).await;
    let app = app(Arc::new(store), &AppOptions::new());
    let mut user = Client::new(app.clone());
    assert_eq!(user.send("POST", "/login/bob").await.status, StatusCode::OK);
    assert_eq!(user.send("POST", "/set/k/v").await.status, StatusCode::OK);
    let cookie = user.cookie.clone().unwrap();

    // Cut every connection of the store's pool (by application name would be nicer; the
    // pool's backends are the ones whose pid is not ours).
    let killer = PgPool::connect(&url).await.unwrap();
    let mut statuses = Vec::new();
    for i in 0..20 {
        if i == 5 {
            let killed: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                 AND query LIKE '%' || $1 || '%'",
            )
            .bind(&schema)
            .fetch_all(&killer)
            .await
            .unwrap();
            assert!(!killed.is_empty(), "no backend of the store found");
        }
        let reply = send(&app, "GET", "/get/k", Some(&cookie)).await;
        assert!(
            reply.status == StatusCode::OK || reply.status == StatusCode::SERVICE_UNAVAILABLE,
            "request {i}: {}",
            reply.status
        );
        if reply.status == StatusCode::OK {
            assert_eq!(reply.body, "v");
        }
        statuses.push(reply.status);
    }
    assert!(
        statuses[10..].iter().all(|s| *s == StatusCode::OK),
        "no recovery: {statuses:?}"
    );
    assert_eq!(
        send(&app, "GET", "/admin", Some(&cookie)).await.status,
        StatusCode::OK
    );
    killer.close().await;
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_ids_keep_the_contract_and_stay_out_of_the_table() {
    let Some(url) = auth_tests::postgres_url("hashed_ids_keep_the_contract") else {
        return;
    };
    let schema = random_schema();
    let store = store_in(&url, &schema).await.with_hashed_ids(&[42; 32]);
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
    let ids: Vec<(Vec<u8>,)> = sqlx::query_as(&format!("SELECT id FROM \"{schema}\".sessions"))
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert!(!ids.is_empty());
    for (id,) in &ids {
        assert_eq!(id.len(), 32);
        assert!(!id.windows(16).any(|w| w == record.id.as_bytes()));
    }
    // The per-user index still works, without revealing IDs.
    let listed = store.sessions_of(None, "carol", None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, SessionId::from_bytes([0; 16]));
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
    drop_schema(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_user_index_keeps_principals_of_different_issuers_apart() {
    let Some(url) = auth_tests::postgres_url("the_per_user_index_keeps_principals_apart") else {
        return;
    };
    for hashed in [false, true] {
        let schema = random_schema();
        let mut store = store_in(&url, &schema).await;
        if hashed {
            store = store.with_hashed_ids(&[7; 32]);
        }
        principals::principals_stay_apart(&store, hashed).await;
        drop_schema(&url, &schema).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_adds_the_issuer_column_to_an_older_table_and_fills_it_from_the_records() {
    let Some(url) = auth_tests::postgres_url("migrate_adds_the_issuer_column") else {
        return;
    };
    let schema = random_schema();
    let store = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&schema, "sessions");
    // The table as versions before the `issuer` column created it.
    sqlx::raw_sql(&format!(
        "CREATE SCHEMA \"{schema}\"; \
         CREATE TABLE \"{schema}\".sessions (id bytea PRIMARY KEY, version bigint NOT NULL, \
         expires_at timestamptz NOT NULL, subject text, data bytea NOT NULL); \
         CREATE INDEX sessions_expires_at ON \"{schema}\".sessions (expires_at); \
         CREATE INDEX sessions_subject ON \"{schema}\".sessions (subject) \
         WHERE subject IS NOT NULL;"
    ))
    .execute(store.pool())
    .await
    .unwrap();
    // Rows as an earlier version wrote them: the issuer only in the record JSON, which
    // PostgreSQL's JSON functions could not even read (a NUL character).
    let of_a = principals::session_of(Some(principals::ISSUER_A), "bob", "a")
        .with_value("nul", serde_json::json!("\u{0}"));
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
        sqlx::query(&format!(
            "INSERT INTO \"{schema}\".sessions VALUES ($1, $2, $3, $4, $5)"
        ))
        .bind(record.id.as_bytes().to_vec())
        .bind(1_i64)
        .bind(record.expires_at)
        .bind(record.subject.as_deref())
        .bind(serde_json::to_vec(&stored).unwrap())
        .execute(store.pool())
        .await
        .unwrap();
    }
    // Two instances upgrading at once, then again: idempotent.
    let other = PostgresStore::connect(&url)
        .await
        .unwrap()
        .with_table(&schema, "sessions");
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
    drop_schema(&url, &schema).await;
}
