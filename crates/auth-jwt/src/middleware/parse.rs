//! The request-path parsers: base64url, the protected header, and the claims in one pass.
//!
//! Profiling the layer (callgrind, HS256) showed the non-crypto work dominated by the generic
//! base64 engine, a derived header deserializer, and two passes over the payload (typed
//! claims through `#[serde(flatten)]`, which buffers every unknown claim, then roles and
//! scopes). These parsers do the same checks with less work; anything unusual falls back to
//! the general serde path, so the accepted language never grows.

use std::borrow::Cow;
use std::fmt;
use std::mem::MaybeUninit;

use auth_core::{Audience, Claims, NumericDate};
use serde::Deserialize as _;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess,
    SeqAccess, Visitor,
};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// base64url

/// The decoded length of `len` base64url characters without padding, or `None` when no
/// canonical encoding has that length.
pub(super) fn decoded_len(len: usize) -> Option<usize> {
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
pub(super) fn b64url_decode<'o>(input: &[u8], out: &'o mut [MaybeUninit<u8>]) -> Option<&'o [u8]> {
    let len = decoded_len(input.len())?;
    let out = out.get_mut(..len)?;
    let decoded = base64_simd::URL_SAFE_NO_PAD
        .decode(input, base64_simd::Out::from_uninit_slice(out))
        .ok()?;
    Some(decoded)
}

// ---------------------------------------------------------------------------------------------
// The protected header

/// The header members the layer reads.
pub(super) struct Header<'a> {
    pub(super) alg: Cow<'a, str>,
    pub(super) kid: Option<Cow<'a, str>>,
    pub(super) typ: Option<Cow<'a, str>>,
    pub(super) crit: bool,
}

/// The general parser: every JSON form serde accepts. `jku`, `x5u`, `jwk`, `x5c` and every
/// other member are skipped, never used.
#[derive(serde::Deserialize)]
struct SerdeHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    typ: Option<Cow<'a, str>>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

/// Parses a protected header: the fast scanner for the usual shape, else serde.
pub(super) fn parse_header(json: &[u8]) -> Option<Header<'_>> {
    if let Some(fast) = scan_header(json) {
        return Some(fast);
    }
    let h: SerdeHeader<'_> = serde_json::from_slice(json).ok()?;
    Some(Header {
        alg: h.alg,
        kid: h.kid,
        typ: h.typ,
        crit: h.crit.is_some(),
    })
}

// The scanners work on `&str` (the input is checked to be UTF-8 once, up front) and only ever
// split it next to ASCII bytes, so no piece needs checking again.

fn skip_ws(s: &str) -> &str {
    let n = s
        .bytes()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .unwrap_or(s.len());
    s.get(n..).unwrap_or_default()
}

/// The first byte and the rest; `None` when empty or when the first character is not ASCII
/// (never a JSON token's start outside a string).
fn first(s: &str) -> Option<(u8, &str)> {
    let b = *s.as_bytes().first()?;
    Some((b, s.get(1..)?))
}

/// Splits `s` at byte `end` (a `"`) into the text before it and the rest after it.
fn split_quote(s: &str, end: usize) -> Option<(&str, &str)> {
    let (text, rest) = s.split_at_checked(end)?;
    Some((text, rest.strip_prefix('"')?))
}

/// A JSON string without escapes and with printable ASCII only, after its opening quote.
fn plain_string(s: &str) -> Option<(&str, &str)> {
    let end = s
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || !(0x20..0x7F).contains(&b))?;
    split_quote(s, end)
}

