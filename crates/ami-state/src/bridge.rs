//! Bridges and their members.

use crate::fields::{assign, Fields};

/// A bridge: channels that hear each other.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bridge {
    /// The `BridgeUniqueid`.
    pub id: String,
    /// The `BridgeType` (`basic`, `holding`, `stasis`, ...).
    pub kind: String,
    /// The `BridgeTechnology` (`simple_bridge`, `native_rtp`, `softmix`, ...).
    pub technology: String,
    /// The `BridgeCreator` (`<unknown>` when none).
    pub creator: String,
    /// The `BridgeName` (`<unknown>` when none).
    pub name: String,
    /// The Uniqueids of the channels in it, in the order they entered.
    pub channels: Vec<String>,
}

impl Bridge {
    /// An empty bridge with id `id`.
    pub(crate) fn new(id: &str) -> Self {
        Bridge {
            id: id.to_owned(),
            ..Bridge::default()
        }
    }

    /// Applies a bridge snapshot's descriptive headers; whether anything changed.
    pub(crate) fn update(&mut self, f: &Fields<'_>) -> bool {
        assign(&mut self.kind, f.bridge_type)
            | assign(&mut self.technology, f.bridge_technology)
            | assign(&mut self.creator, f.bridge_creator)
            | assign(&mut self.name, f.bridge_name)
    }
}
