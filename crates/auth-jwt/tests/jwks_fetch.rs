//! The JWKS fetch itself, against real HTTP servers on 127.0.0.x driven through a `JwtLayer`:
//! every redirect hop obeys the URL rule (`https`, or `http` to 127.0.0.1 / localhost /
//! [::1]), and a document without `Content-Length` is capped while it streams.
//!
//! 127.0.0.2 is routed to the loopback interface on Linux, but the URL rule refuses it: it
//! stands for any host a JWKS fetch must never reach.
#![cfg(feature = "jwks")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use auth_jwt::{JwksSource, JwtLayer, JwtRejectionKind as K, KeySet};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use common::*;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// A generous bound on one outcome (not a speed measurement).
const OUTCOME: Duration = Duration::from_secs(10);

fn ec_jwk(signer: &Signer, kid: &str) -> Value {
    let point = signer.public_raw();
    json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid,
        "x": b64(point.get(1..33).unwrap()), "y": b64(point.get(33..).unwrap())
    })
}

fn es_token(signer: &Signer, kid: &str) -> String {
    craft(&header_for(signer, kid), &good_claims(), signer)
}

fn layer_for(source: JwksSource) -> JwtLayer {
    builder(KeySet::builder().add_jwks(source).build().unwrap())
        .build()
        .unwrap()
}

async fn call_within(layer: &JwtLayer, token: &str) -> Outcome {
    let out = tokio::time::timeout(OUTCOME, call(layer.clone(), Some(token))).await;
    assert!(out.is_ok(), "no answer within {OUTCOME:?}");
    out.unwrap()
}

/// Asserts 503 `KeysUnavailable`: no key was ever loaded, and nothing was accepted.
fn assert_unavailable(out: &Outcome) {
    assert_eq!(out.status, 503, "{out:?}");
    assert_eq!(out.kind, Some(K::KeysUnavailable), "{out:?}");
    assert!(out.identity.is_none());
}

/// A JWKS endpoint on `ip` serving one key, counting the requests it gets.
struct KeyServer {
    base: String,
    fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    async fn start(ip: &str, signer: &Signer, kid: &str) -> Self {
        let doc = json!({ "keys": [ec_jwk(signer, kid)] }).to_string();
        let fetches = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&fetches);
        let app = Router::new().route(
            "/jwks",
            get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc) }
            }),
        );
        let listener = TcpListener::bind(format!("{ip}:0")).await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, fetches }
    }

    fn url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

