//! Parsing the request's `Cookie` header(s), strictly where it matters.
//!
//! - Names are compared byte for byte: never percent-decoded, case-folded or trimmed of
//!   anything but SP and HTAB, so `__%48ost-sid` and `\u{2000}__Host-sid` are *not*
//!   `__Host-sid` (a browser stores those as unprefixed cookies that any subdomain may set).
//! - A pair without `=`, with an empty name, or with bytes that are not UTF-8 is skipped;
//!   the rest of the header still counts.
//! - Several `Cookie` header fields (HTTP/2 splits them) are read in order.
//! - Values are percent-decoded, the mirror of [`encode_value`] on write.

use std::borrow::Cow;

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

/// The bytes encoded in values: everything outside RFC 6265 `cookie-octet`, plus `%` so that
/// decoding is the exact inverse of encoding.
const VALUE_ENCODE_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b',')
    .add(b';')
    .add(b'\\')
    .add(b'%');

/// Encodes a value so that it consists of cookie-octets only: no `;`, `,`, space, quote,
/// backslash, control or non-ASCII byte reaches the header, so no attribute can be injected.
pub(crate) fn encode_value(value: &str) -> Cow<'_, str> {
    // Most values (session ids, base64url tokens) need no encoding: one scan answers that
    // and returns what the encoder would (the value, borrowed). The scan has no early exit
    // so that it vectorises; the generic encoder walks the bytes one at a time.
    if value
        .bytes()
        .fold(true, |plain, byte| plain & is_left_unencoded(byte))
    {
        return Cow::Borrowed(value);
    }
    utf8_percent_encode(value, VALUE_ENCODE_SET).into()
}

/// Whether [`encode_value`] leaves `byte` as it is: the complement of [`VALUE_ENCODE_SET`],
/// that is an RFC 6265 `cookie-octet` other than `%` (non-ASCII bytes are always encoded).
/// A test checks it against the encoder for every byte.
fn is_left_unencoded(byte: u8) -> bool {
    (0x21..=0x7E).contains(&byte) & !matches!(byte, b'"' | b'%' | b',' | b';' | b'\\')
}

/// Decodes a value read from a request (lenient: malformed `%` sequences stay as they are,
/// and a decoded value that is not UTF-8 is returned raw).
pub(crate) fn decode_value(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    match percent_decode_str(raw).decode_utf8() {
        Ok(decoded) => decoded,
        Err(_) => Cow::Borrowed(raw),
    }
}

/// The name/value pairs of one `Cookie` header value's bytes, in order, as raw (undecoded)
/// text.
pub(crate) fn pairs_of(bytes: &[u8]) -> Pairs<'_> {
    Pairs { bytes, position: 0 }
}

/// The iterator returned by [`pairs_of`]: splits with memchr and validates UTF-8 per pair, so a
/// bad pair is skipped on its own.
pub(crate) struct Pairs<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        while self.position <= self.bytes.len() {
            let rest = self.bytes.get(self.position..)?;
            let end = memchr::memchr(b';', rest).unwrap_or(rest.len());
            let piece = rest.get(..end)?;
            self.position += end + 1;
            if let Some(pair) = self.pair(piece) {
                return Some(pair);
            }
        }
        None
    }
}

impl<'a> Pairs<'a> {
    fn pair(&self, piece: &'a [u8]) -> Option<(&'a str, &'a str)> {
        let eq = memchr::memchr(b'=', piece)?;
        let name = trim_wsp(piece.get(..eq)?);
        let value = trim_wsp(piece.get(eq + 1..)?);
        if name.is_empty() {
            return None;
        }
        let name = std::str::from_utf8(name).ok()?;
        let value = std::str::from_utf8(value).ok()?;
        Some((name, value))
    }
}

/// The raw (undecoded) value of the first pair called `name` in `bytes` (one `Cookie` header
/// value, or several joined with `;`), by the rules of [`pairs_of`]: the same answer as
/// `pairs_of(bytes).find(|(n, _)| *n == name)`, without checking the UTF-8 of pairs with
/// another name.
pub(crate) fn find_value<'a>(bytes: &'a [u8], name: &str) -> Option<&'a str> {
    // Equal to a `&str`: valid UTF-8 and not empty, as `pairs_of` requires of names.
    find_value_by(bytes, name, |value| std::str::from_utf8(value).ok())
}

/// The raw bytes of the first pair called `name` in `bytes`, whatever they hold: where
/// [`find_value`] skips a pair whose value is not UTF-8 and looks further, this stops there.
pub(crate) fn find_raw_value<'a>(bytes: &'a [u8], name: &str) -> Option<&'a [u8]> {
    find_value_by(bytes, name, Some)
}

