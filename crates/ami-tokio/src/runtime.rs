//! tokio behind [`ami_async::Runtime`]: a captured `Handle`, tokio's timers
//! and `TcpStream`, and `spawn_blocking`.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ami_async::{BackgroundTask, SpawnError};
use rustix::buffer::Buffer;
use rustix::net::RecvFlags;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::time::Sleep;

/// The tokio runtime the client runs on: the `Handle` of the runtime its
/// builder was made in ([`Tokio::current`](ami_async::Runtime::current)),
/// or of the runtime running the calling task.
///
/// The runtime needs tokio's time and I/O drivers
/// (`Builder::enable_all`, as `#[tokio::main]` does).
#[derive(Clone, Debug)]
pub struct Tokio {
    handle: Option<Handle>,
}

impl Tokio {
    /// The client on the runtime of `handle`, wherever it is built.
    pub fn new(handle: Handle) -> Self {
        Tokio {
            handle: Some(handle),
        }
    }

    /// The captured runtime, else the caller's.
    fn handle(&self) -> Option<Handle> {
        self.handle.clone().or_else(|| Handle::try_current().ok())
    }
}

/// A tokio timer, moved with `Sleep::reset`. Made outside any runtime it
/// fires at once (rather than panic): a wait with a deadline then returns
/// at once instead of waiting.
#[derive(Debug)]
pub struct TokioTimer(Option<Pin<Box<Sleep>>>);

/// A tokio `TcpStream`, read and written with `try_read` and `try_write`.
#[derive(Debug)]
pub struct TokioSocket(TcpStream);

impl ami_async::Runtime for Tokio {
    type Socket = TokioSocket;
    type Timer = TokioTimer;

    /// The current runtime's `Handle`, if the caller is in one.
    fn current() -> Self {
        Tokio {
            handle: Handle::try_current().ok(),
        }
    }

    fn spawn(&self, task: BackgroundTask) -> Result<(), SpawnError> {
        match self.handle() {
            Some(handle) => {
                drop(handle.spawn(task));
                Ok(())
            }
            None => Err(SpawnError::new(
                "no tokio runtime: make the client inside one (or give its Handle to spawn_with)",
            )),
        }
    }

    fn timer(&self, at: Instant) -> TokioTimer {
        let sleep = self.handle().map(|handle| {
            let _entered = handle.enter();
            Box::pin(tokio::time::sleep_until(at.into()))
        });
        TokioTimer(sleep)
    }

    async fn resolve(&self, addr: &str) -> io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(addr).await?.collect())
    }

    async fn connect(&self, addr: SocketAddr) -> io::Result<TokioSocket> {
        TcpStream::connect(addr).await.map(TokioSocket)
    }

    async fn unblock<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let Some(handle) = self.handle() else {
            return work();
        };
        match handle.spawn_blocking(work).await {
            Ok(done) => done,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The runtime is shutting down: this task goes with it.
            Err(_) => std::future::pending().await,
        }
    }
}