/// The usual header, `{"alg":"..","typ":"..","kid":".."}` in any order and spacing, with
/// escape-free ASCII strings and no other member. `None` for anything else (other members,
/// escapes, duplicates, non-string values, trailing bytes): the caller falls back to serde,
/// which then decides.
fn scan_header(json: &[u8]) -> Option<Header<'_>> {
    let json = std::str::from_utf8(json).ok()?;
    let mut s = skip_ws(json).strip_prefix('{')?;
    let (mut alg, mut kid, mut typ) = (None, None, None);
    loop {
        s = skip_ws(s).strip_prefix('"')?;
        let (name, rest) = plain_string(s)?;
        s = skip_ws(skip_ws(rest).strip_prefix(':')?).strip_prefix('"')?;
        let (value, rest) = plain_string(s)?;
        let slot = match name {
            "alg" => &mut alg,
            "kid" => &mut kid,
            "typ" => &mut typ,
            _ => return None,
        };
        if slot.replace(Cow::Borrowed(value)).is_some() {
            return None;
        }
        s = skip_ws(rest);
        match first(s) {
            Some((b',', rest)) => s = rest,
            Some((b'}', rest)) if skip_ws(rest).is_empty() => break,
            _ => return None,
        }
    }
    Some(Header {
        alg: alg?,
        kid,
        typ,
        crit: false,
    })
}

// ---------------------------------------------------------------------------------------------
// The claims, typed, plus roles and scopes, in one pass

/// Where roles and scopes come from.
pub(super) struct GrantNames<'c> {
    pub(super) roles: Option<&'c str>,
    pub(super) scopes: &'c [Box<str>],
    /// Whether the fast scanner should also capture the `sid` claim (for revocation).
    pub(super) sid: bool,
}

/// What one pass over the payload produced.
pub(super) struct Parsed<C> {
    pub(super) claims: Claims<C>,
    pub(super) roles: Vec<String>,
    pub(super) scopes: Vec<String>,
    /// The `sid` claim when the fast scanner read it (`Some(None)`: no `sid`); `None` when
    /// the scanner did not run or `sid` was not asked for (read it separately then).
    pub(super) sid: Option<Option<String>>,
}

/// Why the payload was refused.
pub(super) enum PayloadError {
    /// The registered claim named (`"iss"`, `"aud"`, ...) has the wrong type or appears twice.
    Claim(&'static str),
    /// Anything else: not JSON, not an object, the custom claims refused it.
    Malformed,
    /// The custom claims type asked for a shape this parser does not stream; use the general
    /// (two-pass) path.
    Unsupported,
}

/// Parses `payload` into typed claims and the roles and scopes, in one pass over the JSON.
///
/// Same language and results as `Claims::<C>::from_json` followed by a separate roles and
/// scopes pass: registered claims strictly typed and never duplicated, the other members
/// handed to `C` as `#[serde(flatten)]` would (a struct sees only its own fields).
pub(super) fn parse_payload<C: DeserializeOwned>(
    payload: &[u8],
    names: &GrantNames<'_>,
) -> Result<Parsed<C>, PayloadError> {
    let Ok(text) = std::str::from_utf8(payload) else {
        return Err(PayloadError::Malformed);
    };
    if let Some(custom) = unit_like::<C>()
        && let Some((registered, roles, scopes, sid)) = scan_claims(text, names)
    {
        return Ok(Parsed {
            claims: with_custom(registered, custom),
            roles,
            scopes,
            sid: names.sid.then_some(sid),
        });
    }
    serde_payload(payload, names)
}

/// [`parse_payload`] without the fast scanner.
fn serde_payload<C: DeserializeOwned>(
    payload: &[u8],
    names: &GrantNames<'_>,
) -> Result<Parsed<C>, PayloadError> {
    let mut slots = Slots {
        names,
        claims: Claims::new(()),
        roles: Vec::new(),
        scopes: Vec::new(),
        failed: None,
        unsupported: false,
    };
    let mut de = serde_json::Deserializer::from_slice(payload);
    let result = Deserializer::deserialize_map(
        &mut de,
        PayloadVisitor::<C> {
            slots: &mut slots,
            _c: std::marker::PhantomData,
        },
    )
    .and_then(|custom| de.end().map(|()| custom));
    match result {
        Ok(custom) => Ok(Parsed {
            claims: with_custom(slots.claims, custom),
            roles: slots.roles,
            scopes: slots.scopes,
            sid: None,
        }),
        Err(_) if slots.unsupported => Err(PayloadError::Unsupported),
        Err(_) => Err(slots
            .failed
            .map_or(PayloadError::Malformed, PayloadError::Claim)),
    }
}

// ---------------------------------------------------------------------------------------------
// The fast scanner for claims, used when the custom claims read nothing (`()`)

/// Whether `C` reads nothing from the claims: `()`, a unit struct, `IgnoredAny`. Then the
/// claims never need serde's `flatten` machinery.
fn unit_like<C: DeserializeOwned>() -> Option<C> {
    C::deserialize(UnitProbe).ok()
}

/// Answers `visit_unit` to the unit requests and refuses everything else.
struct UnitProbe;

impl<'de> Deserializer<'de> for UnitProbe {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(Self::Error::custom("not a unit type"))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option newtype_struct seq tuple tuple_struct map struct enum identifier
    }
}

