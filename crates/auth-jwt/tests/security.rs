//! Every JWT attack of SECURITY.md and issue 5, item 7, as a negative test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use auth_core::SecretKey;
use auth_jwt::{Algorithm, ConfigError, Jwk, JwtRejectionKind as K, KeySet, VerifyingKey};
use common::*;
use serde_json::json;

fn rsa_layer(signer: &Signer) -> auth_jwt::JwtLayer {
    builder(signer.verifying_key("k1")).build().unwrap()
}

#[tokio::test]
async fn valid_tokens_of_every_algorithm_pass() {
    for signer in [Signer::hmac(), Signer::rsa(), Signer::ec(), Signer::ed()] {
        let out = call(rsa_layer(&signer), Some(&token(&signer))).await;
        assert_eq!(out.status, 200, "{:?}: {out:?}", signer.alg());
        let id = out.identity.unwrap();
        assert_eq!(id.subject(), "alice");
        assert_eq!(id.scopes(), ["read", "write"]);
        assert_eq!(id.roles(), ["admin"]);
    }
}

#[tokio::test]
async fn alg_none_in_any_case_is_rejected() {
    let signer = Signer::hmac();
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(json!({"alg": alg, "kid": "k1"}).to_string().as_bytes());
        let payload = b64(good_claims().to_string().as_bytes());
        // Empty signature, as RFC 7519 6.1 has it, and a junk one.
        for sig in ["", "AAAA"] {
            let out = call(
                rsa_layer(&signer),
                Some(&format!("{header}.{payload}.{sig}")),
            )
            .await;
            assert_eq!(out.status, 401, "{alg} {sig:?}");
        }
        let out = call(
            rsa_layer(&signer),
            Some(&format!("{header}.{payload}.AAAA")),
        )
        .await;
        assert_invalid(&out, K::InvalidAlgorithm);
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_bytes_is_rejected() {
    for signer in [Signer::rsa(), Signer::ec(), Signer::ed()] {
        let layer = rsa_layer(&signer);
        let spki = signer.public_spki();
        let mut secrets = vec![
            pem("PUBLIC KEY", &spki),
            spki.clone(),
            signer.public_raw(),
            b64(&signer.public_raw()).into_bytes(),
        ];
        if matches!(signer, Signer::Rsa(_)) {
            secrets.push(pem("RSA PUBLIC KEY", &signer.public_raw()));
        }
        for secret in secrets {
            let forger = Signer::Hmac(secret);
            let forged = craft(
                &json!({"alg": "HS256", "kid": "k1"}),
                &good_claims(),
                &forger,
            );
            assert_invalid(
                &call(layer.clone(), Some(&forged)).await,
                K::InvalidAlgorithm,
            );
        }
    }
}

#[test]
fn public_key_material_is_refused_as_an_hmac_secret() {
    let signer = Signer::ec();
    let pem = pem("PUBLIC KEY", &signer.public_spki());
    let err = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::from_bytes(&pem).unwrap());
    assert!(matches!(
        err,
        Err(ConfigError::SecretLooksLikePublicKey { .. })
    ));
    let jwk = br#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"}"#;
    let err = VerifyingKey::hmac(Algorithm::HS256, &SecretKey::from_bytes(jwk).unwrap());
    assert!(matches!(
        err,
        Err(ConfigError::SecretLooksLikePublicKey { .. })
    ));
}

#[test]
fn short_and_empty_hmac_keys_are_refused() {
    assert!(SecretKey::from_bytes(b"").is_err());
    let short = SecretKey::from_bytes(&[1; 32]).unwrap();
    assert!(VerifyingKey::hmac(Algorithm::HS256, &short).is_ok());
    assert!(VerifyingKey::hmac(Algorithm::HS384, &short).is_err());
    assert!(VerifyingKey::hmac(Algorithm::HS512, &short).is_err());
    let mut jwk = Jwk::new("oct");
    jwk.k = Some(String::new());
    assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::HS256)).is_err());
    jwk.k = Some(b64(&[1; 31]));
    assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::HS256)).is_err());
}

