//! What the multiplexer tells about its nodes and its ticks.

use std::io;
use std::time::{Duration, Instant};

use ami_proto::{BreakerState, CloseReason, ConnState, Event, Stats};

use super::NodeId;

/// Where a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeState {
    /// Waiting to (re)connect; no attempt before `retry_at`.
    Backoff {
        /// The earliest next attempt.
        retry_at: Instant,
    },
    /// A TCP connect is in progress.
    Connecting,
    /// Connected; the session's own state (logging in, ready, ...).
    Session(ConnState),
    /// Shut down; the node never reconnects.
    Stopped,
}

/// How a node's last attempt or session ended; see
/// [`Multiplexer::last_close_reason`](super::Multiplexer::last_close_reason).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeClose {
    /// The TCP connect failed, before any session: refused, unreachable,
    /// or `TimedOut` after [`MuxConfig::connect_timeout`](super::MuxConfig::connect_timeout).
    Connect(io::ErrorKind),
    /// The TLS handshake failed (or could not start), before any session;
    /// `Multiplexer::last_tls_error` says why.
    Tls,
    /// A session ended, for this reason: a refused login is
    /// [`CloseReason::LoginFailed`], a dropped connection
    /// [`CloseReason::Lost`], a silent one [`CloseReason::HeartbeatTimeout`].
    Session(CloseReason),
}

/// The events [`Multiplexer::events`](super::Multiplexer::events) took,
/// oldest first, with the node each came from. They are the caller's: the
/// multiplexer is free while they are read.
#[derive(Debug)]
pub struct MuxEvents(pub(super) std::collections::vec_deque::IntoIter<(NodeId, Event)>);

impl Iterator for MuxEvents {
    type Item = (NodeId, Event);

    fn next(&mut self) -> Option<(NodeId, Event)> {
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for MuxEvents {}

/// Counters of one node; see [`Multiplexer::stats`](super::Multiplexer::stats).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeStats {
    /// The live session's counters, or the last session's once it ended.
    pub session: Stats,
    /// TCP connects started.
    pub connect_attempts: u64,
    /// Sessions that connected (a new `Connection` each).
    pub sessions: u64,
    /// Sessions that logged in.
    pub logins: u64,
    /// Failures in a row since the last healthy session.
    pub failures: u32,
    /// The circuit breaker's state now.
    pub breaker: BreakerState,
    /// Actions submitted and not yet completed.
    pub pending: usize,
}

/// What one node did in a tick.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeWork {
    /// The node.
    pub node: NodeId,
    /// Bytes read from its socket.
    pub bytes_read: usize,
    /// Bytes written to its socket.
    pub bytes_written: usize,
    /// Events delivered (to its handler or to [`Multiplexer::events`](super::Multiplexer::events)).
    pub events: usize,
    /// Actions completed (callbacks run, handles filled).
    pub completions: usize,
    /// Whether it connected, closed, or changed session state.
    pub changed: bool,
}

impl NodeWork {
    pub(super) fn new(node: NodeId) -> NodeWork {
        NodeWork {
            node,
            bytes_read: 0,
            bytes_written: 0,
            events: 0,
            completions: 0,
            changed: false,
        }
    }

    pub(super) fn did_work(&self) -> bool {
        self.bytes_read > 0
            || self.bytes_written > 0
            || self.events > 0
            || self.completions > 0
            || self.changed
    }
}

/// What a [`Multiplexer::tick`](super::Multiplexer::tick) did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct TickSummary {
    /// Per-node work, for the nodes that did any.
    pub nodes: Vec<NodeWork>,
    /// Connects started.
    pub connects_started: usize,
    /// Time spent in the readiness wait.
    pub waited: Duration,
    /// Time the whole tick took.
    pub elapsed: Duration,
    /// Whether the tick ran out of [`MuxConfig::max_tick`](super::MuxConfig::max_tick) before every
    /// ready node was driven (they go first next tick).
    pub deferred: bool,
    /// When the next tick has something to do: a deadline, a reconnect,
    /// or now when work is left over. `None` when nothing is scheduled.
    pub next_deadline: Option<Instant>,
    /// Whether anything happened: bytes moved, events or completions
    /// delivered, a connect started, a session opened or closed.
    pub progress: bool,
}

impl TickSummary {
    /// Events delivered in this tick, over all nodes.
    pub fn events(&self) -> usize {
        self.nodes.iter().map(|n| n.events).sum()
    }

    /// Actions completed in this tick, over all nodes.
    pub fn completions(&self) -> usize {
        self.nodes.iter().map(|n| n.completions).sum()
    }

    /// Bytes read in this tick, over all nodes.
    pub fn bytes_read(&self) -> usize {
        self.nodes.iter().map(|n| n.bytes_read).sum()
    }
}

/// What [`Multiplexer::shutdown`](super::Multiplexer::shutdown) achieved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Sessions that logged off cleanly: the server answered `Goodbye`.
    pub logged_off: usize,
    /// Sessions closed without `Goodbye` (deadline passed, hung up, already
    /// failing, or still logging in).
    pub forced: usize,
    /// Nodes that had no session (backing off, connecting, or stopped).
    pub idle: usize,
}
