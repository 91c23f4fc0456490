//! An owned copy of the whole model, for printing, diffing or sending on.

use crate::bridge::Bridge;
use crate::call::Call;
use crate::channel::Channel;
use crate::device::{DeviceState, ExtensionState};
use crate::limits::Stats;
use crate::model::Model;
use crate::queue::Queue;
use crate::time::Timestamp;

/// Everything the model holds, in plain structures, each list sorted by
/// key (queue members and callers keep their queue's order).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// Channels, by Uniqueid.
    pub channels: Vec<Channel>,
    /// Bridges, by id.
    pub bridges: Vec<Bridge>,
    /// Queues, by name.
    pub queues: Vec<Queue>,
    /// Device states, by device.
    pub devices: Vec<DeviceState>,
    /// Extension states, by context then extension.
    pub extensions: Vec<ExtensionState>,
    /// Originated calls, by ActionID.
    pub calls: Vec<Call>,
    /// The counters.
    pub stats: Stats,
    /// The latest server time seen.
    pub clock: Option<Timestamp>,
}

impl Snapshot {
    pub(crate) fn of(model: &Model) -> Self {
        Snapshot {
            channels: sorted(model.channels(), |c| c.uniqueid.clone()),
            bridges: sorted(model.bridges(), |b| b.id.clone()),
            queues: sorted(model.queues(), |q| q.name.clone()),
            devices: sorted(model.devices(), |d| d.device.clone()),
            extensions: sorted(model.extensions(), |e| (e.context.clone(), e.exten.clone())),
            calls: sorted(model.calls(), |c| c.action_id.clone()),
            stats: model.stats(),
            clock: model.clock(),
        }
    }
}

fn sorted<'a, T: Clone + 'a, K: Ord>(
    items: impl Iterator<Item = &'a T>,
    key: impl Fn(&T) -> K,
) -> Vec<T> {
    let mut out: Vec<T> = items.cloned().collect();
    out.sort_by_key(|item| key(item));
    out
}
