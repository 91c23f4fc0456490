//! Bounds on every collection, and the counters that say what they cost.

/// The most the model holds of each thing. Past a bound, a new entry is
/// refused and counted in [`Overflow`]; what the model holds stays right.
///
/// The defaults fit a large call centre on one server (a few thousand
/// concurrent calls, each two to four channels) with room to spare; at
/// these sizes the model holds tens of megabytes at most.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Channels.
    pub channels: usize,
    /// Bridges.
    pub bridges: usize,
    /// Channels in one bridge (a conference can be large).
    pub channels_per_bridge: usize,
    /// Queues.
    pub queues: usize,
    /// Members of one queue.
    pub members_per_queue: usize,
    /// Callers waiting in one queue.
    pub callers_per_queue: usize,
    /// Device states.
    pub devices: usize,
    /// Extension (hint) states.
    pub extensions: usize,
    /// Originated call records, finished ones included. When full, the
    /// oldest finished record makes room; with none finished, a new
    /// Originate is not tracked.
    pub calls: usize,
    /// Channels followed per originated call.
    pub channels_per_call: usize,
    /// Changes waiting to be drained.
    pub changes: usize,
    /// Hung-up channels and destroyed bridges remembered, so that a list
    /// taken before they went (and delivered after) cannot bring them back.
    pub tombstones: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            channels: 20_000,
            bridges: 10_000,
            channels_per_bridge: 1_000,
            queues: 1_000,
            members_per_queue: 1_000,
            callers_per_queue: 1_000,
            devices: 20_000,
            extensions: 20_000,
            calls: 10_000,
            channels_per_call: 16,
            changes: 10_000,
            tombstones: 4_096,
        }
    }
}

/// Counters of what the model saw and could not hold or place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Events handled (every call of [`crate::Model::handle_event`]).
    pub events: u64,
    /// List completions applied.
    pub lists: u64,
    /// Events about something the model does not hold: a `Hangup` of an
    /// unknown channel, a `QueueMemberRemoved` of an unknown member. After a
    /// resynchronisation, or after starting mid-call, some are expected.
    pub unplaced: u64,
    /// Events or list items without the header that names what they are
    /// about (a `Newchannel` without `Uniqueid`).
    pub malformed: u64,
    /// Entries refused because a collection was full.
    pub overflow: Overflow,
    /// Finished call records dropped to make room for new ones.
    pub calls_evicted: u64,
    /// Changes dropped because the change queue was full.
    pub changes_lost: u64,
}

/// Entries refused, per collection, because it was full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Overflow {
    /// Channels.
    pub channels: u64,
    /// Bridges.
    pub bridges: u64,
    /// Channels not recorded as members of a full bridge.
    pub bridge_channels: u64,
    /// Queues.
    pub queues: u64,
    /// Queue members.
    pub members: u64,
    /// Queue callers.
    pub callers: u64,
    /// Device states.
    pub devices: u64,
    /// Extension states.
    pub extensions: u64,
    /// Originates not tracked.
    pub calls: u64,
    /// Channels not followed by a call record.
    pub call_channels: u64,
}

impl Overflow {
    /// All refusals together.
    pub fn total(&self) -> u64 {
        self.channels
            + self.bridges
            + self.bridge_channels
            + self.queues
            + self.members
            + self.callers
            + self.devices
            + self.extensions
            + self.calls
            + self.call_channels
    }
}
