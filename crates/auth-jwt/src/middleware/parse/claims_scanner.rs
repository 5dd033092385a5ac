//! The fast scanner for claims, used when the custom claims read nothing (`()`), and the
//! unverified `iss` read that picks the trust entry.
//!
//! Both walk the payload with the shared [`Cursor`] and answer only for the usual shapes
//! (plain strings, non-negative integers of at most 18 digits, no member twice, at most
//! [`SCAN_MEMBERS`] members); for anything else they answer `None` and serde parses (and
//! decides), so the scanners never accept what serde would refuse nor read a value
//! differently. The tests below, property tests included, compare the claims scanner with the
//! serde path of [`claims_serde`](super::claims_serde).

use std::borrow::Cow;
use std::fmt;

use auth_core::{Audience, Claims, NumericDate};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use super::GrantNames;
use super::cursor::{Cursor, StringKind, json_strings, skip_value};
use super::names::{CowStr, Names};
use super::registered::{Grant, Registered};

/// Registered claims plus roles, scopes and (when asked for) the `sid` claim.
pub(super) type Scanned = (Claims<()>, Vec<String>, Vec<String>, Option<String>);

/// A non-negative JSON integer of at most 18 digits (so it fits `i64`, what `NumericDate`
/// keeps); anything else (negative, `-0`, leading zero, fraction, exponent, longer) is left
/// to serde.
fn json_seconds(c: &mut Cursor<'_>) -> Option<NumericDate> {
    let start = c.pos;
    let n = c.digits();
    let digits = c.text.as_bytes().get(start..c.pos)?;
    if n == 0 || n > 18 || (n > 1 && digits.first() == Some(&b'0')) {
        return None;
    }
    if matches!(c.peek(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    // At most 18 digits: no overflow.
    let value = digits
        .iter()
        .fold(0i64, |v, &d| v * 10 + i64::from(d - b'0'));
    Some(NumericDate::from_unix(value))
}

/// Equality for short member names, without a call into `memcmp`.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The most members the scanner tracks for duplicates; a larger claims set goes to serde.
const SCAN_MEMBERS: usize = 32;

/// The member names of one object so far, as the scanner reads them (escape-free, borrowed
/// from the text).
struct ScannedNames<'a> {
    seen: [&'a str; SCAN_MEMBERS],
    len: usize,
}

impl<'a> ScannedNames<'a> {
    fn new() -> Self {
        Self {
            seen: [""; SCAN_MEMBERS],
            len: 0,
        }
    }

    /// Records `name`; `None` for a name seen before (serde refuses it: other parsers would
    /// keep one of the two values) or one past [`SCAN_MEMBERS`] (serde checks those).
    fn insert(&mut self, name: &'a str) -> Option<()> {
        if self
            .seen
            .get(..self.len)?
            .iter()
            .any(|s| same_name(s, name))
        {
            return None;
        }
        *self.seen.get_mut(self.len)? = name;
        self.len += 1;
        Some(())
    }
}

/// Walks the one JSON object that is the whole of `json`: `f` reads each member's value, the
/// cursor on its first byte, given the member's name. `None` when the text is anything else,
/// when `f` says so, or when a name comes twice or past [`SCAN_MEMBERS`] (serde decides then).
fn scan_object<'a>(
    json: &'a str,
    mut f: impl FnMut(&'a str, &mut Cursor<'a>) -> Option<()>,
) -> Option<()> {
    let mut seen = ScannedNames::new();
    let mut c = Cursor::new(json);
    c.ws_eat(b'{')?;
    c.items(b'}', |c| {
        let name = c.string(StringKind::Claims)?;
        seen.insert(name)?;
        c.ws_eat(b':')?;
        c.ws();
        f(name, c)
    })?;
    c.at_end().then_some(())
}

/// The claims of the usual payload, without serde: registered claims of the right type,
/// roles and scopes as strings or arrays of strings, any other member skipped, and no member
/// name twice. `None` for anything else, including every error: serde then parses (and
/// decides), so the scanner never accepts what serde would refuse nor reads a value
/// differently.
pub(super) fn scan_claims(json: &str, names: &GrantNames<'_>) -> Option<Scanned> {
    let mut claims = Claims::new(());
    let (mut roles, mut scopes) = (Vec::new(), Vec::new());
    let mut sid: Option<String> = None;
    scan_object(json, |name, c| {
        let grant = if names.roles.is_some_and(|r| same_name(r, name)) {
            Some(Grant::Roles)
        } else if names.scopes.iter().any(|s| same_name(s, name)) {
            Some(Grant::Scopes)
        } else {
            None
        };
        match (Registered::from_name(name), grant) {
            // `sid` for revocation: a plain string, at most once; anything else goes to
            // serde, which decides.
            (None, None) if names.sid && name == "sid" => {
                if sid.is_some() {
                    return None;
                }
                sid = Some(c.string(StringKind::Claims)?.to_owned());
            }
            (None, None) => skip_value(c, 0)?,
            (None, Some(Grant::Roles)) => match c.peek()? {
                b'"' => {
                    let v = c.string(StringKind::Claims)?;
                    if !v.is_empty() {
                        roles.push(v.to_owned());
                    }
                }
                // Array items are kept whole, as serde's path does.
                b'[' => {
                    c.pos += 1;
                    json_strings(c, |v| roles.push(v.to_owned()))?;
                }
                _ => return None,
            },
            (None, Some(Grant::Scopes)) => match c.peek()? {
                b'"' => {
                    let v = c.string(StringKind::Claims)?;
                    scopes.extend(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
                }
                b'[' => {
                    c.pos += 1;
                    json_strings(c, |v| scopes.push(v.to_owned()))?;
                }
                _ => return None,
            },
            (Some(r), None) => scan_registered(&mut claims, r, c)?,
            (Some(_), Some(_)) => return None,
        }
        Some(())
    })?;
    Some((claims, roles, scopes, sid))
}

/// The `iss` of a payload (not yet verified), to pick the trust entry whose keys may check
/// it: `Some(None)` when there is no `iss` or it is not a string, `None` when the payload is
/// not a JSON object or names a member twice. Only a top-level string counts, read the way
/// serde reads it.
pub(in crate::middleware) fn issuer_of(payload: &[u8]) -> Option<Option<Cow<'_, str>>> {
    let text = std::str::from_utf8(payload).ok()?;
    scan_issuer(text).or_else(|| serde_issuer(payload))
}

/// The fast path of [`issuer_of`]: plain strings, at most [`SCAN_MEMBERS`] members.
fn scan_issuer(json: &str) -> Option<Option<Cow<'_, str>>> {
    let mut iss = None;
    let mut not_a_string = false;
    scan_object(json, |name, c| {
        if same_name(name, "iss") && c.peek()? == b'"' {
            iss = Some(Cow::Borrowed(c.string(StringKind::Claims)?));
        } else {
            not_a_string |= same_name(name, "iss");
            skip_value(c, 0)?;
        }
        Some(())
    })?;
    Some(if not_a_string { None } else { iss })
}

