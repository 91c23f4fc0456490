//! The async Asterisk Manager Interface client, for any runtime.
//!
//! `ami-async` binds the sans-IO [`ami_proto`] core to an async runtime
//! behind a small [`Runtime`] trait: one task per server drives the socket
//! and the core's [`Connection`](ami_proto::Connection), reads with a
//! per-wake budget, writes what the core lends, sleeps until the core's next
//! deadline, and hands completions and events to the user. A caller whose
//! action finds the session idle writes it and reads its answer itself, on
//! its own task (no task hop either way), handing out the events it meets
//! as the task would. All protocol
//! logic (framing, login, correlation, timeouts, heartbeats, backoff,
//! circuit breaker) lives in the core. Users do not depend on this crate
//! directly: `ami-smol` and `ami-tokio` implement [`Runtime`] and re-export
//! everything here with the runtime filled in (`ami_smol::Client`,
//! `ami_tokio::Client`).
//!
//! - [`Client`]: connect, [`send`](Client::send) actions from any number of
//!   tasks (or [`send_cancellable`](Client::send_cancellable)), wait until
//!   [`ready`](Client::ready), [`close`](Client::close).
//! - [`EventStream`]: a bounded `Stream` of events, subscribable before login
//!   so nothing after the login response is lost, with deadlines
//!   ([`next_timeout`](EventStream::next_timeout),
//!   [`wait_for`](EventStream::wait_for)).
//! - The supervisor inside every client reconnects a lost session with the
//!   core's [`ReconnectPolicy`](ami_proto::ReconnectPolicy) and publishes each
//!   [`ConnState`](ami_proto::ConnState) change ([`Client::state_changes`]).
//! - TLS (the `tls` feature): set [`ClientConfig::tls`]; server
//!   certificates are verified unless a pin is set explicitly. The TLS
//!   session is `ami-tls`'s, driven over the runtime's socket.
//! - [`LiveModel`] ([`ClientBuilder::with_model`]): the client keeps a live
//!   [`ami_state::Model`] of its server current (channels, bridges, queues,
//!   device and hint states, originated calls), lists included after each
//!   login; query it under a short lock, take snapshots, follow its
//!   [`changes`](LiveModel::changes).
//! - [`Cluster`]: many named servers, each with its own task, routed by name,
//!   round-robin or failover, with one merged event stream.
//!
//! **What it never does:** block the executor (connect, DNS, login, reconnect
//! and close are all non-blocking and bounded by a timeout; TLS trust files
//! are read through [`Runtime::unblock`]), let the reader wait on user code
//! (events go to bounded per-subscriber queues; under back-pressure only
//! event reading slows, never an answer: see [`EventStream`]), re-send an
//! action on a new session unless asked to
//! ([`ClientConfig::resend_on_reconnect`]), or die silently: if its task
//! panics, is dropped or never runs, the client closes with
//! [`CloseReason::Internal`](ami_proto::CloseReason::Internal), actions
//! already sent fail with `ConnectionLost`, and every stream ends.
//!
//! Every log event carries `server`, `action_id` (`"-"` when none applies)
//! and `queue_depth` (for this crate's own events: the fullest subscriber
//! queue), as the core's do.
//!
//! # Modules
//!
//! The arrows run one way: `client` → `supervisor` (the task: connect,
//! reconnect) → `driver` (one session's loop) → `task` (what the task keeps
//! across sessions) → {`shared`, `events`, `model`, `command`, `reply`,
//! `transport`, `runtime`}.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

/// Logs with the fields every event of this crate carries, as the core's
/// do: `server`, `action_id` (`"-"`: none of these concerns one action)
/// and `queue_depth` (events waiting in the fullest subscriber queue).
/// `$shared` is the client's `Shared`; no subscriber lock may be held.
macro_rules! log {
    ($level:ident, $shared:expr, $($arg:tt)+) => {
        tracing::$level!(
            server = %$shared.name,
            action_id = "-",
            queue_depth = $shared.queue_depth(),
            $($arg)+
        )
    };
}

mod cancel;
mod client;
mod cluster;
mod command;
mod config;
mod driver;
mod error;
mod events;
mod link;
mod model;
mod panic;
mod reply;
mod runtime;
mod session;
mod shared;
mod stats;
mod supervisor;
mod task;
mod transport;

/// TLS options and errors (the `tls` feature).
#[cfg(feature = "tls")]
pub use ami_tls::{Roots, TlsConfig, TlsError};
pub use cancel::Cancel;
pub use client::{Client, ClientBuilder};
pub use cluster::{Cluster, ClusterError, ClusterEvents, Route};
pub use config::ClientConfig;
pub use error::{ClientError, ConnectError};
pub use events::EventStream;
pub use model::{LiveModel, ModelChanges};
pub use runtime::{BackgroundTask, Runtime, Socket, SpawnError, Timer};
pub use shared::StateChanges;
pub use stats::ClientStats;
