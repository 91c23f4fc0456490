//! `TcpServer`: the fake server on a real socket (127.0.0.1 unless told
//! otherwise).
//!
//! One accept thread and one thread per connection, each driving a
//! [`ServerSession`] over a blocking socket with 1 ms read and 5 ms write
//! timeouts, so timers fire on time and every thread notices `stop` within a
//! few milliseconds, even while blocked writing to a client that reads
//! nothing. While a flood runs the socket is switched to non-blocking so
//! reads never slow the writer down.
//!
//! [`TcpServer::start_tls`] serves the same sessions over TLS (rustls, with a
//! certificate from [`crate::tls`]). Every fault applies through TLS:
//! `write_chunk` splits the *plaintext* into records of at most that many
//! bytes **and** the *ciphertext* (handshake included) into TCP writes of at
//! most that many bytes, so a client sees both tiny records and records
//! split across reads; `write_delay` sleeps after each plaintext chunk.
//! [`Faults::close_mid_handshake`] closes after half the server's first
//! handshake flight.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::chaos::{Faults, Flood};
use crate::pbx::Pbx;
use crate::script::ServerConfig;
use crate::server::ServerSession;
use crate::sim::TrafficSim;

/// Where [`TcpServer::start`] listens: 127.0.0.1, an ephemeral port.
const LOOPBACK: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// The garbage blob of [`Faults::garbage_every`]: a colon-less line, then a
/// blank line so a decoder can resynchronise.
const GARBAGE: &[u8] = b"\x00\xff garbage from a confused server \x7f\r\n\r\n";

/// How long a closing connection waits for the client to finish (reading
/// what it still sends) so that the kernel does not reset the connection
/// and destroy the last frames before the client read them.
const LINGER: Duration = Duration::from_millis(100);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking connection thread must not take the whole server down.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Conn {
    /// Raw bytes for the connection ([`TcpServer::inject_all`]).
    inbox: Arc<Mutex<Vec<Bytes>>>,
    alive: Arc<AtomicBool>,
    /// Set by [`TcpServer::drop_connections`]: close at once.
    kill: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    addr: SocketAddr,
    /// The PBX every connection's session works on.
    pbx: Pbx,
    tls: Mutex<Option<Arc<rustls::ServerConfig>>>,
    faults: Mutex<Faults>,
    listener: Mutex<Option<TcpListener>>,
    stop: AtomicBool,
    accepted: AtomicU64,
    actions: Mutex<Vec<String>>,
    conns: Mutex<Vec<Conn>>,
}

/// A fake AMI server listening on an ephemeral port of 127.0.0.1 (or where
/// [`TcpServer::bind`] says).
///
/// Each accepted connection runs a [`ServerSession`] on the server's one
/// [`Pbx`] (so a call made on one connection is seen by all), with the
/// [`Faults`] current at accept time. Dropping the server stops it, like
/// [`TcpServer::stop`].
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use ami_testkit::{Faults, ServerConfig, TcpServer};
///
/// let server = TcpServer::start(ServerConfig::default(), Faults::default()).unwrap();
/// let mut sock = TcpStream::connect(server.addr()).unwrap();
/// let mut banner = [0u8; 30];
/// sock.read_exact(&mut banner).unwrap();
/// assert_eq!(&banner, b"Asterisk Call Manager/11.0.0\r\n");
/// sock.write_all(b"Action: Logoff\r\n\r\n").unwrap();
/// let mut rest = String::new();
/// sock.read_to_string(&mut rest).unwrap();
/// assert!(rest.starts_with("Response: Goodbye\r\n"));
/// server.stop();
/// ```
pub struct TcpServer {
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TcpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpServer")
            .field("addr", &self.shared.addr)
            .field("connections", &self.connections())
            .finish()
    }
}

impl TcpServer {
    /// Binds 127.0.0.1 on an ephemeral port and starts accepting.
    ///
    /// With `faults.refuse_connections` set the port is reserved and then
    /// closed at once, so connects are refused until the fault is cleared.
    pub fn start(config: impl Into<Arc<ServerConfig>>, faults: Faults) -> io::Result<TcpServer> {
        let pbx = Pbx::new(config, Instant::now());
        TcpServer::start_with(LOOPBACK, &pbx, faults, None)
    }

