//! The layer on a bare hyper 1.x server (hyper + hyper-util, no axum), spoken to over a raw
//! TCP socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::convert::Infallible;

use auth_core::Identity;
use common::{Signer, builder, token};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// Serves the layer (HS256 key `k1`) on 127.0.0.1:0; returns the address.
async fn serve(signer: &Signer) -> std::net::SocketAddr {
    let layer = builder(signer.verifying_key("k1")).build().unwrap();
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<Incoming>| async move {
            let who = req
                .extensions()
                .get::<Identity>()
                .map_or_else(|| "anonymous".to_owned(), |id| id.subject().to_owned());
            Ok::<_, Infallible>(Response::new(format!("hello {who}")))
        });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let svc = TowerToHyperService::new(svc.clone());
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// One HTTP/1.1 request over a fresh connection; returns the raw response text.
async fn get(addr: std::net::SocketAddr, authorization: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET /api HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

fn status_line(response: &str) -> &str {
    response.lines().next().unwrap_or_default()
}

fn header<'r>(response: &'r str, name: &str) -> Option<&'r str> {
    response
        .split("\r\n\r\n")
        .next()?
        .lines()
        .skip(1)
        .find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_hyper_server_accepts_valid_and_refuses_bad_or_missing_tokens() {
    let signer = Signer::hmac();
    let addr = serve(&signer).await;

    // A valid token: 200, the handler sees the identity.
    let ok = get(addr, Some(&format!("Bearer {}", token(&signer)))).await;
    assert!(status_line(&ok).starts_with("HTTP/1.1 200"), "{ok}");
    assert!(ok.ends_with("hello alice"), "{ok}");
    assert_eq!(header(&ok, "www-authenticate"), None, "{ok}");

    // A bad token (tampered signature): 401 with error="invalid_token".
    let mut bad = token(&signer);
    bad.truncate(bad.len() - 4);
    bad.push_str("AAAA");
    let res = get(addr, Some(&format!("Bearer {bad}"))).await;
    assert!(status_line(&res).starts_with("HTTP/1.1 401"), "{res}");
    let challenge = header(&res, "www-authenticate").unwrap();
    assert!(challenge.starts_with("Bearer"), "{res}");
    assert!(challenge.contains(r#"error="invalid_token""#), "{res}");
    assert!(!res.contains("hello"), "{res}");

    // Not a JWT at all: same answer.
    let res = get(addr, Some("Bearer not-a-jwt")).await;
    assert!(status_line(&res).starts_with("HTTP/1.1 401"), "{res}");
    assert!(
        header(&res, "www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );

    // No token: 401 with a bare challenge, no error code.
    let res = get(addr, None).await;
    assert!(status_line(&res).starts_with("HTTP/1.1 401"), "{res}");
    assert_eq!(header(&res, "www-authenticate"), Some("Bearer"), "{res}");
    assert!(!res.contains("error="), "{res}");
}