/// A server on 127.0.0.1 answering `302 Found` for each `(path, location)` that `routes`
/// returns (given the server's own base URL), and a discovery document naming its own base
/// as issuer and `{base}/jwks` as `jwks_uri`. Returns the base URL.
async fn redirector(routes: impl FnOnce(&str) -> Vec<(&'static str, String)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({ "issuer": base, "jwks_uri": format!("{base}/jwks") }).to_string();
    let mut app = Router::new().route(
        "/.well-known/openid-configuration",
        get(move || async move { ([(header::CONTENT_TYPE, "application/json")], discovery) }),
    );
    for (path, location) in routes(&base) {
        app = app.route(
            path,
            get(move || async move { (StatusCode::FOUND, [(header::LOCATION, location)]) }),
        );
    }
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_to_a_host_the_url_rule_refuses_is_not_followed() {
    // The attacker's key, served from 127.0.0.2 (plain http, not an allowed loopback name).
    let attacker = Signer::ec();
    let evil = KeyServer::start("127.0.0.2", &attacker, "evil").await;
    let target = evil.url();
    let base = redirector(|_| vec![("/jwks", target)]).await;
    let layer = layer_for(JwksSource::new(&format!("{base}/jwks")).unwrap());
    for _ in 0..3 {
        // No key was ever loaded: 503, and the attacker's token is not accepted.
        assert_unavailable(&call_within(&layer, &es_token(&attacker, "evil")).await);
    }
    assert_eq!(evil.fetches(), 0, "the refused host was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_redirect_hop_is_checked_not_only_the_first() {
    let attacker = Signer::ec();
    let evil = KeyServer::start("127.0.0.2", &attacker, "evil").await;
    let target = evil.url();
    // /jwks -> /step (allowed) -> 127.0.0.2 (refused).
    let base = redirector(|base| vec![("/jwks", format!("{base}/step")), ("/step", target)]).await;
    let layer = layer_for(JwksSource::new(&format!("{base}/jwks")).unwrap());
    assert_unavailable(&call_within(&layer, &es_token(&attacker, "evil")).await);
    assert_eq!(evil.fetches(), 0, "the refused host was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_of_a_discovered_jwks_uri_is_checked_too() {
    let attacker = Signer::ec();
    let evil = KeyServer::start("127.0.0.2", &attacker, "evil").await;
    let target = evil.url();
    // The discovery document names {base}/jwks (allowed), which redirects to 127.0.0.2.
    let base = redirector(|_| vec![("/jwks", target)]).await;
    let layer = builder_with(TrustedIssuer::discover(&base).unwrap().add_audience(AUD))
        .build()
        .unwrap();
    let mut claims = good_claims();
    claims["iss"] = json!(base);
    let token = craft(&header_for(&attacker, "evil"), &claims, &attacker);
    assert_unavailable(&call_within(&layer, &token).await);
    assert_eq!(evil.fetches(), 0, "the refused host was contacted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_within_the_url_rule_is_followed() {
    // The decision: a redirect whose every hop obeys the URL rule is followed (providers and
    // CDNs move key sets), here to another loopback port.
    let issuer = Signer::ec();
    let keys = KeyServer::start("127.0.0.1", &issuer, "a").await;
    let target = keys.url();
    let base = redirector(|_| vec![("/jwks", target)]).await;
    let layer = layer_for(JwksSource::new(&format!("{base}/jwks")).unwrap());
    let out = call_within(&layer, &es_token(&issuer, "a")).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(keys.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_three_redirects_are_followed() {
    let issuer = Signer::ec();
    let keys = KeyServer::start("127.0.0.1", &issuer, "a").await;
    let target = keys.url();
    let base = redirector(|base| {
        vec![
            ("/r4", format!("{base}/r3")),
            ("/r3", format!("{base}/r2")),
            ("/r2", format!("{base}/r1")),
            ("/r1", target),
        ]
    })
    .await;
    // Three redirects: followed.
    let three = layer_for(JwksSource::new(&format!("{base}/r3")).unwrap());
    assert_eq!(
        call_within(&three, &es_token(&issuer, "a")).await.status,
        200
    );
    assert_eq!(keys.fetches(), 1);
    // Four: refused before the fourth is followed.
    let four = layer_for(JwksSource::new(&format!("{base}/r4")).unwrap());
    assert_unavailable(&call_within(&four, &es_token(&issuer, "a")).await);
    assert_eq!(keys.fetches(), 1);
}

// --- Body cap --------------------------------------------------------------------------------

/// What a [`Streamer`] answers.
#[derive(Clone)]
enum Reply {
    /// A normal response with `Content-Length`.
    Document(String),
    /// `Transfer-Encoding: chunked`, no `Content-Length`: `prefix`, then `padding` bytes of
    /// JSON whitespace in 64 KiB chunks, then either the rest of the document and the last
    /// chunk (`finish`), or nothing more, the connection held open until the client leaves.
    Chunked {
        prefix: String,
        padding: usize,
        finish: bool,
    },
}

/// How one chunked response went, seen from the server.
#[derive(Clone, Copy, Debug)]
struct Streamed {
    /// Body bytes the server managed to hand to the socket.
    written: usize,
    /// The whole body was written.
    finished: bool,
    /// The client closed the connection (a write failed, or a read saw it go).
    hung_up: bool,
}

/// A raw HTTP/1.1 server on 127.0.0.1, so the body can be streamed and every byte counted.
struct Streamer {
    base: String,
    reply: Arc<Mutex<Reply>>,
    streamed: watch::Receiver<Option<Streamed>>,
}

impl Streamer {
    async fn start(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let reply = Arc::new(Mutex::new(reply));
        let (tx, streamed) = watch::channel(None);
        let tx = Arc::new(tx);
        let shared = Arc::clone(&reply);
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let reply = shared.lock().unwrap().clone();
                let tx = Arc::clone(&tx);
                tokio::spawn(async move {
                    if let Some(outcome) = serve(socket, reply).await {
                        tx.send_replace(Some(outcome));
                    }
                });
            }
        });
        Self {
            base,
            reply,
            streamed,
        }
    }

    fn url(&self) -> String {
        format!("{}/jwks", self.base)
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    /// The outcome of the first chunked response that ended (finished or hung up), waiting
    /// at most [`OUTCOME`] for it.
    async fn outcome(&mut self) -> Streamed {
        let seen = tokio::time::timeout(OUTCOME, self.streamed.wait_for(Option::is_some)).await;
        assert!(
            seen.is_ok(),
            "the chunked response neither ended nor lost its client within {OUTCOME:?}"
        );
        let seen = *seen.unwrap().unwrap();
        seen.unwrap()
    }
}

/// Serves one connection: reads the request head, writes `reply`. Returns the outcome of a
/// chunked reply.
async fn serve(mut socket: TcpStream, reply: Reply) -> Option<Streamed> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 16 * 1024 {
            return None;
        }
        head.extend_from_slice(buf.get(..n)?);
    }
    match reply {
        Reply::Document(doc) => {
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                doc.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            None
        }
        Reply::Chunked {
            prefix,
            padding,
            finish,
        } => {
            let mut out = Streamed {
                written: 0,
                finished: false,
                hung_up: false,
            };
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
            if socket.write_all(head.as_bytes()).await.is_err() {
                out.hung_up = true;
                return Some(out);
            }
            let mut chunks = vec![prefix.into_bytes()];
            let spaces = vec![b' '; 64 * 1024];
            let mut left = padding;
            let mut body = Vec::new();
            loop {
                let data = match chunks.pop() {
                    Some(data) => data,
                    None if left > 0 => {
                        let n = left.min(spaces.len());
                        left -= n;
                        spaces.get(..n).unwrap().to_vec()
                    }
                    None => break,
                };
                body.clear();
                body.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
                body.extend_from_slice(&data);
                body.extend_from_slice(b"\r\n");
                if socket.write_all(&body).await.is_err() {
                    out.hung_up = true;
                    return Some(out);
                }
                out.written += data.len();
            }
            if finish {
                if socket.write_all(b"1\r\n}\r\n0\r\n\r\n").await.is_err() {
                    out.hung_up = true;
                    return Some(out);
                }
                out.written += 1;
                out.finished = true;
                return Some(out);
            }
            // Never end the body: wait for the client to leave.
            loop {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            out.hung_up = true;
            Some(out)
        }
    }
}

/// `{"keys":[<jwk>]` — a valid JWK set once a `}` follows, whatever whitespace comes between.
fn open_set(signer: &Signer, kid: &str) -> String {
    format!("{{\"keys\":[{}]", ec_jwk(signer, kid))
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_document_over_the_cap_is_dropped_while_streaming() {
    // A valid JWK set with the attacker's key, 64 MiB long, without Content-Length.
    let attacker = Signer::ec();
    let mut server = Streamer::start(Reply::Chunked {
        prefix: open_set(&attacker, "evil"),
        padding: 64 * MIB,
        finish: true,
    })
    .await;
    let layer = layer_for(JwksSource::new(&server.url()).unwrap());
    assert_unavailable(&call_within(&layer, &es_token(&attacker, "evil")).await);
    let streamed = server.outcome().await;
    // The client stopped reading past 1 MiB and closed the connection: the server could not
    // write the whole body (what it did write is the cap plus the sockets' buffers).
    assert!(
        streamed.hung_up && !streamed.finished,
        "the whole body was read: {streamed:?}"
    );
    assert!(streamed.written < 64 * MIB, "{streamed:?}");
    assert_unavailable(&call_within(&layer, &es_token(&attacker, "evil")).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_document_fails_the_fetch_promptly_and_keeps_the_last_good_keys() {
    let (good, attacker) = (Signer::ec(), Signer::ec());
    let mut server = Streamer::start(Reply::Document(
        json!({ "keys": [ec_jwk(&good, "a")] }).to_string(),
    ))
    .await;
    // A request timeout far beyond the outcome bound: only the cap can end this fetch in time.
    let layer = layer_for(
        JwksSource::new(&server.url())
            .unwrap()
            .with_timeout(Duration::from_secs(120))
            .with_min_refetch_interval(Duration::from_millis(200)),
    );
    assert_eq!(call_within(&layer, &es_token(&good, "a")).await.status, 200);

    // Now the endpoint streams 16 MiB of a document that never ends.
    server.set(Reply::Chunked {
        prefix: open_set(&attacker, "evil"),
        padding: 16 * MIB,
        finish: false,
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The unknown kid triggers the refetch; the request is answered, the key not accepted.
    assert_invalid(
        &call_within(&layer, &es_token(&attacker, "evil")).await,
        K::UnknownKey,
    );
    // The client gave up on the body by itself, long before its timeout.
    let streamed = server.outcome().await;
    assert!(streamed.hung_up && !streamed.finished, "{streamed:?}");
    // The last good keys are still in use.
    assert_eq!(call_within(&layer, &es_token(&good, "a")).await.status, 200);
    assert_invalid(
        &call_within(&layer, &es_token(&attacker, "evil")).await,
        K::UnknownKey,
    );
}
