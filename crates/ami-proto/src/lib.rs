//! The sans-IO core of an Asterisk Manager Interface (AMI) client.
//!
//! `ami-proto` turns bytes from an AMI server into frames, responses, events
//! and action completions, and turns actions into bytes to send. It owns the
//! whole protocol: framing (including legacy `Follows` Command output), the
//! login handshake, ActionID generation, correlation of answers to actions,
//! event lists, async Originate outcomes, timeouts, heartbeats, and the
//! reconnect policy (backoff with jitter, circuit breaker).
//!
//! **What it never does:** it opens no socket, reads no clock, starts no
//! thread, never sleeps and needs no runtime. Time arrives as `now: Instant`
//! arguments; randomness comes from [`Config::seed`], which [`Config::new`]
//! draws from process entropy (the one place the core does). Adapters
//! (`ami-async` with `ami-smol` or `ami-tokio`, `ami-blocking`, the C ABI)
//! own the I/O and drive a [`Connection`]:
//!
//! ```
//! use std::time::Instant;
//! use ami_proto::{Action, Config, Connection, Output};
//!
//! let mut config = Config::new("pbx1", "admin", "secret");
//! config.auth = ami_proto::AuthMethod::Plain;
//! let now = Instant::now();
//! let mut conn = Connection::new(config, now).unwrap();
//!
//! // The server speaks first; the connection answers with a Login.
//! conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
//! let login = conn.poll_transmit().unwrap().to_vec();
//! assert!(login.starts_with(b"Action: Login\r\n"));
//! conn.advance(login.len());
//!
//! // Feed the server's answer, drain the outputs.
//! let id = std::str::from_utf8(&login).unwrap().lines()
//!     .find_map(|l| l.strip_prefix("ActionID: ")).unwrap().to_owned();
//! let reply = format!("Response: Success\r\nActionID: {id}\r\nMessage: Authentication accepted\r\n\r\n");
//! conn.handle_input(reply.as_bytes(), now);
//! while let Some(out) = conn.poll_output() {
//!     if let Output::State(state) = out { println!("{state:?}"); }
//! }
//! assert!(conn.is_ready());
//! let ping = conn.send(Action::ping(), now).unwrap();
//! ```
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

mod action;
mod action_id;
pub mod actions;
mod completion;
mod config;
mod connection;
mod correlation;
mod deadline;
pub mod defaults;
mod encode;
mod error;
mod event_mask;
pub mod events;
mod frame;
mod generated;
mod headers;
mod health;
mod lines;
mod list_items;
mod lists;
mod message;
mod queue;
mod redact;
mod rng;
mod stats;

pub use action::{Action, Originate};
pub use action_id::{ActionId, ActionIdGenerator, ActionIdHasher, ActionIdMap};
pub use completion::{CommandOutput, Completion, EventList, OriginateOutcome, Strategy};
pub use config::{AuthMethod, Config, Secret};
pub use connection::{CloseReason, ConnState, Connection, Output};
pub use deadline::instant_after;
pub use error::{ActionError, CallEventsOff, ConfigError, DecodeError, LoginError, SendError};
pub use frame::Decoder;
pub use headers::{Headers, RedactedHeaders};
pub use health::backoff::Backoff;
pub use health::breaker::{BreakerState, CircuitBreaker};
pub use health::heartbeat::{Heartbeat, HeartbeatAction};
pub use health::reconnect::{Failure, ReconnectPolicy};
pub use list_items::{ListItems, ListItemsIter};
pub use message::{Event, Frame, Message, Response, Status};
pub use queue::{EventQueue, Push, QueuePolicy};
pub use redact::{Redacted, RedactionPolicy};
pub use stats::Stats;

#[cfg(feature = "arbitrary")]
#[doc(hidden)]
pub mod __fuzz;
