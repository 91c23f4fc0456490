//! The model's maps: a fast hasher with a per-model random seed.
//!
//! Every event costs the model a few look-ups by Uniqueid, bridge id or
//! queue name. std's SipHash spends more on those short keys than the rest
//! of the look-up; `ami_proto::ActionIdHasher` is a folded multiply (as in
//! foldhash and wyhash) over 8-byte words. Unlike ActionIDs, these keys
//! come from the server, and some from its other clients (an Originate's
//! `ChannelId`), so each hash starts from a seed drawn once per model from
//! std's `RandomState` (the randomness `HashMap::new` uses): colliding keys
//! cannot be chosen ahead.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use ami_proto::ActionIdHasher;

/// A map keyed by server-given strings.
pub(crate) type Map<K, V> = HashMap<K, V, Seed>;

/// Builds folded-multiply hashers that start from one random seed.
#[derive(Clone, Debug)]
pub(crate) struct Seed(u64);

impl Default for Seed {
    fn default() -> Self {
        Seed(RandomState::new().hash_one(0x5eed_u64))
    }
}

impl BuildHasher for Seed {
    type Hasher = ActionIdHasher;

    fn build_hasher(&self) -> ActionIdHasher {
        // The seed is the first word folded in: every key's hash depends on it.
        let mut hasher = ActionIdHasher::default();
        hasher.write_u64(self.0);
        hasher
    }
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
}
