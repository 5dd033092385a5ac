//! RFC 7519 claims with strict types; documented on [`Claims`].

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;

/// The registered claims of RFC 7519, section 4.1, plus your own claims `T`.
///
/// `T` is flattened: its fields sit at the top level of the JSON object, next to the registered
/// ones. Use `()` (the default) when you need none, or a map such as
/// `serde_json::Map<String, serde_json::Value>` to keep every other claim.
///
/// [`Claims<T>`] holds the registered claims (`iss`, `sub`, `aud`, `exp`, `nbf`, `iat`, `jti`)
/// and flattens your own typed claims `T` next to them. Parsing is stricter than most JWT
/// libraries on purpose:
///
/// - `aud` is a string or an array of strings, nothing else;
/// - `exp`, `nbf` and `iat` are JSON integers (seconds since the epoch); floats, strings and
///   `null` are refused;
/// - `iss`, `sub` and `jti` are strings; `null` is refused (leave the claim out instead);
/// - a claim that appears twice is refused, registered or not (JSON parsers disagree on which
///   of two values counts: most keep the last, some the first).
///
/// A type error names the claim: `invalid `aud` claim: expected a string or an array of strings`.
/// Whether a claim is *required* (and which values are accepted) is the verifier's decision,
/// not the parser's: every registered claim is an `Option` here.
///
/// # Example
///
/// ```
/// use auth_core::{Audience, Claims};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, PartialEq, Serialize, Deserialize)]
/// struct Custom {
///     roles: Vec<String>,
/// }
///
/// let json = r#"{"iss":"demo","sub":"alice","aud":["api","web"],"exp":1900000000,"roles":["user"]}"#;
/// let claims: Claims<Custom> = serde_json::from_str(json)?;
/// assert_eq!(claims.sub.as_deref(), Some("alice"));
/// assert!(claims.aud.as_ref().is_some_and(|aud| aud.contains("web")));
/// assert_eq!(claims.custom.roles, ["user"]);
///
/// // Wrong types are refused, and the error names the claim.
/// let err = Claims::<()>::from_json(br#"{"exp":"tomorrow"}"#).unwrap_err();
/// assert_eq!(err.claim(), Some("exp"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims<T = ()> {
    /// Issuer (`iss`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::iss"
    )]
    pub iss: Option<String>,
    /// Subject (`sub`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::sub"
    )]
    pub sub: Option<String>,
    /// Audience (`aud`): one string or an array of strings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::aud"
    )]
    pub aud: Option<Audience>,
    /// Expiration time (`exp`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::exp"
    )]
    pub exp: Option<NumericDate>,
    /// Not-before time (`nbf`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::nbf"
    )]
    pub nbf: Option<NumericDate>,
    /// Issued-at time (`iat`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::iat"
    )]
    pub iat: Option<NumericDate>,
    /// JWT ID (`jti`): the token's unique identifier, the key for revocation.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "strict::jti"
    )]
    pub jti: Option<String>,
    /// Your own claims, flattened next to the registered ones.
    #[serde(flatten)]
    pub custom: T,
}

/// The names of the registered claims this type knows, in RFC order.
pub const REGISTERED_CLAIMS: [&str; 7] = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

impl<T> Claims<T> {
    /// Claims with no registered claim set and the given custom part.
    pub fn new(custom: T) -> Self {
        Self {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            nbf: None,
            iat: None,
            jti: None,
            custom,
        }
    }
}

impl<T> Claims<T>
where
    T: for<'de> Deserialize<'de>,
{
    /// Parses a JSON claims set (a JWT payload after base64url decoding).
    ///
    /// # Errors
    ///
    /// [`ClaimsError`] when the input is not a JSON object, a claim appears twice, a
    /// registered claim has the wrong type, or `T` does not accept the remaining claims.
    /// [`ClaimsError::claim`] names the registered claim at fault, if any.
    pub fn from_json(json: &[u8]) -> Result<Self, ClaimsError> {
        unique_members(json).map_err(ClaimsError::new)?;
        serde_json::from_slice(json).map_err(ClaimsError::new)
    }
}