impl ami_async::Timer for TokioTimer {
    fn reset(&mut self, at: Instant) {
        if let Some(sleep) = &mut self.0 {
            sleep.as_mut().reset(at.into());
        }
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl TokioSocket {
    /// Reads into `buf` (`len` bytes; initialised or not: rustix's
    /// `Buffer`) as tokio's own readiness allows, with two differences,
    /// each a system call less per round trip:
    /// - a read that took less than `buf` could hold emptied the socket: it
    ///   clears the readiness tokio remembers, as a `WouldBlock` does, so the
    ///   next wait registers at once rather than after one more read that
    ///   finds nothing (cleared only if no newer readiness came meanwhile:
    ///   tokio's `try_io`);
    /// - when tokio remembers no readiness, the socket is read all the same:
    ///   its readiness lags the socket until its driver next polls, and an
    ///   answer is often there already when the caller looks (an `epoll_wait`
    ///   saved). The readiness that comes late is harmless: a read then finds
    ///   nothing and clears it.
    fn recv<B: Buffer<u8>>(&self, len: usize, buf: B) -> io::Result<B::Output> {
        let (mut buf, mut short) = (Some(buf), None);
        let read = self.0.try_io(Interest::READABLE, || {
            let buf = buf.take().ok_or(io::ErrorKind::WouldBlock)?;
            let (read, n) = rustix::net::recv(&self.0, buf, RecvFlags::empty())?;
            match n < len {
                true => {
                    short = Some(read);
                    Err(io::ErrorKind::WouldBlock.into())
                }
                false => Ok(read),
            }
        });
        match (read, short, buf) {
            (Ok(read), _, _) | (Err(_), Some(read), _) => Ok(read),
            (Err(e), None, Some(buf)) if e.kind() == io::ErrorKind::WouldBlock => {
                Ok(rustix::net::recv(&self.0, buf, RecvFlags::empty())?.0)
            }
            (Err(e), None, _) => Err(e),
        }
    }
}

impl ami_async::Socket for TokioSocket {
    /// A read that empties the socket clears tokio's readiness (see
    /// `TokioSocket::recv`).
    const READ_ON_WAKE: bool = true;

    /// Ready until a `try_read` says `WouldBlock`, which clears it.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_read_ready(cx)
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_write_ready(cx)
    }

    /// Reads as tokio's own readiness allows, a system call less per round
    /// trip than tokio's own `try_read` (see `TokioSocket::recv`).
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf.len(), buf)
    }

    #[inline]
    fn try_read_uninit<'a>(&self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let (read, _) = self.recv(buf.len(), buf)?;
        Ok(read)
    }

    #[inline]
    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.peer_addr()
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.0.set_nodelay(on)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::io::Write;
    use std::net::{Shutdown, TcpListener, TcpStream};

    use ami_async::{Runtime, Socket};

    use super::*;

    /// Runs `test` on a one-thread tokio runtime with a socket connected
    /// to `peer`, a plain std stream on loopback.
    fn on_a_connection<F: Future<Output = ()>>(test: impl FnOnce(TokioSocket, TcpStream) -> F) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
        let addr = listener.local_addr().expect("its address");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let sock = Tokio::current().connect(addr).await.expect("connects");
            let (peer, _) = listener.accept().expect("accepts");
            test(sock, peer).await;
        });
    }

    #[test]
    fn reads_into_uninitialised_memory_return_the_bytes_from_its_start() {
        on_a_connection(|sock, mut peer| async move {
            let mut room = [MaybeUninit::uninit(); 8];
            let nothing = sock.try_read_uninit(&mut room).map(|read| read.len());
            assert_eq!(
                nothing.map_err(|e| e.kind()),
                Err(io::ErrorKind::WouldBlock)
            );
            peer.write_all(b"Event: A\r\n\r\n").expect("writes");
            std::future::poll_fn(|cx| sock.poll_readable(cx))
                .await
                .expect("readable");
            let start = room.as_ptr().cast::<u8>();
            // A read that fills the room, then one that empties the socket,
            // then one that finds nothing (tokio's readiness cleared).
            let read = sock.try_read_uninit(&mut room).expect("reads");
            assert_eq!((&*read, read.as_ptr()), (&b"Event: A"[..], start));
            let read = sock.try_read_uninit(&mut room).expect("reads the rest");
            assert_eq!((&*read, read.as_ptr()), (&b"\r\n\r\n"[..], start));
            let nothing = sock.try_read_uninit(&mut room).map(|read| read.len());
            assert_eq!(
                nothing.map_err(|e| e.kind()),
                Err(io::ErrorKind::WouldBlock)
            );
            // Initialised memory reads the same way.
            peer.write_all(b"X: 1").expect("writes");
            std::future::poll_fn(|cx| sock.poll_readable(cx))
                .await
                .expect("readable");
            let mut bytes = [0; 8];
            assert_eq!(sock.try_read(&mut bytes).expect("reads"), 4);
            assert_eq!(&bytes[..4], b"X: 1");
            peer.shutdown(Shutdown::Write).expect("shuts down");
            std::future::poll_fn(|cx| sock.poll_readable(cx))
                .await
                .expect("readable");
            assert_eq!(sock.try_read_uninit(&mut room).expect("the end").len(), 0);
        });
    }

    #[test]
    fn a_write_that_would_block_clears_readiness_until_the_peer_reads() {
        on_a_connection(|sock, mut peer| async move {
            let block = [b'x'; 64 << 10];
            let mut written = 0;
            // Bounded: loopback's buffers take a few MiB at most.
            for _ in 0..4096 {
                match sock.try_write(&block) {
                    Ok(n) => written += n,
                    Err(e) => {
                        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                        break;
                    }
                }
            }
            assert!(written > 0, "some bytes went out");
            // The `WouldBlock` cleared tokio's readiness: a poll waits.
            let waker = std::task::Waker::noop();
            let mut cx = Context::from_waker(waker);
            assert!(sock.poll_writable(&mut cx).is_pending());
            // The peer reads everything: the socket is writable again.
            let reader = std::thread::spawn(move || {
                let mut sink = vec![0; 64 << 10];
                let mut read = 0;
                while read < written {
                    read += std::io::Read::read(&mut peer, &mut sink).expect("reads");
                }
                peer
            });
            std::future::poll_fn(|cx| sock.poll_writable(cx))
                .await
                .expect("writable");
            let peer = reader.join().expect("the reader");
            // A peer gone: an error, not a signal.
            drop(peer);
            let mut failed = None;
            for _ in 0..64 {
                match sock.try_write(b"Action: Ping\r\n\r\n") {
                    Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        std::future::poll_fn(|cx| sock.poll_writable(cx))
                            .await
                            .expect("writable");
                    }
                    Err(e) => {
                        failed = Some(e.kind());
                        break;
                    }
                }
            }
            assert!(
                matches!(
                    failed,
                    Some(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)
                ),
                "{failed:?}"
            );
        });
    }
}
