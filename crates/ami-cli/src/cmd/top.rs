//! `ami top`: a live view of every selected server's queues (members and
//! callers waiting), bridges and channels, refreshed in place, for an
//! operator to leave running.
//!
//! Every server is connected to at once with a live model; as with
//! `listen`, each must log in once (exit 4 or 5 otherwise), then is
//! reconnected for as long as the command runs, and its status line says
//! when it is away (`disconnected`, `syncing`). The first frame waits up to
//! five seconds for the models' lists. A frame is drawn every `--interval`
//! seconds (ages and waits move) and soon after anything changes (at most
//! ten a second).
//!
//! On a terminal (or with `--ansi`) each frame replaces the last (ANSI
//! escapes: the terminal's alternate screen, cursor home, clear), lines cut
//! at `$COLUMNS` and the frame at `$LINES` when those are set; otherwise
//! frames follow each other, each opened by its `ami top` line, so a log or
//! a test reads them all. SIGINT or SIGTERM logs off and exits 0, the
//! terminal restored; `--iterations N` stops after N frames.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ami_smol::Client;
use ami_state::Timestamp;
use futures_lite::{future, StreamExt};
use smol::channel;
use smol::Timer;

use crate::cmd::{connect_with_models, servers, signals};
use crate::config::ServerArgs;
use crate::exit::Fail;
use crate::json::rfc3339;
use crate::view::{self, ServerView};

/// The least time between two frames drawn for changes.
const MIN_GAP: Duration = Duration::from_millis(100);
/// How long the first frame waits for the models' lists.
const FIRST_WAIT: Duration = Duration::from_secs(5);
/// How long the servers get to log off at the end.
const LOGOFF_WITHIN: Duration = Duration::from_secs(2);

/// Flags of `ami top`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Seconds between two frames when nothing changes.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
    interval: f64,
    /// Stop after this many frames (default: until SIGINT or SIGTERM).
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,
    /// Draw each frame in place with ANSI escapes even when stdout is not a
    /// terminal (on a terminal it always is).
    #[arg(long)]
    ansi: bool,
}

/// How frames reach stdout.
struct Screen {
    out: std::io::BufWriter<std::io::Stdout>,
    /// Frames replace each other (ANSI escapes).
    in_place: bool,
    /// The terminal's alternate screen is in use (restore it at the end).
    alternate: bool,
    width: Option<usize>,
    height: Option<usize>,
}

impl Screen {
    fn new(force_ansi: bool) -> std::io::Result<Screen> {
        let terminal = std::io::stdout().is_terminal();
        let env = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        let mut screen = Screen {
            out: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout()),
            in_place: terminal || force_ansi,
            alternate: terminal,
            width: terminal.then(|| env("COLUMNS")).flatten(),
            height: terminal.then(|| env("LINES")).flatten(),
        };
        if screen.alternate {
            // The alternate screen, cursor hidden: the shell comes back as it was.
            screen.out.write_all(b"\x1b[?1049h\x1b[?25l")?;
        }
        Ok(screen)
    }

    fn draw(&mut self, title: &str, lines: &[String]) -> std::io::Result<()> {
        let rows = self.height.unwrap_or(usize::MAX);
        if self.in_place {
            // Home; each line then clears what is left of the last frame's.
            self.out.write_all(b"\x1b[H")?;
            for line in std::iter::once(title)
                .chain(lines.iter().map(String::as_str))
                .take(rows)
            {
                self.out.write_all(line.as_bytes())?;
                self.out.write_all(b"\x1b[K\n")?;
            }
            self.out.write_all(b"\x1b[J")?;
        } else {
            writeln!(self.out, "{title}")?;
            for line in lines {
                writeln!(self.out, "{line}")?;
            }
            writeln!(self.out)?;
        }
        self.out.flush()
    }

    fn restore(&mut self) {
        if self.alternate {
            let _ = self.out.write_all(b"\x1b[?25h\x1b[?1049l");
        }
        let _ = self.out.flush();
    }
}

/// What woke the loop.
enum Wake {
    Changed,
    Tick,
    Signal,
}

