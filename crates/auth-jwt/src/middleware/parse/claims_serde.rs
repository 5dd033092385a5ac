//! The general payload path: the typed claims, the roles and the scopes in one serde pass.
//!
//! The custom claims see the payload's map through [`Filter`] (wrapped in [`Rest`], their
//! deserializer), which takes the registered claims and the roles and scopes out on the way
//! and hands `C` the other members as `#[serde(flatten)]` would, without buffering them. A
//! shape this does not stream (an enum, a tuple...) is reported as unsupported, and the layer
//! takes its two-pass path. [`UnitProbe`] tells whether `C` reads nothing, so that the fast
//! scanner may run instead.

use std::borrow::Cow;
use std::fmt;

use auth_core::{Audience, Claims, NumericDate};
use serde::Deserialize as _;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess,
    SeqAccess, Visitor,
};
use serde_json::Value;

use super::names::Names;
use super::registered::{Grant, Registered, with_custom};
use super::{GrantNames, Parsed, PayloadError};

/// [`parse_payload`](super::parse_payload) without the fast scanner.
pub(super) fn serde_payload<C: DeserializeOwned>(
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

/// Whether `C` reads nothing from the claims: `()`, a unit struct, `IgnoredAny`. Then the
/// claims never need serde's `flatten` machinery.
pub(super) fn unit_like<C: DeserializeOwned>() -> Option<C> {
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
struct Strings<'o> {
    split: bool,
    out: &'o mut Vec<String>,
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
