//! An in-memory link to a [`ServerSession`] with virtual time: no sockets,
//! no threads, no sleeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{Decoder, Frame};

use crate::pbx::Pbx;
use crate::script::ServerConfig;
use crate::server::ServerSession;

/// A [`ServerSession`] plus a virtual clock and a client-side decoder.
///
/// Tests write client bytes with [`MemoryLink::send`], move time with
/// [`MemoryLink::advance`], and read what the server sent with
/// [`MemoryLink::recv`] (raw bytes) or [`MemoryLink::frames`] (decoded).
///
/// # Examples
///
/// ```
/// use ami_proto::Frame;
/// use ami_testkit::{MemoryLink, ServerConfig};
///
/// let mut link = MemoryLink::new(ServerConfig::default());
/// link.send(b"Action: Login\r\nUsername: admin\r\nSecret: amp111\r\nEvents: off\r\n\r\n");
/// let frames = link.frames();
/// assert!(matches!(&frames[0], Frame::Banner(_)));
/// let Frame::Response(r) = &frames[1] else { panic!() };
/// assert_eq!(r.message().as_deref(), Some("Authentication accepted"));
/// assert_eq!(frames.len(), 2); // events are off
/// ```
#[derive(Debug)]
pub struct MemoryLink {
    /// The server side; inspect or inject through it directly.
    pub session: ServerSession,
    now: Instant,
    pending: Vec<u8>,
    decoder: Decoder,
    decode_errors: u64,
}

impl MemoryLink {
    /// A session whose banner is already waiting to be received.
    pub fn new(config: impl Into<Arc<ServerConfig>>) -> Self {
        let now = Instant::now();
        MemoryLink::on(&Pbx::new(config, now), now)
    }

    /// Another client of the same PBX (it sees this link's calls, and this
    /// link its), its virtual clock at this link's now. Each link moves its
    /// own clock: advance both to keep them together.
    pub fn join(&self) -> MemoryLink {
        MemoryLink::on(self.session.pbx(), self.now)
    }

    fn on(pbx: &Pbx, now: Instant) -> Self {
        let session = ServerSession::with_pbx(pbx);
        let pending = session.greeting().to_vec();
        MemoryLink {
            session,
            now,
            pending,
            decoder: Decoder::new(64 << 20),
            decode_errors: 0,
        }
    }

    /// The link's virtual now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Delivers client bytes to the server at the virtual now.
    pub fn send(&mut self, bytes: &[u8]) {
        self.session.handle_input(bytes, self.now);
        self.drain();
    }

    /// Moves virtual time forward and fires what became due.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.session.handle_timeout(self.now);
        self.drain();
    }

    /// Moves virtual time to the session's next deadline, if any, and fires
    /// it. Returns whether there was one.
    pub fn step_to_timeout(&mut self) -> bool {
        match self.session.poll_timeout() {
            Some(at) => {
                self.now = self.now.max(at);
                self.session.handle_timeout(self.now);
                self.drain();
                true
            }
            None => false,
        }
    }

    /// Everything the server sent since the last call, as raw bytes.
    pub fn recv(&mut self) -> Vec<u8> {
        self.drain();
        std::mem::take(&mut self.pending)
    }

    /// Everything the server sent since the last call, decoded by an
    /// `ami_proto::Decoder` (the banner included). Decode errors are counted
    /// in [`MemoryLink::decode_errors`].
    pub fn frames(&mut self) -> Vec<Frame> {
        let bytes = self.recv();
        self.decoder.push(&bytes);
        let mut out = Vec::new();
        while let Some(item) = self.decoder.next_frame() {
            match item {
                Ok(frame) => out.push(frame),
                Err(_) => self.decode_errors += 1,
            }
        }
        out
    }

    /// How many decode errors [`MemoryLink::frames`] met.
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Whether the server wants the link closed and has nothing left to send.
    pub fn is_closed(&self) -> bool {
        self.session.is_closing()
    }

    fn drain(&mut self) {
        while let Some(chunk) = self.session.poll_transmit() {
            self.pending.extend_from_slice(&chunk);
        }
    }
}