#[tokio::test]
async fn kid_path_and_sql_injection_is_just_an_unknown_key() {
    let signer = Signer::hmac();
    for kid in [
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1",
        "k1' --",
        "k1\u{0000}",
        "http://evil.example/key",
        "",
    ] {
        let t = craft(
            &json!({"alg": "HS256", "kid": kid}),
            &good_claims(),
            &signer,
        );
        assert_invalid(&call(rsa_layer(&signer), Some(&t)).await, K::UnknownKey);
    }
    // A non-string kid is malformed.
    let t = craft(&json!({"alg": "HS256", "kid": 1}), &good_claims(), &signer);
    assert_invalid(&call(rsa_layer(&signer), Some(&t)).await, K::Malformed);
}

#[tokio::test]
async fn embedded_jwk_jku_x5u_and_x5c_are_never_used() {
    let trusted = Signer::ec();
    let attacker = Signer::ec();
    let Signer::Ec(pair) = &attacker else {
        unreachable!()
    };
    let point = aws_lc_rs::signature::KeyPair::public_key(pair)
        .as_ref()
        .to_vec();
    let jwk = json!({
        "kty": "EC", "crv": "P-256",
        "x": b64(point.get(1..33).unwrap()), "y": b64(point.get(33..).unwrap())
    });
    let headers = [
        json!({"alg": "ES256", "jwk": jwk}),
        json!({"alg": "ES256", "kid": "k1", "jwk": jwk}),
        json!({"alg": "ES256", "kid": "k1", "jku": "https://evil.example/jwks.json"}),
        json!({"alg": "ES256", "kid": "k1", "x5u": "https://evil.example/cert.pem"}),
        json!({"alg": "ES256", "kid": "k1", "x5c": [b64(&attacker.public_spki())]}),
    ];
    for header in headers {
        let t = craft(&header, &good_claims(), &attacker);
        let out = call(rsa_layer(&trusted), Some(&t)).await;
        assert_eq!(out.status, 401, "{header}");
        assert!(
            matches!(out.kind, Some(K::InvalidSignature | K::UnknownKey)),
            "{header}"
        );
    }
}

#[tokio::test]
async fn all_zero_ecdsa_and_eddsa_signatures_are_rejected() {
    for (signer, len) in [(Signer::ec(), 64), (Signer::ed(), 64)] {
        let t = token(&signer);
        let (input, _) = t.rsplit_once('.').unwrap();
        let zero = format!("{input}.{}", b64(&vec![0u8; len]));
        assert_invalid(
            &call(rsa_layer(&signer), Some(&zero)).await,
            K::InvalidSignature,
        );
    }
}

#[tokio::test]
async fn stripped_and_truncated_signatures_are_rejected() {
    for signer in [Signer::hmac(), Signer::rsa(), Signer::ec(), Signer::ed()] {
        let t = token(&signer);
        let (input, sig) = t.rsplit_once('.').unwrap();
        let layer = rsa_layer(&signer);
        assert_invalid(
            &call(layer.clone(), Some(&format!("{input}."))).await,
            K::Malformed,
        );
        assert_invalid(&call(layer.clone(), Some(input)).await, K::Malformed);
        // Whole 3-byte groups cut off: canonical base64url, just a short signature.
        let truncated = format!("{input}.{}", sig.get(..sig.len() - 4).unwrap());
        let out = call(layer.clone(), Some(&truncated)).await;
        assert_eq!(out.status, 401);
        assert!(
            matches!(out.kind, Some(K::InvalidSignature | K::Malformed)),
            "{out:?}"
        );
        let half = format!("{input}.{}", sig.get(..sig.len() / 2 / 4 * 4).unwrap());
        assert_invalid(&call(layer.clone(), Some(&half)).await, K::InvalidSignature);
        let extra = format!("{t}.AAAA");
        assert_invalid(&call(layer, Some(&extra)).await, K::Malformed);
    }
}

#[tokio::test]
async fn tampered_payload_is_rejected() {
    for signer in [Signer::hmac(), Signer::rsa(), Signer::ec(), Signer::ed()] {
        let t = token(&signer);
        let parts: Vec<&str> = t.split('.').collect();
        let mut claims = good_claims();
        claims["sub"] = json!("mallory");
        let tampered = format!(
            "{}.{}.{}",
            parts[0],
            b64(claims.to_string().as_bytes()),
            parts[2]
        );
        assert_invalid(
            &call(rsa_layer(&signer), Some(&tampered)).await,
            K::InvalidSignature,
        );
    }
}

