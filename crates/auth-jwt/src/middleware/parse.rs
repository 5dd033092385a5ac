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

/// Parses a protected header: the fast scanner for the usual shape, else serde.
pub(super) fn parse_header(json: &[u8]) -> Option<Header<'_>> {
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

/// The member names of one JSON object seen so far: a second use of a name is an error.
#[derive(Default)]
struct Names<'de>(Vec<Cow<'de, str>>);

impl<'de> Names<'de> {
    fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.0.contains(&name) {
            return Err(E::custom("duplicate member"));
        }
        self.0.push(name);
        Ok(())
    }
}

/// A string, borrowed from the input when it holds no escape.
struct CowStr;

impl<'de> DeserializeSeed<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Cow<'de, str>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
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

// The scanners walk the text with a byte cursor (the input is checked to be UTF-8 once, up
// front). The cursor only ever stops next to an ASCII byte, so every slice it hands out is on
// a character boundary; no piece needs checking again.

/// Which strings a scanner accepts: none has escapes or control characters; the header's are
/// printable ASCII too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StringKind {
    Claims,
    Header,
}

/// Bytes that end a string the scanners accept (the closing `"` is tested separately).
static STOP_CLAIM: [bool; 256] = stop_table(false);
static STOP_HEADER: [bool; 256] = stop_table(true);

// Evaluated at compile time: an out-of-bounds index would fail the build, not panic.
#[allow(clippy::indexing_slicing)]
const fn stop_table(ascii_only: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b == b'\\' as usize || b < 0x20 || (ascii_only && b >= 0x7F);
        b += 1;
    }
    table
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// The high bit of each byte of `word` that is zero. Exact for the lowest such byte, which is
/// all the string scanner reads (a borrow can only mark bytes above a real match).
#[inline(always)]
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The high bit of each byte of the little-endian `word` that ends a string: `"` or a byte
/// `stop` would mark (checked again byte by byte: only the lowest mark is exact).
#[inline(always)]
const fn string_stops(word: u64, ascii_only: bool) -> u64 {
    let quote = zero_bytes(word ^ (ONES * b'"' as u64));
    let backslash = zero_bytes(word ^ (ONES * b'\\' as u64));
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let outside_ascii = if ascii_only {
        (word & HIGHS) | zero_bytes(word ^ (ONES * 0x7F))
    } else {
        0
    };
    quote | backslash | control | outside_ascii
}

