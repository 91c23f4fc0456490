//! `ami state`: one picture of every selected server's PBX, from the live
//! model (channels, bridges, queues with their members and callers, device
//! and hint states).
//!
//! Each server is connected to at once with a live model; once every model
//! holds its server's lists (or `--timeout` passes: exit 7, nothing printed),
//! one snapshot of each is printed and every server is logged off. Without
//! `--json` the picture is the text of one `ami top` frame.
//!
//! # `--json`
//!
//! One JSON document (pretty-printed), stable in shape: fields may be added,
//! none removed or renamed. Times are RFC 3339 UTC strings with
//! milliseconds (server time, from the events' `Timestamp` or the creation
//! second of a Uniqueid) or `null` when unknown; lists are sorted by their
//! key (queue members and callers keep their queue's order).
//!
//! ```text
//! {
//!   "taken": "2026-12-01T10:00:00.000Z",     when the snapshots were taken
//!   "servers": [{
//!     "server": "pbx1",                      the server's name
//!     "state": "ready",                      ready, degraded, logging-in, logging-off, disconnected
//!     "synced": true,                        the model holds the server's lists
//!     "clock": "...",                        the latest server time seen
//!     "channels": [{ "uniqueid", "name", "state" ("Up"), "state_code" (6),
//!                    "caller": {"number", "name"}, "connected": {"number", "name"},
//!                    "context", "exten", "priority", "application", "application_data",
//!                    "bridge" (id or null), "linkedid", "created", "waiting_in" (queue or null) }],
//!     "bridges":  [{ "id", "type", "technology", "creator", "name", "channels": [uniqueid] }],
//!     "queues":   [{ "name", "strategy", "max", "weight", "hold_time", "talk_time",
//!                    "completed", "abandoned", "service_level", "service_level_perf",
//!                    "members": [{ "interface", "name", "state_interface", "membership",
//!                                  "penalty", "calls_taken", "last_call", "last_pause",
//!                                  "login_time", "in_call", "status" ("NOT_INUSE"),
//!                                  "paused", "paused_reason", "ringinuse", "wrapup_time" }],
//!                    "callers": [{ "uniqueid", "channel", "position", "wait_start" }] }],
//!     "devices":    [{ "device", "status" ("INUSE") }],
//!     "extensions": [{ "exten", "context", "hint", "status" (number), "status_text" }],
//!     "calls":      [],                      Originates this command sent: none
//!     "stats": { "events", "lists", "unplaced", "malformed", "overflow",
//!                "calls_evicted", "changes_lost" }
//!   }]
//! }
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use ami_state::Timestamp;
use futures_lite::future;
use smol::Timer;

use crate::cmd::{connect_with_models, servers, CLOSE_WITHIN};
use crate::config::ServerArgs;
use crate::exit::Fail;
use crate::json;
use crate::view::{self, ServerView};

/// Flags of `ami state`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Print the snapshot as one JSON document (shape: see `ami state`'s docs).
    #[arg(long)]
    json: bool,
    /// Seconds to wait for every server's lists.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    timeout: f64,
}

/// Runs `ami state`.
pub(crate) fn run(server_args: &ServerArgs, args: Args) -> Result<ExitCode, Fail> {
    let timeout = crate::cmd::action::seconds(args.timeout)?;
    let servers = servers(server_args)?;
    let taken = smol::block_on(async {
        let clients = connect_with_models(&servers, false).await?;
        let deadline = Instant::now() + timeout;
        let mut synced = true;
        for (_, client) in &clients {
            let model = client.model().expect("connected with a model");
            synced &= future::or(model.synced(), async {
                Timer::at(deadline).await;
                false
            })
            .await;
        }
        let views: Vec<ServerView<'_>> = clients
            .iter()
            .map(|(name, client)| ServerView::of(name, client))
            .collect();
        let taken = SystemTime::now();
        let out = match args.json {
            true => json::snapshot(&views, taken),
            false => view::render(&views, Timestamp::from_system_time(taken), None).join("\n"),
        };
        let lagging: Vec<&str> = views.iter().filter(|v| !v.synced).map(|v| v.name).collect();
        for (_, client) in &clients {
            client.close_within(CLOSE_WITHIN).await;
        }
        if !synced {
            return Err(Fail::Incomplete(format!(
                "{}: the lists did not complete within {timeout:?}",
                lagging.join(", ")
            )));
        }
        Ok::<_, Fail>(out)
    })?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{taken}")
        .and_then(|()| stdout.flush())
        .map_err(|e| Fail::Other(format!("stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
