//! The bench clients built into `ami-bench`, each run in a process of its
//! own as `ami-bench client NAME HOST PORT SCENARIO ARGS...` and obeying
//! BENCH-CONTRACT.md like any other: one `key=value` line on stdout, exit 0,
//! or exit 2 with `unsupported: ...`.
//!
//! - `raw`: the baselines, plain sockets and `memchr`, no protocol: the
//!   fastest any client could go;
//! - `raw-keep` (list only): a floor diagnostic, not a baseline: the raw
//!   list reader keeping what any collecting client must (`raw_keep_list`);
//! - `smol`, `smol-local`: `ami-smol` with default bounds, on smol's global
//!   executor or all on one thread;
//! - `tokio`, `tokio-local`: `ami-tokio` with default bounds, on tokio's
//!   multi-thread runtime (as `#[tokio::main]` makes it) or its
//!   current-thread one;
//! - `blocking`: `ami-blocking`, one action at a time;
//! - `async-raw`, `actor`: two single-flight loops that say where the async
//!   client's ping time goes: the raw loop over async-io's reactor, and the
//!   least an async client shaped like ours can do (callers handing each
//!   action to an I/O task and awaiting a one-shot reply, no protocol);
//! - `smol-cluster`: an `ami-smol` `Cluster` of `NODES` connections
//!   (`flood N NODES`; each connection floods `N / NODES` events).
//!
//! A new client is one function here and one name in `run`.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use ami_proto::{Action, AuthMethod, Config, QueuePolicy};
use ami_smol::{Client, ClientBuilder, ClientConfig, Cluster, EventStream};
use futures_lite::{future, AsyncWriteExt, StreamExt};
use memchr::memmem;
use smol::Async;

/// Why a client printed no result line.
enum Failure {
    /// Exit 2: the client cannot do this scenario.
    Unsupported(String),
    /// Exit 1.
    Error(String),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        Failure::Error(e.to_string())
    }
}

fn err(e: impl std::fmt::Display) -> Failure {
    Failure::Error(e.to_string())
}