    /// Listens on `addr` (port 0: an ephemeral one) for sessions on `pbx`,
    /// which may be shared with other servers: `ami serve` listens on
    /// 127.0.0.1 and ::1 with one PBX, so a call made through either
    /// address is seen through both. Whether `addr` may be more than a
    /// loopback address is the caller's decision; [`TcpServer::start`]
    /// never is.
    pub fn bind(addr: SocketAddr, pbx: &Pbx, faults: Faults) -> io::Result<TcpServer> {
        TcpServer::start_with(addr, pbx, faults, None)
    }

    /// Like [`TcpServer::start`], but every connection is TLS with `tls`
    /// (see [`crate::tls::Identity::server_config`]): the handshake first,
    /// then the banner and the session as plaintext inside TLS.
    pub fn start_tls(
        config: impl Into<Arc<ServerConfig>>,
        faults: Faults,
        tls: Arc<rustls::ServerConfig>,
    ) -> io::Result<TcpServer> {
        let pbx = Pbx::new(config, Instant::now());
        TcpServer::start_with(LOOPBACK, &pbx, faults, Some(tls))
    }

    fn start_with(
        addr: SocketAddr,
        pbx: &Pbx,
        faults: Faults,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> io::Result<TcpServer> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let refuse = faults.refuse_connections;
        let shared = Arc::new(Shared {
            addr,
            pbx: pbx.clone(),
            tls: Mutex::new(tls),
            faults: Mutex::new(faults),
            listener: Mutex::new(if refuse { None } else { Some(listener) }),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
            actions: Mutex::new(Vec::new()),
            conns: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = thread::Builder::new()
            .name(format!("ami-testkit-accept-{}", addr.port()))
            .spawn(move || accept_loop(&s))?;
        Ok(TcpServer {
            shared,
            accept: Some(accept),
        })
    }

    /// The listening address (the port chosen when it was 0).
    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.shared.addr.port()
    }

    /// How many connections were accepted so far (refused ones not included).
    pub fn connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// How many connections are open now.
    pub fn live_connections(&self) -> usize {
        lock(&self.shared.conns)
            .iter()
            .filter(|c| c.alive.load(Ordering::SeqCst))
            .count()
    }

    /// Replaces the faults for connections accepted from now on (open ones
    /// keep theirs). `refuse_connections` takes effect before this returns:
    /// setting it closes the listener, clearing it rebinds the same port
    /// (should that fail, the accept thread keeps retrying).
    pub fn set_faults(&self, faults: Faults) {
        let refuse = faults.refuse_connections;
        *lock(&self.shared.faults) = faults;
        let mut listener = lock(&self.shared.listener);
        if refuse {
            *listener = None;
        } else if listener.is_none() {
            *listener = bind_again(self.shared.addr);
        }
    }

    /// Closes every open connection at once, without a word (no pending
    /// answer, no TLS close_notify), as a killed or restarted Asterisk
    /// does; the listener stays, so clients can reconnect.
    pub fn drop_connections(&self) {
        for conn in lock(&self.shared.conns).iter() {
            conn.kill.store(true, Ordering::SeqCst);
        }
    }

    /// Replaces the TLS configuration (a certificate rotation) for
    /// connections accepted from now on; open ones keep theirs. `None`
    /// serves plain TCP from now on.
    pub fn set_tls(&self, tls: Option<Arc<rustls::ServerConfig>>) {
        *lock(&self.shared.tls) = tls;
    }

    /// Queues raw bytes (events, garbage, half frames) for every open
    /// connection, logged in or not, ahead of anything they send next. For
    /// events that only the sessions that want them should get, see
    /// [`TcpServer::publish`].
    pub fn inject_all(&self, bytes: impl Into<Bytes>) {
        let bytes = bytes.into();
        for conn in lock(&self.shared.conns).iter() {
            if conn.alive.load(Ordering::SeqCst) {
                lock(&conn.inbox).push(bytes.clone());
            }
        }
    }

    /// Publishes event frames (a traffic simulator's) as the PBX publishes
    /// its own: each reaches the sessions whose read classes and `Events`
    /// mask hold its `Privilege:` classes, after their filters; a session
    /// with `Events: off` gets none. See [`Pbx::publish`].
    pub fn publish(&self, frames: &[u8]) {
        self.shared.pbx.publish(frames);
    }

    /// The PBX the sessions share (to inspect channels and queues).
    pub fn pbx(&self) -> &Pbx {
        &self.shared.pbx
    }

    /// Every action name received so far by any connection, in arrival
    /// order per connection (`""` for a frame without `Action`).
    pub fn received_actions(&self) -> Vec<String> {
        lock(&self.shared.actions).clone()
    }

    /// Stops accepting, closes every connection and joins every thread
    /// (promptly: each loop checks the stop flag every few milliseconds).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        *lock(&self.shared.listener) = None;
        let conns = std::mem::take(&mut *lock(&self.shared.conns));
        for mut conn in conns {
            if let Some(t) = conn.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind_again(addr: SocketAddr) -> Option<TcpListener> {
    let l = TcpListener::bind(addr).ok()?;
    l.set_nonblocking(true).ok()?;
    Some(l)
}

fn accept_loop(shared: &Arc<Shared>) {
    let mut next_id = 0u64;
    let mut idle = Duration::from_millis(2);
    while !shared.stop.load(Ordering::SeqCst) {
        let accepted = {
            let mut listener = lock(&shared.listener);
            if listener.is_none() && !lock(&shared.faults).refuse_connections {
                *listener = bind_again(shared.addr);
            }
            match listener.as_ref().map(TcpListener::accept) {
                Some(Ok((stream, _))) => Some(stream),
                _ => None,
            }
        };
        let Some(stream) = accepted else {
            // Polled: 2 ms after a connection, slowing to 10 ms when idle, so
            // a hundred idle servers do not burn a core between them.
            thread::sleep(idle);
            idle = (idle + Duration::from_millis(1)).min(Duration::from_millis(10));
            continue;
        };
        idle = Duration::from_millis(2);
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        next_id += 1;
        let faults = lock(&shared.faults).clone();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let alive = Arc::new(AtomicBool::new(true));
        let kill = Arc::new(AtomicBool::new(false));
        let (s, i, a, k, id) = (
            shared.clone(),
            inbox.clone(),
            alive.clone(),
            kill.clone(),
            next_id,
        );
        let thread = thread::Builder::new()
            .name(format!("ami-testkit-conn-{id}"))
            .spawn(move || {
                let _ = run_connection(&s, stream, id, &i, &k, faults);
                a.store(false, Ordering::SeqCst);
            });
        let mut conns = lock(&shared.conns);
        // Reap finished connections so the table stays small.
        conns.retain_mut(|c| {
            if c.alive.load(Ordering::SeqCst) {
                return true;
            }
            if let Some(t) = c.thread.take() {
                let _ = t.join();
            }
            false
        });
        match thread {
            Ok(t) => conns.push(Conn {
                inbox,
                alive,
                kill,
                thread: Some(t),
            }),
            Err(_) => alive.store(false, Ordering::SeqCst),
        }
    }
}

/// Why writing stopped early.
fn stopped() -> io::Error {
    io::Error::new(io::ErrorKind::Interrupted, "server stopping")
}

/// A connection's byte pipe: the socket itself, or TLS over it. Reads and
/// writes behave like the socket's (same timeouts and `WouldBlock`s).
struct Link {
    sock: TcpStream,
    tls: Option<RefCell<rustls::ServerConnection>>,
    /// Most ciphertext bytes per socket write (the `write_chunk` fault).
    chunk: usize,
}

/// The socket, writing at most `chunk` bytes per call.
struct Chunked<'a> {
    sock: &'a TcpStream,
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock.read(buf)
    }
}

impl Write for Chunked<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(self.chunk);
        self.sock.write(&buf[..n])
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Link {
    fn io(&self) -> Chunked<'_> {
        Chunked {
            sock: &self.sock,
            chunk: self.chunk,
        }
    }