async fn with_claims(edit: impl FnOnce(&mut serde_json::Value)) -> Outcome {
    let signer = Signer::hmac();
    let mut claims = good_claims();
    edit(&mut claims);
    let t = craft(&header_for(&signer, "k1"), &claims, &signer);
    call(rsa_layer(&signer), Some(&t)).await
}

#[tokio::test]
async fn wrong_missing_or_wrong_typed_iss_is_rejected() {
    assert_invalid(
        &with_claims(|c| c["iss"] = json!("https://evil.example")).await,
        K::InvalidIssuer,
    );
    assert_invalid(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("iss");
        })
        .await,
        K::InvalidIssuer,
    );
    assert_invalid(
        &with_claims(|c| c["iss"] = json!([ISS])).await,
        K::InvalidIssuer,
    );
    assert_invalid(
        &with_claims(|c| c["iss"] = json!(null)).await,
        K::InvalidIssuer,
    );
    assert_invalid(
        &with_claims(|c| c["iss"] = json!(format!("{ISS}/"))).await,
        K::InvalidIssuer,
    );
}

#[tokio::test]
async fn wrong_missing_or_wrong_typed_aud_is_rejected() {
    assert_invalid(
        &with_claims(|c| c["aud"] = json!("other")).await,
        K::InvalidAudience,
    );
    assert_invalid(
        &with_claims(|c| c["aud"] = json!(["other", "x"])).await,
        K::InvalidAudience,
    );
    assert_invalid(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("aud");
        })
        .await,
        K::InvalidAudience,
    );
    assert_invalid(
        &with_claims(|c| c["aud"] = json!(1)).await,
        K::InvalidAudience,
    );
    assert_invalid(
        &with_claims(|c| c["aud"] = json!([AUD, 1])).await,
        K::InvalidAudience,
    );
    assert_invalid(
        &with_claims(|c| c["aud"] = json!({"aud": AUD})).await,
        K::InvalidAudience,
    );
    // An array containing the audience passes.
    assert_eq!(
        with_claims(|c| c["aud"] = json!(["x", AUD])).await.status,
        200
    );
}

#[tokio::test]
async fn missing_expired_or_wrong_typed_exp_is_rejected() {
    assert_invalid(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("exp");
        })
        .await,
        K::MissingExpiry,
    );
    assert_invalid(
        &with_claims(|c| c["exp"] = json!(NOW - 31)).await,
        K::Expired,
    );
    assert_invalid(
        &with_claims(|c| c["exp"] = json!(NOW - 30)).await,
        K::Expired,
    );
    // Within the 30 s default leeway.
    assert_eq!(
        with_claims(|c| c["exp"] = json!(NOW - 29)).await.status,
        200
    );
    for bad in [
        json!("9999999999"),
        json!(1.5e10),
        json!(null),
        json!(true),
        json!([1]),
    ] {
        assert_invalid(&with_claims(|c| c["exp"] = bad.clone()).await, K::Malformed);
    }
}

#[tokio::test]
async fn future_or_wrong_typed_nbf_and_iat_are_rejected() {
    assert_invalid(
        &with_claims(|c| c["nbf"] = json!(NOW + 31)).await,
        K::NotYetValid,
    );
    assert_eq!(
        with_claims(|c| c["nbf"] = json!(NOW + 29)).await.status,
        200
    );
    assert_invalid(&with_claims(|c| c["nbf"] = json!("0")).await, K::Malformed);
    assert_invalid(
        &with_claims(|c| c["iat"] = json!(NOW + 3600)).await,
        K::NotYetValid,
    );
    assert_invalid(&with_claims(|c| c["iat"] = json!(-1.5)).await, K::Malformed);
}

#[tokio::test]
async fn missing_subject_is_rejected() {
    assert_invalid(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("sub");
        })
        .await,
        K::MissingSubject,
    );
}

#[tokio::test]
async fn empty_or_non_string_subject_is_rejected() {
    let out = with_claims(|c| c["sub"] = json!("")).await;
    assert_invalid(&out, K::MissingSubject);
    assert!(out.identity.is_none());
    for sub in [
        json!(1),
        json!(null),
        json!(["alice"]),
        json!({"id": "alice"}),
    ] {
        let out = with_claims(|c| c["sub"] = sub.clone()).await;
        assert_eq!(out.status, 401, "{sub}");
        assert!(
            matches!(out.kind, Some(K::Malformed | K::MissingSubject)),
            "{sub}: {out:?}"
        );
    }
}

