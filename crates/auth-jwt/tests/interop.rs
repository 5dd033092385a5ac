//! Interop with an independent implementation (jwt-simple, pure Rust): both directions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use auth_core::{KeyId, KeyRing, SecretKey, SystemClock};
use auth_jwt::{Algorithm, Issuer, JwtLayer, SigningKey, VerifyingKey};
use common::{AUD, ISS, TrustedIssuer, call};
use jwt_simple::prelude::*;

fn options() -> VerificationOptions {
    VerificationOptions {
        allowed_issuers: Some(HashSet::from([ISS.to_owned()])),
        allowed_audiences: Some(HashSet::from([AUD.to_owned()])),
        ..Default::default()
    }
}

fn layer(key: VerifyingKey) -> JwtLayer {
    JwtLayer::builder(TrustedIssuer::new(ISS, key.with_kid("k1").unwrap()).add_audience(AUD))
        .with_clock(Arc::new(SystemClock))
        .build()
        .unwrap()
}

fn their_claims() -> JWTClaims<NoCustomClaims> {
    Claims::create(Duration::from_mins(5))
        .with_issuer(ISS)
        .with_audience(AUD)
        .with_subject("alice")
}

fn issuer(key: SigningKey) -> Issuer {
    Issuer::new(KeyRing::new(KeyId::new("k1").unwrap(), key), ISS, AUD)
        .unwrap()
        .with_clock(Arc::new(SystemClock))
}

#[tokio::test]
async fn hs256_both_directions() {
    let secret = [0x5au8; 32];
    let theirs = HS256Key::from_bytes(&secret).with_key_id("k1");
    let ours = issuer(
        SigningKey::hmac(Algorithm::HS256, SecretKey::from_bytes(&secret).unwrap()).unwrap(),
    );

    let token = ours.mint("alice").unwrap();
    let claims = theirs
        .verify_token::<NoCustomClaims>(&token, Some(options()))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));
    assert!(claims.jwt_id.is_some());

    let token = theirs.authenticate(their_claims()).unwrap();
    let key =
        VerifyingKey::hmac(Algorithm::HS256, &SecretKey::from_bytes(&secret).unwrap()).unwrap();
    let out = call(layer(key), Some(&token)).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.identity.unwrap().subject(), "alice");
}

#[tokio::test]
async fn es256_both_directions() {
    let pair = ES256KeyPair::generate().with_key_id("k1");
    let ours =
        issuer(SigningKey::from_pem(Algorithm::ES256, pair.to_pem().unwrap().as_bytes()).unwrap());
    let token = ours.mint("alice").unwrap();
    let claims = pair
        .public_key()
        .verify_token::<NoCustomClaims>(&token, Some(options()))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));

    let token = pair.sign(their_claims()).unwrap();
    let key = VerifyingKey::from_pem(
        Algorithm::ES256,
        pair.public_key().to_pem().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(call(layer(key), Some(&token)).await.status, 200);
}

#[tokio::test]
async fn eddsa_both_directions() {
    let pair = Ed25519KeyPair::generate().with_key_id("k1");
    let ours = issuer(SigningKey::from_pem(Algorithm::EdDSA, pair.to_pem().as_bytes()).unwrap());
    let token = ours.mint("alice").unwrap();
    let claims = pair
        .public_key()
        .verify_token::<NoCustomClaims>(&token, Some(options()))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));

    let token = pair.sign(their_claims()).unwrap();
    let key =
        VerifyingKey::from_pem(Algorithm::EdDSA, pair.public_key().to_pem().as_bytes()).unwrap();
    assert_eq!(call(layer(key), Some(&token)).await.status, 200);
}

#[tokio::test]
async fn rs256_both_directions() {
    let pair = RS256KeyPair::generate(2048).unwrap().with_key_id("k1");
    let ours =
        issuer(SigningKey::from_pem(Algorithm::RS256, pair.to_pem().unwrap().as_bytes()).unwrap());
    let token = ours.mint("alice").unwrap();
    let claims = pair
        .public_key()
        .verify_token::<NoCustomClaims>(&token, Some(options()))
        .unwrap();
    assert_eq!(claims.subject.as_deref(), Some("alice"));

    let token = pair.sign(their_claims()).unwrap();
    let key = VerifyingKey::from_pem(
        Algorithm::RS256,
        pair.public_key().to_pem().unwrap().as_bytes(),
    )
    .unwrap();
    assert_eq!(call(layer(key), Some(&token)).await.status, 200);
}
