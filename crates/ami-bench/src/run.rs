//! Running one bench client against a fresh baseline server, as
//! BENCH-CONTRACT.md says: `PROGRAM... HOST PORT SCENARIO ARGS...`, one
//! `key=value` line checked against the expected one, exit 2 for a scenario
//! the client cannot do, a timeout after `TIMEOUT`.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::server::{Serve, Server, Start};
use crate::usage::Usage;

/// A row of the tables: a bench client and when the server starts its flood.
#[derive(Clone, Copy)]
pub(crate) struct Client {
    pub(crate) label: &'static str,
    pub(crate) program: Program,
    pub(crate) start: Start,
}

/// Where a bench client's program is.
#[derive(Clone, Copy)]
pub(crate) enum Program {
    /// Built into `ami-bench` (`ami-bench client NAME`, see `clients`).
    Own(&'static str),
    /// A binary beside `ami-bench` in the target directory.
    Beside {
        binary: &'static str,
        /// The command that builds it.
        build: &'static str,
    },
}

/// One scenario of the contract and what the server serves for it.
pub(crate) struct Case {
    /// `SCENARIO ARGS...`
    pub(crate) args: Vec<String>,
    /// The result line's first token, e.g. `events=2000000`.
    pub(crate) expect: String,
    /// What the server serves; a flood starts when the client's `start` says.
    pub(crate) serve: Serve,
}

/// A run that did its work: the count it reported, the server's time.
pub(crate) struct Measure {
    pub(crate) count: u64,
    pub(crate) secs: f64,
    pub(crate) usage: Option<Usage>,
    /// The server's CPU time for the run: how busy it was, against `secs`.
    pub(crate) server_cpu_ns: u64,
    /// Set when the count was not the expected one: the whole line.
    pub(crate) mismatch: Option<String>,
}

impl Measure {
    pub(crate) fn rate(&self) -> f64 {
        self.count as f64 / self.secs
    }
}

/// What became of one run: a measure, or why there is none.
pub(crate) type Outcome = Result<Measure, String>;

/// How long a client may take (the contract's default `--timeout`).
const TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `client` once against a server of its own.
pub(crate) fn once(client: &Client, case: &Case) -> Outcome {
    let serve = match case.serve {
        Serve::Flood { events, .. } => Serve::Flood {
            events,
            start: client.start,
        },
        other => other,
    };
    let server =
        Server::start(serve).map_err(|e| format!("error: the server did not start: {e}"))?;
    let mut command = command(client.program)?;
    command
        .arg(server.addr().ip().to_string())
        .arg(server.addr().port().to_string())
        .args(&case.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("error: {:?} did not start: {e}", command.get_program()))?;
    server.watch(child.id());
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait(&mut child, Instant::now() + TIMEOUT);
    let report = server.finish();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        return Err(format!("timeout after {} s", TIMEOUT.as_secs()));
    };
    let line = stdout.lines().next().unwrap_or("").trim();
    match status.code() {
        Some(0) => {}
        Some(2) if line.starts_with("unsupported:") => return Err(line.to_owned()),
        code => {
            let why = stderr.lines().rev().find(|l| !l.trim().is_empty());
            return Err(format!(
                "error ({}): {}",
                code.map_or("killed".to_owned(), |c| format!("exit {c}")),
                why.unwrap_or("no message")
            ));
        }
    }
    let (key, expected) = case.expect.split_once('=').expect("key=value");
    let count = line
        .split_whitespace()
        .next()
        .and_then(|t| t.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| format!("mismatch: {line:?}, not {}", case.expect))?;
    let secs = report
        .secs
        .ok_or("error: the server saw no work start and end")?;
    Ok(Measure {
        count,
        secs,
        usage: report.usage,
        server_cpu_ns: report.server_cpu_ns,
        mismatch: (count.to_string() != expected).then(|| line.to_owned()),
    })
}

/// The child's exit status, or `None` if it was still running at
/// `deadline` (it is then killed).
fn wait(child: &mut Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Reads a child's pipe to its end on a thread of its own, so that a child
/// writing much to one pipe never blocks on it.
fn drain(pipe: Option<impl Read + Send + 'static>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// The command that runs `program`, under the tool named in `AMI_BENCH_WRAP`
/// if any (see the crate docs).
fn command(program: Program) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("error: own path: {e}"))?;
    let (path, args): (PathBuf, &[&str]) = match program {
        Program::Own(name) => (exe, &["client", name][..]),
        Program::Beside { binary, build } => {
            let path = exe.with_file_name(binary);
            if !path.exists() {
                return Err(format!("error: {} is not built: {build}", path.display()));
            }
            (path, &[][..])
        }
    };
    let Ok(wrap) = std::env::var("AMI_BENCH_WRAP") else {
        let mut command = Command::new(path);
        command.args(args);
        return Ok(command);
    };
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or("client".into(), |n| n.to_string_lossy());
    let out = std::env::temp_dir().join(format!(
        "ami-bench.{}.{run:02}.{name}{}",
        std::process::id(),
        args.get(1).map_or(String::new(), |a| format!(".{a}"))
    ));
    let mut words = wrap
        .split_whitespace()
        .map(|w| w.replace("OUT", &out.to_string_lossy()));
    let tool = words.next().ok_or("error: AMI_BENCH_WRAP names no tool")?;
    let mut command = Command::new(tool);
    command.args(words).arg(path).args(args);
    Ok(command)
}

/// Runs each client `rounds` times, interleaved so that every one sees the
/// same spells of a noisy machine, and keeps each one's fastest run (or, if
/// none did its work, why the last one failed).
pub(crate) fn best(clients: &[Client], case: &Case, rounds: usize) -> Vec<Outcome> {
    let mut best: Vec<Option<Outcome>> = clients.iter().map(|_| None).collect();
    for _ in 0..rounds {
        for (client, best) in clients.iter().zip(&mut best) {
            let this = once(client, case);
            let better = match (&this, &*best) {
                (Ok(this), Some(Ok(kept))) => this.rate() > kept.rate(),
                (Err(_), Some(Ok(_))) => false,
                _ => true,
            };
            if better {
                *best = Some(this);
            }
        }
    }
    best.into_iter()
        .map(|b| b.unwrap_or_else(|| Err("not run".to_owned())))
        .collect()
}
