//! Originated calls: one record from the `send` of an Originate to its end.

use crate::time::Timestamp;

/// One originated call, keyed by the ActionID of its `Originate`.
///
/// It starts when the adapter reports the send
/// ([`crate::Model::handle_sent`]). The `OriginateResponse` (as an event or
/// as the action's completion) names the channel created; a `ChannelId`
/// given in the Originate names it up front. From that channel the record
/// follows every channel of the call: those sharing its Linkedid when it
/// was bound, and any created later with that Linkedid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Call {
    /// The Originate's ActionID.
    pub action_id: String,
    /// The `Channel` the Originate asked for (the dial string).
    pub requested: String,
    /// Where the call is.
    pub phase: CallPhase,
    /// The Uniqueid of the channel the Originate created.
    pub uniqueid: Option<String>,
    /// That channel's name (`Local/100@test-0000002a;1`).
    pub channel: Option<String>,
    /// The call's Linkedid when the channel was bound.
    pub linkedid: Option<String>,
    /// The Uniqueids of every channel of the call, in the order they were
    /// seen (or named up front by the Originate's `ChannelId` and
    /// `OtherChannelId`).
    pub channels: Vec<String>,
    /// The `OriginateResponse` `Reason`: 0 failed, 1 hung up, 3 ringing,
    /// 4 answered, 5 busy, 8 congestion.
    pub reason: Option<u32>,
    /// The server's error message, or why the outcome is unknown.
    pub error: Option<String>,
    /// When the originated channel answered.
    pub answered_at: Option<Timestamp>,
    /// The party that took the call: the queue member of an `AgentConnect`,
    /// or the answering side of a `DialEnd`.
    pub agent: Option<Agent>,
    /// The bridge where the call met another party.
    pub bridge: Option<String>,
    /// When it was bridged to another party.
    pub connected_at: Option<Timestamp>,
    /// The originated channel's hangup cause (Q.850, `16` normal clearing).
    pub hangup_cause: Option<u32>,
    /// Its text (`Normal Clearing`).
    pub hangup_text: Option<String>,
    /// When it ended.
    pub ended_at: Option<Timestamp>,
}

/// Where an originated call is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallPhase {
    /// Sent; no outcome yet.
    #[default]
    Dialing,
    /// The originated channel answered.
    Answered,
    /// It was bridged to another party (an agent).
    Connected,
    /// The originated channel hung up (see the cause).
    Ended,
    /// The server refused the Originate or the call failed (see the reason
    /// and error; and the hangup cause, when its channel hung up: a busy
    /// callee's 17), whichever of the response and the hangup came first.
    Failed,
    /// The outcome is unknown: the action timed out or the connection was
    /// lost before its answer. The server may have placed the call; do not
    /// assume it failed.
    Unknown,
}

impl CallPhase {
    /// Whether the call is over (ended, failed or lost track of).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            CallPhase::Ended | CallPhase::Failed | CallPhase::Unknown
        )
    }
}

/// The party that took an originated call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Agent {
    /// Its channel's Uniqueid.
    pub uniqueid: String,
    /// Its channel's name.
    pub channel: String,
    /// The queue, when it answered as a queue member.
    pub queue: Option<String>,
    /// The member's interface, when it answered as a queue member.
    pub interface: Option<String>,
    /// The member's name, when it answered as a queue member.
    pub name: Option<String>,
}
