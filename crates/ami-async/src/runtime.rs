//! The seam between the client and an async runtime.
//!
//! Everything the client needs from a runtime is here, and nothing else:
//! spawn its background task, a resettable timer for an `Instant`, resolve
//! and connect a TCP socket, run a blocking closure off the executor (the
//! TLS trust store), and a socket polled for readiness with non-blocking
//! reads and writes. Each adapter implements it in about a hundred lines
//! (`ami-smol`: `Smol`, `ami-tokio`: `Tokio`), as quinn does with its
//! `Runtime`. The client is generic over it (static dispatch), so a runtime
//! pays for no indirection on the driver's path.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// The client's background task, as handed to [`Runtime::spawn`] or to
/// [`ClientBuilder::spawn_with`](crate::ClientBuilder::spawn_with).
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async runtime the client can run on.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// A connected TCP socket.
    type Socket: Socket;
    /// A timer that can be moved.
    type Timer: Timer;

    /// The runtime of the calling context, captured when a client builder
    /// is made (for tokio: the current `Handle`, if any).
    fn current() -> Self;

    /// Runs `task` to completion in the background. Fails (without a
    /// panic) when there is nothing to run it on, e.g. tokio outside a
    /// runtime; `task` is then dropped.
    fn spawn(&self, task: BackgroundTask) -> Result<(), SpawnError>;

    /// A timer that fires at `at` (at once if `at` has passed).
    fn timer(&self, at: Instant) -> Self::Timer;

    /// The addresses of `host:port`, resolved without blocking the executor.
    fn resolve(&self, addr: &str) -> impl Future<Output = io::Result<Vec<SocketAddr>>> + Send;

    /// A TCP connection to `addr`, in non-blocking mode.
    fn connect(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Socket>> + Send;

    /// Runs `work` (file I/O) on a thread where blocking is allowed.
    fn unblock<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> impl Future<Output = T> + Send;
}

/// A timer of a [`Runtime`]: fires once at its instant, and can be moved to
/// another instant (before or after firing) without being made anew.
pub trait Timer: Send + Unpin + 'static {
    /// Makes the timer fire at `at` instead.
    fn reset(&mut self, at: Instant);

    /// `Ready` once the instant has passed (and again on every poll until
    /// [`reset`](Self::reset)); registers `cx`'s waker otherwise.
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// The most a default [`Socket::try_read_uninit`] reads at once.
const ZEROED_READ: usize = 16 << 10;

/// What the default [`Socket::try_read_uninit`] zeroes its room from.
static ZEROES: [u8; ZEROED_READ] = [0; ZEROED_READ];

/// A connected non-blocking TCP socket of a [`Runtime`].
///
/// The driver is readiness-based: it waits with `poll_readable` or
/// `poll_writable`, then reads or writes once without blocking. A
/// `WouldBlock` from `try_read` or `try_write` means "wait for readiness
/// again" (and is what clears the readiness a runtime remembers).
pub trait Socket: Send + Sync + 'static {
    /// `Ready` when a read may make progress (or the socket failed).
    ///
    /// As with any poll method, the waker of the latest `Pending` poll is
    /// woken once the socket may be readable, even if nothing polls in
    /// between (reads may: a read that empties the socket leaves that wait
    /// standing). The client relies on it to leave a wait registered
    /// rather than poll again after each round trip.
    fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// Whether a wake-up of the read waker may be answered with a read at
    /// once, without polling first: the wake-up leaves no readiness behind
    /// that a read which empties the socket does not clear (a later poll
    /// then registers its waker rather than say `Ready` for nothing).
    /// Tokio's readiness works this way; async-io's does not (a poll after
    /// its reactor's wake-up says `Ready` once, whatever was read since).
    /// The default, `false`, polls after every wake-up: correct for any
    /// socket.
    ///
    /// Performance: with the server on another host every first read of a
    /// single-flight round trip finds nothing yet, and the caller waits for
    /// readiness; that poll cost about 130-250 instructions per round trip
    /// on tokio.
    const READ_ON_WAKE: bool = false;

    /// `Ready` when a write may make progress (or the socket failed).
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// A non-blocking read: `WouldBlock` when nothing is there, `Ok(0)` at
    /// the end of the stream.
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;

    /// A non-blocking read into uninitialised memory, as
    /// [`try_read`](Self::try_read): returns the bytes read, which are the
    /// first bytes of `buf` (an empty slice at the end of the stream). The
    /// client reads plain TCP this way, straight into its receive buffer,
    /// which then needs no zeroing before each read; `rustix::net::recv`
    /// does it without `unsafe`.
    ///
    /// The default zeroes at most 16 KiB of `buf` and calls
    /// [`try_read`](Self::try_read) on them: correct for any socket, and a
    /// runtime that can read into uninitialised memory overrides it.
    fn try_read_uninit<'a>(&self, buf: &'a mut [MaybeUninit<u8>]) -> io::Result<&'a mut [u8]> {
        let len = buf.len().min(ZEROED_READ);
        let room = buf[..len].write_copy_of_slice(&ZEROES[..len]);
        let n = self.try_read(room)?;
        Ok(&mut room[..n])
    }

    /// A non-blocking write: `WouldBlock` when the send buffer is full.
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;

    /// The peer's address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;

    /// Turns Nagle's algorithm off (`true`): actions go out at once.
    fn set_nodelay(&self, on: bool) -> io::Result<()>;
}

/// Why the client's task could not be started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpawnError(String);

impl SpawnError {
    /// An error saying why nothing could run the task.
    pub fn new(why: impl Into<String>) -> Self {
        SpawnError(why.into())
    }
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpawnError {}

/// Waits for a [`Timer`] to fire.
pub(crate) struct Fired<T>(pub(crate) T);

impl<T: Timer> Future for Fired<T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.poll_fired(cx)
    }
}

/// Sleeps until `at`, or forever for `None`.
pub(crate) async fn sleep_until<R: Runtime>(rt: &R, at: Option<Instant>) {
    match at {
        Some(at) => Fired(rt.timer(at)).await,
        None => futures_lite::future::pending::<()>().await,
    }
}

/// A runtime's timers without its type, for the non-generic event streams
/// ([`EventStream::next_timeout`](crate::EventStream::next_timeout)).
pub(crate) type Sleeper = Arc<dyn Fn(Instant) -> BackgroundTask + Send + Sync>;

/// `rt`'s timers as a [`Sleeper`].
pub(crate) fn sleeper<R: Runtime>(rt: &R) -> Sleeper {
    let rt = rt.clone();
    Arc::new(move |at| Box::pin(Fired(rt.timer(at))))
}

/// smol's timer as a [`Timer`], for the unit tests of this crate (the
/// adapters test their own runtimes).
#[cfg(test)]
pub(crate) mod test {
    use super::*;

    impl Timer for smol::Timer {
        fn reset(&mut self, at: Instant) {
            self.set_at(at);
        }

        fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            Pin::new(self).poll(cx).map(|_| ())
        }
    }

    /// smol's timers as a [`Sleeper`].
    pub(crate) fn sleeper() -> Sleeper {
        Arc::new(|at| Box::pin(Fired(smol::Timer::at(at))))
    }
}
