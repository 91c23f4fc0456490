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

use std::collections::VecDeque;
use std::hash::BuildHasher;

use crate::hash::{Seed, Set};

/// The last `limit` keys removed, oldest forgotten first.
#[derive(Debug)]
pub(super) struct Tombstones {
    order: VecDeque<u64>,
    set: Set<u64>,
    seed: Seed,
    limit: usize,
}

impl Tombstones {
    pub(super) fn new(limit: usize) -> Self {
        Tombstones {
            order: VecDeque::new(),
            set: Set::default(),
            seed: Seed::default(),
            limit,
        }
    }

    pub(super) fn insert(&mut self, key: &str) {
        let hash = self.seed.hash_one(key);
        if self.limit == 0 || self.set.contains(&hash) {
            return;
        }
        if self.order.len() >= self.limit {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(hash);
        self.set.insert(hash);
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        !self.set.is_empty() && self.set.contains(&self.seed.hash_one(key))
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
        let mut none = Tombstones::new(0);
        none.insert("a");
        assert!(!none.contains("a"));
    }
}
