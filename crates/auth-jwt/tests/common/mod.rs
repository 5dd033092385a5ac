//! Shared helpers: key generation, raw token crafting, a layered test service.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::convert::Infallible;
use std::sync::Arc;

use auth_core::{Identity, ManualClock, SecretKey};
pub use auth_jwt::TrustedIssuer;
use auth_jwt::{Algorithm, JwtLayer, JwtLayerBuilder, JwtRejection, JwtRejectionKind, KeySet};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tower::{BoxError, ServiceBuilder, ServiceExt};

pub const ISS: &str = "https://issuer.example";
pub const AUD: &str = "api";
/// 2025-01-01T00:00:00Z, the ManualClock default.
pub const NOW: i64 = 1_735_689_600;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// A private key that signs raw signing inputs.
pub enum Signer {
    Hmac(Vec<u8>),
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    pub fn hmac() -> Self {
        Self::Hmac(vec![0x42; 32])
    }
    pub fn rsa() -> Self {
        Self::Rsa(aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap())
    }
    pub fn ec() -> Self {
        Self::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }
    pub fn ed() -> Self {
        Self::Ed(Ed25519KeyPair::generate().unwrap())
    }

    pub fn alg(&self) -> Algorithm {
        match self {
            Self::Hmac(_) => Algorithm::HS256,
            Self::Rsa(_) => Algorithm::RS256,
            Self::Ec(_) => Algorithm::ES256,
            Self::Ed(_) => Algorithm::EdDSA,
        }
    }

    pub fn sign(&self, input: &[u8]) -> Vec<u8> {
        match self {
            Self::Hmac(k) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, k);
                aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
            }
            Self::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input,
                    &mut sig,
                )
                .unwrap();
                sig
            }
            Self::Ec(k) => k
                .sign(&SystemRandom::new(), input)
                .unwrap()
                .as_ref()
                .to_vec(),
            Self::Ed(k) => k.sign(input).as_ref().to_vec(),
        }
    }

    /// The raw public key bytes (PKCS#1 for RSA, point for EC, 32 bytes for Ed25519).
    pub fn public_raw(&self) -> Vec<u8> {
        match self {
            Self::Hmac(k) => k.clone(),
            Self::Rsa(k) => k.public_key().as_ref().to_vec(),
            Self::Ec(k) => k.public_key().as_ref().to_vec(),
            Self::Ed(k) => k.public_key().as_ref().to_vec(),
        }
    }

    /// SubjectPublicKeyInfo DER.
    pub fn public_spki(&self) -> Vec<u8> {
        match self {
            Self::Hmac(k) => k.clone(),
            Self::Rsa(k) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(k.public_key())
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
            Self::Ec(k) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(k.public_key())
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
            Self::Ed(k) => {
                AsDer::<aws_lc_rs::encoding::PublicKeyX509Der<'_>>::as_der(k.public_key())
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
        }
    }

    pub fn verifying_key(&self, kid: &str) -> auth_jwt::VerifyingKey {
        let key = match self {
            Self::Hmac(k) => {
                auth_jwt::VerifyingKey::hmac(Algorithm::HS256, &SecretKey::from_bytes(k).unwrap())
                    .unwrap()
            }
            _ => auth_jwt::VerifyingKey::from_der(self.alg(), &self.public_raw()).unwrap(),
        };
        key.with_kid(kid).unwrap()
    }
}

/// A token with exactly this header and payload, signed by `signer`.
pub fn craft(header: &Value, payload: &Value, signer: &Signer) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = signer.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

pub fn good_claims() -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": "alice",
        "iat": NOW - 10, "exp": NOW + 600, "jti": "j1",
        "scope": "read write", "roles": ["admin"]
    })
}

pub fn header_for(signer: &Signer, kid: &str) -> Value {
    json!({"alg": signer.alg().as_str(), "typ": "JWT", "kid": kid})
}

pub fn token(signer: &Signer) -> String {
    craft(&header_for(signer, "k1"), &good_claims(), signer)
}

/// The test issuer `ISS` with audience `AUD`, verified with `keys`.
pub fn trusted(keys: impl Into<KeySet>) -> TrustedIssuer {
    TrustedIssuer::new(ISS, keys).add_audience(AUD)
}

/// A layer builder trusting `trusted`, on the test clock.
pub fn builder_with(trusted: TrustedIssuer) -> JwtLayerBuilder<()> {
    JwtLayer::builder(trusted).with_clock(Arc::new(ManualClock::at_unix(NOW)))
}

/// A layer builder trusting `ISS` (audience `AUD`) with `keys`, on the test clock.
pub fn builder(keys: impl Into<KeySet>) -> JwtLayerBuilder<()> {
    builder_with(trusted(keys))
}

#[derive(Debug)]
pub struct Outcome {
    pub status: StatusCode,
    pub challenge: Option<String>,
    pub kind: Option<JwtRejectionKind>,
    pub identity: Option<Identity>,
    pub body: String,
}

/// Runs one request with `Authorization: Bearer <token>` (or no header for `None`).
pub async fn call<C>(layer: JwtLayer<C>, token: Option<&str>) -> Outcome
where
    C: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    let mut req = Request::builder();
    if let Some(token) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    call_req(layer, req.body(String::new()).unwrap()).await
}

pub async fn call_req<C>(layer: JwtLayer<C>, req: Request<String>) -> Outcome
where
    C: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
{
    let svc = ServiceBuilder::new()
        .layer(layer)
        .service_fn(|req: Request<String>| async move {
            // The layer ran: an identity, or the marker when it let the request through
            // without one.
            assert!(
                req.extensions()
                    .get::<auth_core::AuthLayerMarker>()
                    .is_some()
                    || req.extensions().get::<Identity>().is_some()
            );
            let mut res = Response::new(String::new());
            if let Some(id) = req.extensions().get::<Identity>() {
                res.extensions_mut().insert(id.clone());
            }
            Ok::<_, Infallible>(res)
        });
    let res = svc.oneshot(req).await.map_err(BoxError::from).unwrap();
    Outcome {
        status: res.status(),
        challenge: res
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned()),
        kind: res
            .extensions()
            .get::<JwtRejection>()
            .map(JwtRejection::kind),
        identity: res.extensions().get::<Identity>().cloned(),
        body: res.into_body(),
    }
}

/// Asserts a 401 `invalid_token` of the given kind, with an empty body.
pub fn assert_invalid(outcome: &Outcome, kind: JwtRejectionKind) {
    assert_eq!(outcome.status, StatusCode::UNAUTHORIZED, "{outcome:?}");
    assert_eq!(outcome.kind, Some(kind), "{outcome:?}");
    assert_eq!(
        outcome.challenge.as_deref(),
        Some(r#"Bearer error="invalid_token""#),
        "{outcome:?}"
    );
    assert!(outcome.body.is_empty());
}
