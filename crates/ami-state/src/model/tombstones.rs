//! A bounded memory of keys that went away for good.
//!
//! Uniqueids and bridge ids are never reused, so a list item naming one
//! that already hung up or was destroyed is older than the event that
//! removed it (the list is delivered whole, after events that overtook its
//! items) and must not bring it back.
//!
//! Only 64-bit hashes of the keys are kept, so remembering costs no
//! allocation; two keys would have to share a hash among a few thousand
//! for a listed one to be wrongly ignored.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use crate::hash::Seed;

/// The last `limit` keys removed, oldest forgotten first.
#[derive(Debug)]
pub(super) struct Tombstones {
    order: VecDeque<u64>,
    set: HashSet<u64, BuildHasherDefault<Hashed>>,
    seed: Seed,
    limit: usize,
}

impl Tombstones {
    pub(super) fn new(limit: usize) -> Self {
        Tombstones {
            order: VecDeque::new(),
            set: HashSet::default(),
            seed: Seed::default(),
            limit,
        }
    }

    pub(super) fn insert(&mut self, key: &str) {
        let hash = self.seed.hash_one(key);
        // One probe both tells a key already here and remembers a new one.
        if self.limit == 0 || !self.set.insert(hash) {
            return;
        }
        if self.order.len() >= self.limit {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(hash);
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        !self.set.is_empty() && self.set.contains(&self.seed.hash_one(key))
    }
}

/// The set's hasher: its keys are seeded hashes already, spread in their
/// low bits and their top seven alike (see `crate::hash`'s test), so they
/// are used as they are instead of being hashed again on every probe.
#[derive(Default)]
struct Hashed(u64);

impl Hasher for Hashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64`s are hashed here; anything else is folded in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_few() {
        let mut t = Tombstones::new(2);
        t.insert("a");
        t.insert("b");
        t.insert("b");
        assert!(t.contains("a"));
        t.insert("c");
        assert!(!t.contains("a"), "the oldest is forgotten");
        assert!(t.contains("b") && t.contains("c"));
        for key in ["d", "e", "f"] {
            t.insert(key);
        }
        assert!(!t.contains("c") && t.contains("e") && t.contains("f"));
        assert_eq!((t.order.len(), t.set.len()), (2, 2), "bounded");
        let mut none = Tombstones::new(0);
        none.insert("a");
        assert!(!none.contains("a"));
    }
}