    /// Plaintext in: what TLS has decrypted, else one socket read's worth.
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return (&self.sock).read(buf);
        };
        let mut tls = tls.borrow_mut();
        loop {
            match tls.reader().read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return other,
            }
            let n = tls.read_tls(&mut self.io())?;
            if let Err(e) = tls.process_new_packets() {
                let _ = tls.write_tls(&mut self.io());
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            let _ = flush_tls(&mut tls, &mut self.io());
            if n == 0 {
                return match tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                    other => other,
                };
            }
        }
    }

    /// Plaintext out, like a socket write: TLS takes it once its earlier
    /// ciphertext has gone out (else the socket's `WouldBlock`/`TimedOut`).
    fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let Some(tls) = &self.tls else {
            return (&self.sock).write(buf);
        };
        self.flush()?;
        let mut tls = tls.borrow_mut();
        let n = tls.writer().write(buf)?;
        let _ = flush_tls(&mut tls, &mut self.io());
        Ok(n)
    }

    /// Writes queued ciphertext; the socket's error if some is left.
    fn flush(&self) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        flush_tls(&mut tls.borrow_mut(), &mut self.io())
    }

    /// Ciphertext still queued (the socket did not take it yet).
    fn pending(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.borrow().wants_write())
    }

    /// The `close_mid_handshake` fault: reads the ClientHello, sends half
    /// of the server's first flight, and returns (the caller closes).
    fn half_handshake(&self, stop: &AtomicBool) -> io::Result<()> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let end = Instant::now() + Duration::from_secs(5);
        let mut tls = tls.borrow_mut();
        while !tls.wants_write() {
            if stop.load(Ordering::SeqCst) || Instant::now() >= end {
                return Err(stopped());
            }
            match tls.read_tls(&mut self.io()) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    tls.process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let mut flight = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut flight)?;
        }
        (&self.sock).write_all(&flight[..flight.len() / 2])
    }

    /// TLS: sends close_notify and whatever is queued, for up to `within`.
    fn finish(&self, stop: &AtomicBool, within: Duration) {
        let Some(tls) = &self.tls else {
            return;
        };
        tls.borrow_mut().send_close_notify();
        let end = Instant::now() + within;
        while self.pending() && Instant::now() < end && !stop.load(Ordering::SeqCst) {
            match self.flush() {
                Ok(()) => {}
                Err(e) if is_transient(&e) => thread::sleep(Duration::from_micros(200)),
                Err(_) => return,
            }
        }
    }
}