/// A position in JSON text that is valid UTF-8.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips JSON whitespace.
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Consumes `byte`, or fails without moving.
    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// Skips whitespace, then consumes `byte`.
    #[inline]
    fn ws_eat(&mut self, byte: u8) -> Option<()> {
        self.ws();
        self.eat(byte)
    }

    /// Consumes the ASCII `word` (`true`, `false`, `null`).
    fn word(&mut self, word: &str) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.text.as_bytes().get(self.pos..end)? == word.as_bytes()).then(|| self.pos = end)
    }

    /// A string of `kind` at the cursor (its opening `"` included); its text without the
    /// quotes.
    #[inline]
    fn string(&mut self, kind: StringKind) -> Option<&'a str> {
        self.eat(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let ascii_only = kind == StringKind::Header;
        let stop = if ascii_only {
            &STOP_HEADER
        } else {
            &STOP_CLAIM
        };
        // Eight bytes at a time while eight are left: most strings end in the first word.
        while let Some(chunk) = self
            .pos
            .checked_add(8)
            .and_then(|end| bytes.get(self.pos..end))
        {
            let word = u64::from_le_bytes(chunk.try_into().ok()?);
            let stops = string_stops(word, ascii_only);
            if stops != 0 {
                self.pos += (stops.trailing_zeros() / 8) as usize;
                break;
            }
            self.pos += 8;
        }
        loop {
            let b = *bytes.get(self.pos)?;
            if b == b'"' {
                break;
            }
            if stop.get(usize::from(b)).copied().unwrap_or(true) {
                return None;
            }
            self.pos += 1;
        }
        let text = self.text.get(start..self.pos)?;
        self.pos += 1;
        Some(text)
    }

    /// Consumes a run of ASCII digits; their count.
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// The items of an array or object whose opening bracket was consumed, up to and
    /// including `close`: `item` reads each one (the cursor on its first byte); items are
    /// separated by `,`, whitespace is allowed around everything, and the container may be
    /// empty.
    #[inline]
    fn items(&mut self, close: u8, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b if b == close => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Whether only whitespace is left.
    fn at_end(&mut self) -> bool {
        self.ws();
        self.pos == self.text.len()
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

/// An array of strings at the cursor, after its `[`; `f` sees each item.
fn json_strings<'a>(c: &mut Cursor<'a>, mut f: impl FnMut(&'a str)) -> Option<()> {
    c.items(b']', |c| {
        f(c.string(StringKind::Claims)?);
        Some(())
    })
}

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

/// Skips one JSON number (RFC 8259 grammar).
fn skip_number(c: &mut Cursor<'_>) -> Option<()> {
    let _ = c.eat(b'-');
    match c.peek()? {
        b'0' => c.pos += 1,
        b'1'..=b'9' => {
            c.digits();
        }
        _ => return None,
    }
    if c.eat(b'.').is_some() && c.digits() == 0 {
        return None;
    }
    if let Some(b'e' | b'E') = c.peek() {
        c.pos += 1;
        if let Some(b'+' | b'-') = c.peek() {
            c.pos += 1;
        }
        if c.digits() == 0 {
            return None;
        }
    }
    Some(())
}

/// Skips one JSON value; `None` for anything the scanner leaves to serde (escapes, control
/// characters, deep nesting, bad syntax).
fn skip_value(c: &mut Cursor<'_>, depth: u8) -> Option<()> {
    let depth = depth.checked_add(1).filter(|d| *d <= 64)?;
    match c.peek()? {
        b'"' => c.string(StringKind::Claims).map(|_| ()),
        b'[' => {
            c.pos += 1;
            c.items(b']', |c| skip_value(c, depth))
        }
        b'{' => {
            c.pos += 1;
            c.items(b'}', |c| {
                c.string(StringKind::Claims)?;
                c.ws_eat(b':')?;
                c.ws();
                skip_value(c, depth)
            })
        }
        b't' => c.word("true"),
        b'f' => c.word("false"),
        b'n' => c.word("null"),
        _ => skip_number(c),
    }
}

/// Equality for short member names, without a call into `memcmp`.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

/// The most members the scanner tracks for duplicates; a larger claims set goes to serde.
const SCAN_MEMBERS: usize = 32;

/// The claims of the usual payload, without serde: registered claims of the right type,
/// roles and scopes as strings or arrays of strings, any other member skipped, and no member
/// name twice. `None` for anything else, including every error: serde then parses (and
/// decides), so the scanner never accepts what serde would refuse nor reads a value
/// differently.
fn scan_claims(json: &str, names: &GrantNames<'_>) -> Option<Scanned> {
    let mut claims = Claims::new(());
    let (mut roles, mut scopes) = (Vec::new(), Vec::new());
    let mut sid: Option<String> = None;
    let mut seen: [&str; SCAN_MEMBERS] = [""; SCAN_MEMBERS];
    let mut members = 0;
    let mut c = Cursor::new(json);
    c.ws_eat(b'{')?;
    c.items(b'}', |c| {
        let name = c.string(StringKind::Claims)?;
        // A name used twice: serde refuses it (other parsers would keep one of the values).
        let earlier = seen.get(..members)?;
        if earlier.iter().any(|s| same_name(s, name)) {
            return None;
        }
        *seen.get_mut(members)? = name;
        members += 1;
        c.ws_eat(b':')?;
        c.ws();
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
    c.at_end().then_some((claims, roles, scopes, sid))
}

/// The `iss` of a payload (not yet verified), to pick the trust entry whose keys may check
/// it: `Some(None)` when there is no `iss` or it is not a string, `None` when the payload is
/// not a JSON object or names a member twice. Only a top-level string counts, read the way
/// serde reads it.
pub(super) fn issuer_of(payload: &[u8]) -> Option<Option<Cow<'_, str>>> {
    let text = std::str::from_utf8(payload).ok()?;
    scan_issuer(text).or_else(|| serde_issuer(payload))
}

/// The fast path of [`issuer_of`]: plain strings, at most [`SCAN_MEMBERS`] members.
fn scan_issuer(json: &str) -> Option<Option<Cow<'_, str>>> {
    let mut iss = None;
    let mut not_a_string = false;
    let mut seen: [&str; SCAN_MEMBERS] = [""; SCAN_MEMBERS];
    let mut members = 0;
    let mut c = Cursor::new(json);
    c.ws_eat(b'{')?;
    c.items(b'}', |c| {
        let name = c.string(StringKind::Claims)?;
        let earlier = seen.get(..members)?;
        if earlier.iter().any(|s| same_name(s, name)) {
            return None;
        }
        *seen.get_mut(members)? = name;
        members += 1;
        c.ws_eat(b':')?;
        c.ws();
        if same_name(name, "iss") && c.peek()? == b'"' {
            iss = Some(Cow::Borrowed(c.string(StringKind::Claims)?));
        } else {
            not_a_string |= same_name(name, "iss");
            skip_value(c, 0)?;
        }
        Some(())
    })?;
    c.at_end().then_some(())?;
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
    #[inline]
    fn from_name(name: &str) -> Option<Self> {
        // All seven are three bytes: compare them as one array, not string by string.
        let &[a, b, c] = name.as_bytes() else {
            return None;
        };
        Some(match [a, b, c] {
            [b'i', b's', b's'] => Self::Iss,
            [b's', b'u', b'b'] => Self::Sub,
            [b'a', b'u', b'd'] => Self::Aud,
            [b'e', b'x', b'p'] => Self::Exp,
            [b'n', b'b', b'f'] => Self::Nbf,
            [b'i', b'a', b't'] => Self::Iat,
            [b'j', b't', b'i'] => Self::Jti,
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

/// A classified member name, with its text (borrowed from the payload unless escaped).
struct Key<'de> {
    registered: Option<Registered>,
    grant: Option<Grant>,
    name: Cow<'de, str>,
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
    fn classify<'de>(&self, name: Cow<'de, str>) -> Key<'de> {
        let registered = Registered::from_name(&name);
        let grant = if self.names.roles == Some(&*name) {
            Some(Grant::Roles)
        } else if self.names.scopes.iter().any(|s| **s == *name) {
            Some(Grant::Scopes)
        } else {
            None
        };
        Key {
            registered,
            grant,
            name,
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
        Ok(self.slots.classify(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(self.slots.classify(Cow::Owned(v.to_owned())))
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
                seen: Names::default(),
            },
        })
    }
}

/// The payload's map, with registered claims (and the roles and scopes) taken out on the way.
struct Filter<'de, 'm, 's, 'n, 'c, A> {
    map: &'m mut A,
    slots: &'s mut Slots<'n, 'c>,
    /// The grant of the member whose name was just handed out.
    pending: Option<Grant>,
    /// The fields of the struct being read: others are skipped, as `flatten` does.
    fields: Option<&'static [&'static str]>,
    done: bool,
    /// Every member name so far: a claims set names each member once.
    seen: Names<'de>,
}

impl<'de, A: MapAccess<'de>> Filter<'de, '_, '_, '_, '_, A> {
    /// The next member's name, refusing one seen before.
    fn next_name(&mut self) -> Result<Option<Key<'de>>, A::Error> {
        let key = self.map.next_key_seed(KeySeed {
            slots: &*self.slots,
        })?;
        if let Some(key) = &key {
            self.seen.insert(key.name.clone())?;
        }
        Ok(key)
    }

    /// Consumes what the custom claims did not read.
    fn drain(&mut self) -> Result<(), A::Error> {
        while !self.done {
            match self.next_name()? {
                Some(key) => self.slots.value(key.registered, key.grant, self.map)?,
                None => self.done = true,
            }
        }
        Ok(())
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Filter<'de, '_, '_, '_, '_, A> {
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
            }) = self.next_name()?
            else {
                self.done = true;
                break;
            };
            let custom = registered.is_none();
            match name {
                name if custom && self.fields.is_none_or(|f| f.iter().any(|f| *f == &*name)) => {
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
struct Rest<'de, 'm, 's, 'n, 'c, A> {
    map: Filter<'de, 'm, 's, 'n, 'c, A>,
}

impl<'de, A: MapAccess<'de>> Rest<'de, '_, '_, '_, '_, A> {
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

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Rest<'de, '_, '_, '_, '_, A> {
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

    /// The reference for `Cursor::string`: byte by byte.
    fn string_by_bytes(text: &str, kind: StringKind) -> Option<&str> {
        let body = text.strip_prefix('"')?;
        let end = body.bytes().position(|b| {
            b == b'"' || b == b'\\' || b < 0x20 || (kind == StringKind::Header && b >= 0x7F)
        })?;
        (body.as_bytes()[end] == b'"').then(|| &body[..end])
    }

    #[test]
    fn string_scanner_finds_every_stop_at_every_offset() {
        // Every stop byte at every position across the 8-byte words, with text after it so
        // the word-at-a-time path runs, and at the very end so the byte path does.
        for kind in [StringKind::Claims, StringKind::Header] {
            for stop in ["\"", "\\", "\u{0}", "\n", "\u{1f}", "\u{7f}", "é", "\u{80}"] {
                for at in 0..20 {
                    for tail in ["", "\",\"more text after it\"}"] {
                        let text =
                            format!("\"{}{stop}{}\"{tail}", "a".repeat(at), "b".repeat(at % 5));
                        let mut c = Cursor::new(&text);
                        let got = c.string(kind);
                        assert_eq!(got, string_by_bytes(&text, kind), "{text:?}");
                        if let Some(got) = got {
                            assert_eq!(&text[c.pos..], &text[got.len() + 2..], "{text:?}");
                        }
                    }
                }
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
