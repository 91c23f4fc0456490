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
//! - TLS (the `tls` feature, on by default): [`Client::connect_tls`] and
//!   `Multiplexer::add_server_tls`, with server certificates verified
//!   unless a pin is set explicitly.
//!
//! The core's types a program needs (`Action`, `Config`, `Completion`,
//! `Event`, the errors...) are re-exported here.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

#[macro_use]
mod log;

pub mod client;
mod model;
pub mod mux;
mod session;
mod tls;

/// The core's types a program uses with the clients, so that it needs this
/// crate only.
pub use ami_proto::{
    Action, ActionError, ActionId, AuthMethod, CloseReason, Completion, Config, ConfigError,
    ConnState, Event, LoginError, Originate, OriginateOutcome, QueuePolicy, ReconnectPolicy,
    SendError, Stats,
};
/// The live model's types ([`Client::track_model`],
/// [`Multiplexer::track_model`]): `Model`, `Snapshot`, `Change`, `Limits`,
/// `Channel`, `Queue`, `Call`, ...
pub use ami_state as state;
/// TLS options and errors (the `tls` feature, on by default).
#[cfg(feature = "tls")]
pub use ami_tls::{Roots, TlsConfig, TlsError};
pub use client::{Client, ClientError, ConnectError};
#[cfg(feature = "tls")]
pub use mux::AddServerError;
pub use mux::{
    CompletionHandle, Multiplexer, MuxConfig, MuxError, MuxEvents, NodeClose, NodeId, NodeState,
    NodeStats, NodeWork, ShutdownReport, SubmitError, TickSummary,
};
