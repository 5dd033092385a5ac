//! Member names on the serde paths: [`CowStr`] reads one (borrowed from the input when it
//! holds no escape), [`Names`] refuses a second use of one.
//!
//! Shared by the header parser, the unverified `iss` read and the payload's one-pass
//! parser: a JSON object names each member once everywhere the layer reads one.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

/// The member names of one JSON object seen so far: a second use of a name is an error.
#[derive(Default)]
pub(super) struct Names<'de>(Vec<Cow<'de, str>>);

impl<'de> Names<'de> {
    pub(super) fn insert<E: de::Error>(&mut self, name: Cow<'de, str>) -> Result<(), E> {
        if self.0.contains(&name) {
            return Err(E::custom("duplicate member"));
        }
        self.0.push(name);
        Ok(())
    }
}

/// A string, borrowed from the input when it holds no escape.
pub(super) struct CowStr;

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