/// Writes queued ciphertext; the socket's error if some is left.
fn flush_tls(tls: &mut rustls::ServerConnection, io: &mut Chunked<'_>) -> io::Result<()> {
    while tls.wants_write() {
        if tls.write_tls(io)? == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
    Ok(())
}

/// Writes with the chunking, delay, garbage and truncation faults.
struct Writer<'a> {
    stream: &'a Link,
    stop: &'a AtomicBool,
    /// [`TcpServer::drop_connections`] was called.
    kill: &'a AtomicBool,
    deadline: Option<Instant>,
    chunk: usize,
    delay: Option<Duration>,
    garbage_every: Option<u32>,
    truncate_after: Option<u32>,
    frames: u64,
}

impl Writer<'_> {
    fn check(&self) -> io::Result<()> {
        if self.stop.load(Ordering::SeqCst) {
            return Err(stopped());
        }
        if self.kill.load(Ordering::SeqCst) {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "killed"));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "drop_after"));
        }
        Ok(())
    }

    /// Whether frames are written as they are: no garbage, truncation,
    /// chunking or delay to apply.
    fn plain(&self) -> bool {
        self.garbage_every.is_none()
            && self.truncate_after.is_none()
            && self.chunk == usize::MAX
            && self.delay.is_none()
    }

    /// One session frame: counted for garbage and truncation.
    fn frame(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.frames += 1;
        if let Some(n) = self.garbage_every.filter(|&n| n > 0) {
            if self.frames.is_multiple_of(u64::from(n)) {
                self.raw(GARBAGE)?;
            }
        }
        if let Some(n) = self.truncate_after {
            if self.frames > u64::from(n) {
                self.raw(&bytes[..bytes.len() / 2])?;
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "truncated"));
            }
        }
        self.raw(bytes)
    }

    /// Bytes not counted as frames (banner, floods), still chunked.
    fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        for piece in bytes.chunks(self.chunk) {
            self.write_all(piece)?;
            if let Some(d) = self.delay {
                sleep_checked(d, self.stop, self.deadline)?;
            }
        }
        Ok(())
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        // A full socket (a flood outrunning its reader) is retried after a
        // pause that doubles up to 1 ms: a fixed 50 us pause kept a hundred
        // flooding servers spinning and starved the client they measure.
        let mut pause = Duration::from_micros(50);
        while !bytes.is_empty() {
            self.check()?;
            match self.stream.write(bytes) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    bytes = &bytes[n..];
                    pause = Duration::from_micros(50);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(1));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Sleeps `d` in small steps, giving up when stopping or past the deadline.
