//! The std-sockets adapter of the [`ami_proto`] core: a blocking [`Client`]
//! for one server, and a one-thread [`Multiplexer`] for many.
//!
//! Both are thin loops around `ami_proto::Connection`: read bytes and feed
//! them in, write what it lends, wake at its `poll_timeout`, hand out its
//! outputs. Every protocol decision (login, correlation, timeouts,
//! heartbeats, bounds, reconnect policy) is the core's.
//!
//! - [`Client`] **blocks** the calling thread in every call; each wait is
//!   bounded by a timeout listed in its [module docs](client).
//! - [`Multiplexer`] never blocks but in its one readiness wait per
//!   [`tick`](Multiplexer::tick): connects are non-blocking, sockets are
//!   non-blocking, reads are budgeted per node, and the wait ends at the
//!   earliest deadline of any node. Resolve host names before adding
//!   servers: it takes socket addresses, so DNS never blocks the loop.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod client;
pub mod mux;
mod session;

pub use client::{Client, ClientError, ConnectError};
pub use mux::{
    CompletionHandle, Multiplexer, MuxConfig, NodeId, NodeState, NodeStats, NodeWork,
    ShutdownReport, SubmitError, TickSummary,
};
