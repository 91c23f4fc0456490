//! An async Asterisk Manager Interface client on smol.
//!
//! `ami-smol` runs the runtime-agnostic client of [`ami_async`] on smol:
//! this crate is the [`Smol`] runtime (its executor, async-io's timers and
//! sockets, its blocking pool) and the client's types with it filled in. One
//! task per server drives the socket and the core's
//! [`Connection`](ami_proto::Connection), reads with a per-wake budget,
//! writes what the core lends, sleeps until the core's next deadline, and
//! hands completions and events to the user; a caller whose action finds
//! the session idle writes it and reads its answer itself, on its own task.
//! All protocol logic (framing,
//! login, correlation, timeouts, heartbeats, backoff, circuit breaker) lives
//! in the core. The core types a program needs are re-exported here, so it
//! needs this crate and `smol` only.
//!
//! - [`Client`]: connect, [`send`](ami_async::Client::send) actions from any
//!   number of tasks (or
//!   [`send_cancellable`](ami_async::Client::send_cancellable)), wait until
//!   [`ready`](ami_async::Client::ready), [`close`](ami_async::Client::close).
//! - [`EventStream`]: a bounded `Stream` of events, subscribable before login
//!   so nothing after the login response is lost, with deadlines
//!   ([`next_timeout`](EventStream::next_timeout),
//!   [`wait_for`](EventStream::wait_for)).
//! - The supervisor inside every client reconnects a lost session with the
//!   core's [`ReconnectPolicy`] and publishes each
//!   [`ConnState`] change
//!   ([`state_changes`](ami_async::Client::state_changes)).
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
//! [`CloseReason::Internal`], actions
//! already sent fail with `ConnectionLost`, and every stream ends.
//!
//! Every log event carries `server`, `action_id` (`"-"` when none applies)
//! and `queue_depth` (for this crate's own events: the fullest subscriber
//! queue), as the core's do.
//!
//! # Examples
//!
//! ```no_run
//! use ami_smol::{Action, Client, ClientConfig, Config};
//! use smol::stream::StreamExt;
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

mod runtime;

pub use runtime::{Smol, SmolSocket, SmolTimer};

/// A client on smol; see [`ami_async::Client`].
pub type Client = ami_async::Client<Smol>;
/// Prepares a [`Client`]; see [`ami_async::ClientBuilder`].
pub type ClientBuilder = ami_async::ClientBuilder<Smol>;
/// Many servers on smol; see [`ami_async::Cluster`].
pub type Cluster = ami_async::Cluster<Smol>;

pub use ami_async::{
    BackgroundTask, Cancel, ClientConfig, ClientError, ClientStats, ClusterError, ClusterEvents,
    ConnectError, EventStream, LiveModel, ModelChanges, Route, SpawnError, StateChanges,
};
/// TLS options and errors (the `tls` feature, on by default).
#[cfg(feature = "tls")]
pub use ami_async::{Roots, TlsConfig, TlsError};
/// The core's types a program uses with the client.
pub use ami_proto::{
    Action, ActionError, ActionId, AuthMethod, CloseReason, Completion, Config, ConfigError,
    ConnState, Event, LoginError, Originate, OriginateOutcome, QueuePolicy, ReconnectPolicy,
    SendError, Stats,
};
/// The live model's types ([`ClientBuilder::with_model`]): `Model`,
/// `Snapshot`, `Change`, `Limits`, `Channel`, `Queue`, `Call`, ...
pub use ami_state as state;