/// The first pair called `name` whose trimmed value `accept` maps to `Some`.
fn find_value_by<'a, T>(
    bytes: &'a [u8],
    name: &str,
    accept: impl Fn(&'a [u8]) -> Option<T>,
) -> Option<T> {
    let name = name.as_bytes();
    let (Some(first), Some(last)) = (name.first(), name.last()) else {
        // A pair never has an empty name.
        return None;
    };
    // A name with no `=` and no SP/HTAB at its ends (every cookie name, which is a token) is
    // matched by a prefix test on each pair: `WSP* name WSP* =` is exactly "the trimmed text
    // before the pair's first `=` is `name`" then. Other names take the general test.
    let quick = !is_wsp(*first) && !is_wsp(*last) && !name.contains(&b'=');
    let mut rest = bytes;
    loop {
        let end = memchr::memchr(b';', rest);
        let piece = match end {
            Some(end) => rest.get(..end)?,
            None => rest,
        };
        let value = if quick {
            trim_start_wsp(piece)
                .strip_prefix(name)
                .map(trim_start_wsp)
                .and_then(|after| after.strip_prefix(b"="))
        } else {
            memchr::memchr(b'=', piece)
                .filter(|&eq| piece.get(..eq).is_some_and(|n| trim_wsp(n) == name))
                .and_then(|eq| piece.get(eq + 1..))
        };
        if let Some(value) = value
            && let Some(value) = accept(trim_wsp(value))
        {
            return Some(value);
        }
        rest = rest.get(end? + 1..)?;
    }
}

const fn is_wsp(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t')
}

fn trim_start_wsp(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    bytes
}

