//! What both JWT benchmarks share: one token and key per algorithm, the handler, and the
//! constructors of each implementation's service, so `jwt` (criterion) and `jwt_paired`
//! measure exactly the same things.
#![allow(dead_code)] // each bench uses its own subset

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;

use auth_core::SecretKey;
use auth_jwt::{Algorithm, JwtLayer, TrustedIssuer, VerifyingKey};
use aws_lc_rs::encoding::{AsDer, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use axum07::body::Body;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Request, Response, header};
use tower::{Service, ServiceExt};

pub(crate) const ISS: &str = "https://issuer.example";
pub(crate) const AUD: &str = "api";
pub(crate) const SECRET: &str = "bench-secret-bench-secret-bench!";

pub(crate) struct Case {
    pub(crate) alg: Algorithm,
    pub(crate) token: String,
    pub(crate) public_pem: String,
    pub(crate) raw: Raw,
}

#[allow(clippy::large_enum_variant)]
pub(crate) enum Raw {
    Hmac(aws_lc_rs::hmac::Key),
    Public(ParsedPublicKey),
}

pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

pub(crate) fn token(alg: Algorithm, sign: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT","kid":"k1"}}"#);
    let claims = serde_json::json!({
        "iss": ISS, "aud": AUD, "sub": "alice", "iat": now, "exp": now + 365 * 86_400,
        "jti": "0123456789abcdef", "scope": "read write"
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

pub(crate) fn cases() -> Vec<Case> {
    let rng = SystemRandom::new();
    let hmac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET.as_bytes());
    let hs = Case {
        alg: Algorithm::HS256,
        token: token(Algorithm::HS256, |m| {
            aws_lc_rs::hmac::sign(&hmac, m).as_ref().to_vec()
        }),
        public_pem: String::new(),
        raw: Raw::Hmac(hmac),
    };
    let rsa = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let rs = Case {
        alg: Algorithm::RS256,
        token: token(Algorithm::RS256, |m| {
            let mut sig = vec![0; rsa.public_modulus_len()];
            rsa.sign(&signature::RSA_PKCS1_SHA256, &rng, m, &mut sig)
                .unwrap();
            sig
        }),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(rsa.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(
                &signature::RSA_PKCS1_2048_8192_SHA256,
                rsa.public_key().as_ref(),
            )
            .unwrap(),
        ),
    };
    let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let es = Case {
        alg: Algorithm::ES256,
        token: token(Algorithm::ES256, |m| {
            ec.sign(&rng, m).unwrap().as_ref().to_vec()
        }),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(ec.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(
                &signature::ECDSA_P256_SHA256_FIXED,
                ec.public_key().as_ref(),
            )
            .unwrap(),
        ),
    };
    let ed = Ed25519KeyPair::generate().unwrap();
    let eddsa = Case {
        alg: Algorithm::EdDSA,
        token: token(Algorithm::EdDSA, |m| ed.sign(m).as_ref().to_vec()),
        public_pem: pem(
            "PUBLIC KEY",
            AsDer::<PublicKeyX509Der<'_>>::as_der(ed.public_key())
                .unwrap()
                .as_ref(),
        ),
        raw: Raw::Public(
            ParsedPublicKey::new(&signature::ED25519, ed.public_key().as_ref()).unwrap(),
        ),
    };
    vec![hs, rs, es, eddsa]
}

pub(crate) async fn handler(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::new(Body::empty()))
}

pub(crate) fn request(bearer: &str) -> Request<Body> {
    Request::builder()
        .header(header::AUTHORIZATION, bearer)
        .body(Body::empty())
        .unwrap()
}

/// Drives one request through a ready service and checks the status.
pub(crate) async fn run<S>(svc: &mut S, bearer: &str)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
{
    let res = svc
        .ready()
        .await
        .unwrap()
        .call(request(bearer))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    black_box(res);
}

impl Case {
    /// Our verifying key for this case (kid `k1`).
    pub(crate) fn our_key(&self) -> VerifyingKey {
        match self.alg {
            Algorithm::HS256 => {
                VerifyingKey::hmac(self.alg, &SecretKey::from_bytes(SECRET.as_bytes()).unwrap())
            }
            alg => VerifyingKey::from_pem(alg, self.public_pem.as_bytes()),
        }
        .unwrap()
        .with_kid("k1")
        .unwrap()
    }

    /// Our layer with the benchmark's issuer and audience.
    pub(crate) fn our_layer(&self) -> JwtLayer {
        JwtLayer::builder(TrustedIssuer::new(ISS, self.our_key()).add_audience(AUD))
            .build()
            .unwrap()
    }

    /// jwt-authorizer 0.15's layer with static keys and the same issuer and audience.
    pub(crate) fn authorizer_layer(
        &self,
        rt: &tokio::runtime::Runtime,
    ) -> jwt_authorizer::layer::AuthorizationLayer<serde_json::Value> {
        let validation = jwt_authorizer::Validation::new().iss(&[ISS]).aud(&[AUD]);
        let builder = match self.alg {
            Algorithm::HS256 => {
                jwt_authorizer::JwtAuthorizer::<serde_json::Value>::from_secret(SECRET)
            }
            Algorithm::RS256 => jwt_authorizer::JwtAuthorizer::from_rsa_pem_text(&self.public_pem),
            Algorithm::ES256 => jwt_authorizer::JwtAuthorizer::from_ec_pem_text(&self.public_pem),
            _ => jwt_authorizer::JwtAuthorizer::from_ed_pem_text(&self.public_pem),
        };
        let authorizer = rt.block_on(builder.validation(validation).build()).unwrap();
        jwt_authorizer::layer::AuthorizationLayer::new(vec![Arc::new(authorizer)])
    }

    /// The floor any layer can reach: the raw check (signature decoded, pre-parsed key) done
    /// inside a service, with the same harness as a layer.
    pub(crate) fn floor_service(
        &self,
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = Infallible> + '_ {
        tower::service_fn(move |req: Request<Body>| {
            let value = req
                .headers()
                .get(header::AUTHORIZATION)
                .unwrap()
                .to_str()
                .unwrap();
            let token = value.strip_prefix("Bearer ").unwrap();
            let (input, sig) = token.rsplit_once('.').unwrap();
            assert!(self.raw.verify(input.as_bytes(), &b64url(sig)));
            async move { Ok::<_, Infallible>(Response::new(Body::empty())) }
        })
    }

    /// The token split for the raw check: signing input and decoded signature.
    pub(crate) fn raw_parts(&self) -> (&str, Vec<u8>) {
        let (input, sig) = self.token.rsplit_once('.').unwrap();
        (input, b64url(sig))
    }
}

impl Raw {
    /// The bare signature check with the pre-parsed key.
    pub(crate) fn verify(&self, input: &[u8], sig: &[u8]) -> bool {
        match self {
            Self::Hmac(key) => aws_lc_rs::hmac::verify(key, input, sig).is_ok(),
            Self::Public(key) => key.verify_sig(input, sig).is_ok(),
        }
    }
}

/// Decodes unpadded base64url (the benches' own decoding, not the layer's).
pub(crate) fn b64url(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}