fn sleep_checked(d: Duration, stop: &AtomicBool, deadline: Option<Instant>) -> io::Result<()> {
    let end = Instant::now() + d;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Err(stopped());
        }
        if deadline.is_some_and(|dl| Instant::now() >= dl) {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "drop_after"));
        }
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        thread::sleep((end - now).min(Duration::from_millis(2)));
    }
}

/// A running flood: a pool of pre-built events written round-robin.
struct FloodRun {
    pool: Vec<u8>,
    /// Event boundaries in `pool` (`offsets.len()` = events in pool + 1).
    offsets: Vec<usize>,
    spec: Flood,
    sent: u64,
    started: Instant,
    finished: bool,
}

/// Events written per step, so input is still read during a flood.
const FLOOD_BATCH: u64 = 512;

impl FloodRun {
    fn new(spec: Flood, seed: u64) -> FloodRun {
        let mut sim = TrafficSim::new(seed);
        let n = spec.events.clamp(1, 1024) as usize;
        let mut pool = Vec::with_capacity(n * 700);
        let mut offsets = vec![0];
        for _ in 0..n {
            pool.extend_from_slice(&sim.event_bytes(1));
            offsets.push(pool.len());
        }
        FloodRun {
            pool,
            offsets,
            spec,
            sent: 0,
            started: Instant::now(),
            finished: false,
        }
    }

    /// Writes the next batch; returns whether anything was written.
    fn step(&mut self, w: &mut Writer<'_>) -> io::Result<bool> {
        let total = self.spec.events;
        let target = match self.spec.rate_per_sec {
            None => total,
            Some(rate) => {
                let due = self.started.elapsed().as_secs_f64() * rate as f64;
                (due as u64).min(total)
            }
        };
        if self.sent < target {
            let pool_events = (self.offsets.len() - 1) as u64;
            let at = self.sent % pool_events;
            let n = (target - self.sent).min(FLOOD_BATCH).min(pool_events - at);
            let (from, to) = (self.offsets[at as usize], self.offsets[(at + n) as usize]);
            w.raw(&self.pool[from..to])?;
            self.sent += n;
            return Ok(true);
        }
        if self.sent == total && !self.finished {
            self.finished = true;
            if self.spec.then_done {
                let done =
                    format!("Event: BenchDone\r\nPrivilege: user,all\r\nEvents: {total}\r\n\r\n");
                w.raw(done.as_bytes())?;
            }
            return Ok(true);
        }
        Ok(false)
    }
}

fn oversized_event(size: usize) -> Vec<u8> {
    let mut e = b"Event: Oversized\r\nPrivilege: user,all\r\n".to_vec();
    let line = format!("Filler: {}\r\n", "x".repeat(70));
    while e.len() + 2 < size {
        e.extend_from_slice(line.as_bytes());
    }
    e.extend_from_slice(b"\r\n");
    e
}

