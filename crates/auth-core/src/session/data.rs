//! A session's key/value data.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A session's key/value data: string keys, JSON values, kept in key order.
///
/// The entries sit in one sorted vector: a session with a few keys costs one allocation the
/// size of its entries (56 bytes each, plus the strings), where a `BTreeMap` would allocate a
/// 600-byte node for the first key. Lookups are binary searches. It serializes as a JSON
/// object in key order, like a `BTreeMap`, and accepts any JSON object (keys in any order; of
/// a repeated key, the last value wins).
///
/// ```
/// use auth_core::SessionData;
/// use serde_json::json;
///
/// let mut data = SessionData::new();
/// data.insert("theme".into(), json!("dark"));
/// data.insert("cart".into(), json!([1, 2]));
/// assert_eq!(data.get("theme"), Some(&json!("dark")));
/// assert_eq!(data.keys().map(String::as_str).collect::<Vec<_>>(), ["cart", "theme"]);
/// assert_eq!(serde_json::to_string(&data)?, r#"{"cart":[1,2],"theme":"dark"}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionData {
    /// Sorted by key, keys unique.
    entries: Vec<(String, Value)>,
}

impl SessionData {
    /// An empty map (no allocation).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// The number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn find(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        let i = self.find(key).ok()?;
        self.entries.get(i).map(|(_, v)| v)
    }

    /// The value under `key`, to change in place.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let i = self.find(key).ok()?;
        self.entries.get_mut(i).map(|(_, v)| v)
    }

    /// Whether `key` has a value.
    #[must_use]
    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.find(&key) {
            Ok(i) => self
                .entries
                .get_mut(i)
                .map(|(_, v)| std::mem::replace(v, value)),
            Err(i) => {
                // A first key gets room for itself only (a `Vec` would make room for four):
                // most sessions hold one or two keys, and a store keeps this buffer for the
                // session's whole life.
                if self.entries.capacity() == 0 {
                    self.entries.reserve_exact(1);
                }
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`; returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.find(key).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps only the entries for which `keep` returns `true`.
    pub fn retain(&mut self, mut keep: impl FnMut(&String, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&String, &Value)> + DoubleEndedIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &String> + DoubleEndedIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + DoubleEndedIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entries in key order, values mutable (keys are not: the order depends on them).
    pub fn iter_mut(
        &mut self,
    ) -> impl ExactSizeIterator<Item = (&String, &mut Value)> + DoubleEndedIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The values in key order, mutable.
    pub fn values_mut(
        &mut self,
    ) -> impl ExactSizeIterator<Item = &mut Value> + DoubleEndedIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// From entries in any order; of a repeated key, the last value wins. Sorts in place:
    /// `O(n log n)`, and no buffer beyond the input's.
    fn from_unsorted(mut entries: Vec<(String, Value)>) -> Self {
        // Stable: equal keys keep their input order, so the last one is the last of its run.
        entries.sort_by(|(a, _), (b, _)| a.cmp(b));
        // `dedup_by` keeps the first of a run and hands each later one as `later`: move the
        // later value into the kept entry, so the last one wins.
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        if entries.capacity() > 2 * entries.len() + 4 {
            entries.shrink_to_fit();
        }
        Self { entries }
    }
}

impl FromIterator<(String, Value)> for SessionData {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl Extend<(String, Value)> for SessionData {
    /// A few entries are inserted one by one; many are appended and sorted once, so
    /// neither a long extension nor many short ones is quadratic in the map's size.
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        let added: Vec<(String, Value)> = iter.into_iter().collect();
        if added.len() <= 8 {
            for (key, value) in added {
                self.insert(key, value);
            }
            return;
        }
        let mut entries = std::mem::take(&mut self.entries);
        entries.extend(added);
        *self = Self::from_unsorted(entries);
    }
}

impl<const N: usize> From<[(String, Value); N]> for SessionData {
    fn from(entries: [(String, Value); N]) -> Self {
        Self::from_unsorted(entries.into())
    }
}

impl IntoIterator for SessionData {
    type Item = (String, Value);
    type IntoIter = std::vec::IntoIter<(String, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a SessionData {
    type Item = (&'a String, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Value)>,
        fn(&'a (String, Value)) -> (&'a String, &'a Value),
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl fmt::Debug for SessionData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for SessionData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for SessionData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;

        impl<'de> Visitor<'de> for DataVisitor {
            type Value = SessionData;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of session data")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SessionData, A::Error> {
                // The hint comes from the input: cap it so a lying length cannot reserve much.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(SessionData::from_unsorted(entries))
            }
        }

        deserializer.deserialize_map(DataVisitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    #[test]
    fn insert_get_remove_keep_keys_sorted_and_unique() {
        let mut data = SessionData::new();
        assert_eq!(data.insert("b".into(), json!(1)), None);
        assert_eq!(data.insert("a".into(), json!(2)), None);
        assert_eq!(data.insert("b".into(), json!(3)), Some(json!(1)));
        assert_eq!(data.len(), 2);
        assert_eq!(data.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(data.get("b"), Some(&json!(3)));
        assert!(data.contains_key("a") && !data.contains_key("c"));
        *data.get_mut("a").unwrap() = json!("x");
        assert_eq!(data.get("a").unwrap(), "x");
        assert_eq!(data.remove("a"), Some(json!("x")));
        assert_eq!(data.remove("a"), None);
        data.retain(|k, _| k != "b");
        assert!(data.is_empty());
    }

    #[test]
    fn json_round_trip_and_last_duplicate_wins() {
        let data: SessionData = serde_json::from_str(r#"{"z":1,"a":{"n":[1]},"z":2}"#).unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data.get("z").unwrap(), 2);
        assert_eq!(
            serde_json::to_string(&data).unwrap(),
            r#"{"a":{"n":[1]},"z":2}"#
        );
        assert!(serde_json::from_str::<SessionData>("[1]").is_err());
        assert!(serde_json::from_str::<SessionData>(r#"{"a":}"#).is_err());
    }

    proptest! {
        /// Any sequence of operations leaves the same contents, in the same order, as a
        /// `BTreeMap` (the type this replaced), and the same JSON.
        #[test]
        fn behaves_like_a_btreemap(ops in proptest::collection::vec((0u8..4, "[a-e]{0,2}", 0i64..5), 0..60)) {
            let mut ours = SessionData::new();
            let mut model = BTreeMap::new();
            for (op, key, value) in ops {
                match op {
                    0 | 1 => prop_assert_eq!(ours.insert(key.clone(), json!(value)), model.insert(key, json!(value))),
                    2 => prop_assert_eq!(ours.remove(&key), model.remove(&key)),
                    _ => {
                        ours.retain(|_, v| v != &json!(value));
                        model.retain(|_, v| v != &json!(value));
                    }
                }
                prop_assert_eq!(ours.iter().collect::<Vec<_>>(), model.iter().collect::<Vec<_>>());
            }
            prop_assert_eq!(serde_json::to_string(&ours).unwrap(), serde_json::to_string(&model).unwrap());
            let collected: SessionData = model.clone().into_iter().rev().collect();
            prop_assert_eq!(&collected, &ours);
            // Extending with a copy of itself (every key repeated), in both batch sizes.
            let mut doubled = ours.clone();
            doubled.extend(ours.clone());
            prop_assert_eq!(&doubled, &ours);
            let mut few = SessionData::new();
            few.extend(ours.clone().into_iter().take(3));
            few.extend(ours.clone().into_iter().skip(3));
            prop_assert_eq!(&few, &ours);
            for (_, v) in doubled.iter_mut() {
                *v = json!(null);
            }
            prop_assert!(doubled.values().all(Value::is_null));
            prop_assert_eq!(doubled.len(), ours.len());
        }
    }
}
