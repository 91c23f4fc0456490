//! The baseline server: a fake Asterisk that is never the bottleneck.
//!
//! What it serves in bulk is rendered before the first client connects: a
//! pool of real Asterisk 22 events for floods, the bodies of CoreShowChannel
//! items, the output of a Command in both styles. (A list's items carry the
//! request's ActionID, so each request renders a block of them once.) A
//! connection gets a thread of its own that answers with large writes (a
//! MiB of events or list items, the whole Command output; the flood's pool
//! with `sendfile(2)` from a temporary file, which spares the server a copy
//! of the busiest stream), so a raw reader, not the server, sets the pace:
//! `ami-bench` checks that at every run (`MIN_RAW_EVENTS_PER_SEC`).
//!
//! It answers what BENCH-CONTRACT.md lists: Challenge, Login (any
//! credentials), Ping, Events, CoreShowChannels, Command and Logoff; any
//! other action gets an error response. The server also keeps the stopwatch:
//! a session's work starts when the flood starts (right after the login
//! response, or after the first Ping with `Start::Ping`) or at the first Ping,
//! CoreShowChannels or Command, and ends at Logoff (or at the close, for a
//! client that leaves without one). So every client is timed by the same
//! clock, without its process start, runtime set-up or login.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::usage::Usage;

/// When a flood starts (BENCH-CONTRACT.md, "Flood start").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// Right after the login response, as real Asterisk sends events.
    Login,
    /// After answering the first Ping: for libraries that can only subscribe
    /// to events once logged in.
    Ping,
}

/// What the server sends besides the answers every session gets.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Serve {
    /// `events` events per connection, then `Event: BenchDone`.
    Flood { events: u64, start: Start },
    /// Each CoreShowChannels: a list of `items` CoreShowChannel events.
    List { items: u64 },
    /// Each Command: `bytes` bytes of output in lines of `LINE` bytes, one
    /// `Output:` header a line, or with `legacy` Asterisk 13's
    /// `Response: Follows` body ended by `--END COMMAND--`.
    Command { bytes: u64, legacy: bool },
    /// Answers only (Ping).
    Answers,
}

/// Bytes of output text in each line of a Command's output.
pub(crate) const LINE: u64 = 100;

/// A running server on 127.0.0.1; `finish` stops it.
pub(crate) struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<Vec<JoinHandle<()>>>,
}

/// What the sessions of one run add up to.
pub(crate) struct Report {
    /// From the first session's start of work to the last one's end, in seconds.
    pub(crate) secs: Option<f64>,
    /// The watched process's usage when it last logged off.
    pub(crate) usage: Option<Usage>,
    /// The server's own CPU time: its session threads', to their ends.
    pub(crate) server_cpu_ns: u64,
}

struct Shared {
    stop: AtomicBool,
    bulk: Bulk,
    spans: Mutex<Vec<Span>>,
    /// The client process whose usage is read at Logoff (`Server::watch`).
    watched: Mutex<Option<u32>>,
    usage: Mutex<Option<Usage>>,
}