/// Registered claims plus roles, scopes and (when asked for) the `sid` claim.
type Scanned = (Claims<()>, Vec<String>, Vec<String>, Option<String>);

/// A JSON string after its opening quote, without escapes or control characters.
fn json_string(s: &str) -> Option<(&str, &str)> {
    let end = s
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
    split_quote(s, end)
}

/// An array of such strings after its `[`.
fn json_strings<'a>(mut s: &'a str, mut f: impl FnMut(&'a str)) -> Option<&'a str> {
    s = skip_ws(s);
    if let Some(rest) = s.strip_prefix(']') {
        return Some(rest);
    }
    loop {
        let (item, rest) = json_string(s.strip_prefix('"')?)?;
        f(item);
        s = skip_ws(rest);
        match first(s) {
            Some((b',', rest)) => s = skip_ws(rest),
            Some((b']', rest)) => return Some(rest),
            _ => return None,
        }
    }
}

/// A non-negative JSON integer that fits `i64` (what `NumericDate` keeps); anything else
/// (negative, `-0`, fraction, exponent, overflow) is left to serde.
fn json_seconds(s: &str) -> Option<(NumericDate, &str)> {
    let digits = s
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(s.len());
    let (number, rest) = s.split_at_checked(digits)?;
    let number = number.as_bytes();
    if number.is_empty() || (number.len() > 1 && number.first() == Some(&b'0')) {
        return None;
    }
    if matches!(rest.as_bytes().first(), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in number {
        value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some((NumericDate::from_unix(value), rest))
}

/// Skips one JSON number (RFC 8259 grammar).
fn skip_number(s: &str) -> Option<&str> {
    let digits = |s: &str| {
        s.bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(s.len())
    };
    let s = s.strip_prefix('-').unwrap_or(s);
    let mut s = match first(s) {
        Some((b'0', rest)) => rest,
        Some((b'1'..=b'9', rest)) => rest.get(digits(rest)..)?,
        _ => return None,
    };
    if let Some(rest) = s.strip_prefix('.') {
        let n = digits(rest);
        if n == 0 {
            return None;
        }
        s = rest.get(n..)?;
    }
    if let Some((b'e' | b'E', rest)) = first(s) {
        let rest = match first(rest) {
            Some((b'+' | b'-', r)) => r,
            _ => rest,
        };
        let n = digits(rest);
        if n == 0 {
            return None;
        }
        s = rest.get(n..)?;
    }
    Some(s)
}

/// Skips one JSON value; `None` for anything the scanner leaves to serde (escapes, control
/// characters, deep nesting, bad syntax).
fn skip_value(s: &str, depth: u8) -> Option<&str> {
    let depth = depth.checked_add(1).filter(|d| *d <= 64)?;
    match first(s)? {
        (b'"', rest) => json_string(rest).map(|(_, rest)| rest),
        (b'[', rest) => {
            let mut s = skip_ws(rest);
            if let Some(rest) = s.strip_prefix(']') {
                return Some(rest);
            }
            loop {
                s = skip_ws(skip_value(s, depth)?);
                match first(s) {
                    Some((b',', rest)) => s = skip_ws(rest),
                    Some((b']', rest)) => return Some(rest),
                    _ => return None,
                }
            }
        }
        (b'{', rest) => {
            let mut s = skip_ws(rest);
            if let Some(rest) = s.strip_prefix('}') {
                return Some(rest);
            }
            loop {
                let (_, rest) = json_string(s.strip_prefix('"')?)?;
                s = skip_ws(skip_ws(rest).strip_prefix(':')?);
                s = skip_ws(skip_value(s, depth)?);
                match first(s) {
                    Some((b',', rest)) => s = skip_ws(rest),
                    Some((b'}', rest)) => return Some(rest),
                    _ => return None,
                }
            }
        }
        (b't', _) => s.strip_prefix("true"),
        (b'f', _) => s.strip_prefix("false"),
        (b'n', _) => s.strip_prefix("null"),
        _ => skip_number(s),
    }
}

/// The claims of the usual payload, without serde: registered claims of the right type and
/// at most once, roles and scopes as strings or arrays of strings, any other member skipped.
/// `None` for anything else, including every error: serde then parses (and decides), so the
/// scanner never accepts what serde would refuse nor reads a value differently.
fn scan_claims(json: &str, names: &GrantNames<'_>) -> Option<Scanned> {
    let mut claims = Claims::new(());
    let (mut roles, mut scopes) = (Vec::new(), Vec::new());
    let mut sid: Option<String> = None;
    let mut s = skip_ws(skip_ws(json).strip_prefix('{')?);
    if let Some(rest) = s.strip_prefix('}') {
        s = rest;
    } else {
        loop {
            let (name, rest) = json_string(s.strip_prefix('"')?)?;
            s = skip_ws(skip_ws(rest).strip_prefix(':')?);
            let grant = if names.roles == Some(name) {
                Some(Grant::Roles)
            } else if names.scopes.iter().any(|c| &**c == name) {
                Some(Grant::Scopes)
            } else {
                None
            };
            s = match (Registered::from_name(name), grant) {
                // `sid` for revocation: a plain string, at most once; anything else goes to
                // serde, which decides.
                (None, None) if names.sid && name == "sid" => {
                    if sid.is_some() {
                        return None;
                    }
                    let (v, rest) = json_string(s.strip_prefix('"')?)?;
                    sid = Some(v.to_owned());
                    rest
                }
                (None, None) => skip_value(s, 0)?,
                (None, Some(grant)) => {
                    let (split, out) = match grant {
                        Grant::Roles => (false, &mut roles),
                        Grant::Scopes => (true, &mut scopes),
                    };
                    let mut push = |v: &str| {
                        if split {
                            out.extend(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
                        } else if !v.is_empty() {
                            out.push(v.to_owned());
                        }
                    };
                    match first(s)? {
                        (b'"', rest) => {
                            let (v, rest) = json_string(rest)?;
                            push(v);
                            rest
                        }
                        // Array items are kept whole, as serde's path does.
                        (b'[', rest) => json_strings(rest, |v| out.push(v.to_owned()))?,
                        _ => return None,
                    }
                }
                (Some(r), None) => scan_registered(&mut claims, r, s)?,
                (Some(_), Some(_)) => return None,
            };
            s = skip_ws(s);
            match first(s) {
                Some((b',', rest)) => s = skip_ws(rest),
                Some((b'}', rest)) => {
                    s = rest;
                    break;
                }
                _ => return None,
            }
        }
    }
    skip_ws(s)
        .is_empty()
        .then_some((claims, roles, scopes, sid))
}

fn scan_registered<'a>(c: &mut Claims<()>, r: Registered, s: &'a str) -> Option<&'a str> {
    let string = |s: &'a str| json_string(s.strip_prefix('"')?);
    let fresh = |slot: bool| (!slot).then_some(());
    match r {
        Registered::Iss | Registered::Sub | Registered::Jti => {
            let slot = match r {
                Registered::Iss => &mut c.iss,
                Registered::Sub => &mut c.sub,
                _ => &mut c.jti,
            };
            fresh(slot.is_some())?;
            let (v, rest) = string(s)?;
            *slot = Some(v.to_owned());
            Some(rest)
        }
        Registered::Aud => {
            fresh(c.aud.is_some())?;
            match first(s)? {
                (b'"', rest) => {
                    let (v, rest) = json_string(rest)?;
                    c.aud = Some(Audience::One(v.to_owned()));
                    Some(rest)
                }
                (b'[', rest) => {
                    let mut all = Vec::new();
                    let rest = json_strings(rest, |v| all.push(v.to_owned()))?;
                    c.aud = Some(Audience::Many(all));
                    Some(rest)
                }
                _ => None,
            }
        }
        Registered::Exp | Registered::Nbf | Registered::Iat => {
            let slot = match r {
                Registered::Exp => &mut c.exp,
                Registered::Nbf => &mut c.nbf,
                _ => &mut c.iat,
            };
            fresh(slot.is_some())?;
            let (v, rest) = json_seconds(s)?;
            *slot = Some(v);
            Some(rest)
        }
    }
}

fn with_custom<C>(registered: Claims<()>, custom: C) -> Claims<C> {
    let Claims {
        iss,
        sub,
        aud,
        exp,
        nbf,
        iat,
        jti,
        custom: (),
    } = registered;
    let mut claims = Claims::new(custom);
    claims.iss = iss;
    claims.sub = sub;
    claims.aud = aud;
    claims.exp = exp;
    claims.nbf = nbf;
    claims.iat = iat;
    claims.jti = jti;
    claims
}

#[derive(Clone, Copy)]
enum Registered {
    Iss,
    Sub,
    Aud,
    Exp,
    Nbf,
    Iat,
    Jti,
}

impl Registered {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "iss" => Self::Iss,
            "sub" => Self::Sub,
            "aud" => Self::Aud,
            "exp" => Self::Exp,
            "nbf" => Self::Nbf,
            "iat" => Self::Iat,
            "jti" => Self::Jti,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Iss => "iss",
            Self::Sub => "sub",
            Self::Aud => "aud",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Iat => "iat",
            Self::Jti => "jti",
        }
    }
}