/// A token with exactly these header and payload texts (duplicate members and all).
fn raw_token(signer: &Signer, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    format!("{input}.{}", b64(&signer.sign(input.as_bytes())))
}

#[tokio::test]
async fn a_claims_set_naming_a_member_twice_is_rejected_on_every_path() {
    #[derive(Clone, serde::Deserialize)]
    #[allow(dead_code)] // Read by serde only: it puts the claims on the typed path.
    struct Tenant {
        #[serde(default)]
        tenant: Option<String>,
    }
    let signer = Signer::hmac();
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#;
    let base = format!(
        r#""iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{}"#,
        NOW + 600
    );
    let untyped = rsa_layer(&signer);
    let typed = builder(signer.verifying_key("k1"))
        .with_claims::<Tenant>()
        .build()
        .unwrap();
    let raw = builder(signer.verifying_key("k1"))
        .with_raw_claims(true)
        .build()
        .unwrap();
    // The same claims once each: accepted, with one role.
    let once = raw_token(&signer, header, &format!(r#"{{{base},"roles":["user"]}}"#));
    let out = call(untyped.clone(), Some(&once)).await;
    assert_eq!(out.status, 200, "{out:?}");
    assert_eq!(out.identity.unwrap().roles(), ["user"]);
    for twice in [
        r#""roles":["user"],"roles":["admin"]"#,
        r#""roles":"user","roles":"admin""#,
        r#""scope":"read","scope":"admin""#,
        r#""scp":["read"],"scp":["admin"]"#,
        r#""roles":["user"],"roles":["admin"]"#,
        r#""tenant":"a","tenant":"b""#,
        r#""x":1,"x":{"y":2}"#,
        r#""sub":"alice""#,
    ] {
        let t = raw_token(&signer, header, &format!("{{{base},{twice}}}"));
        for out in [
            call(untyped.clone(), Some(&t)).await,
            call(typed.clone(), Some(&t)).await,
            call(raw.clone(), Some(&t)).await,
        ] {
            assert_invalid(&out, K::Malformed);
            assert!(out.identity.is_none(), "{twice}");
        }
    }
}

#[tokio::test]
async fn a_header_naming_a_member_twice_is_rejected() {
    let signer = Signer::hmac();
    let payload = good_claims().to_string();
    for header in [
        r#"{"alg":"HS256","kid":"k1","kid":"k1"}"#,
        r#"{"alg":"HS256","kid":"k1","typ":"JWT","typ":"JWT"}"#,
        r#"{"alg":"HS256","kid":"k1","x5u":"https://a","x5u":"https://b"}"#,
        r#"{"alg":"HS256","kid":"k1","kid":"k1"}"#,
    ] {
        let t = raw_token(&signer, header, &payload);
        assert_invalid(&call(rsa_layer(&signer), Some(&t)).await, K::Malformed);
    }
}

#[tokio::test]
async fn duplicate_registered_claims_are_rejected() {
    let signer = Signer::hmac();
    let header = b64(header_for(&signer, "k1").to_string().as_bytes());
    let payload = format!(
        r#"{{"iss":"{ISS}","aud":"{AUD}","sub":"alice","exp":{},"exp":{}}}"#,
        NOW + 600,
        NOW + 999_999
    );
    let input = format!("{header}.{}", b64(payload.as_bytes()));
    let t = format!("{input}.{}", b64(&signer.sign(input.as_bytes())));
    assert_invalid(&call(rsa_layer(&signer), Some(&t)).await, K::Malformed);
}

#[tokio::test]
async fn unknown_crit_header_is_rejected() {
    let signer = Signer::hmac();
    // `null` included: RFC 7515 allows only a non-empty array, and none is understood.
    for crit in [
        json!(["exp"]),
        json!(["b64"]),
        json!([]),
        json!("x"),
        json!(null),
    ] {
        let t = craft(
            &json!({"alg": "HS256", "kid": "k1", "crit": crit, "exp": 1}),
            &good_claims(),
            &signer,
        );
        assert_invalid(
            &call(rsa_layer(&signer), Some(&t)).await,
            K::UnsupportedCritical,
        );
    }
}

#[tokio::test]
async fn oversized_token_is_rejected_before_decoding() {
    let signer = Signer::hmac();
    let mut claims = good_claims();
    claims["pad"] = json!("x".repeat(9000));
    let t = craft(&header_for(&signer, "k1"), &claims, &signer);
    assert_invalid(&call(rsa_layer(&signer), Some(&t)).await, K::TooLarge);
    let junk = "A".repeat(100_000);
    assert_invalid(&call(rsa_layer(&signer), Some(&junk)).await, K::TooLarge);
    // A larger cap accepts it.
    let layer = builder(signer.verifying_key("k1"))
        .with_max_token_len(16 * 1024)
        .build()
        .unwrap();
    assert_eq!(call(layer, Some(&t)).await.status, 200);
}

#[test]
fn jwk_that_says_another_alg_or_use_enc_is_refused() {
    let signer = Signer::ec();
    let point = signer.public_raw();
    let mut jwk = Jwk::new("EC");
    jwk.crv = Some("P-256".into());
    jwk.x = Some(b64(point.get(1..33).unwrap()));
    jwk.y = Some(b64(point.get(33..).unwrap()));
    jwk.kid = Some("k1".into());
    assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::ES256)).is_ok());

    let mut other_alg = jwk.clone();
    other_alg.alg = Some("ES384".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&other_alg, Some(Algorithm::ES256)),
        Err(ConfigError::AlgorithmMismatch { .. })
    ));
    other_alg.alg = Some("HS256".into());
    assert!(VerifyingKey::from_jwk(&other_alg, None).is_err());

    let mut enc = jwk.clone();
    enc.use_ = Some("enc".into());
    assert!(matches!(
        VerifyingKey::from_jwk(&enc, Some(Algorithm::ES256)),
        Err(ConfigError::NotASignatureKey { .. })
    ));
    let mut ops = jwk.clone();
    ops.key_ops = Some(vec!["encrypt".into()]);
    assert!(matches!(
        VerifyingKey::from_jwk(&ops, Some(Algorithm::ES256)),
        Err(ConfigError::NotASignatureKey { .. })
    ));
    // Wrong curve and wrong key type.
    assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::ES384)).is_err());
    assert!(VerifyingKey::from_jwk(&jwk, Some(Algorithm::RS256)).is_err());
}

