//! A bounded memory of keys that went away for good.
//!
//! Uniqueids and bridge ids are never reused, so a list item naming one
//! that already hung up or was destroyed is older than the event that
//! removed it (the list is delivered whole, after events that overtook its
//! items) and must not bring it back.

use std::collections::{HashSet, VecDeque};

/// The last `limit` keys removed, oldest forgotten first.
#[derive(Debug)]
pub(super) struct Tombstones {
    order: VecDeque<String>,
    set: HashSet<String>,
    limit: usize,
}

impl Tombstones {
    pub(super) fn new(limit: usize) -> Self {
        Tombstones {
            order: VecDeque::new(),
            set: HashSet::new(),
            limit,
        }
    }

    pub(super) fn insert(&mut self, key: &str) {
        if self.limit == 0 || self.set.contains(key) {
            return;
        }
        if self.order.len() >= self.limit {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(key.to_owned());
        self.set.insert(key.to_owned());
    }

    pub(super) fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
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
