//! The fake PBX's call queues (queues.conf): members and how they are rung.
//! Callers join with the dialplan's `Queue` application.

use std::time::Duration;

/// How a queue picks the members to ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Every available member of the lowest penalty at once.
    RingAll,
    /// The available member whose last call ended longest ago.
    LeastRecent,
    /// The available member who took the fewest calls.
    FewestCalls,
    /// Members in order, starting after the last one rung.
    RrMemory,
}

impl Strategy {
    /// The name `QueueParams` shows (`ringall`, `leastrecent`...).
    pub fn name(self) -> &'static str {
        match self {
            Strategy::RingAll => "ringall",
            Strategy::LeastRecent => "leastrecent",
            Strategy::FewestCalls => "fewestcalls",
            Strategy::RrMemory => "rrmemory",
        }
    }
}

/// A static member of a queue (`member => Local/agent1@agents,0,Agent One`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// `MemberName` / `Name`.
    pub name: String,
    /// The interface rung (`Local/agent1@agents`, `PJSIP/201`): a Local
    /// interface runs that extension of the dialplan, another one a device.
    pub interface: String,
    /// Lower penalties are rung first.
    pub penalty: u32,
    /// A paused member is not rung.
    pub paused: bool,
}

/// One call queue.
///
/// # Examples
///
/// ```
/// use ami_testkit::{Queue, Strategy};
///
/// let q = Queue::new("support")
///     .strategy(Strategy::RingAll)
///     .member("Agent One", "Local/agent1@agents", 0)
///     .member("Agent Two", "Local/agent2@agents", 5);
/// assert_eq!(q.members.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    /// The queue's name.
    pub name: String,
    /// How members are picked. Default `RingAll`.
    pub strategy: Strategy,
    /// Its members, in configuration order.
    pub members: Vec<Member>,
    /// How long a member rings before the next try (`timeout`). Default 15 s.
    pub ring_timeout: Duration,
    /// The pause between two tries (`retry`). Default 5 s.
    pub retry: Duration,
    /// `Weight`. Default 0.
    pub weight: u32,
    /// Most callers waiting (`maxlen`, 0 = no limit). Default 0.
    pub max: u32,
}

impl Queue {
    /// A queue with no member, `ringall`, the Asterisk timings.
    pub fn new(name: &str) -> Queue {
        Queue {
            name: name.to_string(),
            strategy: Strategy::RingAll,
            members: Vec::new(),
            ring_timeout: Duration::from_secs(15),
            retry: Duration::from_secs(5),
            weight: 0,
            max: 0,
        }
    }

    /// Sets the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Queue {
        self.strategy = strategy;
        self
    }

    /// Adds a static member.
    pub fn member(mut self, name: &str, interface: &str, penalty: u32) -> Queue {
        self.members.push(Member {
            name: name.to_string(),
            interface: interface.to_string(),
            penalty,
            paused: false,
        });
        self
    }
}