#[derive(Clone, Copy)]
enum Grant {
    Roles,
    Scopes,
}

/// A classified member name; the text is kept only for members the custom claims may read.
struct Key<'de> {
    registered: Option<Registered>,
    grant: Option<Grant>,
    name: Option<Cow<'de, str>>,
}

struct Slots<'n, 'c> {
    names: &'n GrantNames<'c>,
    claims: Claims<()>,
    roles: Vec<String>,
    scopes: Vec<String>,
    failed: Option<&'static str>,
    unsupported: bool,
}

impl Slots<'_, '_> {
    fn classify<'de>(&self, name: &str, keep: Option<Cow<'de, str>>) -> Key<'de> {
        let registered = Registered::from_name(name);
        let grant = if self.names.roles == Some(name) {
            Some(Grant::Roles)
        } else if self.names.scopes.iter().any(|s| &**s == name) {
            Some(Grant::Scopes)
        } else {
            None
        };
        Key {
            registered,
            grant,
            name: if registered.is_none() { keep } else { None },
        }
    }

    fn grants(&mut self, grant: Grant) -> Strings<'_> {
        match grant {
            Grant::Roles => Strings {
                split: false,
                out: &mut self.roles,
            },
            Grant::Scopes => Strings {
                split: true,
                out: &mut self.scopes,
            },
        }
    }

    /// Reads the value of registered claim `r` from `de`, refusing a second occurrence.
    fn registered<'de, D: Deserializer<'de>>(
        &mut self,
        r: Registered,
        de: D,
    ) -> Result<(), D::Error> {
        let c = &mut self.claims;
        let seen = match r {
            Registered::Iss => c.iss.is_some(),
            Registered::Sub => c.sub.is_some(),
            Registered::Aud => c.aud.is_some(),
            Registered::Exp => c.exp.is_some(),
            Registered::Nbf => c.nbf.is_some(),
            Registered::Iat => c.iat.is_some(),
            Registered::Jti => c.jti.is_some(),
        };
        let result = if seen {
            Err(D::Error::custom(format_args!(
                "duplicate field `{}`",
                r.name()
            )))
        } else {
            match r {
                Registered::Iss => String::deserialize(de).map(|v| c.iss = Some(v)),
                Registered::Sub => String::deserialize(de).map(|v| c.sub = Some(v)),
                Registered::Jti => String::deserialize(de).map(|v| c.jti = Some(v)),
                Registered::Aud => Audience::deserialize(de).map(|v| c.aud = Some(v)),
                Registered::Exp => NumericDate::deserialize(de).map(|v| c.exp = Some(v)),
                Registered::Nbf => NumericDate::deserialize(de).map(|v| c.nbf = Some(v)),
                Registered::Iat => NumericDate::deserialize(de).map(|v| c.iat = Some(v)),
            }
        };
        if result.is_err() {
            self.failed = Some(r.name());
        }
        result
    }

    /// Reads the value of a member the custom claims do not see.
    fn value<'de, A: MapAccess<'de>>(
        &mut self,
        registered: Option<Registered>,
        grant: Option<Grant>,
        map: &mut A,
    ) -> Result<(), A::Error> {
        match (registered, grant) {
            (None, None) => map.next_value::<IgnoredAny>().map(drop),
            (None, Some(g)) => map.next_value_seed(self.grants(g)),
            (Some(r), None) => map.next_value_seed(RegisteredSeed { slots: self, r }),
            (Some(r), Some(g)) => {
                // A claim configured as roles or scopes that is also registered: read twice.
                let value: Value = map.next_value()?;
                self.registered(r, &value).map_err(A::Error::custom)?;
                self.grants(g).deserialize(&value).map_err(A::Error::custom)
            }
        }
    }
}

