//! The protected header: the members the layer reads (`alg`, `kid`, `typ`, whether `crit` is
//! there).
//!
//! A fast scanner reads the usual header (`alg`, `typ`, `kid` as plain strings, nothing else)
//! with the shared [`Cursor`]; anything else goes to the general serde parser, which refuses
//! duplicate members and records `crit` whatever its value. The scanner only ever answers
//! where serde would answer the same.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};

use super::cursor::{Cursor, StringKind};
use super::names::{CowStr, Names};

/// The header members the layer reads.
pub(in crate::middleware) struct Header<'a> {
    pub(in crate::middleware) alg: Cow<'a, str>,
    pub(in crate::middleware) kid: Option<Cow<'a, str>>,
    pub(in crate::middleware) typ: Option<Cow<'a, str>>,
    pub(in crate::middleware) crit: bool,
}

/// Parses a protected header: the fast scanner for the usual shape, else serde.
pub(in crate::middleware) fn parse_header(json: &[u8]) -> Option<Header<'_>> {
    if let Some(fast) = scan_header(json) {
        return Some(fast);
    }
    serde_header(json)
}

/// The general header parser: every JSON form serde accepts, each member name at most once
/// (RFC 7515, 4: names must be unique; other parsers keep the last of two, so reading
/// either would let two implementations see different headers). `jku`, `x5u`, `jwk`, `x5c`
/// and every other member are skipped, never used; `crit` is recorded whatever its value
/// (`null` included: RFC 7515 allows only a non-empty array, and the layer refuses any).
fn serde_header(json: &[u8]) -> Option<Header<'_>> {
    struct HeaderVisitor;

    impl<'de> Visitor<'de> for HeaderVisitor {
        type Value = Header<'de>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JOSE header object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'de>, A::Error> {
            let mut names = Names::default();
            let (mut alg, mut kid, mut typ, mut crit) = (None, None, None, false);
            while let Some(name) = map.next_key_seed(CowStr)? {
                let slot = match &*name {
                    "alg" => &mut alg,
                    "kid" => &mut kid,
                    "typ" => &mut typ,
                    "crit" => {
                        map.next_value::<IgnoredAny>()?;
                        crit = true;
                        names.insert(name)?;
                        continue;
                    }
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        names.insert(name)?;
                        continue;
                    }
                };
                *slot = map.next_value_seed(OptionalStr)?;
                names.insert(name)?;
            }
            Ok(Header {
                alg: alg.ok_or_else(|| A::Error::missing_field("alg"))?,
                kid,
                typ,
                crit,
            })
        }
    }

    let mut de = serde_json::Deserializer::from_slice(json);
    let header = de.deserialize_map(HeaderVisitor).ok()?;
    de.end().ok()?;
    Some(header)
}

/// A string or `null` (absent).
struct OptionalStr;

impl<'de> DeserializeSeed<'de> for OptionalStr {
    type Value = Option<Cow<'de, str>>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        CowStr.deserialize(de).map(Some)
    }
}

/// The usual header, `{"alg":"..","typ":"..","kid":".."}` in any order and spacing, with
/// escape-free ASCII strings and no other member. `None` for anything else (other members,
/// escapes, duplicates, non-string values, trailing bytes): the caller falls back to serde,
/// which then decides.
fn scan_header(json: &[u8]) -> Option<Header<'_>> {
    let mut c = Cursor::new(std::str::from_utf8(json).ok()?);
    c.ws_eat(b'{')?;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    c.items(b'}', |c| {
        let name = c.string(StringKind::Header)?;
        c.ws_eat(b':')?;
        c.ws();
        let value = c.string(StringKind::Header)?;
        let slot = match name {
            "alg" => &mut alg,
            "kid" => &mut kid,
            "typ" => &mut typ,
            _ => return None,
        };
        slot.replace(Cow::Borrowed(value)).is_none().then_some(())
    })?;
    c.at_end().then_some(())?;
    Some(Header {
        alg: alg?,
        kid,
        typ,
        crit: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_scanner_agrees_with_serde() {
        for json in [
            &br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#[..],
            br#" { "typ" : "at+jwt" , "alg":"ES256" } "#,
        ] {
            let fast = scan_header(json).unwrap();
            let slow = serde_header(json).unwrap();
            assert_eq!(fast.alg, slow.alg);
            assert_eq!(fast.kid, slow.kid);
            assert_eq!(fast.typ, slow.typ);
            assert!(!fast.crit && !slow.crit);
        }
        for json in [
            &br#"{"alg":"HS256","alg":"none"}"#[..],
            br#"{"alg":"HS256","crit":["x"]}"#,
            br#"{"alg":"HS\u0032256"}"#,
            br#"{"alg":"HS256","jku":"https://evil"}"#,
            br#"{"kid":"k1"}"#,
            br#"{"alg":"HS256"}x"#,
        ] {
            assert!(
                scan_header(json).is_none(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn headers_with_a_member_twice_are_refused_whatever_the_member() {
        for json in [
            &br#"{"alg":"HS256","alg":"HS256"}"#[..],
            br#"{"alg":"HS256","x5u":"a","x5u":"b"}"#,
            br#"{"alg":"HS256","kid":"a","k\u0069d":"b"}"#,
            br#"{"alg":"HS256","crit":["b64"],"crit":["b64"]}"#,
        ] {
            assert!(
                parse_header(json).is_none(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        // One of each is fine, escapes and unknown members included.
        let h = parse_header(br#"{"a\u006cg":"HS256","x5u":"a","kid":null}"#).unwrap();
        assert_eq!(h.alg, "HS256");
        assert_eq!(h.kid, None);
    }

    #[test]
    fn crit_counts_as_present_whatever_its_value() {
        for json in [
            &br#"{"alg":"HS256","crit":null}"#[..],
            br#"{"alg":"HS256","crit":[]}"#,
            br#"{"alg":"HS256","crit":["exp"]}"#,
            br#"{"alg":"HS256","crit":"b64"}"#,
        ] {
            assert!(
                parse_header(json).unwrap().crit,
                "{}",
                String::from_utf8_lossy(json)
            );
        }
        assert!(!parse_header(br#"{"alg":"HS256","kid":"k"}"#).unwrap().crit);
    }
}
