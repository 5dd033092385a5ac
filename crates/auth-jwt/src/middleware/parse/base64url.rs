//! Canonical, unpadded base64url: the encoding of a token's three parts.
//!
//! Its own module because it is the first step of every request and needs nothing from the
//! JSON parsers; the decoding itself is `base64-simd`'s, this only fixes the language.

use std::mem::MaybeUninit;

/// The decoded length of `len` base64url characters without padding, or `None` when no
/// canonical encoding has that length.
pub(in crate::middleware) fn decoded_len(len: usize) -> Option<usize> {
    match len % 4 {
        1 => None,
        rem => Some(len / 4 * 3 + rem.saturating_sub(1)),
    }
}

/// Decodes canonical, unpadded base64url (`=` refused, unused trailing bits must be zero:
/// the same language as `base64`'s `URL_SAFE_NO_PAD`) into the front of `out`, which need
/// not be initialised.
///
/// `None` when the input is not such an encoding or `out` is too small. The work is
/// `base64-simd`'s (SIMD where the CPU has it, detected once): a token's three parts are
/// the largest per-request input the layer reads, an RSA signature alone 342 characters.
pub(in crate::middleware) fn b64url_decode<'o>(
    input: &[u8],
    out: &'o mut [MaybeUninit<u8>],
) -> Option<&'o [u8]> {
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    let decoded = base64_simd::URL_SAFE_NO_PAD
        .decode(input, base64_simd::Out::from_uninit_slice(out))
        .ok()?;
    Some(decoded)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        #[test]
        fn base64url_decoder_matches_the_base64_crate(bytes in prop::collection::vec(any::<u8>(), 0..100), junk in "[A-Za-z0-9_=+/-]{0,12}") {
            let encoded = URL_SAFE_NO_PAD.encode(&bytes);
            let mut out = [MaybeUninit::uninit(); 128];
            prop_assert_eq!(b64url_decode(encoded.as_bytes(), &mut out), Some(&bytes[..]));
            let mut out = [MaybeUninit::uninit(); 16];
            let ours = b64url_decode(junk.as_bytes(), &mut out).map(<[u8]>::to_vec);
            prop_assert_eq!(ours, URL_SAFE_NO_PAD.decode(&junk).ok(), "{}", junk);
        }
    }
}
