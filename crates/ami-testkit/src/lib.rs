//! A scriptable fake Asterisk Manager Interface (AMI) server for tests.
//!
//! It imitates Asterisk 22 where the captures in `tests/corpus/asterisk-22`
//! show how (banner, header order, `Privilege:` lines, `\r\n`, list shapes,
//! the events of a call in their order), and adds the faults a production
//! client must survive.
//!
//! - [`ServerSession`]: the server's sans-IO state machine for one client
//!   (bytes in, bytes out, `now` passed in; no socket, no clock, no thread).
//! - [`Pbx`]: the PBX every session of a server shares: channels, calls
//!   running a [`Dialplan`], bridges, [`Queue`]s, hints, variables, AstDB,
//!   and the events they produce, filtered per session by its [`User`]'s
//!   read [`Classes`], its `Events` mask and its `Filter`s.
//! - [`MemoryLink`]: a session with a virtual clock, for tests without sockets.
//! - [`TcpServer`]: sessions on real sockets, one thread each, with [`Faults`]
//!   (chunked and slow writes, garbage, truncation, oversized events, floods,
//!   silence, a server that stops reading, refused and flapping connections).
//!   [`TcpServer::start`] binds `127.0.0.1` on an ephemeral port;
//!   [`TcpServer::bind`] listens where its caller says, on a shared [`Pbx`].
//!   [`TcpServer::start_tls`] serves the same over TLS.
//! - [`tls`]: certificates generated at test time (rcgen): a CA, valid,
//!   expired, wrong-host and self-signed server certificates.
//! - [`TrafficSim`]: a seeded generator of realistic call events.
//! - [`conformance`]: one suite of scenarios every adapter runs over TCP
//!   ([`conformance_suite!`] expands it into tests).
//!
//! [`ServerConfig`] says what the PBX has: [`ServerConfig::default`] is a
//! permissive PBX (every Originate ends as `originate` says), and
//! [`ServerConfig::asterisk_corpus`] the PBX the corpus was captured from,
//! with per-destination outcomes, a limited user and queues.
//!
//! Randomness comes from seeds in [`ServerConfig`] (a small SplitMix64), so
//! runs are reproducible.

mod actions;
mod chaos;
pub mod conformance;
mod dialplan;
mod filter;
mod memory;
mod pbx;
mod perm;
mod queues;
mod request;
mod rng;
mod script;
mod server;
mod sim;
pub mod soak;
mod tcp;
pub mod tls;
mod wire;

pub use chaos::{Faults, Flood};
pub use dialplan::{Destination, Dialplan, Extension};
pub use memory::MemoryLink;
pub use pbx::Pbx;
pub use perm::Classes;
pub use queues::{Member, Queue, Strategy};
pub use rng::SplitMix64;
pub use script::{
    ChallengeNonce, OriginateBehavior, OriginateOutcome, ScriptedReply, ServerConfig, User,
};
pub use server::ServerSession;
pub use sim::TrafficSim;
pub use tcp::TcpServer;