/// `ami-bench client NAME HOST PORT SCENARIO ARGS...`
pub(crate) fn main(args: &[String]) -> ExitCode {
    match run(args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(Failure::Unsupported(why)) => {
            println!("unsupported: {why}");
            ExitCode::from(2)
        }
        Err(Failure::Error(why)) => {
            eprintln!("ami-bench client {}: error: {why}", args.join(" "));
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, Failure> {
    let [name, host, port, scenario, rest @ ..] = args else {
        return Err(err(
            "usage: ami-bench client NAME HOST PORT SCENARIO ARGS...",
        ));
    };
    let addr: SocketAddr = format!("{host}:{port}").parse().map_err(err)?;
    let arg = |i: usize| -> Result<u64, Failure> {
        let value = rest
            .get(i)
            .ok_or_else(|| err(format!("{scenario}: argument {} missing", i + 1)))?;
        value
            .parse()
            .map_err(|_| err(format!("{value:?} is not a number")))
    };
    let legacy = rest.get(2).is_some_and(|a| a == "legacy");
    let single = |window: u64| match window {
        1 => Ok(()),
        _ => Err(Failure::Unsupported(format!(
            "{name} has one action in flight at a time"
        ))),
    };
    match (name.as_str(), scenario.as_str()) {
        ("raw", "flood") => raw_flood(addr),
        ("raw", "ping") => raw_ping(addr, arg(0)?, arg(1)?),
        ("raw", "list") => raw_list(addr, arg(1)?),
        ("raw-keep", "list") => raw_keep_list(addr, arg(1)?),
        ("raw", "command") => raw_command(addr, arg(1)?, legacy),
        ("smol" | "smol-local", "flood") => smol_flood(addr, name == "smol-local"),
        ("smol" | "smol-local", "ping") => smol_ping(addr, arg(0)?, arg(1)?, name == "smol-local"),
        ("tokio" | "tokio-local", "flood") => tokio_flood(addr, name == "tokio-local"),
        ("tokio" | "tokio-local", "ping") => {
            tokio_ping(addr, arg(0)?, arg(1)?, name == "tokio-local")
        }
        ("blocking", "ping") => single(arg(1)?).and_then(|()| blocking_ping(addr, arg(0)?)),
        ("async-raw", "ping") => single(arg(1)?).and_then(|()| async_raw_ping(addr, arg(0)?)),
        ("tokio-raw", "ping") => single(arg(1)?).and_then(|()| tokio_raw_ping(addr, arg(0)?)),
        ("actor", "ping") => single(arg(1)?).and_then(|()| actor_ping(addr, arg(0)?)),
        ("smol-cluster", "flood") => smol_cluster(addr, arg(1)?),
        _ => Err(Failure::Unsupported(format!("{name} does no {scenario}"))),
    }
}

/// What `read_through` counts.
#[derive(Clone, Copy)]
enum Count {
    /// Frame ends, `\r\n\r\n`.
    Frames,
    /// Line ends, `\n`.
    Lines,
}

/// Reads until the frame that holds `marker` has ended (the first
/// `\r\n\r\n` from the marker on) and counts what `count` names in every
/// byte read. That frame must be the last the server sends until asked
/// again, and at most `TAIL` bytes long from the marker on: so the marker is
/// looked for only in the last `TAIL` bytes of each read, and counting is
/// the only pass over the rest, as befits the fastest reader there can be.
fn read_through(sock: &mut TcpStream, marker: &[u8], count: Count) -> io::Result<u64> {
    const END: &[u8] = b"\r\n\r\n";
    const TAIL: usize = 512;
    let pattern: &[u8] = match count {
        Count::Frames => END,
        Count::Lines => b"\n",
    };
    let counter = memmem::Finder::new(pattern);
    let finder = memmem::Finder::new(marker);
    let ends = memmem::Finder::new(END);
    // Bytes kept from one read to the next, so that nothing is missed
    // across a read boundary: shorter than any pattern, so no whole match
    // fits in them and nothing is counted twice.
    let keep = marker.len().max(END.len()) - 1;
    let mut buf = vec![0u8; 64 << 10];
    let (mut carried, mut counted, mut seen) = (0, 0u64, false);
    loop {
        let n = sock.read(&mut buf[carried..])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let filled = carried + n;
        // Only matches that end in the new bytes.
        let fresh = |len: usize| carried.saturating_sub(len - 1);
        counted += counter
            .find_iter(&buf[fresh(pattern.len())..filled])
            .count() as u64;
        let from = if seen {
            Some(fresh(END.len()))
        } else {
            let tail = filled.saturating_sub(TAIL);
            finder.find(&buf[tail..filled]).map(|at| tail + at)
        };
        if let Some(from) = from {
            seen = true;
            if ends.find(&buf[from..filled]).is_some() {
                return Ok(counted);
            }
        }
        let kept = filled.min(keep);
        buf.copy_within(filled - kept..filled, 0);
        carried = kept;
    }
}

/// Connects and logs in over a plain socket; the replies are left unread.
fn raw_login(addr: SocketAddr, events: bool) -> io::Result<TcpStream> {
    let mut sock = TcpStream::connect(addr)?;
    sock.set_nodelay(true)?;
    let login = format!(
        "Action: Login\r\nActionID: l\r\nUsername: bench\r\nSecret: bench\r\nEvents: {}\r\n\r\n",
        if events { "on" } else { "off" }
    );
    sock.write_all(login.as_bytes())?;
    Ok(sock)
}

/// Logs off and waits for the server to close.
fn raw_logoff(sock: &mut TcpStream) -> io::Result<()> {
    sock.write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n")?;
    let mut rest = [0u8; 4096];
    while sock.read(&mut rest)? > 0 {}
    Ok(())
}

/// Counts frame ends up to `BenchDone`'s.
fn raw_flood(addr: SocketAddr) -> Result<String, Failure> {
    let mut sock = raw_login(addr, true)?;
    let frames = read_through(&mut sock, b"Event: BenchDone", Count::Frames)?;
    raw_logoff(&mut sock)?;
    // The login response and BenchDone are not flood events.
    Ok(format!("events={}", frames.saturating_sub(2)))
}

/// Counts each list's frames up to its `EventList: Complete`.
fn raw_list(addr: SocketAddr, repeat: u64) -> Result<String, Failure> {
    raw_lists(addr, repeat, |sock| {
        read_through(sock, b"EventList: Complete", Count::Frames)
    })
}

/// Asks for `repeat` lists in turn, each read by `read_list` (which
/// returns its frames), and counts their items.
fn raw_lists(
    addr: SocketAddr,
    repeat: u64,
    mut read_list: impl FnMut(&mut TcpStream) -> io::Result<u64>,
) -> Result<String, Failure> {
    let mut sock = raw_login(addr, false)?;
    read_through(&mut sock, b"Response: ", Count::Frames)?;
    let mut items = 0;
    for i in 0..repeat {
        let action = format!("Action: CoreShowChannels\r\nActionID: list-{i}\r\n\r\n");
        sock.write_all(action.as_bytes())?;
        // The response and the Complete event are not items.
        items += read_list(&mut sock)?.saturating_sub(2);
    }
    raw_logoff(&mut sock)?;
    Ok(format!("items={items}"))
}

/// The raw list reader keeping what any client that collects a list must
/// keep, and nothing more: every byte of the list read (in 64 KiB chunks,
/// not read into again until the list is done) and one record per frame
/// (its chunk, start and length), all given up when the list completes. The
/// chunks are then read into again by the next list, without zeroing (they
/// stay initialised), the least a collecting client can pay for memory.
///
/// A floor diagnostic, not a baseline: what it loses against `raw_list`
/// is the cost of keeping 100k items' bytes (~48 MB of memory written per
/// list, where `raw_list` rereads one hot 64 KiB buffer), which no
/// collecting client, ours or any other, can avoid.
fn raw_keep_list(addr: SocketAddr, repeat: u64) -> Result<String, Failure> {
    let mut pool = Vec::new();
    raw_lists(addr, repeat, |sock| {
        let list = KeptList::read(sock, &mut pool)?;
        let frames = list.frames.len() as u64;
        list.give_up(&mut pool);
        Ok(frames)
    })
}

/// A list as `raw_keep_list` keeps it.
#[derive(Default)]
struct KeptList {
    /// Every chunk read into since the list was asked for.
    chunks: Vec<Vec<u8>>,
    /// Each frame: its chunk's index, its start and its length there.
    frames: Vec<(u32, u32, u32)>,
}

impl KeptList {
    /// The chunk size, as the decoder's (`ami_proto::Decoder`).
    const CHUNK: usize = 64 << 10;
    /// The least room read into: with less left, the next chunk is taken
    /// and the unfinished frame moves to it (as the decoder does).
    const MIN_ROOM: usize = 4 << 10;

    /// Reads frames until one holding `EventList: Complete` ends: that
    /// frame is the last the server sends until asked again, so only the
    /// last frame each read completes is searched for it.
    fn read(sock: &mut TcpStream, pool: &mut Vec<Vec<u8>>) -> io::Result<KeptList> {
        const END: &[u8] = b"\r\n\r\n";
        let ends = memmem::Finder::new(END);
        let complete = memmem::Finder::new(b"EventList: Complete");
        let mut fresh = || pool.pop().unwrap_or_else(|| vec![0u8; Self::CHUNK]);
        let mut list = KeptList::default();
        let mut chunk = fresh();
        // Bytes read into `chunk`, where its unfinished frame starts, and
        // where the search for the next frame end resumes.
        let (mut filled, mut start, mut searched) = (0, 0, 0);
        loop {
            if Self::CHUNK - filled < Self::MIN_ROOM {
                let tail = filled - start;
                if tail > Self::CHUNK - Self::MIN_ROOM {
                    return Err(io::Error::other("a list item longer than a chunk"));
                }
                let mut next = fresh();
                next[..tail].copy_from_slice(&chunk[start..filled]);
                list.chunks.push(std::mem::replace(&mut chunk, next));
                (searched, filled, start) = (searched - start, tail, 0);
            }
            let n = sock.read(&mut chunk[filled..])?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            filled += n;
            let index = list.chunks.len() as u32;
            let before = list.frames.len();
            for at in ends.find_iter(&chunk[searched..filled]) {
                let end = searched + at + END.len();
                list.frames
                    .push((index, start as u32, (end - start) as u32));
                start = end;
            }
            searched = filled.saturating_sub(END.len() - 1).max(start);
            let last = list.frames[before..].last();
            if let Some(&(_, from, len)) = last {
                let (from, len) = (from as usize, len as usize);
                if complete.find(&chunk[from..from + len]).is_some() {
                    list.chunks.push(chunk);
                    return Ok(list);
                }
            }
        }
    }

    /// Drops the list's records and hands its chunks back to `pool`.
    fn give_up(self, pool: &mut Vec<Vec<u8>>) {
        pool.extend(self.chunks);
    }
}

/// Counts each Command response's line ends up to its end.
fn raw_command(addr: SocketAddr, repeat: u64, legacy: bool) -> Result<String, Failure> {
    let mut sock = raw_login(addr, false)?;
    read_through(&mut sock, b"Response: ", Count::Frames)?;
    // What ends the response (with `Output:` headers, its first blank
    // line); the lines that are not output (the head's three, the end
    // marker's, the blank line).
    let (marker, framing) = match legacy {
        false => (&b"\r\n\r\n"[..], 3 + 1),
        true => (&b"--END COMMAND--"[..], 3 + 1 + 1),
    };
    let mut lines = 0;
    for i in 0..repeat {
        let action =
            format!("Action: Command\r\nActionID: cmd-{i}\r\nCommand: core show channels\r\n\r\n");
        sock.write_all(action.as_bytes())?;
        lines += read_through(&mut sock, marker, Count::Lines)?.saturating_sub(framing);
    }
    raw_logoff(&mut sock)?;
    Ok(format!("lines={lines}"))
}

/// A socket with a receive buffer, for the ping loops.
struct Raw<S> {
    sock: S,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl<S> Raw<S> {
    fn new(sock: S) -> Self {
        Raw {
            sock,
            pending: Vec::new(),
            buf: vec![0u8; 64 << 10],
        }
    }

    /// Consumes everything up to and including `delimiter`, if buffered.
    fn take_past(&mut self, delimiter: &[u8]) -> bool {
        let Some(end) = memmem::find(&self.pending, delimiter) else {
            return false;
        };
        self.pending.drain(..end + delimiter.len());
        true
    }

    fn keep(&mut self, n: usize) -> io::Result<()> {
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pending.extend_from_slice(&self.buf[..n]);
        Ok(())
    }
}

impl Raw<TcpStream> {
    /// Consumes everything up to and including `delimiter`.
    fn skip_past(&mut self, delimiter: &[u8]) -> io::Result<()> {
        while !self.take_past(delimiter) {
            let n = self.sock.read(&mut self.buf)?;
            self.keep(n)?;
        }
        Ok(())
    }
}

impl Raw<Async<TcpStream>> {
    /// Consumes everything up to and including `delimiter`.
    async fn skip_past(&mut self, delimiter: &[u8]) -> io::Result<()> {
        while !self.take_past(delimiter) {
            self.read().await?;
        }
        Ok(())
    }

    /// Waits for bytes and reads them, as an async client's reader does.
    async fn read(&mut self) -> io::Result<()> {
        let n = self.sock.read_with(|mut s| s.read(&mut self.buf)).await?;
        self.keep(n)
    }

    async fn logoff(mut self) -> io::Result<()> {
        self.sock
            .write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
            .await?;
        while !self.take_past(b"Goodbye") {
            self.read().await?;
        }
        Ok(())
    }
}

fn ping_frame(i: u64) -> String {
    format!("Action: Ping\r\nActionID: p{i}\r\n\r\n")
}

/// Pings with `window` outstanding: after each read, one write with as
/// many new pings as responses were read.
fn raw_ping(addr: SocketAddr, pings: u64, window: u64) -> Result<String, Failure> {
    let mut raw = Raw::new(raw_login(addr, false)?);
    raw.skip_past(b"\n")?; // the banner
    raw.skip_past(b"\r\n\r\n")?; // the login response
    let mut sent = window.clamp(1, pings.max(1));
    let mut frames: String = (0..sent).map(ping_frame).collect();
    raw.sock.write_all(frames.as_bytes())?;
    let mut answered = 0;
    while answered < pings {
        let n = raw.sock.read(&mut raw.buf)?;
        raw.keep(n)?;
        frames.clear();
        while raw.take_past(b"\r\n\r\n") {
            answered += 1;
            if sent < pings {
                frames.push_str(&ping_frame(sent));
                sent += 1;
            }
        }
        raw.sock.write_all(frames.as_bytes())?;
    }
    raw_logoff(&mut raw.sock)?;
    Ok(format!("pings={answered}"))
}

/// The raw single-flight loop over async-io's reactor: each wait for the
/// reply goes through it, as an async client's must.
fn async_raw_ping(addr: SocketAddr, pings: u64) -> Result<String, Failure> {
    smol::block_on(async {
        let mut raw = Raw::new(Async::new(raw_login(addr, false)?)?);
        raw.skip_past(b"\n").await?; // the banner
        raw.skip_past(b"\r\n\r\n").await?; // the login response
        for i in 0..pings {
            raw.sock.write_all(ping_frame(i).as_bytes()).await?;
            raw.skip_past(b"\r\n\r\n").await?;
        }
        raw.logoff().await?;
        Ok(format!("pings={pings}"))
    })
}

/// The raw single-flight loop over tokio's reactor (one thread, as the
/// current-thread runtime): the least any client on tokio can do.
fn tokio_raw_ping(addr: SocketAddr, pings: u64) -> Result<String, Failure> {
    let sock = raw_login(addr, false)?;
    sock.set_nonblocking(true)?;
    tokio_runtime(true)?.block_on(async {
        let mut raw = Raw::new(tokio::net::TcpStream::from_std(sock)?);
        raw.skip_past(b"\n").await?; // the banner
        raw.skip_past(b"\r\n\r\n").await?; // the login response
        for i in 0..pings {
            raw.write_all(ping_frame(i).as_bytes()).await?;
            raw.skip_past(b"\r\n\r\n").await?;
        }
        raw.write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
            .await?;
        raw.skip_past(b"Goodbye").await?;
        Ok(format!("pings={pings}"))
    })
}

impl Raw<tokio::net::TcpStream> {
    /// Consumes everything up to and including `delimiter`, reading as an
    /// async client's reader does: a read, and a wait when it would block.
    async fn skip_past(&mut self, delimiter: &[u8]) -> io::Result<()> {
        while !self.take_past(delimiter) {
            match self.sock.try_read(&mut self.buf) {
                Ok(n) => self.keep(n)?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sock.readable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match self.sock.try_write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.sock.writable().await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The least an async client shaped like `ami-smol`'s can do, one action in
/// flight: the caller hands each action to an I/O task over a channel and
/// awaits a one-shot reply; the task writes it, reads, and answers. No
/// protocol work, so what it costs beyond `async_raw_ping` is the two task
/// hops per round trip.
fn actor_ping(addr: SocketAddr, pings: u64) -> Result<String, Failure> {
    let ex = Arc::new(smol::Executor::new());
    smol::block_on(ex.clone().run(async move {
        let mut raw = Raw::new(Async::new(raw_login(addr, false)?)?);
        raw.skip_past(b"\n").await?; // the banner
        raw.skip_past(b"\r\n\r\n").await?; // the login response
        let (actions, queue) = smol::channel::bounded::<Reply>(1024);
        // Waits as the client's driver does: the channel polled as a stream
        // and the socket with `poll_readable`, so that neither re-registers
        // after the other ended a wait.
        let mut queue = Box::pin(queue);
        let io = ex.spawn(async move {
            let mut waiting = VecDeque::new();
            for i in 0.. {
                let action = future::or(async { Some(queue.next().await) }, async {
                    let _ = future::poll_fn(|cx| raw.sock.poll_readable(cx)).await;
                    None
                });
                match action.await {
                    Some(Some(reply)) => {
                        raw.sock.write_all(ping_frame(i).as_bytes()).await?;
                        waiting.push_back(reply);
                    }
                    Some(None) => break,
                    None => {
                        match raw.sock.get_ref().read(&mut raw.buf) {
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            n => raw.keep(n?)?,
                        }
                        while raw.take_past(b"\r\n\r\n") {
                            match waiting.pop_front() {
                                Some(reply) => reply.send(),
                                None => return Err(err("a response to no ping")),
                            }
                        }
                    }
                }
            }
            raw.logoff().await.map_err(Failure::from)
        });
        // The caller is a task too, as in `smol_ping`.
        let caller = ex.spawn(async move {
            for _ in 0..pings {
                let reply = Reply::default();
                if actions.send(reply.clone()).await.is_err() {
                    break; // the I/O task failed: it says why
                }
                reply.wait().await;
            }
        });
        caller.await;
        io.await?;
        Ok(format!("pings={pings}"))
    }))
}

/// A one-shot reply as light as `ami-smol`'s: a flag and a waker.
#[derive(Clone, Default)]
struct Reply(Arc<Mutex<(bool, Option<Waker>)>>);

impl Reply {
    fn send(self) {
        let waker = {
            let mut slot = self.0.lock().expect("not poisoned");
            slot.0 = true;
            slot.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn wait(self) {
        future::poll_fn(|cx| {
            let mut slot = self.0.lock().expect("not poisoned");
            match slot.0 {
                true => Poll::Ready(()),
                false => {
                    slot.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// `ami-proto`'s defaults but for what a benchmark must set: any login
/// works, back-pressure instead of dropping events, no heartbeat.
fn proto_config(events: bool) -> Config {
    let mut proto = Config::new("bench", "bench", "bench");
    proto.auth = AuthMethod::Plain;
    proto.events = if events { "on" } else { "off" }.into();
    proto.queue_policy = QueuePolicy::Backpressure;
    proto.heartbeat_interval = None;
    proto.seed = std::process::id() as u64;
    proto
}

/// Runs `body` on an executor driven by this thread. With `local`, the
/// clients' tasks are spawned there too (`ClientBuilder::spawn_with`), so
/// everything runs on this one thread; otherwise on smol's global executor.
fn run_on<F: std::future::Future>(local: bool, body: impl FnOnce(Spawn) -> F) -> F::Output {
    let ex = Arc::new(smol::Executor::new());
    let spawn = Spawn(local.then(|| ex.clone()));
    smol::block_on(ex.run(body(spawn)))
}

/// Where the benchmark spawns its tasks: `None` is smol's global executor.
struct Spawn(Option<Arc<smol::Executor<'static>>>);

impl Spawn {
    fn task<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> smol::Task<T> {
        match &self.0 {
            Some(ex) => ex.spawn(future),
            None => smol::spawn(future),
        }
    }

    fn client(&self, config: ClientConfig) -> ClientBuilder {
        let builder = Client::builder(config);
        match self.0.clone() {
            Some(ex) => builder.spawn_with(move |task| ex.spawn(task).detach()),
            None => builder,
        }
    }
}

/// Counts the event stream (subscribed before login) up to `BenchDone`.
fn smol_flood(addr: SocketAddr, local: bool) -> Result<String, Failure> {
    run_on(local, |spawn| async move {
        let mut builder = spawn.client(ClientConfig::new(addr.to_string(), proto_config(true)));
        let mut events = builder.events();
        let client = builder.connect().await.map_err(err)?;
        let line = count_flood(&mut events).await;
        client.close_within(Duration::from_secs(2)).await;
        line
    })
}

/// Counts every event but `BenchDone` until `BenchDone`, in batches; the
/// result line.
async fn count_flood(events: &mut EventStream) -> Result<String, Failure> {
    let mut batch = Vec::with_capacity(1024);
    let mut count = 0u64;
    loop {
        batch.clear();
        if events.next_batch(&mut batch, 1024).await == 0 {
            return Err(err(format!("the event stream ended after {count} events")));
        }
        for event in &batch {
            // The name read once, as a consumer matching on names would.
            if event.name().eq_ignore_ascii_case(b"BenchDone") {
                return Ok(format!("events={count} dropped={}", events.dropped()));
            }
            count += 1;
        }
    }
}

/// `pings` pings from `window` tasks, each awaiting its own in turn.
fn smol_ping(addr: SocketAddr, pings: u64, window: u64, local: bool) -> Result<String, Failure> {
    run_on(local, |spawn| async move {
        let config = ClientConfig::new(addr.to_string(), proto_config(false));
        let client = spawn.client(config).connect().await.map_err(err)?;
        let window = window.clamp(1, pings.max(1));
        let tasks: Vec<_> = (0..window)
            .map(|task| {
                let client = client.clone();
                // The first `pings % window` tasks take one more.
                let share = pings / window + u64::from(task < pings % window);
                spawn.task(async move {
                    for _ in 0..share {
                        client.send(Action::ping()).await.map_err(err)?;
                    }
                    Ok::<u64, Failure>(share)
                })
            })
            .collect();
        let mut done = 0;
        for task in tasks {
            done += task.await?;
        }
        client.close_within(Duration::from_secs(2)).await;
        Ok(format!("pings={done}"))
    })
}

/// A tokio runtime as `#[tokio::main]` makes one (multi-thread, a worker
/// per core), or with `local` the current-thread one.
fn tokio_runtime(local: bool) -> io::Result<tokio::runtime::Runtime> {
    let mut builder = match local {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build()
}

fn tokio_flood(addr: SocketAddr, local: bool) -> Result<String, Failure> {
    tokio_runtime(local)?.block_on(async {
        let config = ClientConfig::new(addr.to_string(), proto_config(true));
        let mut builder = ami_tokio::Client::builder(config);
        let mut events = builder.events();
        let client = builder.connect().await.map_err(err)?;
        let line = count_flood(&mut events).await;
        client.close_within(Duration::from_secs(2)).await;
        line
    })
}

/// As `smol_ping`, on tokio.
fn tokio_ping(addr: SocketAddr, pings: u64, window: u64, local: bool) -> Result<String, Failure> {
    tokio_runtime(local)?.block_on(async {
        let config = ClientConfig::new(addr.to_string(), proto_config(false));
        let client = ami_tokio::Client::connect(config).await.map_err(err)?;
        let window = window.clamp(1, pings.max(1));
        let tasks: Vec<_> = (0..window)
            .map(|task| {
                let client = client.clone();
                let share = pings / window + u64::from(task < pings % window);
                tokio::spawn(async move {
                    for _ in 0..share {
                        client.send(Action::ping()).await.map_err(err)?;
                    }
                    Ok::<u64, Failure>(share)
                })
            })
            .collect();
        let mut done = 0;
        for task in tasks {
            done += task.await.map_err(err)??;
        }
        client.close_within(Duration::from_secs(2)).await;
        Ok(format!("pings={done}"))
    })
}

fn blocking_ping(addr: SocketAddr, pings: u64) -> Result<String, Failure> {
    let mut client =
        ami_blocking::Client::connect(addr, Duration::from_secs(5), proto_config(false))
            .map_err(err)?;
    for _ in 0..pings {
        client.send(Action::ping()).map_err(err)?;
    }
    client.close().map_err(err)?;
    Ok(format!("pings={pings}"))
}

/// Counts every node's flood through one merged `Cluster` event stream
/// until each node has sent `BenchDone`.
fn smol_cluster(addr: SocketAddr, nodes: u64) -> Result<String, Failure> {
    smol::block_on(async {
        let configs = (0..nodes)
            .map(|i| {
                (
                    format!("node{i}"),
                    ClientConfig::new(addr.to_string(), proto_config(true)),
                )
            })
            .collect();
        let (cluster, mut events) = Cluster::with_events(configs).map_err(err)?;
        let (mut count, mut done) = (0u64, 0);
        while done < nodes {
            let Some((_, event)) = events.next().await else {
                return Err(err("the cluster's stream ended"));
            };
            match event.name().eq_ignore_ascii_case(b"BenchDone") {
                true => done += 1,
                false => count += 1,
            }
        }
        cluster.shutdown(Duration::from_secs(2)).await;
        Ok(format!("events={count}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::{Serve, Server, Start};

    fn raw(serve: Serve, scenario: &[&str]) -> String {
        client("raw", serve, scenario)
    }

    fn client(name: &str, serve: Serve, scenario: &[&str]) -> String {
        let server = Server::start(serve).expect("server");
        let port = server.addr().port().to_string();
        let mut args = vec![name.to_owned(), "127.0.0.1".to_owned(), port];
        args.extend(scenario.iter().map(|a| a.to_string()));
        let line = run(&args).unwrap_or_else(|e| match e {
            Failure::Unsupported(why) | Failure::Error(why) => panic!("{why}"),
        });
        assert!(server.finish().secs.is_some(), "the server timed the work");
        line
    }

    // The baselines count exactly what the server sent, whatever the read
    // boundaries: a miscount would show up as a contract mismatch.
    #[test]
    fn the_raw_baselines_count_what_the_server_sends() {
        let flood = Serve::Flood {
            events: 10_007,
            start: Start::Login,
        };
        assert_eq!(raw(flood, &["flood", "10007"]), "events=10007");
        assert_eq!(
            raw(Serve::List { items: 3_001 }, &["list", "3001", "2"]),
            "items=6002"
        );
        assert_eq!(
            client(
                "raw-keep",
                Serve::List { items: 3_001 },
                &["list", "3001", "2"]
            ),
            "items=6002"
        );
        for legacy in [false, true] {
            let serve = Serve::Command {
                bytes: 123_456,
                legacy,
            };
            let style = if legacy { "legacy" } else { "" };
            assert_eq!(raw(serve, &["command", "123456", "3", style]), "lines=3705");
        }
        assert_eq!(raw(Serve::Answers, &["ping", "500", "16"]), "pings=500");
    }

    // Its records are the frames themselves, across chunk ends, list after
    // list in reused chunks: the floor keeps what a collecting client does.
    #[test]
    fn a_kept_list_records_each_frame_where_it_lies() {
        let server = Server::start(Serve::List { items: 3_001 }).expect("server");
        let mut sock = raw_login(server.addr(), false).expect("login");
        read_through(&mut sock, b"Response: ", Count::Frames).expect("login response");
        let mut pool = Vec::new();
        for i in 0..2 {
            let action = format!("Action: CoreShowChannels\r\nActionID: list-{i}\r\n\r\n");
            sock.write_all(action.as_bytes()).expect("write");
            let list = KeptList::read(&mut sock, &mut pool).expect("list");
            assert!(list.chunks.len() > 2, "the list spans chunks");
            let frame = |&(chunk, start, len): &(u32, u32, u32)| {
                let (start, len) = (start as usize, len as usize);
                let bytes = &list.chunks[chunk as usize][start..start + len];
                String::from_utf8_lossy(bytes).into_owned()
            };
            let frames: Vec<String> = list.frames.iter().map(frame).collect();
            assert_eq!(frames.len(), 3_001 + 2);
            let id = format!("\r\nActionID: list-{i}\r\n");
            assert!(frames[0].starts_with("Response: Success\r\n"));
            for item in &frames[1..=3_001] {
                assert!(item.starts_with("Event: CoreShowChannel\r\n"), "{item:?}");
                assert!(item.contains(&id) && item.ends_with("\r\n\r\n"), "{item:?}");
                assert_eq!(item.matches("\r\n\r\n").count(), 1, "{item:?}");
            }
            assert!(frames[3_002].contains("EventList: Complete\r\n"));
            list.give_up(&mut pool);
        }
        raw_logoff(&mut sock).expect("logoff");
        drop(sock);
        server.finish();
    }

    #[test]
    fn read_through_finds_a_marker_split_across_reads() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let writer = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().expect("accept");
            sock.set_nodelay(true).expect("nodelay");
            // Every byte on its own: each pattern and the marker straddle reads.
            for &b in b"A: 1\r\n\r\nEvent: BenchDone\r\nX: y\r\n\r\n" {
                sock.write_all(&[b]).expect("write");
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        let mut sock = TcpStream::connect(addr).expect("connect");
        let frames = read_through(&mut sock, b"Event: BenchDone", Count::Frames).expect("read");
        writer.join().expect("writer");
        assert_eq!(frames, 2);
    }
}
