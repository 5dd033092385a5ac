//! Public test vectors: RFC 7515 Appendix A, RFC 7519 section 6.1, RFC 8037 Appendix A.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use auth_core::{Claims, ManualClock};
use auth_jwt::{Algorithm, Jwk, JwtLayer, JwtRejectionKind as K, VerifyingKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;

/// The payload shared by RFC 7515 A.1 to A.4 (and RFC 7519 3.1 / 6.1).
const PAYLOAD: &str = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";

fn split(token: &str) -> (&str, Vec<u8>) {
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input, URL_SAFE_NO_PAD.decode(sig).unwrap())
}

fn jwk(json: &str) -> Jwk {
    serde_json::from_str(json).unwrap()
}

/// RFC 7515 A.1: HMAC SHA-256.
const A1_KEY: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;
const A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

#[test]
fn rfc7515_a1_hs256_verifies() {
    let key = VerifyingKey::from_jwk(&jwk(A1_KEY), Some(Algorithm::HS256)).unwrap();
    let (input, sig) = split(A1_TOKEN);
    assert!(input.ends_with(PAYLOAD));
    assert!(key.verify_signature(input.as_bytes(), &sig));
    let mut tampered = sig;
    tampered[0] ^= 1;
    assert!(!key.verify_signature(input.as_bytes(), &tampered));
    // The payload is a valid claims set with strict types.
    let claims: Claims<serde_json::Value> =
        Claims::from_json(&URL_SAFE_NO_PAD.decode(PAYLOAD).unwrap()).unwrap();
    assert_eq!(claims.iss.as_deref(), Some("joe"));
    assert_eq!(claims.exp.map(|e| e.unix()), Some(1_300_819_380));
}

#[tokio::test]
async fn rfc7515_a1_through_the_layer_needs_aud_and_sub() {
    // Signature and time check out (clock set before exp), but the vector has no `aud`:
    // a layer that requires one refuses it.
    let key = VerifyingKey::from_jwk(&jwk(A1_KEY), Some(Algorithm::HS256)).unwrap();
    let layer = JwtLayer::builder(TrustedIssuer::new("joe", key).add_audience("api"))
        .with_clock(Arc::new(ManualClock::at_unix(1_300_819_000)))
        .build()
        .unwrap();
    assert_invalid(
        &call(layer.clone(), Some(A1_TOKEN)).await,
        K::InvalidAudience,
    );
    // After exp: expired first.
    let key = VerifyingKey::from_jwk(&jwk(A1_KEY), Some(Algorithm::HS256)).unwrap();
    let late = JwtLayer::builder(TrustedIssuer::new("joe", key).add_audience("api"))
        .with_clock(Arc::new(ManualClock::at_unix(1_300_819_380 + 31)))
        .build()
        .unwrap();
    assert_invalid(&call(late, Some(A1_TOKEN)).await, K::Expired);
}

/// RFC 7515 A.2: RSASSA-PKCS1-v1_5 SHA-256.
const A2_KEY: &str = r#"{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}"#;
const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

#[test]
fn rfc7515_a2_rs256_verifies() {
    let key = VerifyingKey::from_jwk(&jwk(A2_KEY), Some(Algorithm::RS256)).unwrap();
    let (input, sig) = split(A2_TOKEN);
    assert!(key.verify_signature(input.as_bytes(), &sig));
    let mut tampered = sig;
    tampered[10] ^= 0x80;
    assert!(!key.verify_signature(input.as_bytes(), &tampered));
}

/// RFC 7515 A.3: ECDSA P-256 SHA-256.
const A3_KEY: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

#[test]
fn rfc7515_a3_es256_verifies() {
    let key = VerifyingKey::from_jwk(&jwk(A3_KEY), Some(Algorithm::ES256)).unwrap();
    let (input, sig) = split(A3_TOKEN);
    assert!(key.verify_signature(input.as_bytes(), &sig));
    assert!(!key.verify_signature(input.as_bytes(), &[0u8; 64]));
}

/// RFC 7515 A.4: ECDSA P-521 SHA-512.
const A4_KEY: &str = r#"{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}"#;
const A4_TOKEN: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

#[test]
fn rfc7515_a4_es512_verifies() {
    let key = VerifyingKey::from_jwk(&jwk(A4_KEY), Some(Algorithm::ES512)).unwrap();
    let (input, sig) = split(A4_TOKEN);
    assert!(key.verify_signature(input.as_bytes(), &sig));
    let mut tampered = sig;
    tampered[5] ^= 1;
    assert!(!key.verify_signature(input.as_bytes(), &tampered));
}

/// RFC 7515 A.5 and RFC 7519 6.1: the unsecured JWS (`alg: none`).
const UNSECURED: &str = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.";

#[tokio::test]
async fn rfc7515_a5_and_rfc7519_6_1_unsecured_jwt_is_rejected() {
    assert_eq!(
        URL_SAFE_NO_PAD.decode("eyJhbGciOiJub25lIn0").unwrap(),
        br#"{"alg":"none"}"#
    );
    let key = VerifyingKey::from_jwk(&jwk(A1_KEY), Some(Algorithm::HS256)).unwrap();
    let layer = JwtLayer::builder(TrustedIssuer::new("joe", key).add_audience("api"))
        .with_clock(Arc::new(ManualClock::at_unix(1_300_819_000)))
        .build()
        .unwrap();
    let out = call(layer.clone(), Some(UNSECURED)).await;
    assert_invalid(&out, K::Malformed);
    // With any signature appended, `none` is still not an algorithm.
    let out = call(layer, Some(&format!("{UNSECURED}AAAA"))).await;
    assert_invalid(&out, K::InvalidAlgorithm);
}

/// RFC 8037 A.1/A.2/A.4: Ed25519 signing of "Example of Ed25519 signing".
const ED_PUBLIC: &str =
    r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
const ED_SEED: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
const ED_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#[test]
fn rfc8037_a_ed25519_verifies_and_signing_is_deterministic() {
    let key = VerifyingKey::from_jwk(&jwk(ED_PUBLIC), Some(Algorithm::EdDSA)).unwrap();
    let (input, sig) = split(ED_TOKEN);
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode("RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc")
            .unwrap(),
        b"Example of Ed25519 signing"
    );
    assert!(key.verify_signature(input.as_bytes(), &sig));
    // A.4: Ed25519 is deterministic, so the private seed reproduces the exact signature.
    let seed = URL_SAFE_NO_PAD.decode(ED_SEED).unwrap();
    let public = URL_SAFE_NO_PAD
        .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
        .unwrap();
    let pair =
        aws_lc_rs::signature::Ed25519KeyPair::from_seed_and_public_key(&seed, &public).unwrap();
    assert_eq!(pair.sign(input.as_bytes()).as_ref(), sig.as_slice());
    // Wrong curve name or key type: refused at configuration time.
    let wrong = jwk(&ED_PUBLIC.replace("Ed25519", "Ed448"));
    assert!(VerifyingKey::from_jwk(&wrong, Some(Algorithm::EdDSA)).is_err());
}
