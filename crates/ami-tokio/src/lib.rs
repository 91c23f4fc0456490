//! An async Asterisk Manager Interface client on tokio.
//!
//! `ami-tokio` runs the runtime-agnostic client of [`ami_async`] on tokio:
//! this crate is the [`Tokio`] runtime (a `Handle` to spawn on, tokio's
//! timers and `TcpStream`, `spawn_blocking`) and the client's types with it
//! filled in. It has the same surface as `ami-smol`: a [`Client`] whose
//! actions complete exactly once, bounded [`EventStream`]s with filters and
//! drop policies, a reconnecting supervisor, a multi-server [`Cluster`],
//! and TLS behind the `tls` feature (on by default) through `ami-tls`'s
//! session. The core types a program needs are re-exported here, so it
//! needs this crate and `tokio` only.
//!
//! The client's task is spawned on the runtime the builder was made in
//! ([`Client::builder`](ami_async::Client::builder) captures the current
//! `Handle`). Outside a runtime, name one:
//! [`Client::builder_on`](ami_async::Client::builder_on)`(Tokio::new(handle), config)`.
//! Made outside any runtime without one, the client does not panic:
//! [`connect`](ami_async::ClientBuilder::connect) fails with
//! [`ConnectError::Spawn`].
//!
//! # Examples
//!
//! ```no_run
//! use ami_tokio::{Action, Client, ClientConfig, Config};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! rt.block_on(async {
//!     let config = ClientConfig::new("127.0.0.1:5038", Config::new("pbx1", "admin", "secret"));
//!     let mut builder = Client::builder(config);
//!     // Subscribe before login: servers send a burst right after it.
//!     let mut hangups = builder.events().filter_names(&["Hangup"]);
//!     let client = builder.connect().await?;
//!     let pong = client.send(Action::ping()).await?;
//!     println!("{:?}", pong.response().get_str("Ping"));
//!     while let Some(event) = hangups.next_timeout(Duration::from_secs(60)).await? {
//!         println!("{}", event.name_str());
//!     }
//!     client.close().await;
//!     Ok(())
//! })
//! # }
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod runtime;

pub use runtime::{Tokio, TokioSocket, TokioTimer};

/// A client on tokio; see [`ami_async::Client`].
pub type Client = ami_async::Client<Tokio>;
/// Prepares a [`Client`]; see [`ami_async::ClientBuilder`].
pub type ClientBuilder = ami_async::ClientBuilder<Tokio>;
/// Many servers on tokio; see [`ami_async::Cluster`].
pub type Cluster = ami_async::Cluster<Tokio>;

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
