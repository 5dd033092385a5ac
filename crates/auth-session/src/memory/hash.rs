//! The map key and its keyed hash.
//!
//! Session IDs are 128 random bits, so hashing them needs no SipHash: a folded multiply of the
//! two halves, each mixed with a per-store random key, spreads them as well and costs two
//! instructions. The random key keeps the bucket layout unpredictable even for IDs a caller
//! chose (the session layer only ever stores IDs it generated).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};

use auth_core::SessionId;

/// A session ID as the map keeps it: the raw 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Key(pub(super) [u8; SessionId::LEN]);

impl Key {
    pub(super) const fn of(id: &SessionId) -> Self {
        Self(*id.as_bytes())
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_le_bytes(self.0));
    }
}

/// Builds [`KeyHasher`]s with this store's random key.
#[derive(Clone, Copy)]
pub(super) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    /// A fresh random key (from the standard library's per-process randomness).
    pub(super) fn random() -> Self {
        let seed = RandomState::new();
        Self {
            k0: seed.hash_one(0x5e55_1011_u64),
            k1: seed.hash_one(0x6b65_7973_u64) | 1,
        }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = KeyHasher;

    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            k0: self.k0,
            k1: self.k1,
            hash: 0,
        }
    }
}

/// The hasher behind [`KeyedState`].
pub(super) struct KeyHasher {
    k0: u64,
    k1: u64,
    hash: u64,
}

#[allow(clippy::cast_possible_truncation)] // folding 128 bits into 64 on purpose
const fn fold(a: u64, b: u64) -> u64 {
    let product = (a as u128) * (b as u128);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.hash
    }

    #[allow(clippy::cast_possible_truncation)] // splitting 128 bits into two halves
    fn write_u128(&mut self, value: u128) {
        let lo = value as u64;
        let hi = (value >> 64) as u64;
        self.hash = fold(lo ^ self.k0 ^ self.hash, hi ^ self.k1);
    }

    // Only `Key` is hashed with this hasher; any other input still hashes correctly, eight
    // bytes at a time.
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            for (slot, byte) in word.iter_mut().zip(chunk) {
                *slot = *byte;
            }
            self.hash = fold(u64::from_le_bytes(word) ^ self.k0 ^ self.hash, self.k1);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_distinct_keys_spread() {
        let state = KeyedState::random();
        let a = Key([7; 16]);
        assert_eq!(state.hash_one(a), state.hash_one(Key([7; 16])));
        // Sequential (non-random) IDs still land in distinct buckets.
        let buckets: HashSet<u64> = (0u128..4096)
            .map(|n| state.hash_one(Key(n.to_le_bytes())) & 0xFFF)
            .collect();
        assert!(buckets.len() > 2000, "{}", buckets.len());
    }

    #[test]
    fn stores_get_different_keys() {
        let key = Key([1; 16]);
        assert_ne!(
            KeyedState::random().hash_one(key),
            KeyedState::random().hash_one(key)
        );
    }
}