/// The general path of [`issuer_of`].
fn serde_issuer(payload: &[u8]) -> Option<Option<Cow<'_, str>>> {
    struct IssuerVisitor;

    impl<'de> Visitor<'de> for IssuerVisitor {
        type Value = Option<Cow<'de, str>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut names = Names::default();
            let mut iss = None;
            while let Some(name) = map.next_key_seed(CowStr)? {
                if name == "iss" {
                    // Any other type is not an issuer (the claims check refuses it later).
                    iss = match map.next_value::<Value>()? {
                        Value::String(s) => Some(Cow::Owned(s)),
                        _ => None,
                    };
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
                names.insert(name)?;
            }
            Ok(iss)
        }
    }

    let mut de = serde_json::Deserializer::from_slice(payload);
    let iss = de.deserialize_map(IssuerVisitor).ok()?;
    de.end().ok()?;
    Some(iss)
}

fn scan_registered(claims: &mut Claims<()>, r: Registered, c: &mut Cursor<'_>) -> Option<()> {
    let fresh = |slot: bool| (!slot).then_some(());
    match r {
        Registered::Iss | Registered::Sub | Registered::Jti => {
            let slot = match r {
                Registered::Iss => &mut claims.iss,
                Registered::Sub => &mut claims.sub,
                _ => &mut claims.jti,
            };
            fresh(slot.is_some())?;
            *slot = Some(c.string(StringKind::Claims)?.to_owned());
        }
        Registered::Aud => {
            fresh(claims.aud.is_some())?;
            claims.aud = Some(match c.peek()? {
                b'"' => Audience::One(c.string(StringKind::Claims)?.to_owned()),
                b'[' => {
                    c.pos += 1;
                    let mut all = Vec::new();
                    json_strings(c, |v| all.push(v.to_owned()))?;
                    Audience::Many(all)
                }
                _ => return None,
            });
        }
        Registered::Exp | Registered::Nbf | Registered::Iat => {
            let slot = match r {
                Registered::Exp => &mut claims.exp,
                Registered::Nbf => &mut claims.nbf,
                _ => &mut claims.iat,
            };
            fresh(slot.is_some())?;
            *slot = Some(json_seconds(c)?);
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::claims_serde::serde_payload;
    use super::super::{PayloadError, parse_payload};
    use super::*;

    fn names(scopes: &[Box<str>]) -> GrantNames<'_> {
        GrantNames {
            roles: Some("roles"),
            scopes,
            sid: false,
        }
    }

    /// The scanner on bytes (as the layer calls it, after its UTF-8 check).
    fn scan_payload(json: &[u8], names: &GrantNames<'_>) -> Option<Scanned> {
        scan_claims(std::str::from_utf8(json).ok()?, names)
    }

    /// What the fast scanner found, or `None`.
    fn fast(json: &[u8]) -> Option<Scanned> {
        let scopes: Vec<Box<str>> = vec!["scope".into(), "scp".into()];
        scan_payload(json, &names(&scopes))
    }

    /// The serde path, as (claims, roles, scopes) or the error kind.
    fn slow(json: &[u8]) -> Result<Scanned, &'static str> {
        let scopes: Vec<Box<str>> = vec!["scope".into(), "scp".into()];
        if std::str::from_utf8(json).is_err() {
            return Err("utf8");
        }
        match serde_payload::<()>(json, &names(&scopes)) {
            Ok(p) => Ok((p.claims, p.roles, p.scopes, None)),
            Err(PayloadError::Claim(c)) => Err(c),
            Err(_) => Err("malformed"),
        }
    }

    fn jsonish() -> impl Strategy<Value = String> {
        let value = prop_oneof![
            Just("0".to_owned()),
            Just("-0".to_owned()),
            Just("-5".to_owned()),
            Just("01".to_owned()),
            Just("1.5".to_owned()),
            Just("1e3".to_owned()),
            Just("9223372036854775807".to_owned()),
            Just("9223372036854775808".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("nul".to_owned()),
            Just("[]".to_owned()),
            Just("[ ]".to_owned()),
            Just(r#"["a b","", "c"]"#.to_owned()),
            Just(r#"["a",]"#.to_owned()),
            Just(r#"["a",1]"#.to_owned()),
            Just(r#"{"a":[1,{"b":null}],"c":-1.5e-3}"#.to_owned()),
            Just(r#"{"a":}"#.to_owned()),
            Just("\"caf\u{e9} \u{1F600}\"".to_owned()),
            Just("\"tab\there\"".to_owned()),
            "\"[ -~]{0,8}\"",
            "\"\\\\u00[0-9a-f]{2}\"",
            "[0-9]{1,20}",
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
            Just("i\\u0073s"),
        ];
        let sep = prop_oneof![Just(","), Just(" , "), Just(",\n"), Just(",,"), Just(" ")];
        (
            prop::collection::vec((key, value, sep), 0..8),
            prop_oneof![Just(""), Just(" "), Just("x"), Just("}")],
        )
            .prop_map(|(members, tail)| {
                let mut out = String::from("{");
                let n = members.len();
                for (i, (k, v, sep)) in members.into_iter().enumerate() {
                    out.push_str(&format!("\"{k}\":{v}"));
                    if i + 1 < n {
                        out.push_str(sep);
                    }
                }
                out.push('}');
                out.push_str(tail);
                out
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

        /// The scanner is sound: whenever it answers, serde accepts the same payload and
        /// reads the same claims, roles and scopes.
        #[test]
        fn scanner_agrees_with_serde(json in jsonish()) {
            if let Some(found) = fast(json.as_bytes()) {
                prop_assert_eq!(Ok(found), slow(json.as_bytes()), "{}", json);
            }
        }

        #[test]
        fn scanner_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Some(found) = fast(&bytes) {
                prop_assert_eq!(Ok(found), slow(&bytes));
            }
        }
    }

    #[test]
    fn scanner_reads_the_usual_payload() {
        let json = br#"{"iss":"https://i.example","aud":["api","web"],"sub":"alice","exp":1900000000,"iat":1,"jti":"j","scope":"read  write","roles":["admin"],"x":{"y":[1.5e3,null]}}"#;
        let (claims, roles, scopes, sid) = fast(json).unwrap();
        assert_eq!(claims.iss.as_deref(), Some("https://i.example"));
        assert_eq!(
            claims.aud,
            Some(Audience::Many(vec!["api".into(), "web".into()]))
        );
        assert_eq!(claims.exp, Some(NumericDate::from_unix(1_900_000_000)));
        assert_eq!(roles, ["admin"]);
        assert_eq!(scopes, ["read", "write"]);
        assert_eq!(Ok((claims, roles, scopes, sid)), slow(json));
    }

    #[test]
    fn scanner_captures_sid_only_when_asked_and_only_plain_strings() {
        let scopes: Vec<Box<str>> = vec![];
        let mut with_sid = names(&scopes);
        with_sid.sid = true;
        let json = br#"{"sub":"a","sid":"s-1"}"#;
        assert_eq!(
            scan_payload(json, &with_sid).unwrap().3.as_deref(),
            Some("s-1")
        );
        assert_eq!(scan_payload(json, &names(&scopes)).unwrap().3, None);
        for odd in [
            &br#"{"sid":1}"#[..],
            br#"{"sid":"a","sid":"b"}"#,
            br#"{"sid":"a\u0062"}"#,
            br#"{"sid":null}"#,
        ] {
            assert!(scan_payload(odd, &with_sid).is_none());
        }
    }

    #[test]
    fn scanner_leaves_unusual_payloads_to_serde() {
        for json in [
            &br#"{"iss":"a","iss":"b"}"#[..],
            br#"{"exp":1.5}"#,
            br#"{"exp":-0}"#,
            br#"{"sub":"a\u0062"}"#,
            br#"{"aud":null}"#,
            br#"{"a":1,}"#,
            br#"{"a":1} x"#,
        ] {
            assert!(fast(json).is_none(), "{}", String::from_utf8_lossy(json));
        }
    }

    #[test]
    fn claims_with_a_member_twice_are_refused_on_both_paths() {
        for json in [
            &br#"{"roles":["user"],"roles":["admin"]}"#[..],
            br#"{"scope":"read","scope":"admin"}"#,
            br#"{"scp":["a"],"scp":["b"]}"#,
            br#"{"x":1,"x":2}"#,
            br#"{"roles":["user"],"r\u006fles":["admin"]}"#,
            br#"{"sub":"a","sub":"a"}"#,
        ] {
            assert!(fast(json).is_none(), "{}", String::from_utf8_lossy(json));
            assert!(slow(json).is_err(), "{}", String::from_utf8_lossy(json));
            // A typed custom claims type takes the serde path too.
            #[derive(serde::Deserialize)]
            #[allow(dead_code)]
            struct Custom {
                x: Option<i64>,
            }
            let scopes: Vec<Box<str>> = vec!["scope".into(), "scp".into()];
            assert!(parse_payload::<Custom>(json, &names(&scopes)).is_err());
        }
        // Many members (past what the scanner tracks) still go through the check.
        let mut many: String = (0..40).map(|i| format!("\"m{i}\":{i},")).collect();
        many.insert(0, '{');
        many.push_str("\"m3\":0}");
        assert!(slow(many.as_bytes()).is_err());
        let unique = many.replace("\"m3\":0", "\"last\":0");
        assert!(slow(unique.as_bytes()).is_ok());
    }

    #[test]
    fn issuer_of_reads_the_top_level_string_only() {
        let iss = |json: &[u8]| issuer_of(json).map(|i| i.map(Cow::into_owned));
        assert_eq!(
            iss(br#"{"sub":"a","iss":"https://i"}"#),
            Some(Some("https://i".to_owned()))
        );
        assert_eq!(
            iss(br#"{"i\u0073s":"https://i"}"#),
            Some(Some("https://i".to_owned()))
        );
        assert_eq!(iss(br#"{"x":{"iss":"nested"}}"#), Some(None));
        assert_eq!(iss(br#"{"iss":1}"#), Some(None));
        assert_eq!(iss(br#"{"iss":"a","iss":"b"}"#), None);
        assert_eq!(iss(br#"{"iss":"a","i\u0073s":"b"}"#), None);
        assert_eq!(iss(br#"{"iss":"a"} x"#), None);
        assert_eq!(iss(br#"[1]"#), None);
    }
}