/// Runs `ami top` until a signal, `--iterations` frames, or a closed stdout.
pub(crate) fn run(server_args: &ServerArgs, args: Args) -> Result<ExitCode, Fail> {
    if !(args.interval.is_finite() && args.interval >= 0.1) {
        return Err(Fail::Usage("--interval must be at least 0.1".into()));
    }
    if args.iterations == Some(0) {
        return Err(Fail::Usage("--iterations must be at least 1".into()));
    }
    let interval = Duration::from_secs_f64(args.interval);
    let servers = servers(server_args)?;
    let (signals, signal_handle) = signals()?;
    let result = smol::block_on(async {
        let clients = future::or(
            async { Some(connect_with_models(&servers, true).await) },
            async {
                let _ = signals.recv().await;
                None
            },
        )
        .await;
        let Some(clients) = clients else {
            return Ok(ExitCode::SUCCESS);
        };
        let clients = clients?;
        let drawn = show(&clients, &args, interval, &signals).await;
        let closes: Vec<_> = clients
            .iter()
            .map(|(_, client)| {
                let client = client.clone();
                smol::spawn(async move { client.close_within(LOGOFF_WITHIN).await })
            })
            .collect();
        // Bounded: a server that does not answer its Logoff is left.
        let closed = async {
            for close in closes {
                close.await;
            }
        };
        let late = async {
            Timer::after(LOGOFF_WITHIN + Duration::from_secs(1)).await;
        };
        future::or(closed, late).await;
        drawn.map(|()| ExitCode::SUCCESS)
    });
    signal_handle.close();
    result
}

/// Draws frames until a signal, the last iteration or a closed stdout.
async fn show(
    clients: &[(Arc<str>, Client)],
    args: &Args,
    interval: Duration,
    signals: &channel::Receiver<i32>,
) -> Result<(), Fail> {
    // Any model's change marks the view dirty (one wake-up for many).
    let (dirty_tx, dirty) = channel::bounded::<()>(1);
    for (_, client) in clients {
        let mut changes = client.model().expect("connected with a model").changes();
        let dirty_tx = dirty_tx.clone();
        smol::spawn(async move {
            while changes.next().await.is_some() {
                let _ = dirty_tx.try_send(());
            }
        })
        .detach();
    }
    drop(dirty_tx);
    let first = Instant::now() + FIRST_WAIT;
    for (_, client) in clients {
        let model = client.model().expect("connected with a model");
        let synced = async {
            model.synced().await;
        };
        future::or(synced, async {
            Timer::at(first).await;
        })
        .await;
    }

    let stdout_fail = |e: std::io::Error| Fail::Other(format!("stdout: {e}"));
    let mut screen = Screen::new(args.ansi).map_err(stdout_fail)?;
    let mut frames = 0u64;
    let mut changed = true;
    let mut last = Instant::now() - interval;
    let drawn = loop {
        let now = Instant::now();
        let due = if changed {
            (last + MIN_GAP).min(last + interval)
        } else {
            last + interval
        };
        if now >= due {
            if let Err(e) = draw(&mut screen, clients) {
                break Err(e);
            }
            frames += 1;
            last = now;
            changed = false;
            if args.iterations.is_some_and(|n| frames >= n) {
                break Ok(());
            }
            continue;
        }
        let wake = future::or(
            async {
                match dirty.recv().await {
                    Ok(()) => Wake::Changed,
                    // No model left to change: only time moves.
                    Err(_) => future::pending().await,
                }
            },
            future::or(
                async {
                    let _ = signals.recv().await;
                    Wake::Signal
                },
                async {
                    Timer::at(due).await;
                    Wake::Tick
                },
            ),
        )
        .await;
        match wake {
            Wake::Changed => changed = true,
            Wake::Tick => {}
            Wake::Signal => break Ok(()),
        }
    };
    screen.restore();
    drawn.map_err(stdout_fail)
}

/// One frame of every server.
fn draw(screen: &mut Screen, clients: &[(Arc<str>, Client)]) -> std::io::Result<()> {
    let views: Vec<ServerView<'_>> = clients.iter().map(|(n, c)| ServerView::of(n, c)).collect();
    let now = SystemTime::now();
    let title = format!("ami top  {}  (Ctrl-C to quit)", rfc3339(now));
    let lines = view::render(&views, Timestamp::from_system_time(now), screen.width);
    screen.draw(&title, &lines)
}
