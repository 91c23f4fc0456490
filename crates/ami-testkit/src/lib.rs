//! A scriptable fake Asterisk Manager Interface (AMI) server for tests.
//!
//! It imitates Asterisk 22 byte for byte where the captures in
//! `tests/corpus/asterisk-22` show how (banner, header order, `Privilege:`
//! lines, `\r\n`), and adds the faults a production client must survive.
//!
//! - [`ServerSession`]: the server's sans-IO state machine for one client
//!   (bytes in, bytes out, `now` passed in; no socket, no clock, no thread).
//! - [`MemoryLink`]: a session with a virtual clock, for tests without sockets.
//! - [`TcpServer`]: sessions on real sockets, one thread each, with [`Faults`]
//!   (chunked and slow writes, garbage, truncation, oversized events, floods,
//!   silence, a server that stops reading, refused and flapping connections).
//!   It only ever binds `127.0.0.1`, on an ephemeral port.
//!   [`TcpServer::start_tls`] serves the same over TLS.
//! - [`tls`]: certificates generated at test time (rcgen): a CA, valid,
//!   expired, wrong-host and self-signed server certificates.
//! - [`TrafficSim`]: a seeded generator of realistic call events.
//!
//! Randomness comes from seeds in [`ServerConfig`] (a small SplitMix64), so
//! runs are reproducible.

mod chaos;
mod memory;
mod rng;
mod script;
mod server;
mod sim;
mod tcp;
pub mod tls;

pub use chaos::{Faults, Flood};
pub use memory::MemoryLink;
pub use script::{ChallengeNonce, OriginateBehavior, OriginateOutcome, ServerConfig, User};
pub use server::ServerSession;
pub use sim::TrafficSim;
pub use tcp::TcpServer;