/// Checks that the top-level object of `json` names every member once (names compared after
/// unescaping). A registered claim twice is reported as serde reports it
/// (``duplicate field `exp` ``), so [`ClaimsError::claim`] names it.
fn unique_members(json: &[u8]) -> Result<(), serde_json::Error> {
    use std::borrow::Cow;

    use serde::de::{DeserializeSeed, Error as _, IgnoredAny, MapAccess};

    struct Name;

    impl<'de> DeserializeSeed<'de> for Name {
        type Value = Cow<'de, str>;

        fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
            de.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for Name {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a member name")
        }

        fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(v))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(v.to_owned()))
        }
    }

    struct Members;

    impl<'de> Visitor<'de> for Members {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen: Vec<Cow<'de, str>> = Vec::new();
            while let Some(name) = map.next_key_seed(Name)? {
                if seen.contains(&name) {
                    return Err(if REGISTERED_CLAIMS.contains(&&*name) {
                        A::Error::custom(format_args!("duplicate field `{name}`"))
                    } else {
                        A::Error::custom("a claim appears twice")
                    });
                }
                map.next_value::<IgnoredAny>()?;
                seen.push(name);
            }
            Ok(())
        }
    }

    let mut de = serde_json::Deserializer::from_slice(json);
    de.deserialize_map(Members)?;
    de.end()
}

/// Why a claims set could not be parsed.
///
/// The message names the registered claim at fault; so does [`claim`](Self::claim).
#[derive(Debug, thiserror::Error)]
#[error("invalid claims: {source}")]
pub struct ClaimsError {
    claim: Option<&'static str>,
    #[source]
    source: serde_json::Error,
}

impl ClaimsError {
    fn new(source: serde_json::Error) -> Self {
        let message = source.to_string();
        let claim = REGISTERED_CLAIMS.into_iter().find(|name| {
            message.starts_with(&format!("invalid `{name}` claim"))
                || message.starts_with(&format!("duplicate field `{name}`"))
        });
        Self { claim, source }
    }

    /// The registered claim (`"aud"`, `"exp"`, ...) whose value was refused, when the error
    /// is about one.
    pub fn claim(&self) -> Option<&'static str> {
        self.claim
    }
}

/// The `aud` claim: one audience or several.
///
/// Serializes back in the shape it was given (a string stays a string).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// `"aud": "api"`
    One(String),
    /// `"aud": ["api", "web"]`
    Many(Vec<String>),
}

impl Audience {
    /// Whether `audience` is (one of) the audience(s), compared exactly.
    pub fn contains(&self, audience: &str) -> bool {
        self.iter().any(|a| a == audience)
    }

    /// The audiences, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let slice: &[String] = match self {
            Self::One(one) => std::slice::from_ref(one),
            Self::Many(many) => many,
        };
        slice.iter().map(String::as_str)
    }
}

impl From<&str> for Audience {
    fn from(value: &str) -> Self {
        Self::One(value.to_owned())
    }
}

impl From<String> for Audience {
    fn from(value: String) -> Self {
        Self::One(value)
    }
}

impl From<Vec<String>> for Audience {
    fn from(value: Vec<String>) -> Self {
        Self::Many(value)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::One(one) => serializer.serialize_str(one),
            Self::Many(many) => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;

        impl<'de> Visitor<'de> for AudienceVisitor {
            type Value = Audience;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::One(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::One(v))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut all = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(16));
                while let Some(item) = seq.next_element::<StrictString>()? {
                    all.push(item.0);
                }
                Ok(Audience::Many(all))
            }
        }

        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// A JSON string, and nothing else (no `null`, no number).
struct StrictString(String);

impl<'de> Deserialize<'de> for StrictString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictStringVisitor;

        impl Visitor<'_> for StrictStringVisitor {
            type Value = StrictString;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrictString, E> {
                Ok(StrictString(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<StrictString, E> {
                Ok(StrictString(v))
            }
        }

        deserializer.deserialize_string(StrictStringVisitor)
    }
}

/// A NumericDate (RFC 7519, section 2): whole seconds since 1970-01-01T00:00:00Z.
///
/// Only JSON integers are accepted when parsing; `1.5`, `"1700000000"` and `null` are refused.
///
/// ```
/// use auth_core::NumericDate;
/// use time::OffsetDateTime;
///
/// let date = NumericDate::from_unix(1_700_000_000);
/// assert_eq!(date.to_datetime().map(OffsetDateTime::unix_timestamp), Some(1_700_000_000));
/// assert!(serde_json::from_str::<NumericDate>("1.5").is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NumericDate(i64);

impl NumericDate {
    /// A date from seconds since the Unix epoch.
    pub const fn from_unix(seconds: i64) -> Self {
        Self(seconds)
    }

