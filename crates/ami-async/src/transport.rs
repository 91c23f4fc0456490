//! A session's byte pipe: a non-blocking TCP socket, or TLS over it.
//!
//! Its readers (the driver, or a caller reading for its own answer) are
//! readiness-based (wait for readable/writable, then a non-blocking read or
//! write), so TLS is a rustls session driven the same way
//! ([`ami_tls::TlsSession`]) rather than a poll-based stream wrapper. Two
//! differences from a bare socket, both handled here: decrypted bytes may
//! be buffered while the socket is not readable
//! ([`Transport::poll_readable`] is ready at once then), and ciphertext may
//! stay queued after a write ([`Sink::write_blocked`]).

use std::io;
#[cfg(feature = "tls")]
use std::io::{Read, Write};
use std::net::IpAddr;
use std::task::{Context, Poll};
use std::time::Instant;

#[cfg(feature = "tls")]
use futures_lite::future;

use ami_proto::Connection;

use crate::runtime::Socket;

/// A connected socket, plain or TLS (handshake done).
pub(crate) struct Transport<S: Socket> {
    sock: S,
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
}

#[cfg(feature = "tls")]
struct Tls {
    session: ami_tls::TlsSession,
    /// Plaintext is buffered in the session (checked after each read).
    buffered: bool,
}

#[cfg(feature = "tls")]
/// A socket as `Read + Write`, for the TLS session: each call is one
/// non-blocking `try_read` or `try_write`.
struct Io<'a, S>(&'a S);

#[cfg(feature = "tls")]
impl<S: Socket> Read for Io<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

#[cfg(feature = "tls")]
impl<S: Socket> Write for Io<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<S: Socket> Transport<S> {
    /// A plaintext transport.
    pub(crate) fn plain(sock: S) -> Self {
        Transport {
            sock,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Whether this transport is TLS.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The peer's address, if known.
    pub(crate) fn peer_ip(&self) -> Option<IpAddr> {
        self.sock.peer_addr().ok().map(|a| a.ip())
    }

    /// Handshakes `session` over `sock` (not bounded here: the caller
    /// bounds it with the connect timeout).
    #[cfg(feature = "tls")]
    pub(crate) async fn tls(
        sock: S,
        mut session: ami_tls::TlsSession,
    ) -> Result<Self, ami_tls::TlsError> {
        use ami_tls::Handshake;
        loop {
            let step = session.handshake(&mut Io(&sock))?;
            match step {
                Handshake::Done => break,
                Handshake::WantRead => future::poll_fn(|cx| sock.poll_readable(cx)).await,
                Handshake::WantWrite => future::poll_fn(|cx| sock.poll_writable(cx)).await,
            }
            .map_err(ami_tls::TlsError::Io)?;
        }
        let buffered = session.has_plaintext();
        Ok(Transport {
            sock,
            tls: Some(Tls { session, buffered }),
        })
    }

    /// Reads plaintext once, without blocking, straight into `conn`'s
    /// receive buffer (at most `max` bytes) and decodes it at `now`.
    /// Returns the count read (0 at the end of the stream) and the room the
    /// read had, or the socket's error (`WouldBlock` when nothing is
    /// there).
    ///
    /// Plain TCP is read into uninitialised room
    /// ([`Connection::read_with`]), so a reused chunk is not zeroed first;
    /// TLS plaintext into zeroed room ([`Connection::input_buf`]), as
    /// rustls reads into initialised bytes.
    #[inline]
    pub(crate) fn read_into(
        &mut self,
        conn: &mut Connection,
        max: usize,
        now: Instant,
    ) -> io::Result<(usize, usize)> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let room = conn.input_buf(max);
            let lent = room.len();
            let read = tls.session.read(&mut Io(&self.sock), room);
            tls.buffered = tls.session.has_plaintext();
            let n = read?;
            conn.handle_read(n, now);
            return Ok((n, lent));
        }
        let mut lent = 0;
        let n = conn.read_with(max, now, |room| {
            lent = room.len();
            self.sock.try_read_uninit(room)
        })?;
        Ok((n, lent))
    }

    /// Whether TLS holds plaintext already read from the socket (then
    /// [`poll_readable`](Self::poll_readable) is ready at once, whatever
    /// the socket's readiness).
    pub(crate) fn buffered(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.as_ref().is_some_and(|t| t.buffered);
        #[cfg(not(feature = "tls"))]
        false
    }

    /// `Ready` when a read may make progress (at once if TLS holds
    /// plaintext); registers `cx`'s waker with the socket otherwise.
    ///
    /// Polled rather than awaited as a one-off readiness future: when the
    /// waiter stops waiting because something else woke it (an action to
    /// send), the interest stays registered, and the next wait costs no
    /// `epoll_ctl`. That is one system call less per round trip.
    pub(crate) fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.buffered() {
            return Poll::Ready(Ok(()));
        }
        self.sock.poll_readable(cx)
    }

    /// `Ready` when the socket is writable (polled, as `poll_readable` is).
    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_writable(cx)
    }
}

/// The write side of a transport, as the driver's flush uses it: a seam,
/// so the flush can be tested with a socket that takes a few bytes, none,
/// or would block.
pub(crate) trait Sink {
    /// A non-blocking write of plaintext (`WouldBlock` when the socket is full).
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// After the writes of a turn: whether output is still queued here
    /// (TLS ciphertext the socket did not take), so the driver must wait
    /// for writability.
    fn write_blocked(&mut self) -> io::Result<bool>;
}

impl<S: Socket> Sink for Transport<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.session.write(&mut Io(&self.sock), buf);
        }
        self.sock.try_write(buf)
    }

    /// Always `Ok(false)` for plain TCP.
    fn write_blocked(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.session.flush(&mut Io(&self.sock));
        }
        Ok(false)
    }
}

impl<S: Socket> Drop for Transport<S> {
    fn drop(&mut self) {
        // Best effort, never blocking: tell a TLS peer we are done.
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.session.close(&mut Io(&self.sock));
        }
    }
}