/// Trims SP and HTAB only (RFC 6265bis WSP), never Unicode whitespace.
fn trim_wsp(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn parse(header: &[u8]) -> Vec<(String, String)> {
        let header = HeaderValue::from_bytes(header).unwrap();
        pairs_of(header.as_bytes())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn names_are_never_decoded_or_unicode_trimmed() {
        let parsed = parse("__%48ost-sid=a; \u{2000}__Host-sid=b; __Host-sid=c".as_bytes());
        assert_eq!(
            parsed,
            [
                ("__%48ost-sid".into(), "a".into()),
                ("\u{2000}__Host-sid".into(), "b".into()),
                ("__Host-sid".into(), "c".into())
            ]
        );
    }

    #[test]
    fn bad_pairs_are_skipped_and_the_rest_kept() {
        let mut header = b"a=1; novalue; =nameless; b=".to_vec();
        header.extend_from_slice(b"; bad=\xff\xfe; \xc3=x; c=3;;  ; d = 4 ");
        assert_eq!(
            parse(&header),
            [
                ("a".into(), "1".into()),
                ("b".into(), String::new()),
                ("c".into(), "3".into()),
                ("d".into(), "4".into())
            ]
        );
    }

    #[test]
    fn finding_one_cookie_skips_bad_pairs_and_other_names() {
        let header = b"a=1; id=\xff; \xc3=x; id ; =id; id = first ; id=second";
        assert_eq!(find_value(header, "id"), Some("first"));
        assert_eq!(find_value(header, "a"), Some("1"));
        assert_eq!(find_value(header, ""), None);
        assert_eq!(find_value(header, "ID"), None);
        assert_eq!(find_value(b"id=", "id"), Some(""));
        assert_eq!(find_value(b"", "id"), None);
        // Names the prefix test must not take: trimmed ends, an `=` inside.
        assert_eq!(find_value(b"a =1", "a "), None);
        assert_eq!(find_value(b"a\t=1", "a\t"), None);
        assert_eq!(find_value(b" a=1", " a"), None);
        assert_eq!(find_value(b"a=b=1", "a=b"), None);
        assert_eq!(find_value(b"=a=1", "=a"), None);
        // And what it takes: whitespace around the name and the `=`, inner spaces.
        assert_eq!(find_value(b"x=0;  a \t= 1 ; a=2", "a"), Some("1"));
        assert_eq!(find_value(b"a b=1", "a b"), Some("1"));
        assert_eq!(find_value(b"ab=1; a=2", "a"), Some("2"));
        assert_eq!(
            find_value(b"a=\xff; a=2", "a"),
            Some("2"),
            "bad UTF-8 skips the pair"
        );
    }

    #[test]
    fn the_raw_finder_answers_the_first_pair_of_the_name_even_when_not_utf8() {
        let header = b"a=1; id=\xff; \xc3=x; id ; =id; id = first ; id=second";
        assert_eq!(find_raw_value(header, "id"), Some(&b"\xff"[..]));
        assert_eq!(find_raw_value(header, "a"), Some(&b"1"[..]));
        assert_eq!(find_raw_value(header, ""), None);
        assert_eq!(find_raw_value(b"x=0;  a \t= 1 ; a=2", "a"), Some(&b"1"[..]));
        assert_eq!(find_raw_value(b"ab=1; a=2", "a"), Some(&b"2"[..]));
        // Wherever the first pair is valid UTF-8, both finders agree.
        for header in [
            &b"a=1; id=x; id=y"[..],
            b"id=; id=2",
            b"b=\xff; id = z ",
            b"a=b=1",
        ] {
            for name in ["id", "a", "a=b", "b"] {
                assert_eq!(
                    find_raw_value(header, name).and_then(|v| std::str::from_utf8(v).ok()),
                    find_value(header, name),
                    "{header:?} {name}"
                );
            }
        }
    }

    #[test]
    fn values_keep_quotes_and_equals_signs() {
        assert_eq!(
            parse(br#"q="quoted"; e=a=b=c"#),
            [
                ("q".into(), "\"quoted\"".into()),
                ("e".into(), "a=b=c".into())
            ]
        );
    }

    #[test]
    fn value_encoding_leaves_no_separator_or_attribute() {
        let encoded = encode_value("x; Domain=evil.example, Path=/\r\n\"é\\%");
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'"' | b'\\')),
            "{encoded}"
        );
        assert_eq!(
            decode_value(&encoded),
            "x; Domain=evil.example, Path=/\r\n\"é\\%"
        );
    }

    /// What `encode_value` returned before it had a fast path.
    fn encoded_by_percent_encoding(value: &str) -> String {
        utf8_percent_encode(value, VALUE_ENCODE_SET).to_string()
    }

    #[test]
    fn the_unencoded_bytes_are_exactly_those_the_encoder_leaves_alone() {
        for byte in 0..=u8::MAX {
            let mut buffer = [0; 4];
            let text = char::from(byte).encode_utf8(&mut buffer);
            let encoded = encode_value(text);
            assert_eq!(
                encoded,
                encoded_by_percent_encoding(text),
                "byte {byte:#04x}"
            );
            assert_eq!(
                is_left_unencoded(byte),
                encoded == *text,
                "byte {byte:#04x}"
            );
        }
    }

    #[test]
    fn plain_values_are_borrowed_and_others_encoded_as_before() {
        let session_id = "AAAAAAAAAAAAAAAAAAAAAA";
        assert!(matches!(encode_value(session_id), Cow::Borrowed(s) if s == session_id));
        assert!(matches!(encode_value(""), Cow::Borrowed("")));
        // One byte to encode anywhere, including after a long plain run (the scan's tail).
        let plain = "Zm9v-_.!#$&'()*+/:<=>?@[]^`{|}~0123456789abcdef";
        for position in 0..=plain.len() {
            for bad in [" ", ";", ",", "\"", "\\", "%", "\u{7f}", "\0", "\u{e9}"] {
                let value = format!("{}{bad}{}", &plain[..position], &plain[position..]);
                let encoded = encode_value(&value);
                assert_eq!(encoded, encoded_by_percent_encoding(&value), "{value:?}");
                assert_eq!(decode_value(&encoded), value);
            }
        }
    }

    #[test]
    fn decoding_is_lenient() {
        assert_eq!(decode_value("100%"), "100%");
        assert_eq!(decode_value("%zz"), "%zz");
        assert_eq!(decode_value("%ff"), "%ff");
        assert_eq!(decode_value("plain"), "plain");
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(value in any::<String>()) {
            let encoded = encode_value(&value);
            prop_assert!(encoded.bytes().all(|b| (0x21..0x7f).contains(&b) && !b";,\"\\ ".contains(&b)));
            prop_assert_eq!(decode_value(&encoded), value.as_str());
        }

        #[test]
        fn encoding_matches_percent_encoding(
            value in prop_oneof![
                any::<String>(),
                "[!#$&-+\\--:<-\\[\\]-~]{0,64}",
                "[!#$&-+\\--:<-\\[\\]-~ ;,%\"\\\\\u{0}-\u{1f}\u{7f}\u{80}-\u{10ffff}]{0,64}",
            ],
        ) {
            prop_assert_eq!(encode_value(&value), encoded_by_percent_encoding(&value));
        }

        #[test]
        fn finding_one_cookie_agrees_with_the_pairs(
            bytes in proptest::collection::vec(
                prop_oneof![
                    Just(b';'), Just(b'='), Just(b' '), Just(b'\t'), Just(b'a'), Just(b'b'),
                    Just(0xC3_u8), Just(0xA9_u8), Just(0xFF_u8), any::<u8>()
                ],
                0..64,
            ),
            name in prop_oneof![
                Just(String::new()), Just("a".to_owned()), Just("ab".to_owned()),
                Just(" a".to_owned()), Just("a ".to_owned()), Just("a\t".to_owned()),
                Just("a b".to_owned()), Just("a=b".to_owned()), Just("=a".to_owned()),
                Just("\u{e9}".to_owned()),
                "[ab=; ]{0,3}",
            ],
        ) {
            let expected = pairs_of(&bytes).find(|(n, _)| *n == name).map(|(_, v)| v);
            prop_assert_eq!(find_value(&bytes, &name), expected);
        }

        #[test]
        fn parsing_never_panics_and_names_are_non_empty(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(header) = HeaderValue::from_bytes(&bytes) {
                for (name, value) in pairs_of(header.as_bytes()) {
                    prop_assert!(!name.is_empty());
                    prop_assert!(!name.contains(';') && !value.contains(';'));
                }
            }
        }
    }
}
