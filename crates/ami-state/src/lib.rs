//! A live model of an Asterisk PBX, kept current by AMI events.
//!
//! `ami-state` answers what a dialer or a call centre asks: which channels
//! are up, who is bridged with whom, which agents of queue `support` are
//! free and who waits there, what a device or hint shows, and what became
//! of the call an Originate placed. It takes in what an `ami-proto`
//! [`Connection`](ami_proto::Connection) produces (events, completed lists,
//! Originate outcomes) and gives out [`Change`]s to drain and plain
//! structures to query.
//!
//! **What it never does:** like the core, it opens no socket, reads no
//! clock, starts no thread and needs no runtime. Times come from the events
//! (see [`Timestamp`]); an adapter (or a C binding, or a test) drives it
//! with [`Model::handle_event`], [`Model::handle_completion`] and
//! [`Model::handle_sent`], and drains [`Model::poll_change`]. (Its maps
//! draw a hash seed from std's `RandomState`, as `HashMap::new` does; what
//! it answers never depends on it.)
//!
//! Every collection is bounded ([`Limits`]); what does not fit, and every
//! event about something it does not hold, is counted ([`Stats`]), never a
//! panic. After a reconnect it resynchronises from the server's lists and
//! reports what changed: see [`Model`].
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod bridge;
mod call;
mod change;
mod channel;
mod device;
mod fields;
mod hash;
mod limits;
mod model;
mod queue;
mod snapshot;
mod time;

pub use bridge::Bridge;
pub use call::{Agent, Call, CallPhase};
pub use change::{Change, Key};
pub use channel::{Channel, ChannelState, Dialplan, Party};
pub use device::{DeviceState, DeviceStatus, ExtensionState};
pub use limits::{Limits, Overflow, Stats};
pub use model::Model;
pub use queue::{Caller, Member, Queue, QueueParams, QueueSummary};
pub use snapshot::Snapshot;
pub use time::Timestamp;
