//! The model's maps: a fast hasher with a per-model random seed.
//!
//! Every event costs the model a few look-ups by Uniqueid, bridge id or
//! queue name. std's SipHash spends more on those short keys than the rest
//! of the look-up; this is a folded multiply (as in foldhash and wyhash, and
//! `ami_proto::ActionIdHasher`) over 8-byte words. Unlike ActionIDs, these
//! keys come from the server, and some from its other clients (an
//! Originate's `ChannelId`): the seed, drawn once per model from std's
//! `RandomState` (the randomness `HashMap::new` uses), keeps colliding keys
//! from being chosen ahead.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};

/// A map keyed by server-given strings.
pub(crate) type Map<K, V> = HashMap<K, V, Seed>;

/// A set of server-given keys (or of their hashes).
pub(crate) type Set<K> = HashSet<K, Seed>;

/// Builds [`Fold`] hashers from one random seed.
#[derive(Clone, Debug)]
pub(crate) struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        Seed(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for Seed {
    type Hasher = Fold;

    fn build_hasher(&self) -> Fold {
        Fold(self.0)
    }
}

/// A folded-multiply hasher (see the module doc).
pub(crate) struct Fold(u64);

impl Fold {
    fn add(&mut self, word: u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let product = u128::from(self.0 ^ word) * u128::from(K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for Fold {
    fn write(&mut self, bytes: &[u8]) {
        let word = |eight: &[u8]| u64::from_le_bytes(eight.try_into().expect("eight bytes"));
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(word(chunk));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(rest.iter().rev().fold(0, |w, &b| w << 8 | u64::from(b)));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte) | 0x100);
    }

    fn write_u64(&mut self, word: u64) {
        self.add(word);
    }

    fn write_usize(&mut self, word: usize) {
        self.add(word as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_keys_spread_and_seeds_differ() {
        let seed = Seed::default();
        let hashes: HashSet<u64> = (0..10_000)
            .map(|i| seed.hash_one(format!("1795727786.{i}")))
            .collect();
        assert_eq!(hashes.len(), 10_000, "no collisions among close Uniqueids");
        // The low bits pick the bucket: 10,000 keys in 16,384 buckets fill
        // about 7,485 when the hash is as good as random.
        let buckets: HashSet<u64> = hashes.iter().map(|h| h & 0x3fff).collect();
        assert!(buckets.len() > 7_200, "{}", buckets.len());
        let tags: HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert_eq!(tags.len(), 128, "the top seven bits vary too");
        let other = Seed::default();
        assert_ne!(seed.hash_one("a"), other.hash_one("a"));
        assert_ne!(seed.hash_one("ab"), seed.hash_one("ba"));
        assert_ne!(seed.hash_one(("a", "bc")), seed.hash_one(("ab", "c")));
    }
}
