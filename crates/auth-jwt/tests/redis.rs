//! `RedisRevocationList` against a real Redis (`AUTH_TEST_REDIS_URL`; skipped when unset):
//! propagation between two instances, resync after the subscription is killed, and the
//! fail-closed answer when the feed stays down.
//!
//! Instance B reaches Redis through a small TCP proxy owned by the test, so the test knows
//! B's connections (to `CLIENT KILL` exactly them) and can refuse B's reconnections.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use auth_core::{RevocationList, RevocationStatus, RevokedBy, TokenRef};
use auth_jwt::redis::{self, AsyncCommands as _};
use auth_jwt::{JwtLayer, JwtRejectionKind, RedisRevocationList, StalePolicy, TrustedIssuer};
use common::{AUD, ISS, Signer};
use http::StatusCode;
use time::OffsetDateTime;
use tokio::net::{TcpListener, TcpStream};

/// A random prefix and channel for one test.
fn names(test: &str) -> (String, String) {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let tag: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (
        format!("test:auth-jwt:{test}:{tag}:"),
        format!("test:auth-jwt:{test}:{tag}:channel"),
    )
}

async fn start(
    url: &str,
    prefix: &str,
    channel: &str,
    stale_after: Duration,
    policy: StalePolicy,
) -> RedisRevocationList {
    let list = RedisRevocationList::builder(redis::Client::open(url).unwrap())
        .with_prefix(prefix)
        .with_channel(channel)
        .with_stale_after(stale_after)
        .with_stale_policy(policy)
        .start()
        .await
        .unwrap();
    assert!(list.wait_synced(Duration::from_secs(5)).await, "first sync");
    list
}

async fn cleanup(url: &str, prefix: &str) {
    let mut conn = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = conn.keys(format!("{prefix}*")).await.unwrap();
    if !keys.is_empty() {
        let _: () = conn.del(keys).await.unwrap();
    }
}

fn soon() -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::minutes(10)
}

fn jti(id: &str) -> TokenRef<'_> {
    TokenRef {
        issuer: ISS,
        jti: Some(id),
        subject: Some("alice"),
        session_id: None,
        issued_at: Some(OffsetDateTime::now_utc().unix_timestamp()),
    }
}