/// When one session's work started and ended, and what its thread cost.
#[derive(Default, Clone, Copy)]
struct Span {
    start: Option<Instant>,
    end: Option<Instant>,
    cpu_ns: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A session thread that panicked leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    /// Renders what `serve` needs and starts accepting on 127.0.0.1.
    pub(crate) fn start(serve: Serve) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            bulk: Bulk::render(serve),
            spans: Mutex::new(Vec::new()),
            watched: Mutex::new(None),
            usage: Mutex::new(None),
        });
        let accept = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("bench-accept".into())
                .spawn(move || accept(listener, shared))?
        };
        Ok(Server {
            addr,
            shared,
            accept,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Names the client process: its CPU time and peak RSS are read when it
    /// logs off, while it still waits for the Goodbye.
    pub(crate) fn watch(&self, pid: u32) {
        *lock(&self.shared.watched) = Some(pid);
    }

    /// Stops accepting, waits for every session to end (call it once the
    /// client has exited) and sums them up.
    pub(crate) fn finish(self) -> Report {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees `stop` and returns.
        let _ = TcpStream::connect(self.addr);
        for session in self.accept.join().expect("the accept loop does not panic") {
            let _ = session.join();
        }
        let spans = lock(&self.shared.spans).clone();
        let start = spans.iter().filter_map(|s| s.start).min();
        let end = spans.iter().filter_map(|s| s.end).max();
        let secs = match (start, end) {
            (Some(start), Some(end)) if end > start => Some((end - start).as_secs_f64()),
            _ => None,
        };
        Report {
            secs,
            usage: *lock(&self.shared.usage),
            server_cpu_ns: spans.iter().map(|s| s.cpu_ns).sum(),
        }
    }
}

fn accept(listener: TcpListener, shared: Arc<Shared>) -> Vec<JoinHandle<()>> {
    let mut sessions = Vec::new();
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = shared.clone();
        let index = {
            let mut spans = lock(&shared.spans);
            spans.push(Span::default());
            spans.len() - 1
        };
        let session = thread::Builder::new()
            .name("bench-session".into())
            .spawn(move || {
                let mut session = Session {
                    sock: stream,
                    shared: &shared,
                    index,
                    out: Vec::with_capacity(64 << 10),
                    flooded: false,
                };
                // A client that vanishes mid-answer ends its session; that is
                // all an I/O error means here.
                let _ = session.run();
                session.mark_end();
            });
        match session {
            Ok(session) => sessions.push(session),
            // Out of threads: the client sees its connection close.
            Err(e) => eprintln!("ami-bench: no thread for a session: {e}"),
        }
    }
    sessions
}

/// The greeting every session starts with.
const BANNER: &[u8] = b"Asterisk Call Manager/9.0.0\r\n";

/// One connection, served on its own thread.
struct Session<'a> {
    sock: TcpStream,
    shared: &'a Shared,
    index: usize,
    /// Small answers, written together once a read's actions are answered.
    out: Vec<u8>,
    flooded: bool,
}

