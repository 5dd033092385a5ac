//! Property tests: arbitrary bytes, strings and structurally plausible junk as the bearer
//! token never panic and are always refused with 401 (never 200, never 500).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Signer, b64, builder, call_req};
use http::{HeaderValue, Request, StatusCode, header};
use proptest::prelude::*;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Sends `authorization` as the raw `Authorization` value; returns status and challenge.
fn send(rt: &tokio::runtime::Runtime, authorization: HeaderValue) -> (StatusCode, String) {
    let signer = Signer::hmac();
    let layer = builder(signer.verifying_key("k1")).build().unwrap();
    let req = Request::builder()
        .header(header::AUTHORIZATION, authorization)
        .body(String::new())
        .unwrap();
    let outcome = rt.block_on(call_req(layer, req));
    (outcome.status, outcome.challenge.unwrap_or_default())
}

fn assert_refused(status: StatusCode, challenge: &str) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{challenge}");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

/// JSON-ish text: objects with registered and other claims of every type, some broken.
fn jsonish() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("1".to_owned()),
        Just("-0".to_owned()),
        Just("1e3".to_owned()),
        Just("99999999999999999999".to_owned()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("[]".to_owned()),
        Just(r#"["api"]"#.to_owned()),
        Just(r#"{"a":[1,{"b":null}]}"#.to_owned()),
        "\"[ -~]{0,8}\"",
        "\"\\\\u00[0-9a-f]{2}\"",
        "[0-9]{1,12}",
    ];
    let key = prop_oneof![
        Just("iss"),
        Just("aud"),
        Just("sub"),
        Just("exp"),
        Just("nbf"),
        Just("iat"),
        Just("jti"),
        Just("scope"),
        Just("roles"),
        Just("scp"),
        Just("x"),
    ];
    prop::collection::vec((key, value, prop::bool::ANY), 0..10).prop_map(|members| {
        let body: Vec<String> = members
            .into_iter()
            .map(|(k, v, comma)| format!("\"{k}\":{v}{}", if comma { "" } else { " " }))
            .collect();
        format!("{{{}}}", body.join(","))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_after_bearer_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut value = b"Bearer ".to_vec();
        // Only what can travel in a header at all: control characters are shifted into the
        // visible range; everything from 0x80 up (obs-text) stays.
        value.extend(bytes.iter().map(|&b| if b < 0x20 || b == 0x7F { b ^ 0x40 } else { b }));
        let (status, challenge) = send(&runtime(), HeaderValue::from_bytes(&value).unwrap());
        assert_refused(status, &challenge);
    }

    #[test]
    fn arbitrary_strings_as_token_are_invalid_token(token in "[ -~]{0,400}") {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let (status, challenge) = send(&runtime(), value);
        assert_refused(status, &challenge);
        prop_assert!(challenge.contains(r#"error="invalid_token""#), "{}", challenge);
    }

    #[test]
    fn three_base64url_parts_of_junk_are_refused(
        h in prop::collection::vec(any::<u8>(), 0..80),
        p in prop::collection::vec(any::<u8>(), 0..200),
        s in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let token = format!("{}.{}.{}", b64(&h), b64(&p), b64(&s));
        let (status, challenge) = send(&runtime(), HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        assert_refused(status, &challenge);
        prop_assert!(challenge.contains(r#"error="invalid_token""#), "{}", challenge);
    }

    /// Correctly signed tokens whose payload is arbitrary bytes or JSON-ish junk: this
    /// reaches the claims parsers (fast scanner and serde) behind the signature check.
    #[test]
    fn signed_junk_payloads_are_refused(
        payload in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            jsonish().prop_map(String::into_bytes),
        ],
        header_json in prop_oneof![
            Just(r#"{"alg":"HS256","kid":"k1"}"#.to_owned()),
            Just(r#"{ "kid" : "k1" , "alg" : "HS256" , "typ" : "JWT" }"#.to_owned()),
            Just(r#"{"alg":"HS256","kid":"k1","crit":["exp"]}"#.to_owned()),
            Just(r#"{"alg":"HS256","kid":"k\u0031"}"#.to_owned()),
            Just(r#"{"alg":"HS256","kid":"k1","alg":"HS256"}"#.to_owned()),
            "\\{\"alg\":\"HS256\",\"kid\":\"k1\"[ -~]{0,6}",
        ],
    ) {
        let signer = Signer::hmac();
        let input = format!("{}.{}", b64(header_json.as_bytes()), b64(&payload));
        let token = format!("{input}.{}", b64(&signer.sign(input.as_bytes())));
        let (status, challenge) = send(&runtime(), HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        assert_refused(status, &challenge);
        prop_assert!(challenge.contains(r#"error="invalid_token""#), "{}", challenge);
    }
}