#[tokio::test]
async fn token_signed_by_a_key_bound_to_another_alg_is_rejected() {
    // The key is ES256; a token claiming ES384 (or RS256) under its kid is refused unverified.
    let signer = Signer::ec();
    for alg in ["ES384", "RS256", "PS256", "EdDSA", "HS512"] {
        let t = craft(&json!({"alg": alg, "kid": "k1"}), &good_claims(), &signer);
        assert_invalid(
            &call(rsa_layer(&signer), Some(&t)).await,
            K::InvalidAlgorithm,
        );
    }
}

#[tokio::test]
async fn malformed_inputs_never_panic_and_are_invalid_token() {
    let signer = Signer::hmac();
    let inputs = [
        "a",
        "..",
        "a.b.c",
        "e30.e30.",
        "W10.e30.AAAA",
        "e30.W10.AAAA",
        "!!!.e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e30=.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.%%%.AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA====",
        "eyJhbGciOiJIUzI1NiJ9",
    ];
    for input in inputs {
        let out = call(rsa_layer(&signer), Some(input)).await;
        assert_eq!(out.status, 401, "{input}");
        assert!(out.kind.is_some());
    }
    // Header not an object, alg not a string, payload not an object.
    for (h, p) in [
        (json!(["HS256"]), good_claims()),
        (json!({"alg": 256, "kid": "k1"}), good_claims()),
        (header_for(&signer, "k1"), json!(["alice"])),
        (header_for(&signer, "k1"), json!("alice")),
    ] {
        let t = craft(&h, &p, &signer);
        let out = call(rsa_layer(&signer), Some(&t)).await;
        assert_eq!(out.status, 401, "{h} {p}");
    }
}

#[tokio::test]
async fn rejection_bodies_never_reveal_the_cause() {
    let signer = Signer::hmac();
    let out = with_claims(|c| c["exp"] = json!(NOW - 3600)).await;
    assert!(out.body.is_empty());
    assert!(!format!("{:?}", out.challenge).contains("expired"));
    let _ = KeySet::single(signer.verifying_key("k1"));
}