struct RegisteredSeed<'s, 'n, 'c> {
    slots: &'s mut Slots<'n, 'c>,
    r: Registered,
}

impl<'de> DeserializeSeed<'de> for RegisteredSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        self.slots.registered(self.r, de)
    }
}

struct KeySeed<'s, 'n, 'c> {
    slots: &'s Slots<'n, 'c>,
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_, '_> {
    type Value = Key<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Key<'de>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_, '_> {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a claim name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(self
            .slots
            .classify(v, self.keep.then_some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(self
            .slots
            .classify(v, self.keep.then(|| Cow::Owned(v.to_owned()))))
    }
}

struct PayloadVisitor<'s, 'n, 'c, C> {
    slots: &'s mut Slots<'n, 'c>,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<'de, C: DeserializeOwned> Visitor<'de> for PayloadVisitor<'_, '_, '_, C> {
    type Value = C;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<C, A::Error> {
        C::deserialize(Rest {
            map: Filter {
                map: &mut map,
                slots: self.slots,
                pending: None,
                fields: None,
                done: false,
            },
        })
    }
}

/// The payload's map, with registered claims (and the roles and scopes) taken out on the way.
struct Filter<'m, 's, 'n, 'c, A> {
    map: &'m mut A,
    slots: &'s mut Slots<'n, 'c>,
    /// The grant of the member whose name was just handed out.
    pending: Option<Grant>,
    /// The fields of the struct being read: others are skipped, as `flatten` does.
    fields: Option<&'static [&'static str]>,
    done: bool,
}

