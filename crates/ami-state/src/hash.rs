//! The model's maps: a fast hasher with a per-model random seed.
//!
//! Every event costs the model a few look-ups by Uniqueid, bridge id or
//! queue name. std's SipHash spends more on those short keys than the rest
//! of the look-up; [`KeyHasher`] is a folded multiply (as in foldhash and
//! wyhash, and `ami_proto::ActionIdHasher`) over 8-byte words. Unlike
//! ActionIDs, these keys come from the server, and some from its other
//! clients (an Originate's `ChannelId`), so each hash starts from a seed
//! drawn once per model from std's `RandomState` (the randomness
//! `HashMap::new` uses): colliding keys cannot be chosen ahead.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A map keyed by server-given strings.
pub(crate) type Map<K, V> = HashMap<K, V, Seed>;

/// Builds [`KeyHasher`]s that start from one random seed.
#[derive(Clone, Debug)]
pub(crate) struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        Seed(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for Seed {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        // Every key's hash depends on the seed, its starting state.
        KeyHasher(self.0)
    }
}

/// A folded multiply per 8-byte word, inlined where a map hashes: a key of
/// up to 16 bytes (a Uniqueid, a bridge id, a queue name) is its length and
/// two loads, where a call to `ActionIdHasher` (another crate's, not
/// inlined) walked it in a loop and hashed the seed and `str`'s
/// terminator byte through the same loop.
pub(crate) struct KeyHasher(u64);

impl KeyHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let product = u128::from(self.0 ^ word) * u128::from(K);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for KeyHasher {
    /// The length, then words covering every byte: for one length, the
    /// words are the bytes (the last word may overlap the one before), so
    /// two keys give the same words only when they are the same.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.add(n as u64);
        match n {
            0 => {}
            1..=3 => self.add(bytes.iter().fold(0, |w, &b| w << 8 | u64::from(b))),
            4..=7 => self.add(u64::from(word4(bytes, 0)) | u64::from(word4(bytes, n - 4)) << 32),
            8..=16 => {
                self.add(word8(bytes, 0));
                self.add(word8(bytes, n - 8));
            }
            _ => {
                let mut chunks = bytes.chunks_exact(8);
                for chunk in &mut chunks {
                    self.add(word8(chunk, 0));
                }
                if !chunks.remainder().is_empty() {
                    self.add(word8(bytes, n - 8));
                }
            }
        }
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The four bytes of `bytes` from `at` (the caller knows they are there).
#[inline]
fn word4(bytes: &[u8], at: usize) -> u32 {
    let four = bytes[at..at + 4].try_into().expect("four bytes");
    u32::from_le_bytes(four)
}

/// The eight bytes of `bytes` from `at` (the caller knows they are there).
#[inline]
fn word8(bytes: &[u8], at: usize) -> u64 {
    let eight = bytes[at..at + 8].try_into().expect("eight bytes");
    u64::from_le_bytes(eight)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

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

    #[test]
    fn keys_of_every_length_differing_anywhere_hash_apart() {
        let seed = Seed::default();
        // Every length each path of `write` takes, a byte changed at each
        // place, and the lengths that share words (`a` and `a\0`, nine and
        // ten `a`s) against each other.
        let mut hashes = HashSet::new();
        let mut keys = 0;
        let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).expect("ASCII");
        for len in 0..=40 {
            let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(hashes.insert(seed.hash_one(text(&base))));
            keys += 1;
            if len > 1 {
                assert!(hashes.insert(seed.hash_one("a".repeat(len))), "{len} a's");
                keys += 1;
            }
            for at in 0..len {
                for x in [0u8, b'A', 0x7f] {
                    let mut other = base.clone();
                    other[at] = x;
                    assert!(hashes.insert(seed.hash_one(text(&other))), "{other:?}");
                    keys += 1;
                }
            }
        }
        assert!(keys > 2_000);
        assert_ne!(seed.hash_one("a"), seed.hash_one("a\0"));
        assert_ne!(seed.hash_one("a".repeat(9)), seed.hash_one("a".repeat(10)));
    }
}
