//! smol behind [`ami_async::Runtime`]: its global executor, async-io's
//! timers and sockets, and its blocking pool.

use std::future::Future;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ami_async::{BackgroundTask, SpawnError};
use rustix::net::RecvFlags;
use smol::Async;

/// The smol runtime: the client's task on smol's global executor (or the
/// executor given to [`spawn_with`](crate::ClientBuilder::spawn_with)),
/// async-io's reactor for sockets and timers, DNS and TLS trust files on
/// smol's blocking pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

/// An async-io timer, moved with `set_at` (no new registration per move).
#[derive(Debug)]
pub struct SmolTimer(smol::Timer);

/// A TCP socket registered with async-io's reactor.
#[derive(Debug)]
pub struct SmolSocket(Async<TcpStream>);

impl ami_async::Runtime for Smol {
    type Socket = SmolSocket;
    type Timer = SmolTimer;

    fn current() -> Self {
        Smol
    }

    fn spawn(&self, task: BackgroundTask) -> Result<(), SpawnError> {
        smol::spawn(task).detach();
        Ok(())
    }

    fn timer(&self, at: Instant) -> SmolTimer {
        SmolTimer(smol::Timer::at(at))
    }

    async fn resolve(&self, addr: &str) -> io::Result<Vec<SocketAddr>> {
        smol::net::resolve(addr).await
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<SmolSocket> {
        Async::<TcpStream>::connect(addr).await.map(SmolSocket)
    }

    async fn unblock<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        smol::unblock(work).await
    }
}

impl ami_async::Timer for SmolTimer {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(at);
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl ami_async::Socket for SmolSocket {
    /// Polled, not awaited as `Async::readable()`: the interest stays
    /// registered across waits that something else ended.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_readable(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_writable(cx)
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.get_ref().read(buf)
    }

    #[inline]
    fn try_read_uninit<'a>(&self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let ((read, _), _) = rustix::net::recv(self.0.get_ref(), buf, RecvFlags::empty())?;
        Ok(read)
    }

    #[inline]
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.get_ref().write(buf)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.get_ref().set_nodelay(on)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::mem::MaybeUninit;
    use std::net::{Shutdown, TcpListener};

    use ami_async::{Runtime, Socket};

    use super::*;

    #[test]
    fn a_read_into_uninitialised_memory_returns_the_bytes_from_its_start() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        smol::block_on(async {
            let sock = Smol.connect(addr).await.expect("connects");
            let (mut peer, _) = listener.accept().expect("accepts");
            let mut room = [MaybeUninit::uninit(); 16];
            let nothing = sock.try_read_uninit(&mut room).map(|read| read.len());
            assert_eq!(
                nothing.map_err(|e| e.kind()),
                Err(io::ErrorKind::WouldBlock)
            );
            peer.write_all(b"Event: A\r\n").expect("writes");
            futures_lite::future::poll_fn(|cx| sock.poll_readable(cx))
                .await
                .expect("readable");
            let start = room.as_ptr().cast::<u8>();
            let read = sock.try_read_uninit(&mut room).expect("reads");
            assert_eq!((&*read, read.as_ptr()), (&b"Event: A\r\n"[..], start));
            peer.shutdown(Shutdown::Write).expect("shuts down");
            futures_lite::future::poll_fn(|cx| sock.poll_readable(cx))
                .await
                .expect("readable");
            assert_eq!(sock.try_read_uninit(&mut room).expect("the end").len(), 0);
        });
    }
}
