//! The AMI gateway on NATS JetStream.
//!
//! One process (or several, sharing the nodes) holds one AMI session per
//! Asterisk node and puts the node on the message bus:
//!
//! - **Events out**: every event goes to the JetStream stream on
//!   `<prefix>.<server>.event.<EventName>`, as the JSON object `ami listen`
//!   prints plus `session` and `seq`, with a `Nats-Msg-Id` of
//!   `<server>:<session>:<seq>` so a retried publish is stored once. At most
//!   `max_unacked` publishes per node await their ack; beyond that events
//!   wait in the AMI event queue, whose policy decides (module `publish`).
//! - **Actions in**: a request on `<prefix>.<server>.action` runs one action
//!   on the node's session and is answered with its completion or a typed
//!   error (module `actions`).
//! - **High availability**: a node is held through a lease in a key-value
//!   bucket (module `lease`); only the holder opens its session, and a holder
//!   that cannot renew stops publishing before its lease can expire. A new
//!   holder's first message is a marker on `<prefix>.<server>.gateway`.
//! - **Operable**: logs with the library's fields (`server`, `action_id`,
//!   `queue_depth`), `/metrics` (Prometheus) and `/health` over HTTP, an
//!   orderly [`Gateway::shutdown`].
//!
//! **What it never does:** send Asterisk an action it has not checked,
//! publish one node from two gateways knowingly, drop an event without
//! counting it, or put tokio or NATS into the `ami` command (this crate
//! depends on the runtime-free `ami-config` and `ami-json`, as `ami` does).
//!
//! # Modules
//!
//! `gateway` (start, shutdown) → `node` (one node's tenure) → {`lease`,
//! `publish`, `payload`, `subjects`}; `actions` (requests); `metrics` and
//! `http` (the endpoint); `config` (the file).

#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod actions;
mod config;
mod gateway;
mod http;
mod lease;
mod metrics;
mod node;
mod payload;
mod publish;
mod random;
mod subjects;

pub use config::{GatewayConfig, Settings};
pub use gateway::{Gateway, StartError};