fn run_connection(
    shared: &Arc<Shared>,
    stream: TcpStream,
    id: u64,
    inbox: &Mutex<Vec<Bytes>>,
    kill: &AtomicBool,
    faults: Faults,
) -> io::Result<()> {
    let opened = Instant::now();
    let deadline = faults.drop_after.map(|d| opened + d);
    stream.set_nonblocking(false)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(1)))?;
    stream.set_write_timeout(Some(Duration::from_millis(5)))?;
    let tls_config = lock(&shared.tls).clone();
    let tls = match &tls_config {
        Some(config) => Some(RefCell::new(
            rustls::ServerConnection::new(config.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?,
        )),
        None => None,
    };
    let link = Link {
        sock: stream,
        tls,
        chunk: faults.write_chunk.unwrap_or(usize::MAX).max(1),
    };
    let stream = &link.sock;
    let mut w = Writer {
        stream: &link,
        stop: &shared.stop,
        kill,
        deadline,
        chunk: faults.write_chunk.unwrap_or(usize::MAX).max(1),
        delay: faults.write_delay,
        garbage_every: faults.garbage_every,
        truncate_after: faults.truncate_after_frames,
        frames: 0,
    };
    let result = drive(shared, &link, id, inbox, &faults, &mut w);
    // Killed: gone at once, nothing more said.
    let killed = kill.load(Ordering::SeqCst);
    if !faults.close_mid_handshake && !killed {
        link.finish(&shared.stop, Duration::from_secs(1));
    }
    let _ = stream.shutdown(Shutdown::Write);
    if !shared.stop.load(Ordering::SeqCst) && !killed {
        // Let the client read our last bytes: drain what it still sends.
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_millis(5)));
        let end = Instant::now() + LINGER;
        let mut buf = [0u8; 4096];
        while Instant::now() < end && !shared.stop.load(Ordering::SeqCst) {
            match (&*stream).read(&mut buf) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
    result
}

fn drive(
    shared: &Arc<Shared>,
    link: &Link,
    id: u64,
    inbox: &Mutex<Vec<Bytes>>,
    faults: &Faults,
    w: &mut Writer<'_>,
) -> io::Result<()> {
    let stream = &link.sock;
    if let Some(d) = faults.accept_delay {
        sleep_checked(d, &shared.stop, w.deadline)?;
    }
    if faults.close_mid_handshake {
        return link.half_handshake(&shared.stop);
    }
    let mut session = ServerSession::with_pbx(&shared.pbx);
    w.raw(&session.greeting())?;
    let mut buf = vec![0u8; 64 << 10];
    let mut out = Vec::new();
    let mut logged_actions = 0;
    let mut after_login = false;
    let mut silent = false;
    let mut flood: Option<FloodRun> = None;
    loop {
        w.check()?;
        let mut progress = false;
        for bytes in std::mem::take(&mut *lock(inbox)) {
            session.inject(bytes);
        }
        let reading = !(faults.stop_reading_after_login && session.is_authenticated());
        if reading {
            match link.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    session.handle_input(&buf[..n], Instant::now());
                    progress = true;
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        if session.poll_timeout().is_some_and(|t| t <= now) {
            session.handle_timeout(now);
        }
        let received = session.received_actions();
        if received.len() > logged_actions {
            lock(&shared.actions).extend_from_slice(&received[logged_actions..]);
            logged_actions = received.len();
        }
        while let Some(chunk) = session.poll_transmit() {
            if silent {
                continue;
            }
            progress = true;
            if w.plain() {
                // No per-frame fault: one write for all the answers.
                w.frames += 1;
                out.extend_from_slice(&chunk);
            } else {
                w.frame(&chunk)?;
            }
        }
        if !out.is_empty() {
            w.raw(&out)?;
            out.clear();
        }
        if session.is_closing() {
            return Ok(());
        }
        if session.is_authenticated() && !after_login {
            after_login = true;
            if faults.silence_after_login {
                silent = true;
            } else {
                if let Some(size) = faults
                    .oversized_event_bytes
                    .filter(|_| session.wants_events())
                {
                    w.raw(&oversized_event(size))?;
                }
                if let Some(spec) = faults.flood.clone().filter(|_| session.wants_events()) {
                    flood = Some(FloodRun::new(spec, shared.pbx.config().seed ^ id));
                    stream.set_nonblocking(true)?;
                }
            }
        }
        if link.pending() {
            // TLS: ciphertext the socket did not take during a write.
            match link.flush() {
                Ok(()) => progress = true,
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        if let Some(run) = flood.as_mut() {
            if session.wants_events() {
                progress |= run.step(w)?;
            } else {
                // A client that turned events off gets no more of them.
                run.finished = true;
            }
            if run.finished {
                flood = None;
                stream.set_nonblocking(false)?;
            }
        }
        if !progress && !reading {
            thread::sleep(Duration::from_millis(1));
        } else if !progress && flood.is_some() {
            // A rate-limited flood waiting for its next slot.
            thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A read or write that found nothing to do yet: try again on the next turn.
fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
