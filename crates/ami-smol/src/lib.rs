//! An async Asterisk Manager Interface client on smol.
//!
//! `ami-smol` binds the sans-IO [`ami_proto`] core to smol: one task per
//! server owns the socket and the core's [`Connection`](ami_proto::Connection),
//! reads with a per-wake budget, writes what the core lends, sleeps until the
//! core's next deadline, and hands completions and events to the user. All
//! protocol logic (framing, login, correlation, timeouts, heartbeats, backoff,
//! circuit breaker) lives in the core; this crate is glue.
//!
//! - [`Client`]: connect, [`send`](Client::send) actions from any number of
//!   tasks, [`close`](Client::close).
//! - [`EventStream`]: a bounded `Stream` of events, subscribable before login
//!   so nothing after the login response is lost.
//! - The supervisor inside every client reconnects a lost session with the
//!   core's [`ReconnectPolicy`](ami_proto::ReconnectPolicy) and publishes each
//!   [`ConnState`](ami_proto::ConnState) change ([`Client::state_changes`]).
//! - TLS (the `tls` feature, on by default): set [`ClientConfig::tls`];
//!   server certificates are verified unless a pin is set explicitly.
//! - [`Cluster`]: many named servers, each with its own task, routed by name,
//!   round-robin or failover, with one merged event stream.
//!
//! **What it never does:** block the executor (connect, DNS, login, reconnect
//! and close are all non-blocking and bounded by a timeout; TLS trust files
//! are read on smol's blocking pool), let the reader wait on user code
//! (events go to bounded per-subscriber queues; under back-pressure only
//! event reading slows, never an answer: see [`EventStream`]), re-send an
//! action on a new session unless asked to
//! ([`ClientConfig::resend_on_reconnect`]), or die silently: if its task
//! panics or is dropped, the client closes with
//! [`CloseReason::Internal`](ami_proto::CloseReason::Internal), actions
//! already sent fail with `ConnectionLost`, and every stream ends.
//!
//! Every log event carries `server`, `action_id` (`"-"` when none applies)
//! and `queue_depth` (for this crate's own events: the fullest subscriber
//! queue), as the core's do.
//!
//! # Examples
//!
//! ```no_run
//! use ami_proto::{Action, Config};
//! use ami_smol::{Client, ClientConfig};
//! use futures_lite::StreamExt;
//!
//! smol::block_on(async {
//!     let config = ClientConfig::new("127.0.0.1:5038", Config::new("pbx1", "admin", "secret"));
//!     let mut builder = Client::builder(config);
//!     // Subscribe before login: servers send a burst right after it.
//!     let mut hangups = builder.events().filter_names(&["Hangup"]);
//!     let client = builder.connect().await?;
//!     let pong = client.send(Action::ping()).await?;
//!     println!("{:?}", pong.response().get_str("Ping"));
//!     while let Some(event) = hangups.next().await {
//!         println!("{}", event.name_str());
//!     }
//!     client.close().await;
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .unwrap();
//! ```
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

mod client;
mod cluster;
mod deadline;
mod driver;
mod events;
mod panic;
mod reply;
mod supervisor;
mod transport;

/// TLS options and errors (the `tls` feature, on by default).
#[cfg(feature = "tls")]
pub use ami_tls::{Roots, TlsConfig, TlsError};
pub use client::{
    BackgroundTask, Client, ClientBuilder, ClientConfig, ClientError, ClientStats, ConnectError,
};
pub use cluster::{Cluster, ClusterError, ClusterEvents, Route};
pub use events::EventStream;
pub use supervisor::StateChanges;