/// Forwards TCP connections to Redis; records the upstream (Redis-side) addresses; can
/// refuse new connections.
struct Proxy {
    addr: SocketAddr,
    upstream: Arc<Mutex<Vec<SocketAddr>>>,
    refuse: Arc<AtomicBool>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicBool::new(false));
        let (up, no) = (Arc::clone(&upstream), Arc::clone(&refuse));
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if no.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                up.lock().unwrap().push(outbound.local_addr().unwrap());
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                });
            }
        });
        Self {
            addr,
            upstream,
            refuse,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// `CLIENT KILL`s the subscriber connections that went through this proxy.
    async fn kill_subscribers(&self, conn: &mut redis::aio::MultiplexedConnection) -> usize {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(conn)
            .await
            .unwrap();
        let ours: Vec<String> = self
            .upstream
            .lock()
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        let mut killed = 0;
        for line in list.lines() {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|kv| kv.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let (Some(id), Some(addr)) = (field("id="), field("addr="))
                && ours.contains(&addr)
            {
                let _: () = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(&id)
                    .query_async(conn)
                    .await
                    .unwrap();
                killed += 1;
            }
        }
        killed
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn target(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("redis://").unwrap();
    let host_port = rest.split('/').next().unwrap();
    let host_port = host_port.rsplit('@').next().unwrap();
    let host_port = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    std::net::ToSocketAddrs::to_socket_addrs(&host_port)
        .unwrap()
        .next()
        .unwrap()
}

async fn admin(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_on_a_reaches_b_within_one_second() {
    let Some(url) = auth_tests::redis_url("a_revocation_on_a_reaches_b_within_one_second") else {
        return;
    };
    let (prefix, channel) = names("propagation");
    let bound = Duration::from_secs(10);
    let a = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let b = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;

    let mut delays = Vec::new();
    for i in 0..50 {
        let id = format!("prop-{i}");
        assert_eq!(b.status(&jti(&id)), RevocationStatus::Active);
        let started = Instant::now();
        a.revoke_token(ISS, &id, soon()).await.unwrap();
        // The writer sees its own revocation at once.
        assert_eq!(
            a.status(&jti(&id)),
            RevocationStatus::Revoked(RevokedBy::Token)
        );
        while b.status(&jti(&id)) == RevocationStatus::Active {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "revocation {i} not seen by B within 1 s"
            );
            tokio::task::yield_now().await;
        }
        delays.push(started.elapsed());
    }
    // Subject and session revocations travel the same way.
    a.revoke_subject(ISS, "carol", OffsetDateTime::now_utc(), soon())
        .await
        .unwrap();
    a.revoke_session(ISS, "sess-1", soon()).await.unwrap();
    let carol = TokenRef {
        issuer: ISS,
        subject: Some("carol"),
        issued_at: Some(OffsetDateTime::now_utc().unix_timestamp() - 5),
        ..TokenRef::default()
    };
    let sess = TokenRef {
        issuer: ISS,
        session_id: Some("sess-1"),
        ..TokenRef::default()
    };
    wait_until("subject and session on B", Duration::from_secs(1), || {
        b.status(&carol) == RevocationStatus::Revoked(RevokedBy::Subject)
            && b.status(&sess) == RevocationStatus::Revoked(RevokedBy::Session)
    })
    .await;

    delays.sort();
    let pick = |q: f64| delays[((delays.len() - 1) as f64 * q).round() as usize];
    println!(
        "propagation A -> B over {} revocations (revoke call to B's mirror): min {:?}, median {:?}, p99 {:?}, max {:?}",
        delays.len(),
        delays[0],
        pick(0.5),
        pick(0.99),
        delays[delays.len() - 1]
    );
    drop((a, b));
    cleanup(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_resyncs_after_its_subscription_is_killed_and_sees_what_it_missed() {
    let Some(url) =
        auth_tests::redis_url("b_resyncs_after_its_subscription_is_killed_and_sees_what_it_missed")
    else {
        return;
    };
    let (prefix, channel) = names("resync");
    let bound = Duration::from_secs(10);
    let proxy = Proxy::start(target(&url)).await;
    let a = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let b = start(
        &proxy.url(),
        &prefix,
        &channel,
        bound,
        StalePolicy::FailClosed,
    )
    .await;
    let mut admin = admin(&url).await;

    a.revoke_token(ISS, "before", soon()).await.unwrap();
    wait_until("B sees 'before'", Duration::from_secs(1), || {
        b.status(&jti("before")) != RevocationStatus::Active
    })
    .await;

    // Kill B's subscription and keep B from reconnecting for a moment.
    let resyncs = b.resyncs();
    proxy.refuse.store(true, Ordering::SeqCst);
    assert_eq!(proxy.kill_subscribers(&mut admin).await, 1);
    wait_until("B notices", Duration::from_secs(5), || !b.is_up()).await;

    // Revocations made while B is disconnected: their messages never reach B.
    a.revoke_token(ISS, "while-down", soon()).await.unwrap();
    a.revoke_subject(ISS, "dave", OffsetDateTime::now_utc(), soon())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(b.status(&jti("while-down")), RevocationStatus::Active);
    // Down for less than the bound: B still answers from its mirror.
    assert_eq!(
        b.status(&jti("before")),
        RevocationStatus::Revoked(RevokedBy::Token)
    );

    // B reconnects, resyncs the prefix, and knows.
    proxy.refuse.store(false, Ordering::SeqCst);
    wait_until("B resyncs", Duration::from_secs(5), || {
        b.resyncs() > resyncs && b.is_up()
    })
    .await;
    assert_eq!(
        b.status(&jti("while-down")),
        RevocationStatus::Revoked(RevokedBy::Token)
    );
    let dave = TokenRef {
        issuer: ISS,
        subject: Some("dave"),
        issued_at: Some(OffsetDateTime::now_utc().unix_timestamp() - 1),
        ..TokenRef::default()
    };
    assert_eq!(
        b.status(&dave),
        RevocationStatus::Revoked(RevokedBy::Subject)
    );

    // And follows the channel again.
    a.revoke_token(ISS, "after", soon()).await.unwrap();
    wait_until("B sees 'after'", Duration::from_secs(1), || {
        b.status(&jti("after")) != RevocationStatus::Active
    })
    .await;
    drop((a, b));
    cleanup(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_feed_down_beyond_the_bound_b_answers_503() {
    let Some(url) = auth_tests::redis_url("with_the_feed_down_beyond_the_bound_b_answers_503")
    else {
        return;
    };
    let (prefix, channel) = names("stale");
    let bound = Duration::from_millis(300);
    let proxy = Proxy::start(target(&url)).await;
    let closed = Arc::new(
        start(
            &proxy.url(),
            &prefix,
            &channel,
            bound,
            StalePolicy::FailClosed,
        )
        .await,
    );
    let open = Arc::new(
        start(
            &proxy.url(),
            &prefix,
            &channel,
            bound,
            StalePolicy::FailOpen,
        )
        .await,
    );
    let mut admin = admin(&url).await;

    let signer = Signer::hmac();
    let layer = |list: Arc<RedisRevocationList>| {
        JwtLayer::builder(TrustedIssuer::new(ISS, signer.verifying_key("k1")).add_audience(AUD))
            .with_clock(Arc::new(auth_core::ManualClock::at_unix(common::NOW)))
            .with_revocation(list)
            .build()
            .unwrap()
    };
    let (closed_layer, open_layer) = (layer(Arc::clone(&closed)), layer(Arc::clone(&open)));
    let token = common::token(&signer);
    assert_eq!(
        common::call(closed_layer.clone(), Some(&token))
            .await
            .status,
        StatusCode::OK
    );

    proxy.refuse.store(true, Ordering::SeqCst);
    assert_eq!(proxy.kill_subscribers(&mut admin).await, 2);
    wait_until("feed down", Duration::from_secs(5), || {
        !closed.is_up() && !open.is_up()
    })
    .await;
    // Down, but within the bound: still answering.
    let started = Instant::now();
    tokio::time::sleep(bound + Duration::from_millis(100)).await;
    assert!(!closed.is_up(), "still down after {:?}", started.elapsed());
    assert_eq!(closed.status(&jti("x")), RevocationStatus::Unavailable);

    let outcome = common::call(closed_layer.clone(), Some(&token)).await;
    assert_eq!(outcome.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(outcome.kind, Some(JwtRejectionKind::RevocationUnavailable));
    // Fail open, configured explicitly: the stale mirror answers.
    assert_eq!(
        common::call(open_layer, Some(&token)).await.status,
        StatusCode::OK
    );

    // The feed comes back: answers again.
    proxy.refuse.store(false, Ordering::SeqCst);
    wait_until("feed back", Duration::from_secs(5), || closed.is_up()).await;
    assert_eq!(
        common::call(closed_layer, Some(&token)).await.status,
        StatusCode::OK
    );
    drop((closed, open));
    cleanup(&url, &prefix).await;
}

/// Issue #17, item 1, on the shared list: entries are keyed on the issuer in Redis keys,
/// pub/sub messages and the resync, so one issuer's `jti` or subject never revokes another
/// issuer's token, on the writer, on a follower, or on an instance that starts later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_stay_in_their_issuers_namespace_on_every_instance() {
    let Some(url) =
        auth_tests::redis_url("entries_stay_in_their_issuers_namespace_on_every_instance")
    else {
        return;
    };
    const OTHER: &str = "https://idp.example";
    let (prefix, channel) = names("issuers");
    let bound = Duration::from_secs(10);
    let a = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let b = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let of = |issuer: &'static str, jti: &'static str, sub: &'static str| TokenRef {
        issuer,
        jti: Some(jti),
        subject: Some(sub),
        session_id: Some("sess"),
        issued_at: Some(OffsetDateTime::now_utc().unix_timestamp() - 5),
    };

    // The other issuer revokes a jti, a subject and a session that our tokens share.
    a.revoke_token(OTHER, "shared-jti", soon()).await.unwrap();
    a.revoke_subject(OTHER, "bob", OffsetDateTime::now_utc(), soon())
        .await
        .unwrap();
    a.revoke_session(OTHER, "sess", soon()).await.unwrap();
    // An issuer whose name ends like a prefix of the value must not collide either.
    a.revoke_token("https://idp.ex", "ample", soon())
        .await
        .unwrap();
    wait_until(
        "the other issuer's entries on B",
        Duration::from_secs(1),
        || {
            b.status(&of(OTHER, "shared-jti", "alice"))
                == RevocationStatus::Revoked(RevokedBy::Token)
                && b.status(&of(OTHER, "x", "bob")) == RevocationStatus::Revoked(RevokedBy::Subject)
                && b.status(&of(OTHER, "x", "alice"))
                    == RevocationStatus::Revoked(RevokedBy::Session)
        },
    )
    .await;
    // A third instance learns them from the resync (SCAN) alone.
    let c = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    for list in [&a, &b, &c] {
        assert_eq!(
            list.status(&of(OTHER, "shared-jti", "alice")),
            RevocationStatus::Revoked(RevokedBy::Token)
        );
        let mut ours = of(ISS, "shared-jti", "bob");
        assert_eq!(list.status(&ours), RevocationStatus::Active, "{list:?}");
        ours.session_id = None;
        assert_eq!(list.status(&ours), RevocationStatus::Active);
        // "https://idp.ex" + "ample" was revoked; "https://idp.exa" + "mple" was not.
        let mut split = of("https://idp.exa", "mple", "nobody");
        split.session_id = None;
        assert_eq!(list.status(&split), RevocationStatus::Active);
        split.issuer = "https://idp.ex";
        split.jti = Some("ample");
        assert_eq!(
            list.status(&split),
            RevocationStatus::Revoked(RevokedBy::Token)
        );
    }
    cleanup(&url, &prefix).await;
}

/// Revocations written before entries carried an issuer (`{prefix}jti:{value}`, messages
/// without `v2`) are neither read nor applied, until `migrate_unscoped_keys` moves them
/// under the issuer they were made for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unscoped_legacy_entries_are_ignored_until_migrated() {
    let Some(url) = auth_tests::redis_url("unscoped_legacy_entries_are_ignored_until_migrated")
    else {
        return;
    };
    let (prefix, channel) = names("legacy");
    let until = soon().unix_timestamp();
    let mut conn = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}jti:old-jti"))
        .arg(format!("0 {until}"))
        .arg("EXAT")
        .arg(until + 300)
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("{prefix}sub:old-sub"))
        .arg(format!("{} {until}", until - 600))
        .arg("EXAT")
        .arg(until + 300)
        .query_async(&mut conn)
        .await
        .unwrap();
    let bound = Duration::from_secs(10);
    let a = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let b = start(&url, &prefix, &channel, bound, StalePolicy::FailClosed).await;
    let old = TokenRef {
        issuer: ISS,
        jti: Some("old-jti"),
        subject: Some("old-sub"),
        issued_at: Some(until - 700),
        ..TokenRef::default()
    };
    assert_eq!(
        a.status(&old),
        RevocationStatus::Active,
        "legacy keys are not read"
    );
    // A legacy message is not applied either.
    let _: () = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg(format!("jti 0 {until} old-jti"))
        .query_async(&mut conn)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        b.status(&old),
        RevocationStatus::Active,
        "legacy messages are ignored"
    );

    assert_eq!(a.migrate_unscoped_keys(ISS).await.unwrap(), 2);
    assert_eq!(a.status(&old), RevocationStatus::Revoked(RevokedBy::Token));
    wait_until("migrated entries on B", Duration::from_secs(1), || {
        b.status(&old) == RevocationStatus::Revoked(RevokedBy::Token)
    })
    .await;
    let subject_only = TokenRef {
        jti: Some("fresh"),
        ..old
    };
    assert_eq!(
        b.status(&subject_only),
        RevocationStatus::Revoked(RevokedBy::Subject)
    );
    assert_eq!(
        b.status(&TokenRef {
            issuer: "https://idp.example",
            ..old
        }),
        RevocationStatus::Active,
        "migrated into ISS only"
    );
    let left: Vec<String> = conn.keys(format!("{prefix}*:old-*")).await.unwrap();
    assert!(left.is_empty(), "legacy keys deleted: {left:?}");
    assert_eq!(a.migrate_unscoped_keys(ISS).await.unwrap(), 0, "idempotent");
    cleanup(&url, &prefix).await;
}