    /// Seconds since the Unix epoch.
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// As a date-time, or `None` when the value lies outside the range `time` can represent.
    pub fn to_datetime(self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(self.0).ok()
    }
}

impl From<OffsetDateTime> for NumericDate {
    /// Truncates to whole seconds.
    fn from(value: OffsetDateTime) -> Self {
        Self(value.unix_timestamp())
    }
}

impl<'de> Deserialize<'de> for NumericDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumericDateVisitor;

        impl Visitor<'_> for NumericDateVisitor {
            type Value = NumericDate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer number of seconds since the epoch")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumericDate, E> {
                Ok(NumericDate(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumericDate, E> {
                i64::try_from(v)
                    .map(NumericDate)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }

        deserializer.deserialize_i64(NumericDateVisitor)
    }
}

/// `deserialize_with` helpers that put the claim's name into the error.
mod strict {
    use serde::de::{Deserialize, Deserializer, Error};

    use super::{Audience, NumericDate, StrictString};

    fn named<'de, D, T>(deserializer: D, name: &str) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        T::deserialize(deserializer)
            .map(Some)
            .map_err(|e| D::Error::custom(format_args!("invalid `{name}` claim: {e}")))
    }

    pub(super) fn iss<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        named::<_, StrictString>(d, "iss").map(|s| s.map(|s| s.0))
    }

    pub(super) fn sub<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        named::<_, StrictString>(d, "sub").map(|s| s.map(|s| s.0))
    }

    pub(super) fn jti<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        named::<_, StrictString>(d, "jti").map(|s| s.map(|s| s.0))
    }

    pub(super) fn aud<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Audience>, D::Error> {
        named(d, "aud")
    }

    pub(super) fn exp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NumericDate>, D::Error> {
        named(d, "exp")
    }

    pub(super) fn nbf<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NumericDate>, D::Error> {
        named(d, "nbf")
    }

    pub(super) fn iat<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NumericDate>, D::Error> {
        named(d, "iat")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, Value, json};

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Custom {
        roles: Vec<String>,
        #[serde(default)]
        tenant: Option<String>,
    }

    fn full() -> Claims<Custom> {
        Claims {
            iss: Some("https://issuer.example".into()),
            sub: Some("alice".into()),
            aud: Some(Audience::Many(vec!["api".into(), "web".into()])),
            exp: Some(NumericDate::from_unix(1_900_000_000)),
            nbf: Some(NumericDate::from_unix(1_700_000_000)),
            iat: Some(NumericDate::from_unix(1_700_000_000)),
            jti: Some("d2f1".into()),
            custom: Custom {
                roles: vec!["user".into()],
                tenant: Some("t1".into()),
            },
        }
    }

    #[test]
    fn registered_and_custom_claims_round_trip() {
        let claims = full();
        let json = serde_json::to_value(&claims).unwrap();
        assert_eq!(
            json,
            json!({
                "iss": "https://issuer.example", "sub": "alice", "aud": ["api", "web"],
                "exp": 1_900_000_000, "nbf": 1_700_000_000, "iat": 1_700_000_000,
                "jti": "d2f1", "roles": ["user"], "tenant": "t1"
            })
        );
        let back: Claims<Custom> = serde_json::from_value(json).unwrap();
        assert_eq!(back, claims);
    }

    #[test]
    fn absent_claims_are_none_and_not_serialized() {
        let claims = Claims::<()>::from_json(b"{}").unwrap();
        assert_eq!(claims, Claims::new(()));
        assert_eq!(serde_json::to_string(&claims).unwrap(), "{}");
    }

    #[test]
    fn aud_as_string_round_trips_as_string() {
        let claims = Claims::<()>::from_json(br#"{"aud":"api"}"#).unwrap();
        assert_eq!(claims.aud, Some(Audience::One("api".into())));
        assert!(claims.aud.as_ref().unwrap().contains("api"));
        assert!(!claims.aud.as_ref().unwrap().contains("ap"));
        assert_eq!(serde_json::to_string(&claims).unwrap(), r#"{"aud":"api"}"#);
    }

    #[test]
    fn aud_as_array_round_trips_as_array() {
        let claims = Claims::<()>::from_json(br#"{"aud":["a","b"]}"#).unwrap();
        let aud = claims.aud.as_ref().unwrap();
        assert_eq!(aud.iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            r#"{"aud":["a","b"]}"#
        );
    }

    fn refused_claim(json: &str) -> Option<&'static str> {
        let err =
            Claims::<()>::from_json(json.as_bytes()).expect_err(&format!("{json} must be refused"));
        let message = err.to_string();
        if let Some(name) = err.claim() {
            assert!(message.contains(&format!("`{name}`")), "{message}");
        }
        err.claim()
    }

    #[test]
    fn wrong_typed_aud_is_refused_naming_aud() {
        for json in [
            r#"{"aud":1}"#,
            r#"{"aud":null}"#,
            r#"{"aud":{"a":1}}"#,
            r#"{"aud":["a",1]}"#,
            r#"{"aud":["a",null]}"#,
            r#"{"aud":true}"#,
        ] {
            assert_eq!(refused_claim(json), Some("aud"), "{json}");
        }
    }

    #[test]
    fn wrong_typed_iss_sub_jti_are_refused_naming_the_claim() {
        for name in ["iss", "sub", "jti"] {
            for value in ["1", "null", "[\"a\"]", "{}", "true"] {
                let json = format!(r#"{{"{name}":{value}}}"#);
                assert_eq!(refused_claim(&json), Some(name), "{json}");
            }
        }
    }

    #[test]
    fn wrong_typed_numeric_dates_are_refused_naming_the_claim() {
        for name in ["exp", "nbf", "iat"] {
            for value in [
                "1.5",
                "1e9",
                "\"1700000000\"",
                "null",
                "[1]",
                "true",
                "18446744073709551615",
            ] {
                let json = format!(r#"{{"{name}":{value}}}"#);
                assert_eq!(refused_claim(&json), Some(name), "{json}");
            }
        }
    }

    #[test]
    fn negative_and_large_integer_dates_are_accepted() {
        let claims = Claims::<()>::from_json(br#"{"exp":-1,"iat":9223372036854775807}"#).unwrap();
        assert_eq!(claims.exp, Some(NumericDate::from_unix(-1)));
        assert_eq!(claims.iat.unwrap().unix(), i64::MAX);
        assert_eq!(claims.iat.unwrap().to_datetime(), None);
    }

    #[test]
    fn duplicate_registered_claim_is_refused() {
        assert_eq!(refused_claim(r#"{"exp":1,"exp":2}"#), Some("exp"));
        assert_eq!(refused_claim(r#"{"exp":1,"e\u0078p":1}"#), Some("exp"));
    }

    #[test]
    fn any_claim_twice_is_refused() {
        for json in [
            r#"{"roles":["user"],"roles":["admin"]}"#,
            r#"{"x":1,"x":1}"#,
            r#"{"scope":"a","sc\u006fpe":"b"}"#,
        ] {
            assert!(
                Claims::<Value>::from_json(json.as_bytes()).is_err(),
                "{json}"
            );
            assert_eq!(refused_claim(json), None, "{json}");
        }
        // Nested objects are values: their members are the value's business.
        assert!(Claims::<()>::from_json(br#"{"a":{"b":1},"c":{"b":2}}"#).is_ok());
    }

    #[test]
    fn non_object_payload_is_refused_without_naming_a_claim() {
        assert_eq!(refused_claim("[]"), None);
        assert_eq!(refused_claim("\"x\""), None);
        assert_eq!(refused_claim("{"), None);
    }

    #[test]
    fn custom_part_can_keep_every_unregistered_claim() {
        let claims =
            Claims::<Map<String, Value>>::from_json(br#"{"sub":"a","scope":"r w","n":1}"#).unwrap();
        assert_eq!(claims.sub.as_deref(), Some("a"));
        assert_eq!(claims.custom.len(), 2);
        assert_eq!(claims.custom["scope"], "r w");
        assert!(!claims.custom.contains_key("sub"));
    }

    #[test]
    fn custom_part_errors_are_reported() {
        let err = Claims::<Custom>::from_json(br#"{"roles":"admin"}"#).unwrap_err();
        assert_eq!(err.claim(), None);
        let err = Claims::<Custom>::from_json(br#"{"sub":"a"}"#).unwrap_err();
        assert!(err.to_string().contains("roles"), "{err}");
    }

    #[test]
    fn numeric_date_from_datetime_truncates() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_900_000_000).unwrap();
        assert_eq!(NumericDate::from(at).unix(), 1_700_000_000);
    }
}