impl<'de, A: MapAccess<'de>> Filter<'_, '_, '_, '_, A> {
    /// Consumes what the custom claims did not read.
    fn drain(&mut self) -> Result<(), A::Error> {
        while !self.done {
            match self.map.next_key_seed(KeySeed {
                slots: &*self.slots,
                keep: false,
            })? {
                Some(key) => self.slots.value(key.registered, key.grant, self.map)?,
                None => self.done = true,
            }
        }
        Ok(())
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filter<'_, '_, '_, '_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while !self.done {
            let Some(Key {
                registered,
                grant,
                name,
            }) = self.map.next_key_seed(KeySeed {
                slots: &*self.slots,
                keep: true,
            })?
            else {
                self.done = true;
                break;
            };
            match name {
                Some(name) if self.fields.is_none_or(|f| f.iter().any(|f| *f == &*name)) => {
                    self.pending = grant;
                    let key = match name {
                        Cow::Borrowed(b) => {
                            seed.deserialize(de::value::BorrowedStrDeserializer::<A::Error>::new(b))
                        }
                        Cow::Owned(s) => {
                            seed.deserialize(de::value::StringDeserializer::<A::Error>::new(s))
                        }
                    };
                    return key.map(Some);
                }
                _ => self.slots.value(registered, grant, self.map)?,
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        match self.pending.take() {
            None => self.map.next_value_seed(seed),
            Some(grant) => {
                // Both the custom claims and the roles or scopes read it.
                let value: Value = self.map.next_value()?;
                self.slots
                    .grants(grant)
                    .deserialize(&value)
                    .map_err(A::Error::custom)?;
                seed.deserialize(value).map_err(A::Error::custom)
            }
        }
    }
}

/// The custom claims' deserializer: the members left after the registered claims.
struct Rest<'m, 's, 'n, 'c, A> {
    map: Filter<'m, 's, 'n, 'c, A>,
}

impl<'de, A: MapAccess<'de>> Rest<'_, '_, '_, '_, A> {
    fn unsupported<T>(self) -> Result<T, A::Error> {
        self.map.slots.unsupported = true;
        Err(A::Error::custom("unsupported custom claims shape"))
    }
}

macro_rules! unsupported {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
                self.unsupported()
            }
        )*
    };
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Rest<'_, '_, '_, '_, A> {
    type Error = A::Error;

    fn deserialize_any<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, A::Error> {
        let value = visitor.visit_map(&mut self.map)?;
        self.map.drain()?;
        Ok(value)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        mut self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.map.fields = Some(fields);
        self.deserialize_any(visitor)
    }

    fn deserialize_unit<V: Visitor<'de>>(mut self, visitor: V) -> Result<V::Value, A::Error> {
        self.map.drain()?;
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, A::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.unsupported()
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.unsupported()
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.unsupported()
    }

    unsupported! {
        deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_bytes deserialize_byte_buf deserialize_seq
        deserialize_identifier
    }
}

/// A string (split on spaces when `split`) or an array of strings, appended to `out`.
pub(super) struct Strings<'o> {
    pub(super) split: bool,
    pub(super) out: &'o mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Strings<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strings<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.split {
            self.out
                .extend(v.split(' ').filter(|s| !s.is_empty()).map(str::to_owned));
        } else if !v.is_empty() {
            self.out.push(v.to_owned());
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Cow<'de, str>>()? {
            self.out.push(item.into_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

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
    fn header_scanner_agrees_with_serde() {
        for json in [
            &br#"{"alg":"HS256","kid":"k1","typ":"JWT"}"#[..],
            br#" { "typ" : "at+jwt" , "alg":"ES256" } "#,
        ] {
            let fast = scan_header(json).unwrap();
            let slow: SerdeHeader<'_> = serde_json::from_slice(json).unwrap();
            assert_eq!(fast.alg, slow.alg);
            assert_eq!(fast.kid, slow.kid);
            assert_eq!(fast.typ, slow.typ);
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
}