impl Session<'_> {
    fn run(&mut self) -> io::Result<()> {
        self.sock.set_nodelay(true)?;
        self.sock.write_all(BANNER)?;
        let mut actions = Actions::default();
        loop {
            if !actions.fill(&mut self.sock)? {
                return Ok(()); // closed without a Logoff
            }
            while let Some(action) = actions.next_action() {
                if !self.answer(&action)? {
                    return Ok(());
                }
            }
            self.flush()?;
        }
    }

    /// Answers one action; `false` once the session is over (Logoff).
    fn answer(&mut self, action: &Action) -> io::Result<bool> {
        let id = action.id.as_slice();
        let flood = match self.shared.bulk.serve {
            Serve::Flood { start, .. } if !self.flooded => Some(start),
            _ => None,
        };
        match action.name.to_ascii_lowercase().as_slice() {
            b"challenge" => self.respond(id, "Success", &["Challenge: 840516327"]),
            b"login" => {
                self.respond(id, "Success", &["Message: Authentication accepted"]);
                if flood == Some(Start::Login) {
                    self.flood()?;
                }
            }
            b"ping" => {
                self.mark_start();
                self.respond(
                    id,
                    "Success",
                    &["Ping: Pong", "Timestamp: 1795727781.085183"],
                );
                if flood == Some(Start::Ping) {
                    self.flood()?;
                }
            }
            b"events" => self.respond(id, "Success", &["Events: On"]),
            b"coreshowchannels" => {
                self.mark_start();
                self.list(id)?;
            }
            b"command" => {
                self.mark_start();
                self.command(id)?;
            }
            b"logoff" => {
                self.mark_end();
                self.record_usage();
                self.respond(id, "Goodbye", &["Message: Thanks for all the fish."]);
                self.flush()?;
                self.sock.shutdown(Shutdown::Write)?;
                // Let the client read the Goodbye before the socket closes.
                let mut rest = [0u8; 1024];
                while self.sock.read(&mut rest)? > 0 {}
                return Ok(false);
            }
            _ => self.respond(id, "Error", &["Message: Invalid/unknown command"]),
        }
        Ok(true)
    }

    fn respond(&mut self, id: &[u8], response: &str, headers: &[&str]) {
        let out = &mut self.out;
        out.extend_from_slice(b"Response: ");
        out.extend_from_slice(response.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !id.is_empty() {
            out.extend_from_slice(b"ActionID: ");
            out.extend_from_slice(id);
            out.extend_from_slice(b"\r\n");
        }
        for header in headers {
            out.extend_from_slice(header.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// The whole flood: what was answered so far, the events, `BenchDone`.
    fn flood(&mut self) -> io::Result<()> {
        let Serve::Flood { events, .. } = self.shared.bulk.serve else {
            unreachable!("flood() is called for a flood only")
        };
        self.flooded = true;
        self.flush()?;
        self.mark_start();
        write_pool(&mut self.sock, &self.shared.bulk.pool, events)?;
        let done = format!("Event: BenchDone\r\nPrivilege: user,all\r\nEvents: {events}\r\n\r\n");
        self.sock.write_all(done.as_bytes())
    }

    /// A CoreShowChannels list. Its items carry the request's ActionID, so
    /// a block of them (a MiB, copied once) is rendered for each request,
    /// then written as often as the list needs.
    fn list(&mut self, id: &[u8]) -> io::Result<()> {
        let Serve::List { items } = self.shared.bulk.serve else {
            self.respond(id, "Error", &["Message: this run serves no list"]);
            return Ok(());
        };
        self.respond(
            id,
            "Success",
            &["EventList: start", "Message: Channels will follow"],
        );
        self.flush()?;
        write_pool(
            &mut self.sock,
            &list_block(&self.shared.bulk.items, id),
            items,
        )?;
        let complete = format!(
            "Event: CoreShowChannelsComplete\r\nActionID: {}\r\nEventList: Complete\r\nListItems: {items}\r\n\r\n",
            String::from_utf8_lossy(id)
        );
        self.sock.write_all(complete.as_bytes())
    }

    /// A Command's output, rendered once, between a head carrying the
    /// request's ActionID and the style's end.
    fn command(&mut self, id: &[u8]) -> io::Result<()> {
        let Serve::Command { legacy, .. } = self.shared.bulk.serve else {
            self.respond(id, "Error", &["Message: this run serves no Command"]);
            return Ok(());
        };
        self.flush()?;
        let id = String::from_utf8_lossy(id);
        let (head, tail): (String, &[u8]) = if legacy {
            (
                format!("Response: Follows\r\nPrivilege: Command\r\nActionID: {id}\r\n"),
                b"--END COMMAND--\r\n\r\n",
            )
        } else {
            (
                format!(
                    "Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\n"
                ),
                b"\r\n",
            )
        };
        self.sock.write_all(head.as_bytes())?;
        self.sock.write_all(&self.shared.bulk.output)?;
        self.sock.write_all(tail)
    }

    fn mark_start(&self) {
        let mut spans = lock(&self.shared.spans);
        let span = &mut spans[self.index];
        span.start.get_or_insert_with(Instant::now);
    }

    fn mark_end(&self) {
        let mut spans = lock(&self.shared.spans);
        let span = &mut spans[self.index];
        if span.start.is_some() && span.end.is_none() {
            span.end = Some(Instant::now());
            span.cpu_ns = crate::usage::this_thread_ns();
        }
    }

    fn record_usage(&self) {
        let watched = *lock(&self.shared.watched);
        if let Some(usage) = watched.and_then(Usage::of_client) {
            *lock(&self.shared.usage) = Some(usage);
        }
    }
}

/// Writes the first `n` frames of `pool` repeated: the whole pool as often
/// as it fits, then the rest.
fn write_pool(sock: &mut TcpStream, pool: &Pool, n: u64) -> io::Result<()> {
    let whole = pool.ends.len() as u64;
    for _ in 0..n / whole {
        match &pool.file {
            Some(file) => send_file(sock, file, pool.bytes.len())?,
            None => sock.write_all(&pool.bytes)?,
        }
    }
    match (n % whole) as usize {
        0 => Ok(()),
        rest => sock.write_all(&pool.bytes[..pool.ends[rest - 1]]),
    }
}

/// Sends the first `len` bytes of `file` with `sendfile(2)`: the kernel
/// takes them from the page cache, so the server does not copy them.
fn send_file(sock: &mut TcpStream, file: &File, len: usize) -> io::Result<()> {
    let mut offset = 0u64;
    while (offset as usize) < len {
        let left = len - offset as usize;
        match rustix::fs::sendfile(&*sock, file, Some(&mut offset), left) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// One action read from the client: the only headers the server looks at.
struct Action {
    name: Vec<u8>,
    id: Vec<u8>,
}

/// The client's bytes, split into actions.
struct Actions {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as actions.
    used: usize,
    /// Bytes of `buf` read.
    filled: usize,
}

impl Default for Actions {
    fn default() -> Actions {
        Actions {
            buf: vec![0; 64 << 10],
            used: 0,
            filled: 0,
        }
    }
}

impl Actions {
    /// Reads once; `false` at the end of the stream.
    fn fill(&mut self, sock: &mut TcpStream) -> io::Result<bool> {
        self.buf.copy_within(self.used..self.filled, 0);
        self.filled -= self.used;
        self.used = 0;
        if self.filled == self.buf.len() {
            // One action longer than the buffer: room for more of it.
            self.buf.resize(2 * self.buf.len(), 0);
        }
        let n = loop {
            match sock.read(&mut self.buf[self.filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                other => break other?,
            }
        };
        self.filled += n;
        Ok(n > 0)
    }

    /// The next complete action, if one has arrived.
    fn next_action(&mut self) -> Option<Action> {
        let rest = &self.buf[self.used..self.filled];
        let end = memchr::memmem::find(rest, b"\r\n\r\n")?;
        let frame = &rest[..end];
        self.used += end + 4;
        let mut action = Action {
            name: Vec::new(),
            id: Vec::new(),
        };
        for line in frame.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = memchr::memchr(b':', line) else {
                continue;
            };
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if name.eq_ignore_ascii_case(b"Action") {
                action.name = value.to_vec();
            } else if name.eq_ignore_ascii_case(b"ActionID") {
                action.id = value.to_vec();
            }
        }
        Some(action)
    }
}

/// Everything a run serves in bulk, rendered once.
struct Bulk {
    serve: Serve,
    pool: Pool,
    /// List items' bodies, from the end of the ActionID on.
    items: Vec<Vec<u8>>,
    output: Vec<u8>,
}

/// Frames back to back, to be written again and again.
#[derive(Default)]
struct Pool {
    bytes: Vec<u8>,
    /// Where each frame ends in `bytes`.
    ends: Vec<usize>,
    /// `bytes` in an unlinked temporary file, to send without copying.
    file: Option<File>,
}

impl Pool {
    fn push(&mut self, frame: &[&[u8]]) {
        for part in frame {
            self.bytes.extend_from_slice(part);
        }
        self.ends.push(self.bytes.len());
    }
}

impl Bulk {
    fn render(serve: Serve) -> Bulk {
        let mut bulk = Bulk {
            serve,
            pool: Pool::default(),
            items: Vec::new(),
            output: Vec::new(),
        };
        match serve {
            Serve::Flood { .. } => bulk.pool = flood_pool(),
            Serve::List { .. } => bulk.items = (0..64).map(list_item_body).collect(),
            Serve::Command { bytes, legacy } => bulk.output = command_output(bytes, legacy),
            Serve::Answers => {}
        }
        bulk
    }
}

/// About a MiB of the events of a captured Asterisk 22 session (an
/// originated call: 35 events, 87 to 910 bytes, 339 on average), the same
/// frames `ami-proto`'s decode bench uses.
fn flood_pool() -> Pool {
    let capture = include_str!("../../../tests/corpus/asterisk-22/09-originate-async.raw");
    let events: Vec<&str> = capture
        .split_inclusive("\r\n\r\n")
        .filter(|f| f.starts_with("Event: ") && !f.contains("ActionID"))
        .collect();
    let mut pool = Pool::default();
    for event in events.iter().cycle() {
        if pool.bytes.len() >= 1 << 20 {
            break;
        }
        pool.push(&[event.as_bytes()]);
    }
    // Where there is no temporary file, the pool is written from memory.
    pool.file = in_a_file(&pool.bytes).ok();
    pool
}

/// `bytes` in a temporary file that is removed at once: it lives as long as
/// the returned handle.
fn in_a_file(bytes: &[u8]) -> io::Result<File> {
    static FILES: AtomicU32 = AtomicU32::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("ami-bench.{}.{n}.pool", std::process::id()));
    let mut file = File::options()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    file.write_all(bytes)?;
    Ok(file)
}

/// About a MiB of list items carrying ActionID `id`, each body in turn.
fn list_block(bodies: &[Vec<u8>], id: &[u8]) -> Pool {
    let mut block = Pool::default();
    for body in bodies.iter().cycle() {
        if block.bytes.len() >= 1 << 20 {
            break;
        }
        block.push(&[b"Event: CoreShowChannel\r\nActionID: ", id, body]);
    }
    block
}

/// A CoreShowChannel item after its ActionID, shaped as Asterisk 22's (see
/// `tests/corpus/asterisk-22/10-coreshowchannels-20.raw`), about 480 bytes.
fn list_item_body(i: usize) -> Vec<u8> {
    format!(
        "\r\nChannel: PJSIP/trunk-{i:08x}\r\nChannelState: 6\r\nChannelStateDesc: Up\r\n\
         CallerIDNum: 4930{i:06}\r\nCallerIDName: Caller {i}\r\nConnectedLineNum: 7001\r\n\
         ConnectedLineName: Agent 7001\r\nLanguage: en\r\nAccountCode: \r\n\
         Context: from-pstn\r\nExten: 7001\r\nPriority: 3\r\nUniqueid: 1795727795.{i}\r\n\
         Linkedid: 1795727795.{i}\r\nApplication: Dial\r\n\
         ApplicationData: PJSIP/7001,30,tT\r\nDuration: 00:01:{:02}\r\n\
         BridgeId: 0c5b6a9e-6d4c-4b6f-9c2a-{i:012x}\r\n\r\n",
        i % 60
    )
    .into_bytes()
}

/// `bytes` bytes of output text in lines of `LINE` bytes (the last one
/// shorter), each as an `Output:` header or, `legacy`, ended by a bare `\n`.
fn command_output(bytes: u64, legacy: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes as usize * 11 / 10);
    let mut left = bytes as usize;
    let mut i = 0u64;
    while left > 0 {
        let text = format!(
            "PJSIP/trunk-{i:08x}  from-pstn  7001@from-internal:3  Up  Dial(PJSIP/7001,30,tT)  {i:>20}  "
        );
        let mut line = text.into_bytes();
        line.resize(LINE as usize, b'.');
        line.truncate(left.min(LINE as usize));
        left -= line.len();
        if legacy {
            out.extend_from_slice(&line);
            out.push(b'\n');
        } else {
            out.extend_from_slice(b"Output: ");
            out.extend_from_slice(&line);
            out.extend_from_slice(b"\r\n");
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `send` over a plain socket and reads what the server sent until
    /// `done` says it is all there; then logs off.
    fn session(serve: Serve, send: &str, done: impl Fn(&str) -> bool) -> String {
        let server = Server::start(serve).expect("server");
        let mut sock = TcpStream::connect(server.addr()).expect("connect");
        sock.write_all(send.as_bytes()).expect("write");
        let mut got = Vec::new();
        let mut buf = [0u8; 64 << 10];
        while !done(&String::from_utf8_lossy(&got)) {
            let n = sock.read(&mut buf).expect("read");
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        sock.write_all(b"Action: Logoff\r\nActionID: bye\r\n\r\n")
            .expect("logoff");
        while sock.read(&mut buf).expect("read") > 0 {}
        drop(sock);
        let report = server.finish();
        assert!(report.secs.is_some(), "the work was timed");
        String::from_utf8(got).expect("ASCII")
    }

    const LOGIN: &str = "Action: Login\r\nActionID: l\r\nUsername: a\r\nSecret: b\r\n\r\n";

    #[test]
    fn a_flood_is_exactly_the_events_asked_for_then_bench_done() {
        let events = 5_000; // more than one pool
        let got = session(
            Serve::Flood {
                events,
                start: Start::Login,
            },
            LOGIN,
            |got| got.ends_with("Event: BenchDone\r\nPrivilege: user,all\r\nEvents: 5000\r\n\r\n"),
        );
        assert!(
            got.starts_with("Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nActionID: l\r\n")
        );
        let frames = got.matches("\r\n\r\n").count() as u64;
        assert_eq!(frames, 1 + events + 1, "login response, events, BenchDone");
        assert!(flood_pool().ends.len() < events as usize);
    }

    #[test]
    fn a_ping_start_flood_waits_for_the_first_ping() {
        let got = session(
            Serve::Flood {
                events: 3,
                start: Start::Ping,
            },
            &format!("{LOGIN}Action: Ping\r\nActionID: p\r\n\r\n"),
            |got| got.contains("BenchDone"),
        );
        let pong = got.find("Ping: Pong").expect("pong");
        let first_event = got.find("Event: ").expect("events");
        assert!(pong < first_event, "{got}");
    }

    #[test]
    fn a_list_carries_the_request_action_id_in_every_item() {
        let got = session(
            Serve::List { items: 1_000 },
            &format!("{LOGIN}Action: CoreShowChannels\r\nActionID: list-7\r\n\r\n"),
            |got| got.ends_with("ListItems: 1000\r\n\r\n"),
        );
        assert_eq!(
            got.matches("Event: CoreShowChannel\r\nActionID: list-7\r\nChannel: ")
                .count(),
            1_000
        );
        assert_eq!(got.matches("ActionID: list-7\r\n").count(), 1 + 1_000 + 1);
    }

    #[test]
    fn command_output_comes_in_both_styles() {
        let modern = session(
            Serve::Command {
                bytes: 250,
                legacy: false,
            },
            &format!("{LOGIN}Action: Command\r\nActionID: c\r\nCommand: x\r\n\r\n"),
            |got| got.matches("\r\n\r\n").count() == 2,
        );
        let modern = &modern[modern.find("Message: Command output").expect("head")..];
        let lines: Vec<&str> = modern
            .split("\r\n")
            .filter(|l| l.starts_with("Output: "))
            .collect();
        assert_eq!(
            lines.iter().map(|l| l.len() - 8).collect::<Vec<_>>(),
            [100, 100, 50]
        );
        let legacy = session(
            Serve::Command {
                bytes: 250,
                legacy: true,
            },
            &format!("{LOGIN}Action: Command\r\nActionID: c\r\nCommand: x\r\n\r\n"),
            |got| got.ends_with("--END COMMAND--\r\n\r\n"),
        );
        let body = &legacy[legacy.find("ActionID: c\r\n").expect("head") + 13..];
        let lines: Vec<&str> = body.split('\n').collect();
        assert_eq!(
            lines.len(),
            3 + 1 + 1 + 1,
            "3 lines, the end, the blank line"
        );
        assert_eq!(lines[2].len(), 50);
        assert_eq!(lines[3], "--END COMMAND--\r");
    }
}
